"""The TokenTorq training loop against the seed's "Sequence of Steps", tick by tick."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.robonomics import Oracle, Robonomics, Robot
from agent_ecology.robonomics.flows import DONE, TokenTorqDrain

from .world import one_robot


def run(world: Robonomics, ticks: int) -> list[tuple[int, str]]:
    lines = [(ln.tick, ln.message) for ln in world.start().lines]
    for _ in range(ticks):
        lines += [(ln.tick, ln.message) for ln in world.tick().lines]
    return lines


def ids(world: Robonomics) -> dict[str, str]:
    oracle = next(a for a in world.actors.values() if isinstance(a, Oracle))
    return {
        "B": oracle.brla,
        "O": oracle.uuid,
        "R": world.robots[0].uuid,
        "G": world.giskard.uuid,
    }


# Written by hand from the seed: RetainerXfer in tick 0, ProductionStartFlag in tick 1,
# TokenTorqAuth in tick 2, DrainRequest in tick 3, TokenTorqDrain from tick 4 on (capacity 2.5
# per tick against a minimum of 10: a quarter of the training per tick), the robot's
# training_update at each step (ticks 4 and 8 with 4 ticks per step), completion in the tick
# training_remaining reaches 0 (tick 7), the TorqFountain at the next step (tick 8).
GOLDEN = """\
0 RetainerXfer spawned ProductionStartFlag from {B} to {O} on Step: 0, Tick: 0
1 ProductionStartFlag spawned TokenTorqAuth from {O} to {R} on Step: 0, Tick: 1
1 ProductionStartFlag flagged for dissolution on Step: 0, Tick: 1
2 TokenTorqAuth spawned DrainRequest from {R} to {G} on Step: 0, Tick: 2
2 TokenTorqAuth flagged for dissolution on Step: 0, Tick: 2
3 DrainRequest spawned TokenTorqDrain from {G} to {R} on Step: 0, Tick: 3
3 DrainRequest flagged for dissolution on Step: 0, Tick: 3
4 TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.75
4 Waiting for training: 2.5/10.0
5 TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.5
6 TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.25
7 TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.0
7 TokenTorqDrain ended: Training complete on Step: 1, Tick: 7
7 TokenTorqDrain flagged for dissolution - training complete
8 Giskard received StreamFailed: Training complete, spawn TorqFountain on Step: 2, Tick: 8
8 StreamFailed flagged for dissolution on Step: 2, Tick: 8
8 Robot spawned TorqFountain from {R} to {O} on Step: 2, Tick: 8
"""


def test_the_golden_timeline_from_retainer_xfer_to_the_first_torq_fountain() -> None:
    world = one_robot()
    want = [
        (int(t), text)
        for t, text in (line.split(" ", 1) for line in GOLDEN.format(**ids(world)).splitlines())
    ]
    assert run(world, 8) == want


def fields(world: Robonomics) -> tuple[bool, bool, bool, float, float]:
    oracle = next(a for a in world.actors.values() if isinstance(a, Oracle))
    robot = world.robots[0]
    return (
        oracle.is_active,
        robot.ready_to_train,
        robot.is_trained,
        robot.training_remaining,
        robot.token_torq,
    )


def test_the_actors_match_the_seeds_table_tick_by_tick() -> None:
    world = one_robot()
    # initial state (the seed's actor table): Oracle inactive; Robot not ready, trained, 0.0
    assert fields(world) == (False, False, True, 0.0, 0.0)
    world.start()
    assert fields(world) == (False, False, True, 0.0, 0.0)  # tick 0 only spawns
    after = [
        (True, False, True, 0.0, 0.0),  # tick 1: Oracle.is_active = True
        (True, True, True, 0.0, 0.0),  # tick 2: Robot.ready_to_train = True
        (True, True, False, 1.0, 0.0),  # tick 3: the drain starts: the table's final state
        (True, True, False, 0.75, 2.5),
        (True, True, False, 0.5, 5.0),
        (True, True, False, 0.25, 7.5),
        (True, True, False, 0.0, 10.0),
        (True, True, True, 0.0, 10.0),  # tick 8: the robot spawned its TorqFountain
    ]
    for tick, want in enumerate(after, start=1):
        world.tick()
        assert fields(world) == want, f"after tick {tick}"


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.floats(0.1, 50, allow_nan=False),
    complexity=st.floats(0.1, 20, allow_nan=False),
    ticks_per_step=st.integers(1, 6),
)
def test_drain_arithmetic_and_completion_in_the_tick_it_happens(
    capacity: float, complexity: float, ticks_per_step: int
) -> None:
    world = one_robot(capacity=capacity, complexity=complexity, ticks_per_step=ticks_per_step)
    robot = world.robots[0]
    world.start()
    for _ in range(3):
        world.tick()
    drain = next(f for f in world.flows.values() if isinstance(f, TokenTorqDrain))
    minimum = complexity * 10.0
    token_torq, sent, remaining = 0.0, 0.0, 1.0
    for _ in range(10_000):
        rate = world.giskard.tick_rate  # one drain: the whole capacity at every step
        assert rate == capacity
        token_torq += rate
        sent += rate
        remaining -= rate / minimum
        lines = [ln.message for ln in world.tick().lines]
        assert (robot.token_torq, drain.tokens_sent, robot.training_remaining) == (
            token_torq,
            sent,
            remaining,
        )
        done = "TokenTorqDrain ended: Training complete" in " ".join(lines)
        # training_remaining at or below DONE (1e-9) is complete: 1 - 1/3 - 1/3 - 1/3 leaves
        # 1e-16 in floats, and must not cost another tick of training
        assert done == (remaining <= DONE), "completion is signalled exactly when it happens"
        if done:
            assert drain.id not in world.flows  # dissolved at the end of that tick
            break
    else:
        pytest.fail("the drain never completed")


def failure_lines(world: Robonomics, ticks: int) -> list[str]:
    return [message for _, message in run(world, ticks)]


def test_oracle_already_active_fails_back_to_the_brla_with_bounded_retries() -> None:
    world = one_robot(oracle_active=True, max_retries=2)
    b, o = ids(world)["B"], ids(world)["O"]
    lines = failure_lines(world, 12)
    assert (
        f"ProductionStartFlag spawned RequestFailed to {b} because Oracle already active"
        in (lines[1])
    )
    retries = [ln for ln in lines if ln.startswith("BRLA retrying ProductionStartFlag")]
    assert retries == [
        "BRLA retrying ProductionStartFlag (1/2): Oracle already active on Step: 0, Tick: 2",
        "BRLA retrying ProductionStartFlag (2/2): Oracle already active on Step: 1, Tick: 4",
    ]
    assert lines[-1] == "RequestFailed flagged for dissolution on Step: 1, Tick: 6"
    assert (
        "BRLA gave up on ProductionStartFlag after 2 retries: Oracle already active" in (lines[-2])
    )
    assert not world.flows and o  # nothing left running


def test_robot_already_ready_fails_back_to_the_oracle() -> None:
    world = one_robot(robot_ready=True, max_retries=1)
    o = ids(world)["O"]
    lines = failure_lines(world, 10)
    assert f"TokenTorqAuth spawned RequestFailed to {o} because Robot already ready on" in (
        " ".join(lines)
    )
    assert sum(ln.startswith("Oracle retrying TokenTorqAuth (1/1)") for ln in lines) == 1
    assert any(ln.startswith("Oracle gave up on TokenTorqAuth after 1 retries") for ln in lines)
    assert not world.flows


def test_giskard_without_capacity_fails_the_stream_back_and_the_robot_retries() -> None:
    world = one_robot(capacity=0.0, max_retries=3)
    g = ids(world)["G"]
    lines = failure_lines(world, 20)
    spawned = [ln for ln in lines if ln.startswith("DrainRequest spawned StreamFailed")]
    assert spawned[0] == (
        f"DrainRequest spawned StreamFailed to {g} because capacity exhausted on Step: 0, Tick: 3"
    )
    assert len(spawned) == 4  # the first try and three retries
    assert sum(ln.startswith("Robot retrying DrainRequest") for ln in lines) == 3
    assert "Robot gave up on DrainRequest after 3 retries: Giskard capacity exhausted" in (
        " ".join(lines)
    )
    assert not world.flows


def test_training_complete_is_a_stream_failed_that_is_not_retried() -> None:
    world = one_robot()
    lines = failure_lines(world, 8)
    assert "Giskard received StreamFailed: Training complete, spawn TorqFountain" in lines[-3]
    assert not any("retrying" in ln for ln in lines)


def test_an_exception_in_a_flow_is_logged_and_the_engine_goes_on() -> None:
    world = one_robot(robots=2)
    world.start()
    world.tick()  # ProductionStartFlag spawns a TokenTorqAuth per robot
    broken: Robot = world.robots[0]
    broken.sit_rep = None  # type: ignore[assignment]  # dict(None) raises in the core try
    lines = [ln.message for ln in world.tick().lines]
    assert any(ln.startswith("TokenTorqAuth unable to prepare sit_rep merge") for ln in lines)
    assert any(ln.startswith("TokenTorqAuth spawned DrainRequest from") for ln in lines)  # r2
    for _ in range(10):
        world.tick()  # keeps going
    assert world.robots[1].training_remaining < 1.0


def test_thirds_of_the_training_complete_in_three_ticks() -> None:
    world = one_robot(capacity=10.0, complexity=3.0, ticks_per_step=3)  # min 30: 1/3 per tick
    lines = [f"{t} {m}" for t, m in run(world, 7)]
    assert "6 TokenTorqDrain ended: Training complete on Step: 2, Tick: 6" in lines
    assert sum("delivered" in line for line in lines) == 3
    assert world.robots[0].token_torq == 30.0
    # tick 6 is also a step (3 ticks per step): the step runs after the flows, so the robot,
    # trained in that tick, spawns its TorqFountain in it, after the drain's completion
    ended = lines.index("6 TokenTorqDrain ended: Training complete on Step: 2, Tick: 6")
    spawned = [i for i, line in enumerate(lines) if "spawned TorqFountain" in line]
    assert len(spawned) == 1 and spawned[0] > ended and lines[spawned[0]].startswith("6 ")


def test_a_flow_whose_actor_is_gone_is_dissolved_not_run_for_ever() -> None:
    world = one_robot()
    world.start()
    world.tick()  # ProductionStartFlag -> TokenTorqAuth
    del world.actors[world.robots[0].uuid]  # e.g. a saved world and a changed config
    lines = [ln.message for ln in world.tick().lines]
    assert any(ln.startswith("TokenTorqAuth unable to prepare sit_rep merge") for ln in lines)
    assert any(ln.startswith("TokenTorqAuth flagged for dissolution") for ln in lines)
    for _ in range(8):
        world.tick()
    assert not world.flows


def test_the_robots_phase_follows_the_loop() -> None:
    from agent_ecology.robonomics.setup import phase

    world = one_robot()
    robot = world.robots[0]
    assert phase(world, robot) == "idle, waiting for production to start"
    run(world, 2)
    assert phase(world, robot).startswith("authorised to train")
    world.tick()
    assert phase(world, robot).startswith("training, TokenTorq 0.0/10.0")
    for _ in range(5):
        world.tick()  # tick 8: the TorqFountain is spawned
    assert phase(world, robot) == "producing (weld)" and robot.uuid in world.producing
    rebuilt = type(world)(world.params, world.actors.values(), flows=world.flows.values())
    assert robot.uuid in rebuilt.producing  # as a resumed world sees it
    for _ in range(3):
        world.tick()  # three ticks of production: the task is done
    assert phase(world, robot) == "idle (tasks done: complex 1)" and not world.producing
