"""The one authority on what LLM calls cost and whether the world may start another.

:class:`Budget` holds the prices (``llm.prices``), and decides, for everyone who asks:

- whether a model is priced (:meth:`Budget.price`, :meth:`Budget.require_priced`; one error,
  :class:`UnpricedModel`);
- what an attempt can cost at most (:meth:`Budget.worst_case_nd`), with the output cap sent
  stated explicitly (:meth:`Budget.bounded`);
- how to fit a call into an agent's share or what the world has left (:meth:`Budget.fit`:
  a lower cap, or :class:`ShareSpent` / :class:`~agent_ecology.ledger.BudgetExhausted`);
- which models are blocked because their server billed more than was reserved
  (:meth:`Budget.overbilled`);
- when the world's dollars are spent: the one "stop" signal (:attr:`Budget.spent`), raised
  by :meth:`Budget.declare_spent`, which the loops and the runtime's budget watch call and
  the runtime waits on.

The ledger enforces the limit itself (a reservation that does not fit is refused in its
transaction); this object decides everything around it, so that no two places can disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import anyio

from agent_ecology.config import ModelPrice
from agent_ecology.ledger import NANODOLLARS, BudgetExhausted
from agent_ecology.llm.pricing import cost_nd, prompt_token_bound, worst_case_nd
from agent_ecology.llm.types import CompletionRequest, Usage

__all__ = [
    "MIN_ANSWER_TOKENS",
    "Budget",
    "ModelOverbilled",
    "Overbilling",
    "ShareSpent",
    "UnpricedModel",
]

MIN_ANSWER_TOKENS = 16
"""The shortest answer worth calling for when an agent's share is nearly spent."""


class UnpricedModel(LookupError):
    """A model that must be priced (a billed provider's) has no price in ``llm.prices``."""

    code = "unpriced_model"

    def __init__(self, model: str, known: Iterable[str], where: str = "model") -> None:
        self.model = model
        self.where = where
        shown = ", ".join(sorted(known)) or "none priced"
        super().__init__(
            f"{where} {model!r} has no price in llm.prices, so its calls cannot be charged;"
            f" add llm.prices.{model}: {{input: <$ per 1M tokens>, output: <$ per 1M tokens>,"
            f" max_output_tokens: N}}, or use one of: {shown}"
        )


class ShareSpent(Exception):
    """The agent's own ``llm_budget`` share cannot cover even a short call."""

    code = "insufficient_resource"


class ModelOverbilled(Exception):
    """Calls to this model are stopped: its server billed more than was reserved."""

    code = "model_overbilled"


@dataclass(frozen=True, slots=True)
class Overbilling:
    """A server billed more than the worst case reserved for a call."""

    model: str
    server: str
    reserved_nd: int
    billed_nd: int

    @property
    def excess_nd(self) -> int:
        return self.billed_nd - self.reserved_nd

    def describe(self) -> str:
        return (
            f"the server {self.server} billed ${self.billed_nd / NANODOLLARS:.6f} for one call to"
            f" {self.model!r}, ${self.excess_nd / NANODOLLARS:.6f} more than the"
            f" ${self.reserved_nd / NANODOLLARS:.6f} reserved (it did not honour the output cap"
            " sent, or reported more prompt tokens than the prompt has bytes); no more calls"
            f" to {self.model!r} are started in this run"
        )


