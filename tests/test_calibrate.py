"""Calibration: the container's limits, the arithmetic, and `rate: auto` at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.agents import load_roster
from agent_ecology.calibrate import Cost, Limits, plan, read_limits
from agent_ecology.ledger import ops
from agent_ecology.probe import measure
from agent_ecology.world import open_world

from .agents.world import world_settings

HOST_CPUS = 8


def limits_of(root: Path) -> Limits:
    """The limits under ``root`` on a host of HOST_CPUS CPUs, whatever machine this is."""
    return read_limits(root, host_cpus=HOST_CPUS)


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "cg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path / "cg"


def test_a_two_cpu_quota_and_a_memory_limit_in_cgroup_v2(tmp_path: Path) -> None:
    root = cgroup(tmp_path, {"cpu.max": "200000 100000", "memory.max": str(4 * 2**30)})
    limits = limits_of(root)
    assert limits.cpus == 2.0 and 'cpu.max "200000 100000"' in limits.cpu_source
    assert limits.memory == 4 * 2**30 and limits.warnings == []


def test_no_limit_falls_back_to_the_host(tmp_path: Path) -> None:
    limits = limits_of(cgroup(tmp_path, {"cpu.max": "max 100000", "memory.max": "max"}))
    assert limits.cpus == HOST_CPUS and "no quota" in limits.cpu_source
    assert limits.memory is None and "no limit" in limits.memory_source
    nothing = limits_of(tmp_path / "nowhere")  # not even a cgroup folder
    assert nothing.cpus == HOST_CPUS and nothing.memory is None


def test_cgroup_v1_quota_and_limit(tmp_path: Path) -> None:
    root = cgroup(
        tmp_path,
        {
            "cpu/cpu.cfs_quota_us": "50000",
            "cpu/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": str(2**31),
        },
    )
    limits = limits_of(root)
    assert limits.cpus == 0.5 and "cgroup v1" in limits.cpu_source
    assert limits.memory == 2**31
    unlimited = limits_of(
        cgroup(
            tmp_path / "b",
            {
                "cpu/cpu.cfs_quota_us": "-1",
                "cpu/cpu.cfs_period_us": "100000",
                "memory/memory.limit_in_bytes": "9223372036854771712",
            },
        )
    )
    assert unlimited.cpus == HOST_CPUS and unlimited.memory is None


def test_a_malformed_file_is_named_and_a_sane_fallback_used(tmp_path: Path) -> None:
    limits = limits_of(cgroup(tmp_path, {"cpu.max": "two cores", "memory.max": "lots"}))
    assert limits.cpus == HOST_CPUS
    assert any("cpu.max" in w and "two cores" in w for w in limits.warnings)
    assert any("memory.max" in w and "no memory limit" in w for w in limits.warnings)
    assert limits.memory is None


@pytest.mark.parametrize("agents", [1, 5, 100, 10_000])
def test_the_arithmetic_fits_the_quota(agents: int) -> None:
    limits = Limits(2.0, "test", None, "test")
    cost = Cost(actions=1000, agents=8, charged=0.0003, total=0.0009, seconds=1.0)
    result = plan(limits, cost, agents, reserve=0.1, burst=10)
    assert result.rate == pytest.approx(1.8 / (agents * 3.0))
    assert agents * result.rate * cost.overhead <= limits.cpus * 0.9 + 1e-12
    assert result.capacity == pytest.approx(result.rate * 10)
    assert any(line.startswith("check ") for line in result.lines)


async def test_rate_auto_calibrates_at_start_up_within_the_quota(tmp_path: Path) -> None:
    limits = limits_of(cgroup(tmp_path, {"cpu.max": "100000 100000"}))
    settings = world_settings(
        tmp_path,
        resources={
            "stock": {"disk": {"total": 3000, "unit": "bytes"}},
            "flow": {
                "compute": {"rate": "auto", "capacity": "auto", "unit": "cpu_seconds"},
                "llm_rate": {"rate": 10, "capacity": 100, "unit": "tokens"},
            },
        },
    )
    with pytest.raises(ValueError, match="measure first"):
        await open_world(settings)  # 'auto' needs a plan
    calibration = plan(limits, await measure(), len(load_roster(settings)))
    ledger, report = await open_world(settings, calibration=calibration)
    try:
        assert report.calibration is not None
        compute = next(r for r in await ledger.resources() if r.name == "compute")
        assert compute.rate is not None and compute.rate == pytest.approx(report.calibration.rate)
        agents = len(await ledger.principals("agent"))
        overhead = report.calibration.usable / (agents * compute.rate)
        assert agents * compute.rate * overhead <= 1.0  # one CPU
        assert agents * compute.rate <= 1.0
        assert any(
            line.startswith("calibration (compute: auto): CPU: 1.00") for line in report.lines()
        )
        assert report.settings is not None
        assert report.settings.resources.flow["compute"].rate == compute.rate
    finally:
        await ledger.close()


def test_auto_is_only_for_compute() -> None:
    from agent_ecology.config import ConfigError, parse_settings

    with pytest.raises(ConfigError, match="only the compute flow may use it"):
        parse_settings({"resources": {"flow": {"llm_rate": {"rate": "auto", "capacity": 10}}}})


async def test_a_recalibration_rescales_the_agents_that_exist_in_proportion(
    tmp_path: Path,
) -> None:
    cost = Cost(actions=1000, agents=8, charged=0.0003, total=0.0006, seconds=1.0)  # overhead 2
    settings = world_settings(
        tmp_path,
        resources={
            "stock": {"disk": {"total": 3000, "unit": "bytes"}},
            "flow": {"compute": {"rate": "auto", "capacity": "auto", "unit": "cpu_seconds"}},
        },
    )
    quotas = {"one": "100000 100000", "two": "200000 100000"}
    one = plan(limits_of(cgroup(tmp_path / "one", {"cpu.max": quotas["one"]})), cost, 3)
    ledger, _ = await open_world(settings, calibration=one)
    try:  # alice gives bob half her rate: shares are rights, they must survive a recalibration
        await ledger.submit(
            ops.TransferQuota(src="alice", dst="bob", resource="compute", amount=0.5 * 0.9 / 6)
        )
        rates = {a: (await ledger.bucket(a, "compute")).rate for a in ("alice", "bob", "carol")}
    finally:
        await ledger.close()
    assert sum(rates.values()) == pytest.approx(0.9 / 2)  # 1 CPU x 0.9, overhead 2
    two = plan(limits_of(cgroup(tmp_path / "two", {"cpu.max": quotas["two"]})), cost, 3)
    ledger, report = await open_world(settings, calibration=two)
    try:
        after = {a: (await ledger.bucket(a, "compute")).rate for a in rates}
    finally:
        await ledger.close()
    assert sum(after.values()) == pytest.approx(1.8 / 2)  # 2 CPUs now: twice the rates
    assert {a: after[a] / rates[a] for a in rates} == pytest.approx(
        {"alice": 2.0, "bob": 2.0, "carol": 2.0}
    )
    assert any("compute recalibrated: 3 holder(s)' buckets rescaled" in n for n in report.notes)
