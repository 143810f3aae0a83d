"""Robonomics from ``config.yaml``: build the world, boot it from the database, run ticks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio

from agent_ecology.config import ConfigError, Settings
from agent_ecology.ledger import Ledger
from agent_ecology.robonomics.actors import BRLA, Giskard, Oracle, Robot, actor_uuid
from agent_ecology.robonomics.engine import LogLine, Params, Robonomics, Task, new_world
from agent_ecology.robonomics.mining import MiningParams
from agent_ecology.robonomics.settings import RobonomicsSettings
from agent_ecology.robonomics.store import load, save

__all__ = ["Loop", "differences", "log_path", "params_from", "phase", "world_from"]


def params_from(s: RobonomicsSettings) -> Params:
    m = s.mining
    return Params(
        ticks_per_step=s.ticks_per_step,
        max_retries=s.max_retries,
        mint_rate=s.mint_rate,
        min_token_torq_per_complexity=s.giskard.min_token_torq_per_complexity,
        tasks={name: Task(name, t.kind, t.complexity, t.ticks) for name, t in s.tasks.items()},
        mining=MiningParams(
            base_rate=m.base_rate,
            learning=m.learning,
            learning_scale=m.learning_scale,
            elasticity=m.elasticity,
            reference_tick_rate=m.reference_tick_rate,
            draw={str(k): v for k, v in m.draw.items()},
            shape={str(k): v for k, v in m.shape.items()},
        ),
    )


def world_from(s: RobonomicsSettings) -> Robonomics:
    """A new world at tick 0 from the configuration (not started)."""
    brla = BRLA(name=s.brla, tta_request_data=dict(s.tta_request_data))
    crews: dict[str, list[str]] = {o.name: [] for o in s.oracles}
    for r in s.robots:
        crews[r.oracle].append(actor_uuid("Robot", r.name))
    oracles = [
        Oracle(name=o.name, task=o.task, brla=brla.uuid, robots=crews[o.name]) for o in s.oracles
    ]
    robots = [
        Robot(
            name=r.name,
            oracle=actor_uuid("Oracle", r.oracle),
            agent=r.agent,
            sit_rep=dict(r.sit_rep),
            experience={str(k): v for k, v in r.experience.items()},
        )
        for r in s.robots
    ]
    capacity = s.giskard.token_torq_capacity
    giskard = Giskard(
        name="giskard",
        token_torq_capacity=capacity,
        tick_rate=capacity if s.giskard.tick_rate is None else s.giskard.tick_rate,
    )
    return new_world(params_from(s), brla=brla, oracles=oracles, robots=robots, giskard=giskard)


def log_path(settings: Settings) -> Path:
    """The flow log file: ``robonomics.log_path``, or beside the database."""
    chosen = settings.robonomics.log_path
    return chosen if chosen is not None else settings.world.database.parent / "flow_logs.txt"


class Loop:
    """The loop inside a ledger: boot (resume or start), then tick and save, tick by tick."""

    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        *,
        log_file: Path | None = None,
        source: str = "config.yaml",
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self.source = source
        self.authority = settings.world.system_principal
        self.log_file = log_file if log_file is not None else log_path(settings)
        self.world: Robonomics | None = None
        self.resumed = False
        self.notes: list[str] = []  # what boot() found worth telling the user
        self._by_agent: dict[str, list[Robot]] | None = None

    async def boot(self) -> list[LogLine]:
        """Resume the saved loop, or start a new one (tick 0); the lines tick 0 wrote."""
        if self.log_file.is_dir():
            raise ConfigError(
                self.source, [f"the flow log {self.log_file} is a folder; give a file path"]
            )
        params = params_from(self.settings.robonomics)
        configured = world_from(self.settings.robonomics)
        saved = await load(self.ledger, params)
        if saved is not None:
            self.world, self.resumed = saved, True
            self.notes = differences(saved, configured, self.source)
            return []
        missing = [
            f"robonomics.robots[{i}].agent: robot {r.name!r} is bound to {r.agent!r}, which is"
            " not an agent of this world (agents come from genesis/agents and config.yaml)"
            for i, r in enumerate(configured.robots)
            if r.agent is not None and not await self._exists(r.agent)
        ]
        if missing:
            raise ConfigError(self.source, missing)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        report = configured.start()
        await save(
            self.ledger, configured, report, authority=self.authority, log_path=self.log_file
        )
        self.world = configured
        return report.lines

    async def reload(self) -> None:
        """Read the saved loop again: what another process of a sharded run ticked since (a
        shard that takes the lead ticks on from there; the others see the robots as saved)."""
        saved = await load(self.ledger, params_from(self.settings.robonomics))
        if saved is not None:
            self.world = saved

    async def tick(self) -> list[LogLine]:
        """One tick, saved (mints and state) before it returns; its log lines."""
        world = self.world
        if world is None:
            raise RuntimeError("the loop is not running: boot() it (again)")
        report = await anyio.to_thread.run_sync(world.tick)  # at scale: off the event loop
        try:
            await save(self.ledger, world, report, authority=self.authority, log_path=self.log_file)
        except Exception:
            # the tick ran in memory but is not on disk: go back to what the database holds
            # (if that fails too, the loop stops rather than run ahead of its saved state)
            self.world, self._by_agent = None, None
            self.world = await load(self.ledger, params_from(self.settings.robonomics))
            raise
        return report.lines

    async def run(self, ticks: int, on_lines: Callable[[list[LogLine]], None]) -> None:
        for _ in range(ticks):
            on_lines(await self.tick())

    def robots_of(self, agent: str) -> list[Robot]:
        """The robots bound to ``agent``."""
        if self.world is None:
            return []
        if self._by_agent is None:
            self._by_agent = {}
            for r in self.world.robots:
                if r.agent is not None:
                    self._by_agent.setdefault(r.agent, []).append(r)
        return self._by_agent.get(agent, [])

    def robot_view(self, agent: str) -> str | None:
        """A line on each robot bound to ``agent``, for the agent's context."""
        world = self.world
        robots = self.robots_of(agent)
        if world is None or not robots:
            return None
        rate = self.settings.robonomics.mint_rate
        views = [f"{r.name}: {phase(world, r)}; Torq mined {world.num(r.torq)}" for r in robots]
        return (
            f"(tick {world.tick_count}) {'; '.join(views)}. Isaac mints {rate:g} scrip per Torq"
            " to you."
        )

    async def _exists(self, principal: str) -> bool:
        try:
            await self.ledger.principal(principal)
        except LookupError:
            return False
        return True


