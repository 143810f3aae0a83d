"""Scoring artifacts for the oracle, offline: novelty and substance, not length.

The offline scorer needs no model and cannot be gamed by length or repetition: a text's
score (0 to 10) is its novelty (one minus its largest similarity to any other artifact, the
similarity being the larger of the Jaccard index of their word 3-gram shingles and of their
word sets) times its richness (distinct words, capped at 40, discounted when fewer than half of the
words are distinct). Exact and near duplicates
(similarity >= 0.8: a copy with a word or two changed) score zero; repeating a text adds no
shingle and no distinct word, so padding never raises a score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["NEAR_DUPLICATE", "offline_score", "shingles"]

NEAR_DUPLICATE = 0.8
_RICH_WORDS = 40
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def offline_score(text: str, others: Iterable[str]) -> float:
    """A score from 0 to 10 for ``text`` among ``others``."""
    mine = shingles(text)
    words = set(_WORD.findall(text.lower()))
    if not mine:
        return 0.0
    similarity = 0.0
    for other in others:
        theirs = shingles(other)
        their_words = set(_WORD.findall(other.lower()))
        if theirs:
            similarity = max(
                similarity,
                len(mine & theirs) / len(mine | theirs),
                len(words & their_words) / len(words | their_words),
            )
        if similarity >= NEAR_DUPLICATE:
            return 0.0
    distinct = len(words)
    total = len(_WORD.findall(text))
    # Substance: distinct words (up to 40), discounted when the text repeats itself.
    richness = min(1.0, distinct / _RICH_WORDS) * min(1.0, 2.0 * distinct / total)
    return round(10.0 * (1.0 - similarity) * richness, 3)
