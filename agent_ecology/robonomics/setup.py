"""Robonomics from ``config.yaml``: build the world, boot it from the database, run ticks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent_ecology.config import ConfigError, RobonomicsSettings, Settings
from agent_ecology.ledger import Ledger
from agent_ecology.robonomics.actors import BRLA, Giskard, Oracle, Robot, actor_uuid
from agent_ecology.robonomics.engine import LogLine, Params, Robonomics, Task, new_world
from agent_ecology.robonomics.mining import MiningParams
from agent_ecology.robonomics.store import load, save

__all__ = ["Loop", "log_path", "params_from", "world_from"]


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
    oracles = [
        Oracle(
            name=o.name,
            task=o.task,
            brla=brla.uuid,
            robots=[actor_uuid("Robot", r.name) for r in s.robots if r.oracle == o.name],
        )
        for o in s.oracles
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

    def __init__(self, ledger: Ledger, settings: Settings, *, log_file: Path | None = None) -> None:
        self.ledger = ledger
        self.settings = settings
        self.authority = settings.world.system_principal
        self.log_file = log_file if log_file is not None else log_path(settings)
        self.world: Robonomics | None = None
        self.resumed = False
        self._by_agent: dict[str, Robot] | None = None

    async def boot(self) -> list[LogLine]:
        """Resume the saved loop, or start a new one (tick 0); the lines tick 0 wrote."""
        params = params_from(self.settings.robonomics)
        saved = await load(self.ledger, params)
        if saved is not None:
            self.world, self.resumed = saved, True
            return []
        world = world_from(self.settings.robonomics)
        missing = [
            f"robonomics.robots[{i}].agent: robot {r.name!r} is bound to {r.agent!r}, which is"
            " not an agent of this world (agents come from genesis/agents and config.yaml)"
            for i, r in enumerate(world.robots)
            if r.agent is not None and not await self._exists(r.agent)
        ]
        if missing:
            raise ConfigError("config.yaml", missing)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        report = world.start()
        await save(self.ledger, world, report, authority=self.authority, log_path=self.log_file)
        self.world = world
        return report.lines

    async def tick(self) -> list[LogLine]:
        """One tick, saved (mints and state) before it returns; its log lines."""
        if self.world is None:
            raise RuntimeError("boot() the loop first")
        report = self.world.tick()
        try:
            await save(
                self.ledger, self.world, report, authority=self.authority, log_path=self.log_file
            )
        except Exception:
            # the tick ran in memory but is not on disk: go back to what the database holds
            self.world = await load(self.ledger, params_from(self.settings.robonomics))
            self._by_agent = None
            raise
        return report.lines

    async def run(self, ticks: int, on_lines: Callable[[list[LogLine]], None]) -> None:
        for _ in range(ticks):
            on_lines(await self.tick())

    def robot_of(self, agent: str) -> Robot | None:
        """The robot bound to ``agent``, if any."""
        if self.world is None:
            return None
        if self._by_agent is None:
            self._by_agent = {r.agent: r for r in self.world.robots if r.agent is not None}
        return self._by_agent.get(agent)

    def robot_view(self, agent: str) -> str | None:
        """One line on the robot bound to ``agent``, for the agent's context."""
        robot = self.robot_of(agent)
        if robot is None or self.world is None:
            return None
        num = self.world.num
        if robot.is_trained and robot.torq == 0 and not robot.ready_to_train:
            phase = "idle, waiting for production to start"
        elif not robot.is_trained:
            phase = (
                f"training, TokenTorq {num(robot.token_torq)}/{num(robot.min_token_torq)},"
                f" training_remaining {num(robot.training_remaining)}"
            )
        else:
            phase = "trained"
        return (
            f"{robot.name} (tick {self.world.tick_count}): {phase}; Torq mined {num(robot.torq)}"
            f" (Isaac mints {self.settings.robonomics.mint_rate:g} scrip per Torq to you);"
            f" experience {robot.experience or 'none'}"
        )

    async def _exists(self, principal: str) -> bool:
        try:
            await self.ledger.principal(principal)
        except LookupError:
            return False
        return True
