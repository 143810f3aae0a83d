"""Boot a world database from validated settings: migrate, declare resources, create principals.

Idempotent: running it again on the same database changes nothing; running it after adding
a resource or an agent to config.yaml adds just that. Quotas already handed out are never
reallocated by a config change (they are rights that may have been traded); the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import anyio

from agent_ecology.agents.roster import AgentSpec, load_roster
from agent_ecology.calibrate import Plan
from agent_ecology.clock import Clock
from agent_ecology.config import ConfigError, Settings
from agent_ecology.ledger import NANODOLLARS, IdempotencyConflict, Ledger, ResourceSpec, ops

__all__ = ["WorldReport", "apply_calibration", "open_world"]


@dataclass
class WorldReport:
    """What :func:`open_world` did."""

    created_agents: list[str] = field(default_factory=list)
    new_resources: list[str] = field(default_factory=list)
    changed_resources: list[str] = field(default_factory=list)
    minted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calibration: Plan | None = None  # what `rate: auto` was calibrated to
    settings: Settings | None = None  # the settings with calibrated numbers (if any)

    def lines(self) -> list[str]:
        out = []
        if self.new_resources:
            out.append(f"declared resources: {', '.join(self.new_resources)}")
        if self.changed_resources:
            out.append(
                f"changed in config: {', '.join(self.changed_resources)} (recorded; quotas already"
                " held are kept, since they are rights that may have been traded)"
            )
        if self.created_agents:
            out.append(f"created agents: {', '.join(self.created_agents)}")
        if self.minted:
            total = sum(self.minted.values())
            out.append(f"minted starting scrip: {total} to {len(self.minted)} agent(s)")
        out.extend(self.notes)
        return out or ["nothing to do: the database already matches config.yaml"]


def _specs(settings: Settings) -> list[ResourceSpec]:
    stock = [
        ResourceSpec(name, "stock", spec.unit, total=spec.total, distribution=spec.distribution)
        for name, spec in settings.resources.stock.items()
    ]
    flow = []
    for name, spec in settings.resources.flow.items():
        if spec.rate == "auto" or spec.capacity == "auto":
            raise ValueError("calibrate first: apply_calibration() replaces 'auto' with numbers")
        flow.append(ResourceSpec(name, "flow", spec.unit, rate=spec.rate, capacity=spec.capacity))
    return stock + flow


def apply_calibration(settings: Settings, calibrated: Plan) -> Settings:
    """``settings`` with the compute flow's ``auto`` values replaced by the calibrated ones."""
    compute = settings.resources.flow["compute"]
    numbers = compute.model_copy(
        update={
            "rate": calibrated.rate if compute.rate == "auto" else compute.rate,
            "capacity": calibrated.capacity if compute.capacity == "auto" else compute.capacity,
        }
    )
    flow = {**settings.resources.flow, "compute": numbers}
    resources = settings.resources.model_copy(update={"flow": flow})
    return settings.model_copy(update={"resources": resources})


async def _share_what_is_left(
    ledger: Ledger, settings: Settings, roster: Sequence[AgentSpec], report: WorldReport
) -> list[AgentSpec]:
    """New agents' equal shares of stock pools, taken only from what is not yet allocated.

    A pool's quotas never add up to more than its ``total`` through the equal share: agents
    added to a running world share what is left (possibly nothing), and the report says so.
    Quotas an agent's own definition sets are taken from what is unallocated first; asking
    for more than that is refused (:class:`ConfigError`) before any agent is created.
    """
    existing = {p.id for p in await ledger.principals("agent")}
    new = [a for a in roster if a.id not in existing]
    if not new or not existing:
        return list(roster)
    changed: dict[str, dict[str, float]] = {a.id: dict(a.stock) for a in new}
    for name, pool in settings.resources.stock.items():
        takers = [a for a in new if name not in a.explicit_stock]
        askers = [a for a in new if name in a.explicit_stock]
        explicit = sum(a.stock.get(name, 0.0) for a in askers)
        unallocated = max(0.0, pool.total - await ledger.stock_allocated(name))
        if explicit > unallocated * (1 + 1e-9) + 1e-9:
            raise ConfigError(
                f"the agents (config.yaml and {settings.world.genesis}/agents)",
                [
                    f"resources.stock.{name}: new agents ask for {explicit:g} of their own"
                    f" ({', '.join(a.id for a in askers)}), but only {unallocated:g} of"
                    f" {pool.total:g} is unallocated; lower their stock.{name}, raise the"
                    " total, or have an agent give quota"
                ],
            )
        if not takers:
            continue
        left = max(0.0, unallocated - explicit)
        wanted = sum(a.stock.get(name, 0.0) for a in takers)
        if wanted <= left:
            continue
        share = left / len(takers)
        for agent in takers:
            changed[agent.id][name] = share
        report.notes.append(
            f"{name}: only {left:g} of {pool.total:g} is unallocated, so each new agent starts"
            f" with {share:g}; raise resources.stock.{name}.total or trade quota to give more"
        )
    return [replace(a, stock=changed[a.id]) if a.id in changed else a for a in roster]


