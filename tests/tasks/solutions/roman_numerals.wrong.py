# Knows the subtractive 4s (IV, XL, CD) but forgot the 9s (IX, XC, CM).
from typing import Any

VALUES = [
    (1000, "M"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
]


def main(args: dict[str, Any], host: Any) -> Any:
    n = args["n"]
    out = []
    for value, letters in VALUES:
        while n >= value:
            out.append(letters)
            n -= value
    return "".join(out)
