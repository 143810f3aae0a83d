"""Whatever a model replies, the loop survives and the agent is told exactly what happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from tempfile import TemporaryDirectory

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_ecology.agents import ActionError, parse_action
from agent_ecology.agents.actions import SleepAction
from agent_ecology.clock import SystemClock
from agent_ecology.llm import ScriptedProvider
from tests.agents.test_parser import _replies
from tests.agents.world import running_world, world_settings

SLEEP = json.dumps({"action": "sleep", "seconds": 3600})


def _not_a_sleep(reply: str) -> bool:
    try:
        return not isinstance(parse_action(reply), SleepAction)
    except ActionError:
        return True


huge = st.integers(100_001, 150_000).map(lambda n: '{"action": "note", "text": "' + "x" * n)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.one_of(_replies, huge).filter(_not_a_sleep), min_size=1, max_size=12))
def test_every_reply_is_survived_and_explained_in_the_next_context(
    migrated_template: Path, replies: list[str]
) -> None:
    async def scenario() -> None:
        with TemporaryDirectory() as tmp:
            shutil.copyfile(migrated_template, Path(tmp) / "world.db")
            config = world_settings(
                Path(tmp),
                agents=[{"id": "alice"}, {"id": "bob"}],
                agent_loop={"failure_backoff": 0.001, "failure_backoff_max": 0.001},
                # Buckets too large to go into debt: a long reply's tokens would otherwise
                # freeze alice for real seconds between turns (the debt is not what this tests).
                resources={
                    "stock": {"disk": {"total": 3000, "unit": "bytes"}},
                    "flow": {
                        "compute": {"rate": 1e6, "capacity": 1e6, "unit": "cpu_seconds"},
                        "llm_rate": {"rate": 1e6, "capacity": 1e6, "unit": "tokens"},
                    },
                },
            )
            script = {"alice": list(replies)}

            def answer(request):  # type: ignore[no-untyped-def]
                queue = script.get(request.agent_id)
                return queue.pop(0) if queue else SLEEP

            provider = ScriptedProvider(default=answer)
            async with running_world(config, provider, clock=SystemClock()) as world:
                with anyio.fail_after(20):
                    await provider.wait_for_calls(len(replies) + 2)  # all replies, then sleeps
                    await world.until(lambda: world.turns("alice") == len(replies) + 1, "turns")
            contexts = [r.messages[1].content for r in provider.requests if r.agent_id == "alice"]
            assert len(contexts) == len(replies) + 1
            for reply, after in zip(replies, contexts[1:], strict=True):
                shown = after.split("Result of your previous action:\n", 1)[1]
                try:
                    action = parse_action(reply)
                except ActionError as exc:
                    assert f'"error": "{exc.code}"' in shown
                    assert json.dumps(str(exc), ensure_ascii=False)[1:60] in shown
                else:
                    assert f'"action": "{action.action}"' in shown

    anyio.run(scenario)
