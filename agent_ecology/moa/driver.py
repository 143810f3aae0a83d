"""Generation with the MOA in the loop: sample, constrain, feed back, until done.

Works with any causal LM that maps token ids ``(B, T)`` and a cache to logits ``(B, T, V)``
and a new cache (:class:`~agent_ecology.moa.tiny.TinyDecoder`, or a Hugging Face causal LM
wrapped by :func:`~agent_ecology.moa.hf.causal_lm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from agent_ecology.moa.module import MOA
from agent_ecology.moa.tokenizer import Tokenizer

__all__ = ["Generated", "generate"]

Model = Callable[[Tensor, Any], tuple[Tensor, Any]]


@dataclass
class Generated:
    """What one row produced."""

    tokens: list[int] = field(default_factory=list)
    text: str = ""
    tags: list[list[bool]] = field(default_factory=list)
    captures: dict[str, list[list[int]]] = field(default_factory=dict)
    finished: bool = False  # False: max_steps came first (a capture in progress is not here)


OnCapture = Callable[[int, str, list[int]], Sequence[int] | None]
"""``(row, consumer, tokens) -> input tokens or None``: run a tool on a capture; what it
returns is loaded as the row's input (fed by the next zone that feeds input)."""

OnFinished = Callable[[int, Generated], None]
"""``(row, result)``: called once for each row, in the step it finishes, with its whole
result (so a caller can release it without waiting for the slowest row)."""

OnStep = Callable[[int], None]
"""``(alive)``: called after each step with the number of rows that wrote a token in it."""


@torch.no_grad()
def generate(
    model: Model,
    moa: MOA,
    tokenizer: Tokenizer,
    *,
    max_steps: int = 256,
    temperature: float = 0.0,
    seed: int = 0,
    start_token: int | None = None,
    on_capture: OnCapture | None = None,
    row_seeds: Sequence[int] | None = None,
    on_finished: OnFinished | None = None,
    on_step: OnStep | None = None,
    should_stop: Callable[[], bool] | None = None,
    prefill: bool = True,
) -> list[Generated]:
    """Run every row of ``moa`` from where it is until it is done (or ``max_steps``); one
    result per row. Inputs loaded before the call are fed as usual; ``on_capture`` lets a
    tool answer each capture as it is made (e.g. run the action, feed back its result).

    Each row samples from its own random stream (:func:`row_uniform`): its ``row_seeds``
    entry, or ``seed`` and its place in the batch. With ``row_seeds``, what a row writes does
    not depend on which other rows share the batch.

    ``on_finished`` is told of each row in the step it finishes; ``on_step`` after each step
    how many rows were alive in it; ``should_stop`` is asked before each forward and ends the
    run early (like ``max_steps``: unfinished rows come back with ``finished`` False).

    With ``prefill`` (the default), when every row's next tokens are forced (a prompt, fed
    input: :meth:`MOA.forced_ahead`), the MOA steps through them and the model reads them in
    one forward: the same tokens (up to the model's float rounding, which a forward of many
    tokens can change), far fewer forwards. ``on_step`` is still told of each step (a run's
    time lands on its first step); ``should_stop`` is asked before each forward."""
    rows, device = moa.batch_size, moa.pc.device  # the model must be on the MOA's device
    if row_seeds is not None and len(row_seeds) != rows:
        raise ValueError(f"row_seeds has {len(row_seeds)} seeds for {rows} rows")
    if row_seeds is None:  # row r of the batch: a stream of its own, from ``seed``
        row_seeds = [(int(seed) << 32) + r for r in range(rows)]
    seeds = torch.tensor(
        [_signed(int(s) & _MASK64) for s in row_seeds], dtype=torch.int64, device=device
    )
    first = moa.pad if start_token is None else start_token
    last = torch.full((rows, 1), first, device=device)  # (B, 1)
    cache = None
    out = [Generated() for _ in range(rows)]
    emitted_steps: list[Tensor] = []
    tag_steps: list[Tensor] = []
    alive_steps: list[Tensor] = []
    allowed: Tensor | None = None  # (L+1, V): per zone, what the model may sample
    reported = (moa.pc >= moa.length).tolist()  # rows finished before the run are not news
    alive_count = rows - sum(reported)
    dummy = torch.full((rows,), moa.pad, device=device)  # a sample no forced step reads

    def moa_step(sampled: Tensor) -> Tensor:
        alive_steps.append(moa.pc < moa.length)
        emitted, tags, _resolver = moa.step(sampled)
        emitted_steps.append(emitted)
        tag_steps.append(tags)
        for row, consumer, captured in moa.captures():
            out[row].captures.setdefault(consumer, []).append(captured)
            if on_capture is not None:
                reply = on_capture(row, consumer, captured)
                if reply is not None:
                    moa.set_input(row, list(reply))
        return emitted

    step = 0
    while step < max_steps:
        if prefill:
            run = int(moa.forced_ahead().min())  # one host sync: also says if all are done
            if run >= MOA.FINISHED_AHEAD:
                break
        elif moa.done():
            break
        else:
            run = 0
        if should_stop is not None and should_stop():
            break
        if run >= 2:
            # Every row's next ``run`` tokens are forced (a prompt, fed input): step the MOA
            # through them and feed them to the model in one forward, not one by one.
            run = min(run, max_steps - step)
            block = [last]
            for i in range(run):
                emitted = moa_step(dummy)
                if i < run - 1:
                    block.append(emitted[:, None])
            if step + run < max_steps and not moa.done():  # else nothing reads the cache
                _logits, cache = model(torch.cat(block, dim=1), cache)
            made = run
        else:
            logits, cache = model(last, cache)
            scores = logits[:, -1, :]  # (B, V)
            if moa.program.allowed is not None:
                if allowed is None:
                    allowed = _zone_masks(moa.program.allowed, scores.shape[-1]).to(device)
                scores = scores.masked_fill(~allowed[moa.pc], float("-inf"))
            if temperature > 0:
                probs = torch.softmax(scores / temperature, dim=-1)
                sampled = _sample_rows(probs, row_uniform(seeds, step))
            else:
                sampled = scores.argmax(dim=-1)
            emitted = moa_step(sampled)
            made = 1
        step += made
        last = emitted[:, None]
        if on_step is not None:
            for _ in range(made):  # rows can only finish at a run's last step
                on_step(alive_count)
        if on_finished is not None or on_step is not None:
            finished_now = (moa.pc >= moa.length).tolist()
            newly = [r for r in range(rows) if finished_now[r] and not reported[r]]
            for row in newly:
                reported[row] = True
            alive_count -= len(newly)
            if on_finished is not None and newly:
                _collect(out, tokenizer, emitted_steps, tag_steps, alive_steps, newly)
                for row in newly:
                    out[row].finished = True
                    on_finished(row, out[row])
    if emitted_steps:
        _collect(out, tokenizer, emitted_steps, tag_steps, alive_steps, range(rows))
    for row, done in enumerate((moa.pc >= moa.length).tolist()):
        out[row].finished = bool(done)
    return out


