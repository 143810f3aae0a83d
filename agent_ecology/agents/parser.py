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
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent_ecology.agents.actions import ACTIONS, Action, action_adapter, shape
from agent_ecology.jsontext import clip as _clip
from agent_ecology.jsontext import find_json_objects

__all__ = ["ActionError", "find_json_objects", "parse_action"]


class ActionError(ValueError):
    """A reply that is not exactly one valid action; ``code`` names the kind of mistake."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