def phase(world: Robonomics, robot: Robot) -> str:
    """Where ``robot`` is in the loop, in words."""
    num = world.num
    if robot.uuid in world.producing:
        return f"producing ({robot.task})"
    if not robot.is_trained:
        return (
            f"training, TokenTorq {num(robot.token_torq)}/{num(robot.min_token_torq)},"
            f" training_remaining {num(robot.training_remaining)}"
        )
    if robot.ready_to_train and robot.min_token_torq == 0:
        return "authorised to train, waiting for a TokenTorq drain from Giskard"
    if robot.experience:
        done = ", ".join(f"{k} {v}" for k, v in sorted(robot.experience.items()))
        return f"idle (tasks done: {done})"
    return "idle, waiting for production to start"


def differences(saved: Robonomics, configured: Robonomics, source: str) -> list[str]:
    """What ``source`` says that the saved loop does not (the database wins on resume)."""
    out: list[str] = []

    def robots(world: Robonomics) -> dict[str, tuple[str | None, str]]:
        oracle = {a.uuid: a.name for a in world.actors.values() if isinstance(a, Oracle)}
        return {r.name: (r.agent, oracle.get(r.oracle, "?")) for r in world.robots}

    old, new = robots(saved), robots(configured)
    for name in sorted(set(new) - set(old)):
        out.append(f"robot {name!r} is in {source} but not in the saved loop")
    for name in sorted(set(old) - set(new)):
        out.append(f"robot {name!r} is in the saved loop but no longer in {source}")
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            out.append(
                f"robot {name!r}: saved (agent, oracle) {old[name]}, {source} says {new[name]}"
            )
    if saved.giskard.token_torq_capacity != configured.giskard.token_torq_capacity:
        out.append(
            f"giskard.token_torq_capacity: saved {saved.giskard.token_torq_capacity:g},"
            f" {source} says {configured.giskard.token_torq_capacity:g}"
        )
    if out:
        out.append("the saved loop goes on as it is; to apply these, start from a new database")
    return out