_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit constant as the int64 that has its bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def _shr(x: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bits (torch's ``>>`` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def row_uniform(seeds: Tensor, step: int) -> Tensor:
    """One uniform number in (0, 1) per row for ``step``: SplitMix64 of (seed, step).

    A counter-based generator: row r's number depends only on its seed and the step, never
    on the other rows, and all rows are drawn in a few vectorised ops (a ``torch.Generator``
    per row costs a call per row per step).
    """
    z = seeds + _signed((step + 1) * _GOLDEN & _MASK64)  # int64 wraps, as SplitMix64's does
    z = (z ^ _shr(z, 30)) * _MIX1
    z = (z ^ _shr(z, 27)) * _MIX2
    z = z ^ _shr(z, 31)
    return (_shr(z, 11).to(torch.float64) + 0.5) / float(1 << 53)


def _sample_rows(probs: Tensor, uniform: Tensor) -> Tensor:
    """Inverse-CDF sampling: row r takes the first token whose cumulative probability
    reaches ``uniform[r]`` of its total. A token of probability 0 is never taken."""
    cdf = probs.to(torch.float64).cumsum(dim=-1)  # (B, V)
    total = cdf[:, -1]
    bad = ~(torch.isfinite(total) & (total > 0))
    if bool(bad.any()):  # NaN logits (an fp16 overflow, a broken model): never sample noise
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(
            f"the model's next-token probabilities are not finite (or all zero) in row(s)"
            f" {rows[:8]}; the model or the temperature is broken for this batch"
        )
    target = (uniform * total).unsqueeze(1)  # (B, 1)
    index = torch.searchsorted(cdf, target).squeeze(1)
    return index.clamp_(max=probs.shape[-1] - 1)


def _collect(
    out: list[Generated],
    tokenizer: Tokenizer,
    emitted_steps: list[Tensor],
    tag_steps: list[Tensor],
    alive_steps: list[Tensor],
    which: Sequence[int],
) -> None:
    """Fill ``out[row]``'s tokens, text and tags for each row in ``which`` from the steps."""
    index = torch.tensor(list(which), device=emitted_steps[0].device)
    emitted_all = torch.stack(emitted_steps, dim=1).index_select(0, index)  # (R, steps)
    tags_all = torch.stack(tag_steps, dim=1).index_select(0, index)  # (R, steps, N)
    alive_all = torch.stack(alive_steps, dim=1).index_select(0, index)  # (R, steps)
    counts = alive_all.sum(dim=1).tolist()  # a row is alive for a prefix of the steps
    for i, row in enumerate(which):
        n = int(counts[i])
        out[row].tokens = emitted_all[i, :n].tolist()
        out[row].text = tokenizer.decode(out[row].tokens)
        out[row].tags = tags_all[i, :n].tolist()


def _zone_masks(allowed: Tensor, vocab: int) -> Tensor:
    """The program's (L, V') masks fitted to the model's vocabulary V, plus an all-True row
    for finished rows. Ids the tokenizer does not have (models often pad their vocabulary)
    stay allowed only in zones that restrict nothing."""
    zones, known = allowed.shape
    if vocab < known:
        raise ValueError(
            f"the model scores {vocab} tokens but the program's tokenizer has {known}: use the"
            " tokenizer that goes with the model"
        )
    free = allowed.all(dim=1, keepdim=True)  # (L, 1): zones that restrict nothing
    fitted = torch.cat([allowed, free.expand(zones, vocab - known)], dim=1)
    return torch.cat([fitted, torch.ones(1, vocab, dtype=torch.bool)])  # (L+1, V)
