"""Dollars from tokens, exactly, and the worst case of a call before it is made.

Amounts are integer nanodollars (1e-9 $), computed with exact fractions and rounded *up*,
so that a sum of charges never falls below the real bill and the limit is checked exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from agent_ecology.config import ModelPrice
from agent_ecology.llm.types import Message, Usage

__all__ = ["MESSAGE_OVERHEAD_TOKENS", "cost_nd", "prompt_token_bound", "worst_case_nd"]

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a chat format may add per message (role markers, separators); generous on purpose."""

_REPLY_PRIMER_TOKENS = 16


def _per_token_nd(dollars_per_million: float) -> Fraction:
    # $ per 1e6 tokens -> nanodollars per token: * 1e9 / 1e6 = * 1000. str() keeps the
    # decimal the user wrote (0.15, not 0.1499999...).
    return Fraction(str(dollars_per_million)) * 1000


def cost_nd(price: ModelPrice, usage: Usage) -> int:
    """What ``usage`` costs at ``price``, in nanodollars, rounded up: cached prompt tokens
    at ``cached_input`` (when the model has one), the rest of the prompt at ``input``."""
    cached = min(usage.cached_tokens, usage.prompt_tokens) if price.cached_input is not None else 0
    exact = (
        _per_token_nd(price.input) * (usage.prompt_tokens - cached)
        + _per_token_nd(price.cached_input or 0.0) * cached
        + _per_token_nd(price.output) * usage.completion_tokens
    )
    return math.ceil(exact)


def prompt_token_bound(messages: Sequence[Message], schema: Mapping[str, Any] | None = None) -> int:
    """An upper bound on the prompt tokens ``messages`` can be billed as.

    Byte-level BPE tokenizers (GPT's, Llama's, Qwen's) never make more tokens than the text
    has UTF-8 bytes, so bytes plus a per-message allowance bounds the count without knowing
    the tokenizer. A response ``schema`` sent with the request counts too (a server may put
    it into the prompt), as its JSON text and one message's allowance.
    """
    content = sum(len(m.content.encode("utf-8")) for m in messages)
    bound = content + MESSAGE_OVERHEAD_TOKENS * len(messages) + _REPLY_PRIMER_TOKENS
    if schema is not None:
        bound += _schema_bytes(schema) + MESSAGE_OVERHEAD_TOKENS
    return bound


_measured: list[tuple[Mapping[str, Any], int]] = []


def _schema_bytes(schema: Mapping[str, Any]) -> int:
    """The schema's JSON size. Every call sends the same (shared, never changed) schema, so
    the last one's size is kept: encoding 4 KB of schema three times a call cost ~0.2 ms."""
    if _measured and _measured[0][0] is schema:
        return _measured[0][1]
    size = len(json.dumps(schema).encode("utf-8"))
    _measured[:] = [(schema, size)]
    return size


def worst_case_nd(
    price: ModelPrice,
    messages: Sequence[Message],
    max_tokens: int | None,
    schema: Mapping[str, Any] | None = None,
) -> int:
    """The most one attempt can cost: every prompt byte a token, and the longest answer.

    ``max_tokens`` is the agent's own cap; without one the model's output limit applies.
    """
    output = (
        price.max_output_tokens if max_tokens is None else min(max_tokens, price.max_output_tokens)
    )
    return cost_nd(price, Usage(prompt_token_bound(messages, schema), output))
