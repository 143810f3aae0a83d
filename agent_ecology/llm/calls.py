"""One think step of an agent: reserve, attempt, settle, and retry, with every attempt charged.

For a provider that bills dollars, every attempt is bracketed by the ledger::

    reserve worst case  ->  provider.complete()  ->  settle to the usage reported

The reservation is taken from the world's budget and the agent's ``llm_budget`` in one
transaction before the request is sent, so concurrent agents can never spend past
``llm.max_api_cost`` together. Retries (429, 5xx, timeouts, lost connections) are made here
and not inside the SDK, so each one is reserved and charged on its own. An attempt whose
usage cannot be known (a timeout, a garbled answer, a cancelled request) is charged its
worst case: the provider may have billed it.

A settle the database will not take (its write lock held by another program, a full disk)
is retried until it is written, so that no reservation outlives its call. A server that
bills more than the reservation (it ignored the cap sent) is charged what it billed, and
the budget stops all further calls to that model: see :mod:`agent_ecology.llm.budget`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from agent_ecology.clock import Clock
from agent_ecology.config import LLMSettings, ModelPrice
from agent_ecology.ledger import CallStatus, Ledger, LedgerUnavailable, ops
from agent_ecology.ledger.ops.llm import MAX_CHARGE_ND
from agent_ecology.llm.budget import Budget, Overbilling
from agent_ecology.llm.errors import ProviderError, RateLimited, ServerError
from agent_ecology.llm.pricing import cost_nd
from agent_ecology.llm.types import Completion, CompletionRequest, Provider, Usage

__all__ = ["SETTLE_PATIENCE", "LLMCaller", "RetryPolicy", "Thought"]

_log = logging.getLogger("agent_ecology.llm")

SETTLE_PATIENCE = 30.0
"""Seconds a stopping run keeps trying to settle a call the database will not take."""
SETTLE_GIVE_UP = 600.0
"""Seconds of failing after which a settle gives up even if no stop was seen."""


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

    ``budget`` prices the calls and says which may be started. When it is not billed (the
    baseline policy, a local model) calls are not reserved or recorded as LLM calls.
    """

    def __init__(
        self,
        provider: Provider,
        ledger: Ledger,
        *,
        clock: Clock,
        budget: Budget,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        settle_patience: float = SETTLE_PATIENCE,
        stop: anyio.Event | None = None,
    ) -> None:
        self.provider = provider
        self.ledger = ledger
        self.clock = clock
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.settle_patience = settle_patience
        self.stop = stop
        """The run's stop signal, for calls made without one (the oracle's judge)."""
        self._rng = rng or random.Random()
        self._in_flight = 0

    @property
    def billed(self) -> bool:
        return self.budget.billed

    @property
    def in_flight(self) -> int:
        """Billed attempts reserved by this caller and not yet settled."""
        return self._in_flight

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
        agent's own ``llm_budget`` cannot, :class:`~agent_ecology.llm.budget.UnpricedModel`
        and :class:`~agent_ecology.llm.budget.ModelOverbilled`: the agent cannot think, which
        is not a provider failure.
        """
        thought = Thought(completion=None)
        budget = self.budget
        request = budget.bounded(request)
        price = budget.price(request.model) if budget.billed else None
        worst = budget.worst_case_nd(request)
        for attempt in range(1, self.retry.max_retries + 2):
            if price is not None:
                budget.check_not_overbilled(request.model)
            thought.attempts = attempt
            try:
                completion = await self._attempt(request, price, worst, attempt, thought, stop)
                thought.completion = completion
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
        stop: anyio.Event | None,
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
            self._in_flight += 1
        settle = _Settle(self, call_id, request.model, worst, stop)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await settle(CallStatus.FAILED, 0, Usage(), "cancelled before it was sent")
            raise
        try:
            completion = await self.provider.complete(request)
        except ProviderError as exc:
            usage = exc.usage if exc.usage is not None else Usage()
            charge = worst if not exc.usage_known else cost_nd(price, usage)
            thought.usage = thought.usage + usage
            thought.cost_nd += min(charge, MAX_CHARGE_ND)
            await settle(CallStatus.FAILED, charge, exc.usage, f"{exc.code}: {exc}")
            raise
        except BaseException as exc:
            # Cancelled (the run is stopping) or a bug: the request may have been billed.
            thought.cost_nd += worst
            await settle(CallStatus.FAILED, worst, None, f"interrupted: {exc!r}")
            raise
        charge = cost_nd(price, completion.usage)
        thought.usage = thought.usage + completion.usage
        thought.cost_nd += min(charge, MAX_CHARGE_ND)
        await settle(CallStatus.SETTLED, charge, completion.usage, None)
        return completion


class _Settle:
    """Closes one reserved attempt; retried until the ledger takes it.

    A settle that cannot be written (another program holds the database's write lock past
    the busy timeout, a full disk) is tried again, backing off up to a second, for as long
    as the run goes on, and for ``settle_patience`` seconds once it is stopping; a
    reservation never stays open behind a call that ended. Only a run that stops with the
    database still unwritable leaves it open, and the next run charges it its worst case.
    """

    def __init__(
        self,
        caller: LLMCaller,
        call_id: str,
        model: str,
        reserved_nd: int,
        stop: anyio.Event | None,
    ) -> None:
        self.caller = caller
        self.call_id = call_id
        self.model = model
        self.reserved_nd = reserved_nd
        self.stop = stop

    async def __call__(
        self, status: CallStatus, charge: int, usage: Usage | None, error: str | None
    ) -> None:
        caller = self.caller
        server = caller.provider.name
        # Shielded: a reservation must not stay open because the run is stopping.
        with anyio.CancelScope(shield=True):
            try:
                op = ops.SettleCall(
                    call_id=self.call_id,
                    status=status,
                    cost_nd=min(charge, MAX_CHARGE_ND),
                    billed_nd=charge if charge > MAX_CHARGE_ND else None,
                    prompt_tokens=None if usage is None else usage.prompt_tokens,
                    completion_tokens=None if usage is None else usage.completion_tokens,
                    cached_tokens=None if usage is None else usage.cached_tokens,
                    error=None if error is None else _storable(error[:500]),
                )
                written = await self._submit(op)
                if not written:
                    return
            finally:
                caller._in_flight -= 1
        if charge > self.reserved_nd:
            # Blocked at once; the record follows (a lost one only loses the event).
            caller.budget.record_overbilling(
                Overbilling(self.model, server, self.reserved_nd, charge)
            )
            report = ops.ReportOverbilling(
                call_id=self.call_id, server=_storable(server), billed_nd=charge
            )
            with anyio.CancelScope(shield=True):
                await self._submit(report)
                # A world this bill took past its limit stops now, not at the next look.
                row = await caller.ledger.api_budget()
                caller.budget.observe(row.limit_nd, row.reserved_nd, row.spent_nd)

    async def _submit(self, op: ops.SettleCall | ops.ReportOverbilling) -> bool:
        """Write ``op``, retrying while the database refuses writes; whether it was written.

        Gives up only ``settle_patience`` seconds after the run began to stop, or after
        :data:`SETTLE_GIVE_UP` seconds of failing in all (a run ended by a crash has no stop
        signal); the next run then charges the reservation its worst case. A settle the
        ledger refuses for its content (it should never be) is written again without it.
        """
        delay, failing_since, stopping_since, bare = 0.05, None, None, False
        while True:
            try:
                await self.caller.ledger.submit(op)
                if failing_since is not None:
                    _log.warning("LLM call %s settled after the database came back", self.call_id)
                return True
            except LedgerUnavailable as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    _log.warning(
                        "cannot settle LLM call %s yet (%s); trying again until it is written",
                        self.call_id,
                        exc,
                    )
                stop = self.stop or self.caller.stop
                if stopping_since is None and stop is not None and stop.is_set():
                    stopping_since = now
                patience = self.caller.settle_patience
                if (stopping_since is not None and now - stopping_since > patience) or (
                    now - failing_since > SETTLE_GIVE_UP
                ):
                    _log.error(
                        "LLM call %s could not be settled in time; its reservation stays open"
                        " and the next run charges it its worst case",
                        self.call_id,
                    )
                    return False
                await anyio.sleep(delay)  # the lock is held in real time, whatever the clock
                delay = min(1.0, delay * 2)
            except Exception as exc:
                if not isinstance(op, ops.SettleCall) or bare:
                    _log.error("LLM call %s: %s refused (%r)", self.call_id, op.kind, exc)
                    return False
                _log.error(
                    "LLM call %s: its settle was refused (%r); settled without its details",
                    self.call_id,
                    exc,
                )
                op, bare = (
                    ops.SettleCall(call_id=self.call_id, status=op.status, cost_nd=op.cost_nd),
                    True,
                )


def _storable(text: str) -> str:
    """``text`` as valid Unicode (a server's error may hold a lone surrogate)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def dollars(nanodollars: int) -> float:
    """Nanodollars as dollars, for display."""
    return nanodollars / ops.NANODOLLARS
