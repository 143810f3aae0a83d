"""Agents' programs: invocation latency and throughput end to end, CPU speed in the sandbox,
and what programs do to a shipped world's compute.

    .venv/bin/python benchmarks/sandbox.py [--quick] [--duration 60] [--no-worlds]

Measured in one run, every figure beside a baseline taken in the same run (the machine is
shared and noisy, about +-20%):

1. **Latency** of a trivial program (``return args['x'] + 1``, price 1 scrip, paid 1) run
   one call after another:

   - *end to end*: :meth:`Programs.invoke` on a real :class:`Ledger` (a SQLite file in a
     temporary folder, principals minted as the tests' fixtures do): ``StartInvocation``,
     the run on a worker thread, ``FinishInvocation``, both kernel transactions durably
     committed; the shipped limits (:class:`Limits` defaults = config.yaml's ``sandbox``) and
     the fuel rate measured as ``fuel_per_second: auto`` does;
   - *sandbox alone*: :meth:`Sandbox.run` of the same program with a Host that answers
     nothing (no ledger, no event loop).

   Median and 90th percentile of the wall time of each call, the CPU time of the whole
   process per call (every thread: the event loop, the ledger's writer, the worker, the
   sandbox's preparer; the figure the noise of other processes disturbs least), and how many
   calls found no warm instance ready (each instance serves one run; the preparer thread
   makes them ahead, and a call that finds none makes its own). The sandbox alone is also
   run 30 ms apart, so that the preparer keeps up. A second, instrumented pass splits an
   end-to-end call into its parts (means, so that they add up): the two kernel transactions,
   the hops to the worker thread and back, the run; with a plain 1-scrip ``Transfer`` on
   the same ledger for reference (what one durable commit costs here).
2. **Throughput** with 1, 10 and 100 concurrent invokers (asyncio tasks looping
   ``Programs.invoke``, each invoker its own agent) over a fixed window, against the sandbox
   alone at the same concurrency (threads looping ``Sandbox.run``) and the ledger alone
   (tasks looping two 1-scrip transfers, the two transactions an invocation makes):
   invocations per second, median of 3 windows (one with ``--quick``), the sides
   alternating; and the process's CPU time per end-to-end invocation.
3. **CPU-heavy** code: a loop summing ``i * i`` 3,000,000 times and a sieve to 1,000,000, in
   the sandbox and, alternately, as the same source in this process's CPython; medians of a
   few runs, their ratio by wall time and by the thread's CPU time.
4. **A shipped world, before and after programs**: ``agent-ecology run --duration D`` (60 s)
   in a temporary copy of config.yaml and genesis/, with the baseline agents (no API key),
   once with ``sandbox: {enabled: false}`` (before) and once as shipped (after). From each
   world's SQLite file every agent's ``compute`` bucket is replayed from its creation (full,
   at its rate and capacity) through every charge: ``turn`` events (``charges.compute``),
   ``invocation_finished`` (``compute_seconds``), ``spend`` and ``resource_transfer`` of
   compute, accruing at ``rate`` up to ``capacity`` in between, exactly as
   ``ledger/buckets.py`` does. The replay must end on the balance ``flow_buckets`` holds
   (the check column), so the figures are the ledger's, not an estimate. Over the run's
   window (the first metrics window's start to the last event):

   - **frozen**: the share of agent-time with the compute balance below zero (in debt: the
     agent loop does not start a turn, and no invocation starts);
   - **used / accrued**: compute charged over what the agent could have spent, defined as
     its balance at the window's start plus ``rate x window`` (an agent that spent all it
     accrued as it accrued would reach 100%); the compute that accrued into a full bucket
     and was lost to the capacity cap is shown apart (``capped``), so the other reading,
     used over what the bucket actually gained, is ``used / (accrued - capped)``.

   With the invocations of the after world by status and error kind.

Targets: a trivial invocation at most 5 ms end to end and 3 ms in the sandbox alone (median);
at least 200 invocations per second on 2 cores; CPU-heavy code at most 5x native.
``--quick`` shortens everything (15 s worlds), for a smoke check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from agent_ecology.clock import SystemClock
from agent_ecology.ledger import Ledger, ResourceSpec, ops
from agent_ecology.ledger.buckets import DEBT_TOLERANCE
from agent_ecology.programs import Programs
from agent_ecology.sandbox import HostRefusal, Limits, Sandbox, fuel_rate, load

ROOT = Path(__file__).resolve().parent.parent

INFO: dict[str, Any] = {"invoker": "", "owner": "", "me": "", "now": 0.0, "paid": 0, "price": 0}

TRIVIAL = "def main(args, host):\n    return args['x'] + 1"

SQUARES = """
def main(args, host):
    total = 0
    for i in range(args["n"]):
        total += i * i
    return total
