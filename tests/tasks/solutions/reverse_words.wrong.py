# Splits on single spaces only: tabs and newlines are not taken as separators.
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    words = [w for w in args["text"].strip().split(" ") if w]
    return " ".join(reversed(words))
