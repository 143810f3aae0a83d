# Recursive descent: right, but each "(" costs three Python frames, so deep nesting
# overflows the sandbox's recursion limit.
from fractions import Fraction
from typing import Any


def parse(text: str) -> Fraction:
    toks = []
    i = 0
    while i < len(text):
        if text[i].isdigit():
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            toks.append(text[i:j])
            i = j
        else:
            if not text[i].isspace():
                toks.append(text[i])
            i += 1
    pos = [0]

    def peek() -> str | None:
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take() -> str:
        pos[0] += 1
        return toks[pos[0] - 1]

    def expr() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            if take() == "+":
                value += term()
            else:
                value -= term()
        return value

    def term() -> Fraction:
        value = factor()
        while peek() in ("*", "/"):
            if take() == "*":
                value *= factor()
            else:
                value /= factor()
        return value

    def factor() -> Fraction:
        tok = take()
        if tok == "-":
            return -factor()
        if tok == "(":
            value = expr()
            take()
            return value
        return Fraction(int(tok))

    return expr()


def main(args: dict[str, Any], host: Any) -> Any:
    try:
        result = parse(args["expression"])
    except ZeroDivisionError:
        return "error"
    if result.denominator == 1:
        return str(result.numerator)
    return f"{result.numerator}/{result.denominator}"
