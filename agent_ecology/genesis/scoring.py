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

import logging
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from agent_ecology.jsontext import find_json_objects

if TYPE_CHECKING:
    from agent_ecology.llm.calls import LLMCaller

__all__ = ["NEAR_DUPLICATE", "LLMJudge", "OfflineScorer", "Scorer", "offline_score", "shingles"]

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


_log = logging.getLogger("agent_ecology.oracle")


class Scorer(Protocol):
    """Scores one artifact from 0 to 10, knowing every other artifact's text."""

    @property
    def name(self) -> str: ...

    async def score(self, artifact_id: str, text: str, others: Sequence[str]) -> float: ...


class OfflineScorer:
    """:func:`offline_score`, as a :class:`Scorer`."""

    name = "offline (novelty x richness)"

    async def score(self, artifact_id: str, text: str, others: Sequence[str]) -> float:
        return offline_score(text, others)


_JUDGE_PROMPT = (
    "You are the judge of an economy of agents. Score the artifact below from 0 (useless) to"
    " 10 (very useful to other agents) for how useful, correct and original it is. Reply with"
    ' only a JSON object: {"score": <number from 0 to 10>}.'
)


class LLMJudge:
    """Scores with a model through the same metered caller agents use.

    Its calls are charged to the world's dollar budget as the ``genesis_oracle`` principal.
    What the offline scorer finds empty or a (near) duplicate scores 0 whatever the model
    says, so copying cannot be paid; an answer that is not a score, a failed call or a spent
    budget falls back to the offline score.
    """

    def __init__(self, caller: LLMCaller, model: str, *, principal: str = "genesis_oracle") -> None:
        self.caller = caller
        self.model = model
        self.principal = principal

    @property
    def name(self) -> str:
        return f"an LLM judge ({self.model}), duplicates scored 0 offline"

    async def score(self, artifact_id: str, text: str, others: Sequence[str]) -> float:
        from agent_ecology.ledger import LedgerError
        from agent_ecology.llm.types import CompletionRequest, Message

        offline = offline_score(text, others)
        if offline == 0.0:
            return 0.0
        request = CompletionRequest(
            agent_id=self.principal,
            model=self.model,
            messages=(
                Message("system", _JUDGE_PROMPT),
                Message("user", f"Artifact {artifact_id}:\n{text[:6000]}"),
            ),
            max_tokens=20,
        )
        try:
            thought = await self.caller.think(request)
            if thought.completion is not None:
                values, _errors = find_json_objects(thought.completion.text)
                for value in values:
                    score = value.get("score") if isinstance(value, dict) else None
                    if isinstance(score, bool) or not isinstance(score, int | float):
                        continue
                    if math.isfinite(score) and 0 <= score <= 10:
                        return float(score)
        except LedgerError as exc:  # the budget cannot cover it: judge offline
            _log.warning("oracle judge: %s; scoring %s offline", exc, artifact_id)
            return offline
        except Exception as exc:  # any fault of the judge's call or answer: judge offline
            _log.warning("oracle judge failed (%r); scoring %s offline", exc, artifact_id)
            return offline
        _log.warning("oracle judge gave no valid score for %s; scoring it offline", artifact_id)
        return offline
