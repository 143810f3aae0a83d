"""Agents think on a real model: SmolLM2-135M-Instruct served by llama.cpp's OpenAI-compatible
server (llama-cpp-python), through the product's real OpenAI-compatible path.

Between the product and the server sits a recording pass-through (tests/real/proxy.py), so
the test knows exactly what the server answered (its ``usage``, the formats it took) without
faking either side. The world is the shipped config and genesis folder with the model priced
above 0, so that every charge is a number that can be checked.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.real.conftest import SPECIAL_TOKENS, query, run_world_until
from tests.real.proxy import Exchange, RecordingProxy

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]

MODEL = "smollm2"
PRICE = {"input": 1.0, "output": 2.0}  # $ per million tokens: 1,000 and 2,000 nd a token
# The parser's refusals: a reply that is not one valid action.
INVALID = "invalid_reply"
REPLIES = 20  # the run is stopped (SIGINT) once the server has answered this many turns
DURATION = 600  # or after this long: 14-19 replies took 300 s on 2 cores, by load
AGENTS_LEFT_OUT = ("dave", "erin")


@dataclass(frozen=True)
class Server:
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(
    real_venv: Path, gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """llama.cpp's server on 127.0.0.1, with its prompt cache in RAM (one saved state per
    prompt, found again by longest prefix), one request at a time as it serves them."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(real_venv / "bin" / "python"), "-m", "llama_cpp.server",
                "--model", str(gguf), "--model_alias", MODEL,
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "8192", "--n_threads", "-1", "--n_threads_batch", "-1",
                "--flash_attn", "true",
                "--cache", "true", "--cache_type", "ram", "--verbose", "true",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Server(port, log, process)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama.cpp's server exited {process.returncode}:\n{running.log_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama.cpp's server did not start in 180 s:\n{running.log_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def configure(world: Path, base_url: str, structured_output: str) -> None:
    config = yaml.safe_load((world / "config.yaml").read_text())
    llm = config["llm"]
    llm.update(
        provider="openai",
        base_url=base_url,
        model=MODEL,
        timeout=300,  # five agents queue at a server that answers one request at a time
        max_connections=8,
        max_retries=1,
        structured_output=structured_output,
        max_api_cost=5.0,
        prices={MODEL: {**PRICE, "max_output_tokens": 400}},
    )
    config["resources"]["stock"]["llm_budget"]["total"] = 5.0
    (world / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def prefix_reuse(log: str) -> list[int]:
    """The prompt tokens the server reused from its cache for each chat completion it answered
    with 200, in the order it served them, from its log: llama-cpp-python prints "N
    prefix-match hit" before it evaluates the rest of a prompt whose first N tokens it has
    cached (nothing when it reuses none), and uvicorn logs each answered request."""
    served: list[int] = []
    hit = 0
    for line in log.splitlines():
        match = re.search(r"(\d+) prefix-match hit", line)
        if match:
            hit = int(match.group(1))
        elif '"POST /v1/chat/completions HTTP/1.1"' in line:
            if '" 200' in line:
                served.append(hit)
            hit = 0
    return served


def replies(exchanges: list[Exchange]) -> list[Exchange]:
    """The chat completions the server answered and the product received."""
    return [
        x
        for x in exchanges
        if x.path.endswith("/chat/completions") and x.status == 200 and x.delivered
    ]


def turns_with_replies(db: Path) -> list[tuple[str, str, str | None]]:
    """``(agent, action, code)`` of each turn the model's reply decided, valid or not: every
    turn but those whose call failed ('think') or that failed in the runtime ('turn')."""
    rows = query(
        db,
        "SELECT agent_id, action, code FROM agent_turns WHERE action NOT IN ('think', 'turn')"
        " ORDER BY seq",
    )
    return [(str(a), str(b), c) for a, b, c in rows]


def test_smollm2_agents_act_validly_and_are_charged_exactly_what_the_server_reported(
    server: Server, world: Path, report: list[str]
) -> None:
    for extra in AGENTS_LEFT_OUT:  # three agents: enough turns each in a few minutes
        (world / "genesis" / "agents" / f"{extra}.yaml").unlink()
    with RecordingProxy(server.port) as proxy:
        configure(world, proxy.base_url, "auto")
        started = time.monotonic()
        out = run_world_until(
            world,
            "--duration",
            str(DURATION),
            env={"OPENAI_API_KEY": "local"},
            # Stop at enough replies, or at once if the server died (nothing more can come).
            done=lambda: (
                len(replies(proxy.exchanges)) >= REPLIES or server.process.poll() is not None
            ),
            timeout=DURATION + 120,
        )
        elapsed = time.monotonic() - started
        exchanges = proxy.exchanges
    assert server.process.poll() is None, (
        f"llama.cpp's server died during the run (exit {server.process.returncode}; -11 is a"
        f" segfault) after {len(exchanges)} requests; the end of its log:\n"
        + server.log_text()[-2000:]
    )
    db = world / "data" / "world.db"
    # In the order the server answered them (it serves one request at a time).
    chats = sorted(
        (x for x in exchanges if x.path.endswith("/chat/completions")), key=lambda x: x.answered
    )
    answered = [x for x in chats if x.status == 200 and x.response is not None]
    delivered = [x for x in answered if x.delivered]
    formats = [
        "grammar"
        if "grammar" in x.request
        else (x.request.get("response_format") or {}).get("type")
        for x in chats
    ]
    said = [line for line in out.splitlines() if line.startswith(f"structured output for {MODEL}")]
    decided = turns_with_replies(db)
    valid = [t for t in decided if t[1] != INVALID]
    agents = len(query(db, "SELECT DISTINCT agent_id FROM llm_calls"))
    served = prefix_reuse(server.log_text())
    warm = list(zip(served, answered, strict=False))[agents:]  # after each agent's first call
    reused = sum(hit for hit, _ in warm)
    prompt_tokens = sum(x.response["usage"]["prompt_tokens"] for _, x in warm if x.response)
    reuse = reused / prompt_tokens if prompt_tokens else 0.0

    # What a person wants to know, shown whether or not the checks below pass.
    service, free_at = [], 0.0  # the server's time per answer, from when it could start on it
    for x in chats:
        service.append(x.answered - max(x.received, free_at))
        free_at = x.answered
    service.sort()
    kinds = Counter(action for _, action, _ in valid)
    report.extend(
        [
            *said,
            f"valid actions: {len(valid)} of {len(decided)} turns the model decided"
            f" ({len(valid) / max(1, len(decided)):.0%}); by kind {dict(kinds)}",
            f"turns/s: {len(decided) / elapsed:.3f} ({len(decided)} in {elapsed:.0f} s,"
            f" {agents} agents); the server's time per request: median"
            f" {service[len(service) // 2] if service else 0:.1f} s",
            f"prompt-cache reuse after warm-up: {reused:,} of {prompt_tokens:,} prompt tokens"
            f" ({reuse:.0%})",
            "the last replies:",
            *(
                "  " + " ".join(x.response["choices"][0]["message"]["content"].split())[:160]
                for x in answered[-8:]
                if x.response is not None
            ),
        ]
    )

    # auto: llama.cpp's server refuses OpenAI's json_schema with a 500 that names the format;
    # the product asks again with the schema as a GBNF grammar, keeps that, and says so once.
    assert formats[0] == "json_schema" and chats[0].status == 500, chats[0]
    assert {f for x, f in zip(chats, formats, strict=True) if x.status == 200} == {"grammar"}
    assert all(x.request["grammar"].startswith("root ::=") for x in answered)
    # Remembered for the model after the first refusal: json_schema went out only in the
    # calls already under way (one per agent at the start) when that refusal came back.
    pairs = zip(chats, formats, strict=True)
    assert all(x.received < chats[0].answered for x, f in pairs if f == "json_schema")
    assert [line for line in said if "the request's grammar field" in line][-1:] == [
        f"structured output for {MODEL}: a GBNF grammar of the action schema (the request's"
        " grammar field)"
    ], out

    # At least 90% of the turns the model decided are valid actions, over enough turns for
    # the rate to mean something (15: one invalid turn in 10 would fail it).
    assert len(decided) >= 15, out
    assert len(valid) >= 0.9 * len(decided), decided
    for x in answered:
        text = x.response["choices"][0]["message"]["content"] if x.response else ""
        assert not any(token in text for token in SPECIAL_TOKENS), text

    # Every settled call is charged exactly the usage the server reported, at the price; a
    # call the stop cancelled after its answer came back is charged its worst case instead.
    settled = query(
        db,
        "SELECT prompt_tokens, completion_tokens, cost_nd FROM llm_calls WHERE status = 'settled'",
    )
    reported = Counter(
        (x.response["usage"]["prompt_tokens"], x.response["usage"]["completion_tokens"])
        for x in delivered
        if x.response is not None
    )
    assert not Counter((p, c) for p, c, _ in settled) - reported
    [(unsettled,)] = query(db, "SELECT count(*) FROM llm_calls WHERE status != 'settled'")
    assert reported.total() - len(settled) <= unsettled
    for prompt, completion, cost in settled:
        assert cost == prompt * 1_000 + completion * 2_000
    # No reservation left open, and the world's budget spent is exactly what was charged.
    assert query(db, "SELECT count(*) FROM llm_calls WHERE status = 'reserved'") == [(0,)]
    [(reserved, spent)] = query(db, "SELECT reserved_dollars, spent_dollars FROM api_budget_now")
    assert reserved == 0
    [(charged,)] = query(db, "SELECT coalesce(sum(cost_nd), 0) FROM llm_calls")
    assert round(spent * 1e9) == charged
    assert query(db, "SELECT conserved FROM scrip_totals") == [(1,)]

    # The server's prompt cache reused more than half the prompt tokens after warm-up.
    assert len(served) == len(answered)
    assert reuse > 0.5, served
