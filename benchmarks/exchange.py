"""Exchange throughput: fills per second with 100 concurrent traders on one book, as a ratio
of the ledger's own scrip transfers per second, measured in the same run.

    .venv/bin/python benchmarks/exchange.py [--seconds 3] [--traders 100] [--rounds 3]

Both sides are :class:`agent_ecology.ledger.Ledger` on a real SQLite file (WAL,
``synchronous=FULL``, group commit), each requester answered only after its COMMIT:

- **fills**: ``--traders`` buyers bid one lot at a time on ``disk:capacity`` against a deep
  book of resting asks (ten sellers, placed before the clock starts): every bid is one fill,
  one transaction that moves the scrip (price back to the bid where the ask is cheaper) and
  the quota together and closes or shrinks the ask;
- **two-sided**: half the traders bid and half ask, one lot each at crossing prices, so about
  every other order fills (the rest rest on the book): fills and orders per second;
- **baseline**: the same number of requesters making scrip transfers.

Each configuration runs ``--rounds`` times, alternating, and the medians are reported. The
target (issue 20) is fills / transfers of at least 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent_ecology.ledger import Ledger, ResourceSpec, ops

SCRIP = 10**12
Step = Callable[[], Awaitable[None]]
SELLERS = 10


async def world(path: Path, traders: int) -> tuple[Ledger, list[str], list[str]]:
    ledger = await Ledger.open(path)
    await ledger.submit(ops.DeclareResource.of(ResourceSpec("disk", "stock", "bytes", total=1e12)))
    await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
    await ledger.submit(ops.EnsurePrincipal(principal_id=ops.EXCHANGE, principal_kind="system"))
    buyers = [f"buyer{i:03d}" for i in range(traders)]
    sellers = [f"seller{i:03d}" for i in range(max(SELLERS, traders))]
    for who in (*buyers, *sellers):
        await ledger.submit(ops.EnsurePrincipal(principal_id=who, stock={"disk": 1e9}))
        await ledger.submit(ops.Mint(dst=who, amount=SCRIP, authority="world"))
    await ledger.submit(ops.ExchangeOpen(authority="world", lots={"disk:capacity": 1.0}))
    return ledger, buyers, sellers


async def drive(work: list[Step], seconds: float) -> tuple[int, float]:
    """Run each requester coroutine factory until the deadline; (requests, elapsed)."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(step: Step) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await step()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(step) for step in work))
    return done, time.perf_counter() - started


async def fills(tmp: Path, traders: int, seconds: float) -> float:
    ledger, buyers, sellers = await world(tmp / f"fills-{time.monotonic_ns()}.db", traders)
    try:
        for seller in sellers[:SELLERS]:  # a book deeper than any run can take
            await ledger.submit(
                ops.ExchangeOrder(
                    trader=seller, good="disk:capacity", side="ask", price=10, quantity=10**7
                )
            )
        filled = 0

        def buyer(who: str) -> Step:
            async def step() -> None:
                nonlocal filled
                receipt = await ledger.submit(
                    ops.ExchangeOrder(
                        trader=who, good="disk:capacity", side="bid", price=12, quantity=1
                    )
                )
                filled += len(receipt.details["fills"])

            return step

        _, elapsed = await drive([buyer(b) for b in buyers], seconds)
        return filled / elapsed
    finally:
        await ledger.close()


async def two_sided(tmp: Path, traders: int, seconds: float) -> tuple[float, float]:
    ledger, buyers, sellers = await world(tmp / f"two-{time.monotonic_ns()}.db", traders)
    try:
        filled = 0

        def trader(who: str, side: str, seed: int) -> Step:
            rng = random.Random(seed)

            async def step() -> None:
                nonlocal filled
                price = rng.randint(9, 11)
                receipt = await ledger.submit(
                    ops.ExchangeOrder(
                        trader=who, good="disk:capacity", side=side, price=price, quantity=1
                    )
                )
                filled += len(receipt.details["fills"])

            return step

        half = traders // 2
        work = [trader(b, "bid", i) for i, b in enumerate(buyers[:half])]
        work += [trader(s, "ask", -i - 1) for i, s in enumerate(sellers[: traders - half])]
        orders, elapsed = await drive(work, seconds)
        return filled / elapsed, orders / elapsed
    finally:
        await ledger.close()


async def transfers(tmp: Path, traders: int, seconds: float) -> float:
    ledger, buyers, sellers = await world(tmp / f"transfers-{time.monotonic_ns()}.db", traders)
    try:
        accounts = buyers + sellers

        def requester(seed: int) -> Step:
            rng = random.Random(seed)

            async def step() -> None:
                src, dst = rng.sample(accounts, 2)
                await ledger.submit(ops.Transfer(src=src, dst=dst, amount=rng.randint(1, 100)))

            return step

        done, elapsed = await drive([requester(i) for i in range(traders)], seconds)
        return done / elapsed
    finally:
        await ledger.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--traders", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{args.rounds} round(s) of {args.seconds:g} s each, {args.traders} concurrent"
        " requesters; medians"
    )
    base, taker, both, orders = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as d:
        tmp = Path(d)
        for r in range(args.rounds):
            base.append(await transfers(tmp, args.traders, args.seconds))
            taker.append(await fills(tmp, args.traders, args.seconds))
            f, o = await two_sided(tmp, args.traders, args.seconds)
            both.append(f)
            orders.append(o)
            print(
                f"  round {r + 1}: transfers {base[-1]:.0f}/s, fills {taker[-1]:.0f}/s,"
                f" two-sided {f:.0f} fills/s of {o:.0f} orders/s",
                flush=True,
            )
    b, t, f, o = (statistics.median(x) for x in (base, taker, both, orders))
    print(f"ledger transfers/s          {b:>8.0f}")
    print(f"fills/s (deep book)         {t:>8.0f}   ratio {t / b:.2f}  (target >= 0.5)")
    print(f"two-sided fills/s, orders/s {f:>8.0f} {o:>8.0f}   ratio {f / b:.2f}, {o / b:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
