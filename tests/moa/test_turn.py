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


def test_each_step_is_shared_by_the_rows_that_wrote_a_token_in_it() -> None:
    # A clock that advances one second per reading: every step then takes exactly 1 s.
    ticks = iter(range(10_000))
    model = TinyDecoder(TOK.vocab_size, seed=4)
    small = turn_program(TOK, think_tokens=3, free_tokens=6, context_tokens=40)
    texts = ["a", "b" * 10, "c" * 25, "d" * 40]  # rows of different lengths
    results = run_turns(model, small, texts, clock=lambda: float(next(ticks)))
    lengths = [r.tokens for r in results]
    assert len(set(lengths)) > 1
    for r in results:
        alive = [sum(1 for n in lengths if n > s) for s in range(r.tokens)]
        assert r.seconds == pytest.approx(sum(1 / a for a in alive))
    assert sum(r.seconds for r in results) == pytest.approx(max(lengths))  # one s a step


def test_rows_are_told_as_they_finish_and_a_stop_ends_the_batch() -> None:
    model = TinyDecoder(TOK.vocab_size, seed=4)
    small = turn_program(TOK, think_tokens=3, free_tokens=6, context_tokens=40)
    told: list[tuple[int, int]] = []  # (row, tokens), in the order they were told
    texts = ["d" * 40, "a", "c" * 25]
    results = run_turns(model, small, texts, on_result=lambda i, r: told.append((i, r.tokens)))
    assert sorted(told) == [(i, r.tokens) for i, r in enumerate(results)]  # each once
    assert [n for _, n in told] == sorted(n for _, n in told)  # shortest first
    steps = 0

    def stop_after_20() -> bool:
        nonlocal steps
        steps += 1
        return steps > 20

    told.clear()
    stopped = run_turns(
        model,
        small,
        texts,
        should_stop=stop_after_20,
        on_result=lambda i, r: told.append((i, r.tokens)),
    )
    assert not any(r.finished for r in stopped)
    assert len({r.tokens for r in stopped}) == 1 and stopped[0].tokens >= 20  # all cut together
    assert sorted(i for i, _ in told) == [0, 1, 2]  # the unfinished are told too, at the end
