"""The baseline policy trades as Gode and Sunder's ZI-C traders do, whatever its situation:
every bid is at most its value of a lot and within its scrip, every ask at least that value
and within what it can spare, which is never more than it holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.llm.baseline import ZeroIntelligencePolicy, value_per_lot

LOTS = {"compute:rate": 0.1, "compute:units": 1.0, "disk:capacity": 10.0}


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    capacity = draw(st.floats(0, 1000))
    quota = draw(st.floats(0, 10_000))
    return {
        "agent_id": "alice",
        "scrip": draw(st.integers(0, 10**6)),
        "flow": {"compute": draw(st.floats(0, 1)) * capacity},
        "capacity": {"compute": capacity},
        "rate": {"compute": draw(st.floats(0, 100))},
        "quota": {"disk": quota},
        "stock": {"disk": draw(st.floats(0, 1)) * quota},
        "others": ["bob", "carol"],
        "exchange": {
            good: {"lot": lot, "bid": draw(st.none() | st.integers(1, 50)), "ask": None}
            for good, lot in LOTS.items()
        },
    }


def orders(obs: dict[str, Any], seed: int, turns: int = 60) -> list[tuple[str, dict[str, Any]]]:
    policy = ZeroIntelligencePolicy(seed=seed)
    out = []
    for _ in range(turns):
        action = policy.choose(obs)
        if action.get("artifact_id") == "genesis_exchange":
            out.append((action["method"], action["args"]))
    return out


@settings(max_examples=150, deadline=None)
@given(observations(), st.integers(0, 10**6))
def test_bids_never_exceed_the_value_or_the_scrip_and_asks_never_go_below_it(
    obs: dict[str, Any], seed: int
) -> None:
    for method, args in orders(obs, seed):
        assert method in ("bid", "ask")
        value, spare = value_per_lot(obs, args["good"], LOTS[args["good"]])
        assert isinstance(args["price"], int) and args["price"] >= 1
        assert 1 <= args["quantity"] <= 5
        assert args["expires_in"] in (20, 60, 120)
        if method == "bid":
            assert args["price"] <= value
            assert args["price"] * args["quantity"] <= obs["scrip"]
        else:
            assert args["price"] >= value
            assert args["quantity"] <= spare


@settings(max_examples=300, deadline=None)
@given(observations())
def test_what_it_would_spare_is_never_more_than_it_holds(obs: dict[str, Any]) -> None:
    for good, lot in LOTS.items():
        value, spare = value_per_lot(obs, good, lot)
        assert value > 0 and spare >= 0
        held = {
            "compute:rate": obs["rate"]["compute"],
            "compute:units": obs["flow"]["compute"],
            "disk:capacity": obs["stock"]["disk"],  # free quota only: used bytes stay
        }[good]
        assert spare * lot <= held + 1e-9, (good, spare, held)


def test_a_short_agent_bids_and_an_agent_with_plenty_asks() -> None:
    base: dict[str, Any] = {
        "agent_id": "alice",
        "scrip": 500,
        "rate": {"compute": 10.0},
        "capacity": {"compute": 100.0},
        "quota": {"disk": 1000.0},
        "others": [],
        "exchange": {good: {"lot": lot} for good, lot in LOTS.items()},
    }
    short = {**base, "flow": {"compute": 5.0}, "stock": {"disk": 50.0}}  # low bucket, full disk
    rich = {**base, "flow": {"compute": 100.0}, "stock": {"disk": 1000.0}}  # full, unused
    short_orders = orders(short, seed=1, turns=400)
    rich_orders = orders(rich, seed=1, turns=400)
    assert {m for m, _ in short_orders} == {"bid"}  # it holds nothing spare
    assert {m for m, _ in rich_orders} >= {"ask"}
    # Each lot is dearer to the agent that is short of it.
    for good, lot in LOTS.items():
        assert value_per_lot(short, good, lot)[0] >= value_per_lot(rich, good, lot)[0], good
