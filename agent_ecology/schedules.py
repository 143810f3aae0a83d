"""The run's schedules: what happens at set times while the agents act on their own.

- :class:`BackgroundClock`: the world's dollars shown to the budget every second, and a
  metrics window recorded every ``run.metrics_interval``;
- :class:`OracleSchedule`: genesis_oracle resolved at each instant of ``oracle.interval``;
- :class:`ExchangeExpiry`: genesis_exchange's orders closed when their time is up;
- :class:`RobonomicsTicks`: the robonomics loop ticked every ``robonomics.tick_period``.

None of them triggers a turn, and none ends the run: a failure is logged (or said) and tried
again later. Each ``run()`` returns once ``stop`` is set; the runtime starts them in its task
group and cancels what is left when the agents are done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import anyio

from agent_ecology.agents import AgentLoop
from agent_ecology.clock import Clock
from agent_ecology.config import OracleSettings
from agent_ecology.genesis.exchange import next_expiry
from agent_ecology.genesis.oracle import next_resolution, resolve
from agent_ecology.genesis.scoring import Scorer
from agent_ecology.ledger import NANODOLLARS, InvalidRequest, Ledger, ops
from agent_ecology.llm.budget import Budget

__all__ = ["BackgroundClock", "ExchangeExpiry", "OracleSchedule", "RobonomicsTicks", "TickedLoop"]

# The runtime's logger: these schedules are part of the run, and operators filter on its name.
_log = logging.getLogger("agent_ecology.runtime")


class BackgroundClock:
    """Refresh the budget every second and record a metrics window every ``interval``.

    A write that fails (a busy or full disk) must not end the run, nor spin: the next try
    waits longer each time (up to the interval), and the warning is logged once per spell of
    failures, with the count when it ends.
    """

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        loops: Mapping[str, AgentLoop],
        *,
        budget: Budget,
        interval: float,
        stop: anyio.Event,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.loops = loops
        self.budget = budget
        self.interval = interval
        self.stop = stop
        self.window_start = 0.0
        """Where the window being gathered began (set when :meth:`run` starts)."""

    async def refresh_budget(self) -> None:
        """Show the budget what the ledger says of the world's dollars (it decides if spent)."""
        if not self.budget.billed:
            return
        row = await self.ledger.api_budget()
        self.budget.observe(row.limit_nd, row.reserved_nd, row.spent_nd)

    async def run(self) -> None:
        clock, interval, stop = self.clock, self.interval, self.stop
        self.window_start = clock.now()
        next_window = self.window_start + interval
        failures, read_failing = 0, False
        while not stop.is_set():
            await clock.sleep_until(min(next_window, clock.now() + 1.0), wake=stop)
            if stop.is_set():
                return
            now = clock.now()
            try:
                await self.refresh_budget()
                read_failing = False
            except Exception as exc:  # a read that fails is tried again in a second
                if not read_failing:
                    _log.warning("background clock: the budget could not be read: %s", exc)
                read_failing = True
            if now < next_window:
                continue
            try:
                await self.record_window(self.window_start, now)
            except InvalidRequest as exc:  # a window that cannot be stored: skip it
                _log.warning("metrics window skipped: %s", exc)
                self.window_start = now
                next_window = now + interval
                continue
            except Exception as exc:  # a busy or full disk must not end the run, nor spin
                failures += 1
                if failures == 1:
                    _log.warning(
                        "background clock: %s; trying again, less often while it fails", exc
                    )
                next_window = now + min(max(interval, 5.0), 0.25 * 2.0 ** min(failures, 16))
                continue
            self.window_start = now
            next_window = now + interval
            if failures:
                _log.warning("background clock: writing again after %d failed tries", failures)
                failures = 0

    async def record_last(self) -> None:
        """Record the window gathered since the last one, up to now (after the run stopped)."""
        try:
            await self.record_window(self.window_start, self.clock.now())
        except Exception as exc:  # the last window is lost; the run's record is not
            _log.warning("the last metrics window could not be recorded: %s", exc)

    async def record_window(self, start: float, end: float) -> None:
        """One row per agent: its state, balances and what it did this run so far."""
        rows = []
        for agent_id, loop in self.loops.items():
            account = await self.ledger.account(agent_id)
            balances = {h.resource: round(h.available, 9) for h in account.stock}
            balances |= {h.resource: round(h.available(end), 6) for h in account.flow}
            s = loop.stats
            rows.append(
                {
                    "agent_id": agent_id,
                    "state": loop.state.value,
                    "scrip": account.principal.scrip,
                    "turns": s.turns,
                    "actions_ok": s.actions_ok,
                    "actions_failed": s.actions_failed,
                    "dollars": s.cost_nd / NANODOLLARS,
                    "tokens": s.tokens,
                    "cpu_seconds": s.cpu_seconds,
                    "balances": balances,
                }
            )
        if rows:
            await self.ledger.submit(
                ops.RecordMetrics(
                    window_start=start, window_end=max(start, end), rows=json.dumps(rows)
                )
            )


