"""The world's side of an Observation: one view, read at one instant."""

from __future__ import annotations

from agent_ecology.agents import WorldObserver, WorldView
from agent_ecology.clock import ManualClock
from agent_ecology.llm.budget import Budget


def test_an_agent_is_not_among_its_own_others() -> None:
    observer = WorldObserver(
        ManualClock(0.0), Budget({}, billed=False), ["a", "b", "c"], oracle_interval=60.0
    )
    assert observer.observe("b").others == ["a", "c"]
    assert observer.observe("z").others == ["a", "b", "c"]


def test_the_view_tells_the_time_the_next_resolution_and_the_robots() -> None:
    clock = ManualClock(125.0)
    robots = {"alice": "(tick 3) r1: producing"}
    observer = WorldObserver(
        clock, Budget({}, billed=False), ["alice"], oracle_interval=60.0, robots=robots.get
    )
    assert observer.observe("alice") == WorldView(
        now=125.0, others=[], next_resolution=180.0, robot="(tick 3) r1: producing"
    )
    clock.set(180.0)  # a resolution instant: the next one is the one after
    assert observer.observe("bob").next_resolution == 240.0
    assert observer.observe("bob").robot is None


def test_the_world_s_dollars_are_shown_only_when_billed() -> None:
    unbilled = WorldObserver(ManualClock(0.0), Budget({}, billed=False), [], oracle_interval=1.0)
    view = unbilled.observe("a")
    assert (view.budget_left, view.budget_limit) == (None, None)
    budget = Budget({}, billed=True)
    budget.observe(limit_nd=2_000_000_000, reserved_nd=250_000_000, spent_nd=250_000_000)
    billed = WorldObserver(ManualClock(0.0), budget, [], oracle_interval=1.0)
    view = billed.observe("a")
    assert (view.budget_left, view.budget_limit) == (1.5, 2.0)
