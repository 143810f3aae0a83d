"""The agent-turn program: one MOA program that turns an agent's context into an action.

Each row of a batch is one agent's turn (one workflow, many streams). Zones, in order:

1. ``context``: feeds the row's input, the agent's context (its last ``context_tokens``);
2. ``think``: the model writes freely, bounded by a timeout (captured as ``thought``);
3. the action's type is chosen by jump: three one-token zones each allow only the jump
   token (take this branch: note, write_artifact, query) or the trigger (next); a row that
   takes none writes a noop;
4. the branch: the JSON structure is prompt text the MOA forces; the model writes only the
   free parts (a note's text, an artifact's name and content, a noop's reason), each in its
   own zone, bounded by a timeout and masked so that it cannot break the JSON (no token
   whose text holds a quote, backslash or control character, no special token; an artifact
   name only tokens of ``[a-z0-9_]``).

Every token of the action zones is tagged ``action``; the reply is those tokens decoded,
without the control tokens, and goes through the same parser as a remote model's reply.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from agent_ecology.moa.driver import Generated, Model, generate
from agent_ecology.moa.module import MOA
from agent_ecology.moa.program import (
    JSON_STRING_UNSAFE,
    Program,
    ProgramSpec,
    Zone,
    tokens_whose_text,
)
from agent_ecology.moa.program import compile_program as _compile
from agent_ecology.moa.tokenizer import Tokenizer, UnknownToken

__all__ = ["TurnProgram", "TurnResult", "encode_context", "run_turns", "turn_program"]

ACTION = "action"
_SPECIALS = ("<pad>", "<esc>", "<jump>", "<eos>")


@dataclass(frozen=True, slots=True)
class TurnProgram:
    program: Program
    tokenizer: Tokenizer
    context_tokens: int
    control: frozenset[int]  # token ids that are never part of the reply text
    max_tokens: int  # the most tokens a row can go through (its context included)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """One row's turn.

    ``seconds`` is the row's share of the batch's measured time: each step's time is shared
    equally by the rows that wrote a token in it, so a row pays for each of its tokens the
    time of the step that made it, over that step's tokens. The shares add up to the batch's
    time (from the start of :func:`run_turns` to the end of its last step).
    """

    reply: str  # the action JSON, for the parser
    thought: str
    tokens: int  # tokens the row went through (its context, forced and sampled)
    context_tokens: int  # of which its context fed as input
    finished: bool
    seconds: float = 0.0


def turn_program(
    tokenizer: Tokenizer,
    *,
    think_tokens: int = 24,
    free_tokens: int = 48,
    context_tokens: int = 192,
) -> TurnProgram:
    """The agent-turn program for ``tokenizer`` (compiled once per model)."""
    specials = []
    for name in _SPECIALS:
        try:
            tokenizer.special(name)
            specials.append(name)
        except (UnknownToken, KeyError):
            continue
    # Masks by each token's text, so that multi-character tokens (BPE: '",' or ' "') cannot
    # break the JSON either: a free string may hold no token with a quote, a backslash or a
    # control character; an artifact name only tokens made of [a-z0-9_].
    # The model's own special tokens (end of turn, chat markers) would leak into the text as
    # "<|im_end|>": they are refused in every free zone, the thought included.
    own = getattr(tokenizer, "model_specials", None)
    model_specials: tuple[str | int, ...] = tuple(own()) if callable(own) else ()
    unsafe = set(JSON_STRING_UNSAFE)
    name_set = set(string.ascii_lowercase + string.digits + "_")
    in_string: tuple[str | int, ...] = (
        *tokens_whose_text(tokenizer, lambda text: any(c in unsafe for c in text)),
        *specials,
        *model_specials,
    )
    name_chars = tokens_whose_text(tokenizer, lambda text: bool(text) and set(text) <= name_set)
    act = (ACTION,)
    end = "end"  # the last zone's name, for the branches' jumps

    def opener(name: str, text: str) -> Zone:
        return Zone(name, prompt=text, timeout=0, tags=act)

    def closer(name: str) -> Zone:  # close the JSON, then end the turn by the jump token
        return Zone(name, prompt='"}', timeout=0, tags=act, trigger="<jump>", jump_to=end)

    zones = (
        Zone("context", feeds_input=True, timeout=0),
        Zone(
            "think",
            prompt="\nThought: ",
            timeout=think_tokens,
            captures="thought",
            deny=model_specials,
        ),
        Zone("head", prompt="\nAction: ", timeout=0),
        Zone("pick_note", timeout=1, allow=(), jump_to="note_open"),
        Zone("pick_write", timeout=1, allow=(), jump_to="write_open"),
        Zone("pick_query", timeout=1, allow=(), jump_to="query"),
        opener("noop_open", '{"action": "noop", "reason": "'),
        Zone("noop_reason", timeout=free_tokens, tags=act, deny=in_string),
        closer("noop_close"),
        opener("note_open", '{"action": "note", "text": "Note: '),
        Zone("note_text", timeout=free_tokens, tags=act, deny=in_string),
        closer("note_close"),
        opener("write_open", '{"action": "write_artifact", "artifact_id": "notes_'),
        Zone("write_id", timeout=12, tags=act, allow=name_chars),
        opener("write_mid", '", "content": "'),
        Zone("write_content", timeout=free_tokens, tags=act, deny=in_string),
        closer("write_close"),
        Zone("query", prompt='{"action": "query", "what": "balances"}', timeout=0, tags=act),
        Zone(end, timeout=0),
    )
    program = _compile(ProgramSpec(zones=zones, tag_names=act), tokenizer)
    control = frozenset(
        {program.pad_token, program.escape_token, program.jump_token}
        | set(program.step_trigger.tolist())
    ) - set(_printable(tokenizer))
    # Every zone at most once: its prompt, its timeout, its trigger, and one more for a
    # transition an escape negated (an upper bound: the branches exclude each other).
    prompts = (program.prompt_end - program.prompt_start).sum()
    bound = context_tokens + int(prompts) + int(program.timeout.sum()) + 3 * program.length
    return TurnProgram(program, tokenizer, context_tokens, control, bound)


def _printable(tokenizer: Tokenizer) -> list[int]:
    """Ids of single printable characters (a trigger could be one; keep those in the text)."""
    out = []
    for ch in string.printable:
        ids = tokenizer.encode(ch)
        if len(ids) == 1:
            out.extend(ids)
    return out


def encode_context(turn: TurnProgram, context: str) -> list[int]:
    """The token ids a context is fed as: its last ``context_tokens`` tokens."""
    return turn.tokenizer.encode(context)[-turn.context_tokens :]


@torch.no_grad()
def run_turns(
    model: Model,
    turn: TurnProgram,
    contexts: Sequence[str | Sequence[int]],
    *,
    temperature: float = 1.0,
    seeds: Sequence[int] | None = None,
    max_steps: int | None = None,
    on_result: Callable[[int, TurnResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    device: str | torch.device = "cpu",
    prefill: bool = True,
) -> list[TurnResult]:
    """Every context (text, or ids from :func:`encode_context`) through the program as one
    batch; a result per context, in order.

    ``on_result`` is told of each row the step it finishes (before the slowest row is done);
    ``should_stop`` ends the batch early (unfinished rows come back with ``finished`` False).
    """
    start = clock()
    tok = turn.tokenizer
    fed = [encode_context(turn, c) if isinstance(c, str) else list(c) for c in contexts]
    moa = MOA(turn.program, len(fed), input_capacity=turn.context_tokens).to(device)
    for index, ids in enumerate(fed):
        moa.set_input(index, ids)
    steps = max_steps if max_steps is not None else turn.max_tokens
    action = turn.program.tag_names.index(ACTION)
    # paid[s]: what a row alive for steps 0..s has paid (each step shared by its alive rows)
    paid: list[float] = []
    last = start

    def step_done(alive: int) -> None:
        nonlocal last
        now = clock()
        paid.append((paid[-1] if paid else 0.0) + (now - last) / max(alive, 1))
        last = now

    def result(row: Generated, index: int) -> TurnResult:
        ids = [
            t
            for t, tags in zip(row.tokens, row.tags, strict=True)
            if tags[action] and t not in turn.control
        ]
        thought = row.captures.get("thought", [[]])[-1]
        return TurnResult(
            reply=tok.decode(ids),
            thought=tok.decode([t for t in thought if t not in turn.control]),
            tokens=len(row.tokens),
            context_tokens=len(fed[index]),
            finished=row.finished,
            seconds=paid[len(row.tokens) - 1] if row.tokens else 0.0,
        )

    told: dict[int, TurnResult] = {}  # rows already finished, built once

    def finished(index: int, row: Generated) -> None:
        told[index] = result(row, index)
        if on_result is not None:
            on_result(index, told[index])

    rows: list[Generated] = generate(
        model,
        moa,
        tok,
        max_steps=steps,
        temperature=temperature,
        row_seeds=list(seeds) if seeds is not None else list(range(len(fed))),
        on_finished=finished,
        on_step=step_done,
        should_stop=should_stop,
        prefill=prefill,
    )
    results = []
    for index, row in enumerate(rows):
        if index in told:
            results.append(told[index])
            continue
        results.append(result(row, index))  # cut short by max_steps or a stop
        if on_result is not None:
            on_result(index, results[-1])
    return results
