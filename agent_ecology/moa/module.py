"""The batched MOA: one program drives B rows with tensor operations only (``MOA.md``).

Shape legend: B rows, L zones (index L = finished), F zone fields, N tags, K consumers,
C capture capacity, I input capacity, T prompt tokens.

``step(tokens)`` takes the B sampled tokens and returns the B emitted tokens, the tags of the
zone each was emitted in, and the resolver (the feeder that claimed the row, -1 where the
model's token passed through). Inside ``step`` there is no Python loop over rows, no
``.item()``, ``.tolist()``, ``nonzero()`` or boolean-mask indexing: gathers, ``torch.where``
and indexed writes on fixed-shape buffers, so it compiles with ``fullgraph=True``. Reading
captures and loading inputs happen outside the step.

How the step stays small (``benchmarks/moa.py`` counts its aten ops):

- every field of the zone a row is in comes from one gather of a ``(L+1, F)`` table, and the
  finished state is row L of that table: a zone whose timeout is 0 and whose trigger is the
  pad token, so the timeout feeder pads finished rows and the step moves them from L to L,
  with no separate "is this row finished" masks;
- row state is updated in place (``add_``, ``masked_fill_``, ``where(..., out=)``);
- writes that must not land (a row that is not capturing) go to a spare consumer slot K
  instead of being masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from agent_ecology.moa.program import Program

__all__ = ["FEEDER_NAMES", "MOA", "CaptureFeeder", "InputFeeder", "PromptFeeder", "TimeoutFeeder"]

PASS = -1
"""Resolver value where the model's token passed through (also reported by finished rows)."""

NOT_READY = -1
"""``finished_length`` of a consumer whose capture is not ready to read."""

FEEDER_NAMES = ("timeout", "prompt", "input", "capture")

# Columns of the zone table (the row gathered for each batch row at every step).
TRIGGER, JUMP_TOKEN, JUMP_TO, NEXT, PROMPT_END, TIMEOUT, FEEDS, CONSUMER, FINISHED = range(9)


class _Zones(nn.Module):
    """The program's instructions as buffers, one row per zone plus row L for "finished"."""

    table: Tensor
    tags: Tensor
    prompt_start: Tensor

    def __init__(self, p: Program, spare_consumer: int) -> None:
        super().__init__()
        n, t_end = p.length, int(p.token_data.shape[0])
        zones = torch.arange(n)
        no_jump = torch.full((n,), -2)  # no token is -2: a disabled jump never matches
        table = torch.stack(
            [
                p.step_trigger,
                torch.where(p.jump_enable, p.jump_token, no_jump),
                p.jump_location,
                zones + 1,
                p.prompt_end,
                p.timeout,
                p.feeds_input.long(),
                torch.where(p.captures_output >= 0, p.captures_output, spare_consumer),
                torch.zeros(n, dtype=torch.int64),
            ],
            dim=1,
        )  # (L, F)
        finished = torch.tensor([[p.pad_token, -2, n, n, t_end, 0, 0, spare_consumer, PASS]])
        self.register_buffer("table", torch.cat([table, finished]))  # (L+1, F)
        no_tags = torch.zeros(1, p.tags.shape[1], dtype=torch.bool)
        self.register_buffer("tags", torch.cat([p.tags, no_tags]))  # (L+1, N)
        start = torch.cat([p.prompt_start, torch.tensor([t_end])])
        self.register_buffer("prompt_start", start)  # (L+1,)


class _Rows(NamedTuple):
    """Per-row state (the MOA's buffers), shared by the feeders; updated in place."""

    rows: Tensor  # (B,) arange, for indexed writes
    pointer: Tensor  # (B,) next prompt token, into the program's token data
    genned: Tensor  # (B,) model tokens in this zone, also the capture cursor
    input_index: Tensor  # (B,)
    input_length: Tensor  # (B,)
    inputs: Tensor  # (B, I+1)
    capture: Tensor  # (B, K+1, C+1); consumer K and position C are never read
    finished_length: Tensor  # (B, K+1); NOT_READY, or the length of a ready capture


class _Now(NamedTuple):
    """What the feeders see of this step: the sampled tokens and each row's zone."""

    tokens: Tensor  # (B,) sampled
    trigger: Tensor  # (B,)
    timeout: Tensor  # (B,)
    feeds: Tensor  # (B,) int 0/1
    consumer: Tensor  # (B,) K where the zone captures nothing
    finished: Tensor  # (B,) PASS on finished rows, else 0
    prompt_left: Tensor  # (B,) bool
    input_left: Tensor  # (B,) bool, only in zones that feed input


