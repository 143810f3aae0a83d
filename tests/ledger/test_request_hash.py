"""An ``op_id`` recorded by an earlier release replays after an upgrade: its request hash holds.

The hashes below were computed by the release before operations declared their field rules
as annotations (commit 6bd36c1), from the same requests as that release's API took them. A
change to how an operation's fields are kept or hashed shows up here, not as an
IdempotencyConflict in a user's restarted world.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_ecology.ledger import ops

PINNED: dict[str, tuple[type[ops.Operation[Any]], dict[str, Any], str]] = {
    # case: (operation, its arguments as the test sends them, the hash 6bd36c1 recorded)
    "ensure_principal": (
        ops.EnsurePrincipal,
        {"principal_id": "alice", "stock": {"disk": 100}, "flow": {"compute": (2, 10.0)}},
        "1af4c42a8067ff2ca31cb5ff51fd56f154ef0a1832caea1b5267e1902e16f25e",
    ),
    "ensure_principal_bare": (
        ops.EnsurePrincipal,
        {"principal_id": "a"},
        "1243a12f082bf6d872dd737787eade4f90ffbe6327dc86e309f923c48182d1fd",
    ),
    "debt_issue": (
        ops.DebtIssue,
        {
            "debtor": "alice",
            "lender": "bob",
            "principal": 10,
            "interest_rate": 0,
            "due_at": 2_000_000_000,
        },
        "5a2e418e34e13c136c34c0e98fd3e6b3778f946f07886e329c04a32edd125b0a",
    ),
    "transfer": (
        ops.Transfer,
        {"src": "alice", "dst": "bob", "amount": 5},
        "a7ebccf8a0352fa37d129e64bca2d7bf7a98ea1c30725c115d087691422dc3fc",
    ),
    "set_quota": (
        ops.SetQuota,
        {"principal": "alice", "resource": "disk", "amount": 3, "authority": "world"},
        "efe41d13860a680a6ef87281521731288dcb9729a003a6c4b9ae7c227542550e",
    ),
    "end_turn": (
        ops.EndTurn,
        {"agent_id": "alice", "turn": 3, "action": "noop", "ok": True, "model_seconds": 1}
        | {"result": '{"b": 1, "a": 2}', "charges": (("compute", 0.5),)},
        "c1677d2db9a039cffc8cf3dc5be1e493e15395f05fd40a5b470131b62dbf0db4",
    ),
    "ensure_agent": (
        ops.EnsureAgent,
        {"agent_id": "alice", "config": {"model": "m", "max_tokens": 5}},
        "a50db563a7266f7820e1156035f8313921142732837022d02a3361fa5df984ab",
    ),
    "write_artifact": (
        ops.WriteArtifact,
        {"actor": "alice", "artifact_id": "alice/x", "content": "hi"},
        "767b56696e9e0b7e558b7da45f539db90b964695bd84759ed9d53b85e9396857",
    ),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_the_request_hash_is_the_one_an_earlier_release_recorded(case: str) -> None:
    kind, arguments, recorded = PINNED[case]
    assert kind(**arguments, op_id="x").request_hash() == recorded


def test_the_hash_tells_different_requests_apart() -> None:
    hashes = {kind(**arguments, op_id="x").request_hash() for kind, arguments, _ in PINNED.values()}
    assert len(hashes) == len(PINNED)
    again = ops.Transfer(src="alice", dst="bob", amount=6, op_id="x")
    assert again.request_hash() != PINNED["transfer"][2]
