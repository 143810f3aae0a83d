# Tests 3 before 15, so multiples of 15 come out as "Fizz".
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    out = []
    for i in range(1, args["n"] + 1):
        if i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        elif i % 15 == 0:
            out.append("FizzBuzz")
        else:
            out.append(str(i))
    return out
