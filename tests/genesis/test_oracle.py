"""genesis_oracle: held bids, second price, refunds, minting, the schedule, the scorer."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

import anyio
import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.config import ModelPrice, OracleSettings
from agent_ecology.genesis import Genesis, Invocation
from agent_ecology.genesis.oracle import next_resolution, resolve
from agent_ecology.genesis.scoring import LLMJudge, offline_score
from agent_ecology.ledger import NANODOLLARS, BidStatus, InvalidRequest, Ledger, ops
from agent_ecology.llm import LLMCaller, ScriptedProvider, Usage
from agent_ecology.llm.budget import Budget

TEXT = {
    "alice/a": "a careful survey of compute prices across the market with sources and dates",
    "bob/b": "how to rescue an agent frozen in debt by giving it compute and llm rate quota",
    "carol/c": "notes on escrow listings that sold quickly and the prices buyers accepted there",
}


@pytest.fixture
async def genesis(genesis: Genesis, ledger: Ledger) -> Genesis:
    """The installed genesis artifacts (tests/genesis/conftest.py), and TEXT to bid on."""
    for artifact, text in TEXT.items():
        await ledger.submit(
            ops.WriteArtifact(actor=artifact.split("/")[0], artifact_id=artifact, content=text)
        )
    return genesis


async def bid(genesis: Genesis, ledger: Ledger, who: str, artifact: str, amount: int) -> Any:
    inv = Invocation(who, ledger, ManualClock(1_000_000.0))
    return await genesis.invoke(
        inv, "genesis_oracle", "bid", {"artifact_id": artifact, "amount": amount}
    )


async def held(ledger: Ledger) -> int:
    return await ledger.scrip(ops.ORACLE)


def test_resolutions_are_at_multiples_of_the_interval() -> None:
    assert next_resolution(119.9, 60) == 120
    assert next_resolution(120.0, 60) == 180
    assert next_resolution(1_000_000.0, 60) == 1_000_020.0


async def test_bids_are_held_raised_and_withdrawn(genesis: Genesis, ledger: Ledger) -> None:
    await bid(genesis, ledger, "alice", "alice/a", 10)
    raised = await bid(genesis, ledger, "alice", "alice/a", 25)
    assert raised["raised_by"] == 15
    assert await ledger.scrip("alice") == 75 and await held(ledger) == 25
    with pytest.raises(InvalidRequest, match="is 25 already"):
        await bid(genesis, ledger, "alice", "alice/a", 20)
    inv = Invocation("alice", ledger, ManualClock(0))
    out = await genesis.invoke(inv, "genesis_oracle", "withdraw", {"artifact_id": "alice/a"})
    assert out == {"artifact_id": "alice/a", "refunded": 25}
    assert await ledger.scrip("alice") == 100 and await held(ledger) == 0
    assert (await ledger.supply()).is_conserved


async def test_the_top_bid_wins_pays_the_second_price_and_mints_its_score(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await bid(genesis, ledger, "alice", "alice/a", 30)
    await bid(genesis, ledger, "bob", "bob/b", 20)
    await bid(genesis, ledger, "carol", "carol/c", 10)
    before = await ledger.supply()
    settings = OracleSettings(interval=60, slots=1, mint_per_point=7, max_mint=1000)
    receipt = await resolve(ledger, settings, clock.now(), authority="world")
    assert receipt is not None
    (winner,) = receipt.details["winners"]
    score = offline_score(TEXT["alice/a"], [TEXT["bob/b"], TEXT["carol/c"]])
    minted = round(score * 7)
    assert winner == {
        "artifact_id": "alice/a",
        "owner": "alice",
        "bidder": "alice",
        "bid": 30,
        "paid": 20,
        "score": score,
        "minted": minted,
    }
    assert minted > 0
    assert await ledger.scrip("alice") == 100 - 20 + minted
    assert (await ledger.scrip("bob"), await ledger.scrip("carol")) == (100, 100)
    assert await held(ledger) == 0
    after = await ledger.supply()
    assert (after.minted - before.minted, after.burned - before.burned) == (minted, 20)
    assert after.is_conserved
    assert [b.status for b in await ledger.oracle_bids(status=None)] == ["won", "lost", "lost"]
    assert await resolve(ledger, settings, clock.now(), authority="world") is None  # once


async def test_what_winners_pay_can_be_shared_and_late_bids_wait(
    genesis: Genesis, ledger: Ledger
) -> None:
    settings = OracleSettings(slots=1, mint_per_point=0, paid="share")
    await bid(genesis, ledger, "alice", "alice/a", 50)
    await bid(genesis, ledger, "bob", "bob/b", 31)
    await bid(genesis, ledger, "carol", "carol/c", 40)
    await ledger.submit(
        ops.OracleResolve(
            authority="world",
            round_at=0.0,
            scores=(),
            slots=1,
            mint_per_point=0,
            max_mint=0,
        )
    )  # nothing was placed by t=0: every bid waits for a later resolution
    assert await held(ledger) == 121
    round_at = 1_000_000.0  # the test clock's time: every bid above was placed at it
    await ledger.submit(
        ops.OracleResolve(
            authority="world",
            round_at=round_at,
            scores=(("alice/a", 1.0), ("bob/b", 1.0), ("carol/c", 1.0)),
            slots=settings.slots,
            mint_per_point=settings.mint_per_point,
            max_mint=settings.max_mint,
            paid="share",
        )
    )
    # alice paid the highest losing bid, 40, shared 13 each among 3 agents; 1 burned.
    assert await ledger.scrip("alice") == 100 - 40 + 13
    assert await ledger.scrip("bob") == 100 + 13 and await ledger.scrip("carol") == 100 + 13
    assert (await ledger.supply()).is_conserved


def test_the_offline_scorer_zeroes_duplicates_and_ignores_padding() -> None:
    others = [TEXT["bob/b"], TEXT["carol/c"]]
    base = offline_score(TEXT["alice/a"], others)
    assert 0 < base <= 10
    assert offline_score(TEXT["bob/b"], others) == 0.0  # an exact copy of another
    near = TEXT["bob/b"].replace("rescue", "save")
    assert offline_score(near, others) == 0.0  # a near copy
    for padded in (TEXT["alice/a"] + (" " + TEXT["alice/a"]) * 20, TEXT["alice/a"] + " x" * 500):
        assert offline_score(padded, others) <= base


async def test_bids_racing_a_resolution_leave_nothing_half_done(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    settings = OracleSettings(slots=2, mint_per_point=1, max_mint=5)

    async def trader(who: str, artifact: str) -> None:
        for amount in (3, 6, 9):
            await bid(genesis, ledger, who, artifact, amount)
        inv = Invocation(who, ledger, clock)
        # Resolved before the withdrawal: nothing is left to take back.
        with contextlib.suppress(InvalidRequest):
            await genesis.invoke(inv, "genesis_oracle", "withdraw", {"artifact_id": artifact})

    async with anyio.create_task_group() as tg:
        for who, artifact in (("alice", "alice/a"), ("bob", "bob/b"), ("carol", "carol/c")):
            tg.start_soon(trader, who, artifact)
        tg.start_soon(partial(resolve, ledger, settings, clock.now(), authority="world"))
    active = await ledger.oracle_bids(status=BidStatus.ACTIVE)
    assert await held(ledger) == sum(b.amount for b in active)
    assert (await ledger.supply()).is_conserved
    for who in ("alice", "bob", "carol"):
        assert await ledger.scrip(who) >= 0


def _judge(provider: ScriptedProvider, ledger: Ledger, clock: ManualClock) -> LLMJudge:
    """A judge on a priced model, charged to the world's budget through the metered caller."""
    price = ModelPrice(input=1, output=1, max_output_tokens=50)
    caller = LLMCaller(provider, ledger, clock=clock, budget=Budget({"judge": price}, billed=True))
    return LLMJudge(caller, "judge")


