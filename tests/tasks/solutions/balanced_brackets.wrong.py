# Counts each kind separately, so it misses wrongly nested brackets such as "([)]".
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    depth = {"(": 0, "[": 0, "{": 0}
    opener = {")": "(", "]": "[", "}": "{"}
    for c in args["text"]:
        if c in depth:
            depth[c] += 1
        elif c in opener:
            depth[opener[c]] -= 1
            if depth[opener[c]] < 0:
                return False
    return all(v == 0 for v in depth.values())