"""

SIEVE = """
def main(args, host):
    n = args["n"]
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, n + 1, i)))
    count = 0
    for flag in sieve:
        count += flag
    return count
"""

SHIPPED = Limits()  # config.yaml's sandbox section (fuel 1e9, 64 MiB, 2 s, ...)
HEAVY = Limits(fuel=10**12, deadline_s=120.0, max_host_calls=0)
OWNER = "owner"
PROGRAM = f"{OWNER}/trivial"
PRICE = 1


class NoHost:
    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        raise HostRefusal("this benchmark answers no host call")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) >= 2 else xs[0]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


@dataclass
class Targets:
    """The summary table: one row per target."""

    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, what: str, figure: str, target: str, ok: bool) -> None:
        self.rows.append((what, figure, target, ok))

    def print(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        print(f"  {'measurement':<{width}}  {'figure':>12}  {'target':<10}  verdict")
        for what, figure, target, ok in self.rows:
            print(f"  {what:<{width}}  {figure:>12}  {target:<10}  {verdict(ok)}")


# --- the sandbox alone ----------------------------------------------------------------------


def run_alone(sandbox: Sandbox, i: int) -> float:
    """One trivial run through Sandbox.run; its wall time in seconds."""
    started = time.perf_counter()
    out = sandbox.run(TRIVIAL, {"x": i}, info=INFO, host=NoHost(), limits=SHIPPED, seed=i)
    took = time.perf_counter() - started
    if out.value != i + 1:
        raise RuntimeError(f"the trivial program failed: {out.failure}")
    return took


def alone_sequential(sandbox: Sandbox, calls: int) -> tuple[list[float], float]:
    """(wall seconds of each call, process CPU seconds per call)."""
    cpu = time.process_time()
    took = [run_alone(sandbox, i) for i in range(calls)]
    return took, (time.process_time() - cpu) / calls


def alone_rate(sandbox: Sandbox, threads: int, seconds: float) -> float:
    """Runs per second of ``threads`` threads each looping Sandbox.run for ``seconds``."""
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def loop(k: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            run_alone(sandbox, i)
            i += 1
        counts[k] = i

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(loop, range(threads)))
    return sum(counts) / (time.perf_counter() - started)


# --- end to end: a real ledger --------------------------------------------------------------


@dataclass
class Bench:
    ledger: Ledger
    programs: Programs
    agents: list[str]


async def open_bench(path: Path, sandbox: Sandbox, agents: int, seconds_per_fuel: float) -> Bench:
    """A ledger populated as tests/conftest.py and tests/programs/conftest.py do: disk, a
    dollar budget, compute and memory declared; a 'world' system; agents with scrip, disk,
    memory quota for two invocations at once and a compute bucket; one program."""
    ledger = await Ledger.open(path, clock=SystemClock())
    names = [f"agent{i:03d}" for i in range(agents)]
    # room for two invocations at once, each holding its memory limit for every level of
    # nesting it may reach (what Programs holds), so no invoker ever waits for quota
    memory = 2 * SHIPPED.memory_bytes * (SHIPPED.max_depth + 1)
    for spec in (
        ResourceSpec("disk", "stock", "bytes", total=20_000.0 * (agents + 1), distribution="equal"),
        ResourceSpec("llm_budget", "stock", "dollars", total=3.0, distribution="equal"),
        ResourceSpec("compute", "flow", "cpu_seconds", rate=10.0, capacity=100.0),
        ResourceSpec("memory", "stock", "bytes", total=memory * (agents + 1), distribution="equal"),
    ):
        await ledger.submit(ops.DeclareResource.of(spec))
    for system in ("world", ops.SANDBOX):  # the sandbox's account holds pay during a call
        await ledger.submit(ops.EnsurePrincipal(principal_id=system, principal_kind="system"))
    for name in [OWNER, *names]:
        stock = {"disk": 20_000.0, "llm_budget": 1.0 / (agents + 1), "memory": float(memory)}
        await ledger.submit(ops.EnsurePrincipal(principal_id=name, stock=stock))
        await ledger.submit(ops.Mint(dst=name, amount=10**9, authority="world"))
    programs = Programs(
        ledger,
        sandbox,
        SystemClock(),
        limits=SHIPPED,
        seconds_per_fuel=seconds_per_fuel,
        workers=max(1, os.cpu_count() or 1),  # as the runtime makes it
    )
    await programs.write(OWNER, PROGRAM, TRIVIAL, PRICE)
    return Bench(ledger, programs, names)


async def invoke(bench: Bench, invoker: str, i: int) -> None:
    out = await bench.programs.invoke(invoker, PROGRAM, {"x": i}, PRICE)
    if not out.ok or out.value != i + 1:
        raise RuntimeError(f"the trivial invocation failed: {out.failure}")


async def e2e_sequential(bench: Bench, calls: int) -> tuple[list[float], float]:
    """(wall seconds of each call, process CPU seconds per call)."""
    took = []
    cpu = time.process_time()
    for i in range(calls):
        started = time.perf_counter()
        await invoke(bench, bench.agents[0], i)
        took.append(time.perf_counter() - started)
    return took, (time.process_time() - cpu) / calls


async def e2e_rate(bench: Bench, invokers: int, seconds: float) -> tuple[float, float]:
    """(invocations per second, process CPU seconds per invocation) of ``invokers`` tasks,
    each its own agent, looping Programs.invoke for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def invoker(agent: str) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await invoke(bench, agent, i)
            i += 1
            done += 1

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(invoker(a) for a in bench.agents[:invokers]))
    elapsed = time.perf_counter() - started
    return done / elapsed, (time.process_time() - cpu) / max(1, done)


