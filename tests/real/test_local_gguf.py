"""The local provider on a real model: the stage's SmolLM2-135M-Instruct, turned from its GGUF
file into a Hugging Face folder (transformers' gguf_file loader), driven by the MOA.

Every turn it decides must parse (the MOA allows only valid actions), and none of the model's
special tokens (its end of turn, its chat markers) may reach what the world stores.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.real.conftest import SPECIAL_TOKENS, query, run_world

pytestmark = [pytest.mark.real, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def hf_folder(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("smollm2-hf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers dequantises the GGUF's tensors on load but refuses to save a model it loaded
    # that way ("not serializable"): the same weights go into a plain model of that config.
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.load_state_dict(loaded.state_dict(), strict=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def test_the_local_provider_on_smollm2_parses_every_turn_and_leaks_no_special_token(
    hf_folder: Path, world: Path, report: list[str]
) -> None:
    config = yaml.safe_load((world / "config.yaml").read_text())
    config["llm"]["provider"] = "local"
    config["llm"]["local"]["model"] = str(hf_folder)
    (world / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    # A batch of five turns takes this model ~40 s on 2 cores, and each agent pays its share in
    # compute, so its bucket refills before the next: 180 s gives a few batches.
    out = run_world(world, "--duration", "180", env={}, timeout=420)
    elapsed = time.monotonic() - started
    assert f"agents think with: local model {hf_folder.name} (" in out, out
    db = world / "data" / "world.db"

    turns = query(
        db, "SELECT action, ok, code FROM agent_turns WHERE action NOT IN ('think', 'turn')"
    )
    assert len(turns) > 5, out  # more than one batch: 11 in a quiet run here
    assert [t for t in turns if t[0] == "invalid_reply"] == []
    assert query(db, "SELECT count(DISTINCT agent_id) FROM agent_turns") == [(5,)]

    stored = [
        *query(db, "SELECT details FROM events"),
        *query(db, "SELECT text FROM agent_notes"),
        *query(db, "SELECT * FROM artifacts"),
    ]
    texts = [str(value) for row in stored for value in row]
    leaks = [t[:200] for t in texts if any(token in t for token in SPECIAL_TOKENS)]
    assert leaks == []

    kinds: dict[str, int] = {}
    for action, _, _ in turns:
        kinds[action] = kinds.get(action, 0) + 1
    ok = sum(1 for _, succeeded, _ in turns if succeeded)
    notes = [str(text)[:120] for (text,) in query(db, "SELECT text FROM agent_notes LIMIT 4")]
    report.extend(
        [
            f"{len(turns)} turns in {elapsed:.0f} s, all parsed; {ok} accepted by the kernel;"
            f" by kind {kinds}",
            *(f"  note: {note!r}" for note in notes),
        ]
    )
