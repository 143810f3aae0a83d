"""The local provider: turns batched on a real (tiny, random) model, each agent answered once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import torch

from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.config import ConfigError, LocalModelSettings, load_settings
from agent_ecology.llm import CompletionRequest, Message
from agent_ecology.llm.local import (
    LocalModelFailed,
    LocalProvider,
    TurnBatcher,
    context_text,
    load_local_model,
)
from agent_ecology.moa import ByteTokenizer
from agent_ecology.moa.tiny import TinyDecoder
from agent_ecology.moa.turn import TurnResult, run_turns, turn_program

pytestmark = pytest.mark.anyio
T = TypeVar("T")
TOK = ByteTokenizer()
SMALL = turn_program(TOK, think_tokens=4, free_tokens=8, context_tokens=24)


def context(i: int) -> str:
    return f"agent{i:03d} at turn {i}: scrip {17 * i % 500}"


def model64() -> TinyDecoder:
    return TinyDecoder(TOK.vocab_size, seed=5).double()  # float64: no near-tie flips


def same_turn(a: TurnResult, b: TurnResult) -> bool:
    """The same turn token for token (each batch shares its time differently)."""
    return replace(a, seconds=0.0) == replace(b, seconds=0.0)


async def outcome(batcher: TurnBatcher, i: int, text: str | None = None) -> object:
    """Agent ``a{i}``'s turn through ``batcher``: its result, or the error it was told."""
    try:
        return await batcher.run(f"a{i}", context(i) if text is None else text, seed=i)
    except LocalModelFailed as exc:
        return exc


async def at_once(submit: Callable[[T], Coroutine[Any, Any, None]], args: Iterable[T]) -> None:
    """Calls ``submit`` with each of ``args`` concurrently; returns once every call is done."""
    async with anyio.create_task_group() as tg:
        for arg in args:
            tg.start_soon(submit, arg)


