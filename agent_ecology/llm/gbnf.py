"""A JSON schema (the lean action schema) as a GBNF grammar, for servers that take one.

llama.cpp's servers constrain sampling to a GBNF grammar. The Python server
(``llama-cpp-python``) builds one from a JSON schema itself, but ignores numeric bounds (a
constrained model there wrote ``"offset": -12`` and a 7-digit ``limit``); sent a ``grammar``
instead, it enforces everything the grammar says. This module writes that grammar from the
same schema every other structured output uses, so the two cannot drift:

- numbers within their ``minimum``/``maximum`` (exclusive or not), digit by digit;
- strings of JSON characters only (no raw control characters), at least ``minLength`` long
  and, for short limits (:data:`MAX_BOUNDED_LENGTH`), at most ``maxLength``;
- objects with their properties in the schema's order, required ones always there,
  ``additionalProperties: false`` honoured; an object with no properties is any JSON object;
- ``anyOf``, ``const``, ``enum``, ``null``, booleans, arrays with ``minItems``/``maxItems``.

A schema node outside that subset raises :class:`ValueError` naming it: a grammar that
silently allowed more than the schema would be worse than none.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["MAX_BOUNDED_LENGTH", "schema_grammar"]

MAX_BOUNDED_LENGTH: Final = 128
"""The longest ``maxLength`` the grammar spells out (as nested optionals: an artifact id's 128,
so that a model cannot ramble in an id until max_tokens cuts its JSON off); longer limits are
left to the parser (a server's grammar engine has crashed on limits in the thousands)."""

_FRACTION_DIGITS: Final = 6
"""The most digits after a decimal point (more say nothing to a sleep or a threshold)."""

_SPACE: Final = '" "?'
_HEX: Final = "[0-9a-fA-F]"
_CHAR: Final = (
    r'[^"\\\x00-\x1f\x7f] | "\\" (["\\/bfnrt] | "u" '
    # \u escapes of whole characters only: a lone surrogate (\ud800-\udfff) is refused
    f"([0-9a-cA-CefEF] {_HEX} {_HEX} {_HEX} | [dD] [0-7] {_HEX} {_HEX}))"
)


def _literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _optional_chain(item: str, count: int) -> str:
    """Up to ``count`` of ``item``: ``(item (item)?)?`` nested, no repetition syntax."""
    out = ""
    for _ in range(count):
        out = f"({item} {out})?" if out else f"({item})?"
    return out


_VALUE_RULES: Final = {
    # Any JSON value (an invocation's args), as plain JSON grammars write it.
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws',
    "array": '"[" ws ( value ( "," ws value )* )? "]" ws',
    "string": '"\\"" char* "\\"" ws',
    # At most 15 digits before the point and a two-digit exponent: always a finite float.
    "number": '"-"? ("0" | [1-9] '
    + _optional_chain("[0-9]", 14)
    + ') ("." [0-9]+)? ([eE] [-+]? [0-9] [0-9]?)? ws',
    "boolean": '("true" | "false") ws',
    "null": '"null" ws',
}


def _same_length(lo: str, hi: str) -> list[str]:
    """Alternatives matching every digit string from ``lo`` to ``hi`` (same length)."""
    if not lo:
        return [""]
    n = len(lo) - 1
    if lo[0] == hi[0]:
        return [f'"{lo[0]}" {rest}'.strip() for rest in _same_length(lo[1:], hi[1:])]
    if lo[1:] == "0" * n and hi[1:] == "9" * n:
        return [(f"[{lo[0]}-{hi[0]}] " + "[0-9] " * n).strip()]
    out = [f'"{lo[0]}" {rest}'.strip() for rest in _same_length(lo[1:], "9" * n)]
    first, last = int(lo[0]) + 1, int(hi[0]) - 1
    if first <= last:
        out.append((f"[{first}-{last}] " + "[0-9] " * n).strip())
    out += [f'"{hi[0]}" {rest}'.strip() for rest in _same_length("0" * n, hi[1:])]
    return out


def _digits(lo: int, hi: int) -> str:
    """Every whole number from ``lo`` to ``hi`` (0 <= lo <= hi), no leading zeros."""
    alternatives = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        first = max(lo, 10 ** (width - 1) if width > 1 else 0)
        last = min(hi, 10**width - 1)
        if first <= last:
            alternatives += _same_length(str(first), str(last))
    return "(" + " | ".join(alternatives) + ")"


def _bound(node: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    if exclusive in node:
        return float(node[exclusive]), True
    if inclusive in node:
        return float(node[inclusive]), False
    return None


class _Grammar:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {"ws": _SPACE}
        self._named: dict[str, str] = {_SPACE: "ws"}  # body -> its rule's name

    def rule(self, hint: str, body: str) -> str:
        if body in self._named:
            return self._named[body]
        hint = re.sub(r"[^a-zA-Z0-9-]+", "-", hint)  # the names GBNF allows
        name, n = hint, 1
        while name in self.rules:
            n += 1
            name = f"{hint}{n}"
        self.rules[name] = body
        self._named[body] = name
        return name

    def value_rules(self) -> None:
        self.rules.setdefault("char", _CHAR)
        for name, body in _VALUE_RULES.items():
            self.rules.setdefault(name, body)

    # --- nodes --------------------------------------------------------------------------

    def node(self, node: Mapping[str, Any], hint: str) -> str:
        """The rule name for one schema node."""
        if "anyOf" in node:
            names = [self.node(branch, hint) for branch in node["anyOf"]]
            return self.rule(hint, " | ".join(names))
        if "const" in node:
            return self.rule(hint, f"{_literal(json.dumps(node['const']))} ws")
        if "enum" in node:
            words = " | ".join(_literal(json.dumps(v)) for v in node["enum"])
            return self.rule(hint, f"({words}) ws")
        kind = node.get("type")
        if kind == "null":
            return self.rule("null-value", '"null" ws')
        if kind == "boolean":
            return self.rule("bool", '("true" | "false") ws')
        if kind == "string":
            return self.string(node, hint)
        if kind == "integer":
            return self.rule(hint, f"{self.integer(node, hint)} ws")
        if kind == "number":
            return self.rule(hint, f"{self.number(node, hint)} ws")
        if kind == "array":
            return self.array(node, hint)
        if kind == "object":
            return self.object(node, hint)
        raise ValueError(f"the grammar cannot express this schema node: {json.dumps(node)[:200]}")

    def string(self, node: Mapping[str, Any], hint: str) -> str:
        unknown = set(node) - {"type", "minLength", "maxLength"}
        if unknown:
            raise ValueError(f"the grammar cannot express string keywords {sorted(unknown)}")
        self.rules.setdefault("char", _CHAR)
        least = int(node.get("minLength", 0))
        most = node.get("maxLength")
        body = " ".join(["char"] * least)
        if most is not None and int(most) <= MAX_BOUNDED_LENGTH:
            body += " " + _optional_chain("char", int(most) - least)
        else:
            body += " char*"
        return self.rule(f"{hint}-string", f'"\\"" {body.strip()} "\\"" ws')

    def integer(self, node: Mapping[str, Any], hint: str) -> str:
        low, high = (
            _bound(node, "minimum", "exclusiveMinimum"),
            _bound(node, "maximum", "exclusiveMaximum"),
        )
        if low is None or high is None:
            raise ValueError(f"an integer needs both bounds for the grammar: {json.dumps(node)}")
        lo = math.floor(low[0]) + 1 if low[1] else math.ceil(low[0])
        hi = math.ceil(high[0]) - 1 if high[1] else math.floor(high[0])
        if lo > hi:
            raise ValueError(f"no integer lies within {json.dumps(node)}")
        parts = []
        if lo < 0:
            parts.append(f'"-" {_digits(max(1, -hi), -lo)}')
        if hi >= 0:
            parts.append(_digits(max(0, lo), hi))
        return self.rule(f"{hint}-int", " | ".join(parts))

    def number(self, node: Mapping[str, Any], hint: str) -> str:
        low, high = (
            _bound(node, "minimum", "exclusiveMinimum"),
            _bound(node, "maximum", "exclusiveMaximum"),
        )
        if low is None or high is None:
            raise ValueError(f"a number needs both bounds for the grammar: {json.dumps(node)}")
        if any(b != int(b) for b, _ in (low, high)):
            raise ValueError(f"the grammar takes whole-number bounds only: {json.dumps(node)}")
        (lo, lo_open), (hi, hi_open) = (int(low[0]), low[1]), (int(high[0]), high[1])
        if hi < lo or (hi == lo and (lo_open or hi_open)):
            raise ValueError(f"no number lies within {json.dumps(node)}")
        parts = []
        if lo < 0:  # the negatives: "-" and a magnitude from (0 or -hi) to -lo
            top, top_open = (0, True) if hi >= 0 else (-hi, hi_open)
            parts.append(f'"-" {self._magnitude(top, top_open, -lo, lo_open)}')
        if hi >= 0:
            start, start_open = (lo, lo_open) if lo >= 0 else (0, False)
            parts.append(self._magnitude(start, start_open, hi, hi_open))
        return self.rule(f"{hint}-num", " | ".join(parts))

    def _magnitude(self, lo: int, lo_open: bool, hi: int, hi_open: bool) -> str:
        """Decimals from ``lo`` to ``hi`` (0 <= lo <= hi), each end open or closed."""
        fraction = self.rule(
            "fraction", '"." [0-9] ' + _optional_chain("[0-9]", _FRACTION_DIGITS - 1)
        )
        nonzero = self.rule(
            "fraction-nonzero",
            '"." ' + _optional_chain('"0"', 2) + " [1-9] " + _optional_chain("[0-9]", 2),
        )
        parts = []
        first = lo + 1 if lo_open else lo
        if first <= hi - 1:  # whole parts below hi: any fraction stays below hi
            parts.append(f"{_digits(first, hi - 1)} {fraction}?")
        if lo_open and lo < hi:  # lo itself only with a fraction above zero
            parts.append(f'"{lo}" {nonzero}')
        if not hi_open:
            parts.append(f'"{hi}"')
        return "(" + " | ".join(parts) + ")"

    def array(self, node: Mapping[str, Any], hint: str) -> str:
        item = self.node(node["items"], f"{hint}-item")
        least, most = int(node.get("minItems", 0)), node.get("maxItems")
        more = f'"," ws {item}'
        if least:
            head = " ".join([item] + [more] * (least - 1))
            tail = f"({more})*" if most is None else _optional_chain(more, int(most) - least)
            body = f"{head} {tail}"
        elif most is None:
            body = f"({item} ({more})*)?"
        elif int(most) > 0:
            body = f"({item} {_optional_chain(more, int(most) - 1)})?"
        else:
            body = ""
        return self.rule(hint, f'"[" ws {body} "]" ws'.replace("  ", " "))

    def object(self, node: Mapping[str, Any], hint: str) -> str:
        properties: Mapping[str, Any] = node.get("properties", {})
        if not properties:
            if node.get("additionalProperties") is False:
                return self.rule("empty-object", '"{" ws "}" ws')
            self.value_rules()
            return "object"
        if node.get("additionalProperties", True) is not False:
            raise ValueError(
                "the grammar writes closed objects only (additionalProperties: false): "
                + json.dumps(node)[:200]
            )
        if "const" in properties.get("action", {}):  # name an action's rules after it
            hint = str(properties["action"]["const"])
        required = set(node.get("required", ()))
        unknown = required - set(properties)
        if unknown:
            raise ValueError(f"required properties not in the schema: {sorted(unknown)}")
        pairs = [
            (
                f'{_literal(json.dumps(key))} ws ":" ws {self.node(sub, f"{hint}-{key}")}',
                key in required,
            )
            for key, sub in properties.items()
        ]
        return self.rule(hint, f'"{{" ws {self._members(pairs, hint)} "}}" ws')

    def _members(self, pairs: Sequence[tuple[str, bool]], hint: str) -> str:
        """The properties in order, each required one always there. ``rest[comma]`` is the
        rule for members i.. ("" when none are left), with a comma before the first present
        one when ``comma`` (some member before it is present)."""
        rest = {True: "", False: ""}
        for i in range(len(pairs) - 1, -1, -1):
            pair, needed = pairs[i]
            here = {}
            for comma in (True, False):
                lead = '"," ws ' if comma else ""
                take = f"{lead}{pair} {rest[True]}".strip()
                if needed:
                    body = take
                elif rest[comma]:
                    body = f"({take}) | {rest[comma]}"
                else:
                    body = f"({take})?"
                here[comma] = self.rule(f"{hint}-m{i}{'c' if comma else ''}", body)
            rest = here
        return rest[False]


def _compile(schema: Mapping[str, Any]) -> str:
    grammar = _Grammar()
    root = grammar.node(schema, "action")
    lines = [f"root ::= ws {root}"]
    lines += [f"{name} ::= {body}" for name, body in grammar.rules.items()]
    return "\n".join(lines) + "\n"


_built: list[tuple[Mapping[str, Any], str]] = []  # the last schema and its grammar


def schema_grammar(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar of ``schema`` (its root rule is ``root``). Every call sends the same
    (shared, never changed) schema, so the last one's grammar is kept, by identity."""
    if _built and _built[0][0] is schema:
        return _built[0][1]
    text = _compile(schema)
    _built[:] = [(schema, text)]
    return text
