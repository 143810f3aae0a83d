"""A small TokenTorq world for the tests: one BRLA, Oracle, Robot and Giskard."""

from __future__ import annotations

from agent_ecology.robonomics import BRLA, Giskard, Oracle, Params, Robonomics, Robot, Task
from agent_ecology.robonomics.actors import actor_uuid
from agent_ecology.robonomics.engine import new_world


def one_robot(
    *,
    capacity: float = 2.5,
    complexity: float = 1.0,
    ticks_per_step: int = 4,
    task_ticks: int = 3,
    kind: str = "complex",
    max_retries: int = 3,
    agent: str | None = "alice",
    oracle_active: bool = False,
    robot_ready: bool = False,
    robots: int = 1,
) -> Robonomics:
    params = Params(
        ticks_per_step=ticks_per_step,
        max_retries=max_retries,
        min_token_torq_per_complexity=10.0,
        tasks={"weld": Task("weld", kind, complexity, task_ticks)},
    )
    brla = BRLA(name="brla", tta_request_data={"order": 7})
    names = ["r1"] if robots == 1 else [f"r{i}" for i in range(1, robots + 1)]
    oracle = Oracle(
        name="line",
        task="weld",
        robots=[actor_uuid("Robot", n) for n in names],
        brla=brla.uuid,
        is_active=oracle_active,
    )
    bots = [
        Robot(
            name=n,
            oracle=oracle.uuid,
            agent=agent,
            sit_rep={"battery": 0.9},
            ready_to_train=robot_ready,
        )
        for n in names
    ]
    giskard = Giskard(name="giskard", token_torq_capacity=capacity, tick_rate=capacity)
    return new_world(params, brla=brla, oracles=[oracle], robots=bots, giskard=giskard)