async def test_an_llm_judge_scores_within_the_budget_and_cannot_be_paid_for_copies(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    await ledger.submit(
        ops.WriteArtifact(actor="carol", artifact_id="carol/copy", content=TEXT["alice/a"])
    )
    provider = ScriptedProvider(
        ['Here you go: {"score": 7.5}', "I like it a lot"],
        usage=Usage(100, 5),
    )
    judge = _judge(provider, ledger, clock)
    others = [TEXT["bob/b"], TEXT["carol/c"]]
    assert await judge.score("alice/a", TEXT["alice/a"], others) == 7.5
    # Not a score: the offline one stands in.
    assert await judge.score("bob/b", TEXT["bob/b"], [TEXT["carol/c"]]) == offline_score(
        TEXT["bob/b"], [TEXT["carol/c"]]
    )
    # A copy scores 0 without a call.
    assert await judge.score("carol/copy", TEXT["alice/a"], [TEXT["alice/a"]]) == 0.0
    assert len(provider.requests) == 2
    calls = await ledger.llm_calls("genesis_oracle")
    assert len(calls) == 2 and all(c.status == "settled" for c in calls)
    assert (await ledger.api_budget()).spent_nd == sum(c.cost_nd or 0 for c in calls)


@pytest.mark.parametrize(
    ("reply", "usage"),
    [
        ('{"score": 1' + "0" * 5000 + "}", Usage(100, 5)),  # past Python's 4,300-digit limit
        ('{"score": 7}', Usage(10**17, 10**17)),  # a bill that fits no integer column
    ],
    ids=["5000-digit-score", "1e17-tokens"],
)
async def test_a_judge_reply_no_runtime_can_use_falls_back_to_the_offline_score(
    genesis: Genesis, ledger: Ledger, clock: ManualClock, reply: str, usage: Usage
) -> None:
    await ledger.submit(ops.SetApiLimit(limit_nd=NANODOLLARS, authority="world"))
    provider = ScriptedProvider(default=reply, usage=usage)
    judge = _judge(provider, ledger, clock)
    offline = offline_score(TEXT["bob/b"], [TEXT["carol/c"]])
    score = await judge.score("bob/b", TEXT["bob/b"], [TEXT["carol/c"]])
    assert score in (offline, 7.0)  # the bill's fault is the server's; the score may stand
    if usage.prompt_tokens > 10**9:
        # The overbilled model is stopped: the next artifact is judged offline, uncalled.
        assert await judge.score("alice/a", TEXT["alice/a"], [TEXT["bob/b"]]) == offline_score(
            TEXT["alice/a"], [TEXT["bob/b"]]
        )
        assert len(provider.requests) == 1
    else:
        assert score == offline
    assert (await ledger.api_budget()).reserved_nd == 0


async def test_no_winner_pays_more_than_it_bid_and_extra_bids_on_a_winner_are_refunded(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await bid(genesis, ledger, "alice", "alice/a", 60)
    await bid(genesis, ledger, "bob", "alice/a", 50)  # on the same artifact: cannot also win
    await bid(genesis, ledger, "carol", "carol/c", 10)
    settings = OracleSettings(slots=2, mint_per_point=0, reserve=5)
    receipt = await resolve(ledger, settings, clock.now(), authority="world")
    assert receipt is not None
    paid = {w["bidder"]: w["paid"] for w in receipt.details["winners"]}
    assert paid == {"alice": 5, "carol": 5}  # no bid on a non-winning artifact: the reserve
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (95, 100)
    assert await ledger.scrip("carol") == 95 and await held(ledger) == 0


async def test_an_uncontested_bid_pays_the_reserve_and_a_bid_below_it_cannot_win(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await bid(genesis, ledger, "alice", "alice/a", 3)
    settings = OracleSettings(slots=1, mint_per_point=1, reserve=5)
    receipt = await resolve(ledger, settings, clock.now(), authority="world")
    assert receipt is not None and receipt.details["winners"] == []
    assert await ledger.scrip("alice") == 100  # refunded


async def test_world_made_artifacts_cannot_be_bid_on(genesis: Genesis, ledger: Ledger) -> None:
    for artifact in ("genesis_ledger", "rights/config/alice", "debts/1"):
        with pytest.raises(InvalidRequest, match="made by the world"):
            await bid(genesis, ledger, "alice", artifact, 5)


async def test_a_winner_listed_in_escrow_pays_its_seller(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await bid(genesis, ledger, "bob", "alice/a", 10)
    inv = Invocation("alice", ledger, clock)
    await genesis.invoke(inv, "genesis_escrow", "deposit", {"artifact_id": "alice/a", "price": 50})
    settings = OracleSettings(slots=1, mint_per_point=5, max_mint=1000, reserve=5)
    receipt = await resolve(ledger, settings, clock.now(), authority="world")
    assert receipt is not None
    (winner,) = receipt.details["winners"]
    assert winner["owner"] == "alice" and winner["minted"] > 0
    assert await ledger.scrip("alice") == 100 + winner["minted"]
