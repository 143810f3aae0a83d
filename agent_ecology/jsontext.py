"""JSON objects found in free text (a model's reply), decoded strictly and in one pass.

Shared by the action parser and the oracle's judge. A value no part of the world could use
is refused here with a message that says what to write instead: a non-finite number, an
integer past 64 bits (before Python's own 4,300-digit error), a lone surrogate.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["clip", "find_json_objects"]

_QUOTE = 80


def clip(text: str, n: int = _QUOTE) -> str:
    """``text`` on one line, cut to ``n`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> None:
    raise _NotJSON(f"{name} is not a JSON number; write a finite number such as 0 or 1.5")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"{clip(text, 30)} is too large for a number; write a finite number")
    return value


_INT_LIMIT = 2**63


def _integer(text: str) -> int:
    # Refused before int() is called: a 5,000-digit number would raise Python's own error.
    if len(text.lstrip("-")) > 19 or not -_INT_LIMIT <= int(text) < _INT_LIMIT:
        raise _NotJSON(
            f"the integer {clip(text, 30)} is too large; every amount, id and count fits in"
            " 64 bits (below 9223372036854775808)"
        )
    return int(text)


def _surrogate_free(value: Any, where: str = "") -> None:
    """Refuse a lone surrogate (``\\ud800``) anywhere: it is not text and cannot be stored."""
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise _NotJSON(
                f"{where or 'a string'} holds a lone surrogate (an escape such as \\ud800 that is"
                " half of a character); send valid Unicode text"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _surrogate_free(key, "a key")
            _surrogate_free(item, repr(key) if not where else f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _surrogate_free(item, where)


def find_json_objects(text: str) -> tuple[list[Any], list[str]]:
    """Decode every top-level ``{...}`` span of ``text``.

    Returns the decoded values and, for spans that are not valid JSON, the decoder's error.
    One pass over the text: linear even on hostile input.
    """
    values: list[Any] = []
    errors: list[str] = []
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for i, ch in enumerate(text):
        if depth == 0:
            if ch == "{":
                depth, start, in_string, escaped = 1, i, False, False
            continue
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                span = text[start : i + 1]
                try:
                    value = json.loads(
                        span,
                        parse_constant=_no_constant,
                        parse_float=_finite,
                        parse_int=_integer,
                        strict=False,  # raw newlines and tabs in strings: small models write them
                    )
                    _surrogate_free(value)
                    values.append(value)
                except _NotJSON as exc:
                    errors.append(str(exc))
                except json.JSONDecodeError as exc:
                    errors.append(f"{exc.msg} at character {exc.pos} of {clip(span, 60)!r}")
                except RecursionError:
                    errors.append("the JSON is nested too deeply")
    if depth > 0:
        errors.append(f"a JSON object is never closed: {clip(text[start:], 60)!r} (missing '}}')")
    return values, errors
