"""Robonomics inside a running world: the background clock ticks it, agents stay continuous,
and an agent bound to a robot sees the robot in its context."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from agent_ecology.llm import Completion, CompletionRequest, ScriptedProvider, Usage

from ..agents.world import running_world, world_settings

NOOP = '{"action": "noop"}'

ROBONOMICS: dict[str, Any] = {
    "enabled": True,
    "tick_period": 1.0,
    "ticks_per_step": 4,
    "giskard": {"token_torq_capacity": 2.5},
    "tasks": {"weld": {"kind": "complex", "complexity": 1.0, "ticks": 4}},
    "oracles": [{"name": "line", "task": "weld"}],
    "robots": [{"name": "r1", "oracle": "line", "agent": "alice"}],
}


async def test_the_runtime_ticks_the_loop_and_alice_sees_her_robot(tmp_path: Path) -> None:
    contexts: dict[str, list[str]] = {"alice": [], "bob": []}

    def answer(request: CompletionRequest) -> Completion:
        if request.agent_id in contexts:
            contexts[request.agent_id].append(request.messages[-1].content)
        return Completion(NOOP, Usage(1, 1), request.model)

    settings = world_settings(tmp_path, robonomics=ROBONOMICS)
    async with running_world(settings, ScriptedProvider(default=answer)) as world:
        loop = world.runtime.robonomics
        assert loop is not None and loop.world is not None
        await world.until(lambda: len(contexts["alice"]) >= 1, "alice's first turn")
        assert loop.world.tick_count == 0  # nothing ticks it but the clock
        for _ in range(16):
            world.clock.advance(1.0)
            await world.settle()
        assert loop.world.tick_count == 16
        assert loop.world.robots[0].torq > 0
        turns = world.turns("alice")
        world.clock.advance(0.5)  # time to think again (the next tick is at 17 s)
        await world.until(lambda: world.turns("alice") > turns, "alice thinks again")
        assert loop.world.tick_count == 16
    assert (
        "Your robot: (tick 16) r1: idle (tasks done: complex 1); Torq mined"
        in contexts["alice"][-1]
    )
    assert not any("Your robot" in c for c in contexts["bob"])
    log = (tmp_path / "flow_logs.txt").read_text().splitlines()
    assert log[0].startswith("RetainerXfer spawned ProductionStartFlag")
    assert any(line.startswith("TorqFountain mined") for line in log)


def test_the_command_runs_the_loop_alone_and_prints_the_flow_log(tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "world": {"database": str(tmp_path / "w.db")},
                "agents": [{"id": "alice"}],
                "robonomics": {**ROBONOMICS, "enabled": False},
            }
        )
    )
    command = [sys.executable, "-m", "agent_ecology.cli", "robonomics", "--config", str(config)]
    first = subprocess.run(
        [*command, "--ticks", "5", "--plain"], capture_output=True, text=True, check=True
    )
    lines = first.stdout.splitlines()
    assert lines[0].startswith("RetainerXfer spawned ProductionStartFlag from ")
    assert lines[-1] == "TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.5"
    assert "started at tick 0" in first.stderr
    again = subprocess.run([*command, "--ticks", "3"], capture_output=True, text=True, check=True)
    assert "resuming after tick 5" in again.stderr
    assert again.stdout.splitlines()[0] == (
        "[tick    6] TokenTorqDrain delivered 2.5 tokens, training_remaining: 0.25"
    )
    file = (tmp_path / "flow_logs.txt").read_text().splitlines()
    assert file[: len(lines)] == lines and len(file) > len(lines)
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({"world": {"database": str(tmp_path / "e.db")}}))
    refused = subprocess.run(
        [sys.executable, "-m", "agent_ecology.cli", "robonomics", "--config", str(empty)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "has no robonomics.robots" in refused.stderr
