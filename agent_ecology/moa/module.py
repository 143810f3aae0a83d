"""The batched MOA: one program drives B rows with tensor operations only (``MOA.md``).

Shape legend: B rows, L zones (index L = finished), N tags, K consumers, C capture capacity,
I input capacity, T prompt tokens.

``step(tokens)`` takes the B sampled tokens and returns the B emitted tokens, the tags of the
zone each was emitted in, and the resolver (the feeder that claimed the row, -1 where the
model's token passed through). Inside ``step`` there is no Python loop over rows, no
``.item()``, ``.tolist()``, ``nonzero()`` or boolean-mask indexing: gathers, ``torch.where``
and scatters on fixed-shape buffers, so it compiles with ``fullgraph=True``. Reading captures
and loading inputs happen outside the step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from agent_ecology.moa.program import Program

__all__ = ["MOA"]

PASS = -1


def _extend(values: Tensor, fill: int | bool) -> Tensor:
    """Append one entry for the finished state (index L) so that gathers never go out of range."""
    extra = torch.full((1, *values.shape[1:]), fill, dtype=values.dtype)
    return torch.cat([values, extra])


class _Zone(nn.Module):
    """The program's instructions as buffers, gathered by program counter."""

    trigger: Tensor
    jump_enable: Tensor
    jump_location: Tensor
    tags: Tensor
    prompt_start: Tensor
    prompt_end: Tensor
    timeout: Tensor
    feeds: Tensor
    captures: Tensor
    data: Tensor

    def __init__(self, p: Program) -> None:
        super().__init__()
        t_end = int(p.token_data.shape[0])
        self.register_buffer("trigger", _extend(p.step_trigger, p.pad_token))  # (L+1,)
        self.register_buffer("jump_enable", _extend(p.jump_enable, False))  # (L+1,)
        self.register_buffer("jump_location", _extend(p.jump_location, 0))  # (L+1,)
        self.register_buffer("tags", _extend(p.tags, False))  # (L+1, N)
        self.register_buffer("prompt_start", _extend(p.prompt_start, t_end))  # (L+1,)
        self.register_buffer("prompt_end", _extend(p.prompt_end, t_end))  # (L+1,)
        self.register_buffer("timeout", _extend(p.timeout, 0))  # (L+1,)
        self.register_buffer("feeds", _extend(p.feeds_input, False))  # (L+1,)
        self.register_buffer("captures", _extend(p.captures_output, -1))  # (L+1,)
        self.register_buffer("data", _extend(p.token_data, p.pad_token))  # (T+1,)


