"""The calibration probe: a throwaway world run for a moment to measure what an action costs.

It builds a whole :class:`~agent_ecology.runtime.Runtime`, so it sits above the runtime;
the pure parts (the container's limits, the arithmetic) are in :mod:`agent_ecology.calibrate`.
:func:`calibrate_for` is what the command calls before it opens a world whose ``compute``
flow says ``auto``; the plan goes into :func:`~agent_ecology.world.open_world`.
"""

from __future__ import annotations

import io
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from agent_ecology.calibrate import Cost, Plan, plan, read_limits
from agent_ecology.config import Settings, parse_settings
from agent_ecology.llm import Completion, CompletionRequest, ScriptedProvider, Usage
from agent_ecology.runtime import Runtime

__all__ = ["calibrate_for", "measure"]

_MIX = (
    '{"action": "write_artifact", "artifact_id": "AGENT_notes", "content": "calibrating"}',
    '{"action": "read_artifact", "artifact_id": "AGENT_notes"}',
    '{"action": "query", "what": "balances"}',
    '{"action": "invoke", "artifact_id": "genesis_ledger", "method": "balance", "args": {}}',
    '{"action": "noop", "reason": "calibrating"}',
)


async def calibrate_for(settings: Settings, agents: int) -> Plan | None:
    """The calibration ``rate: auto`` asks for (``None`` when nothing is ``auto``)."""
    if not any(spec.calibrated for spec in settings.resources.flow.values()):
        return None
    unit = settings.resources.flow["compute"].unit
    return plan(read_limits(), await measure(), max(1, agents), unit=unit)


async def measure(seconds: float = 1.5, agents: int = 8) -> Cost:
    """Run ``agents`` probe agents in a throwaway world for ``seconds``; the cost per action.

    The agents' "model" answers at once with a fixed mix of everyday actions (writes, reads,
    queries, a genesis call, a noop), so what is measured is the runtime's own work; the world
    has generous buckets so nothing waits for them; process CPU time covers the event loop and
    the ledger's threads.
    """
    with tempfile.TemporaryDirectory(prefix="agent-ecology-calibrate-") as folder:
        (Path(folder) / "genesis").mkdir()
        settings = parse_settings(
            {
                "world": {
                    "database": str(Path(folder) / "world.db"),
                    "genesis": str(Path(folder) / "genesis"),
                },
                # The runtime's everyday work is measured; programs are metered by their
                # fuel instead (sandbox.fuel_per_second), so the probe runs none.
                "sandbox": {"enabled": False},
                "resources": {
                    "stock": {"disk": {"total": 100_000.0 * agents, "unit": "bytes"}},
                    "flow": {
                        "compute": {"rate": 1000, "capacity": 1000, "unit": "cpu_seconds"},
                        "llm_rate": {"rate": 1e6, "capacity": 1e6, "unit": "tokens"},
                    },
                },
                "agents": [{"id": f"probe{i}"} for i in range(agents)],
                "llm": {"provider": "baseline", "model": "calibration"},
                "run": {"metrics_interval": 1e6, "grace": 0.5},
            }
        )
        mix = itertools.cycle(_MIX)

        def reply(request: CompletionRequest) -> Completion:
            text = next(mix).replace("AGENT", request.agent_id)
            return Completion(text, Usage(200, 20), request.model)

        runtime = Runtime(
            settings,
            provider=ScriptedProvider(default=reply, name="calibration"),
            billed=False,
            out=io.StringIO(),
            progress=False,
            handle_signals=False,
            environ={},
        )
        result: dict[str, Any] = {}

        async def window() -> None:
            await runtime.started.wait()
            await anyio.sleep(0.3)  # warm up
            loops = list(runtime.loops.values())
            turns0 = sum(loop.stats.turns for loop in loops)
            charged0 = sum(loop.stats.cpu_seconds for loop in loops)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await anyio.sleep(seconds)
            result["actions"] = sum(loop.stats.turns for loop in loops) - turns0
            result["charged"] = sum(loop.stats.cpu_seconds for loop in loops) - charged0
            result["cpu"] = time.process_time() - cpu0
            result["wall"] = time.perf_counter() - wall0
            runtime.stop("calibration measured")

        async with anyio.create_task_group() as tg:
            tg.start_soon(window)
            await runtime.run(duration=None)
    actions = max(1, int(result.get("actions", 0)))
    return Cost(
        actions=int(result.get("actions", 0)),
        agents=agents,
        charged=float(result.get("charged", 0.0)) / actions,
        total=float(result.get("cpu", 0.0)) / actions,
        seconds=float(result.get("wall", seconds)),
    )
