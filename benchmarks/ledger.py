"""Ledger throughput: durable scrip transfers per second at 1, 10 and 100 concurrent requesters.

    .venv/bin/python benchmarks/ledger.py [--seconds 3] [--accounts 1000] [--rounds 3]

Both sides run on a real SQLite file in WAL mode with ``synchronous=FULL`` and answer each
requester only after the COMMIT that holds its transfer has returned:

- **ours**: :class:`agent_ecology.ledger.Ledger` (validation, savepoint per request,
  idempotency bookkeeping when an op id is given, the full event row, group commit);
- **baseline**: the same logical work written directly on the standard library's ``sqlite3``
  with one writer thread and batched commits: a conditional debit, a credit and an event row
  per transfer, nothing else.

Requesters are asyncio tasks on one event loop in both cases. Each configuration runs
``--rounds`` times, alternating the two sides so that machine noise hits both alike, and the
median rate is reported with the ratio ours / baseline. The target is a ratio of at least 0.5
at 100 requesters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent_ecology.ledger import Ledger, ResourceSpec, ops

START_SCRIP = 10**12


# --- baseline: stdlib sqlite3, one writer thread, batched commits -------------------------


class Baseline:
    def __init__(self, path: Path, accounts: list[str]) -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, scrip INTEGER NOT NULL CHECK (scrip >= 0))"
        )
        conn.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, kind TEXT,"
            " src TEXT, dst TEXT, amount INTEGER, details TEXT)"
        )
        conn.execute("CREATE INDEX ix_src ON events (src, seq)")
        conn.execute("CREATE INDEX ix_dst ON events (dst, seq)")
        conn.executemany("INSERT INTO accounts VALUES (?, ?)", [(a, START_SCRIP) for a in accounts])
        self.conn = conn
        self.q: queue.SimpleQueue[tuple[str, str, int, asyncio.Future[bool]] | None] = (
            queue.SimpleQueue()
        )
        self.loop = asyncio.get_running_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn = self.conn
        while True:
            item = self.q.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 1024:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.q.put(None)
                    break
                batch.append(nxt)
            conn.execute("BEGIN IMMEDIATE")
            results = []
            for src, dst, amount, fut in batch:
                cur = conn.execute(
                    "UPDATE accounts SET scrip = scrip - ? WHERE id = ? AND scrip >= ?",
                    (amount, src, amount),
                )
                ok = cur.rowcount == 1
                if ok:
                    conn.execute(
                        "UPDATE accounts SET scrip = scrip + ? WHERE id = ?", (amount, dst)
                    )
                    conn.execute(
                        "INSERT INTO events (at, kind, src, dst, amount, details)"
                        " VALUES (?, 'transfer', ?, ?, ?, ?)",
                        (time.time(), src, dst, amount, json.dumps({})),
                    )
                results.append((fut, ok))
            conn.execute("COMMIT")
            self.loop.call_soon_threadsafe(_settle, results)

    async def transfer(self, src: str, dst: str, amount: int) -> bool:
        fut: asyncio.Future[bool] = self.loop.create_future()
        self.q.put((src, dst, amount, fut))
        return await fut

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.conn.close()


def _settle(results: list[tuple[asyncio.Future[bool], bool]]) -> None:
    for fut, ok in results:
        fut.set_result(ok)


# --- the measurement ----------------------------------------------------------------------


async def _drive(
    transfer: Callable[[str, str, int], Awaitable[object]],
    accounts: list[str],
    requesters: int,
    seconds: float,
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def requester(seed: int) -> None:
        nonlocal done
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            src, dst = rng.sample(accounts, 2)
            await transfer(src, dst, rng.randint(1, 100))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(requester(i) for i in range(requesters)))
    return done / (time.perf_counter() - started)


async def run_ours(tmp: Path, accounts: list[str], requesters: int, seconds: float) -> float:
    ledger = await Ledger.open(tmp / f"ours-{requesters}-{time.monotonic_ns()}.db")
    try:
        await ledger.submit(ops.DeclareResource.of(ResourceSpec("disk", "stock", "bytes", total=0)))
        await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
        await asyncio.gather(
            *(ledger.submit(ops.EnsurePrincipal(principal_id=a)) for a in accounts)
        )
        await asyncio.gather(
            *(
                ledger.submit(ops.Mint(dst=a, amount=START_SCRIP, authority="world"))
                for a in accounts
            )
        )

        def transfer(src: str, dst: str, amount: int) -> Awaitable[object]:
            return ledger.submit(ops.Transfer(src=src, dst=dst, amount=amount))

        return await _drive(transfer, accounts, requesters, seconds)
    finally:
        await ledger.close()


async def run_baseline(tmp: Path, accounts: list[str], requesters: int, seconds: float) -> float:
    base = Baseline(tmp / f"base-{requesters}-{time.monotonic_ns()}.db", accounts)
    try:
        return await _drive(base.transfer, accounts, requesters, seconds)
    finally:
        base.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requesters", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    accounts = [f"agent{i:05d}" for i in range(args.accounts)]
    print(f"{args.rounds} round(s) of {args.seconds:g} s per side and concurrency; median shown")
    print(f"{'requesters':>10}  {'ours/s':>10}  {'baseline/s':>10}  {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as d:
        tmp = Path(d)
        for n in args.requesters:
            ours, base = [], []
            for _ in range(args.rounds):
                base.append(await run_baseline(tmp, accounts, n, args.seconds))
                ours.append(await run_ours(tmp, accounts, n, args.seconds))
            o, b = statistics.median(ours), statistics.median(base)
            print(f"{n:>10}  {o:>10.0f}  {b:>10.0f}  {o / b:>6.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
