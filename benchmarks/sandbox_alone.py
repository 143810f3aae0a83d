"""The sandbox alone: invocation latency, throughput under concurrency, and CPU speed.

    .venv/bin/python benchmarks/sandbox_alone.py [--quick]

Measured in one run, through :meth:`Sandbox.run` with a Host that answers nothing (no
ledger, no database, no event loop):

- **latency**: a trivial program (``return args['x'] + 1``) run 200 times one after another;
  the median and 90th percentile of the wall time around each call;
- **throughput**: 400 trivial runs spread over 1, 10 and 100 invoker threads (a
  ThreadPoolExecutor), invocations per second over the whole batch;
- **CPU-heavy**: two programs (a loop summing ``i * i`` 3,000,000 times, and a sieve of
  Eratosthenes to 1,000,000) in the sandbox versus the same source in this process's CPython;
  medians of a few runs and their ratio.

Targets: a trivial invocation at most 3 ms (median), CPU-heavy code at most 5x native.
``--quick`` makes fewer runs of each (same programs), for a smoke test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent_ecology.sandbox import HostRefusal, Limits, Sandbox, load

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

HEAVY = Limits(fuel=10**12, deadline_s=120.0, max_host_calls=0)
TRIVIAL_LIMITS = Limits(fuel=50_000_000, deadline_s=5.0)


class NoHost:
    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        raise HostRefusal("this benchmark answers no host call")


def trivial(sandbox: Sandbox, i: int = 0) -> float:
    """One trivial invocation; its wall time in seconds."""
    started = time.perf_counter()
    out = sandbox.run(TRIVIAL, {"x": i}, info=INFO, host=NoHost(), limits=TRIVIAL_LIMITS, seed=i)
    took = time.perf_counter() - started
    if out.value != i + 1:
        raise RuntimeError(f"the trivial program failed: {out.failure}")
    return took


def latency(sandbox: Sandbox, runs: int) -> list[float]:
    return [trivial(sandbox, i) for i in range(runs)]


def throughput(sandbox: Sandbox, threads: int, runs: int) -> tuple[float, float]:
    """(invocations per second, median latency of one) for ``runs`` over ``threads``."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: trivial(sandbox, i), range(threads)))  # start every thread
        started = time.perf_counter()
        took = list(pool.map(lambda i: trivial(sandbox, i), range(runs)))
        elapsed = time.perf_counter() - started
    return runs / elapsed, statistics.median(took)


def native(source: str) -> Callable[[Mapping[str, Any], Any], Any]:
    scope: dict[str, Any] = {}
    exec(compile(source, "<native>", "exec"), scope)
    main: Callable[[Mapping[str, Any], Any], Any] = scope["main"]
    return main


def cpu(sandbox: Sandbox, source: str, n: int, repeats: int) -> tuple[float, float, int]:
    """(median sandbox seconds, median native seconds, fuel) for ``source`` on ``n``."""
    inside: list[float] = []
    fuel = 0
    expected = native(source)({"n": n}, None)
    for _ in range(repeats):
        started = time.perf_counter()
        out = sandbox.run(source, {"n": n}, info=INFO, host=NoHost(), limits=HEAVY, seed=0)
        inside.append(time.perf_counter() - started)
        if out.value != expected:
            raise RuntimeError(
                f"the sandbox computed {out.value!r}, not {expected!r}: {out.failure}"
            )
        fuel = out.fuel
    main = native(source)
    outside: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        main({"n": n}, None)
        outside.append(time.perf_counter() - started)
    return statistics.median(inside), statistics.median(outside), fuel


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs of each measurement")
    args = parser.parse_args()
    sequential, batch, repeats = (50, 100, 1) if args.quick else (200, 400, 5)

    started = time.perf_counter()
    sandbox = load()
    print(f"sandbox loaded in {time.perf_counter() - started:.1f} s; {os.cpu_count()} CPUs")
    latency(sandbox, 20)  # warm: the ticker, the preparer thread, the first instances

    lat = latency(sandbox, sequential)
    med, p90 = statistics.median(lat), statistics.quantiles(lat, n=10)[-1]
    print()
    print(f"trivial invocation, sequential ({sequential} runs)")
    print(f"  median {med * 1e3:7.2f} ms   p90 {p90 * 1e3:7.2f} ms", end="")
    print(f"   target <= 3 ms: {verdict(med <= 0.003)}")

    print()
    print(f"trivial invocations, concurrent ({batch} runs each)")
    print(f"  {'threads':>7}  {'inv/s':>8}  {'median ms':>9}  {'vs 1 thread':>11}")
    base = 0.0
    for threads in (1, 10, 100):
        rate, one = throughput(sandbox, threads, batch)
        base = base or rate
        print(f"  {threads:>7}  {rate:>8.0f}  {one * 1e3:>9.2f}  {rate / base:>10.2f}x")

    print()
    print(f"CPU-heavy, sandbox vs native CPython (median of {repeats})")
    print(f"  {'program':<22} {'sandbox s':>9} {'native s':>9} {'ratio':>7}", end="")
    print(f" {'Minstr/s':>9}  target <= 5x")
    for name, source, n in (
        ("sum of i*i, 3e6", SQUARES, 3_000_000),
        ("sieve to 1e6", SIEVE, 1_000_000),
    ):
        inside, outside, fuel = cpu(sandbox, source, n, repeats)
        ratio = inside / outside
        print(f"  {name:<22} {inside:>9.3f} {outside:>9.3f} {ratio:>6.2f}x", end="")
        print(f" {fuel / inside / 1e6:>9.0f}  {verdict(ratio <= 5.0)}")


if __name__ == "__main__":
    main()
