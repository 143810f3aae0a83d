"""The ``robonomics`` section of ``config.yaml``: the TokenTorq loop's world, as settings.

The robonomics subsystem owns these keys and their rules (which names refer to which);
:mod:`agent_ecology.config` composes the section into the whole of config.yaml and words
any error with its full key path. :mod:`agent_ecology.robonomics.setup` builds the world
from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from agent_ecology._settings import (
    Name,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrincipalId,
    Strict,
)

__all__ = [
    "RobonomicsGiskard",
    "RobonomicsMining",
    "RobonomicsOracle",
    "RobonomicsRobot",
    "RobonomicsSettings",
    "RobonomicsTask",
    "TaskKind",
]


TaskKind = Literal["complex", "simple"]


def _default_draw() -> dict[TaskKind, float]:
    return {"complex": 1.5, "simple": 1.0}


def _default_shape() -> dict[TaskKind, float]:
    return {"complex": 2.0, "simple": 0.0}


class RobonomicsTask(Strict):
    """A production task an Oracle directs its robots to do."""

    kind: Literal["complex", "simple"] = Field(
        description="complex: draws more TokenTorq, starts slowly, ends high; simple: flat."
    )
    complexity: PositiveFloat = Field(
        default=1.0,
        description="Sets the TokenTorq a robot must hold before producing"
        " (complexity x giskard.min_token_torq_per_complexity).",
    )
    ticks: PositiveInt = Field(default=20, description="How many ticks production lasts.")


class RobonomicsOracle(Strict):
    name: Name
    task: str = Field(description="A key of robonomics.tasks.")


class RobonomicsRobot(Strict):
    name: Name
    oracle: str = Field(description="The name of the Oracle it works for.")
    agent: PrincipalId | None = Field(
        default=None, description="The agent it is bound to: Isaac mints its Torq to them."
    )
    sit_rep: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="The robot's situation report, merged into requests."
    )
    experience: dict[Literal["complex", "simple"], NonNegativeInt] = Field(
        default_factory=dict, description="Tasks of each kind it has done already."
    )


class RobonomicsGiskard(Strict):
    token_torq_capacity: NonNegativeFloat = Field(
        default=10.0, description="TokenTorq per tick, shared among the active drains."
    )
    tick_rate: PositiveFloat | None = Field(
        default=None, description="TokenTorq per tick before the first step (default: capacity)."
    )
    min_token_torq_per_complexity: PositiveFloat = Field(
        default=10.0, description="TokenTorq a robot must hold per unit of task complexity."
    )


class RobonomicsMining(Strict):
    """TorqFountain's formula (agent_ecology/robonomics/mining.py)."""

    base_rate: PositiveFloat = 1.0
    learning: NonNegativeFloat = Field(
        default=1.0, description="Experience multiplies mining by up to 1 + learning."
    )
    learning_scale: PositiveFloat = Field(
        default=3.0, description="Tasks of a kind it takes to get ~63% of the experience gain."
    )
    elasticity: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.5,
        description="How much a lower tick_rate raises Torq per TokenTorq (0 <= e < 1, so a"
        " lower tick_rate still gives less Torq in all).",
    )
    reference_tick_rate: PositiveFloat = 1.0
    draw: dict[Literal["complex", "simple"], PositiveFloat] = Field(
        default_factory=_default_draw,
        description="TokenTorq drawn per tick, per unit of tick_rate.",
    )
    shape: dict[Literal["complex", "simple"], NonNegativeFloat] = Field(
        default_factory=_default_shape,
        description="Production curve exponent: 0 is flat, higher starts slower, ends higher.",
    )

    @model_validator(mode="after")
    def _both_kinds(self) -> RobonomicsMining:
        for key in ("draw", "shape"):
            missing = {"complex", "simple"} - set(getattr(self, key))
            if missing:
                raise ValueError(f"mining.{key} needs a value for {sorted(missing)}")
        return self


class RobonomicsSettings(Strict):
    """The TokenTorq training loop of a robot economy (ROBONOMICS.md); off by default."""

    enabled: bool = Field(default=False, description="Tick the loop while agents run.")
    tick_period: PositiveFloat = Field(default=1.0, description="Seconds between ticks.")
    ticks_per_step: PositiveInt = 4
    max_retries: NonNegativeInt = Field(
        default=3, description="Times a failure-retry node spawns a failed flow again."
    )
    mint_rate: NonNegativeFloat = Field(
        default=1.0, description="Scrip Isaac mints to a robot's agent per unit of Torq."
    )
    log_path: Path | None = Field(
        default=None, description="The flow log file (default: flow_logs.txt beside the database)."
    )
    brla: Name = "brla"
    tta_request_data: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="The BRLA's TokenTorqAuth request data."
    )
    giskard: RobonomicsGiskard = Field(default_factory=RobonomicsGiskard)
    mining: RobonomicsMining = Field(default_factory=RobonomicsMining)
    tasks: dict[Name, RobonomicsTask] = Field(default_factory=dict)
    oracles: list[RobonomicsOracle] = Field(default_factory=list)
    robots: list[RobonomicsRobot] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> RobonomicsSettings:
        oracles = [o.name for o in self.oracles]
        for names, what in ((oracles, "oracles"), ([r.name for r in self.robots], "robots")):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"robonomics.{what}: {dupes[0]!r} appears twice")
        for i, oracle in enumerate(self.oracles):
            if oracle.task not in self.tasks:
                known = ", ".join(self.tasks) or "none: add robonomics.tasks"
                raise ValueError(
                    f"robonomics.oracles[{i}].task: {oracle.task!r} is not a task ({known})"
                )
        for i, robot in enumerate(self.robots):
            if robot.oracle not in oracles:
                known = ", ".join(oracles) or "none: add robonomics.oracles"
                raise ValueError(
                    f"robonomics.robots[{i}].oracle: {robot.oracle!r} is not an oracle ({known})"
                )
        if self.enabled and not self.robots:
            raise ValueError("robonomics.enabled is true but robonomics.robots is empty")
        return self

    def relative_to(self, folder: Path) -> RobonomicsSettings:
        """These settings with a relative ``log_path`` taken from ``folder`` (config.yaml's);
        ``self`` when there is nothing to resolve."""
        if self.log_path is None or self.log_path.is_absolute():
            return self
        return self.model_copy(update={"log_path": folder / self.log_path})
