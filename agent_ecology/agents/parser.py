"""From what a model wrote to one typed action, or a precise complaint it can act on.

Models wrap JSON in code fences, put prose around it, or think aloud first. The parser finds
the top-level ``{...}`` spans of the reply in one pass (tracking JSON strings only inside a
span, so an apostrophe in the prose does not confuse it), decodes them, and accepts the reply
when exactly one of them is a JSON object with an ``"action"`` key. Everything else is
refused with an :class:`ActionError` whose message says what was wrong and shows the shape
that was expected; the agent reads it on its next turn.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent_ecology.agents.actions import ACTIONS, Action, action_adapter, shape

__all__ = ["ActionError", "find_json_objects", "parse_action"]

_QUOTE = 80


class ActionError(ValueError):
    """A reply that is not exactly one valid action; ``code`` names the kind of mistake."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _clip(text: str, n: int = _QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> None:
    raise _NotJSON(f"{name} is not a JSON number; write a finite number such as 0 or 1.5")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"{_clip(text, 30)} is too large for a number; write a finite number")
    return value


_INT_LIMIT = 2**63


def _integer(text: str) -> int:
    # Refused before int() is called: a 5,000-digit number would raise Python's own error.
    if len(text.lstrip("-")) > 19 or not -_INT_LIMIT <= int(text) < _INT_LIMIT:
        raise _NotJSON(
            f"the integer {_clip(text, 30)} is too large; every amount, id and count fits in"
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
                        span, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer
                    )
                    _surrogate_free(value)
                    values.append(value)
                except _NotJSON as exc:
                    errors.append(str(exc))
                except json.JSONDecodeError as exc:
                    errors.append(f"{exc.msg} at character {exc.pos} of {_clip(span, 60)!r}")
                except RecursionError:
                    errors.append("the JSON is nested too deeply")
    if depth > 0:
        errors.append(f"a JSON object is never closed: {_clip(text[start:], 60)!r} (missing '}}')")
    return values, errors


def _known() -> str:
    return ", ".join(ACTIONS)


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"][1:])
    kind = error["type"]
    if kind == "missing":
        return f"{loc}: required"
    if kind == "extra_forbidden":
        return f"{loc}: not a field of this action"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    got = "" if isinstance(value, dict | list) else f" (got {_clip(repr(value), 60)})"
    text = f"{message[:1].lower()}{message[1:]}{got}"
    return f"{loc}: {text}" if loc else text


def parse_action(text: str, *, max_chars: int = 100_000) -> Action:
    """The one action in ``text``, or :class:`ActionError` explaining what to send instead."""
    if not isinstance(text, str) or not text.strip():
        raise ActionError(
            "empty_reply",
            "your reply was empty; reply with one JSON object such as " + shape("noop"),
        )
    if len(text) > max_chars:
        raise ActionError(
            "reply_too_long",
            f"your reply was {len(text)} characters, over the limit of {max_chars}; reply with"
            " one JSON object only, and keep long content in artifacts",
        )
    values, errors = find_json_objects(text)
    candidates = [v for v in values if isinstance(v, dict)]
    with_action = [v for v in candidates if "action" in v]
    if not candidates:
        if errors:
            raise ActionError(
                "invalid_json",
                f"your reply's JSON is not valid: {errors[0]}; send one JSON object such as "
                + shape("noop"),
            )
        raise ActionError(
            "no_json",
            f"no JSON object found in your reply ({_clip(text)!r}); reply with exactly one JSON"
            f' object with an "action" key, such as {shape("noop")}',
        )
    if not with_action:
        raise ActionError(
            "missing_action",
            f'the JSON object has no "action" key; add one of: {_known()}. For example '
            + shape("noop"),
        )
    if len(with_action) > 1:
        names = ", ".join(repr(v.get("action")) for v in with_action[:5])
        first = with_action[0].get("action")
        example = shape(first) if isinstance(first, str) and first in ACTIONS else shape("noop")
        raise ActionError(
            "several_actions",
            f"your reply holds {len(with_action)} actions ({names}); one turn is one action:"
            f" reply with exactly one JSON object, such as {example}",
        )
    data = with_action[0]
    name = data["action"]
    if not isinstance(name, str) or name not in ACTIONS:
        close = difflib.get_close_matches(str(name), list(ACTIONS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ActionError(
            "unknown_action",
            f"unknown action {_clip(repr(name), 60)}{hint}; the actions are: {_known()}."
            f" For example {shape(close[0] if close else 'noop')}; every shape is in the"
            " handbook (page 'actions')",
        )
    try:
        return action_adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors()[:5])
        raise ActionError(
            "invalid_action",
            f"{name}: {problems}. Expected shape: {shape(name)}",
        ) from None
