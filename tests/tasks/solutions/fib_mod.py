from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    n, m = args["n"], args["m"]

    # fast doubling, iterative over the bits of n: (F(k), F(k+1)) -> (F(2k), F(2k+1))
    a, b = 0, 1
    for bit in bin(n)[2:]:
        c = a * ((2 * b - a) % m) % m
        d = (a * a + b * b) % m
        if bit == "1":
            a, b = d, (c + d) % m
        else:
            a, b = c, d
    return a % m
