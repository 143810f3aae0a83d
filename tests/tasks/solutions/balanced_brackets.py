from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for c in args["text"]:
        if c in "([{":
            stack.append(c)
        elif c in pairs and (not stack or stack.pop() != pairs[c]):
            return False
    return not stack
