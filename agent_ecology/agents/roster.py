"""Who lives in the world: agents from ``genesis/agents/*.yaml`` and config.yaml's ``agents``.

Each file ``genesis/agents/<id>.yaml`` defines one agent (model, system prompt, max_tokens,
sleep policy, starting scrip and resources). An entry of config.yaml's ``agents`` list with
the same id overrides the keys it sets; one with a new id adds an agent. ``count`` (the
``--agents`` option) keeps the first ``count`` agents, or adds numbered default agents to
reach it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_ecology.config import AgentSettings, ConfigError, Settings, SleepPolicy, load_agent_file
from agent_ecology.llm.budget import Budget

__all__ = ["RESERVED_AGENT_PREFIX", "AgentSpec", "load_roster", "reserved_id"]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent as it starts: its config, scrip, stock quotas and flow overrides."""

    id: str
    scrip: int
    config: Mapping[str, Any]
    stock: Mapping[str, float] = field(default_factory=dict)
    flow: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    explicit_stock: frozenset[str] = frozenset()
    """Stock quotas the agent's file or config entry set itself (not the equal share)."""


MAX_TOTAL_SCRIP = 2**62
"""The most scrip a world may start with: the sum of all balances must fit in 64 bits."""

RESERVED_AGENT_PREFIX = "genesis_"
"""Agent ids may not start with this, in any case: it names the world's own principals."""


def reserved_id(agent_id: str, system_principal: str) -> str | None:
    """Why ``agent_id`` cannot be an agent's id (a world principal's, in any case), or None."""
    lowered = agent_id.lower()
    if lowered.startswith(RESERVED_AGENT_PREFIX):
        return (
            f"agent id {agent_id!r}: ids starting with {RESERVED_AGENT_PREFIX!r} (in any case)"
            " are the world's own principals; rename the agent (its file or config entry)"
        )
    if lowered == system_principal.lower():
        return (
            f"agent id {agent_id!r} is the system principal's id (world.system_principal:"
            f" {system_principal!r}), in any case; rename the agent"
        )
    return None


def _where(settings: Settings) -> str:
    return f"the agents (config.yaml and {Path(settings.world.genesis) / 'agents'})"


def _merge(base: AgentSettings, override: AgentSettings) -> AgentSettings:
    changes = {k: getattr(override, k) for k in override.model_fields_set if k != "id"}
    return base.model_copy(update=changes)


def _defined(settings: Settings) -> list[AgentSettings]:
    folder = Path(settings.world.genesis) / "agents"
    by_id: dict[str, AgentSettings] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            agent = load_agent_file(path)
            by_id[agent.id] = agent
    for agent in settings.agents:
        by_id[agent.id] = _merge(by_id[agent.id], agent) if agent.id in by_id else agent
    return list(by_id.values())


def load_roster(
    settings: Settings, *, count: int | None = None, allow_empty: bool = False
) -> list[AgentSpec]:
    """The agents of this run, in order, with everything needed to create them.

    No agents at all is a :class:`ConfigError` (a mistyped ``world.genesis``, most likely),
    unless ``allow_empty``.
    """
    agents = _defined(settings)
    reserved = [
        problem
        for agent in agents
        if (problem := reserved_id(agent.id, settings.world.system_principal)) is not None
    ]
    if reserved:
        raise ConfigError(_where(settings), reserved)
    if count is not None:
        if count < 1:
            raise ConfigError("--agents", [f"--agents must be at least 1, got {count}"])
        taken = {a.id for a in agents} | {settings.world.system_principal}
        n = 0
        while len(agents) < count:
            n += 1
            name = f"agent{n:04d}"
            if name not in taken:
                agents.append(AgentSettings(id=name))
        agents = agents[:count]
    prices = Budget(
        settings.llm.prices, billed=False, enforce_prices=settings.llm.provider == "openai"
    )
    problems = prices.unpriced(
        [("llm.model", settings.llm.model)]
        + [(f"agent {a.id}: model", a.model) for a in agents if a.model is not None]
    )
    if problems:
        raise ConfigError(_where(settings), problems)
    stock_names = list(settings.resources.stock)
    # The equal share is of what the agents' own asks leave: quotas never pass the total.
    shares = {}
    for name in stock_names:
        asked = [a.stock[name] for a in agents if name in a.stock]
        others = len(agents) - len(asked)
        left = settings.resources.stock[name].total - sum(asked)
        shares[name] = max(0.0, left) / others if others else 0.0
    flows = settings.resources.flow
    specs = []
    for agent in agents:
        unknown = sorted((set(agent.stock) - set(stock_names)) | (set(agent.flow) - set(flows)))
        if unknown:
            raise ConfigError(
                f"agent {agent.id}",
                [f"resource {unknown[0]!r} is not declared under resources in config.yaml"],
            )
        stock = {name: agent.stock.get(name, shares[name]) for name in stock_names}
        flow = {}
        for name, override in agent.flow.items():
            rate = override.rate if override.rate is not None else flows[name].rate
            capacity = override.capacity if override.capacity is not None else flows[name].capacity
            if rate == "auto" or capacity == "auto":
                raise ConfigError(
                    f"agent {agent.id}",
                    [
                        f"flow.{name}: this agent overrides only part of a calibrated (auto)"
                        " flow; give both rate and capacity, or neither"
                    ],
                )
            flow[name] = (rate, capacity)
        config = {
            "model": agent.model or settings.llm.model,
            "system_prompt": agent.system_prompt or "",
            "max_tokens": agent.max_tokens,
            "sleep_policy": (agent.sleep_policy or SleepPolicy()).model_dump(),
        }
        scrip = agent.scrip if agent.scrip is not None else settings.scrip.initial
        specs.append(AgentSpec(agent.id, scrip, config, stock, flow, frozenset(agent.stock)))
    _check_totals(settings, specs, allow_empty=allow_empty)
    return specs


def _check_totals(settings: Settings, specs: list[AgentSpec], *, allow_empty: bool) -> None:
    """Refuse, before anything is written, starting amounts the world cannot hold."""
    where = _where(settings)
    if not specs and not allow_empty:
        folder = Path(settings.world.genesis)
        found = "has no agents/*.yaml" if folder.is_dir() else "does not exist"
        raise ConfigError(
            where,
            [
                f"no agents to run: the genesis folder {folder} {found} and config.yaml's"
                " agents list is empty; add agent files or list agents in config.yaml"
                " (`agent-ecology run --agents N` also adds N default agents)"
            ],
        )
    total_scrip = sum(spec.scrip for spec in specs)
    if total_scrip > MAX_TOTAL_SCRIP:
        raise ConfigError(
            where,
            [
                f"the agents' starting scrip adds up to {total_scrip}, more than the ledger holds"
                f" ({MAX_TOTAL_SCRIP}); lower scrip.initial or the agents' scrip"
            ],
        )
    for name, spec in settings.resources.stock.items():
        quotas = sum(agent.stock[name] for agent in specs)
        if quotas > spec.total * (1 + 1e-9) + 1e-9:
            own = sorted(a.id for a in specs if name in a.explicit_stock)
            raise ConfigError(
                where,
                [
                    f"resources.stock.{name}: the agents' quotas add up to {quotas:g}, past its"
                    f" total of {spec.total:g} (set by: {', '.join(own)}); lower their stock"
                    f".{name}, or raise the total"
                ],
            )