class OracleSchedule:
    """Resolve the oracle at each instant of its schedule (it never triggers a turn).

    A resolution that fails is logged and left to the next instant; one with winners is
    said (``say``) with the scrip it minted.
    """

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        settings: OracleSettings,
        *,
        authority: str,
        scorer: Scorer | None,
        stop: anyio.Event,
        say: Callable[[str], None],
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.settings = settings
        self.authority = authority
        self.scorer = scorer
        self.stop = stop
        self.say = say

    async def run(self) -> None:
        clock, stop = self.clock, self.stop
        while not stop.is_set():
            when = next_resolution(clock.now(), self.settings.interval)
            await clock.sleep_until(when, wake=stop)
            if stop.is_set():
                return
            try:
                receipt = await resolve(
                    self.ledger,
                    self.settings,
                    when,
                    authority=self.authority,
                    scorer=self.scorer,
                )
            except Exception as exc:  # a failed resolution is retried at the next instant
                _log.warning("oracle resolution at %.0f failed: %s", when, exc)
                continue
            winners = receipt.details.get("winners", []) if receipt is not None else []
            if winners:
                minted = sum(int(w["minted"]) for w in winners)
                self.say(
                    f"oracle: {len(winners)} winner(s) at"
                    f" {time.strftime('%H:%M:%S', time.gmtime(when))}, {minted} scrip minted"
                )


class ExchangeExpiry:
    """Close genesis_exchange's orders as their time comes, giving back what they hold.

    It looks at the book at least every ``poll`` seconds (an order placed meanwhile may
    expire sooner than what it last saw); between looks it sleeps until the next expiry.
    Every order and cancel also closes what is due first, so this only makes the return
    prompt when nobody trades. A sweep that fails is logged once per spell and tried again.
    """

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        *,
        authority: str,
        stop: anyio.Event,
        poll: float = 1.0,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.authority = authority
        self.stop = stop
        self.poll = poll

    async def run(self) -> None:
        clock, stop = self.clock, self.stop
        failing = False
        while not stop.is_set():
            now = clock.now()
            try:
                due = await self.ledger.read(lambda c: next_expiry(c, float("-inf")))
                if due <= now:
                    await self.ledger.submit(ops.ExchangeExpire(authority=self.authority))
                    continue
                if failing:
                    _log.warning("exchange expiry: sweeping again")
                failing = False
            except Exception as exc:  # a busy disk: try again at the next look
                if not failing:
                    _log.warning("exchange expiry: the sweep failed (%s); trying again", exc)
                failing = True
                due = now + self.poll
            await clock.sleep_until(min(due, now + self.poll), wake=stop)


class TickedLoop(Protocol):
    """What :class:`RobonomicsTicks` needs of the loop it ticks (the runtime passes
    :class:`agent_ecology.robonomics.setup.Loop`)."""

    @property
    def world(self) -> object | None:
        """The world being ticked; None once a failed tick could not restore it."""
        ...

    async def tick(self) -> object:
        """One tick, saved before it returns; on failure, back to the saved state."""
        ...


class RobonomicsTicks:
    """Tick the robonomics loop every ``period`` seconds (agents never wait for it).

    A tick that fails goes back to the loop's saved state and the next tick comes as usual;
    a loop that can no longer tick (its world is gone) is said and left to resume next run.
    """

    def __init__(
        self,
        loop: TickedLoop,
        clock: Clock,
        *,
        period: float,
        stop: anyio.Event,
        say: Callable[[str], None],
    ) -> None:
        self.loop = loop
        self.clock = clock
        self.period = period
        self.stop = stop
        self.say = say

    async def run(self) -> None:
        clock, period, stop, loop = self.clock, self.period, self.stop, self.loop
        when = clock.now() + period
        while not stop.is_set():
            await clock.sleep_until(when, wake=stop)
            if stop.is_set():
                return
            try:
                await loop.tick()
            except Exception as exc:  # a tick that fails must not take the agents down
                if loop.world is None:
                    self.say(f"robonomics stopped: {exc} (it resumes from its saved state)")
                    return
                _log.warning("robonomics tick failed (back to its saved state): %s", exc)
            when = max(when + period, clock.now())