class MOA(nn.Module):
    """The Main Orchestration Autonoma for a batch of ``batch_size`` rows."""

    pc: Tensor
    escape: Tensor
    pointer: Tensor
    genned: Tensor
    input_index: Tensor
    inputs: Tensor
    input_length: Tensor
    capture: Tensor
    capture_length: Tensor
    ready: Tensor

    def __init__(
        self,
        program: Program,
        batch_size: int,
        *,
        input_capacity: int = 256,
        capture_capacity: int = 256,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.program = program
        self.batch_size = batch_size
        self.length = program.length
        self.consumers = max(1, len(program.consumers))
        self.debug = debug
        self.pad = program.pad_token
        self.escape_token = program.escape_token
        self.jump_token = program.jump_token
        self.zone = _Zone(program)
        b, k = batch_size, self.consumers
        self.register_buffer("pc", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("escape", torch.zeros(b, dtype=torch.bool))
        self.register_buffer("pointer", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("genned", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("input_index", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("inputs", torch.zeros(b, input_capacity, dtype=torch.int64))
        self.register_buffer("input_length", torch.zeros(b, dtype=torch.int64))
        self.register_buffer("capture", torch.zeros(b, k, capture_capacity, dtype=torch.int64))
        self.register_buffer("capture_length", torch.zeros(b, k, dtype=torch.int64))
        self.register_buffer("ready", torch.zeros(b, k, dtype=torch.bool))
        self.reset()

    # --- outside the step -----------------------------------------------------------------

    @torch.no_grad()
    def reset(self) -> None:
        """Every row back to the start of the program."""
        self.pc.zero_()
        self.escape.zero_()
        self.pointer.fill_(int(self.zone.prompt_start[0]))
        self.genned.zero_()
        self.input_index.zero_()
        self.input_length.zero_()
        self.capture_length.zero_()
        self.ready.zero_()

    def done(self) -> bool:
        """Whether every row has finished (the one place that synchronises)."""
        return bool((self.pc >= self.length).all())

    @torch.no_grad()
    def set_input(self, row: int, tokens: Sequence[int]) -> None:
        """Load ``row``'s stream input buffer (read by zones that feed input)."""
        capacity = int(self.inputs.shape[1])
        if len(tokens) > capacity:
            raise ValueError(f"{len(tokens)} input tokens do not fit the capacity {capacity}")
        self.inputs[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.int64)
        self.input_length[row] = len(tokens)
        self.input_index[row] = 0

    @torch.no_grad()
    def captures(self) -> list[tuple[int, str, list[int]]]:
        """Captures that are ready, as ``(row, consumer, tokens)``; each is returned once."""
        out = []
        names = self.program.consumers
        for row, k in self.ready.nonzero().tolist():
            n = int(self.capture_length[row, k])
            out.append((row, names[k], self.capture[row, k, :n].tolist()))
        self.ready.zero_()
        return out

    # --- the step -------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``tokens`` (B,) sampled -> (emitted (B,), tags (B, N), resolver (B,))."""
        z, pc = self.zone, self.pc
        live = pc < self.length  # (B,)
        trigger = z.trigger[pc]  # (B,)
        prompt_left = self.pointer < z.prompt_end[pc]  # (B,)
        feeds = z.feeds[pc]  # (B,)
        input_left = feeds & (self.input_index < self.input_length)  # (B,)

        emitted = torch.where(live, tokens, torch.full_like(tokens, self.pad))
        resolver = torch.full_like(tokens, PASS)
        claimed = ~live

        # 0. timeout
        fire = live & ~prompt_left & ~input_left & (self.genned >= z.timeout[pc])
        emitted = torch.where(fire, trigger, emitted)
        resolver = torch.where(fire, 0, resolver)
        claimed = claimed | fire
        # 1. prompt feeding
        fire = ~claimed & prompt_left
        emitted = torch.where(fire, z.data[self.pointer], emitted)
        self.pointer.add_(fire.long())
        resolver = torch.where(fire, 1, resolver)
        claimed = claimed | fire
        # 2. stream input feeding
        fire = ~claimed & feeds
        last = self.inputs.shape[1] - 1
        fed = self.inputs.gather(1, self.input_index.clamp(max=last)[:, None])[:, 0]  # (B,)
        emitted = torch.where(fire, torch.where(input_left, fed, trigger), emitted)
        self.input_index.add_((fire & input_left).long())
        resolver = torch.where(fire, 2, resolver)
        claimed = claimed | fire
        # 3. stream output capture: the model's own token, never claims
        passing = ~claimed
        self.genned.add_(passing.long())
        consumer = z.captures[pc]  # (B,)
        capturing = passing & (consumer >= 0)
        k = consumer.clamp(min=0)[:, None]  # (B, 1)
        at = self.capture_length.gather(1, k)  # (B, 1)
        cap = self.capture.shape[2]
        slot = k * cap + at.clamp(max=cap - 1)  # (B, 1) into the flattened (K*C) buffer
        flat = self.capture.view(self.batch_size, -1)  # (B, K*C)
        old = flat.gather(1, slot)  # (B, 1)
        flat.scatter_(1, slot, torch.where(capturing[:, None], tokens[:, None], old))
        self.capture_length.scatter_add_(1, k, (capturing & (at[:, 0] < cap)).long()[:, None])

        tags = z.tags[pc] & live[:, None]  # (B, N)

        # transitions, on the emitted token
        is_escape = live & (emitted == self.escape_token)
        is_jump = live & z.jump_enable[pc] & (emitted == self.jump_token) & ~is_escape
        is_step = live & (emitted == trigger) & ~is_escape
        moving = is_jump | is_step
        take = moving & ~self.escape
        self.escape.copy_((self.escape & ~moving) | is_escape)
        target = torch.where(is_jump, z.jump_location[pc], pc + 1)  # (B,)
        # leaving a capturing zone marks its capture ready; entering one resets it
        leaving = (take & (consumer >= 0)).long()[:, None]
        self.ready.scatter_(1, k, self.ready.gather(1, k) | leaving.bool())
        new_pc = torch.where(take, target, pc)
        entering = z.captures[new_pc]  # (B,)
        reset = (take & (entering >= 0))[:, None]
        k2 = entering.clamp(min=0)[:, None]
        self.capture_length.scatter_(
            1, k2, torch.where(reset, 0, self.capture_length.gather(1, k2))
        )
        self.ready.scatter_(1, k2, self.ready.gather(1, k2) & ~reset)
        self.pointer.copy_(torch.where(take, z.prompt_start[new_pc], self.pointer))
        self.genned.copy_(torch.where(take, 0, self.genned))
        self.input_index.copy_(torch.where(take, 0, self.input_index))
        self.pc.copy_(new_pc)
        if self.debug:
            return emitted, tags, torch.where(resolver == PASS, 4, resolver)
        return emitted, tags, resolver
