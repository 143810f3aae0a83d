"""A MOA program: a readable list of zones, and the tensors it compiles to (``MOA.md``).

::

    spec = ProgramSpec(zones=(
        Zone("ask", prompt="Question: 2+2? Answer: ", trigger="<end>", timeout=0),
        Zone("answer", trigger="<end>", timeout=8, captures="answer", tags=("free",)),
    ))
    program = compile_program(spec, ByteTokenizer())

Shape legend: L zones, N tags, T prompt tokens in all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from agent_ecology.moa.tokenizer import Tokenizer, UnknownToken

__all__ = [
    "JSON_STRING_UNSAFE",
    "Program",
    "ProgramError",
    "ProgramSpec",
    "Zone",
    "compile_program",
    "tokens_whose_text",
]


class ProgramError(ValueError):
    """A program that cannot run; the message names the zone (by name and index)."""


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone of a program.

    ``trigger`` is a special token name (``"<end>"``) or a text that is exactly one token.
    ``jump_to`` (a zone name or index) enables the jump token in this zone. ``timeout`` is how
    many model tokens the zone may hold (default: the program's ``max_genned_per_zone``).
    ``captures`` names the consumer the model's tokens in this zone are captured for.
    ``allow`` / ``deny`` restrict what the model may sample while it writes in this zone (the
    driver masks the other tokens out; ``docs/MOA.md``, "Per-zone token masks"): ``allow``
    lists the only tokens it may write, ``deny`` tokens it may not; each entry is a
    single-token text, a special token name, or a token id (see :func:`tokens_whose_text`).
    The zone's trigger (and the jump token where the zone jumps) stay allowed, so the model
    can always end the zone itself.
    """

    name: str
    prompt: str = ""
    trigger: str = "<end>"
    jump_to: str | int | None = None
    tags: tuple[str, ...] = ()
    timeout: int | None = None
    feeds_input: bool = False
    captures: str | None = None
    allow: tuple[str | int, ...] | None = None
    deny: tuple[str | int, ...] = ()


JSON_STRING_UNSAFE = ('"', "\\", *(chr(c) for c in range(32)))
"""What a model may not write inside a JSON string the program opened and will close."""


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program as people write it."""

    zones: tuple[Zone, ...]
    max_genned_per_zone: int = 64
    pad: str = "<pad>"
    escape: str = "<esc>"
    jump: str = "<jump>"
    tag_names: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled program: instruction tensors of length L (no batch dimension)."""

    step_trigger: torch.Tensor  # (L,) int64
    jump_enable: torch.Tensor  # (L,) bool
    jump_location: torch.Tensor  # (L,) int64
    tags: torch.Tensor  # (L, N) bool
    prompt_start: torch.Tensor  # (L,) int64, into token_data
    prompt_end: torch.Tensor  # (L,) int64
    timeout: torch.Tensor  # (L,) int64
    feeds_input: torch.Tensor  # (L,) bool
    captures_output: torch.Tensor  # (L,) int64, -1: none
    token_data: torch.Tensor  # (T,) int64, every prompt concatenated
    pad_token: int
    escape_token: int
    jump_token: int
    max_genned_per_zone: int
    zone_names: tuple[str, ...] = field(default=())
    tag_names: tuple[str, ...] = field(default=())
    consumers: tuple[str, ...] = field(default=())
    allowed: torch.Tensor | None = None  # (L, V) bool: what the model may sample per zone

    @property
    def length(self) -> int:
        return int(self.step_trigger.shape[0])


