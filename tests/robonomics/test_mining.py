"""Torq mining has the shape the seed asks for (each property its own test)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.robonomics import MiningParams, mine

P = MiningParams()
TICKS = 20


def curve(kind: str, *, done: int = 0, tick_rate: float = 1.0) -> list[float]:
    return [
        mine(P, kind=kind, tick=t, ticks=TICKS, done=done, tick_rate=tick_rate).torq
        for t in range(TICKS)
    ]


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(["complex", "simple"]), done=st.integers(0, 50))
def test_experience_with_the_same_kind_of_task_mines_more(kind: str, done: int) -> None:
    assert sum(curve(kind, done=done + 1)) > sum(curve(kind, done=done))


def test_complex_tasks_start_slowly_and_produce_the_most_by_the_end() -> None:
    complex_, simple = curve("complex"), curve("simple")
    assert complex_[0] < simple[0]  # slow start
    assert complex_[-1] > simple[-1]  # strong finish
    assert complex_ == sorted(complex_)  # rising all along
    assert sum(complex_) > sum(simple)  # the most in all


def test_complex_tasks_draw_more_token_torq_and_simple_ones_are_flat() -> None:
    draws = {
        kind: mine(P, kind=kind, tick=0, ticks=TICKS, done=0, tick_rate=1.0).draw
        for kind in ("complex", "simple")
    }
    assert draws["complex"] > draws["simple"]
    simple = curve("simple")
    assert max(simple) - min(simple) < 1e-12  # flat
    complex_ = curve("complex")
    assert max(complex_) - min(complex_) > 1.0


@settings(max_examples=50, deadline=None)
@given(
    kind=st.sampled_from(["complex", "simple"]),
    high=st.floats(0.05, 100, allow_nan=False),
    ratio=st.floats(0.05, 0.95),
)
def test_a_lower_tick_rate_gives_more_torq_per_token_torq_but_less_in_all(
    kind: str, high: float, ratio: float
) -> None:
    low = high * ratio
    fast = [mine(P, kind=kind, tick=t, ticks=TICKS, done=0, tick_rate=high) for t in range(TICKS)]
    slow = [mine(P, kind=kind, tick=t, ticks=TICKS, done=0, tick_rate=low) for t in range(TICKS)]
    assert all(s.rate > f.rate for s, f in zip(slow, fast, strict=True))  # per unit
    assert sum(s.torq for s in slow) < sum(f.torq for f in fast)  # overall


def test_no_tick_rate_mines_nothing() -> None:
    assert mine(P, kind="complex", tick=0, ticks=TICKS, done=0, tick_rate=0.0).torq == 0.0
