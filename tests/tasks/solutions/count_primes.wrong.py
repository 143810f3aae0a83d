# Trial division by odd numbers up to the square root: right, but far too slow for big n.
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    n = args["n"]
    count = 1 if n >= 2 else 0
    for k in range(3, n + 1, 2):
        d = 3
        while d * d <= k:
            if k % d == 0:
                break
            d += 2
        else:
            count += 1
    return count
