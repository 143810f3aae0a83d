"""Booting a world: agents added later share what is left of each stock pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.agents import load_roster
from agent_ecology.config import ConfigError, Settings, parse_settings
from agent_ecology.ledger import ops
from agent_ecology.world import open_world


async def test_agents_added_later_never_push_quotas_past_the_total(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "world": {"database": str(tmp_path / "w.db"), "genesis": str(tmp_path / "g")},
            "resources": {"stock": {"llm_budget": {"total": 1.0}, "disk": {"total": 900}}},
            "agents": [{"id": "a"}, {"id": "b"}, {"id": "c", "stock": {"disk": 50}}],
        }
    )
    ledger, report = await open_world(settings)
    await ledger.close()
    assert report.created_agents == ["a", "b", "c"]

    bigger = load_roster(settings, count=6)  # three numbered agents join
    ledger, report = await open_world(settings, roster=bigger)
    try:
        assert await ledger.stock_allocated("llm_budget") == pytest.approx(1.0)
        assert await ledger.stock_allocated("disk") == pytest.approx(900)
        newcomer = await ledger.stock("agent0001", "llm_budget")
        assert newcomer.quota == pytest.approx(0.0)
        assert any("only 0 of 1 is unallocated" in line for line in report.lines())
        # disk: c asked for 50, a and b shared the 850 it left: nothing for the newcomers.
        assert (await ledger.stock("a", "disk")).quota == pytest.approx(425)
        assert (await ledger.stock("c", "disk")).quota == pytest.approx(50)
        assert (await ledger.stock("agent0002", "disk")).quota == pytest.approx(0.0)
    finally:
        await ledger.close()


async def test_newcomers_own_quotas_come_out_of_what_is_left_first(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "world": {"database": str(tmp_path / "w.db"), "genesis": str(tmp_path / "g")},
            "resources": {"stock": {"disk": {"total": 10}}},
            "agents": [{"id": "a"}, {"id": "b"}],
        }
    )
    ledger, _ = await open_world(settings)
    await ledger.close()

    def joined(*agents: dict[str, object]) -> Settings:
        extra = parse_settings({"agents": list(agents)}).agents
        return settings.model_copy(update={"agents": [*settings.agents, *extra]})

    # a and b hold 5 each: nothing is left, so x's own ask of 4 cannot be met.
    with pytest.raises(ConfigError, match=r"x\), but only 0 of 10 is unallocated"):
        await open_world(joined({"id": "x", "stock": {"disk": 4}}, {"id": "y"}))
    ledger, _ = await open_world(settings)
    try:
        assert {p.id for p in await ledger.principals("agent")} == {"a", "b"}  # none created
        await ledger.submit(
            ops.SetQuota(principal="a", resource="disk", amount=2.0, authority="world")
        )  # a gives 3 back
    finally:
        await ledger.close()
    ledger, _ = await open_world(joined({"id": "x", "stock": {"disk": 2}}, {"id": "y"}))
    try:
        assert (await ledger.stock("x", "disk")).quota == 2
        assert (await ledger.stock("y", "disk")).quota == pytest.approx(1.0)  # what is left
        assert await ledger.stock_allocated("disk") == pytest.approx(10)
    finally:
        await ledger.close()
