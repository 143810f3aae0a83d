"""The ``agent-ecology`` command.

agent-ecology run      boot the world from config.yaml and genesis/, and let every agent live
agent-ecology init     create or migrate the world database from config.yaml, print balances
agent-ecology inspect  balances, scrip totals and recent events of a world database
agent-ecology report   one self-contained HTML file of plots of a run (opens offline)
agent-ecology dashboard  the same plots served on 127.0.0.1, updating while a run goes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
from sqlalchemy.exc import DBAPIError

from agent_ecology import __version__, early_signals
from agent_ecology._table import render_table
from agent_ecology.config import ConfigError, Settings, load_settings
from agent_ecology.ledger import Event, Ledger, LedgerError, Program, TaskResult, TaskStanding
from agent_ecology.plots import ReportError
from agent_ecology.sandbox.errors import SandboxBuildError
from agent_ecology.store.migrate import (
    NewerSchema,
    current_revision,
    head_revision,
    known_revisions,
)
from agent_ecology.world import open_world

__all__ = ["main"]


def _num(value: float | int) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


async def balances_table(ledger: Ledger) -> str:
    """Every principal with its scrip and, per resource, available of quota (and rate)."""
    specs = await ledger.resources()
    now = ledger.clock.now()
    headers = ["principal", "kind", "scrip"] + [f"{s.name} ({s.unit})" for s in specs]
    rows: list[list[object]] = []
    for p in await ledger.principals():
        stock, flow = await ledger.holdings(p.id)
        by_name: dict[str, str] = {}
        for h in stock:
            by_name[h.resource] = f"{_num(h.available)} of {_num(h.quota)}"
        for b in flow:
            debt = " DEBT" if b.bucket.is_in_debt(now) else ""
            by_name[b.resource] = (
                f"{_num(b.available(now))} of {_num(b.capacity)} (+{_num(b.rate)}/s){debt}"
            )
        rows.append([p.id, p.kind, p.scrip] + [by_name.get(s.name) for s in specs])
    supply = await ledger.supply()
    verdict = "conserved" if supply.is_conserved else "NOT CONSERVED: report this as a bug"
    footer = (
        f"scrip: minted {supply.minted}, burned {supply.burned},"
        f" circulating {supply.circulating} ({verdict})"
    )
    return render_table(headers, rows) + "\n\n" + footer


def programs_table(programs: Sequence[Program]) -> str:
    rows = [("program", "owner", "price", "frozen", "holds", "calls", "ok", "revenue")]
    for p in programs:
        rows.append(
            (
                p.id,
                p.owner_id,
                str(p.price),
                "yes" if p.frozen else "no",
                f"{p.scrip_held} scrip"
                + (f", {p.artifacts_held} art." if p.artifacts_held else ""),
                str(p.invocations),
                str(p.succeeded),
                str(p.revenue),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def tasks_table(standings: Sequence[TaskStanding], results: Sequence[TaskResult]) -> str:
    """The task board, and the latest checked submissions (public-safe reasons only)."""
    rows = [
        [
            t.id,
            t.difficulty,
            t.reward,
            t.solved,
            t.solvers_left,
            t.submissions,
            "-"
            if t.closes_at is None
            else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.closes_at)),
        ]
        for t in standings
    ]
    board = render_table(
        ["task", "difficulty", "reward", "solved", "slots left", "submissions", "closes (UTC)"],
        rows,
    )
    if not results:
        return board
    latest = render_table(
        ["agent", "task", "status", "cases", "minted", "reason"],
        [
            [
                r.agent_id,
                r.task_id,
                r.status,
                f"{r.cases_passed if r.cases_passed is not None else '-'}/{r.cases_total}",
                r.minted,
                r.reason or "",
            ]
            for r in results
        ],
    )
    return f"{board}\n\nlatest submissions (newest first):\n{latest}"


def _event_summary(e: Event) -> str:
    parts = []
    if e.counterparty_id:
        parts.append(f"-> {e.counterparty_id}")
    if e.amount is not None:
        parts.append(_num(e.amount) + (f" {e.resource}" if e.resource else ""))
    elif e.resource:
        parts.append(e.resource)
    if e.artifact_id:
        parts.append(f"artifact {e.artifact_id}")
    if e.details:
        parts.append(json.dumps(dict(e.details), sort_keys=True, separators=(",", ":")))
    text = " ".join(parts)
    return text if len(text) <= 90 else text[:87] + "..."


def events_table(events: Sequence[Event]) -> str:
    rows = [
        [
            e.seq,
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at)),
            e.kind,
            e.principal_id or e.actor_id,
            _event_summary(e),
        ]
        for e in events
    ]
    return render_table(["seq", "time (UTC)", "kind", "principal", "what"], rows)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if args.db is not None:
        settings = settings.model_copy(
            update={"world": settings.world.model_copy(update={"database": Path(args.db)})}
        )
    return settings


async def _init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = settings.world.database
    print(f"world database: {db}")
    from agent_ecology.agents import load_roster
    from agent_ecology.probe import calibrate_for

    roster = load_roster(settings)
    calibration = await calibrate_for(settings, len(roster))
    ledger, report = await open_world(settings, roster=roster, calibration=calibration)
    try:
        for line in report.lines():
            print(line)
        print()
        print(await balances_table(ledger))
        if settings.api_key() is None:
            print(
                f"\nno LLM API key in ${settings.llm.api_key_env}: agents will use the built-in"
                " baseline policy (set the variable to use a model)"
            )
    finally:
        await ledger.close()
    return 0


async def _run(args: argparse.Namespace) -> int:
    from agent_ecology.agents import load_roster
    from agent_ecology.probe import calibrate_for
    from agent_ecology.runtime import Runtime

    settings = _settings(args)
    roster = load_roster(settings, count=args.agents)
    if args.calibration is not None:  # a shard started by `run --shards`: the parent measured
        from agent_ecology.calibrate import Plan

        calibration: Plan | None = Plan(**json.loads(args.calibration))
    else:
        calibration = await calibrate_for(settings, len(roster))
    if args.shards is not None and args.shards > 1:
        from agent_ecology.shards import run_shards

        return await run_shards(args, settings, roster, calibration)
    runtime = Runtime(settings, roster=roster, calibration=calibration, shard=args.shard)
    dashboard = None
    if args.dashboard is not None:
        from agent_ecology.dashboard import Dashboard

        dashboard = Dashboard(
            settings.world.database, host=args.dashboard_host, port=args.dashboard
        )
        dashboard.start()
        print(
            f"dashboard: {dashboard.url} (read-only, updating while the run goes)"
            + _every_interface(dashboard.url),
            flush=True,
        )
    try:
        await runtime.run(duration=args.duration)
    finally:
        if dashboard is not None:
            dashboard.stop()
    return 0


def _db_of(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db is not None else _settings(args).world.database


async def _report(args: argparse.Namespace) -> int:
    from agent_ecology.pages import render_page
    from agent_ecology.plots import open_readonly, read_figures, run_title

    db = _db_of(args)
    out = Path(args.output)
    started = time.perf_counter()
    with open_readonly(db) as conn:
        figures = read_figures(conn)
        title = run_title(conn)
    page = render_page(figures, title)
    try:
        await anyio.Path(out).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(
            f"cannot write the report to {out} ({exc.strerror or exc}); give a writable path"
            " with -o"
        ) from None
    filled = sum(1 for f in figures if f.data)
    print(
        f"wrote {out}: {filled} plots with data ({len(figures) - filled} with none), from {db},"
        f" {len(page) / 1e6:.1f} MB, in {time.perf_counter() - started:.1f} s"
    )
    return 0


def _every_interface(url: str) -> str:
    """A hint when the dashboard listens on every interface: its URL is not one to open."""
    for wildcard in ("//0.0.0.0:", "//[::]:"):
        if wildcard in url:
            port = url.rsplit(":", 1)[1].strip("/")
            return (
                f"; on every interface: open http://127.0.0.1:{port}/ here, or this machine's"
                " address (in a container: the port published with -p)"
            )
    return ""


async def _dashboard(args: argparse.Namespace) -> int:
    from agent_ecology.dashboard import Dashboard

    server = Dashboard(_db_of(args), host=args.host, port=args.port)
    server.start()
    print(
        f"dashboard: {server.url} (read-only on {server.db}; Ctrl-C stops it)"
        + _every_interface(server.url),
        flush=True,
    )
    await asyncio.Event().wait()  # until interrupted
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    db = Path(args.db) if args.db is not None else _settings(args).world.database
    if not db.exists():
        print(
            f"error: no world database at {db}; create it with `agent-ecology init`",
            file=sys.stderr,
        )
        return 1
    try:
        revision, head = await current_revision(db), head_revision()
    except (OSError, sqlite3.Error, DBAPIError) as exc:
        reason = getattr(exc, "orig", None) or exc
        print(
            f"error: cannot read {db} as a world database ({reason}); check that it is the"
            " SQLite file a run wrote and that it can be read (a world database is opened"
            " in WAL mode, which needs a writable folder: on a read-only disk, inspect a copy)",
            file=sys.stderr,
        )
        return 1
    if revision is not None and revision not in known_revisions():
        print(f"error: {NewerSchema(db, revision, head)}", file=sys.stderr)
        return 1
    if revision != head:
        print(
            f"error: {db} is at schema revision {revision or 'none'}, this version needs {head};"
            " run `agent-ecology init` to migrate it",
            file=sys.stderr,
        )
        return 1
    ledger = await Ledger.open(db, run_migrations=False)
    try:
        print(f"world database: {db}\n")
        print(await balances_table(ledger))
        programs = await ledger.programs(limit=20)
        if programs:
            print("\nprograms (most used first):")
            print(programs_table(programs))
        standings = await ledger.task_board()
        if standings:
            tally = await ledger.task_tally()
            print("\ntasks (easiest first):")
            print(tasks_table(standings, await ledger.task_results(limit=10)))
            print(
                f"scrip minted by tasks {tally.minted_by_tasks:,}, by the oracle"
                f" {tally.minted_by_oracle:,} (every run of this world)"
            )
        events = await ledger.events(principal=args.principal, limit=args.events, newest_first=True)
        whose = f" concerning {args.principal}" if args.principal else ""
        print(f"\nlast {len(events)} event(s){whose}, newest first:")
        print(events_table(events))
    finally:
        await ledger.close()
    return 0


async def _robonomics(args: argparse.Namespace) -> int:
    from agent_ecology.robonomics.engine import LogLine
    from agent_ecology.robonomics.setup import Loop, phase

    settings = _settings(args)
    if not settings.robonomics.robots:
        print(
            f"error: {args.config} has no robonomics.robots; add a robonomics: section with"
            " tasks, oracles and robots (the shipped config.yaml has a working example)",
            file=sys.stderr,
        )
        return 2
    ledger, _report = await open_world(settings)
    try:
        loop = Loop(
            ledger, settings, log_file=Path(args.log) if args.log else None, source=args.config
        )
        first = await loop.boot()
        for note in loop.notes:
            print(f"note: {note}", file=sys.stderr)
        world = loop.world
        assert world is not None
        start = world.tick_count
        print(
            f"robonomics in {settings.world.database}:"
            f" {'resuming after' if loop.resumed else 'started at'} tick {start},"
            f" {len(world.robots)} robot(s), {args.ticks} tick(s) to run;"
            f" flow log appended to {loop.log_file}",
            file=sys.stderr,
        )

        def show(lines: list[LogLine]) -> None:
            for line in lines:
                print(f"[tick {line.tick:>4}] {line.message}" if args.ticks_shown else line.message)

        show(first)
        await loop.run(args.ticks, show)
        robots = ", ".join(
            f"{r.name}: {phase(world, r)}, Torq {world.num(r.torq)}" for r in world.robots[:10]
        )
        more = f" (and {len(world.robots) - 10} more)" if len(world.robots) > 10 else ""
        print(
            f"tick {world.tick_count}, step {world.step_count}; {robots}{more};"
            f" scrip minted by Isaac in all: {world.isaac.minted}",
            file=sys.stderr,
        )
    finally:
        await ledger.close()
    return 0


async def _calibrate(args: argparse.Namespace) -> int:
    from agent_ecology.agents import load_roster
    from agent_ecology.calibrate import plan, read_limits
    from agent_ecology.probe import measure

    settings = _settings(args)
    agents = (
        args.agents
        if args.agents is not None
        else max(1, len(load_roster(settings, allow_empty=True)))
    )
    compute = settings.resources.flow.get("compute")
    unit = compute.unit if compute is not None else "cpu_seconds"
    limits = read_limits(Path(args.cgroup))
    print(f"measuring what the runtime's work costs here ({args.seconds:g} s) ...", file=sys.stderr)
    result = plan(limits, await measure(args.seconds), agents, unit=unit)
    for line in result.lines:
        print(line)
    print()
    print(
        f"for {agents} agent(s): resources.flow.compute.rate {result.rate:.6f}, capacity"
        f" {result.capacity:.6f}"
    )
    if settings.sandbox.enabled:
        from agent_ecology.sandbox import fuel_rate, load

        rate = fuel_rate(load())
        print(
            f"programs: {rate:,.0f} sandbox instructions per CPU-second here: a full fuel budget"
            f" ({settings.sandbox.fuel:,}) costs {settings.sandbox.fuel / rate:.3f} s of compute"
            + (
                " (sandbox.fuel_per_second: auto applies this at start-up)"
                if settings.sandbox.fuel_per_second == "auto"
                else f" (config.yaml fixes {settings.sandbox.fuel_per_second:,.0f})"
            )
        )
    memory = settings.resources.stock.get("memory")
    if memory is not None:
        print(f"memory pool: {memory.total:,.0f} bytes ({memory.total / (1 << 20):,.0f} MiB)")
    if compute is not None and compute.calibrated:
        print("config.yaml says `rate: auto`: `agent-ecology run` applies this at start-up")
    else:
        print(
            "put `rate: auto` and `capacity: auto` under resources.flow.compute in config.yaml"
            " to apply this at every start-up"
        )
    return 0


async def _build_sandbox(args: argparse.Namespace) -> int:
    from agent_ecology.sandbox import build

    try:
        path = build(force=args.force)
    except (SandboxBuildError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"sandbox ready: {path}")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-ecology",
        description="An ecology of LLM agents under real resource limits, kept in SQLite.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            default=os.environ.get("AGENT_ECOLOGY_CONFIG", "config.yaml"),
            help="the world's config.yaml (default: $AGENT_ECOLOGY_CONFIG or ./config.yaml)",
        )
        p.add_argument("--db", default=None, help="the database file (overrides world.database)")

    p_run = sub.add_parser(
        "run", help="run the world: every agent thinks and acts on its own until stopped"
    )
    common(p_run)
    p_run.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        help="seconds to run (default: run.duration in config.yaml; none: until stopped)",
    )
    p_run.add_argument(
        "--agents",
        type=int,
        default=None,
        metavar="N",
        help="run N agents: the first N defined, plus numbered default agents if N is more",
    )
    p_run.add_argument(
        "--dashboard",
        type=_port,
        default=None,
        metavar="PORT",
        help="also serve the live dashboard on this port while the run goes (0: any free port;"
        " the address is printed)",
    )
    p_run.add_argument(
        "--dashboard-host",
        default="127.0.0.1",
        help="the dashboard's address (default 127.0.0.1; 0.0.0.0 in a container with -p)",
    )
    shards = p_run.add_mutually_exclusive_group()
    shards.add_argument(
        "--shards",
        type=_shard_count,
        default=None,
        metavar="N",
        help="run the agents in N processes against the one database (each with its own"
        " event loop and HTTP connections; the oracle and the world's schedules run in one)",
    )
    shards.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="K/N",
        help="be process K of N (0 <= K < N) of a sharded run: its agents are the roster's"
        " K-th, (K+N)-th, ...; start the N on the database's host (SQLite) after"
        " `agent-ecology init`",
    )
    # The parent of `run --shards N` hands its compute calibration to its shards, so that
    # they neither measure at once (each slowing the others) nor rescale the buckets again.
    p_run.add_argument("--calibration", default=None, help=argparse.SUPPRESS)
    p_run.set_defaults(handler=_run)

    p_init = sub.add_parser("init", help="create or migrate the world database and print balances")
    common(p_init)
    p_init.set_defaults(handler=_init)

    p_inspect = sub.add_parser("inspect", help="show balances and recent events")
    common(p_inspect)
    p_inspect.add_argument(
        "--events", type=_event_count, default=20, help="how many events (default 20)"
    )
    p_inspect.add_argument("--principal", default=None, help="only events concerning this id")
    p_inspect.set_defaults(handler=_inspect)
    p_report = sub.add_parser(
        "report", help="write one self-contained HTML file of plots of a run (opens offline)"
    )
    common(p_report)
    p_report.add_argument(
        "-o", "--output", default="report.html", help="the file to write (default report.html)"
    )
    p_report.set_defaults(handler=_report)

    p_dash = sub.add_parser(
        "dashboard", help="serve the report's plots live on 127.0.0.1, read-only on the database"
    )
    common(p_dash)
    p_dash.add_argument(
        "-p", "--port", type=_port, default=8000, help="port (default 8000; 0: any free one)"
    )
    p_dash.add_argument(
        "--host",
        default="127.0.0.1",
        help="address (default 127.0.0.1; 0.0.0.0 inside a container published with -p)",
    )
    p_dash.set_defaults(handler=_dashboard)

    p_cal = sub.add_parser(
        "calibrate",
        help="read the CPU and memory limits, measure the runtime's cost, print compute rates",
    )
    common(p_cal)
    p_cal.add_argument(
        "--agents",
        type=int,
        default=None,
        metavar="N",
        help="plan for N agents (default: the roster)",
    )
    p_cal.add_argument(
        "--seconds", type=_positive_float, default=1.5, help="how long to measure (default 1.5)"
    )
    p_cal.add_argument(
        "--cgroup",
        default="/sys/fs/cgroup",
        help="the cgroup folder to read (default: /sys/fs/cgroup)",
    )
    p_cal.set_defaults(handler=_calibrate)

    p_box = sub.add_parser(
        "build-sandbox",
        help="build the sandbox for agents' programs now (about 30 s, once; cached)",
    )
    p_box.add_argument("--force", action="store_true", help="rebuild even if it is cached")
    p_box.set_defaults(handler=_build_sandbox)

    p_robo = sub.add_parser(
        "robonomics",
        help="run the robonomics flow loop on its own for N ticks and print its flow log",
    )
    common(p_robo)
    p_robo.add_argument(
        "--ticks", type=_non_negative_int, default=20, help="ticks to run (default 20)"
    )
    p_robo.add_argument(
        "--log", default=None, help="the flow log file (default: robonomics.log_path)"
    )
    p_robo.add_argument(
        "--plain",
        dest="ticks_shown",
        action="store_false",
        help="print the log lines exactly as the file has them (no [tick N] prefix)",
    )
    p_robo.set_defaults(handler=_robonomics)
    return parser


def _event_count(text: str) -> int:
    value = _non_negative_int(text)
    if value > 1_000_000:
        raise argparse.ArgumentTypeError(f"at most 1000000 events are shown, got {value}")
    return value


def _shard_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to 256")
    return value


def _shard(text: str) -> tuple[int, int]:
    k, slash, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (-1, 0)
    if not slash or not 0 <= shard[0] < shard[1] <= 256:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not K/N with 0 <= K < N <= 256 (for example 0/4 ... 3/4)"
        )
    return shard


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535 (or 0: any free one), got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _first_known(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of ``group`` that has a message for the user, else the group itself."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = _first_known(exc)
        if isinstance(exc, ConfigError | LedgerError | SandboxBuildError | KeyboardInterrupt):
            return exc
    return group


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.handler is not _run:  # only a run handles signals itself
            early_signals.restore_defaults()
        try:
            code: int = asyncio.run(args.handler(args))
        except BaseExceptionGroup as group:  # concurrent steps failed: say the first reason
            raise _first_known(group) from group
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (SandboxBuildError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `agent-ecology inspect | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
