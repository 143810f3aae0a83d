"""One think step of an agent: reserve, attempt, settle, and retry, with every attempt charged.

For a provider that bills dollars, every attempt is bracketed by the ledger::

    reserve worst case  ->  provider.complete()  ->  settle to the usage reported

The reservation is taken from the world's budget and the agent's ``llm_budget`` in one
transaction before the request is sent, so concurrent agents can never spend past
``llm.max_api_cost`` together. Retries (429, 5xx, timeouts, lost connections) are made here
and not inside the SDK, so each one is reserved and charged on its own. An attempt whose
usage cannot be known (a timeout, a garbled answer, a cancelled request) is charged its
worst case: the provider may have billed it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import anyio

from agent_ecology.clock import Clock
from agent_ecology.config import LLMSettings, ModelPrice
from agent_ecology.ledger import Ledger, ops
from agent_ecology.llm.errors import ProviderError, RateLimited, ServerError
from agent_ecology.llm.pricing import cost_nd, worst_case_nd
from agent_ecology.llm.types import Completion, CompletionRequest, Provider, Usage

__all__ = ["LLMCaller", "RetryPolicy", "Thought", "UnpricedModel"]


class UnpricedModel(LookupError):
    """A billed provider was asked for a model that has no price in ``llm.prices``."""

    code = "unpriced_model"

    def __init__(self, model: str, known: list[str]) -> None:
        self.model = model
        super().__init__(
            f"model {model!r} has no price in llm.prices, so its calls cannot be charged;"
            f" use one of: {', '.join(known) or '(none priced)'}"
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry an attempt that may succeed later."""

    max_retries: int = 4
    backoff: float = 1.0
    backoff_max: float = 30.0

    @classmethod
    def from_settings(cls, llm: LLMSettings) -> RetryPolicy:
        return cls(llm.max_retries, llm.retry_backoff, llm.retry_backoff_max)

    def delay(self, retry: int, error: ProviderError, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``error``."""
        retry_after: float | None = None
        if isinstance(error, RateLimited | ServerError):
            retry_after = error.retry_after
        if retry_after is not None:
            return max(0.0, retry_after)  # the server said when: do as it says
        base = min(self.backoff_max, self.backoff * 2.0 ** (retry - 1))
        return base * (0.5 + rng.random() / 2)  # jitter, so that agents do not retry in step


@dataclass(slots=True)
class Thought:
    """The outcome of one think step, over all its attempts."""

    completion: Completion | None
    error: ProviderError | None = None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    cost_nd: int = 0
    compute_seconds: float = 0.0  # of a model that runs here, over all attempts


class LLMCaller:
    """Makes an agent's LLM call through ``provider``, charging every attempt to ``ledger``.

    ``billed`` is false for providers that cost no dollars (the baseline policy, a local
    model): their calls are then not reserved or recorded as LLM calls.
    """

    def __init__(
        self,
        provider: Provider,
        ledger: Ledger,
        *,
        clock: Clock,
        prices: Mapping[str, ModelPrice],
        billed: bool,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.ledger = ledger
        self.clock = clock
        self.prices = dict(prices)
        self.billed = billed
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()

    def price(self, model: str) -> ModelPrice:
        """The price of ``model``; :class:`UnpricedModel` if it has none."""
        try:
            return self.prices[model]
        except KeyError:
            raise UnpricedModel(model, sorted(self.prices)) from None

    def bounded(self, request: CompletionRequest) -> CompletionRequest:
        """``request`` with the output cap that its reservation assumes, stated explicitly.

        For a billed provider the cap sent is ``min(max_tokens, model's output limit)``, or the
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
        return worst_case_nd(self.price(request.model), request.messages, request.max_tokens)

    async def think(
        self,
        request: CompletionRequest,
        *,
        stop: anyio.Event | None = None,
        on_retry: Callable[[ProviderError], None] | None = None,
    ) -> Thought:
        """Run ``request`` to an answer or a final error; no retry is started once ``stop`` is set.

        Raises :class:`~agent_ecology.ledger.BudgetExhausted` when the world's budget cannot
        cover an attempt, :class:`~agent_ecology.ledger.InsufficientResource` when the
        agent's own ``llm_budget`` cannot, and :class:`UnpricedModel`: the agent cannot
        think, which is not a provider failure.
        """
        thought = Thought(completion=None)
        request = self.bounded(request)
        price = self.price(request.model) if self.billed else None
        worst = self.worst_case_nd(request)
        for attempt in range(1, self.retry.max_retries + 2):
            thought.attempts = attempt
            try:
                thought.completion = await self._attempt(request, price, worst, attempt, thought)
                thought.error = None
                return thought
            except ProviderError as exc:
                thought.error = exc
                if not exc.retryable or attempt > self.retry.max_retries:
                    return thought
                if stop is not None and stop.is_set():
                    return thought
                if on_retry is not None:
                    on_retry(exc)
                delay = self.retry.delay(attempt, exc, self._rng)
                await self.clock.sleep_until(self.clock.now() + delay, wake=stop)
                if stop is not None and stop.is_set():
                    return thought
        return thought

    async def _attempt(
        self,
        request: CompletionRequest,
        price: ModelPrice | None,
        worst: int,
        attempt: int,
        thought: Thought,
    ) -> Completion:
        if price is None:
            completion = await self.provider.complete(request)
            thought.usage = thought.usage + completion.usage
            thought.compute_seconds += completion.compute_seconds
            return completion
        call_id = f"{request.agent_id}:{uuid.uuid4().hex}"
        # Shielded: a reservation that commits must be known here, to be settled.
        with anyio.CancelScope(shield=True):
            await self.ledger.submit(
                ops.ReserveCall(
                    call_id=call_id,
                    agent_id=request.agent_id,
                    model=request.model,
                    attempt=attempt,
                    reserve_nd=worst,
                )
            )
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await self._settle(call_id, "failed", 0, Usage(), "cancelled before it was sent")
            raise
        try:
            completion = await self.provider.complete(request)
        except ProviderError as exc:
            usage = exc.usage if exc.usage is not None else Usage()
            charge = worst if not exc.usage_known else cost_nd(price, usage)
            thought.usage = thought.usage + usage
            thought.cost_nd += charge
            await self._settle(call_id, "failed", charge, exc.usage, f"{exc.code}: {exc}")
            raise
        except BaseException as exc:
            # Cancelled (the run is stopping) or a bug: the request may have been billed.
            thought.cost_nd += worst
            await self._settle(call_id, "failed", worst, None, f"interrupted: {exc!r}")
            raise
        charge = cost_nd(price, completion.usage)
        thought.usage = thought.usage + completion.usage
        thought.cost_nd += charge
        await self._settle(call_id, "settled", charge, completion.usage, None)
        return completion

    async def _settle(
        self, call_id: str, status: str, charge: int, usage: Usage | None, error: str | None
    ) -> None:
        # Shielded: a reservation must not stay open because the run is stopping.
        with anyio.CancelScope(shield=True):
            await self.ledger.submit(
                ops.SettleCall(
                    call_id=call_id,
                    status=status,
                    cost_nd=charge,
                    prompt_tokens=None if usage is None else usage.prompt_tokens,
                    completion_tokens=None if usage is None else usage.completion_tokens,
                    error=None if error is None else error[:500],
                )
            )


def dollars(nanodollars: int) -> float:
    """Nanodollars as dollars, for display."""
    return nanodollars / ops.NANODOLLARS
