"""The agent-turn program: one MOA program that turns an agent's context into an action.

Each row of a batch is one agent's turn (one workflow, many streams). Zones, in order:

1. ``context``: feeds the row's input, the agent's context (its last ``context_tokens``);
2. ``think``: the model writes freely, bounded by a timeout (captured as ``thought``);
3. the action's type is chosen by jump: three one-token zones each allow only the jump
   token (take this branch: note, write_artifact, query) or the trigger (next); a row that
   takes none writes a noop;
4. the branch: the JSON structure is prompt text the MOA forces; the model writes only the
   free parts (a note's text, an artifact's name and content, a noop's reason), each in its
   own zone, bounded by a timeout and masked so that it cannot break the JSON (no quote,
   backslash, control character or special token; an artifact name only ``[a-z0-9_]``).

Every token of the action zones is tagged ``action``; the reply is those tokens decoded,
without the control tokens, and goes through the same parser as a remote model's reply.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agent_ecology.moa.driver import Generated, Model, generate
from agent_ecology.moa.module import MOA
from agent_ecology.moa.program import JSON_STRING_UNSAFE, Program, ProgramSpec, Zone
from agent_ecology.moa.program import compile_program as _compile
from agent_ecology.moa.tokenizer import Tokenizer, UnknownToken

__all__ = ["TurnProgram", "TurnResult", "run_turns", "turn_program"]

ACTION = "action"
_SPECIALS = ("<pad>", "<esc>", "<jump>", "<eos>")


@dataclass(frozen=True, slots=True)
class TurnProgram:
    program: Program
    tokenizer: Tokenizer
    context_tokens: int
    control: frozenset[int]  # token ids that are never part of the reply text


@dataclass(frozen=True, slots=True)
class TurnResult:
    reply: str  # the action JSON, for the parser
    thought: str
    tokens: int  # tokens the row went through (forced and sampled)
    finished: bool


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
    in_string = (*JSON_STRING_UNSAFE, *specials)
    name_chars = tuple(string.ascii_lowercase + string.digits + "_")
    act = (ACTION,)
    end = "end"  # the last zone's name, for the branches' jumps

    def opener(name: str, text: str) -> Zone:
        return Zone(name, prompt=text, timeout=0, tags=act)

    def closer(name: str) -> Zone:  # close the JSON, then end the turn by the jump token
        return Zone(name, prompt='"}', timeout=0, tags=act, trigger="<jump>", jump_to=end)

    zones = (
        Zone("context", feeds_input=True, timeout=0),
        Zone("think", prompt="\nThought: ", timeout=think_tokens, captures="thought"),
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
    return TurnProgram(program, tokenizer, context_tokens, control)


def _printable(tokenizer: Tokenizer) -> list[int]:
    """Ids of single printable characters (a trigger could be one; keep those in the text)."""
    out = []
    for ch in string.printable:
        ids = tokenizer.encode(ch)
        if len(ids) == 1:
            out.extend(ids)
    return out


@torch.no_grad()
def run_turns(
    model: Model,
    turn: TurnProgram,
    contexts: Sequence[str],
    *,
    temperature: float = 1.0,
    seeds: Sequence[int] | None = None,
    max_steps: int | None = None,
) -> list[TurnResult]:
    """Every context through the program as one batch; a result per context, in order."""
    tok = turn.tokenizer
    moa = MOA(turn.program, len(contexts), input_capacity=turn.context_tokens)
    for index, context in enumerate(contexts):
        moa.set_input(index, tok.encode(context)[-turn.context_tokens :])
    steps = max_steps if max_steps is not None else turn.context_tokens + 512
    rows: list[Generated] = generate(
        model,
        moa,
        tok,
        max_steps=steps,
        temperature=temperature,
        row_seeds=list(seeds) if seeds is not None else list(range(len(contexts))),
    )
    action = turn.program.tag_names.index(ACTION)
    results = []
    for row in rows:
        ids = [
            t
            for t, tags in zip(row.tokens, row.tags, strict=True)
            if tags[action] and t not in turn.control
        ]
        thought = row.captures.get("thought", [[]])[-1]
        results.append(
            TurnResult(
                reply=tok.decode(ids),
                thought=tok.decode([t for t in thought if t not in turn.control]),
                tokens=len(row.tokens),
                finished=row.finished,
            )
        )
    return results
