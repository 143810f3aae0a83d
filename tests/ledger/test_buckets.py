from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent_ecology.ledger.buckets import Bucket, available, settle, spend

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_seed_003_worked_example() -> None:
    """Seed 003: rate 10/s, capacity 100.

    T=0 100; spend 60 at T=5 -> 40; T=10 90; spend 100 -> -10 (debt); three seconds on, 20.
    The seed spends the 100 "at T=12" against the 90 it showed at T=10; under its own formula
    the bucket accrues 20 more between T=10 and T=12 (capped at 100), so the spend at T=12
    lands at 0, not -10. We reproduce the seed's numbers where its formula gives them, and
    check the continuous formula at T=12 separately.
    """
    b = Bucket(balance=100.0, updated_at=0.0, rate=10.0, capacity=100.0)
    assert b.available(0.0) == 100.0
    b = spend(b, 60.0, now=5.0)
    assert b.balance == 40.0
    assert b.available(10.0) == 90.0  # min(100, 40 + 5 * 10)

    at_ten = spend(b, 100.0, now=10.0)  # the 100 charged against the 90 the seed shows
    assert at_ten.balance == -10.0
    assert at_ten.is_in_debt(10.0)
    assert available(-10.0, 12.0, 10.0, 100.0, 15.0) == 20.0  # min(100, -10 + 3 * 10)
    assert at_ten.available(13.0) == 20.0  # the same three seconds of accrual
    assert not at_ten.is_in_debt(11.0)

    at_twelve = spend(b, 100.0, now=12.0)  # the continuous formula at the seed's T=12
    assert at_twelve.balance == 0.0
    assert at_twelve.available(15.0) == 30.0


def test_debt_accrues_out() -> None:
    b = spend(Bucket(5.0, 0.0, 2.0, 10.0), 25.0, now=0.0)
    assert b.available(0.0) == -20.0
    assert b.is_in_debt(9.99)
    assert not b.is_in_debt(10.0)


def test_clock_going_backwards_counts_as_no_time() -> None:
    b = Bucket(0.0, 100.0, 1.0, 50.0)
    assert b.available(90.0) == 0.0
    # The stored time in the future counts as now: the next change is stamped with now.
    assert settle(b, 90.0) == Bucket(0.0, 90.0, 1.0, 50.0)


def test_a_debt_stamped_in_the_future_clears_at_its_rate_from_now() -> None:
    # Spent 5 into debt while the clock read ten years ahead, then the clock came back.
    ten_years = 10 * 365 * 86400.0
    b = Bucket(-5.0, 1000.0 + ten_years, 1.0, 50.0)
    assert b.is_in_debt(1000.0)
    assert b.debt_clears_at(1000.0) == 1005.0
    assert settle(b, 1000.0).debt_clears_at(1000.0) == 1005.0
    assert settle(b, 1000.0).available(1005.0) == 0.0


def test_in_debt_is_one_definition_that_ignores_round_off() -> None:
    assert not Bucket(-1e-12, 0.0, 1.0, 5.0).is_in_debt(0.0)
    assert Bucket(-1e-6, 0.0, 1.0, 5.0).is_in_debt(0.0)
    assert Bucket(-1e-12, 0.0, 1.0, 5.0).debt_clears_at(0.0) == 0.0


@given(balance=st.floats(-1e6, 1e6), rate=finite, capacity=finite, t1=finite, t2=finite)
def test_available_never_exceeds_capacity_and_never_falls(
    balance: float, rate: float, capacity: float, t1: float, t2: float
) -> None:
    balance = min(balance, capacity)
    early, late = sorted((t1, t2))
    a1 = available(balance, 0.0, rate, capacity, early)
    a2 = available(balance, 0.0, rate, capacity, late)
    assert a1 <= capacity and a2 <= capacity
    assert a2 >= a1


@given(balance=st.floats(-1e4, 1e4), rate=finite, capacity=finite, t1=finite, dt=finite)
def test_settling_does_not_change_what_is_available(
    balance: float, rate: float, capacity: float, t1: float, dt: float
) -> None:
    b = Bucket(min(balance, capacity), 0.0, rate, capacity)
    settled = settle(b, t1)
    assert math.isclose(
        settled.available(t1 + dt), b.available(t1 + dt), rel_tol=1e-9, abs_tol=1e-6
    )
