from collections.abc import Iterator
from fractions import Fraction
from typing import Any

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3}


def tokens(text: str) -> Iterator[int | str]:
    i = 0
    while i < len(text):
        c = text[i]
        if c.isdigit():
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            yield int(text[i:j])
            i = j
        else:
            if not c.isspace():
                yield c
            i += 1


def apply(values: list[Fraction], op: str) -> None:
    if op == "neg":
        values.append(-values.pop())
        return
    b = values.pop()
    a = values.pop()
    if op == "+":
        values.append(a + b)
    elif op == "-":
        values.append(a - b)
    elif op == "*":
        values.append(a * b)
    elif b == 0:
        raise ZeroDivisionError
    else:
        values.append(a / b)


def main(args: dict[str, Any], host: Any) -> Any:
    values = []
    ops = []
    operand_next = True  # a "-" here is unary
    try:
        for tok in tokens(args["expression"]):
            if isinstance(tok, int):
                values.append(Fraction(tok))
                operand_next = False
            elif tok == "(":
                ops.append(tok)
                operand_next = True
            elif tok == ")":
                while ops[-1] != "(":
                    apply(values, ops.pop())
                ops.pop()
                operand_next = False
            elif operand_next:
                ops.append("neg")  # unary minus: right-associative, applied on its operand
            else:
                while ops and ops[-1] != "(" and PRECEDENCE[ops[-1]] >= PRECEDENCE[tok]:
                    apply(values, ops.pop())
                ops.append(tok)
                operand_next = True
        while ops:
            apply(values, ops.pop())
    except ZeroDivisionError:
        return "error"
    result = values[0]
    if result.denominator == 1:
        return str(result.numerator)
    return f"{result.numerator}/{result.denominator}"
