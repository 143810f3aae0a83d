"""A scalar reference MOA: one row, plain Python, written from ``MOA.md`` line by line.

It exists to check the batched module against (property tests), not to be fast. Pinned here
where ``MOA.md`` is silent (and recorded in ``docs/MOA.md``, "Pinned during implementation"):

- a finished row reports resolver -1 (padding is not a feeder);
- each consumer k has its own capture buffer per row; entering a zone that captures for k
  starts k's capture afresh; leaving it makes the capture ready;
- a ready capture stays ready until ``captures()`` reads it, or until the row spends a step
  in a zone capturing for the same consumer (the buffer is being reused): read after every
  step, as the driver does;
- the model's own trigger, when it ends a capturing zone, is captured (it is an unclaimed
  model token like any other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent_ecology.moa.program import Program

__all__ = ["FEEDERS", "ScalarMOA", "Stepped"]

FEEDERS = ("timeout", "prompt", "input", "capture")
"""The feeders in the seed's order; a resolver value is an index into this tuple."""


@dataclass(slots=True)
class Stepped:
    """What one step did to the row."""

    token: int
    tags: list[bool]
    resolver: int


@dataclass
class ScalarMOA:
    """The MOA for a single row."""

    program: Program
    pc: int = 0
    escape: bool = False
    pointer: int = 0
    genned: int = 0
    input_index: int = 0
    inputs: list[int] = field(default_factory=list)
    capture: dict[int, list[int]] = field(default_factory=dict)
    ready: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.program
        self.trigger = p.step_trigger.tolist()
        self.jump_enable = p.jump_enable.tolist()
        self.jump_location = p.jump_location.tolist()
        self.tag_rows = p.tags.tolist()
        self.prompt_start = p.prompt_start.tolist()
        self.prompt_end = p.prompt_end.tolist()
        self.timeout = p.timeout.tolist()
        self.feeds = p.feeds_input.tolist()
        self.consumer_of = p.captures_output.tolist()
        self.data = p.token_data.tolist()
        self.length = len(self.trigger)
        self.n_tags = len(p.tag_names)
        self.enter(0, leaving=False)

    def enter(self, zone: int, *, leaving: bool = True) -> None:
        if leaving and self.consumer_of[self.pc] >= 0:
            consumer = self.consumer_of[self.pc]
            self.ready[consumer] = list(self.capture[consumer])
        self.pc = zone
        if zone < self.length:
            self.pointer = self.prompt_start[zone]
            self.genned = 0
            self.input_index = 0
            if self.consumer_of[zone] >= 0:
                self.capture[self.consumer_of[zone]] = []

    def captures(self) -> list[tuple[int, list[int]]]:
        """Ready captures as ``(consumer, tokens)``, each returned once."""
        out = sorted(self.ready.items())
        self.ready.clear()
        return out

    def set_input(self, tokens: Sequence[int]) -> None:
        self.inputs = list(tokens)
        self.input_index = 0

    @property
    def done(self) -> bool:
        return self.pc >= self.length

    def step(self, token: int) -> Stepped:
        p = self.program
        if self.done:
            return Stepped(p.pad_token, [False] * self.n_tags, -1)
        pc = self.pc
        emitted, resolver = token, -1
        prompt_left = self.pointer < self.prompt_end[pc]
        input_left = self.feeds[pc] and self.input_index < len(self.inputs)
        # 0. timeout
        if not prompt_left and not input_left and self.genned >= self.timeout[pc]:
            emitted, resolver = self.trigger[pc], 0
        # 1. prompt feeding
        elif prompt_left:
            emitted, resolver = self.data[self.pointer], 1
            self.pointer += 1
        # 2. stream input feeding
        elif self.feeds[pc]:
            if input_left:
                emitted = self.inputs[self.input_index]
                self.input_index += 1
            else:
                emitted = self.trigger[pc]
            resolver = 2
        # 3. capture: never claims
        if resolver == -1:
            self.genned += 1
            if self.consumer_of[pc] >= 0:
                self.capture[self.consumer_of[pc]].append(token)
        if self.consumer_of[pc] >= 0:  # a step in the zone: an unread capture is being reused
            self.ready.pop(self.consumer_of[pc], None)
        tags = [bool(t) for t in self.tag_rows[pc]]
        # transitions, on the emitted token
        if emitted == p.escape_token:
            self.escape = True
        else:
            is_jump = self.jump_enable[pc] and emitted == p.jump_token
            if is_jump or emitted == self.trigger[pc]:
                if self.escape:
                    self.escape = False
                else:
                    self.enter(self.jump_location[pc] if is_jump else pc + 1)
        return Stepped(emitted, tags, resolver)