def tokens_whose_text(tokenizer: Tokenizer, test: Callable[[str], bool]) -> tuple[int, ...]:
    """The ids of every token whose text passes ``test`` (for zone masks).

    With a multi-character vocabulary (BPE, SentencePiece) forbidding the one-character
    token ``"`` is not enough: ``",`` and `` "`` are tokens too. This finds them all by
    decoding each id once (at compile time; a 150k vocabulary takes a few seconds). A token
    is judged by the text it adds after another token, as it appears in the middle of a
    text: SentencePiece drops a token's leading space (``▁abc``) when it is decoded alone.
    """
    anchor = tokenizer.encode("a")
    if len(anchor) != 1:
        return tuple(i for i in range(tokenizer.vocab_size) if test(tokenizer.decode([i])))
    prefix = tokenizer.decode(anchor)

    def text(i: int) -> str:
        both = tokenizer.decode([*anchor, i])
        return both[len(prefix) :] if both.startswith(prefix) else tokenizer.decode([i])

    return tuple(i for i in range(tokenizer.vocab_size) if test(text(i)))


def _token(tokenizer: Tokenizer, text: str | int, where: str, what: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        if not 0 <= text < tokenizer.vocab_size:
            raise ProgramError(
                f"{where}: {what} id {text} is outside the vocabulary"
                f" (0..{tokenizer.vocab_size - 1})"
            )
        return text
    if not isinstance(text, str):
        raise ProgramError(f"{where}: {what} {text!r} is neither a text nor a token id")
    if text.startswith("<") and text.endswith(">") and len(text) > 2:
        try:
            return tokenizer.special(text)
        except (UnknownToken, KeyError) as exc:
            raise ProgramError(f"{where}: {what} {text!r} is not a token: {exc}") from None
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        raise ProgramError(
            f"{where}: {what} {text!r} is {len(ids)} tokens, not one; use a special token"
            " such as '<end>' or a single-token text"
        )
    return ids[0]


def compile_program(spec: ProgramSpec, tokenizer: Tokenizer) -> Program:
    """Check ``spec`` and turn it into tensors; :class:`ProgramError` names the bad zone."""
    zones: Sequence[Zone] = spec.zones
    if not zones:
        raise ProgramError("the program has no zones; give at least one")
    if spec.max_genned_per_zone < 0:
        raise ProgramError(f"max_genned_per_zone must be >= 0, got {spec.max_genned_per_zone}")
    index: dict[str, int] = {}
    for i, zone in enumerate(zones):
        if zone.name in index:
            raise ProgramError(
                f"zone {i} ({zone.name!r}): the name is used by zone {index[zone.name]}"
            )
        index[zone.name] = i
    pad = _token(tokenizer, spec.pad, "program", "pad")
    escape = _token(tokenizer, spec.escape, "program", "escape")
    jump = _token(tokenizer, spec.jump, "program", "jump")
    if len({pad, escape, jump}) < 3:
        raise ProgramError(
            f"program: pad {spec.pad!r}, escape {spec.escape!r} and jump {spec.jump!r} must be"
            " three different tokens"
        )
    if isinstance(spec.tag_names, str) or len(set(spec.tag_names or ())) < len(
        spec.tag_names or ()
    ):
        raise ProgramError(
            f"program: tag_names must be a tuple of distinct names, got {spec.tag_names!r}"
        )
    tag_names = list(spec.tag_names or ())
    if spec.tag_names is None:
        for zone in zones:
            tag_names += [t for t in zone.tags if t not in tag_names]
    consumers: list[str] = []
    triggers: list[int] = []
    enables: list[bool] = []
    targets: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    timeouts: list[int] = []
    feeds: list[bool] = []
    captures: list[int] = []
    tag_rows: list[list[bool]] = []
    masks: list[torch.Tensor | None] = []
    data: list[int] = []
    for i, zone in enumerate(zones):
        where = f"zone {i} ({zone.name!r})"
        if isinstance(zone.tags, str):
            raise ProgramError(f"{where}: tags must be a tuple of names, e.g. ({zone.tags!r},)")
        if zone.timeout is not None and (
            not isinstance(zone.timeout, int) or isinstance(zone.timeout, bool)
        ):
            raise ProgramError(f"{where}: timeout must be a whole number, got {zone.timeout!r}")
        if zone.feeds_input and zone.captures is not None:
            raise ProgramError(
                f"{where}: a zone that feeds input never lets the model write, so it cannot"
                " capture; capture in the zone before it"
            )
        trigger = _token(tokenizer, zone.trigger, where, "trigger")
        if trigger in (escape, pad):
            raise ProgramError(f"{where}: the trigger cannot be the escape or the pad token")
        target = 0
        if zone.jump_to is not None:
            if isinstance(zone.jump_to, str):
                if zone.jump_to not in index:
                    raise ProgramError(f"{where}: jump target {zone.jump_to!r} is not a zone")
                target = index[zone.jump_to]
            elif isinstance(zone.jump_to, int) and not isinstance(zone.jump_to, bool):
                target = zone.jump_to
                if not 0 <= target <= len(zones):
                    raise ProgramError(
                        f"{where}: jump target {target} is out of range 0..{len(zones)}"
                        f" ({len(zones)} ends the program)"
                    )
            else:
                raise ProgramError(
                    f"{where}: jump_to must be a zone name or index, got {zone.jump_to!r}"
                )
        timeout = spec.max_genned_per_zone if zone.timeout is None else zone.timeout
        if timeout < 0:
            raise ProgramError(f"{where}: timeout must be >= 0, got {timeout}")
        unknown = [t for t in zone.tags if t not in tag_names]
        if unknown:
            raise ProgramError(f"{where}: tag {unknown[0]!r} is not among tag_names {tag_names}")
        prompt = tokenizer.encode(zone.prompt) if zone.prompt else []
        starts.append(len(data))
        data += prompt
        ends.append(len(data))
        triggers.append(trigger)
        enables.append(zone.jump_to is not None)
        targets.append(target)
        timeouts.append(timeout)
        feeds.append(zone.feeds_input)
        if zone.captures is not None and zone.captures not in consumers:
            consumers.append(zone.captures)
        captures.append(-1 if zone.captures is None else consumers.index(zone.captures))
        tag_rows.append([t in zone.tags for t in tag_names])
        masks.append(
            _mask(tokenizer, zone, where, trigger, jump if zone.jump_to is not None else None)
        )

    def ints(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.int64)

    allowed = None
    if any(m is not None for m in masks):
        everything = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
        allowed = torch.stack([everything if m is None else m for m in masks])
    return Program(
        step_trigger=ints(triggers),
        jump_enable=torch.tensor(enables, dtype=torch.bool),
        jump_location=ints(targets),
        tags=torch.tensor(tag_rows, dtype=torch.bool).reshape(len(zones), len(tag_names)),
        prompt_start=ints(starts),
        prompt_end=ints(ends),
        timeout=ints(timeouts),
        feeds_input=torch.tensor(feeds, dtype=torch.bool),
        captures_output=ints(captures),
        token_data=ints(data),
        pad_token=pad,
        escape_token=escape,
        jump_token=jump,
        max_genned_per_zone=spec.max_genned_per_zone,
        zone_names=tuple(z.name for z in zones),
        tag_names=tuple(tag_names),
        consumers=tuple(consumers),
        allowed=allowed,
    )


def _mask(
    tokenizer: Tokenizer, zone: Zone, where: str, trigger: int, jump: int | None
) -> torch.Tensor | None:
    """The tokens the model may sample in ``zone`` (``None``: all of them)."""
    if zone.allow is None and not zone.deny:
        return None
    for what, entries in (("allow", zone.allow or ()), ("deny", zone.deny)):
        if isinstance(entries, str):
            raise ProgramError(f"{where}: {what} must be a tuple of tokens, e.g. ({entries!r},)")
    size = tokenizer.vocab_size
    if zone.allow is not None:
        mask = torch.zeros(size, dtype=torch.bool)
        for text in zone.allow:
            mask[_token(tokenizer, text, where, "allowed token")] = True
    else:
        mask = torch.ones(size, dtype=torch.bool)
    for text in zone.deny:
        mask[_token(tokenizer, text, where, "denied token")] = False
    mask[trigger] = True  # the model can always end the zone itself
    if jump is not None:
        mask[jump] = True
    return mask
