"""The MOA with a Hugging Face causal LM and tokenizer (built here, random weights, offline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from agent_ecology.moa import ByteTokenizer, ProgramSpec, UnknownToken, Zone, compile_program
from agent_ecology.moa.driver import generate
from agent_ecology.moa.hf import HFTokenizer, causal_lm
from agent_ecology.moa.module import MOA

transformers = pytest.importorskip("transformers")
TOK = ByteTokenizer()


def tiny_gpt2(vocab_size: int) -> Any:  # a GPT2LMHeadModel: transformers is optional here
    config = transformers.GPT2Config(
        vocab_size=vocab_size, n_positions=128, n_embd=32, n_layer=2, n_head=2
    )
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).double()  # float64: no near-tie argmax flips


def test_a_causal_lm_drives_the_moa_and_its_cache_is_carried_right() -> None:
    prompt = "Q: a colour?\nA: "
    spec = ProgramSpec(
        zones=(
            Zone("ask", prompt=prompt, timeout=0),
            Zone("answer", timeout=10, captures="answer"),
        )
    )
    model = tiny_gpt2(TOK.vocab_size)
    run = causal_lm(model)
    seen: list[torch.Tensor] = []  # the logits the driver sampled from, step by step

    def recording(ids: torch.Tensor, cache: object) -> tuple[torch.Tensor, object]:
        logits, cache = run(ids, cache)
        seen.append(logits[:, -1])
        return logits, cache

    moa = MOA(compile_program(spec, TOK), 4)
    rows = generate(recording, moa, TOK, max_steps=100, prefill=False)  # a forward a step
    forced = TOK.encode(prompt)
    pad = TOK.special("<pad>")
    for r, row in enumerate(rows):
        assert row.tokens[: len(forced)] == forced
        (captured,) = row.captures["answer"]
        start = len(forced) + 1  # after the prompt and the trigger its timeout of 0 forces
        assert row.tokens[start : start + len(captured)] == captured and captured
        # With the key-value cache carried between steps, each step's logits must be those
        # of the whole sequence so far ([pad] + emitted tokens) run at once without a cache.
        sequence = torch.tensor([[pad, *row.tokens]])
        with torch.no_grad():
            whole = model(input_ids=sequence, use_cache=False).logits[0]
        for t in range(len(row.tokens)):
            assert torch.allclose(seen[t][r], whole[t], atol=1e-9), f"row {r} step {t}"
    assert moa.done()


def hf_tokenizer() -> HFTokenizer:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<esc>", "<jump>", "<end>", "<unk>", "hello", "world", "ok", "!"]
    inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=inner,
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=["<esc>", "<jump>", "<end>"],
    )
    return HFTokenizer(fast)


def test_a_hugging_face_tokenizer_satisfies_the_interface() -> None:
    tok = hf_tokenizer()
    assert tok.vocab_size == 9
    assert tok.encode("hello world") == [5, 6]
    assert tok.special("<end>") == 3 and tok.special("<pad>") == 0
    assert "hello" in tok.decode([5, 3])
    with pytest.raises(UnknownToken, match="add_special_tokens"):
        tok.special("<nope>")
    program = compile_program(
        ProgramSpec(zones=(Zone("ask", prompt="hello world", trigger="!", timeout=0),)), tok
    )
    assert program.token_data.tolist() == [5, 6] and program.step_trigger.tolist() == [8]


def test_what_is_not_a_model_is_refused() -> None:
    with pytest.raises(TypeError, match="not a model"):
        causal_lm("gpt2")


def test_the_locked_transformers_is_driven_with_no_deprecation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Warnings are errors in this suite; transformers also logs some deprecations instead.
    run = causal_lm(tiny_gpt2(TOK.vocab_size))
    with caplog.at_level("WARNING"):
        _, cache = run(torch.tensor([[1, 2, 3]]), None)
        logits, _ = run(torch.tensor([[4]]), cache)
    assert logits.shape == (1, 1, TOK.vocab_size)
    assert not [r for r in caplog.records if "deprecat" in r.getMessage().lower()]


class Output:
    def __init__(self, logits: torch.Tensor, **cache: object) -> None:
        self.logits = logits
        self.__dict__.update(cache)


class RecordingModel(torch.nn.Module):
    """Records the cache each call is given, and returns it under ``name``; the subclasses
    differ only in the signature of ``forward``, which is what ``causal_lm`` reads."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def answer(self, input_ids: torch.Tensor, cache: object, name: str) -> Output:
        self.seen.append(cache)
        return Output(torch.zeros(*input_ids.shape, 5), **{name: ("kv", input_ids.shape[1])})


class CacheModel(RecordingModel):
    """A causal LM's calling convention (transformers >= 5.24): ``cache=`` in, ``.cache`` out."""

    def forward(
        self, input_ids: torch.Tensor, cache: object = None, use_cache: bool = False
    ) -> Output:
        return self.answer(input_ids, cache, "cache")


class PastKeyValuesModel(RecordingModel):
    """The calling convention of every earlier release: ``past_key_values=`` in and out."""

    def forward(
        self, input_ids: torch.Tensor, past_key_values: object = None, use_cache: bool = False
    ) -> Output:
        return self.answer(input_ids, past_key_values, "past_key_values")


@pytest.mark.parametrize("model", [CacheModel(), PastKeyValuesModel()], ids=type)
def test_the_cache_is_carried_under_the_name_the_model_takes(
    model: CacheModel | PastKeyValuesModel,
) -> None:
    run = causal_lm(model)
    logits, cache = run(torch.tensor([[1, 2, 3]]), None)
    assert logits.shape == (1, 1, 5) and cache == ("kv", 3)
    _, cache = run(torch.tensor([[4]]), cache)
    assert model.seen == [None, ("kv", 3)] and cache == ("kv", 1)


def test_a_model_that_takes_no_cache_is_refused() -> None:
    class NoCache(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor) -> Output:
            return Output(input_ids)

    with pytest.raises(TypeError, match=r"NoCache\.forward takes no key-value cache"):
        causal_lm(NoCache())


def test_the_readme_hugging_face_example_runs_on_a_saved_model(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "hf" in b]
    tok = hf_tokenizer().tokenizer
    tok.save_pretrained(tmp_path)
    tiny_gpt2(len(tok)).float().save_pretrained(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(block.replace("path/to/model", str(tmp_path)), "README.md", "exec"), scope)
    rows = scope["rows"]
    assert isinstance(rows, list) and len(rows) == 8
    assert all(row.tokens[:2] == [4, 3] for row in rows)  # "Q:" is unknown here, then <end>
