"""Hugging Face models and tokenizers for the MOA (optional: ``pip install agent-ecology[hf]``).

Nothing here imports ``transformers``: the adapters only call what any causal LM and any
tokenizer from it already have, so they work with whatever version the user has installed.

::

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)  # a model you already have on disk
    tok.add_special_tokens(
        {"additional_special_tokens": ["<pad>", "<esc>", "<jump>", "<end>"]}
    )
    model = AutoModelForCausalLM.from_pretrained(path)
    model.resize_token_embeddings(len(tok))
    tokenizer = HFTokenizer(tok)
    program = compile_program(spec, tokenizer)  # spec's pad defaults to "<pad>"
    rows = generate(causal_lm(model), MOA(program, 8), tokenizer)

The MOA needs single-token pad, escape and jump tokens (and a trigger per zone); a
tokenizer that lacks them gets them with ``add_special_tokens`` as above, and the model
with ``resize_token_embeddings``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from agent_ecology.moa.driver import Model
from agent_ecology.moa.tokenizer import UnknownToken

__all__ = ["HFTokenizer", "causal_lm"]


def causal_lm(model: Any) -> Model:
    """A Hugging Face causal LM as the driver's model: ``(ids, cache) -> (logits, cache)``.

    The model is put in eval mode; its key-value cache is carried between steps by the
    driver, under the name the model's ``forward`` takes: ``cache`` (transformers 5.24 and
    later, which deprecate the old name) or ``past_key_values`` (every release before, and
    models a release has not moved yet). Only the last position's logits are computed and
    returned (``(B, 1, V)``: all the driver reads), so a prefilled run of many tokens does not
    make a ``(B, T, V)`` tensor of logits nobody reads.
    """
    if not callable(model):
        raise TypeError(f"{type(model).__name__} is not a model: pass a causal LM module")
    model.eval()
    try:
        params: Mapping[str, inspect.Parameter] = inspect.signature(model.forward).parameters
    except (TypeError, ValueError, AttributeError):
        params = {}
    cache_name = _cache_argument(type(model).__name__, params)
    keep = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
    extra = {keep: 1} if keep is not None else {}

    def run(ids: Tensor, cache: Any) -> tuple[Tensor, Any]:
        out = model(input_ids=ids, use_cache=True, **{cache_name: cache}, **extra)
        return out.logits[:, -1:], getattr(out, cache_name)

    return run


def _cache_argument(name: str, params: Mapping[str, inspect.Parameter]) -> str:
    """The keyword a model's ``forward`` takes its key-value cache by (and returns it under)."""
    for candidate in ("cache", "past_key_values"):
        if candidate in params:
            return candidate
    if not params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return "past_key_values"  # no signature to read: the name every release has accepted
    raise TypeError(
        f"{name}.forward takes no key-value cache (neither cache= nor past_key_values=):"
        " pass a causal LM that caches, such as one from AutoModelForCausalLM"
    )


class HFTokenizer:
    """A Hugging Face tokenizer seen through :class:`~agent_ecology.moa.tokenizer.Tokenizer`."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)  # includes added tokens, unlike ``.vocab_size``

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=False))

    def model_specials(self) -> list[int]:
        """The ids of the tokenizer's own special tokens (end of turn, chat markers such as
        ``<|im_end|>``, padding): a model writes them to end or frame a turn, so they never
        belong inside an action's text."""
        ids = set(self.tokenizer.all_special_ids)
        decoder = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        ids |= {int(i) for i, added in decoder.items() if getattr(added, "special", False)}
        return sorted(ids)

    def special(self, name: str) -> int:
        vocab = self.tokenizer.get_vocab()
        if name not in vocab:
            known = ", ".join(self.tokenizer.all_special_tokens) or "none"
            raise UnknownToken(
                f"no token {name!r} in this tokenizer (its special tokens: {known}); add it"
                f" with tokenizer.add_special_tokens({{'additional_special_tokens': [{name!r}]}})"
                " and resize the model's embeddings"
            )
        return int(vocab[name])
