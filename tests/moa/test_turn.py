"""The agent-turn program with the tiny model: structure forced, free parts bounded."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.moa import ByteTokenizer
from agent_ecology.moa.tiny import TinyDecoder
from agent_ecology.moa.turn import run_turns, turn_program

TOK = ByteTokenizer()
TURN = turn_program(TOK)


def contexts(n: int, start: int = 0) -> list[str]:
    return [
        f"Current time: 2026-11-23T10:00:{i % 60:02d}Z. You are agent{i:04d}; turn {i}."
        f" Your balances: scrip {17 * i % 500}, disk {i * 3}/1000 bytes."
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("batch", [1, 8, 64])
def test_at_least_95_percent_of_turns_parse_into_a_valid_action(batch: int) -> None:
    model = TinyDecoder(TOK.vocab_size, seed=batch)
    if batch == 1:  # one turn at a time, 20 of them
        results = [r for c in contexts(20) for r in run_turns(model, TURN, [c])]
    else:
        results = run_turns(model, TURN, contexts(batch))
    kinds: Counter[str] = Counter()
    parsed = 0
    for r in results:
        try:
            kinds[parse_action(r.reply).action] += 1
            parsed += 1
        except ActionError:
            pass
    assert parsed / len(results) >= 0.95, [r.reply for r in results]
    assert all(r.finished for r in results)
    if len(results) >= 20:
        assert len(kinds) >= 2, kinds  # the model's choices differ: nothing is scripted


def test_a_rows_turn_does_not_depend_on_its_batch() -> None:
    model = TinyDecoder(TOK.vocab_size, seed=9).double()  # float64: no near-tie flips
    mine = contexts(1, start=500)
    alone = run_turns(model, TURN, mine, seeds=[42])
    for companions in (contexts(7), contexts(3, start=100)):
        batch = run_turns(model, TURN, [*companions, *mine], seeds=[*range(len(companions)), 42])
        # the same turn, token for token (its share of the batch's time differs, of course)
        assert replace(batch[-1], seconds=0.0) == replace(alone[0], seconds=0.0)


def test_the_free_parts_never_break_the_json() -> None:
    model = TinyDecoder(TOK.vocab_size, seed=3)
    for r in run_turns(model, TURN, contexts(32), temperature=2.0):  # hotter: wilder bytes
        action = parse_action(r.reply)
        assert r.reply.startswith('{"action": "') and r.reply.endswith("}")
        assert action.action in {"noop", "note", "write_artifact", "query"}