async def open_world(
    settings: Settings,
    *,
    clock: Clock | None = None,
    roster: Sequence[AgentSpec] | None = None,
    calibration: Plan | None = None,
) -> tuple[Ledger, WorldReport]:
    """Open (create, migrate) the world database and bring it in line with ``settings``.

    ``roster`` is the agents to create (default: those of ``genesis/agents`` and config.yaml);
    agents that exist keep their state: their configs may have been changed since.
    ``calibration`` is the plan for a ``compute`` flow of ``auto`` (required then), measured
    beforehand by :func:`agent_ecology.probe.calibrate_for`.
    """
    if roster is None:
        roster = load_roster(settings)
    calibrated_flows = {n for n, f in settings.resources.flow.items() if f.calibrated}
    needs_calibration = bool(calibrated_flows)
    if needs_calibration and calibration is None:
        raise ValueError(
            "resources.flow.compute is 'auto': measure first (agent_ecology.probe.calibrate_for)"
            " and pass the plan as calibration="
        )
    calibrated = calibration if needs_calibration else None
    report = WorldReport(calibration=calibrated)
    if calibrated is not None:
        settings = apply_calibration(settings, calibrated)
        report.settings = settings
        report.notes += [f"calibration (compute: auto): {line}" for line in calibrated.lines]
    ledger = await Ledger.open(
        settings.world.database,
        clock=clock,
        busy_timeout_ms=round(settings.world.busy_timeout * 1000),
    )
    try:
        for spec in _specs(settings):
            receipt = await ledger.submit(
                ops.DeclareResource.of(spec, rescale=spec.name in calibrated_flows)
            )
            if receipt.details["created"]:
                report.new_resources.append(spec.name)
            elif receipt.details.get("rescaled"):
                report.notes.append(
                    f"{spec.name} recalibrated: {receipt.details['rescaled']} holder(s)' buckets"
                    " rescaled to it, each in proportion to what it held"
                )
            elif receipt.details["changed"]:
                report.changed_resources.append(spec.name)
        authority = settings.world.system_principal
        await ledger.submit(ops.EnsurePrincipal(principal_id=authority, principal_kind="system"))
        limit_nd = round(settings.llm.max_api_cost * NANODOLLARS)
        await ledger.submit(ops.SetApiLimit(limit_nd=limit_nd, authority=authority))

        roster = await _share_what_is_left(ledger, settings, roster, report)

        async def add(agent: AgentSpec) -> None:
            agent_id, scrip = agent.id, agent.scrip
            receipt = await ledger.submit(
                ops.EnsurePrincipal(
                    principal_id=agent_id,
                    principal_kind="agent",
                    stock=agent.stock,
                    flow=agent.flow,
                )
            )
            if receipt.details["created"]:
                report.created_agents.append(agent_id)
            await ledger.submit(ops.EnsureAgent(agent_id=agent_id, config=agent.config))
            if scrip <= 0:
                return
            # The op id makes this exactly-once across crashes and re-runs; a later change of
            # the starting amount in config does not mint again.
            try:
                minted = await ledger.submit(
                    ops.Mint(
                        dst=agent_id,
                        amount=scrip,
                        authority=authority,
                        op_id=f"init:starting-scrip:{agent_id}",
                    )
                )
            except IdempotencyConflict:
                return
            if not minted.replayed:
                report.minted[agent_id] = scrip

        # Concurrent requests share commits (the writer batches them).
        async with anyio.create_task_group() as tg:
            for agent in roster:
                tg.start_soon(add, agent)
    except BaseException:
        await ledger.close()
        raise
    report.created_agents.sort()
    return ledger, report
