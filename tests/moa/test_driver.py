"""The generation driver with a real (tiny, random) model in the loop."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from agent_ecology.moa import ByteTokenizer, ProgramError, ProgramSpec, Zone, compile_program
from agent_ecology.moa.driver import generate
from agent_ecology.moa.module import MOA
from agent_ecology.moa.program import JSON_STRING_UNSAFE
from agent_ecology.moa.tiny import TinyDecoder

TOK = ByteTokenizer()
END = TOK.special("<end>")


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_forced_text_is_exact_and_captures_are_what_the_model_wrote(temperature: float) -> None:
    spec = ProgramSpec(
        zones=(
            Zone("ask", prompt="Question: what now?\nAnswer: ", timeout=0, tags=("forced",)),
            Zone("answer", timeout=12, captures="answer", tags=("free",)),
        )
    )
    program = compile_program(spec, TOK)
    model = TinyDecoder(TOK.vocab_size, seed=3)
    moa = MOA(program, 8)
    results = generate(model, moa, TOK, max_steps=200, temperature=temperature, seed=1)
    prompt = TOK.encode("Question: what now?\nAnswer: ")
    for row in results:
        assert row.tokens[: len(prompt)] == prompt
        assert row.tokens[len(prompt)] == END  # the prompt zone ends by its timeout of 0
        free = row.tokens[len(prompt) + 1 :]
        (captured,) = row.captures["answer"]
        if END in captured:  # the model ended the zone itself: all of it was its own
            assert free == captured and captured[-1] == END and len(captured) <= 12
        else:  # the timeout ended it at exactly 12 model tokens, with forced triggers (more
            # than one if the model wrote an escape, which negates the next transition)
            rest = free[len(captured) :]
            assert len(captured) == 12 and free[:12] == captured
            assert rest and set(rest) == {END}
        assert all(tags == [True, False] for tags in row.tags[: len(prompt) + 1])
        assert all(tags == [False, True] for tags in row.tags[len(prompt) + 1 :])
    assert moa.done()


def test_a_timeout_ends_the_free_zone_at_exactly_its_limit() -> None:
    # Rows where the model itself wrote the trigger are checked by the other test; here every
    # row that did not must end after exactly 5 model tokens and one forced trigger.
    spec = ProgramSpec(zones=(Zone("free", timeout=5, trigger="<eos>", captures="c"),))
    program = compile_program(spec, TOK)
    model = TinyDecoder(TOK.vocab_size, seed=0)
    results = generate(model, MOA(program, 4), TOK, max_steps=50)
    eos = TOK.special("<eos>")
    timed_out = [row for row in results if eos not in row.tokens[:-1]]
    assert timed_out, "no row reached the timeout: the check below would prove nothing"
    for row in timed_out:
        assert len(row.tokens) == 6 and row.tokens[-1] == eos


def test_the_tiny_decoder_with_its_cache_equals_the_whole_sequence_at_once() -> None:
    model = TinyDecoder(TOK.vocab_size, seed=5)
    ids = torch.randint(0, TOK.vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    whole, _ = model(ids, None)
    cache = None
    for t in range(12):
        logits, cache = model(ids[:, t : t + 1], cache)
        assert torch.allclose(logits[:, 0], whole[:, t], atol=1e-5), f"step {t}"


def test_a_tool_answers_each_capture_and_its_result_is_fed_back() -> None:
    spec = ProgramSpec(
        zones=(
            Zone("act", timeout=3, captures="action"),
            Zone("result", prompt=" -> ", feeds_input=True),
            Zone("again", timeout=2),
        )
    )
    seen: list[tuple[int, list[int]]] = []

    def tool(row: int, consumer: str, tokens: list[int]) -> list[int]:
        assert consumer == "action"
        seen.append((row, tokens))
        return TOK.encode(f"ok{row}")

    moa = MOA(compile_program(spec, TOK), 3)
    rows = generate(TinyDecoder(TOK.vocab_size, seed=2), moa, TOK, max_steps=60, on_capture=tool)
    assert sorted(r for r, _ in seen) == [0, 1, 2]
    for r, row in enumerate(rows):
        assert row.finished
        (action,) = row.captures["action"]
        assert row.tokens[: len(action)] == action
        fed = [*TOK.encode(f" -> ok{r}"), END]
        at = len(action) + (0 if action and action[-1] == END else 1)  # the trigger, if forced
        assert row.tokens[at : at + len(fed)] == fed


def test_a_row_cut_short_by_max_steps_is_not_finished() -> None:
    spec = ProgramSpec(zones=(Zone("free", timeout=50, trigger="<eos>"),))
    rows = generate(
        TinyDecoder(TOK.vocab_size, seed=0), MOA(compile_program(spec, TOK), 2), TOK, max_steps=5
    )
    assert all(len(r.tokens) == 5 and not r.finished for r in rows)


def test_a_zone_mask_keeps_denied_tokens_out_of_what_the_model_writes() -> None:
    # a JSON string the program opens and closes: the model's part may not break it
    spec = ProgramSpec(
        zones=(
            Zone("open", prompt='{"text": "', timeout=0),
            Zone("text", timeout=40, captures="text", deny=JSON_STRING_UNSAFE),
            Zone("close", prompt='"}', timeout=0),
        )
    )
    program = compile_program(spec, TOK)
    assert program.allowed is not None and not program.allowed[1, ord('"')]
    rows = generate(TinyDecoder(TOK.vocab_size, seed=4), MOA(program, 16), TOK, temperature=1.0)
    for row in rows:
        (text,) = row.captures["text"]
        model_bytes = [t for t in text if t != END]
        assert not {ord('"'), ord("\\"), *range(32)} & set(model_bytes)
        assert json.loads(TOK.decode([t for t in row.tokens if t != END]))  # valid JSON


def test_an_allow_list_makes_a_choice_by_jump() -> None:
    spec = ProgramSpec(
        zones=(
            Zone("pick_a", timeout=1, jump_to="a", allow=()),  # only <end> (step) or <jump>
            Zone("pick_b", timeout=1, jump_to="b", allow=()),
            # a branch ends the program: its forced trigger is the jump token, to the end (5)
            Zone("none", prompt="none", timeout=0, trigger="<jump>", jump_to=5),
            Zone("a", prompt="a", timeout=0, trigger="<jump>", jump_to=5),
            Zone("b", prompt="b", timeout=0),
        )
    )
    program = compile_program(spec, TOK)
    assert program.allowed is not None
    assert set(program.allowed[0].nonzero()[:, 0].tolist()) == {END, TOK.special("<jump>")}
    rows = generate(TinyDecoder(TOK.vocab_size, seed=1), MOA(program, 32), TOK, temperature=1.0)
    seen = set()
    for row in rows:
        text = TOK.decode(row.tokens)
        assert text in {"<end><end>none<jump>", "<jump>a<jump>", "<end><jump>b<end>"}, text
        seen.add(text)
    assert len(seen) >= 2  # the model's choices differ across rows: the mask is not a script


def test_a_mask_that_restricts_nothing_samples_exactly_as_no_mask() -> None:
    spec = ProgramSpec(zones=(Zone("free", timeout=8),))
    program = compile_program(spec, TOK)
    assert program.allowed is None  # no zone restricts: the driver skips masking
    everything = torch.ones(1, TOK.vocab_size, dtype=torch.bool)
    masked = dataclasses.replace(program, allowed=everything)  # the masking path, all allowed
    a = generate(TinyDecoder(TOK.vocab_size, seed=2), MOA(program, 4), TOK, temperature=1.0)
    b = generate(TinyDecoder(TOK.vocab_size, seed=2), MOA(masked, 4), TOK, temperature=1.0)
    assert [r.tokens for r in a] == [r.tokens for r in b]
    assert len({tuple(r.tokens) for r in a}) > 1  # sampled, not a constant


def test_bad_token_rules_name_the_zone() -> None:
    with pytest.raises(ProgramError, match=r"zone 0 \('z'\): denied token 'ab' is 2 tokens"):
        compile_program(ProgramSpec(zones=(Zone("z", deny=("ab",)),)), TOK)
    with pytest.raises(ProgramError, match="allow must be a tuple"):
        compile_program(ProgramSpec(zones=(Zone("z", allow="ab"),)), TOK)  # type: ignore[arg-type]


def test_each_rows_random_stream_is_uniform_and_its_own() -> None:
    from agent_ecology.moa.driver import row_uniform

    seeds = torch.arange(20_000, dtype=torch.int64) * 7919 - 10_000  # negatives too
    u = row_uniform(seeds, step=0)
    assert bool(((u > 0) & (u < 1)).all())
    counts = torch.histc(u, bins=10, min=0.0, max=1.0)
    assert bool(((counts - 2000).abs() < 200).all()), counts  # ~4.5 sigma
    assert not torch.equal(u, row_uniform(seeds, step=1))  # a new number each step
    # A row's number depends on its seed and the step only, not on the other rows.
    assert torch.equal(row_uniform(seeds[5:6], step=3), row_uniform(seeds, step=3)[5:6])


def test_rows_sample_tokens_with_their_probabilities_and_never_a_masked_one() -> None:
    from agent_ecology.moa.driver import _sample_rows, row_uniform

    probs = torch.tensor([0.1, 0.0, 0.6, 0.3]).expand(20_000, 4)
    tokens = _sample_rows(probs, row_uniform(torch.arange(20_000, dtype=torch.int64), step=0))
    freq = torch.bincount(tokens, minlength=4).double() / 20_000
    assert freq[1] == 0
    assert torch.allclose(freq, torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=torch.float64), atol=0.015)


@pytest.mark.parametrize(
    ("temperature", "row_seeds"), [(0.0, None), (1.0, None), (1.0, [7, 8, 9, 10])]
)
def test_prefilling_forced_runs_writes_exactly_what_one_token_a_step_writes(
    temperature: float, row_seeds: list[int] | None
) -> None:
    spec = ProgramSpec(
        zones=(
            Zone("context", feeds_input=True, timeout=0),
            Zone("ask", prompt="\nQuestion: what now?\nAnswer: ", timeout=0),
            Zone("answer", timeout=6, captures="answer", jump_to="ask"),
            Zone("tool", feeds_input=True, timeout=0),
            Zone("after", prompt="\nok", timeout=2),
        )
    )
    program = compile_program(spec, TOK)
    model = TinyDecoder(TOK.vocab_size, seed=2).double()  # float64: no near-tie flips
    calls: dict[bool, int] = {}
    results = {}
    for prefill in (False, True):
        moa = MOA(program, 4, input_capacity=64)
        for r in range(4):
            moa.set_input(r, TOK.encode(f"context of row {r}: " + "x" * (10 * r)))
        counting = CountingCalls(model)
        results[prefill] = generate(
            counting,
            moa,
            TOK,
            max_steps=300,
            temperature=temperature,
            row_seeds=row_seeds,
            seed=3,
            on_capture=lambda row, _c, toks: TOK.encode(f"[tool saw {len(toks)}]"),
            prefill=prefill,
        )
        calls[prefill] = counting.calls
    for slow, fast in zip(results[False], results[True], strict=True):
        assert fast.tokens == slow.tokens and fast.tags == slow.tags
        assert fast.captures == slow.captures and fast.finished == slow.finished
    assert calls[True] < calls[False] / 2, calls  # the context and prompts in few forwards


class CountingCalls:
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, ids: torch.Tensor, cache: object) -> tuple[torch.Tensor, object]:
        self.calls += 1
        return self.model(ids, cache)  # type: ignore[no-any-return]