Chain = tuple[Tensor, Tensor, Tensor]
"""(emitted, resolver, free): free marks the rows no feeder has claimed yet."""


class TimeoutFeeder(nn.Module):
    """Feeder 0: a zone whose prompt and input are used up and that holds ``timeout`` model
    tokens emits its trigger. First in the chain, so it needs no claims mask; finished rows
    (zone L: timeout 0, trigger pad) are padded here and report ``PASS``."""

    def forward(self, now: _Now, s: _Rows) -> Chain:
        free = (s.genned < now.timeout) | now.prompt_left | now.input_left
        emitted = torch.where(free, now.tokens, now.trigger)
        resolver = now.finished.masked_fill(free, PASS)
        return emitted, resolver, free


class PromptFeeder(nn.Module):
    """Feeder 1: while the zone's prompt is not used up, emit its next token."""

    data: Tensor

    def __init__(self, p: Program) -> None:
        super().__init__()
        # (T+1,): every prompt concatenated; the last entry (a pad) is where finished rows
        # point, never emitted
        self.register_buffer("data", torch.cat([p.token_data, torch.tensor([p.pad_token])]))

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        fire = now.prompt_left & free
        emitted = torch.where(fire, self.data[s.pointer], emitted)
        resolver = resolver.masked_fill(fire, 1)
        s.pointer.add_(fire)
        return emitted, resolver, free > fire


class InputFeeder(nn.Module):
    """Feeder 2: in a zone that feeds input, emit the row's next input token, then the
    zone's trigger once the input is used up."""

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        fire = torch.logical_and(free, now.feeds)
        fed = torch.where(now.input_left, s.inputs[s.rows, s.input_index], now.trigger)
        emitted = torch.where(fire, fed, emitted)
        resolver = resolver.masked_fill(fire, 2)
        s.input_index.add_(fire & now.input_left)
        return emitted, resolver, free > fire


class CaptureFeeder(nn.Module):
    """Feeder 3: in a capturing zone, append the model's (unclaimed) token to the row's
    buffer for the zone's consumer. Never replaces a token, never claims.

    The cursor is ``genned``, which only unclaimed tokens advance; a row the earlier feeders
    claimed writes to the spare consumer K, which is never read."""

    spare: Tensor

    def __init__(self, spare_consumer: int) -> None:
        super().__init__()
        self.register_buffer("spare", torch.tensor(spare_consumer))  # 0-dim: no op to make

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        consumer = torch.where(free, now.consumer, self.spare)
        at = s.genned.clamp(max=s.capture.shape[2] - 1)
        s.capture.index_put_((s.rows, consumer, at), now.tokens)
        s.genned.add_(free)
        return emitted, resolver, free


