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

This module is the composition root and the supervisor: it wires the ledger, genesis, the
budget, the LLM caller and every loop together, runs them, and stops them. What runs beside
the agents on a schedule (metrics windows, the budget's refresh, oracle resolutions,
robonomics ticks) is :mod:`agent_ecology.schedules`; none of it triggers a turn: agents act
on their own. The progress line and the end-of-run report and summary are
:mod:`agent_ecology.report`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from agent_ecology import early_signals
from agent_ecology.agents import (
    AgentLoop,
    AgentSpec,
    EventBus,
    Executor,
    LoopServices,
    WorldObserver,
    action_shapes,
    load_roster,
)
from agent_ecology.agents.schema import action_schema
from agent_ecology.clock import Clock, SystemClock
from agent_ecology.config import ConfigError, Settings
from agent_ecology.genesis import Genesis
from agent_ecology.genesis.exchange import PriceBoard
from agent_ecology.genesis.scoring import LLMJudge, OfflineScorer
from agent_ecology.ledger import (
    NANODOLLARS,
    AgentRecord,
    Event,
    Ledger,
    LedgerError,
    LedgerUnavailable,
    ops,
)
from agent_ecology.llm import LLMCaller, Provider, RetryPolicy, ZeroIntelligencePolicy
from agent_ecology.llm.budget import Budget, Overbilling
from agent_ecology.programs import Programs
from agent_ecology.report import RunReport, compile_report, show_progress, summary_lines
from agent_ecology.sandbox import Sandbox, fuel_rate
from agent_ecology.sandbox import load as load_sandbox
from agent_ecology.schedules import (
    BackgroundClock,
    ExchangeExpiry,
    OracleSchedule,
    RobonomicsTicks,
)
from agent_ecology.tasks import TaskBoard, TaskSpec, load_tasks
from agent_ecology.world import open_world

if TYPE_CHECKING:
    from agent_ecology.calibrate import Plan
    from agent_ecology.robonomics.setup import Loop

__all__ = ["RunReport", "Runtime", "choose_provider"]

_log = logging.getLogger("agent_ecology.runtime")
#: The most events a shard takes from the others per poll.
_POLL_BATCH = 5000


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

        try:
            provider = OpenAICompatibleProvider(
                api_key=key.get_secret_value(),
                base_url=settings.llm.base_url,
                timeout=settings.llm.timeout,
                connect_timeout=settings.llm.connect_timeout,
                max_connections=settings.llm.max_connections,
                api_key_env=settings.llm.api_key_env,
                max_tokens_param=settings.llm.max_tokens_param,
                structured_output=settings.llm.structured_output,
                http=settings.llm.http_client,
                per_model={
                    model: price.structured_output
                    for model, price in settings.llm.prices.items()
                    if price.structured_output is not None
                },
            )
        except ValueError as exc:  # a key or base_url that cannot be sent: said, not a traceback
            raise ConfigError("config.yaml", [f"llm: {exc}"]) from None
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