async def ledger_pair_rate(bench: Bench, invokers: int, seconds: float) -> float:
    """Pairs of kernel transactions per second (two 1-scrip transfers, there and back) of
    ``invokers`` tasks: what the two transactions of an invocation cost at least."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def pair(agent: str) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await bench.ledger.submit(ops.Transfer(src=agent, dst=OWNER, amount=1))
            await bench.ledger.submit(ops.Transfer(src=OWNER, dst=agent, amount=1))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(pair(a) for a in bench.agents[:invokers]))
    return done / (time.perf_counter() - started)


# --- where the time of one invocation goes ------------------------------------------------


@dataclass
class Preparations:
    """Sandbox instances made (each serves one run): by the preparer thread ahead of time,
    or on the calling thread because none was ready."""

    here: int = 0
    behind: int = 0
    cpu: list[float] = field(default_factory=list)


@contextmanager
def counting(sandbox: Sandbox, prep: Preparations) -> Iterator[None]:
    """Count the instances ``sandbox`` prepares, and their CPU time (an instance attribute
    shadows its ``_prepare``, removed afterwards)."""
    prepare: Callable[[int], Any] = sandbox._prepare

    def timed_prepare(memory_bytes: int) -> Any:
        cpu = time.thread_time()
        try:
            return prepare(memory_bytes)
        finally:
            prep.cpu.append(time.thread_time() - cpu)
            if threading.current_thread().name == "sandbox-prepare":
                prep.behind += 1
            else:
                prep.here += 1

    setattr(sandbox, "_prepare", timed_prepare)  # noqa: B010
    try:
        yield
    finally:
        delattr(sandbox, "_prepare")


@dataclass
class Phases:
    spans: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    prep: Preparations = field(default_factory=Preparations)
    mark: float = 0.0  # when the last phase ended


@contextmanager
def instrumented(bench: Bench, sandbox: Sandbox, phases: Phases) -> Iterator[None]:
    """Time the ledger calls, the sandbox run and the hops between them in Programs.invoke
    (instance attributes shadowing the methods; removed afterwards)."""
    ledger = bench.ledger
    submit, run = ledger.submit, sandbox.run

    async def timed_submit(op: Any) -> Any:
        started = time.perf_counter()
        if isinstance(op, ops.FinishInvocation):
            phases.spans["hop back"].append(started - phases.mark)
        try:
            return await submit(op)
        finally:
            phases.mark = time.perf_counter()
            phases.spans[type(op).__name__].append(phases.mark - started)

    def timed_run(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        phases.spans["hop to worker"].append(started - phases.mark)
        try:
            return run(*args, **kwargs)
        finally:
            phases.mark = time.perf_counter()
            phases.spans["Sandbox.run"].append(phases.mark - started)
            phases.spans["Sandbox.run CPU"].append(time.thread_time() - cpu)

    setattr(ledger, "submit", timed_submit)  # noqa: B010
    setattr(sandbox, "run", timed_run)  # noqa: B010
    try:
        with counting(sandbox, phases.prep):
            yield
    finally:
        delattr(ledger, "submit")
        delattr(sandbox, "run")


async def breakdown(bench: Bench, sandbox: Sandbox, calls: int) -> tuple[Phases, list[float]]:
    phases = Phases()
    took = []
    with instrumented(bench, sandbox, phases):
        for i in range(calls):
            started = time.perf_counter()
            await invoke(bench, bench.agents[0], i)
            took.append(time.perf_counter() - started)
    for _ in range(calls):  # a reference: one plain kernel transaction on the same ledger
        started = time.perf_counter()
        await bench.ledger.submit(ops.Transfer(src=bench.agents[0], dst=OWNER, amount=1))
        phases.spans["Transfer"].append(time.perf_counter() - started)
    return phases, took


# --- CPU-heavy --------------------------------------------------------------------------------


def native(source: str) -> Callable[[Mapping[str, Any], Any], Any]:
    scope: dict[str, Any] = {}
    exec(compile(source, "<native>", "exec"), scope)
    main: Callable[[Mapping[str, Any], Any], Any] = scope["main"]
    return main


@dataclass
class Heavy:
    wall_in: float
    wall_out: float
    cpu_in: float
    cpu_out: float
    fuel: int


def heavy(sandbox: Sandbox, source: str, n: int, repeats: int) -> Heavy:
    """Medians of ``repeats`` runs of ``source`` on ``n``, sandbox and native alternating."""
    main = native(source)
    expected = main({"n": n}, None)
    wall_in, wall_out, cpu_in, cpu_out = [], [], [], []
    fuel = 0
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.thread_time()
        out = sandbox.run(source, {"n": n}, info=INFO, host=NoHost(), limits=HEAVY, seed=0)
        wall_in.append(time.perf_counter() - started)
        cpu_in.append(time.thread_time() - cpu)
        if out.value != expected:
            raise RuntimeError(f"the sandbox computed {out.value!r}, not {expected!r}")
        fuel = out.fuel
        started, cpu = time.perf_counter(), time.thread_time()
        main({"n": n}, None)
        wall_out.append(time.perf_counter() - started)
        cpu_out.append(time.thread_time() - cpu)
    med = statistics.median
    return Heavy(med(wall_in), med(wall_out), med(cpu_in), med(cpu_out), fuel)


# --- parts 1 to 3 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    sequential: int
    breakdown: int
    window: float
    rounds: int
    repeats: int
    duration: float


async def measure_invocations(sandbox: Sandbox, plan: Plan, targets: Targets) -> None:
    started = time.perf_counter()
    rate = await asyncio.to_thread(fuel_rate, sandbox)
    print(
        f"fuel rate (as fuel_per_second: auto): {rate:,.0f} instructions per CPU-second,"
        f" measured in {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        bench = await open_bench(Path(tmp) / "world.db", sandbox, 100, 1.0 / rate)
        try:
            await latency(bench, sandbox, plan, targets)
            await throughput(bench, sandbox, plan, targets)
        finally:
            await bench.ledger.close()


async def latency(bench: Bench, sandbox: Sandbox, plan: Plan, targets: Targets) -> None:
    n = plan.sequential
    for i in range(20):  # warm: the ticker, the preparer, the ledger's connections
        await invoke(bench, bench.agents[0], i)
        run_alone(sandbox, i)
    preps = [Preparations(), Preparations(), Preparations()]
    with counting(sandbox, preps[0]):
        e2e, e2e_cpu = await e2e_sequential(bench, n)
    with counting(sandbox, preps[1]):
        alone, alone_cpu = await asyncio.to_thread(alone_sequential, sandbox, n)
    await asyncio.sleep(0.1)  # let the preparer refill its queue
    paced = []
    with counting(sandbox, preps[2]):
        for i in range(min(n, 50)):
            paced.append(await asyncio.to_thread(run_alone, sandbox, i))
            await asyncio.sleep(0.03)
    print()
    print(f"1. trivial invocation, {n} calls one after another (price {PRICE}, paid {PRICE})")
    print(
        f"  {'':<38} {'median ms':>9} {'p90 ms':>7} {'CPU ms/call':>11}"
        f" {'instance made on the call':>25}"
    )
    for label, took, cpu, prep in (
        ("end to end (Programs.invoke, ledger)", e2e, e2e_cpu, preps[0]),
        ("sandbox alone (Sandbox.run)", alone, alone_cpu, preps[1]),
        ("sandbox alone, 30 ms apart", paced, None, preps[2]),
    ):
        print(
            f"  {label:<38} {ms(statistics.median(took)):>9} {ms(p90(took)):>7}"
            f" {'' if cpu is None else ms(cpu):>11} {f'{prep.here} of {len(took)}':>25}"
        )
    targets.add(
        "trivial invocation end to end, median",
        f"{ms(statistics.median(e2e))} ms",
        "<= 5 ms",
        statistics.median(e2e) <= 0.005,
    )
    targets.add(
        "trivial invocation, sandbox alone, median",
        f"{ms(statistics.median(alone))} ms",
        "<= 3 ms",
        statistics.median(alone) <= 0.003,
    )

    phases, took = await breakdown(bench, sandbox, plan.breakdown)
    mean = statistics.fmean(took)
    print()
    print(
        f"  where an end-to-end call goes ({plan.breakdown} instrumented calls; means, which"
        f" add up: a call took {ms(mean)} ms, median {ms(statistics.median(took))})"
    )
    parts = 0.0
    for name, label in (
        ("StartInvocation", "StartInvocation (kernel transaction, committed)"),
        ("hop to worker", "to the worker thread"),
        ("Sandbox.run", "Sandbox.run (on the worker thread)"),
        ("hop back", "back to the event loop"),
        ("FinishInvocation", "FinishInvocation (kernel transaction, committed)"),
    ):
        spans = phases.spans.get(name, [])
        if spans:
            part = statistics.fmean(spans)
            parts += part
            run_cpu = phases.spans.get(f"{name} CPU")
            more = f", {ms(statistics.fmean(run_cpu))} ms of it CPU" if run_cpu else ""
            print(f"    {label:<50} {ms(part):>7} ms  ({part / mean:4.0%}{more})")
    print(
        f"    {'the rest (Programs itself)':<50} {ms(mean - parts):>7} ms"
        f"  ({(mean - parts) / mean:4.0%})"
    )
    transfer = phases.spans["Transfer"]
    print(
        f"    for reference, a 1-scrip Transfer on the same ledger:"
        f" {ms(statistics.fmean(transfer))} ms (mean), {ms(statistics.median(transfer))} ms"
        " (median)"
    )
    prep = phases.prep
    if prep.cpu:
        print(
            f"    sandbox instances made meanwhile: {prep.here + prep.behind} (each serves one"
            f" run), {ms(statistics.median(prep.cpu))} ms of CPU each (median), {prep.here} of"
            " them on the calling thread because none was ready"
        )


async def throughput(bench: Bench, sandbox: Sandbox, plan: Plan, targets: Targets) -> None:
    print()
    print(
        f"2. invocations per second, concurrent invokers (median of {plan.rounds} windows of"
        f" {plan.window:g} s; {os.cpu_count()} CPUs)"
    )
    print(
        f"  {'invokers':>8} {'end to end/s':>12} {'CPU ms/inv':>10} {'alone/s':>8}"
        f" {'e2e/alone':>9} {'ledger pairs/s':>14}"
    )
    best = 0.0
    for n in (1, 10, 100):
        e2e, cpu, alone, pairs = [], [], [], []
        for _ in range(plan.rounds):
            alone.append(await asyncio.to_thread(alone_rate, sandbox, n, plan.window))
            rate, per = await e2e_rate(bench, n, plan.window)
            e2e.append(rate)
            cpu.append(per)
            pairs.append(await ledger_pair_rate(bench, n, plan.window))
        med = statistics.median
        e, a = med(e2e), med(alone)
        best = max(best, e)
        print(
            f"  {n:>8} {e:>12.0f} {ms(med(cpu)):>10} {a:>8.0f} {e / a:>8.2f}x {med(pairs):>14.0f}",
            flush=True,
        )
        targets.add(f"invocations/s, {n} invoker(s)", f"{e:.0f}/s", ">= 200/s", e >= 200)


def measure_cpu(sandbox: Sandbox, plan: Plan, targets: Targets) -> None:
    print()
    print(f"3. CPU-heavy, sandbox vs native CPython (median of {plan.repeats}, alternating)")
    print(
        f"  {'program':<18} {'sandbox s':>9} {'native s':>9} {'wall ratio':>10}"
        f" {'CPU ratio':>9} {'Minstr/CPU-s':>12}"
    )
    for name, source, n in (
        ("sum of i*i, 3e6", SQUARES, 3_000_000),
        ("sieve to 1e6", SIEVE, 1_000_000),
    ):
        h = heavy(sandbox, source, n, plan.repeats)
        wall, cpu = h.wall_in / h.wall_out, h.cpu_in / max(h.cpu_out, 1e-9)
        print(
            f"  {name:<18} {h.wall_in:>9.3f} {h.wall_out:>9.3f} {wall:>9.2f}x {cpu:>8.2f}x"
            f" {h.fuel / max(h.cpu_in, 1e-9) / 1e6:>12.0f}",
            flush=True,
        )
        targets.add(f"CPU-heavy vs native, {name} (CPU time)", f"{cpu:.2f}x", "<= 5x", cpu <= 5)


# --- part 4: a shipped world, before and after ----------------------------------------------


@dataclass
class AgentCompute:
    """One agent's compute bucket, replayed, and its figures over the run's window."""

    rate: float
    capacity: float
    balance: float
    at: float
    start_balance: float | None = None
    used_turns: float = 0.0
    used_programs: float = 0.0
    moved: float = 0.0  # spent (spend) or given away (resource_transfer), net of received
    nominal: float = 0.0  # rate x time inside the window
    capped: float = 0.0  # accrual lost to the capacity cap inside the window
    frozen: float = 0.0  # seconds in debt inside the window
    check: float = 0.0  # |replayed - stored| balance

    @property
    def used(self) -> float:
        return self.used_turns + self.used_programs

    @property
    def accrued(self) -> float:
        return (self.start_balance or 0.0) + self.nominal

    def advance(self, to: float, start: float, end: float) -> None:
        """Accrue from ``self.at`` to ``to``, counting what falls inside [start, end]."""
        for a, b in _pieces(self.at, to, start, end):
            inside = start <= a and b <= end
            if inside and self.start_balance is None and a >= start:
                self.start_balance = self.balance
            elapsed = b - a
            after = min(self.capacity, self.balance + elapsed * self.rate)
            if inside:
                self.nominal += elapsed * self.rate
                self.capped += elapsed * self.rate - (after - self.balance)
                if self.balance < -DEBT_TOLERANCE:
                    self.frozen += (
                        min(elapsed, -self.balance / self.rate) if self.rate > 0 else elapsed
                    )
            self.balance = after
        self.at = max(self.at, to)

    def charge(self, amount: float) -> None:
        self.balance -= amount


def _pieces(a: float, b: float, start: float, end: float) -> list[tuple[float, float]]:
    """[a, b] cut at ``start`` and ``end``."""
    if b <= a:
        return []
    cuts = sorted({a, b, *(t for t in (start, end) if a < t < b)})
    return list(pairwise(cuts))


@dataclass
class WorldFigures:
    label: str
    wall_s: float
    window: float = 0.0
    rate: float = 0.0
    agents: dict[str, AgentCompute] = field(default_factory=dict)
    turns: dict[str, int] = field(default_factory=dict)
    invocations: list[tuple[str, str, int, float]] = field(default_factory=list)
    unreplayed: dict[str, int] = field(default_factory=dict)
    lines: list[tuple[float, str]] = field(default_factory=list)


BUCKET_RATE_EVENTS = ("quota_set", "quota_transfer", "resource_updated", "buckets_reanchored")


def replay(db: Path, label: str, wall_s: float) -> WorldFigures:
    """Every agent's compute bucket replayed from the events of the world in ``db``."""
    out = WorldFigures(label, wall_s)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT principal_id, rate, capacity, balance, updated_at FROM flow_buckets f"
            " JOIN principals p ON p.id = f.principal_id"
            " WHERE f.resource = 'compute' AND p.kind = 'agent' ORDER BY principal_id"
        ).fetchall()
        stored = {str(r[0]): (float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows}
        windows = conn.execute(
            "SELECT details FROM events WHERE kind = 'metrics_window' ORDER BY seq"
        ).fetchall()
        last = conn.execute("SELECT max(at) FROM events").fetchone()[0]
        first_turn = conn.execute("SELECT min(at) FROM events WHERE kind = 'turn'").fetchone()[0]
        if last is None or (not windows and first_turn is None):
            raise RuntimeError(f"the {label} world recorded no turn")
        start = float(json.loads(windows[0][0])["start"]) if windows else float(first_turn)
        end = float(last)
        out.window = end - start
        out.rate = statistics.median(s[0] for s in stored.values()) if stored else 0.0
        buckets: dict[str, AgentCompute] = {}
        events = conn.execute(
            "SELECT at, kind, actor_id, principal_id, counterparty_id, resource, amount, details"
            " FROM events WHERE kind IN ('principal_created', 'turn', 'invocation_finished',"
            " 'spend', 'resource_transfer', 'quota_set', 'quota_transfer', 'resource_updated',"
            " 'buckets_reanchored') ORDER BY seq"
        )
        for at, kind, actor, principal, counterparty, resource, amount, details in events:
            at = float(at)
            data = json.loads(details) if details else {}
            if kind == "principal_created":
                if principal in stored:  # a new bucket starts full
                    rate, capacity, _balance, _at = stored[principal]
                    buckets[principal] = AgentCompute(rate, capacity, capacity, at)
                continue
            if kind in BUCKET_RATE_EVENTS:
                if resource == "compute" or "compute" in data.get("resources", []):
                    out.unreplayed[kind] = out.unreplayed.get(kind, 0) + 1
                continue
            who = actor if kind in ("turn", "invocation_finished") else principal
            bucket = buckets.get(str(who))
            if kind == "turn":
                seconds = float(data.get("charges", {}).get("compute", 0.0))
                out.turns[str(who)] = out.turns.get(str(who), 0) + 1
                if bucket is not None and seconds > 0:
                    bucket.advance(at, start, end)
                    bucket.charge(seconds)
                    bucket.used_turns += seconds if start <= at <= end else 0.0
            elif kind == "invocation_finished":
                seconds = float(data.get("compute_seconds", 0.0))
                if bucket is not None and seconds > 0:
                    bucket.advance(at, start, end)
                    bucket.charge(seconds)
                    bucket.used_programs += seconds if start <= at <= end else 0.0
            elif resource == "compute" and kind in ("spend", "resource_transfer"):
                moved = float(amount)
                if bucket is not None:
                    bucket.advance(at, start, end)
                    bucket.charge(moved)
                    bucket.moved += moved
                other = buckets.get(str(counterparty)) if kind == "resource_transfer" else None
                if other is not None:
                    other.advance(at, start, end)
                    other.charge(-moved)
                    other.moved -= moved
        for agent, bucket in buckets.items():
            _rate, _capacity, balance, updated_at = stored[agent]
            # the stored bucket is its state at its last change: the replay must end there too
            bucket.check = abs(bucket.balance - balance) + abs(bucket.at - updated_at)
            bucket.advance(end, start, end)
        out.agents = buckets
        out.invocations = [
            (str(s), str(k or ""), int(n), float(c or 0.0))
            for s, k, n, c in conn.execute(
                "SELECT status, error_kind, count(*), sum(compute_seconds) FROM invocations"
                " GROUP BY status, error_kind ORDER BY count(*) DESC"
            )
        ]
    finally:
        conn.close()
    return out


def run_world(tmp: Path, label: str, sandbox_on: bool, duration: float) -> WorldFigures:
    """``agent-ecology run`` in a copy of config.yaml and genesis/ under ``tmp``."""
    home = tmp / label
    home.mkdir()
    shutil.copytree(ROOT / "genesis", home / "genesis")
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    if not sandbox_on:
        config["sandbox"] = {"enabled": False}
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    db = home / "data" / "world.db"
    script = Path(sys.executable).parent / "agent-ecology"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent_ecology.launch"]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.pop("AGENT_ECOLOGY_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"  # its lines as they come, to time its phases
    argv = [*command, "run", "--config", "config.yaml", "--db", str(db)]
    argv += ["--duration", f"{duration:g}"]
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []  # each line of its output, when it came
    with subprocess.Popen(
        argv, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        watchdog = threading.Timer(duration + 300, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append((time.perf_counter() - started, line.rstrip("\n")))
        finally:
            watchdog.cancel()
        code = proc.wait()
    wall = time.perf_counter() - started
    if code != 0 or not db.exists():
        text = "\n".join(line for _t, line in lines[-60:])
        raise RuntimeError(f"agent-ecology run ({label}) exited {code}:\n{text}")
    figures = replay(db, label, wall)
    figures.lines = lines
    return figures


def phases_of(lines: list[tuple[float, str]], wall: float) -> str:
    """How a run's wall time went: boot (to 'running N agent(s)'), the run (to 'stopping'),
    the stop (to the process's end)."""
    running = next((t for t, line in lines if line.startswith("running ")), None)
    stopping = next((t for t, line in lines if line.startswith("stopping")), None)
    if running is None or stopping is None:
        return f"{wall:.0f} s in all"
    return (
        f"{wall:.0f} s: boot {running:.1f} s, agents {stopping - running:.1f} s,"
        f" stop {wall - stopping:.1f} s"
    )


def pct(part: float, whole: float) -> str:
    return f"{part / whole:6.1%}" if whole > 0 else "     -"


def measure_worlds(duration: float, targets: Targets) -> None:
    print()
    print(f"4. the shipped world ({duration:g} s, baseline agents), before and after programs")
    with tempfile.TemporaryDirectory(prefix="sandbox-worlds-") as d:
        worlds = []
        for label, on in (("before", False), ("after", True)):
            worlds.append(run_world(Path(d), label, on, duration))
            w = worlds[-1]
            print(
                f"  {label}: sandbox {'on' if on else 'off'};"
                f" run took {phases_of(w.lines, w.wall_s)};"
                f" window {w.window:.1f} s; compute rate {w.rate:.4f}/s per agent (calibrated"
                " by the run itself)",
                flush=True,
            )
    print()
    print(
        f"  {'world':<7} {'agent':<6} {'turns':>5} {'used s':>8} {'programs s':>10}"
        f" {'accrued s':>9} {'used %':>6} {'capped s':>8} {'of gained':>9} {'frozen':>6}"
        f" {'check':>7}"
    )
    for w in worlds:
        tot = AgentCompute(0.0, 0.0, 0.0, 0.0, start_balance=0.0)
        turns = 0
        for agent, b in sorted(w.agents.items()):
            turns += w.turns.get(agent, 0)
            tot.used_turns += b.used_turns
            tot.used_programs += b.used_programs
            tot.start_balance = (tot.start_balance or 0.0) + (b.start_balance or 0.0)
            tot.nominal += b.nominal
            tot.capped += b.capped
            tot.frozen += b.frozen
            tot.check = max(tot.check, b.check)
            _world_row(w.label, agent, w.turns.get(agent, 0), b, w.window)
        _world_row(w.label, "all", turns, tot, w.window * max(1, len(w.agents)))
        moved = sum(b.moved for b in w.agents.values())
        if any(b.moved for b in w.agents.values()):
            print(
                f"  {w.label}: compute spent or given away outside turns and calls: {moved:.4f} s"
            )
        if w.unreplayed:
            print(f"  {w.label}: events changing buckets not replayed: {w.unreplayed}")
    print()
    for w in worlds:
        total = sum(n for _s, _k, n, _c in w.invocations)
        print(f"  invocations, {w.label}: {total}", end="")
        print(
            ""
            if not total
            else ": "
            + ", ".join(
                f"{s}{'/' + k if k else ''} {n} ({c:.4f} s compute)" for s, k, n, c in w.invocations
            )
        )
    before, after = worlds
    for w in worlds:
        frozen = sum(b.frozen for b in w.agents.values()) / (w.window * max(1, len(w.agents)))
        targets.add(
            f"world {w.label}: agent-time frozen in compute debt", f"{frozen:.1%}", "(report)", True
        )
    for w in worlds:
        used = sum(b.used for b in w.agents.values())
        accrued = sum(b.accrued for b in w.agents.values())
        targets.add(
            f"world {w.label}: compute used / accrued", pct(used, accrued).strip(), "(report)", True
        )
    check = max((b.check for w in (before, after) for b in w.agents.values()), default=0.0)
    targets.add(
        "worlds: replayed vs stored balance, max |diff|", f"{check:.1e} s", "< 1e-6", check < 1e-6
    )


def _world_row(label: str, agent: str, turns: int, b: AgentCompute, agent_time: float) -> None:
    gained = b.accrued - b.capped
    print(
        f"  {label:<7} {agent:<6} {turns:>5} {b.used:>8.4f} {b.used_programs:>10.4f}"
        f" {b.accrued:>9.3f} {pct(b.used, b.accrued)} {b.capped:>8.3f} {pct(b.used, gained):>9}"
        f" {pct(b.frozen, agent_time)} {b.check:>7.0e}"
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter everything (smoke check)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per world run")
    parser.add_argument("--no-worlds", action="store_true", help="skip part 4")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(sequential=50, breakdown=30, window=0.5, rounds=1, repeats=1, duration=15)
    else:
        plan = Plan(sequential=200, breakdown=100, window=2.0, rounds=3, repeats=5, duration=60)
    duration = args.duration or plan.duration
    began = time.perf_counter()
    targets = Targets()

    started = time.perf_counter()
    sandbox = load(prepared=2, memory_bytes=SHIPPED.memory_bytes)  # as the runtime loads it
    print(
        f"sandbox loaded in {time.perf_counter() - started:.1f} s; {os.cpu_count()} CPUs;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    asyncio.run(measure_invocations(sandbox, plan, targets))
    measure_cpu(sandbox, plan, targets)
    if not args.no_worlds:
        measure_worlds(duration, targets)

    print()
    print(
        f"targets ({time.perf_counter() - began:.0f} s in all; load average now"
        f" {os.getloadavg()[0]:.1f})"
    )
    targets.print()


if __name__ == "__main__":
    main()
