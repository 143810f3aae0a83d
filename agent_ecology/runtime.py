"""Boots a world and runs it: every agent's loop in one task group, a background clock,
and a clean stop.

::

    runtime = Runtime(settings)
    report = await runtime.run(duration=60)

The run ends when the duration is over, when the world's dollar budget is spent, or on
SIGINT/SIGTERM. Stopping lets in-flight turns finish for ``run.grace`` seconds and then
cancels what is left (an LLM call cancelled mid-flight is charged its worst case). Every
committed change stays; running again on the same database resumes: balances, artifacts,
configs, notes and sleep states carry over.

The background clock writes metric windows and watches the budget. It never triggers a
turn: agents act on their own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import anyio

from agent_ecology import early_signals
from agent_ecology._table import render_table
from agent_ecology.agents import (
    AgentLoop,
    AgentSpec,
    AgentState,
    EventBus,
    Executor,
    LoopServices,
    action_shapes,
    load_roster,
)
from agent_ecology.clock import Clock, SystemClock
from agent_ecology.config import ConfigError, Settings
from agent_ecology.genesis import Genesis
from agent_ecology.genesis.oracle import next_resolution, resolve
from agent_ecology.genesis.scoring import LLMJudge, OfflineScorer, Scorer
from agent_ecology.ledger import NANODOLLARS, AgentRecord, InvalidRequest, Ledger, ops
from agent_ecology.llm import LLMCaller, Provider, RetryPolicy, ZeroIntelligencePolicy
from agent_ecology.llm.budget import Budget, Overbilling
from agent_ecology.world import open_world

if TYPE_CHECKING:
    from agent_ecology.calibrate import Plan
    from agent_ecology.robonomics.setup import Loop

__all__ = ["RunReport", "Runtime", "choose_provider"]

_log = logging.getLogger("agent_ecology.runtime")


def choose_provider(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[Provider, bool, str | None]:
    """The provider ``settings`` ask for: ``(provider, billed, notice)``.

    Without an API key the baseline policy stands in, and ``notice`` says so and how to set
    one.
    """
    key = settings.api_key(environ)
    seed = settings.agent_loop.seed
    if settings.llm.provider == "local":
        from agent_ecology.llm.local import LocalProvider

        return LocalProvider.from_settings(settings.llm.local), False, None
    if settings.llm.provider == "openai" and key is not None:
        from agent_ecology.llm.openai_compat import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(
            api_key=key.get_secret_value(),
            base_url=settings.llm.base_url,
            timeout=settings.llm.timeout,
            connect_timeout=settings.llm.connect_timeout,
            max_connections=settings.llm.max_connections,
            api_key_env=settings.llm.api_key_env,
            max_tokens_param=settings.llm.max_tokens_param,
        )
        return provider, True, None
    if settings.llm.provider == "openai":
        notice = (
            f"no API key in ${settings.llm.api_key_env}: agents use the baseline policy"
            f" (zero-intelligence, no model). Set {settings.llm.api_key_env} (and"
            " OPENAI_BASE_URL or llm.base_url for another OpenAI-compatible server) to think"
            " with a model."
        )
        if (environ if environ is not None else os.environ).get("AGENT_ECOLOGY_CONTAINER"):
            notice += (
                f" In the container: docker run -e {settings.llm.api_key_env}=sk-..."
                " [-e OPENAI_BASE_URL=http://host:port/v1] ... agent-ecology"
            )
    else:
        notice = (
            "llm.provider is 'baseline': agents use the baseline policy (zero-intelligence,"
            " no model). Set llm.provider: openai and an API key to think with a model, or"
            " llm.provider: local to think with a model that runs here."
        )
    return ZeroIntelligencePolicy(seed), False, notice


@dataclass
class RunReport:
    """How a run went."""

    reason: str
    started: float
    ended: float
    provider: str
    agents: dict[str, dict[str, object]] = field(default_factory=dict)
    spent_nd: int = 0
    limit_nd: int = 0
    conserved: bool = True
    abandoned_calls: int = 0
    overbilled: list[str] = field(default_factory=list)
    """One line per call a server billed past its reservation (a fault of that server)."""

    @property
    def turns(self) -> int:
        return sum(int(a["turns"]) for a in self.agents.values())  # type: ignore[call-overload]


class Runtime:
    """One run of a world."""

    def __init__(
        self,
        settings: Settings,
        *,
        provider: Provider | None = None,
        billed: bool | None = None,
        clock: Clock | None = None,
        roster: Sequence[AgentSpec] | None = None,
        out: TextIO | None = None,
        progress: bool | None = None,
        handle_signals: bool = True,
        environ: Mapping[str, str] | None = None,
        calibration: Plan | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.out = out if out is not None else sys.stdout
        self.notice: str | None = None
        if provider is None:
            provider, chosen_billed, self.notice = choose_provider(settings, environ)
            billed = chosen_billed if billed is None else billed
        self.provider = provider
        self.billed = bool(billed)
        self.roster = list(roster) if roster is not None else load_roster(settings)
        self.progress = progress if progress is not None else self.out.isatty()
        self.handle_signals = handle_signals
        self.stop_event = anyio.Event()
        self.started = anyio.Event()
        """Set once every agent's loop exists and the run's clock has started."""
        self.calibration = calibration
        self._hurry = anyio.Event()
        self._changed = anyio.Event()
        self.reason = ""
        self.loops: dict[str, AgentLoop] = {}
        self.ledger: Ledger | None = None
        self.budget: Budget | None = None
        self._started = 0.0

    # --- control --------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Ask the run to stop (idempotent; the first reason is kept)."""
        if not self.stop_event.is_set():
            self.reason = reason
            self.stop_event.set()
            self._changed.set()
            self._say(f"stopping: {reason}")
            if self._bus is not None:
                self._bus.poke_all()

    _bus: EventBus | None = None
    robonomics: Loop | None = None

    def _on_change(self) -> None:
        self._changed.set()

    async def wait_for_change(self) -> None:
        """Return after the next change of any agent's state or turn count."""
        if self._changed.is_set():
            self._changed = anyio.Event()
        await self._changed.wait()

    def _say(self, line: str) -> None:
        if self.progress:
            self.out.write("\r\x1b[2K")
        self.out.write(line + "\n")
        self.out.flush()

    # --- the run --------------------------------------------------------------------------

    async def run(self, duration: float | None = None) -> RunReport:
        """Run until ``duration`` seconds (default ``run.duration``), the budget, or a signal."""
        settings = self.settings
        if duration is None:
            duration = settings.run.duration
        ledger, world = await open_world(
            settings, clock=self.clock, roster=self.roster, calibration=self.calibration
        )
        if world.settings is not None:  # compute rate: auto, now calibrated
            self.settings = settings = world.settings
        self.ledger = ledger
        try:
            return await self._run(ledger, world.lines(), duration)
        finally:
            try:
                await ledger.close()
            finally:
                await self.provider.aclose()

    async def _run(
        self, ledger: Ledger, world_lines: list[str], duration: float | None
    ) -> RunReport:
        settings, clock = self.settings, self.clock
        authority = settings.world.system_principal
        abandoned = await ledger.abandon_calls(authority=authority)
        self._say(f"world database: {settings.world.database}")
        for line in world_lines:
            self._say(line)
        if abandoned.details.get("calls"):
            self._say(
                f"closed {abandoned.details['calls']} LLM call(s) left open by an interrupted run,"
                f" charged their worst case (${abandoned.details['charged_nd'] / NANODOLLARS:.6f})"
            )
        self._say(f"agents think with: {self.provider.name}")
        if self.notice:
            self._say(self.notice)

        genesis = Genesis.build(
            settings,
            actions_text=action_shapes(),
            provider=self.provider.name,
            agents=len(self.roster),
        )
        await genesis.install(ledger, authority=authority)

        ids = [spec.id for spec in self.roster]
        records = {r.agent_id: r for r in await ledger.agents() if r.agent_id in set(ids)}
        budget = self.budget = Budget(
            settings.llm.prices,
            billed=self.billed,
            enforce_prices=settings.llm.provider == "openai",
            agents=len(ids),
            on_overbilled=self._overbilled,
        )
        # The stored configs: an agent may have changed its model in an earlier run.
        unpriced = budget.unpriced(
            (f"agent {r.agent_id}: model", str(r.config.get("model"))) for r in records.values()
        )
        if unpriced:
            raise ConfigError("config.yaml", [*unpriced, "add the prices, or change the models"])

        bus = self._bus = EventBus(settings.agent_loop.recent_events)
        for agent_id in ids:
            bus.mailbox(agent_id)
        ledger.subscribe(bus.publish)
        caller = LLMCaller(
            self.provider,
            ledger,
            clock=clock,
            budget=budget,
            retry=RetryPolicy.from_settings(settings.llm),
            stop=self.stop_event,
        )
        executor = Executor(
            ledger,
            genesis,
            clock,
            check_model=budget.check_model,
            max_notes=settings.agent_loop.max_notes,
        )
        neighbours = ids[:50]

        def others(me: str) -> Sequence[str]:
            return [i for i in neighbours if i != me]

        services = LoopServices(
            ledger=ledger,
            clock=clock,
            caller=caller,
            executor=executor,
            settings=settings.agent_loop,
            flows=frozenset(settings.resources.flow),
            stop=self.stop_event,
            others=others,
            on_change=self._on_change,
            settled=bus.settled,
            default_model=settings.llm.model,
            next_resolution=lambda: next_resolution(clock.now(), settings.oracle.interval),
        )
        if settings.robonomics.enabled:
            from agent_ecology.robonomics.setup import Loop

            self.robonomics = Loop(ledger, settings)
            await self.robonomics.boot()
            for note in self.robonomics.notes:
                self._say(f"robonomics: {note}")
            world = self.robonomics.world
            assert world is not None
            self._say(
                f"robonomics: {'resumed at' if self.robonomics.resumed else 'started,'} tick"
                f" {world.tick_count}, {len(world.robots)} robot(s), a tick every"
                f" {settings.robonomics.tick_period:g} s; flow log: {self.robonomics.log_file}"
            )
            services.robot_view = self.robonomics.robot_view
        self._scorer = LLMJudge(caller, settings.llm.model) if self.billed else OfflineScorer()
        for agent_id in ids:
            await self._start_loop(ledger, records[agent_id], services, bus)
        budget.agents = len(self.loops)
        await self._refresh_budget(ledger)

        self._started = clock.now()
        self.started.set()
        wall_start = time.monotonic()
        self._say(
            f"running {len(ids)} agent(s)"
            + (f" for {duration:g} s" if duration else " until stopped (Ctrl-C)")
        )
        async with anyio.create_task_group() as tg:
            if self.handle_signals:
                tg.start_soon(self._signals)
            if duration is not None:
                tg.start_soon(self._deadline, self._started + duration)
            tg.start_soon(self._background, ledger)
            tg.start_soon(self._watch_budget, budget)
            tg.start_soon(self._oracle, ledger)
            if self.robonomics is not None:
                tg.start_soon(self._robonomics, self.robonomics)
            tg.start_soon(self._show_progress, wall_start)
            await self._supervise()
            tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            try:
                await self._record_window(ledger, self._window_start, clock.now())
            except Exception as exc:  # the last window is lost; the run's record is not
                _log.warning("the last metrics window could not be recorded: %s", exc)
            report = await self._report(ledger, abandoned.details.get("calls", 0))
        self._summary(report, time.monotonic() - wall_start)
        ledger.unsubscribe(bus.publish)
        return report

    async def _start_loop(
        self, ledger: Ledger, record: AgentRecord, services: LoopServices, bus: EventBus
    ) -> None:
        """Make one agent's loop; a stored state it cannot start from affects only it."""
        agent_id = record.agent_id
        try:
            notes = [
                n.text
                for n in await ledger.notes(agent_id, limit=self.settings.agent_loop.max_notes)
            ]
        except Exception as exc:  # e.g. a note that is not UTF-8
            _log.warning(
                "agent %s: its notes cannot be read (%s); it starts without them", agent_id, exc
            )
            self._say(f"agent {agent_id}: its stored notes cannot be read; it starts without them")
            notes = []
        try:
            self.loops[agent_id] = AgentLoop(record, services, bus.mailbox(agent_id), notes=notes)
        except Exception as exc:
            _log.error("agent %s cannot start from its stored state: %r", agent_id, exc)
            self._say(
                f"agent {agent_id} does not run: its stored state is not usable ({exc!r});"
                " the others run"
            )

    async def _supervise(self) -> None:
        """Run every loop; after a stop, give them ``run.grace`` seconds, then cancel."""
        remaining = len(self.loops)
        if remaining == 0:
            self.stop("no agents to run")
            return
        async with anyio.create_task_group() as agents:

            async def live(loop: AgentLoop) -> None:
                nonlocal remaining
                try:
                    await loop.run()
                except Exception as exc:  # a bug or a bad stored state: only this agent stops
                    _log.exception("agent %s stopped: its loop failed", loop.agent_id)
                    self._say(f"agent {loop.agent_id} stopped: its loop failed ({exc!r})")
                    if self.budget is not None:
                        self.budget.drop_agent(loop.agent_id)
                finally:
                    remaining -= 1
                    if remaining == 0:
                        agents.cancel_scope.cancel()

            async def reaper() -> None:
                await self.stop_event.wait()
                with anyio.move_on_after(self.settings.run.grace):
                    await self._hurry.wait()  # a second signal: do not wait any longer
                agents.cancel_scope.cancel()

            for loop in self.loops.values():
                agents.start_soon(live, loop)
            agents.start_soon(reaper)

    async def _deadline(self, when: float) -> None:
        await self.clock.sleep_until(when, wake=self.stop_event)
        self.stop("the duration is over")

    async def _signals(self) -> None:
        # The receiver stays open for the whole run, so that no signal falls back to
        # Python's default handler (KeyboardInterrupt in the middle of a write).
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            for signum in early_signals.take():  # came while the program was starting
                self.stop(f"{signal.Signals(signum).name} received while starting")
            async for signum in signals:
                name = signal.Signals(signum).name
                if self.stop_event.is_set():
                    if not self._hurry.is_set():
                        self._say(f"{name} again: cancelling in-flight turns now")
                        self._hurry.set()
                    continue
                self.stop(f"{name} received")

    # --- the background clock: budget and metrics -------------------------------------------

    _window_start = 0.0
    _scorer: Scorer | None = None

    async def _refresh_budget(self, ledger: Ledger) -> None:
        """Show the budget what the ledger says of the world's dollars (it decides if spent)."""
        if self.budget is None or not self.budget.billed:
            return
        row = await ledger.api_budget()
        self.budget.observe(row.limit_nd, row.reserved_nd, row.spent_nd)

    async def _watch_budget(self, budget: Budget) -> None:
        """Stop the run when the budget says the world's dollars are spent."""
        await budget.spent.wait()
        self.stop(budget.spent_reason)

    def _overbilled(self, bill: Overbilling) -> None:
        self._say(f"LLM server fault: {bill.describe()}")

    async def _background(self, ledger: Ledger) -> None:
        """Refresh the budget every second and record a metrics window every interval.

        A write that fails (a busy or full disk) must not end the run, nor spin: the next try
        waits longer each time (up to the interval), and the warning is logged once per
        spell of failures, with the count when it ends.
        """
        clock = self.clock
        interval = self.settings.run.metrics_interval
        self._window_start = clock.now()
        next_window = self._window_start + interval
        failures, read_failing = 0, False
        while not self.stop_event.is_set():
            await clock.sleep_until(min(next_window, clock.now() + 1.0), wake=self.stop_event)
            if self.stop_event.is_set():
                return
            now = clock.now()
            try:
                await self._refresh_budget(ledger)
                read_failing = False
            except Exception as exc:  # a read that fails is tried again in a second
                if not read_failing:
                    _log.warning("background clock: the budget could not be read: %s", exc)
                read_failing = True
            if now < next_window:
                continue
            try:
                await self._record_window(ledger, self._window_start, now)
            except InvalidRequest as exc:  # a window that cannot be stored: skip it
                _log.warning("metrics window skipped: %s", exc)
                self._window_start = now
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
            self._window_start = now
            next_window = now + interval
            if failures:
                _log.warning("background clock: writing again after %d failed tries", failures)
                failures = 0

    async def _oracle(self, ledger: Ledger) -> None:
        """Resolve the oracle at each instant of its schedule (it never triggers a turn)."""
        settings, clock = self.settings, self.clock
        while not self.stop_event.is_set():
            when = next_resolution(clock.now(), settings.oracle.interval)
            await clock.sleep_until(when, wake=self.stop_event)
            if self.stop_event.is_set():
                return
            try:
                receipt = await resolve(
                    ledger,
                    settings.oracle,
                    when,
                    authority=settings.world.system_principal,
                    scorer=self._scorer,
                )
            except Exception as exc:  # a failed resolution is retried at the next instant
                _log.warning("oracle resolution at %.0f failed: %s", when, exc)
                continue
            winners = receipt.details.get("winners", []) if receipt is not None else []
            if winners:
                minted = sum(int(w["minted"]) for w in winners)
                self._say(
                    f"oracle: {len(winners)} winner(s) at"
                    f" {time.strftime('%H:%M:%S', time.gmtime(when))}, {minted} scrip minted"
                )

    async def _robonomics(self, loop: Loop) -> None:
        """Tick the robonomics loop every ``tick_period`` (agents never wait for it)."""
        clock, period = self.clock, self.settings.robonomics.tick_period
        when = clock.now() + period
        while not self.stop_event.is_set():
            await clock.sleep_until(when, wake=self.stop_event)
            if self.stop_event.is_set():
                return
            try:
                await loop.tick()
            except Exception as exc:  # a tick that fails must not take the agents down
                if loop.world is None:
                    self._say(f"robonomics stopped: {exc} (it resumes from its saved state)")
                    return
                _log.warning("robonomics tick failed (back to its saved state): %s", exc)
            when = max(when + period, clock.now())

    async def _record_window(self, ledger: Ledger, start: float, end: float) -> None:
        rows = []
        for agent_id, loop in self.loops.items():
            account = await ledger.account(agent_id)
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
            await ledger.submit(
                ops.RecordMetrics(
                    window_start=start, window_end=max(start, end), rows=json.dumps(rows)
                )
            )

    # --- progress and the summary ---------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Agents per state, for the progress line."""
        out = {"active": 0, "asleep": 0, "frozen": 0, "backing off": 0}
        for loop in self.loops.values():
            if loop.state is AgentState.ASLEEP:
                out["asleep"] += 1
            elif loop.state is AgentState.FROZEN:  # in debt, or waiting for dollars
                out["frozen"] += 1
            elif loop.state is AgentState.BACKING_OFF:  # after a failed turn, not debt
                out["backing off"] += 1
            elif loop.state is not AgentState.STOPPED:
                out["active"] += 1
        return out

    def progress_line(self, elapsed: float) -> str:
        c = self.counts()
        turns = sum(loop.stats.turns for loop in self.loops.values())
        failed = sum(loop.stats.actions_failed for loop in self.loops.values())
        spent = sum(loop.stats.cost_nd for loop in self.loops.values()) / NANODOLLARS
        money = f"${spent:.4f} spent"
        view = self.budget.view() if self.budget is not None else None
        if view is not None:
            money += f", ${view[0]:.4f} of ${view[1]:.2f} left"
        return (
            f"{elapsed:7.1f}s  agents {len(self.loops)}: {c['active']} active, {c['asleep']}"
            f" asleep, {c['frozen']} frozen"
            + (f", {c['backing off']} backing off" if c["backing off"] else "")
            + f"  |  actions {turns} ({failed} refused)  |  {money}"
        )

    async def _show_progress(self, wall_start: float) -> None:
        """A live line on a terminal (twice a second); a plain log line every 10 s otherwise."""
        live = self.progress
        while not self.stop_event.is_set():
            with anyio.move_on_after(0.5 if live else 10.0):
                await self.stop_event.wait()
            if self.stop_event.is_set():
                break
            line = self.progress_line(time.monotonic() - wall_start)
            if live:
                self.out.write("\r\x1b[2K" + line)
            else:
                self.out.write(line + "\n")
            self.out.flush()
        if live:
            self.out.write("\r\x1b[2K")
            self.out.flush()

    async def _report(self, ledger: Ledger, abandoned: int) -> RunReport:
        budget = await ledger.api_budget()
        supply = await ledger.supply()
        report = RunReport(
            reason=self.reason or "every agent stopped",
            started=self._started,
            ended=self.clock.now(),
            provider=self.provider.name,
            spent_nd=budget.spent_nd,
            limit_nd=budget.limit_nd,
            conserved=supply.is_conserved,
            abandoned_calls=abandoned,
            overbilled=[b.describe() for b in self.budget.overbillings] if self.budget else [],
        )
        for agent_id, loop in self.loops.items():
            s = loop.stats
            report.agents[agent_id] = {
                "state": loop.state.value if loop.state is not AgentState.STOPPED else "stopped",
                "turns": s.turns,
                "ok": s.actions_ok,
                "refused": s.actions_failed,
                "dollars": s.cost_nd / NANODOLLARS,
                "tokens": s.tokens,
                "cpu_ms": s.cpu_seconds * 1000,
                "scrip": (await ledger.principal(agent_id)).scrip,
                "by_action": dict(s.by_action),
            }
        return report

    def _summary(self, report: RunReport, wall: float) -> None:
        by_action: dict[str, int] = {}
        for a in report.agents.values():
            for name, n in a["by_action"].items():  # type: ignore[attr-defined]
                by_action[name] = by_action.get(name, 0) + n
        lines = [
            "",
            f"run ended: {report.reason} after {wall:.1f} s",
            f"actions: {report.turns} in all"
            + (
                " (" + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items())) + ")"
                if by_action
                else ""
            ),
            f"API dollars: ${report.spent_nd / NANODOLLARS:.6f} spent of"
            f" ${report.limit_nd / NANODOLLARS:.2f} (the world's total so far)",
            "scrip: "
            + ("conserved" if report.conserved else "NOT CONSERVED: report this as a bug"),
        ]
        if report.overbilled:
            lines.append(
                f"LLM server faults: {len(report.overbilled)} call(s) billed past their"
                " reservation (see the llm_overbilled events):"
            )
            lines += [f"  - {line}" for line in report.overbilled[:5]]
        if report.spent_nd > report.limit_nd:
            lines.append(
                f"the world spent ${(report.spent_nd - report.limit_nd) / NANODOLLARS:.6f} past"
                " its limit: a server billed more than the output cap sent allows"
            )
        batcher = getattr(self.provider, "batcher", None)
        if batcher is not None and batcher.batch_count:
            lines.append(
                f"local model: {batcher.rows_run} turn(s) in {batcher.batch_count} batch(es),"
                f" {batcher.rows_run / batcher.batch_count:.1f} turns a batch on average,"
                f" {batcher.model_seconds:.1f} s of model time"
            )
        if self.robonomics is not None and self.robonomics.world is not None:
            world = self.robonomics.world
            torq = sum(r.torq for r in world.robots)
            lines.append(
                f"robonomics: tick {world.tick_count} (resumes there), Torq {world.num(torq)},"
                f" scrip minted by Isaac {world.isaac.minted}; flow log {self.robonomics.log_file}"
            )
        rows = []
        shown = list(report.agents.items())
        for agent_id, a in shown[:20]:
            rows.append(
                [
                    agent_id,
                    a["turns"],
                    a["ok"],
                    a["refused"],
                    f"{a['dollars']:.6f}",
                    a["tokens"],
                    f"{a['cpu_ms']:.1f}",
                    a["scrip"],
                ]
            )
        table = render_table(
            ["agent", "actions", "ok", "refused", "dollars", "tokens", "cpu ms", "scrip"], rows
        )
        if len(shown) > 20:
            table += f"\n... and {len(shown) - 20} more agents"
        lines += [
            "",
            table,
            "",
            f"inspect the world: agent-ecology inspect --db {self.settings.world.database}",
        ]
        for line in lines:
            self._say(line)
