"""``agent-ecology run --shards N``: the agents in N processes against one database.

The parent opens (creates, migrates) the world once, so that no two processes migrate it at
the same time, then starts N children, ``agent-ecology run --shard K/N``, each in its own
session (a Ctrl-C reaches the parent alone, which passes it on once), prints their lines
with a ``[K/N]`` prefix, and ends with the worst exit status. Each child runs the roster's
K-th, (K+N)-th, ... agents with its own event loop, ledger connections and HTTP client; the
one that holds the ``leader`` lease runs the oracle and the world's schedules
(:meth:`agent_ecology.runtime.Runtime._lead`), and every child reads what the others commit
(:meth:`agent_ecology.runtime.Runtime._follow_others`). SQLite serializes the children's
write transactions; each still commits its own operations in groups.

``run --shard K/N`` processes may also be started by hand (after ``agent-ecology init``
made the database), with the same config. With SQLite they must all run on the database's
own host: SQLite's locks do not hold over a network file system (several hosts need the
PostgreSQL ledger, not built yet).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from agent_ecology import early_signals
from agent_ecology.config import Settings
from agent_ecology.world import open_world

if TYPE_CHECKING:
    from agent_ecology.agents import AgentSpec
    from agent_ecology.calibrate import Plan

__all__ = ["child_argv", "run_shards"]


def child_argv(
    args: argparse.Namespace, k: int, n: int, calibration: Plan | None = None
) -> list[str]:
    """The command line of shard ``k`` of ``n``: this run's options, less the sharding and
    the dashboard (the parent serves it), with the parent's compute calibration."""
    argv = [sys.executable, "-m", "agent_ecology.launch", "run", "--config", str(args.config)]
    if args.db is not None:
        argv += ["--db", str(args.db)]
    if args.duration is not None:
        argv += ["--duration", repr(args.duration)]
    if args.agents is not None:
        argv += ["--agents", str(args.agents)]
    if calibration is not None:
        argv += ["--calibration", json.dumps(dataclasses.asdict(calibration))]
    return [*argv, "--shard", f"{k}/{n}"]


async def run_shards(
    args: argparse.Namespace,
    settings: Settings,
    roster: Sequence[AgentSpec],
    calibration: Plan | None,
) -> int:
    n = int(args.shards)
    ledger, report = await open_world(settings, roster=roster, calibration=calibration)
    try:
        for line in report.lines():
            print(line, flush=True)
    finally:
        await ledger.close()
    print(
        f"running {len(roster)} agent(s) in {n} shard processes against {settings.world.database}",
        flush=True,
    )
    dashboard = None
    if args.dashboard is not None:
        from agent_ecology.dashboard import Dashboard

        dashboard = Dashboard(
            settings.world.database, host=args.dashboard_host, port=args.dashboard
        )
        dashboard.start()
        print(f"dashboard: {dashboard.url} (read-only, updating while the run goes)", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    children = [
        await asyncio.create_subprocess_exec(
            *child_argv(args, k, n, calibration),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches the parent only
        )
        for k in range(n)
    ]
    try:
        async with anyio.create_task_group() as tg:
            for k, child in enumerate(children):
                tg.start_soon(_relay, child, f"[{k}/{n}] ")
            tg.start_soon(_forward_signals, children)
            await asyncio.gather(*(child.wait() for child in children))
            tg.cancel_scope.cancel()
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if dashboard is not None:
            dashboard.stop()
    # A child killed by a signal has returncode -N: reported as a shell does, 128 + N.
    codes = [abs(c) + 128 if (c := child.returncode or 0) < 0 else c for child in children]
    failed = [f"{k}/{n} ended with {code}" for k, code in enumerate(codes) if code]
    if failed:
        print(f"shards: {'; '.join(failed)}", file=sys.stderr, flush=True)
    return max(codes)


async def _relay(child: asyncio.subprocess.Process, prefix: str) -> None:
    assert child.stdout is not None
    async for raw in child.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\r")[-1]
        sys.stdout.write(prefix + line + "\n")
        sys.stdout.flush()


async def _forward_signals(children: Sequence[asyncio.subprocess.Process]) -> None:
    """Pass SIGINT and SIGTERM on to every child (a second one too: it hurries them)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        for signum in early_signals.take():
            _send(children, signum)
        async for signum in signals:
            _send(children, signum)


def _send(children: Sequence[asyncio.subprocess.Process], signum: int) -> None:
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)