class Budget:
    """Prices, worst cases, fitting, blocked models and the world's "spent" signal.

    ``billed``: the provider bills dollars, so every call is priced, reserved and charged.
    ``enforce_prices``: models must be priced even when not billed now (``llm.provider:
    openai`` without a key: a model set now will be billed once a key is given). ``agents``
    is how many agents draw on the budget: when every one has its own share spent, the
    world is spent too.
    """

    def __init__(
        self,
        prices: Mapping[str, ModelPrice],
        *,
        billed: bool,
        enforce_prices: bool | None = None,
        agents: int = 0,
        on_overbilled: Callable[[Overbilling], None] | None = None,
    ) -> None:
        self.prices = dict(prices)
        self.billed = billed
        self.enforce_prices = billed if enforce_prices is None else enforce_prices or billed
        self.agents = agents
        self.on_overbilled = on_overbilled
        self.spent = anyio.Event()
        self.spent_reason = ""
        self.overbillings: list[Overbilling] = []
        self._blocked: dict[str, Overbilling] = {}
        self._out_of_share: set[str] = set()
        self._left: tuple[int, int] | None = None  # (left, limit) nanodollars, last seen

    # --- prices ---------------------------------------------------------------------------

    def price(self, model: str) -> ModelPrice:
        """The price of ``model``; :class:`UnpricedModel` if it has none."""
        try:
            return self.prices[model]
        except KeyError:
            raise UnpricedModel(model, self.prices) from None

    def check_model(self, model: str, where: str = "model") -> None:
        """Refuse (:class:`UnpricedModel`) a model whose calls could not be charged."""
        if self.enforce_prices and model not in self.prices:
            raise UnpricedModel(model, self.prices, where)

    def unpriced(self, models: Iterable[tuple[str, str]]) -> list[str]:
        """For ``(where, model)`` pairs, a message for each model that must be priced and is not."""
        problems = []
        for where, model in models:
            try:
                self.check_model(model, where)
            except UnpricedModel as exc:
                problems.append(str(exc))
        return problems

    def bounded(self, request: CompletionRequest) -> CompletionRequest:
        """``request`` with the output cap its reservation assumes, stated explicitly.

        For a billed call the cap sent is ``min(max_tokens, model's output limit)``, or the
        limit when the agent set none: what is reserved is exactly what may be billed.
        """
        if not self.billed:
            return request
        limit = self.price(request.model).max_output_tokens
        cap = limit if request.max_tokens is None else min(request.max_tokens, limit)
        return request if cap == request.max_tokens else replace(request, max_tokens=cap)

    def worst_case_nd(self, request: CompletionRequest) -> int:
        """What one attempt of ``request`` can cost at most (0 when not billed)."""
        if not self.billed:
            return 0
        return worst_case_nd(
            self.price(request.model), request.messages, request.max_tokens, request.schema
        )

    def cost_nd(self, model: str, usage: Usage) -> int:
        """What ``usage`` of ``model`` costs, exactly, rounded up (0 when not billed)."""
        return cost_nd(self.price(model), usage) if self.billed else 0

    # --- fitting a call -------------------------------------------------------------------

    def fit(
        self,
        request: CompletionRequest,
        *,
        share_dollars: float | None,
        world_left_nd: int | None,
    ) -> tuple[CompletionRequest, str]:
        """``request`` with its output cap lowered so that its worst case fits what is left.

        ``share_dollars`` is the agent's own ``llm_budget`` available (None: not metered);
        ``world_left_nd`` what the world has left once nothing is in flight (None: unknown,
        the ledger decides). Returns the request and a note for the agent when the cap was
        lowered; raises :class:`ShareSpent` when not even the prompt and a short answer fit
        the agent's share, :class:`~agent_ecology.ledger.BudgetExhausted` when they do not
        fit the world's.
        """
        if not self.billed:
            return request, ""
        request = self.bounded(request)
        if share_dollars is None and world_left_nd is None:
            return request, ""
        share_nd = math.inf if share_dollars is None else share_dollars * NANODOLLARS + 1e-6
        if world_left_nd is not None:
            share_nd = min(share_nd, world_left_nd)
        share_nd = math.floor(max(0.0, share_nd))
        if self.worst_case_nd(request) <= share_nd:
            return request, ""
        price = self.price(request.model)
        prompt_nd = cost_nd(price, Usage(prompt_token_bound(request.messages, request.schema), 0))
        per_token = price.output * 1000  # nanodollars per output token
        fits = int((share_nd - prompt_nd) // per_token) if per_token > 0 else 0
        world_binds = world_left_nd is not None and world_left_nd == share_nd
        if fits < MIN_ANSWER_TOKENS and world_binds:
            raise BudgetExhausted(prompt_nd + MIN_ANSWER_TOKENS * math.ceil(per_token), share_nd)
        if fits < MIN_ANSWER_TOKENS:
            raise ShareSpent(
                f"your llm_budget share (${share_nd / NANODOLLARS:.6f} left) cannot cover a call:"
                f" the prompt alone may cost ${prompt_nd / NANODOLLARS:.6f}; another agent can"
                " give you llm_budget quota (genesis_ledger transfer with resource llm_budget)"
            )
        whose = "the world's API budget" if world_binds else "your llm_budget share"
        note = (
            f"max_tokens was lowered to {fits} for this call: {whose}"
            f" (${share_nd / NANODOLLARS:.6f} left) could not cover more"
        )
        return replace(request, max_tokens=fits), note

    def can_think_within(self, model: str, prompt_tokens: int, left_nd: int) -> bool:
        """Whether a call of about ``prompt_tokens`` and a short answer fits in ``left_nd``."""
        if model not in self.prices:
            return False
        usage = Usage(prompt_tokens, MIN_ANSWER_TOKENS)
        return cost_nd(self.prices[model], usage) <= left_nd

    # --- servers that bill past the reservation ---------------------------------------------

    def overbilled(self, model: str) -> Overbilling | None:
        """Why calls to ``model`` are stopped, or None if they are not."""
        return self._blocked.get(model)

    def check_not_overbilled(self, model: str) -> None:
        blocked = self._blocked.get(model)
        if blocked is not None:
            raise ModelOverbilled(
                f"calls to model {model!r} are stopped for this run: {blocked.server} billed"
                f" ${blocked.excess_nd / NANODOLLARS:.6f} more than was reserved for one call;"
                " choose another priced model with update_config"
            )

    def record_overbilling(self, bill: Overbilling) -> None:
        """A call billed past its reservation: stop starting calls to that model at once."""
        self.overbillings.append(bill)
        first = bill.model not in self._blocked
        self._blocked.setdefault(bill.model, bill)
        if first and self.on_overbilled is not None:
            self.on_overbilled(bill)

    # --- the world's "spent" signal -------------------------------------------------------

    def declare_spent(self, reason: str) -> None:
        """The world can start no more calls: the run stops with ``reason`` (the first kept)."""
        if not self.spent.is_set():
            self.spent_reason = reason
            self.spent.set()

    def observe(self, limit_nd: int, reserved_nd: int, spent_nd: int) -> None:
        """What the ledger says of the world's budget; declares it spent when it is."""
        if not self.billed:
            return
        self._left = (max(0, limit_nd - reserved_nd - spent_nd), limit_nd)
        if spent_nd >= limit_nd:
            self.declare_spent(
                f"the API budget is spent (${spent_nd / NANODOLLARS:.6f} of"
                f" ${limit_nd / NANODOLLARS:.2f})"
            )

    def view(self) -> tuple[float, float] | None:
        """``(dollars left, dollar limit)`` as last observed; None when not billed."""
        if not self.billed or self._left is None:
            return None
        return self._left[0] / NANODOLLARS, self._left[1] / NANODOLLARS

    def drop_agent(self, agent_id: str) -> None:
        """An agent no longer draws on the budget (its loop ended before the run)."""
        self.agents = max(0, self.agents - 1)
        self._out_of_share.discard(agent_id)
        if self.agents and len(self._out_of_share) >= self.agents:
            self.declare_spent("every agent's llm_budget share is spent")

    def share_spent(self, agent_id: str, spent: bool) -> None:
        """An agent's own share is spent (or is no longer); all spent: the world is."""
        if spent:
            self._out_of_share.add(agent_id)
        else:
            self._out_of_share.discard(agent_id)
        if self.agents and len(self._out_of_share) >= self.agents:
            self.declare_spent("every agent's llm_budget share is spent")
