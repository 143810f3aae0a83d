"""The MOA's program compiler, and each rule of ``MOA.md`` on both the scalar reference and
the batched module (one row)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

import pytest
import torch

from agent_ecology.moa import (
    ByteTokenizer,
    ProgramError,
    ProgramSpec,
    ScalarMOA,
    Stepped,
    Zone,
    compile_program,
)
from agent_ecology.moa.module import MOA

TOK = ByteTokenizer()
END, PAD, ESC, JUMP = (TOK.special(n) for n in ("<end>", "<pad>", "<esc>", "<jump>"))
X = ord("x")


class Row(Protocol):
    """One row of an MOA, as the rule tests drive it."""

    @property
    def pc(self) -> int: ...
    @property
    def escape(self) -> bool: ...
    @property
    def done(self) -> bool: ...
    def step(self, token: int) -> Stepped: ...
    def set_input(self, tokens: Sequence[int]) -> None: ...
    def captures(self) -> list[tuple[int, list[int]]]: ...


class OneRow:
    """The batched module with one row, seen as a :class:`Row`."""

    def __init__(self, program: object) -> None:
        self.moa = MOA(program, 1)  # type: ignore[arg-type]
        self.consumers = self.moa.program.consumers

    @property
    def pc(self) -> int:
        return int(self.moa.pc[0])

    @property
    def escape(self) -> bool:
        return bool(self.moa.escape[0])

    @property
    def done(self) -> bool:
        return self.moa.done()

    def step(self, token: int) -> Stepped:
        emitted, tags, resolver = self.moa.step(torch.tensor([token]))
        return Stepped(int(emitted[0]), tags[0].tolist(), int(resolver[0]))

    def set_input(self, tokens: Sequence[int]) -> None:
        self.moa.set_input(0, tokens)

    def captures(self) -> list[tuple[int, list[int]]]:
        return sorted((self.consumers.index(k), t) for _, k, t in self.moa.captures())


Make = Callable[..., Row]


@pytest.fixture(params=["reference", "module"])
def make(request: pytest.FixtureRequest) -> Make:
    kind = ScalarMOA if request.param == "reference" else OneRow

    def build(*zones: Zone, **kw: object) -> Row:
        return kind(compile_program(ProgramSpec(zones=tuple(zones), **kw), TOK))  # type: ignore[arg-type]

    return build


def run(moa: Row, tokens: list[int]) -> list[tuple[int, int]]:
    out = []
    for t in tokens:
        s = moa.step(t)
        out.append((s.token, s.resolver))
    return out


def test_the_compiler_lays_out_ragged_prompts_and_instructions() -> None:
    p = compile_program(
        ProgramSpec(
            zones=(
                Zone("a", prompt="hi", tags=("forced",)),
                Zone("b", jump_to="a", captures="act", timeout=3, tags=("free",)),
                Zone("c", feeds_input=True, trigger="!"),
            )
        ),
        TOK,
    )
    assert p.token_data.tolist() == [ord("h"), ord("i")]
    assert (p.prompt_start.tolist(), p.prompt_end.tolist()) == ([0, 2, 2], [2, 2, 2])
    assert p.step_trigger.tolist() == [END, END, ord("!")]
    assert p.jump_enable.tolist() == [False, True, False] and p.jump_location.tolist()[1] == 0
    assert p.tags.tolist() == [[True, False], [False, True], [False, False]]
    assert p.timeout.tolist() == [64, 3, 64] and p.captures_output.tolist() == [-1, 0, -1]
    assert p.consumers == ("act",) and p.tag_names == ("forced", "free")


@pytest.mark.parametrize(
    ("zones", "words"),
    [
        ((), "no zones"),
        ((Zone("a", trigger="ab"),), "zone 0 ('a'): trigger 'ab' is 2 tokens"),
        ((Zone("a", trigger="<nope>"),), "zone 0 ('a'): trigger '<nope>' is not a token"),
        ((Zone("a", jump_to=5),), "zone 0 ('a'): jump target 5 is out of range"),
        ((Zone("a", jump_to="zz"),), "zone 0 ('a'): jump target 'zz' is not a zone"),
        ((Zone("a"), Zone("a")), "zone 1 ('a'): the name is used by zone 0"),
        ((Zone("a", trigger="<esc>"),), "cannot be the escape"),
        ((Zone("a", timeout=-1),), "timeout must be >= 0"),
        ((Zone("a", timeout=1.5),), "timeout must be a whole number"),  # type: ignore[arg-type]
        ((Zone("a", jump_to=True),), "jump_to must be a zone name or index"),
        ((Zone("a", tags="free"),), "tags must be a tuple"),  # type: ignore[arg-type]
        ((Zone("a", feeds_input=True, captures="c"),), "cannot capture"),
    ],
)
def test_bad_programs_are_refused_naming_the_zone(zones: tuple[Zone, ...], words: str) -> None:
    with pytest.raises(ProgramError, match=words.replace("(", r"\(").replace(")", r"\)")):
        compile_program(ProgramSpec(zones=zones), TOK)


def test_prompts_are_forced_then_the_model_writes_until_the_trigger(make: Make) -> None:
    moa = make(Zone("ask", prompt="ab", timeout=0), Zone("free", timeout=5))
    out = run(moa, [X, X, X, X, END])
    assert out == [(ord("a"), 1), (ord("b"), 1), (END, 0), (X, -1), (END, -1)]
    assert moa.done


def test_a_prompt_that_ends_with_the_trigger_moves_the_program(make: Make) -> None:
    moa = make(Zone("ask", prompt="a", trigger="a"), Zone("b"))
    assert run(moa, [X]) == [(ord("a"), 1)] and moa.pc == 1


def test_a_timeout_ends_the_zone_at_exactly_its_limit(make: Make) -> None:
    moa = make(Zone("free", timeout=3), Zone("after", timeout=0))
    out = run(moa, [X, X, X, X, X])
    assert out[:4] == [(X, -1), (X, -1), (X, -1), (END, 0)]
    assert out[4] == (END, 0) and moa.done  # the second zone times out at once


def test_escape_negates_exactly_one_transition(make: Make) -> None:
    moa = make(Zone("free", timeout=10), Zone("next", timeout=10))
    run(moa, [ESC, END])
    assert moa.pc == 0 and not moa.escape
    run(moa, [END])
    assert moa.pc == 1


def test_jump_only_where_enabled_and_jump_wins(make: Make) -> None:
    moa = make(Zone("a", timeout=10), Zone("b", timeout=10, jump_to="a"))
    run(moa, [JUMP])  # not enabled in 'a': passes through, no transition
    assert moa.pc == 0
    run(moa, [END, JUMP])
    assert moa.pc == 0  # from 'b' back to 'a'


def test_finished_rows_pad_forever(make: Make) -> None:
    moa = make(Zone("only", timeout=0))
    run(moa, [X])
    assert moa.done
    assert [moa.step(t).token for t in (X, END, ESC)] == [PAD, PAD, PAD]
    assert moa.step(X).resolver == -1 and moa.step(X).tags == []


def test_inputs_are_fed_then_the_trigger_and_captures_keep_per_consumer(make: Make) -> None:
    moa = make(
        Zone("think", captures="thought", timeout=2),
        Zone("act", captures="action", timeout=2),
        Zone("result", feeds_input=True),
    )
    moa.set_input([ord("o"), ord("k")])
    out = run(moa, [ord("1"), ord("2"), X, ord("3"), ord("4"), X, X, X, X])
    assert moa.captures() == [(0, [ord("1"), ord("2")]), (1, [ord("3"), ord("4")])]
    assert moa.captures() == []  # each capture is returned once
    assert out[6:9] == [(ord("o"), 2), (ord("k"), 2), (END, 2)] and moa.done


def test_the_models_own_trigger_is_captured(make: Make) -> None:
    moa = make(Zone("say", captures="c", timeout=5, jump_to="say"))
    run(moa, [ord("1"), JUMP])  # the model ends the zone itself, with the jump token
    assert moa.pc == 0 and moa.captures() == [(0, [ord("1"), JUMP])]


def test_an_unread_capture_goes_stale_when_its_consumer_captures_again(make: Make) -> None:
    moa = make(Zone("say", captures="c", timeout=5, jump_to="say"))
    run(moa, [ord("1"), JUMP, ord("2")])  # the third step reuses the consumer's buffer
    assert moa.captures() == []
    run(moa, [END])
    assert moa.captures() == [(0, [ord("2"), END])] and moa.done


def test_program_tokens_must_differ() -> None:
    with pytest.raises(ProgramError, match="three different tokens"):
        compile_program(ProgramSpec(zones=(Zone("a"),), jump="<esc>"), TOK)


def test_an_empty_prompt_lets_the_model_write_at_once(make: Make) -> None:
    moa = make(Zone("free", timeout=2), Zone("next", prompt="a", timeout=0))
    assert run(moa, [X]) == [(X, -1)]  # no prompt: the model's token passes at the first step
    assert run(moa, [END, X, X]) == [(END, -1), (ord("a"), 1), (END, 0)] and moa.done


def test_tags_are_those_of_the_zone_the_token_was_emitted_in(make: Make) -> None:
    moa = make(
        Zone("a", prompt="q", timeout=0, tags=("forced",)),
        Zone("b", timeout=3, tags=("free",)),
        tag_names=("forced", "free"),
    )
    tags = [moa.step(t).tags for t in (X, X, X, END, X)]
    # the forced trigger that leaves 'a' is tagged 'a'; the model's <end> leaving 'b' is 'b'
    assert tags == [[True, False], [True, False], [False, True], [False, True], [False, False]]


def test_done_is_monotone_and_needs_every_row() -> None:
    program = compile_program(
        ProgramSpec(zones=(Zone("a", timeout=2), Zone("b", timeout=1, jump_to="a"))), TOK
    )
    moa = MOA(program, 3)
    # row 0 ends at step 2; row 2 jumps back once and ends at step 6; row 1 times out at 5
    streams = torch.tensor([[END, END] + [X] * 6, [X] * 8, [X, X, X, JUMP, END, END, X, X]]).T
    seen = []
    for tokens in streams:
        moa.step(tokens)
        seen.append(moa.done())
        assert moa.done() == bool((moa.pc == program.length).all())
    assert seen == [False] * 5 + [True] * 3  # True only once every row is, then for ever


def test_zone_masks_compile_from_texts_names_and_ids_and_bad_entries_are_named() -> None:
    from agent_ecology.moa.program import tokens_whose_text

    quote, end = TOK.encode('"')[0], TOK.special("<end>")
    program = compile_program(
        ProgramSpec(
            zones=(
                Zone("free", timeout=4),
                Zone("no_quotes", timeout=4, deny=('"', "<pad>", 0x5C)),
                Zone("digits", timeout=4, allow=tokens_whose_text(TOK, str.isdigit)),
            )
        ),
        TOK,
    )
    allowed = program.allowed
    assert allowed is not None and allowed.shape == (3, TOK.vocab_size)
    assert bool(allowed[0].all())  # a zone without a mask restricts nothing
    assert not allowed[1, quote] and not allowed[1, 0x5C] and not allowed[1, TOK.special("<pad>")]
    assert allowed[1, TOK.encode("a")[0]]
    digits = {TOK.encode(str(d))[0] for d in range(10)}
    assert {i for i in range(TOK.vocab_size) if allowed[2, i]} == digits | {end}  # + trigger
    for bad, message in (
        (Zone("z", deny=('"',), allow="ab"), "allow must be a tuple of tokens"),  # type: ignore[arg-type]
        (Zone("z", deny=("ab",)), "denied token 'ab' is 2 tokens, not one"),
        (Zone("z", allow=(10_000,)), "allowed token id 10000 is outside the vocabulary"),
        (Zone("z", deny=(1.5,)), "denied token 1.5 is neither a text nor a token id"),  # type: ignore[arg-type]
        (Zone("z", allow=("<nope>",)), "allowed token '<nope>' is not a token"),
    ):
        with pytest.raises(ProgramError, match=re.escape(message)) as info:
            compile_program(ProgramSpec(zones=(bad,)), TOK)
        assert str(info.value).startswith("zone 0 ('z'): ")  # the zone is named
