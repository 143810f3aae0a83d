"""Genesis artifacts: named arguments, atomic effects through the kernel, live documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import parse_settings
from agent_ecology.genesis import Genesis, Invocation, InvocationError
from agent_ecology.ledger import InsufficientScrip, Ledger, NotPermitted, ops


def _settings(tmp_path: Path) -> object:
    (tmp_path / "genesis" / "handbook").mkdir(parents=True)
    (tmp_path / "genesis" / "handbook" / "resources.md").write_text("# Resources\nHand-written.")
    (tmp_path / "genesis" / "handbook" / "etiquette.md").write_text("Be kind.")
    return parse_settings(
        {
            "world": {"genesis": str(tmp_path / "genesis")},
            "resources": {"flow": {"compute": {"rate": 2.5, "capacity": 40}}},
            "llm": {
                "provider": "openai",
                "model": "m1",
                "max_api_cost": 7.5,
                "prices": {"m1": {"input": 0.25, "output": 1.5, "max_output_tokens": 999}},
            },
        }
    )


@pytest.fixture
def genesis(tmp_path: Path) -> Genesis:
    return Genesis.build(
        _settings(tmp_path),  # type: ignore[arg-type]
        actions_text=action_shapes(),
        provider="test provider",
        agents=3,
    )


def inv(ledger: Ledger, clock: ManualClock, actor: str = "alice") -> Invocation:
    return Invocation(actor, ledger, clock)


async def test_the_handbook_is_generated_from_the_live_config(genesis: Genesis) -> None:
    pages = genesis.handbook.pages
    assert list(pages)[:5] == ["index", "actions", "resources", "llm", "genesis"]
    assert "etiquette" in pages and pages["etiquette"] == "Be kind."
    assert pages["resources"].startswith("# Resources\nHand-written.")
    assert "refills 2.5 per second up to 40" in pages["resources"]
    assert "| m1 | 0.25 | 1.5 | 999 |" in pages["llm"] and "$7.5" in pages["llm"]
    assert '"action": "update_config"' in pages["actions"]
    for method in ("balance(principal?)", "transfer(to, amount, resource?)", "read(page?)"):
        assert method in pages["genesis"]


async def test_installing_writes_each_interface_once(genesis: Genesis, ledger: Ledger) -> None:
    assert sorted(await genesis.install(ledger, authority="world")) == [
        "genesis_debt",
        "genesis_escrow",
        "genesis_event_log",
        "genesis_exchange",
        "genesis_handbook",
        "genesis_ledger",
        "genesis_oracle",
        "genesis_rights_registry",
        "genesis_tasks",
    ]
    assert await genesis.install(ledger, authority="world") == []  # unchanged: no rewrite
    art = await ledger.artifact("genesis_ledger")
    assert art.owner_id == "world" and "transfer_ownership" in art.content


async def test_ledger_transfer_moves_scrip_and_refuses_overdrafts(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    result = await genesis.invoke(
        inv(ledger, clock), "genesis_ledger", "transfer", {"to": "bob", "amount": 30}
    )
    assert result["transferred"] == 30
    assert (await ledger.scrip("alice"), await ledger.scrip("bob")) == (70, 130)
    with pytest.raises(InsufficientScrip, match="has 70"):
        await genesis.invoke(
            inv(ledger, clock), "genesis_ledger", "transfer", {"to": "bob", "amount": 71}
        )
    with pytest.raises(InvocationError, match="whole numbers"):
        await genesis.invoke(
            inv(ledger, clock), "genesis_ledger", "transfer", {"to": "bob", "amount": 1.5}
        )


async def test_ledger_transfer_of_a_flow_resource_rescues_another(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.Spend(principal="bob", resource="compute", amount=150))  # bob is at -50
    await genesis.invoke(
        inv(ledger, clock),
        "genesis_ledger",
        "transfer",
        {"to": "bob", "amount": 60, "resource": "compute"},
    )
    assert (await ledger.bucket("bob", "compute")).available(clock.now()) == pytest.approx(10)


async def test_transfer_ownership_needs_the_owner(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/plan", content="plan"))
    with pytest.raises(NotPermitted):
        await genesis.invoke(
            inv(ledger, clock, "bob"),
            "genesis_ledger",
            "transfer_ownership",
            {"artifact_id": "alice/plan", "to": "carol"},
        )
    await genesis.invoke(
        inv(ledger, clock),
        "genesis_ledger",
        "transfer_ownership",
        {"artifact_id": "alice/plan", "to": "bob"},
    )
    assert (await ledger.artifact("alice/plan")).owner_id == "bob"


async def test_event_log_pages_with_next_after(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    first = await genesis.invoke(inv(ledger, clock), "genesis_event_log", "read", {"limit": 3})
    assert len(first["events"]) == 3 and first["more"] is True
    second = await genesis.invoke(
        inv(ledger, clock), "genesis_event_log", "read", {"after": first["next_after"], "limit": 3}
    )
    assert second["events"][0]["seq"] == first["next_after"] + 1
    mints = await genesis.invoke(
        inv(ledger, clock), "genesis_event_log", "read", {"kind": "mint", "limit": 100}
    )
    assert {e["kind"] for e in mints["events"]} == {"mint"} and len(mints["events"]) == 3


@pytest.mark.parametrize(
    ("artifact", "method", "args", "code", "words"),
    [
        ("genesis_ledger", "steal", {}, "unknown_method", ["has no method 'steal'", "balance("]),
        ("genesis_ledger", "transfer", {"to": "bob"}, "invalid_arguments", ["amount: required"]),
        (
            "genesis_ledger",
            "transfer",
            {"to": "bob", "amount": 1, "memo": "x"},
            "invalid_arguments",
            ["memo: not an argument", "Example args"],
        ),
        ("genesis_nothing", "read", {}, "unknown_artifact", ["no artifact 'genesis_nothing'"]),
        ("genesis_handbook", "read", {"page": "nope"}, "unknown_page", ["its pages: index"]),
    ],
)
async def test_bad_invocations_say_what_to_do(
    genesis: Genesis,
    ledger: Ledger,
    clock: ManualClock,
    artifact: str,
    method: str,
    args: dict[str, object],
    code: str,
    words: list[str],
) -> None:
    with pytest.raises(InvocationError) as info:
        await genesis.invoke(inv(ledger, clock), artifact, method, args)
    assert info.value.code == code
    for word in words:
        assert word in str(info.value)


async def test_a_data_artifact_has_no_methods(
    genesis: Genesis, ledger: Ledger, clock: ManualClock
) -> None:
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/notes", content="hi"))
    with pytest.raises(InvocationError, match="data artifact") as info:
        await genesis.invoke(inv(ledger, clock), "alice/notes", "read", {})
    assert info.value.code == "not_invocable"
