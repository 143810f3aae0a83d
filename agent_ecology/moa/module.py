"""The batched MOA: one program drives B rows with tensor operations only (``MOA.md``).

Shape legend: B rows, L zones (index L = finished), F zone fields, N tags, K consumers,
C capture capacity, I input capacity, T prompt tokens.

``step(tokens)`` takes the B sampled tokens and returns the B emitted tokens, the tags of the
zone each was emitted in, and the resolver (the feeder that claimed the row, -1 where the
model's token passed through). Inside ``step`` there is no Python loop over rows, no
``.item()``, ``.tolist()``, ``nonzero()`` or boolean-mask indexing: gathers, ``torch.where``
and indexed writes on fixed-shape buffers, so it compiles with ``fullgraph=True``. Reading
captures and loading inputs happen outside the step.

The four feeders are small modules chained by a claims mask (``free``: rows no feeder has
claimed yet), in the seed's order: timeout, prompt, input, capture.

How the step stays small and flat in B (``benchmarks/moa.py``: 44 aten ops, 4 more in
debug mode):

- every field of the zone a row is in comes from one gather of a ``(L+1, F)`` table, and the
  finished state is row L of that table: a zone whose timeout is 0 and whose trigger is the
  pad token, so the timeout feeder pads finished rows and the step moves them from L to L,
  with no separate "is this row finished" masks;
- row state is updated in place (``add_``, ``masked_fill_``, ``where(..., out=)``);
- input and capture buffers are flat with rows as the fastest axis, read with one
  ``index_select`` and written with one ``scatter_`` (a multi-index ``index_put_`` costs
  several times more per row; compiled, see ``_write``); rows whose write must not count
  write where it is never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from agent_ecology.moa.program import Program

__all__ = ["MOA", "CaptureFeeder", "InputFeeder", "PromptFeeder", "TimeoutFeeder"]

PASS = -1
"""Resolver value where the model's token passed through (also reported by finished rows)."""

NO_TOKEN = torch.iinfo(torch.int64).min
"""Where a zone has no jump: token ids are >= 0 (``set_input`` checks), so none matches."""

NOT_READY = -1
"""``finished_length`` of a consumer whose capture is not ready to read."""

# Columns of the zone table (the row gathered for each batch row at every step).
TRIGGER, JUMP_TOKEN, JUMP_TO, NEXT, PROMPT_END, TIMEOUT, FEEDS, SLOT, STRIDE, FINISHED = range(10)


class _Zones(nn.Module):
    """The program's instructions as buffers, one row per zone plus row L for "finished".

    Capture buffers are laid out ``(C+1, K+1, B)`` and read flat: row b's token at position
    i for consumer k is at ``i * (K+1) * B + k * B + b``. The table holds each zone's
    ``SLOT`` (``k * B``; the spare consumer K where the zone captures nothing) and
    ``STRIDE`` (``(K+1) * B``, or 0 where it captures nothing, so those rows always write
    at position 0 of the spare consumer, whatever their token count).
    """

    table: Tensor
    tags: Tensor
    prompt_start: Tensor

    def __init__(self, p: Program, batch_size: int) -> None:
        super().__init__()
        n, t_end, spare = p.length, int(p.token_data.shape[0]), len(p.consumers)
        capturing = p.captures_output >= 0
        no_jump = torch.full((n,), NO_TOKEN)  # a disabled jump never matches
        table = torch.stack(
            [
                p.step_trigger,
                torch.where(p.jump_enable, p.jump_token, no_jump),
                p.jump_location,
                torch.arange(1, n + 1),
                p.prompt_end,
                p.timeout,
                p.feeds_input.long(),
                torch.where(capturing, p.captures_output, spare) * batch_size,
                torch.where(capturing, (spare + 1) * batch_size, 0),
                torch.zeros(n, dtype=torch.int64),
            ],
            dim=1,
        )  # (L, F)
        finished = [p.pad_token, NO_TOKEN, n, n, t_end, 0, 0, spare * batch_size, 0, PASS]
        self.register_buffer("table", torch.cat([table, torch.tensor([finished])]))  # (L+1, F)
        no_tags = torch.zeros(1, p.tags.shape[1], dtype=torch.bool)
        self.register_buffer("tags", torch.cat([p.tags, no_tags]))  # (L+1, N)
        start = torch.cat([p.prompt_start, torch.tensor([t_end])])
        self.register_buffer("prompt_start", start)  # (L+1,)


