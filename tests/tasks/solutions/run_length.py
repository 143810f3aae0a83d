from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    text = args["text"]
    out = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        out.append(f"{text[i]}{j - i}")
        i = j
    return "".join(out)