class _Follower:
    """Where a shard reads the others' events from, and the seqs its own writer committed
    (heard from the writer, so that they are not taken for another's)."""

    def __init__(self, ledger: Ledger) -> None:
        self.cursor = 0
        self.own: set[int] = set()
        ledger.subscribe(self.heard)

    def heard(self, events: Sequence[Event]) -> None:
        self.own.update(e.seq for e in events)

    @classmethod
    async def start(cls, ledger: Ledger) -> _Follower:
        follower = cls(ledger)  # listening first: nothing of ours falls between
        latest = await ledger.events(limit=1, newest_first=True)
        follower.cursor = latest[0].seq if latest else 0
        return follower


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
        sandbox: Sandbox | None = None,
        tasks: Mapping[str, TaskSpec] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard {shard[0]}/{shard[1]}: K/N needs 0 <= K < N")
        self.shard = shard
        """``(k, n)``: run only the agents at positions k, k + n, ... of the roster, and the
        world's duties only while this process holds the leader lease; None: everything."""
        self.holder = (
            f"shard {shard[0]}/{shard[1]} pid {os.getpid()} {secrets.token_hex(4)}"
            if shard is not None
            else ""
        )
        self.leading = anyio.Event()
        """Set while (and once) this process runs the world's duties (at once when unsharded)."""
        self.settings = settings
        self.sandbox = sandbox
        self.clock = clock or SystemClock()
        self.out = out if out is not None else sys.stdout
        self.notice: str | None = None
        if provider is None:
            provider, chosen_billed, self.notice = choose_provider(settings, environ)
            billed = chosen_billed if billed is None else billed
        self.provider = provider
        self.billed = bool(billed)
        self.roster = list(roster) if roster is not None else load_roster(settings)
        self.tasks_folder = Path(settings.world.genesis) / "tasks"
        self.tasks = dict(tasks) if tasks is not None else load_tasks(self.tasks_folder)
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
        self.board: TaskBoard | None = None
        self.budget: Budget | None = None
        self._started_at = 0.0

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
        everyone = [spec.id for spec in self.roster]
        ids = everyone if self.shard is None else everyone[self.shard[0] :: self.shard[1]]
        # A shard closes only its own agents' calls and invocations: the other shards' are in
        # flight. The leader closes the world's own (the oracle's judge) when it takes over.
        mine = None if self.shard is None else tuple(ids)
        abandoned = await ledger.submit(ops.AbandonCalls(authority=authority, agents=mine))
        dropped = await ledger.submit(ops.AbandonInvocations(authority=authority, agents=mine))
        follower = None
        if self.shard is not None:
            follower = await _Follower.start(ledger)
            self._say(
                f"shard {self.shard[0]}/{self.shard[1]}: {len(ids)} of {len(everyone)} agents;"
                " the world's duties run in the shard that holds the leader lease"
            )
        self._say(f"world database: {settings.world.database}")
        for line in world_lines:
            self._say(line)
        if abandoned.details.get("calls"):
            self._say(
                f"closed {abandoned.details['calls']} LLM call(s) left open by an interrupted run,"
                f" charged their worst case (${abandoned.details['charged_nd'] / NANODOLLARS:.6f})"
            )
        if dropped.details["abandoned"]:
            self._say(
                f"closed {dropped.details['abandoned']} invocation(s) left running by an"
                " interrupted run; their pay was given back"
            )
        programs = await self._programs(ledger)
        board = TaskBoard(
            ledger,
            self.tasks,
            clock,
            programs=programs,
            authority=authority,
            folder=self.tasks_folder,
        )
        for line in await board.open(mine):
            self._say(line)
        self.board = board
        self._say(f"agents think with: {self.provider.name}")
        if self.notice:
            self._say(self.notice)

        genesis = Genesis.build(
            settings,
            actions_text=action_shapes(),
            provider=self.provider.name,
            agents=len(self.roster),
            tasks=board,
        )
        await genesis.install(ledger, authority=authority)
        methods = {f"{a.id}.{m}" for a in genesis.artifacts.values() for m in a.methods}
        unknown = sorted(set(settings.fees) - methods)
        if unknown:
            raise ConfigError(
                "config.yaml",
                [
                    f"fees.{key}: there is no such genesis method; the methods are"
                    f" {', '.join(sorted(methods))}"
                    for key in unknown
                ],
            )

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
        prices = PriceBoard(ledger)
        ledger.subscribe(prices.on_events)
        if hasattr(self.provider, "say"):
            self.provider.say = self._say  # it says which structured output each model uses
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
            programs=programs,
            fees=settings.fees,
            fee_authority=authority,
        )
        if settings.robonomics.enabled:
            await self._boot_robonomics(ledger)
        observer = WorldObserver(
            clock,
            budget,
            neighbours=everyone[:50],
            oracle_interval=settings.oracle.interval,
            robots=self.robonomics.robot_view if self.robonomics is not None else None,
            tasks=board.open_for,
        )
        services = LoopServices(
            ledger=ledger,
            clock=clock,
            caller=caller,
            executor=executor,
            settings=settings.agent_loop,
            flows=frozenset(settings.resources.flow),
            stop=self.stop_event,
            observer=observer,
            on_change=self._on_change,
            settled=bus.settled,
            default_model=settings.llm.model,
            prices=prices,
            schema=action_schema() if getattr(self.provider, "constrains_output", False) else None,
        )
        for agent_id in ids:
            await self._start_loop(ledger, records[agent_id], services, bus)
        budget.agents = len(self.loops)
        background = BackgroundClock(
            ledger,
            clock,
            self.loops,
            budget=budget,
            interval=settings.run.metrics_interval,
            stop=self.stop_event,
        )
        await background.refresh_budget()
        oracle = OracleSchedule(
            ledger,
            clock,
            settings.oracle,
            authority=authority,
            scorer=LLMJudge(caller, settings.llm.model) if self.billed else OfflineScorer(),
            stop=self.stop_event,
            say=self._say,
        )
        expiry = ExchangeExpiry(ledger, clock, authority=authority, stop=self.stop_event)
        ticks = None
        if self.robonomics is not None:
            ticks = RobonomicsTicks(
                self.robonomics,
                clock,
                period=settings.robonomics.tick_period,
                stop=self.stop_event,
                say=self._say,
            )

        self._started_at = clock.now()
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
                tg.start_soon(self._deadline, self._started_at + duration)
            tg.start_soon(background.run)
            tg.start_soon(self._watch_budget, budget)
            duties = [oracle.run, expiry.run] + ([ticks.run] if ticks is not None else [])
            tg.start_soon(self._lead, ledger, duties, tuple(everyone))
            if follower is not None:
                tg.start_soon(
                    self._follow_others, ledger, (bus.publish, prices.on_events), follower
                )
            tg.start_soon(
                partial(
                    show_progress,
                    self.out,
                    self.loops,
                    budget,
                    live=self.progress,
                    stop=self.stop_event,
                    wall_start=wall_start,
                )
            )
            await self._supervise()
            tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await background.record_last()
            report = await compile_report(
                ledger,
                self.loops,
                reason=self.reason or "every agent stopped",
                started=self._started_at,
                ended=clock.now(),
                provider=self.provider.name,
                budget=budget,
                abandoned=abandoned.details.get("calls", 0),
                tasks=bool(self.tasks),
            )
        lines = summary_lines(
            report,
            time.monotonic() - wall_start,
            provider=self.provider,
            robonomics=self.robonomics,
            database=settings.world.database,
        )
        for line in lines:
            self._say(line)
        ledger.unsubscribe(bus.publish)
        ledger.unsubscribe(prices.on_events)
        return report

    async def _programs(self, ledger: Ledger) -> Programs | None:
        """The sandbox for agents' programs (built once, cached), or None when disabled."""
        config = self.settings.sandbox
        if not config.enabled:
            self._say("programs: off (sandbox.enabled is false)")
            return None
        limits = config.limits()
        sandbox = self.sandbox
        if sandbox is None:
            sandbox = await anyio.to_thread.run_sync(
                lambda: load_sandbox(prepared=config.prepared, memory_bytes=limits.memory_bytes)
            )
        if config.fuel_per_second == "auto":
            rate = await anyio.to_thread.run_sync(fuel_rate, sandbox)
            how = "measured"
        else:
            rate = float(config.fuel_per_second)
            how = "sandbox.fuel_per_second"
        self._say(
            f"programs: {limits.describe()}; {rate:,.0f} instructions per compute-second"
            f" ({how}), so a full fuel budget costs {limits.fuel / rate:.3f} s of compute"
        )
        return Programs(
            ledger,
            sandbox,
            self.clock,
            limits=limits,
            seconds_per_fuel=1.0 / rate,
            workers=max(1, os.cpu_count() or 1),
        )

    async def _boot_robonomics(self, ledger: Ledger) -> None:
        """Boot (or resume) the robonomics loop, and say where it starts."""
        from agent_ecology.robonomics.setup import Loop

        settings = self.settings
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

    # --- shards ------------------------------------------------------------------------------

    async def _lead(
        self,
        ledger: Ledger,
        duties: Sequence[Callable[[], Coroutine[Any, Any, None]]],
        agents: tuple[str, ...],
    ) -> None:
        """Run the world's duties: at once when unsharded; in a shard, only while it holds the
        leader lease (asked for every third of ``run.lease_seconds``).

        A leader steps down (cancels its duties) unless a renewal has succeeded within two
        thirds of the lease, timed from before it asked, so a stalled leader stops before
        another can take the lease; a shard that stops renewing (killed, stalled) is replaced
        by the first to ask after the lease expires.
        """
        if self.shard is None:
            self.leading.set()
            async with anyio.create_task_group() as tg:
                for duty in duties:
                    tg.start_soon(duty)
            return
        seconds = self.settings.run.lease_seconds
        authority = self.settings.world.system_principal
        claim = ops.ClaimLease(name="leader", holder=self.holder, seconds=seconds)
        held = False
        try:
            while not self.stop_event.is_set():
                asked = time.monotonic()
                held = await self._claim(ledger, claim, seconds * 2 / 3)
                if not held:
                    await self._pause(seconds / 3)
                    continue
                self._say(f"{self.holder} leads: it runs the oracle and the world's schedules")
                # What a leader before it left open: the world's own calls and invocations.
                await ledger.submit(ops.AbandonCalls(authority=authority, except_agents=agents))
                await ledger.submit(
                    ops.AbandonInvocations(authority=authority, except_agents=agents)
                )
                if self.robonomics is not None:
                    await self.robonomics.reload()  # tick on from the last tick saved
                self.leading.set()
                async with anyio.create_task_group() as tg:
                    for duty in duties:
                        tg.start_soon(duty)
                    while not self.stop_event.is_set():
                        await self._pause(seconds / 3)
                        if self.stop_event.is_set():
                            break
                        left = asked + seconds * 2 / 3 - time.monotonic()
                        renewing = time.monotonic()
                        if not await self._claim(ledger, claim, left):
                            self._say(
                                f"{self.holder} could not renew the leader lease in time; it"
                                " stops the world's duties and follows"
                            )
                            held = False
                            break
                        asked = renewing
                    tg.cancel_scope.cancel()
                self.leading = anyio.Event()
        finally:
            with anyio.CancelScope(shield=True):
                if held:
                    with contextlib.suppress(LedgerError):
                        await ledger.submit(ops.ReleaseLease(name="leader", holder=self.holder))

    async def _claim(self, ledger: Ledger, claim: ops.ClaimLease, within: float) -> bool:
        """Whether ``claim`` was granted within ``within`` seconds (a ledger that cannot
        answer in time, or at all, is a no)."""
        if within <= 0:
            return False
        with anyio.move_on_after(within):
            try:
                return bool((await ledger.submit(claim)).details["held"])
            except LedgerUnavailable as exc:
                self._say(f"{self.holder}: the leader lease could not be asked for ({exc})")
                return False
        return False

    async def _pause(self, seconds: float) -> None:
        await self.clock.sleep_until(self.clock.now() + seconds, wake=self.stop_event)

    async def _follow_others(
        self,
        ledger: Ledger,
        publish: Sequence[Callable[[Sequence[Event]], None]],
        follower: _Follower,
    ) -> None:
        """Hand what other shards commit to this shard's event bus and price board, in order:
        the events table is read every ``run.shard_poll`` seconds from where ``follower``
        started (at the start of the run, before any of this shard's writes). An event is
        taken as another's only one poll after it was read and not heard from this process's
        own writer (whose listeners are told a moment after the commit)."""
        waiting: list[Event] = []
        reloaded = time.monotonic()
        try:
            while not self.stop_event.is_set():
                await anyio.sleep(self.settings.run.shard_poll)
                foreign = [e for e in waiting if e.seq not in follower.own]
                follower.own.difference_update(e.seq for e in waiting)
                if foreign:
                    for listener in publish:
                        listener(foreign)
                robots = self.robonomics
                if robots is not None and not self.leading.is_set():
                    period = self.settings.robonomics.tick_period
                    if time.monotonic() - reloaded >= period:  # the robots as the leader left them
                        reloaded = time.monotonic()
                        await robots.reload()
                waiting = await ledger.events(after=follower.cursor, limit=_POLL_BATCH)
                if waiting:
                    follower.cursor = waiting[-1].seq
        finally:
            ledger.unsubscribe(follower.heard)

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

    # --- the budget --------------------------------------------------------------------------

    async def _watch_budget(self, budget: Budget) -> None:
        """Stop the run when the budget says the world's dollars are spent."""
        await budget.spent.wait()
        self.stop(budget.spent_reason)

    def _overbilled(self, bill: Overbilling) -> None:
        self._say(f"LLM server fault: {bill.describe()}")
