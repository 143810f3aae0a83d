"""At the action boundary, any JSON an agent can send ends as a precise refusal or a result.

Hypothesis generates any JSON value for every field of every action and every argument of
every genesis method; the reply goes through the parser and the executor as a model's would.
The outcome must never be a ``runtime_error`` (an exception the runtime did not expect).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_ecology.agents import ActionError, Executor, action_shapes, parse_action
from agent_ecology.agents.actions import ACTIONS
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis
from agent_ecology.ledger import Ledger, ops
from agent_ecology.llm.budget import UnpricedModel
from tests.conftest import populate

_HUGE = [2**63, -(2**63) - 1, 10**30, 1.7e308, -1.7e308, 1e308, 5e-324, 2**53 + 1]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(_HUGE),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "genesis_ledger", "alice", "bob", "scrip", "compute"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _check_model(model: str) -> None:
    if model != "m":
        raise UnpricedModel(model, ["m"])


class _World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = ManualClock(1_000_000.0)
        self.ledger: Ledger | None = None
        self.executor: Executor | None = None
        self.genesis: Genesis | None = None

    async def open(self, template: Path) -> None:
        path = self.tmp / "world.db"
        await anyio.Path(path).write_bytes(await anyio.Path(template).read_bytes())
        self.ledger = await Ledger.open(path, clock=self.clock)
        await populate(self.ledger)
        for agent in ("alice", "bob", "carol"):
            await self.ledger.submit(
                ops.EnsureAgent(
                    agent_id=agent,
                    config={
                        "model": "m",
                        "system_prompt": "",
                        "max_tokens": None,
                        "sleep_policy": {},
                    },
                )
            )
        config = parse_settings({"world": {"genesis": str(self.tmp)}})
        self.genesis = Genesis.build(config, actions_text=action_shapes(), provider="p", agents=3)
        await self.genesis.install(self.ledger, authority="world")
        await self.ledger.close()  # each example opens its own, on its own event loop


def _fields(name: str) -> list[str]:
    return [f for f in ACTIONS[name].model_fields if f != "action"]


async def _outcome(world: _World, reply: str) -> str:
    assert world.executor is not None
    try:
        action = parse_action(reply)
    except ActionError as exc:
        assert exc.code != "runtime_error" and str(exc)
        return exc.code
    outcome = await world.executor.perform("alice", action)  # must not raise
    assert outcome.code != "runtime_error" and outcome.message
    return outcome.code or "ok"


@pytest.fixture(scope="module")
def world(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> _World:
    w = _World(tmp_path_factory.mktemp("boundary"))
    anyio.run(w.open, migrated_template)
    return w


def _run(world: _World, reply: str) -> str:
    async def go() -> str:
        # A fresh ledger connection on this event loop (the fixture's loop is gone).
        assert world.ledger is not None and world.genesis is not None
        ledger = await Ledger.open(world.ledger.path, clock=world.clock)
        try:
            world.executor = Executor(
                ledger, world.genesis, world.clock, check_model=_check_model, max_notes=3
            )
            return await _outcome(world, reply)
        finally:
            await ledger.close()

    return anyio.run(go)


_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(ACTIONS)))
def test_any_json_in_any_field_of_any_action_is_never_a_runtime_error(
    world: _World, data: st.DataObject, name: str
) -> None:
    fields = _fields(name)
    chosen = data.draw(st.lists(st.sampled_from(fields), unique=True) if fields else st.just([]))
    body: dict[str, Any] = {"action": name}
    for field in chosen:
        body[field] = data.draw(json_values, label=field)
    _run(world, json.dumps(body))


@_SETTINGS
@given(data=st.data())
def test_any_json_in_any_argument_of_any_genesis_method_is_never_a_runtime_error(
    world: _World, data: st.DataObject
) -> None:
    assert world.genesis is not None
    artifact_id = data.draw(st.sampled_from(sorted(world.genesis.artifacts)))
    artifact = world.genesis.artifacts[artifact_id]
    method = data.draw(st.sampled_from(sorted(artifact.methods)))
    params = list(artifact.methods[method].args.model_fields)
    chosen = data.draw(st.lists(st.sampled_from(params), unique=True) if params else st.just([]))
    args = {p: data.draw(json_values, label=p) for p in chosen}
    reply = {"action": "invoke", "artifact_id": artifact_id, "method": method, "args": args}
    _run(world, json.dumps(reply))


@pytest.mark.parametrize(
    "reply",
    [
        '{"action": "query", "what": "events", "after": ' + "9" * 5000 + "}",
        '{"action": "query", "what": "events", "after": 9223372036854775808}',
        '{"action": "invoke", "artifact_id": "genesis_escrow", "method": "purchase",'
        ' "args": {"listing_id": 9223372036854775808}}',
        '{"action": "invoke", "artifact_id": "genesis_debt", "method": "repay",'
        ' "args": {"debt_id": 9223372036854775808, "amount": 1}}',
        '{"action": "sleep", "until_balance": {"resource": "compute", "at_least": 1.7e308}}',
        '{"action": "sleep", "seconds": 0.2, "until_event": "\\ud800"}',
        '{"action": "note", "text": "a\\udfffb"}',
    ],
    ids=[
        "5000-digits",
        "after-2^63",
        "listing-2^63",
        "debt-2^63",
        "balance-1e308",
        "lone-surrogate-event",
        "lone-surrogate-note",
    ],
)
def test_the_red_teams_inputs_are_refused_precisely(world: _World, reply: str) -> None:
    code = _run(world, reply)
    assert code not in ("ok", "runtime_error")
