"""One agent's life: ``while alive: wait until allowed -> think -> act -> pay``.

Every agent runs its own :class:`AgentLoop` task; nothing ticks them. A turn:

1. **Gate**: not asleep (else wait for its own wake conditions), no flow bucket in debt (else
   wait, exactly, until the deepest debt has accrued back to zero, or until someone gives it
   resources).
2. **Context** from its account, its mailbox of recent events, its notes and last result,
   with the world's side from the runtime (an :class:`~agent_ecology.agents.observer.Observer`).
3. **Think**: one LLM call through :class:`~agent_ecology.llm.calls.LLMCaller`, which
   reserves the dollar worst case first (the global and per-agent dollar gate).
4. **Parse** the reply into one action, and **act** through the kernel.
5. **Pay**: the measured CPU time to ``compute`` (with a local model's share of its batch)
   and the tokens to ``llm_rate``, after the work, possibly into debt; the result is
   recorded for the next turn.

Failures (a provider that keeps failing, a bad reply, an unexpected exception) never leave
the loop: they are told to the agent and back off exponentially. Only the world's dollar
budget running out ends the loop, and it tells the runtime to stop.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from agent_ecology.agents.bus import Mailbox
from agent_ecology.agents.context import Observation, render
from agent_ecology.agents.executor import Executor, Outcome
from agent_ecology.agents.meter import CpuMeter
from agent_ecology.agents.observer import Observer
from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.agents.sleep import WakeConditions
from agent_ecology.clock import Clock
from agent_ecology.config import AgentLoopSettings
from agent_ecology.genesis.exchange import PriceBoard
from agent_ecology.ledger import (
    LLM_BUDGET,
    Account,
    AgentRecord,
    BudgetExhausted,
    InsufficientResource,
    Ledger,
    LedgerUnavailable,
    ops,
)
from agent_ecology.llm.budget import ModelOverbilled, ShareSpent, UnpricedModel
from agent_ecology.llm.calls import LLMCaller, Thought
from agent_ecology.llm.errors import RequestRejected
from agent_ecology.llm.pricing import prompt_token_bound
from agent_ecology.llm.types import CompletionRequest

__all__ = ["COMPUTE", "LLM_RATE", "AgentLoop", "AgentState", "AgentStats", "LoopServices"]

COMPUTE = "compute"
"""The flow resource charged with each turn's measured CPU seconds."""
LLM_RATE = "llm_rate"
"""The flow resource charged with each call's tokens."""

_log = logging.getLogger("agent_ecology.agents")


class AgentState(enum.Enum):
    """Where an agent's loop is."""

    STARTING = "starting"
    ACTIVE = "active"
    ASLEEP = "asleep"
    FROZEN = "frozen"
    BACKING_OFF = "backing off"
    STOPPED = "stopped"


@dataclass(slots=True)
class AgentStats:
    """What an agent did in this run (the database keeps the full record)."""

    turns: int = 0
    actions_ok: int = 0
    actions_failed: int = 0
    failures_in_a_row: int = 0
    llm_attempts: int = 0
    cost_nd: int = 0
    tokens: int = 0
    cpu_seconds: float = 0.0
    by_action: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class LoopServices:
    """What every loop shares: the world, the thinker, the stop signal."""

    ledger: Ledger
    clock: Clock
    caller: LLMCaller
    executor: Executor
    settings: AgentLoopSettings
    flows: frozenset[str]
    stop: anyio.Event
    observer: Observer
    """The world's side of each turn's Observation."""
    settled: Callable[[], anyio.Event] = anyio.Event
    default_model: str | None = None
    on_change: Callable[[], None] = lambda: None
    prices: PriceBoard | None = None
    """genesis_exchange's quotes, shown in every context; None: none are shown."""
    schema: Mapping[str, Any] | None = None
    """The action schema sent with each call, for a provider that constrains its output to
    it (its bytes count in each call's worst case); None: none is sent."""

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    @property
    def programs(self) -> bool:
        """Whether agents can write and invoke programs in this world."""
        return self.executor.programs is not None