class _Rows(NamedTuple):
    """Per-row state (the MOA's buffers), shared by the feeders; updated in place.

    Rows are the last axis of the input and capture buffers, so rows at the same place in
    their input or capture read and write side by side.
    """

    pointer: Tensor  # (B,) next prompt token, into the program's token data
    genned: Tensor  # (B,) model tokens in this zone, also the capture cursor
    input_start: Tensor  # (B,) = row: where each row's input begins in ``inputs``
    input_at: Tensor  # (B,) the next input token, into ``inputs``
    input_end: Tensor  # (B,) where each row's input ends
    inputs: Tensor  # ((I+1) * B,) flat (I+1, B): token i of row b at i * B + b
    capture: Tensor  # ((C+1) * (K+1) * B,) flat (C+1, K+1, B); consumer K is never read
    finished_length: Tensor  # ((K+1) * B,) flat (K+1, B): NOT_READY, or a ready length


class _Now(NamedTuple):
    """What the feeders see of this step: the sampled tokens and each row's zone."""

    tokens: Tensor  # (B,) sampled
    trigger: Tensor  # (B,)
    timeout: Tensor  # (B,)
    feeds: Tensor  # (B,) int 0/1
    slot: Tensor  # (B,) k * B + row: the row's place for its zone's consumer (K: none)
    stride: Tensor  # (B,) from one capture position to the next; 0 where nothing is captured
    finished: Tensor  # (B,) PASS on finished rows, else 0
    prompt_left: Tensor  # (B,) bool
    input_left: Tensor  # (B,) bool, only in zones that feed input


def _write(buffer: Tensor, index: Tensor, values: Tensor) -> None:
    """``buffer[index] = values`` for a flat buffer, with the op each mode does best.

    Eager, ``scatter_`` is the cheapest indexed write; under ``torch.compile`` inductor
    copies the whole buffer for a ``scatter_`` but updates it in place for ``index_put_``.
    """
    if torch.compiler.is_compiling():
        buffer.index_put_((index,), values)
    else:
        buffer.scatter_(0, index, values)


Chain = tuple[Tensor, Tensor, Tensor]
"""(emitted, resolver, free): free marks the rows no feeder has claimed yet."""


class _Feeder(nn.Module):
    """A feeder: a small module in the chain; ``code`` is its resolver value (0-dim)."""

    code: Tensor

    def __init__(self, code: int) -> None:
        super().__init__()
        self.register_buffer("code", torch.tensor(code))  # 0-dim, so no op makes it per step


class TimeoutFeeder(_Feeder):
    """Feeder 0: a zone whose prompt and input are used up and that holds ``timeout`` model
    tokens emits its trigger. First in the chain, so it needs no claims mask; finished rows
    (zone L: timeout 0, trigger pad) are padded here and report ``PASS``."""

    def __init__(self) -> None:
        super().__init__(PASS)  # where it does not claim

    def forward(self, now: _Now, s: _Rows) -> Chain:
        free = (s.genned < now.timeout) | now.prompt_left | now.input_left
        emitted = torch.where(free, now.tokens, now.trigger)
        resolver = torch.where(free, self.code, now.finished)
        return emitted, resolver, free


class PromptFeeder(_Feeder):
    """Feeder 1: while the zone's prompt is not used up, emit its next token."""

    data: Tensor

    def __init__(self, p: Program) -> None:
        super().__init__(1)
        # (T+1,): every prompt concatenated; the last entry (a pad) is where finished rows
        # point, never emitted
        self.register_buffer("data", torch.cat([p.token_data, torch.tensor([p.pad_token])]))

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        fire = now.prompt_left & free
        emitted = torch.where(fire, torch.index_select(self.data, 0, s.pointer), emitted)
        resolver = torch.where(fire, self.code, resolver)
        s.pointer.add_(fire)
        return emitted, resolver, free > fire


class InputFeeder(_Feeder):
    """Feeder 2: in a zone that feeds input, emit the row's next input token, then the
    zone's trigger once the input is used up."""

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        fire = torch.logical_and(free, now.feeds)
        fed = torch.where(now.input_left, torch.index_select(s.inputs, 0, s.input_at), now.trigger)
        emitted = torch.where(fire, fed, emitted)
        resolver = torch.where(fire, self.code, resolver)
        s.input_at.add_(fire & now.input_left, alpha=s.input_start.shape[0])  # next token: +B
        return emitted, resolver, free > fire


