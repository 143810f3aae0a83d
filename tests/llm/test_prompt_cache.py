"""Prompt caching: cached tokens read from the server's usage, priced at cached_input, kept
per call and in llm_costs, and summed in the run's summary."""

from __future__ import annotations

import sqlite3
from contextlib import aclosing
from pathlib import Path

from agent_ecology.config import ModelPrice
from agent_ecology.ledger import NANODOLLARS, CallStatus, Ledger, ops
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider
from agent_ecology.llm.pricing import cost_nd
from agent_ecology.llm.types import CompletionRequest, Message, Usage
from tests.llm.chat_server import ChatServer, Reply

KEY = "sk-test"


def request() -> CompletionRequest:
    return CompletionRequest("alice", "m", (Message("user", "act"),), max_tokens=10)


async def test_cached_tokens_are_read_where_the_server_reports_a_sane_count() -> None:
    script = [
        Reply("a", prompt_tokens=1000, cached_tokens=768),
        Reply("b", prompt_tokens=1000),  # not reported
        Reply("c", prompt_tokens=10, cached_tokens=11),  # more than the prompt: not believed
    ]
    with ChatServer(api_key=KEY, script=script) as server:
        llm = OpenAICompatibleProvider(api_key=KEY, base_url=server.base_url, timeout=5.0)
        async with aclosing(llm):
            got = [(await llm.complete(request())).usage.cached_tokens for _ in script]
    assert got == [768, 0, 0]


def test_cached_input_is_priced_at_its_own_rate_and_without_one_at_the_input_rate() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=800_000)
    discounted = ModelPrice(input=2.0, output=8.0, max_output_tokens=10, cached_input=0.5)
    plain = ModelPrice(input=2.0, output=8.0, max_output_tokens=10)
    assert cost_nd(discounted, usage) == round((0.2 * 2.0 + 0.8 * 0.5) * NANODOLLARS)
    assert cost_nd(plain, usage) == 2 * NANODOLLARS
    assert cost_nd(ModelPrice(input=0, output=0, max_output_tokens=10), usage) == 0  # self-hosted


async def test_cached_tokens_are_kept_per_call_and_summed_in_llm_costs(
    ledger: Ledger, db_path: Path
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    for n, cached in enumerate([0, 300, 900], 1):
        await ledger.submit(
            ops.ReserveCall(call_id=f"c{n}", agent_id="alice", model="m", attempt=1, reserve_nd=50)
        )
        await ledger.submit(
            ops.SettleCall(
                call_id=f"c{n}", status=CallStatus.SETTLED, cost_nd=10, prompt_tokens=1000,
                completion_tokens=5, cached_tokens=cached,
            )
        )  # fmt: skip
    assert await ledger.prompt_tokens() == (3000, 1200)
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT prompt_tokens, cached_tokens FROM llm_costs WHERE agent_id = 'alice'"
        ).fetchone()
    finally:
        conn.close()
    assert row == (3000, 1200)
