"""The budget authority's properties, as hypothesis tests of the object itself."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_ecology.config import ModelPrice
from agent_ecology.ledger import NANODOLLARS, BudgetExhausted
from agent_ecology.llm import (
    Budget,
    CompletionRequest,
    Message,
    ModelOverbilled,
    ShareSpent,
    UnpricedModel,
    Usage,
    cost_nd,
    prompt_token_bound,
)
from agent_ecology.llm.budget import MIN_ANSWER_TOKENS, Overbilling

prices = st.builds(
    ModelPrice,
    input=st.floats(0, 1000, allow_nan=False),
    output=st.floats(0.001, 1000, allow_nan=False),
    max_output_tokens=st.integers(1, 100_000),
)
texts = st.text(max_size=300)


def _request(text: str, max_tokens: int | None) -> CompletionRequest:
    return CompletionRequest(
        "alice", "m", (Message("system", "rules"), Message("user", text)), max_tokens
    )


@given(price=prices, text=texts, max_tokens=st.none() | st.integers(1, 200_000), data=st.data())
def test_the_worst_case_covers_every_bill_an_honest_server_can_send(
    price: ModelPrice, text: str, max_tokens: int | None, data: st.DataObject
) -> None:
    budget = Budget({"m": price}, billed=True)
    request = budget.bounded(_request(text, max_tokens))
    assert request.max_tokens is not None and request.max_tokens <= price.max_output_tokens
    prompt = data.draw(st.integers(0, prompt_token_bound(request.messages)))
    answer = data.draw(st.integers(0, request.max_tokens))
    assert cost_nd(price, Usage(prompt, answer)) <= budget.worst_case_nd(request)


@given(
    price=prices,
    text=texts,
    max_tokens=st.none() | st.integers(1, 200_000),
    share=st.none() | st.floats(0, 10, allow_nan=False),
    world=st.none() | st.integers(0, 10 * NANODOLLARS),
)
def test_a_fitted_call_fits_what_is_left_or_is_refused_with_the_right_reason(
    price: ModelPrice, text: str, max_tokens: int | None, share: float | None, world: int | None
) -> None:
    budget = Budget({"m": price}, billed=True)
    request = _request(text, max_tokens)
    try:
        fitted, note = budget.fit(request, share_dollars=share, world_left_nd=world)
    except (ShareSpent, BudgetExhausted) as exc:
        # Refused only when not even the prompt and a short answer fit what is left.
        short = budget.bounded(request)
        short = CompletionRequest(
            short.agent_id,
            short.model,
            short.messages,
            min(MIN_ANSWER_TOKENS, short.max_tokens or 1),
        )
        left = min(
            share * NANODOLLARS if share is not None else float("inf"),
            world if world is not None else float("inf"),
        )
        assert budget.worst_case_nd(short) > left - 1
        assert isinstance(exc, BudgetExhausted) == (
            world is not None and (share is None or world <= share * NANODOLLARS + 1e-6)
        )
        return
    worst = budget.worst_case_nd(fitted)
    if share is not None:
        assert worst <= share * NANODOLLARS + 1e-6
    if world is not None:
        assert worst <= world
    assert (note != "") == (fitted.max_tokens != budget.bounded(request).max_tokens)


def test_an_unbilled_budget_fits_everything_and_costs_nothing() -> None:
    budget = Budget({}, billed=False)
    request = _request("hello", None)
    assert budget.fit(request, share_dollars=0.0, world_left_nd=0) == (request, "")
    assert budget.worst_case_nd(request) == 0
    budget.check_model("anything")  # not enforced when nothing is billed


def test_one_error_for_an_unpriced_model_wherever_it_is_asked() -> None:
    budget = Budget(
        {"m": ModelPrice(input=1, output=1, max_output_tokens=10)},
        billed=False,
        enforce_prices=True,
    )
    with pytest.raises(UnpricedModel, match=r"'x' has no price.*use one of: m"):
        budget.check_model("x")
    with pytest.raises(UnpricedModel):
        budget.price("x")
    assert budget.unpriced([("llm.model", "m"), ("agent a: model", "x")]) == [
        str(UnpricedModel("x", ["m"], "agent a: model"))
    ]


@given(
    events=st.lists(
        st.one_of(
            st.tuples(
                st.just("observe"), st.integers(0, 100), st.integers(0, 100), st.integers(0, 200)
            ),
            st.tuples(st.just("share"), st.sampled_from(["a", "b", "c"]), st.booleans()),
            st.tuples(st.just("declare"), st.text(min_size=1, max_size=5)),
        ),
        max_size=30,
    )
)
def test_the_world_is_spent_exactly_when_one_of_its_rules_says_so(
    events: list[tuple[object, ...]],
) -> None:
    async def scenario() -> None:
        budget = Budget({}, billed=True, agents=3)
        out: set[str] = set()
        expected_reason = None
        for event in events:
            reason = None
            if event[0] == "observe":
                limit, reserved, spent = (int(x) for x in event[1:])  # type: ignore[call-overload]
                budget.observe(limit, reserved, spent)
                view = budget.view()
                assert (
                    view is not None and view[0] == max(0, limit - reserved - spent) / NANODOLLARS
                )
                if spent >= limit:
                    reason = "the API budget is spent"
            elif event[0] == "share":
                agent, spent_share = str(event[1]), bool(event[2])
                budget.share_spent(agent, spent_share)
                (out.add if spent_share else out.discard)(agent)
                if len(out) == 3:
                    reason = "every agent's llm_budget share is spent"
            else:
                budget.declare_spent(str(event[1]))
                reason = str(event[1])
            if expected_reason is None and reason is not None:
                expected_reason = reason
            assert budget.spent.is_set() == (expected_reason is not None)
            if expected_reason is not None:
                assert budget.spent_reason.startswith(expected_reason)  # the first reason is kept

    anyio.run(scenario)


def test_an_overbilled_model_is_blocked_at_once_and_told_once() -> None:
    told: list[Overbilling] = []
    budget = Budget(
        {"m": ModelPrice(input=1, output=1, max_output_tokens=10)},
        billed=True,
        on_overbilled=told.append,
    )
    budget.check_not_overbilled("m")
    bill = Overbilling("m", "http://127.0.0.1:9/v1", 100, 5000)
    budget.record_overbilling(bill)
    budget.record_overbilling(Overbilling("m", "http://127.0.0.1:9/v1", 100, 7000))
    assert told == [bill] and len(budget.overbillings) == 2
    with pytest.raises(ModelOverbilled, match=r"127\.0\.0\.1:9.*update_config"):
        budget.check_not_overbilled("m")
    assert "$0.000005 more than the $0.000000 reserved" in bill.describe()