class AgentLoop:
    """The continuous loop of one agent."""

    def __init__(
        self,
        record: AgentRecord,
        services: LoopServices,
        mailbox: Mailbox,
        *,
        notes: Sequence[str] = (),
    ) -> None:
        self.agent_id = record.agent_id
        self.services = services
        self.mailbox = mailbox
        self.config: Mapping[str, Any] = dict(record.config)
        self.turns = record.turns
        self.last_result: dict[str, Any] | None = (
            dict(record.last_result) if record.last_result else None
        )
        self.sleep = WakeConditions.from_json(record.sleep) if record.sleep else None
        self.notes = list(notes)
        self._state = AgentState.ASLEEP if self.sleep else AgentState.STARTING
        self.frozen_reason = ""
        self.rejected_model: str | None = None
        self._woke: str | None = None
        self._world_left_nd: int | None = None
        self._last_prompt_tokens = 0
        self.stats = AgentStats()
        self._account: Account | None = None
        self._bad_pause: object = None

    @property
    def state(self) -> AgentState:
        return self._state

    @state.setter
    def state(self, value: AgentState) -> None:
        if value is not self._state:
            self._state = value
            self.services.on_change()

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Live until the run stops or the world's dollar budget is spent."""
        svc = self.services
        budget = svc.caller.budget
        try:
            while not svc.stopping:
                settled = svc.settled()  # taken before trying, so no settlement is missed
                news = None
                try:
                    news = await self._gate()  # armed before the gate read the account
                    if news is None:
                        break
                    outcome, failed = await self.turn()
                except BudgetExhausted as exc:
                    if exc.reserved_nd > 0:
                        # Calls in flight hold the rest; what they do not spend comes back.
                        # (Reservations of another process settle without telling this one:
                        # look again now and then.)
                        self._freeze(f"waiting for calls in flight to settle: {exc}")
                        await svc.clock.sleep_until(svc.clock.now() + 5.0, wake=settled)
                        continue
                    prompt = self._last_prompt_tokens or svc.settings.context_max_chars
                    model = str(self.config.get("model"))
                    if self._world_left_nd != exc.left_nd and budget.can_think_within(
                        model, prompt, exc.left_nd
                    ):
                        # Nothing in flight: what is left is final. Think with a cap that fits.
                        self._world_left_nd = exc.left_nd
                        continue
                    budget.declare_spent(f"the API budget is spent ({exc})")
                    break
                except ShareSpent as exc:
                    self._freeze(str(exc))
                    budget.share_spent(self.agent_id, True)
                    svc.on_change()
                    self.last_result = {
                        "action": "think",
                        "ok": False,
                        "error": exc.code,
                        "message": str(exc),
                    }
                    await svc.clock.sleep_until(math.inf, wake=news or self.mailbox.rearm())
                    budget.share_spent(self.agent_id, False)
                    continue
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:  # the runtime's trouble (e.g. the database is busy)
                    _log.warning("agent %s: %r; backing off", self.agent_id, exc)
                    self.last_result = {
                        "action": "turn",
                        "ok": False,
                        "error": "runtime_error",
                        "message": f"your turn failed inside the runtime ({exc!r}); this was not"
                        " your doing; try again",
                    }
                    failed = True
                    outcome = None
                if failed:
                    self.stats.failures_in_a_row += 1
                    svc.on_change()
                    await self._back_off()
                    continue
                self.stats.failures_in_a_row = 0
                if outcome is not None and outcome.sleep is not None:
                    self.sleep = outcome.sleep
                    continue
                pause = self._pause()
                if pause > 0:
                    await svc.clock.sleep_until(svc.clock.now() + pause, wake=svc.stop)
        finally:
            self.state = AgentState.STOPPED

    async def turn(self) -> tuple[Outcome | None, bool]:
        """One turn (the gate already passed): think, act, pay. Returns (outcome, failed)."""
        svc = self.services
        number = self.turns + 1
        self.mailbox.take_unseen()  # what came before this turn cannot end a sleep it starts
        if self.mailbox.config_changed:
            self.mailbox.config_changed = False
            self.config = dict((await svc.ledger.agent(self.agent_id)).config)
        meter = CpuMeter()
        try:
            outcome, thought, failed = await meter.run(self._think_and_act(number))
        except (BudgetExhausted, ShareSpent, LedgerUnavailable, anyio.get_cancelled_exc_class()):
            raise
        except Exception as exc:  # a bug met by this turn: recorded and charged like any turn
            _log.exception("agent %s: turn %d failed", self.agent_id, number)
            outcome = Outcome.refused(
                "turn",
                "runtime_error",
                f"your turn failed inside the runtime ({exc!r}); this was not your doing; try"
                " again",
            )
            thought, failed = None, True
        charges = []
        # A local model's share of its batch is charged with the turn's own CPU time.
        model_seconds = thought.compute_seconds if thought is not None else 0.0
        if COMPUTE in svc.flows and meter.seconds + model_seconds > 0:
            charges.append((COMPUTE, meter.seconds + model_seconds))
        tokens = thought.usage.total_tokens if thought is not None else 0
        if LLM_RATE in svc.flows and tokens > 0:
            charges.append((LLM_RATE, float(tokens)))
        result = outcome.to_json()
        await svc.ledger.submit(
            ops.EndTurn(
                agent_id=self.agent_id,
                turn=number,
                action=outcome.action,
                ok=outcome.ok,
                code=outcome.code,
                result=json.dumps(result),
                charges=tuple(charges),
                model_seconds=model_seconds,
            )
        )
        self.turns = number
        self.last_result = result
        stats = self.stats
        stats.turns += 1
        stats.by_action[outcome.action] = stats.by_action.get(outcome.action, 0) + 1
        if outcome.ok:
            stats.actions_ok += 1
        else:
            stats.actions_failed += 1
        # A program's compute was charged with its invocation (fuel x the calibrated rate).
        program_seconds = float(outcome.data.get("compute_seconds", 0.0) or 0.0)
        stats.cpu_seconds += meter.seconds + model_seconds + program_seconds
        if thought is not None:
            stats.llm_attempts += thought.attempts
            stats.cost_nd += thought.cost_nd
            stats.tokens += tokens
        svc.on_change()
        return outcome, failed

    async def _think_and_act(self, number: int) -> tuple[Outcome, Thought | None, bool]:
        svc, me = self.services, self.agent_id
        # One read for all of it (one hop to the reader thread, one transaction).
        view = await svc.ledger.turn_view(
            me, with_account=self._account is None, programs=8 if svc.programs else 0
        )
        account = self._account or view.account
        assert account is not None
        self._account = None
        own, for_sale, programs = view.own_artifacts, view.for_sale, view.programs
        world = svc.observer.observe(me)
        obs = Observation(
            agent_id=me,
            now=world.now,
            turn=number,
            account=account,
            config=self.config,
            world_budget_left=world.budget_left,
            world_budget_limit=world.budget_limit,
            last_result=self.last_result,
            events=list(self.mailbox.recent),
            notes=self.notes,
            own_artifacts=own,
            others=world.others,
            for_sale=for_sale,
            programs=programs,
            programs_enabled=svc.programs,
            next_resolution=world.next_resolution,
            robot=world.robot,
            tasks=world.tasks,
            prices=await svc.prices.current(world.now) if svc.prices is not None else (),
        )
        messages = render(
            obs,
            str(self.config.get("system_prompt") or ""),
            max_chars=svc.settings.context_max_chars,
        )
        model = str(self.config.get("model"))
        fallback = ""
        if model == self.rejected_model and svc.default_model and model != svc.default_model:
            # The server said it has no such model: think with the world's default instead,
            # so that the agent can still act (and change its model back).
            fallback = (
                f"the server rejected your model {model!r} as unknown, so this call used"
                f" {svc.default_model!r}; set a model it serves with update_config"
            )
            model = svc.default_model
        request = CompletionRequest(
            agent_id=me,
            model=model,
            messages=messages,
            max_tokens=self.config.get("max_tokens"),
            observation=obs.to_policy(),
            schema=svc.schema,
        )
        self._last_prompt_tokens = prompt_token_bound(request.messages, request.schema)
        holding = account.holding(LLM_BUDGET)
        try:
            request, lowered = svc.caller.budget.fit(
                request,
                share_dollars=None if holding is None else holding.available,
                world_left_nd=self._world_left_nd,
            )
            lowered = "; ".join(x for x in (fallback, lowered) if x)
            thought = await svc.caller.think(request, stop=svc.stop)
        except (UnpricedModel, ModelOverbilled) as exc:
            return Outcome.refused("think", exc.code, str(exc)), None, True
        except InsufficientResource as exc:
            if exc.resource == LLM_BUDGET:
                raise ShareSpent(str(exc)) from exc
            raise
        if thought.completion is None:
            error = thought.error
            if isinstance(error, RequestRejected) and error.status == 404:
                self.rejected_model = model
            code = error.code if error is not None else "provider_error"
            message = (
                f"your LLM call failed after {thought.attempts} attempt(s): {error}; this turn"
                " had no action"
            )
            return Outcome.refused("think", code, message), thought, True
        try:
            action = parse_action(thought.completion.text, max_chars=svc.settings.max_reply_chars)
        except ActionError as exc:
            return Outcome.refused("invalid_reply", exc.code, str(exc)), thought, True
        outcome = await svc.executor.perform(me, action)
        if lowered:
            outcome = replace(outcome, message=f"{outcome.message} ({lowered})")
        if action.action == "note" and outcome.ok:
            self.notes.append(action.text)
            del self.notes[: -svc.settings.max_notes]
        return outcome, thought, False

    def _pause(self) -> float:
        """Seconds to rest between turns, from the config; a stored value that is not a
        number (a tampered row) is logged once and read as 0."""
        policy = self.config.get("sleep_policy") or {}
        raw = policy.get("between_turns", 0) if isinstance(policy, Mapping) else policy
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value) and 0 <= value <= 3600:
            return value
        if self._bad_pause != raw:
            self._bad_pause = raw
            _log.warning(
                "agent %s: sleep_policy.between_turns %r in its config is not a number of"
                " seconds from 0 to 3600; resting 0 s (set it with update_config)",
                self.agent_id,
                raw,
            )
        return 0.0

    # --- waiting --------------------------------------------------------------------------

    async def _gate(self) -> anyio.Event | None:
        """Wait until this agent may act; None when the run is stopping.

        Returns the mailbox event armed before the account was read, so that a caller that
        must wait for news after acting on that snapshot misses nothing that came since.
        """
        svc, me = self.services, self.agent_id
        while not svc.stopping:
            if self.sleep is not None:
                self.state = AgentState.ASLEEP
                reason = await self._sleep_until_woken(self.sleep)
                if reason is None:
                    return None
                self.sleep = None
                self._woke = reason
                if self.last_result is not None:
                    self.last_result = {**self.last_result, "woke": reason}
            if self._woke is not None:  # recorded apart, so a failed write loses no wake-up
                await svc.ledger.submit(ops.SetSleep(agent_id=me, sleep=None, reason=self._woke))
                self._woke = None
            news = self.mailbox.rearm()  # before reading, so no rescue slips between
            account = await svc.ledger.account(me)
            now = svc.clock.now()
            debts = [h for h in account.flow if h.bucket.is_in_debt(now)]
            if not debts:
                self._account = account
                self.state = AgentState.ACTIVE
                return news
            if any(h.bucket.updated_at > now for h in debts):
                # The clock went back past the bucket's last change: that time counts as now.
                await svc.ledger.submit(ops.ReanchorBuckets(principal_id=me))
                continue
            # The moment the deepest debt has accrued back to zero, computed from the stored
            # bucket so that the wait ends exactly there.
            until = max(h.bucket.debt_clears_at(now) for h in debts)
            self._freeze(
                "in debt on " + ", ".join(h.resource for h in debts) + " until it accrues back"
            )
            await svc.clock.sleep_until(until, wake=news)
        return None

    def _freeze(self, reason: str) -> None:
        self.state = AgentState.FROZEN
        self.frozen_reason = reason

    async def _sleep_until_woken(self, sleep: WakeConditions) -> str | None:
        svc, me = self.services, self.agent_id
        while not svc.stopping:
            wake = self.mailbox.rearm()  # before checking, so no event slips between
            now = svc.clock.now()
            if sleep.is_due(now):
                return "the time you set has come"
            for event in self.mailbox.take_unseen():
                if sleep.wakes_on(event, me):
                    return f"an event of kind {event.kind} (seq {event.seq})"
            bucket = None
            if sleep.resource is not None:
                account = await svc.ledger.account(me)
                holding = account.bucket(sleep.resource)
                if sleep.resource == "scrip":
                    value = float(account.principal.scrip)
                elif holding is not None:
                    value = holding.available(svc.clock.now())
                    bucket = holding.bucket
                else:
                    stock = account.holding(sleep.resource)
                    value = stock.available if stock is not None else 0.0
                if sleep.balance_met(value):
                    return f"your {sleep.resource} reached {value:g}"
            await svc.clock.sleep_until(sleep.next_deadline(bucket, now), wake=wake)
        return None

    async def _back_off(self) -> None:
        svc = self.services
        n = self.stats.failures_in_a_row
        delay = min(svc.settings.failure_backoff_max, svc.settings.failure_backoff * 2.0 ** (n - 1))
        self.state = AgentState.BACKING_OFF
        await svc.clock.sleep_until(svc.clock.now() + delay, wake=svc.stop)