class CountingModel:
    """The tiny model, counting its steps (and able to wait or fail on a given step).

    ``started`` is set when the first step begins, ``reached`` when step ``mark`` does.
    """

    def __init__(
        self, model: Any, *, delay: float = 0.0, fail_on: int | None = None, mark: int = 1
    ) -> None:
        self.model = model
        self.delay = delay
        self.fail_on = fail_on
        self.mark = mark
        self.calls = 0
        self.started = threading.Event()
        self.reached = threading.Event()

    def __call__(self, ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        self.calls += 1
        self.started.set()
        if self.calls >= self.mark:
            self.reached.set()
        if self.fail_on is not None and self.calls == self.fail_on:
            raise RuntimeError("CUDA out of memory (simulated)")
        if self.delay:
            time.sleep(self.delay)
        return self.model(ids, cache)  # type: ignore[no-any-return]


async def wait_in_thread(event: threading.Event, what: str, limit: float = 10.0) -> None:
    """Wait for a worker thread to set ``event``; fail after ``limit`` seconds naming ``what``.

    (Cancelling the waiting task cannot interrupt a thread's wait, so the limit is the wait's.)
    """
    if not await anyio.to_thread.run_sync(event.wait, limit):
        pytest.fail(f"{what}: not so after {limit:g} s")


class PickyTokenizer(ByteTokenizer):
    """A tokenizer that cannot encode one agent's text (say, a character it does not know)."""

    def encode(self, text: str) -> list[int]:
        if "POISON" in text:
            raise ValueError("no token for this character")
        return super().encode(text)


async def test_concurrent_submitters_are_each_answered_once_with_their_own_turn() -> None:
    model = model64()
    batcher = TurnBatcher(model, SMALL, max_batch=8, window=0.01)
    answers: dict[int, list[TurnResult]] = {i: [] for i in range(40)}

    async def submit(i: int) -> None:
        await anyio.sleep((i % 7) * 0.003)  # arriving at different moments
        answers[i].append(await batcher.run(f"a{i}", context(i), seed=1000 + i))

    async with aclosing(batcher):
        await at_once(submit, range(40))
    assert all(len(a) == 1 for a in answers.values())
    sizes = [len(b.rows) for b in batcher.batches]
    assert sum(sizes) == 40 and max(sizes) <= 8 and len(sizes) >= 5
    assert any(size > 1 for size in sizes), sizes  # they were batched, not run one by one
    assert Counter(r.agent_id for b in batcher.batches for r in b.rows) == {
        f"a{i}": 1 for i in range(40)
    }
    # Each got its own turn: the one its context and seed give when run alone.
    for i in (0, 13, 39):
        (alone,) = run_turns(model, SMALL, [context(i)], seeds=[1000 + i])
        assert same_turn(answers[i][0], alone)
    assert batcher.turns == 40


async def test_one_agents_bad_context_fails_its_own_turn_only() -> None:
    picky = turn_program(PickyTokenizer(), think_tokens=4, free_tokens=8, context_tokens=24)
    batcher = TurnBatcher(model64(), picky, max_batch=8, window=0.2)
    outcomes: dict[int, object] = {}

    async def submit(i: int) -> None:
        outcomes[i] = await outcome(batcher, i, "POISON" if i == 3 else None)

    async with aclosing(batcher):
        await at_once(submit, range(6))
    error = outcomes.pop(3)
    assert isinstance(error, LocalModelFailed) and not error.retryable
    assert "could not be encoded" in str(error)
    assert all(isinstance(o, TurnResult) and o.finished for o in outcomes.values())
    (batch,) = batcher.batches  # the same batch: the others ran, the bad one did not
    assert batch.failed == 1 and sorted(r.agent_id for r in batch.rows) == [
        f"a{i}" for i in (0, 1, 2, 4, 5)
    ]


async def test_a_model_that_fails_fails_its_batch_retryably_and_the_next_batch_runs() -> None:
    model = CountingModel(model64(), fail_on=5)
    batcher = TurnBatcher(model, SMALL, max_batch=4, window=0.1)
    errors: list[object] = []

    async def submit(i: int) -> None:
        errors.append(await outcome(batcher, i))

    async with aclosing(batcher):
        await at_once(submit, range(4))
        assert len(errors) == 4
        assert all(isinstance(e, LocalModelFailed) and e.retryable for e in errors)
        assert "CUDA out of memory" in str(errors[0])
        result = await batcher.run("a0", context(0), seed=0)  # the service carries on
        assert result.finished


async def test_a_row_that_is_done_is_answered_before_the_slowest_row() -> None:
    roomy = turn_program(TOK, think_tokens=4, free_tokens=8, context_tokens=300)
    texts = {"short": "x", "long": "y" * 300}  # the long row has 299 more tokens to feed
    # A dry run finds the model call after which the short row is done (float64 and fixed
    # seeds: the service's batch will make exactly the same calls).
    dry = CountingModel(model64())
    told: dict[int, int] = {}

    def tell(i: int, _result: TurnResult) -> None:
        told.setdefault(i, dry.calls)

    run_turns(dry, roomy, list(texts.values()), seeds=[7, 8], on_result=tell)
    assert told[0] < dry.calls  # the model has work left after the short row is done

    class Gated(CountingModel):
        """Stops before the first call after the short row is done, until it is answered."""

        gate = threading.Event()

        def __call__(self, ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
            if self.calls == told[0] and not self.gate.wait(timeout=10):
                raise RuntimeError("the short row was not answered while the batch ran")
            return super().__call__(ids, cache)

    model = Gated(model64())
    batcher = TurnBatcher(model, roomy, max_batch=2, window=0.5)

    async def submit(name: str, seed: int) -> None:
        await batcher.run(name, texts[name], seed=seed)
        if name == "short":
            model.gate.set()  # only now may the batch go on

    async with aclosing(batcher):
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(submit, "short", 7)
                tg.start_soon(submit, "long", 8)
    (batch,) = batcher.batches
    assert [r.agent_id for r in batch.rows] == ["short", "long"] and model.calls == dry.calls


async def test_a_cancelled_submitter_does_not_disturb_the_others() -> None:
    model = CountingModel(model64(), delay=0.002)
    batcher = TurnBatcher(model, SMALL, max_batch=4, window=0.05)
    results: dict[int, TurnResult] = {}

    async def submit(i: int) -> None:
        results[i] = await batcher.run(f"a{i}", context(i), seed=i)

    async with aclosing(batcher), anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(submit, i)
        await wait_in_thread(model.started, "the first batch runs")
        with anyio.CancelScope() as scope:  # a fifth one gives up waiting at once
            scope.cancel()
            await batcher.run("quitter", context(9), seed=9)
    assert sorted(results) == [0, 1, 2, 3] and all(r.finished for r in results.values())


async def test_closing_mid_batch_answers_every_waiting_agent() -> None:
    # A slow model: a batch takes seconds. Closed once its third step has begun.
    model = CountingModel(model64(), delay=0.01, mark=3)
    batcher = TurnBatcher(model, SMALL, max_batch=4, window=0.01)
    outcomes: list[object] = []

    async def submit(i: int) -> None:
        outcomes.append(await outcome(batcher, i))

    started = time.monotonic()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(10):  # up to 4 in the first batch, the rest waiting for the next
                tg.start_soon(submit, i)
            await anyio.wait_all_tasks_blocked()  # all ten submitted (no row ends so soon)
            await wait_in_thread(model.reached, "the first batch is three steps in")
            assert batcher.pending >= 6 and not outcomes
            await batcher.aclose()
    assert time.monotonic() - started < 5  # far less than the batches would have taken
    assert len(outcomes) == 10
    errors = [o for o in outcomes if isinstance(o, LocalModelFailed)]
    assert len(errors) == 10 and all("shut down" in str(e) for e in errors)
    assert model.calls < 30  # the batch stopped at its next step
    with pytest.raises(LocalModelFailed, match="shut down"):
        await batcher.run("late", "x", seed=0)


def request(agent: str, text: str) -> CompletionRequest:
    messages = (Message("system", "You are an agent."), Message("user", text))
    return CompletionRequest(agent_id=agent, model="ignored", messages=messages)


@pytest.mark.parametrize("agents", [1, 8, 64])
async def test_at_least_95_percent_of_provider_turns_parse(agents: int) -> None:
    settings = LocalModelSettings(max_batch=64, batch_window=0.05, seed=agents)
    provider = LocalProvider.from_settings(settings)
    replies: list[str] = []

    async def think(i: int) -> None:
        completion = await provider.complete(request(f"agent{i}", context(i)))
        assert completion.usage.total_tokens > completion.usage.prompt_tokens > 0
        assert completion.compute_seconds > 0 and completion.finish_reason == "stop"
        replies.append(completion.text)

    async with aclosing(provider):
        rounds = 20 if agents == 1 else 1
        for _ in range(rounds):
            await at_once(think, range(agents))
    parsed = 0
    for reply in replies:
        try:
            parse_action(reply)
            parsed += 1
        except ActionError:
            pass
    assert len(replies) == (20 if agents == 1 else agents)
    assert parsed / len(replies) >= 0.95, replies
    if agents == 64:
        assert [len(b.rows) for b in provider.batcher.batches] == [64]


async def test_a_completion_carries_the_rows_tokens_and_its_share_of_the_batch() -> None:
    provider = LocalProvider(model64(), SMALL, name="tiny", max_batch=3, window=0.2)
    completions = {}

    async def think(agent: str) -> None:
        completions[agent] = await provider.complete(request(agent, f"I am {agent}"))

    async with aclosing(provider):
        await at_once(think, ("alice", "bob", "carol"))
    (batch,) = provider.batcher.batches
    for row in batch.rows:
        completion = completions[row.agent_id]
        assert completion.usage.prompt_tokens == row.context_tokens
        assert completion.usage.total_tokens == row.tokens
        assert completion.compute_seconds == row.seconds
        assert completion.model == "tiny"
    assert sum(c.compute_seconds for c in completions.values()) == pytest.approx(batch.seconds)


def test_the_context_text_keeps_every_message_in_order() -> None:
    text = context_text((Message("system", "rules"), Message("user", "state")))
    assert text == "System: rules\n\nUser: state\n"


# --- loading the model ------------------------------------------------------------------------


def test_a_missing_model_folder_is_a_clear_startup_error(tmp_path: Path) -> None:
    missing = LocalModelSettings(model=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"llm\.local\.model: no folder .*nope.*downloaded"):
        load_local_model(missing)
    (tmp_path / "empty").mkdir()
    empty = LocalModelSettings(model=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        load_local_model(empty)


def test_the_tiny_model_refuses_settings_it_cannot_hold() -> None:
    with pytest.raises(ConfigError, match="more than the tiny model's 4096 positions"):
        load_local_model(LocalModelSettings(context_tokens=5000))
    with pytest.raises(ConfigError, match="the tiny model has its own"):
        load_local_model(LocalModelSettings(tokenizer=Path("tok")))
    with pytest.raises(ConfigError, match=r"llm\.local\.device: .*use cpu"):
        load_local_model(LocalModelSettings(device="tpu9"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available here"):
            load_local_model(LocalModelSettings(device="cuda"))


def test_a_relative_model_folder_is_found_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "llm:\n  provider: local\n  local:\n    model: models/mine\n    tokenizer: tok\n"
    )
    local = load_settings(tmp_path / "config.yaml").llm.local
    assert local.model == str(tmp_path / "models" / "mine")
    assert local.tokenizer == tmp_path / "tok"
    (tmp_path / "config.yaml").write_text("llm:\n  provider: local\n")
    assert load_settings(tmp_path / "config.yaml").llm.local.model == "tiny"


def test_a_saved_hugging_face_model_thinks_through_the_turn_program(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    import string

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    # A character-level tokenizer without the MOA's control tokens (loading adds them), and
    # with a few multi-character tokens, two of which could break a JSON string.
    chars = ["<unk>", *sorted(set(string.printable)), '",', ' "', "ok_1"]
    inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(chars)}, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    inner.decoder = decoders.Fuse()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="<unk>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_end|>", "<|im_start|>"]})
    tok.save_pretrained(tmp_path)
    config = transformers.GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)

    settings = LocalModelSettings(model=str(tmp_path), context_tokens=32)
    model, turn, name = load_local_model(settings)
    assert name == tmp_path.name
    allowed = turn.program.allowed
    assert allowed is not None
    zones = turn.program.zone_names
    vocab = tok.get_vocab()
    for zone in ("note_text", "write_content", "noop_reason"):
        row = allowed[zones.index(zone)]
        assert not row[vocab['",']] and not row[vocab[' "']] and not row[vocab["\\"]]
        assert row[vocab["ok_1"]] and row[vocab["a"]]
    name = allowed[zones.index("write_id")]
    assert name[vocab["ok_1"]] and name[vocab["a"]] and not name[vocab["A"]]
    for zone in ("think", "note_text", "write_content", "noop_reason", "write_id"):
        row = allowed[zones.index(zone)]  # the model's own end-of-turn and chat markers
        assert not row[vocab["<|im_end|>"]] and not row[vocab["<|im_start|>"]], zone
    results = run_turns(model, turn, [context(i) for i in range(8)])
    assert not any("<|im_" in r.reply + r.thought for r in results)
    parsed = sum(1 for r in results if _parses(r.reply))
    # The context prefilled in one forward through the model's cache writes what one token a
    # step writes (float64: no rounding differences between the two).
    from agent_ecology.moa.hf import causal_lm

    double = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).double()
    double.resize_token_embeddings(turn.tokenizer.vocab_size)
    texts = [context(i) for i in range(3)]
    slow = run_turns(causal_lm(double), turn, texts, prefill=False, seeds=[1, 2, 3])
    fast = run_turns(causal_lm(double), turn, texts, seeds=[1, 2, 3])
    assert [replace(r, seconds=0.0) for r in fast] == [replace(r, seconds=0.0) for r in slow]
    assert parsed >= 8 * 0.95 and all(r.finished for r in results), [r.reply for r in results]
    too_long = LocalModelSettings(model=str(tmp_path), context_tokens=600)
    with pytest.raises(ConfigError, match="more than the model's 512 positions"):
        load_local_model(too_long)


