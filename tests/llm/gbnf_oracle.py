"""A small, independent reader of GBNF grammars, for testing the ones the product writes:
``accepts(grammar, text)`` says whether the grammar matches all of ``text``, and
``sample(grammar, rng)`` writes a random text the grammar matches (what a constrained model
could write). It knows the syntax llama.cpp documents: rules ``name ::= ...``, literals,
character classes (``^`` negation, ranges, ``\\x`` escapes), groups, ``|``, ``?``, ``*``,
``+``. Written from the format's description, not from the code under test."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache, lru_cache

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-"}


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Cls:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def has(self, ch: str) -> bool:
        inside = any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside != self.negated


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple[object, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[object, ...]


@dataclass(frozen=True)
class Rep:
    item: object
    least: int
    most: int | None


class _Reader:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def skip(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def char(self) -> str:
        ch = self.s[self.i]
        self.i += 1
        if ch != "\\":
            return ch
        code = self.s[self.i]
        self.i += 1
        if code == "x":
            value = chr(int(self.s[self.i : self.i + 2], 16))
            self.i += 2
            return value
        if code == "u":
            value = chr(int(self.s[self.i : self.i + 4], 16))
            self.i += 4
            return value
        return _ESCAPES[code]

    def alt(self) -> object:
        options = [self.seq()]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            options.append(self.seq())
        return options[0] if len(options) == 1 else Alt(tuple(options))

    def seq(self) -> object:
        items: list[object] = []
        while True:
            self.skip()
            if self.i >= len(self.s) or self.s[self.i] in "|)":
                return Seq(tuple(items))
            items.append(self.postfix(self.atom()))

    def atom(self) -> object:
        ch = self.s[self.i]
        if ch == '"':
            self.i += 1
            out = ""
            while self.s[self.i] != '"':
                out += self.char()
            self.i += 1
            return Lit(out)
        if ch == "[":
            self.i += 1
            negated = self.s[self.i] == "^"
            self.i += negated
            ranges = []
            while self.s[self.i] != "]":
                lo = self.char()
                hi = lo
                if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                    self.i += 1
                    hi = self.char()
                ranges.append((lo, hi))
            self.i += 1
            return Cls(tuple(ranges), negated)
        if ch == "(":
            self.i += 1
            inner = self.alt()
            assert self.s[self.i] == ")", self.s[self.i :]
            self.i += 1
            return inner
        name = re.match(r"[a-zA-Z0-9-]+", self.s[self.i :])
        assert name, f"cannot read {self.s[self.i : self.i + 20]!r}"
        self.i += len(name.group())
        return Ref(name.group())

    def postfix(self, item: object) -> object:
        if self.i < len(self.s) and self.s[self.i] in "?*+":
            op = self.s[self.i]
            self.i += 1
            return Rep(item, 1 if op == "+" else 0, 1 if op == "?" else None)
        return item


def parse(grammar: str) -> dict[str, object]:
    rules: dict[str, object] = {}
    for line in grammar.splitlines():
        if not line.strip():
            continue
        name, _, body = line.partition("::=")
        reader = _Reader(body.strip())
        rules[name.strip()] = reader.alt()
        assert reader.i == len(reader.s), f"unread: {reader.s[reader.i :]!r}"
    return rules


def refs(node: object) -> set[str]:
    """The rule names ``node`` refers to."""
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, Seq):
        return set().union(*(refs(i) for i in node.items))
    if isinstance(node, Alt):
        return set().union(*(refs(o) for o in node.options))
    if isinstance(node, Rep):
        return refs(node.item)
    return set()


def accepts(grammar: str, text: str) -> bool:
    rules = _parsed(grammar)

    @cache
    def ends(node: object, at: int) -> frozenset[int]:
        if isinstance(node, Lit):
            return (
                frozenset({at + len(node.text)}) if text.startswith(node.text, at) else frozenset()
            )
        if isinstance(node, Cls):
            return frozenset({at + 1}) if at < len(text) and node.has(text[at]) else frozenset()
        if isinstance(node, Ref):
            return ends(rules[node.name], at)
        if isinstance(node, Seq):
            now = frozenset({at})
            for item in node.items:
                now = frozenset(e for p in now for e in ends(item, p))
            return now
        if isinstance(node, Alt):
            return frozenset(e for o in node.options for e in ends(o, at))
        assert isinstance(node, Rep)
        out, now, count = set(), frozenset({at}), 0
        if node.least == 0:
            out.add(at)
        while now and (node.most is None or count < node.most):
            now = frozenset(e for p in now for e in ends(node.item, p) if e != p) - out
            count += 1
            if count >= node.least:
                out |= now
        return frozenset(out)

    return len(text) in ends(rules["root"], 0)


_PRINTABLE = [chr(c) for c in range(0x20, 0x7F)] + ["é", "→", "\u00a0", "\n", "\x01", "\x7f"]


def sample(grammar: str, rng: random.Random, depth: int = 40) -> str:
    """A random text of ``grammar``; repetitions stop early and deep branches take the
    shortest-looking option, so every sample ends."""
    rules = _parsed(grammar)

    def gen(node: object, budget: int) -> str:
        if isinstance(node, Lit):
            return node.text
        if isinstance(node, Cls):
            options = [c for c in _PRINTABLE if node.has(c)]
            if not options:  # a class of characters outside the list, e.g. [1-9]
                lo, hi = rng.choice(node.ranges)
                return chr(rng.randint(ord(lo), ord(hi)))
            return rng.choice(options)
        if isinstance(node, Ref):
            return gen(rules[node.name], budget - 1)
        if isinstance(node, Seq):
            return "".join(gen(item, budget) for item in node.items)
        if isinstance(node, Alt):
            branches = node.options if budget > 0 else node.options[-1:]
            return gen(rng.choice(branches), budget)
        assert isinstance(node, Rep)
        most = node.most if node.most is not None else node.least + 6
        count = node.least if budget <= 0 else rng.randint(node.least, most)
        return "".join(gen(node.item, budget - 1) for _ in range(count))

    return gen(rules["root"], depth)


@lru_cache(maxsize=16)
def _parsed(grammar: str) -> dict[str, object]:
    return parse(grammar)
