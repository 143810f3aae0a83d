"""Calibration: flow rates that make the agents' ``compute`` fit the machine (seed 003).

``read_limits()`` reads the container's CPU quota and memory limit from cgroup v2
(``cpu.max``, ``memory.max``), falling back to cgroup v1 (``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``, ``memory.limit_in_bytes``) and then to the host (no limit: the CPUs
this process may run on). :func:`agent_ecology.probe.measure` (above the runtime, which it
runs) measures what one action costs: the CPU charged to the agent as ``compute`` and the
CPU the runtime spends around it on its shared threads (the ledger's writer and readers),
which no agent is charged for. ``plan()`` does the arithmetic:

    usable     = cpus x (1 - reserve)                  CPU-seconds per second for agents
    overhead   = total CPU per action / compute charged per action   (>= 1)
    rate       = usable / (agents x overhead)          compute per second, per agent
    capacity   = rate x burst                          seconds of work an agent may bank

so that when every agent spends its whole rate, ``agents x rate x overhead = usable``: the
sum of all compute rates, with the work they cause, fits the quota. Throttling then comes
from the buckets (an agent in debt waits); there is no agent limit anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CGROUP",
    "MEMORY_SHARE",
    "Cost",
    "Limits",
    "Plan",
    "host_memory",
    "memory_total",
    "plan",
    "read_limits",
]

CGROUP = Path("/sys/fs/cgroup")
NO_MEMORY_LIMIT = 1 << 60  # cgroup v1 writes a huge number for "no limit"


@dataclass
class Limits:
    """What the container (or host) allows this process."""

    cpus: float  # CPU-seconds per second available
    cpu_source: str  # where that came from, for the printout
    memory: int | None  # bytes, None: no limit
    memory_source: str
    warnings: list[str] = field(default_factory=list)


def _host_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_limits(root: Path = CGROUP, *, host_cpus: int | None = None) -> Limits:
    """The CPU quota and memory limit, from cgroup v2, else v1, else the host.

    A pure function of the cgroup files under ``root`` and ``host_cpus`` (default: the CPUs
    this process may run on).
    """
    warnings: list[str] = []
    host = _host_cpus() if host_cpus is None else host_cpus
    cpus: float | None = None
    cpu_source = ""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        try:
            if len(parts) != 2:
                raise ValueError
            period = int(parts[1])
            if parts[0] == "max":
                cpu_source = f'cgroup v2 cpu.max "{v2}": no quota'
            else:
                quota = int(parts[0])
                if quota <= 0 or period <= 0:
                    raise ValueError
                cpus, cpu_source = quota / period, f'cgroup v2 cpu.max "{v2}"'
        except ValueError:
            warnings.append(
                f'cannot read {root / "cpu.max"} ("{v2}"; expected "QUOTA PERIOD" or'
                f' "max PERIOD"): using the host\'s {host} CPUs'
            )
    else:
        quota_text = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(
            root / "cpu,cpuacct" / "cpu.cfs_quota_us"
        )
        period_text = _read(root / "cpu" / "cpu.cfs_period_us") or _read(
            root / "cpu,cpuacct" / "cpu.cfs_period_us"
        )
        if quota_text is not None and period_text is not None:
            try:
                quota, period = int(quota_text), int(period_text)
                if period <= 0:
                    raise ValueError
                if quota < 0:
                    cpu_source = f"cgroup v1 cpu.cfs_quota_us {quota}: no quota"
                else:
                    cpus = quota / period
                    cpu_source = f"cgroup v1 cpu.cfs_quota_us {quota} / cpu.cfs_period_us {period}"
            except ValueError:
                warnings.append(
                    f"cannot read the cgroup v1 CPU quota ({quota_text!r} / {period_text!r}):"
                    f" using the host's {host} CPUs"
                )
    if cpus is None:
        cpus = float(host)
        cpu_source = (cpu_source + "; " if cpu_source else "no cgroup CPU limit found; ") + (
            f"the host's {host} CPUs"
        )
    elif cpus > host:
        cpu_source += f" (more than the host's {host} CPUs: using {host})"
        cpus = float(host)

    memory: int | None = None
    memory_source = "no limit found"
    mem_text = _read(root / "memory.max")
    where = "cgroup v2 memory.max"
    if mem_text is None:
        mem_text = _read(root / "memory" / "memory.limit_in_bytes")
        where = "cgroup v1 memory.limit_in_bytes"
    if mem_text is not None:
        if mem_text == "max":
            memory_source = f"{where}: no limit"
        else:
            try:
                value = int(mem_text)
                if value <= 0:
                    raise ValueError
                if value >= NO_MEMORY_LIMIT:
                    memory_source = f"{where}: no limit"
                else:
                    memory, memory_source = value, where
            except ValueError:
                warnings.append(f"cannot read {where} ({mem_text!r}): assuming no memory limit")
    return Limits(cpus, cpu_source, memory, memory_source, warnings)


MEMORY_SHARE = 0.5
"""The part of the memory limit that agents' running programs may hold (``memory: auto``);
the rest is the runtime's own (the interpreter, the ledger, models, the sandboxes' code)."""


def host_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The machine's RAM in bytes (``MemTotal``), or None where it cannot be read."""
    text = _read(meminfo)
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                return int(parts[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def memory_total(limits: Limits, host: int | None) -> tuple[int, str]:
    """The ``memory`` stock pool for ``memory: auto``, and where it came from: a share of
    the container's limit, else of the machine's RAM (else 2 GiB, said so)."""
    if limits.memory is not None:
        base, source = limits.memory, limits.memory_source
    elif host is not None:
        base, source = host, "the machine's RAM (no memory limit)"
    else:
        base, source = 2 << 30, "no memory limit and no MemTotal: assumed 2 GiB"
    total = int(base * MEMORY_SHARE)
    return total, f"memory: {MEMORY_SHARE:.0%} of {base / (1 << 20):,.0f} MiB ({source})"


# What the probe agents do, in turn: the runtime's everyday work (context, parse, the kernel).
@dataclass
class Cost:
    """What one action costs on this machine (CPU seconds)."""

    actions: int
    agents: int  # in the probe world
    charged: float  # per action: charged to the agent as compute
    total: float  # per action: all the process's CPU
    seconds: float  # how long the measurement ran

    @property
    def overhead(self) -> float:
        return max(1.0, self.total / self.charged) if self.charged > 0 else 1.0


@dataclass
class Plan:
    rate: float  # compute per second, per agent
    capacity: float
    agents: int
    usable: float
    lines: list[str]


def plan(
    limits: Limits,
    cost: Cost,
    agents: int,
    *,
    reserve: float = 0.1,
    burst: float = 10.0,
    unit: str = "cpu_seconds",
) -> Plan:
    """The per-agent ``compute`` rate and capacity that fit ``limits``, with the arithmetic."""
    if agents < 1:
        raise ValueError("calibration needs at least one agent")
    if not 0 <= reserve < 1:
        raise ValueError(f"reserve must be in [0, 1), got {reserve}")
    usable = limits.cpus * (1 - reserve)
    overhead = cost.overhead
    rate = usable / (agents * overhead)
    capacity = rate * burst
    total = agents * rate * overhead
    ms = 1000.0
    lines = [
        f"CPU: {limits.cpus:.2f} cores ({limits.cpu_source})",
        "memory: "
        + (
            f"{limits.memory / 2**30:.2f} GiB ({limits.memory_source})"
            if limits.memory is not None
            else limits.memory_source
        ),
        *[f"warning: {w}" for w in limits.warnings],
        f"measured: {cost.actions} actions of {cost.agents} probe agents in {cost.seconds:.1f} s;"
        f" {cost.total * ms:.3f} ms CPU per action in all, {cost.charged * ms:.3f} ms of it"
        " charged to the agent as compute (the rest is the ledger's shared work)",
        f"usable CPU = {limits.cpus:.2f} cores x (1 - {reserve:.0%} reserve) = {usable:.3f}"
        " CPU-seconds per second",
        f"overhead   = {cost.total * ms:.3f} / {cost.charged * ms:.3f} = {overhead:.3f}"
        " CPU-seconds in all per compute-second charged",
        f"rate       = {usable:.3f} / ({agents} agents x {overhead:.3f}) = {rate:.6f} {unit}"
        " per second, per agent",
        f"capacity   = {rate:.6f} x {burst:g} s burst = {capacity:.6f} {unit}",
        f"check      = {agents} x {rate:.6f} x {overhead:.3f} = {total:.3f} <= {limits.cpus:.2f}"
        " cores",
    ]
    return Plan(rate, capacity, agents, usable, lines)