def _parses(reply: str) -> bool:
    try:
        parse_action(reply)
    except ActionError:
        return False
    return True


class HeldReleaseCondition(threading.Condition):
    """Holds the worker just after it lets go of the lock, until the test says go on.

    That is the race's window: the worker has taken its batch and decided, under the lock,
    whether the service is closing; submitters and :meth:`TurnBatcher.aclose` can now act
    before the worker acts on what it saw.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()  # the worker waits in the window
        self.go_on = threading.Event()

    def __exit__(self, *args: object) -> None:
        super().__exit__(*args)  # type: ignore[arg-type]
        if threading.current_thread().name == "agent-ecology-local-model":
            self.held.set()
            self.go_on.wait(10)  # a guard: a test that fails to release it still ends


async def test_closing_while_the_worker_is_between_batches_still_answers_the_queue() -> None:
    cond = HeldReleaseCondition()
    batcher = TurnBatcher(model64(), SMALL, max_batch=1, window=0.0, condition=cond)
    outcomes: dict[int, object] = {}

    async def submit(i: int) -> None:
        outcomes[i] = await outcome(batcher, i)

    with anyio.move_on_after(15) as guard:
        async with anyio.create_task_group() as tg:
            tg.start_soon(submit, 0)
            await wait_in_thread(cond.held, "the worker took turn 0 and let go of the lock")
            for i in (1, 2):  # queued while the worker is in the window
                tg.start_soon(submit, i)
            await anyio.wait_all_tasks_blocked()
            assert batcher.pending == 2
            tg.start_soon(batcher.aclose)  # closes at once, then waits for the worker
            await anyio.wait_all_tasks_blocked()
            assert batcher.closed
            cond.go_on.set()
    if guard.cancelled_caught:
        pytest.fail(f"turns left waiting after the close; answered: {sorted(outcomes)}")
    assert sorted(outcomes) == [0, 1, 2]  # nobody left waiting
    assert batcher.pending == 0


async def test_a_worker_that_breaks_answers_everyone_and_refuses_what_comes_later() -> None:
    batcher = TurnBatcher(model64(), SMALL, window=1e10)  # too long for a thread's wait
    with anyio.fail_after(10):
        with pytest.raises(LocalModelFailed, match=r"worker failed .*OverflowError") as info:
            await batcher.run("a0", context(0), seed=0)
        assert not info.value.retryable
        with pytest.raises(LocalModelFailed, match="shut down"):
            await batcher.run("a1", context(1), seed=1)
        await batcher.aclose()


async def test_a_model_whose_probabilities_are_nan_fails_its_batch_instead_of_writing_noise() -> (
    None
):
    base = model64()

    def broken(ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        logits, cache = base(ids, cache)
        return torch.full_like(logits, float("nan")), cache

    batcher = TurnBatcher(broken, SMALL, window=0.0)
    async with aclosing(batcher):
        with pytest.raises(LocalModelFailed, match="not finite") as info:
            await batcher.run("a0", context(0), seed=0)
        assert info.value.retryable


def test_a_sentencepiece_word_is_not_an_artifact_name_since_it_starts_with_a_space() -> None:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from agent_ecology.moa.hf import HFTokenizer
    from agent_ecology.moa.program import tokens_whose_text

    vocab = {"<unk>": 0, "▁abc": 1, "abc": 2, "▁": 3, "x": 4, "▁a": 5, '▁"': 6}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.Metaspace()
    inner.decoder = decoders.Metaspace()
    tok = HFTokenizer(
        transformers.PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="<unk>")
    )
    assert tok.decode([1]) == "abc"  # alone, its space is dropped...
    assert tok.decode([4, 1]) == "x abc"  # ...but in a text it has one
    names = tokens_whose_text(tok, lambda text: bool(text) and text.isalnum())
    assert 2 in names and 4 in names and 1 not in names
    assert 6 in tokens_whose_text(tok, lambda text: '"' in text)


def test_bad_local_settings_are_refused_with_the_key_to_fix() -> None:
    from agent_ecology.config import parse_settings

    for local, message in (
        ({"temperature": 1e-300}, "too small to sample with"),
        ({"batch_window": 1e10}, "llm.local.batch_window"),
        ({"max_batch": 0}, "llm.local.max_batch"),
        ({"modle": "tiny"}, "did you mean 'model'"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings({"llm": {"provider": "local", "local": local}})
    with pytest.raises(ConfigError, match="'meta' holds no data"):
        load_local_model(LocalModelSettings(device="meta"))


def test_the_compact_context_keeps_who_balances_and_the_last_result_within_the_cut() -> None:
    from agent_ecology.llm.local import compact_context
    from agent_ecology.moa.tokenizer import ByteTokenizer

    obs = {
        "agent_id": "alice",
        "turn": 7,
        "scrip": 42,
        "flow": {"compute": 1.25, "llm_rate": 5900.0},
        "stock": {"disk": 9800.0},
        "last_ok": False,
        "last_action": "note",
        "last_message": "text: required",
    }
    text = compact_context(obs)
    # The tiny model's byte tokenizer and the default context_tokens: what it reads is the
    # last 192 bytes, and they hold its id, its balances and its last result.
    kept = ByteTokenizer().decode(ByteTokenizer().encode(text)[-192:])
    for part in ("You are alice", "turn 7", "scrip 42", "compute 1.25", "note refused"):
        assert part in kept, (part, kept)
    assert text.index("Your last action") < text.index("Your balances") < text.index("You are")
    assert "none yet" in compact_context({"agent_id": "bob"})