class MOA(nn.Module):
    """The Main Orchestration Autonoma for a batch of ``batch_size`` rows.

    ``capture_capacity`` must hold the longest capturing zone (its timeout); by default it
    is exactly that, so a capture is never cut short.
    """

    pc: Tensor
    escape: Tensor
    pointer: Tensor
    genned: Tensor
    input_index: Tensor
    inputs: Tensor
    input_length: Tensor
    capture: Tensor
    finished_length: Tensor
    not_ready: Tensor
    rows: Tensor

    def __init__(
        self,
        program: Program,
        batch_size: int,
        *,
        input_capacity: int = 256,
        capture_capacity: int | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        capturing = program.timeout[program.captures_output >= 0]
        longest = int(capturing.max()) if capturing.numel() else 0
        if capture_capacity is None:
            capture_capacity = max(1, longest)
        if capture_capacity < longest:
            raise ValueError(
                f"capture_capacity {capture_capacity} cannot hold a capturing zone with"
                f" timeout {longest}; give at least {longest} (or leave it out)"
            )
        self.program = program
        self.batch_size = batch_size
        self.length = program.length
        self.consumers = len(program.consumers)
        self.debug = debug
        self.pad = program.pad_token
        self.escape_token = program.escape_token
        self.input_capacity = input_capacity
        self.capture_capacity = capture_capacity
        b, k = batch_size, self.consumers
        self.zones = _Zones(program, spare_consumer=k)
        self.feeders = nn.ModuleList(
            [TimeoutFeeder(), PromptFeeder(program), InputFeeder(), CaptureFeeder(k)]
        )
        self.register_buffer("rows", torch.arange(b))
        self.register_buffer("pc", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("escape", torch.zeros(b, dtype=torch.bool))
        self.register_buffer("pointer", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("genned", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("input_index", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("input_length", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("inputs", torch.zeros(b, input_capacity + 1, dtype=torch.int64))
        shape = (b, k + 1, capture_capacity + 1)
        self.register_buffer("capture", torch.zeros(shape, dtype=torch.int64))
        self.register_buffer("finished_length", torch.zeros(b, k + 1, dtype=torch.int64))
        self.register_buffer("not_ready", torch.tensor(NOT_READY))  # 0-dim
        self.reset()

    # --- outside the step -----------------------------------------------------------------

    @torch.no_grad()
    def reset(self) -> None:
        """Every row back to the start of the program, with no input and no captures."""
        self.pc.zero_()
        self.escape.zero_()
        self.pointer.fill_(int(self.zones.prompt_start[0]))
        self.genned.zero_()
        self.input_index.zero_()
        self.input_length.zero_()
        self.finished_length.fill_(NOT_READY)

    def done(self) -> bool:
        """Whether every row has finished (the one place that synchronises)."""
        return bool((self.pc >= self.length).all())

    @torch.no_grad()
    def set_input(self, row: int, tokens: Sequence[int]) -> None:
        """Load ``row``'s stream input buffer (read from its start by zones that feed input)."""
        if not 0 <= row < self.batch_size:
            raise IndexError(f"row {row} is not in the batch (0..{self.batch_size - 1})")
        if len(tokens) > self.input_capacity:
            raise ValueError(
                f"{len(tokens)} input tokens do not fit input_capacity={self.input_capacity};"
                " make the MOA with a larger input_capacity"
            )
        self.inputs[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.int64)
        self.input_length[row] = len(tokens)
        self.input_index[row] = 0

    @torch.no_grad()
    def captures(self) -> list[tuple[int, str, list[int]]]:
        """Captures that are ready, as ``(row, consumer, tokens)``; each is returned once.

        A capture is ready from the step its zone is left until it is read here, or until
        the row spends a step in another zone capturing for the same consumer, which reuses
        the buffer: read after every step (the driver does).
        """
        lengths = self.finished_length[:, : self.consumers]  # (B, K)
        out = []
        names = self.program.consumers
        for row, k in (lengths >= 0).nonzero().tolist():
            n = int(lengths[row, k])
            out.append((row, names[k], self.capture[row, k, :n].tolist()))
        self.finished_length.fill_(NOT_READY)
        return out

    # --- the step -------------------------------------------------------------------------

    def _rows(self) -> _Rows:
        return _Rows(
            self.rows,
            self.pointer,
            self.genned,
            self.input_index,
            self.input_length,
            self.inputs,
            self.capture,
            self.finished_length,
        )

    @torch.no_grad()
    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``tokens`` (B,) sampled -> (emitted (B,), tags (B, N), resolver (B,))."""
        s, pc = self._rows(), self.pc
        zone = self.zones.table[pc]  # (B, F)
        trigger, jump_token, jump_to, after, prompt_end, timeout, feeds, consumer, finished = (
            zone.unbind(1)
        )
        tags = self.zones.tags[pc]  # (B, N): tags of the zone the token is emitted in
        now = _Now(
            tokens=tokens,
            trigger=trigger,
            timeout=timeout,
            feeds=feeds,
            consumer=consumer,
            finished=finished,
            prompt_left=s.pointer < prompt_end,
            input_left=torch.logical_and(s.input_index < s.input_length, feeds),
        )
        timeout_feeder, prompt_feeder, input_feeder, capture_feeder = self.feeders
        chain = timeout_feeder(now, s)
        chain = prompt_feeder(now, s, chain)
        chain = input_feeder(now, s, chain)
        emitted, resolver, _free = capture_feeder(now, s, chain)

        # transitions, decided on the emitted token
        is_jump = emitted == jump_token  # the column is -2 where the jump is disabled
        moving = is_jump | (emitted == trigger)
        take = moving > self.escape  # an escape set before negates this transition
        self.escape.logical_or_(emitted == self.escape_token).masked_fill_(moving, False)
        target = torch.where(is_jump, jump_to, after)
        # a step in a capturing zone: its capture is ready if the row leaves, else not yet
        ready = torch.where(take, s.genned, self.not_ready)
        s.finished_length.index_put_((s.rows, consumer), ready)
        torch.where(take, target, pc, out=pc)
        torch.where(take, self.zones.prompt_start[pc], s.pointer, out=s.pointer)
        s.genned.masked_fill_(take, 0)
        s.input_index.masked_fill_(take, 0)
        if self.debug:  # the seed's resolution map: passing through is n_feeders
            return emitted, tags, torch.where(resolver == PASS, len(FEEDER_NAMES), resolver)
        return emitted, tags, resolver