class CaptureFeeder(_Feeder):
    """Feeder 3: in a capturing zone, append the model's (unclaimed) token to the row's
    buffer for the zone's consumer. Never replaces a token, never claims.

    The cursor is ``genned``, which only unclaimed tokens advance. Every row writes its
    sampled token at its cursor (one scatter, no mask); a claimed row's write can never be
    read: its cursor is where the next unclaimed token will go or past the capture's end,
    and a step in a zone capturing for k makes an unread capture for k not ready (the step
    does that, in the same step). Rows in zones that capture nothing write to the spare
    consumer K."""

    def __init__(self) -> None:
        super().__init__(3)

    def forward(self, now: _Now, s: _Rows, chain: Chain) -> Chain:
        emitted, resolver, free = chain
        at = torch.addcmul(now.slot, s.genned, now.stride)  # (B,) into the flat buffer
        _write(s.capture, at, now.tokens)
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
    input_start: Tensor
    input_at: Tensor
    input_end: Tensor
    inputs: Tensor
    capture: Tensor
    finished_length: Tensor
    not_ready: Tensor
    rows: Tensor
    forced_zone: Tensor
    input_plain: Tensor

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
        if input_capacity < 0:
            raise ValueError(f"input_capacity must be >= 0, got {input_capacity}")
        capturing = program.timeout[program.captures_output >= 0]
        longest = int(capturing.max()) if capturing.numel() else 0
        if capture_capacity is None:
            capture_capacity = max(1, longest)
        if capture_capacity < max(1, longest):
            raise ValueError(
                f"capture_capacity {capture_capacity} cannot hold the longest capturing zone"
                f" (timeout {longest}); give at least {max(1, longest)} (or leave it out)"
            )
        k = len(program.consumers)
        cells = (capture_capacity + 1) * (k + 1) * batch_size
        if cells > 2**31:
            raise ValueError(
                f"the capture buffers would hold {cells:,} tokens ((capacity {capture_capacity}"
                f" + 1) x ({k} consumers + 1) x {batch_size} rows): lower the timeout of the"
                " longest capturing zone, or the batch size"
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
        self.zones = _Zones(program, batch_size)
        self.feeders = nn.ModuleList(
            [TimeoutFeeder(), PromptFeeder(program), InputFeeder(), CaptureFeeder()]
        )
        self.register_buffer("rows", torch.arange(b))
        self.register_buffer("pc", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("escape", torch.zeros(b, dtype=torch.bool))
        self.register_buffer("pointer", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("genned", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("input_start", torch.arange(b))
        self.register_buffer("input_at", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("input_end", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("inputs", torch.zeros((input_capacity + 1) * b, dtype=torch.int64))
        size = (capture_capacity + 1) * (k + 1) * b
        self.register_buffer("capture", torch.zeros(size, dtype=torch.int64))
        self.register_buffer("finished_length", torch.zeros((k + 1) * b, dtype=torch.int64))
        self.register_buffer("not_ready", torch.tensor(NOT_READY))  # 0-dim
        # For forced_ahead(): per zone (L+1, 4) prompt end, timeout, feeds input, and whether
        # its prompt holds no token that could move the zone; per row, the same of its input.
        specials = {program.escape_token, *program.step_trigger.tolist()}
        if bool(program.jump_enable.any()):
            specials.add(program.jump_token)
        self._specials = frozenset(specials)
        data = program.token_data.tolist()
        plain = []
        for z in range(program.length):
            moving = {program.escape_token, int(program.step_trigger[z])}
            if bool(program.jump_enable[z]):
                moving.add(program.jump_token)
            prompt = data[int(program.prompt_start[z]) : int(program.prompt_end[z])]
            plain.append(not moving.intersection(prompt))
        forced = torch.stack(
            [
                program.prompt_end,
                program.timeout,
                program.feeds_input.long(),
                torch.tensor(plain, dtype=torch.int64),
            ],
            dim=1,
        )
        finished_zone = torch.tensor([[0, 0, 0, 1]])
        self.register_buffer("forced_zone", torch.cat([forced, finished_zone]))  # (L+1, 4)
        self.register_buffer("input_plain", torch.ones(b, dtype=torch.bool))
        self.reset()

    # --- outside the step -----------------------------------------------------------------

    @torch.no_grad()
    def reset(self) -> None:
        """Every row back to the start of the program, with no input and no captures."""
        self.pc.zero_()
        self.escape.zero_()
        self.pointer.fill_(int(self.zones.prompt_start[0]))
        self.genned.zero_()
        self.input_at.copy_(self.input_start)
        self.input_end.copy_(self.input_start)
        self.input_plain.fill_(True)
        self.finished_length.fill_(NOT_READY)

    def done(self) -> bool:
        """Whether every row has finished (the one place that synchronises)."""
        return bool((self.pc >= self.length).all())

    @torch.no_grad()
    def set_input(self, row: int, tokens: Sequence[int]) -> None:
        """Load ``row``'s stream input buffer (read from its start by zones that feed input)."""
        if not 0 <= row < self.batch_size:
            raise IndexError(f"row {row} is not in the batch (0..{self.batch_size - 1})")
        if any(not isinstance(t, int) or isinstance(t, bool) or t < 0 for t in tokens):
            raise ValueError(f"input tokens must be token ids (ints >= 0), got {list(tokens)!r}")
        if len(tokens) > self.input_capacity:
            raise ValueError(
                f"{len(tokens)} input tokens do not fit input_capacity={self.input_capacity};"
                " make the MOA with a larger input_capacity"
            )
        inputs = self.inputs.view(self.input_capacity + 1, self.batch_size)
        inputs[: len(tokens), row] = torch.tensor(list(tokens), dtype=torch.int64)
        self.input_end[row] = row + len(tokens) * self.batch_size
        self.input_at[row] = row
        self.input_plain[row] = self._specials.isdisjoint(tokens)

    FINISHED_AHEAD = 1 << 40
    """What :meth:`forced_ahead` says of a finished row: it pads for ever."""

    @torch.no_grad()
    def forced_ahead(self) -> Tensor:
        """(B,) how many of each row's next steps a feeder claims whatever the model samples.

        A forced prompt, input being fed, a trigger forced by a timeout or at the end of the
        input: the tokens are known, so a driver can feed such a run to the model in one
        forward. Counted up to and including the first token that could move the row to
        another zone (a trigger, escape or enabled jump in the prompt or the input; the
        trigger that ends the run); :attr:`FINISHED_AHEAD` for finished rows; 0 where the
        next token is the model's.
        """
        zone = torch.index_select(self.forced_zone, 0, self.pc)  # (B, 4)
        prompt_end, timeout, feeds, plain = zone.unbind(1)
        prompt_left = (prompt_end - self.pointer).clamp(min=0)
        input_left = (self.input_end - self.input_at) // self.batch_size
        # after the prompt: the input then the trigger, or the trigger a timeout forces
        after = torch.where(
            feeds.bool(),
            torch.where(self.input_plain, input_left + 1, 1),
            (self.genned >= timeout).long(),
        )
        in_prompt = torch.where(plain.bool(), prompt_left + after, 1)
        ahead = torch.where(prompt_left > 0, in_prompt, after)
        return ahead.masked_fill(self.pc >= self.length, self.FINISHED_AHEAD)

    @torch.no_grad()
    def captures(self) -> list[tuple[int, str, list[int]]]:
        """Captures that are ready, as ``(row, consumer, tokens)``; each is returned once.

        A capture is ready from the step its zone is left until it is read here, or until
        the row spends a step in another zone capturing for the same consumer, which reuses
        the buffer: read after every step (the driver does).
        """
        b, k = self.batch_size, self.consumers
        lengths = self.finished_length.view(k + 1, b)[:k].t()  # (B, K)
        capture = self.capture.view(self.capture_capacity + 1, k + 1, b)
        out = []
        names = self.program.consumers
        for row, consumer in (lengths >= 0).nonzero().tolist():
            n = int(lengths[row, consumer])
            out.append((row, names[consumer], capture[:n, consumer, row].tolist()))
        self.finished_length.fill_(NOT_READY)
        return out

    # --- the step -------------------------------------------------------------------------

    def _rows(self) -> _Rows:
        return _Rows(
            self.pointer,
            self.genned,
            self.input_start,
            self.input_at,
            self.input_end,
            self.inputs,
            self.capture,
            self.finished_length,
        )

    @torch.no_grad()
    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``tokens`` (B,) sampled -> (emitted (B,), tags (B, N), resolver (B,))."""
        if tokens.shape != (self.batch_size,) or tokens.dtype != torch.int64:
            raise ValueError(
                f"step() takes the batch's sampled token ids as an int64 tensor of shape"
                f" ({self.batch_size},); got {tuple(tokens.shape)} {tokens.dtype}"
            )
        s, pc = self._rows(), self.pc
        zone = torch.index_select(self.zones.table, 0, pc)  # (B, F)
        (
            trigger,
            jump_token,
            jump_to,
            after,
            prompt_end,
            timeout,
            feeds,
            slot,
            stride,
            finished,
        ) = zone.unbind(1)
        tags = torch.index_select(self.zones.tags, 0, pc)  # (B, N): of the zone emitted in
        slot = slot + self.rows
        now = _Now(
            tokens=tokens,
            trigger=trigger,
            timeout=timeout,
            feeds=feeds,
            slot=slot,
            stride=stride,
            finished=finished,
            prompt_left=s.pointer < prompt_end,
            input_left=torch.logical_and(s.input_at < s.input_end, feeds),
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
        _write(s.finished_length, slot, ready)
        torch.where(take, target, pc, out=pc)
        start = torch.index_select(self.zones.prompt_start, 0, pc)
        torch.where(take, start, s.pointer, out=s.pointer)
        s.genned.masked_fill_(take, 0)
        torch.where(take, s.input_start, s.input_at, out=s.input_at)
        if self.debug:  # the seed's resolution map: passing through is n_feeders
            return emitted, tags, torch.where(resolver == PASS, len(self.feeders), resolver)
        return emitted, tags, resolver
