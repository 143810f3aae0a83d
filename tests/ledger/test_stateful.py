"""The kernel against a plain-Python model of the ledger, driven by hypothesis.

After every step: balances match the model, no scrip balance is negative, scrip is conserved
(circulating = minted - burned) and disk used equals the size of the artifacts owned.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from agent_ecology.ledger import (
    CapacityExceeded,
    InsufficientResource,
    InsufficientScrip,
    LedgerError,
    NotPermitted,
    UnknownArtifact,
    ops,
)
from tests.conftest import AGENTS, DISK_QUOTA, T0
from tests.ledger.machine import LedgerMachine

RATE, CAPACITY, BUDGET = 10.0, 100.0, 1.0
agents = st.sampled_from(AGENTS)
artifact_ids = st.sampled_from(["a1", "a2", "a3", "a4"])
close = dict(rel_tol=1e-9, abs_tol=1e-6)


class LedgerModel(LedgerMachine):
    def __init__(self) -> None:
        super().__init__()
        self.scrip = dict.fromkeys(AGENTS, 100) | {"world": 0}
        self.minted, self.burned = 300, 0
        self.disk = {a: [DISK_QUOTA, 0.0] for a in AGENTS}  # quota, used
        self.budget = {a: [BUDGET, 0.0] for a in AGENTS}
        self.buckets = {a: [CAPACITY, T0, RATE, CAPACITY] for a in AGENTS}  # bal, t, rate, cap
        self.artifacts: dict[str, tuple[str, int]] = {}

    def attempt(self, op: ops.Operation[Any], expected: type[LedgerError] | None) -> bool:
        """Submits `op`, checks that it fails with `expected` (None: that it succeeds), and
        says whether it applied, for the rule to apply it to the model too."""
        try:
            self.submit(op)
        except LedgerError as exc:
            assert expected is not None and isinstance(exc, expected), repr(exc)
            return False
        assert expected is None, f"expected {expected.__name__}"
        return True

    def available(self, agent: str) -> float:
        bal, t, rate, cap = self.buckets[agent]
        return min(cap, bal + max(0.0, self.clock.now() - t) * rate)

    def settle(self, agent: str) -> list[float]:
        b = self.buckets[agent]
        b[0], b[1] = self.available(agent), self.clock.now()
        return b

    def refusal_of_change(self, agent: str, artifact: str) -> type[LedgerError] | None:
        """Why ``agent`` may not change or give away ``artifact``, if it may not."""
        owner, _size = self.artifacts.get(artifact, (None, 0))
        if owner is None:
            return UnknownArtifact
        return None if owner == agent else NotPermitted

    def shift(self, src: str, dst: str, field: int, amount: float) -> None:
        """Moves ``amount`` of a compute bucket's balance (field 0) or rate (2) in the model."""
        self.settle(src)[field] -= amount
        self.settle(dst)[field] += amount

    # --- scrip -----------------------------------------------------------------------------

    @rule(src=agents, dst=agents, amount=st.integers(1, 150))
    def transfer(self, src: str, dst: str, amount: int) -> None:
        if src == dst:
            return
        ok = self.scrip[src] >= amount
        if self.attempt(
            ops.Transfer(src=src, dst=dst, amount=amount), None if ok else InsufficientScrip
        ):
            self.scrip[src] -= amount
            self.scrip[dst] += amount

    @rule(dst=agents, amount=st.integers(1, 100))
    def mint(self, dst: str, amount: int) -> None:
        self.submit(ops.Mint(dst=dst, amount=amount, authority="world"))
        self.scrip[dst] += amount
        self.minted += amount

    @rule(src=agents, amount=st.integers(1, 100))
    def burn(self, src: str, amount: int) -> None:
        ok = self.scrip[src] >= amount
        if self.attempt(
            ops.Burn(src=src, amount=amount, authority="world"), None if ok else InsufficientScrip
        ):
            self.scrip[src] -= amount
            self.burned += amount

    @rule(agent=agents, amount=st.integers(1, 10))
    def agents_cannot_mint(self, agent: str, amount: int) -> None:
        self.attempt(ops.Mint(dst=agent, amount=amount, authority=agent), NotPermitted)

    # --- resources -------------------------------------------------------------------------

    @rule(agent=agents, amount=st.floats(0.5, 80))
    def spend_compute(self, agent: str, amount: float) -> None:
        self.submit(ops.Spend(principal=agent, resource="compute", amount=amount))
        self.settle(agent)[0] -= amount

    @rule(agent=agents, amount=st.floats(0.01, 0.7))
    def spend_budget(self, agent: str, amount: float) -> None:
        quota, used = self.budget[agent]
        ok = used + amount <= quota
        if self.attempt(
            ops.Spend(principal=agent, resource="llm_budget", amount=amount),
            None if ok else InsufficientResource,
        ):
            self.budget[agent][1] += amount

    @precondition(lambda self: any(used > 0 for _q, used in self.budget.values()))
    @rule(agent=agents)
    def release_budget(self, agent: str) -> None:
        used = self.budget[agent][1]
        if used > 0:
            self.submit(ops.Release(principal=agent, resource="llm_budget", amount=used))
            self.budget[agent][1] = 0.0

    @rule(seconds=st.floats(0, 20))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(src=agents, dst=agents, amount=st.floats(0.5, 60))
    def give_compute(self, src: str, dst: str, amount: float) -> None:
        if src == dst:
            return
        have, room = self.available(src), self.buckets[dst][3] - self.available(dst)
        expected: type[LedgerError] | None = None
        if have < amount:
            expected = InsufficientResource
        elif amount > room:
            expected = CapacityExceeded
        if self.attempt(
            ops.TransferResource(src=src, dst=dst, resource="compute", amount=amount), expected
        ):
            self.shift(src, dst, 0, amount)

    @rule(src=agents, dst=agents, amount=st.floats(0.5, 8))
    def give_compute_rate(self, src: str, dst: str, amount: float) -> None:
        if src == dst:
            return
        ok = self.buckets[src][2] >= amount
        if self.attempt(
            ops.TransferQuota(src=src, dst=dst, resource="compute", amount=amount),
            None if ok else InsufficientResource,
        ):
            self.shift(src, dst, 2, amount)

    @rule(src=agents, dst=agents, amount=st.integers(1, 700))
    def give_disk_quota(self, src: str, dst: str, amount: int) -> None:
        if src == dst:
            return
        quota, used = self.disk[src]
        ok = quota - used >= amount
        if self.attempt(
            ops.TransferQuota(src=src, dst=dst, resource="disk", amount=amount),
            None if ok else InsufficientResource,
        ):
            self.disk[src][0] -= amount
            self.disk[dst][0] += amount

    # --- artifacts -------------------------------------------------------------------------

    @rule(agent=agents, artifact=artifact_ids, size=st.integers(0, 700))
    def write(self, agent: str, artifact: str, size: int) -> None:
        owner, old = self.artifacts.get(artifact, (agent, 0))
        quota, used = self.disk[agent]
        expected: type[LedgerError] | None = None
        if owner != agent:
            expected = NotPermitted
        elif used + size - old > quota:
            expected = InsufficientResource
        if self.attempt(
            ops.WriteArtifact(actor=agent, artifact_id=artifact, content="x" * size), expected
        ):
            self.artifacts[artifact] = (agent, size)
            self.disk[agent][1] += size - old

    @rule(agent=agents, artifact=artifact_ids)
    def delete(self, agent: str, artifact: str) -> None:
        size = self.artifacts.get(artifact, (None, 0))[1]
        expected = self.refusal_of_change(agent, artifact)
        if self.attempt(ops.DeleteArtifact(actor=agent, artifact_id=artifact), expected):
            del self.artifacts[artifact]
            self.disk[agent][1] -= size

    @rule(agent=agents, artifact=artifact_ids, new_owner=agents)
    def give_artifact(self, agent: str, artifact: str, new_owner: str) -> None:
        if agent == new_owner:
            return
        size = self.artifacts.get(artifact, (None, 0))[1]
        expected = self.refusal_of_change(agent, artifact)
        if expected is None and self.disk[new_owner][1] + size > self.disk[new_owner][0]:
            expected = InsufficientResource
        if self.attempt(
            ops.TransferArtifact(actor=agent, artifact_id=artifact, new_owner=new_owner), expected
        ):
            self.artifacts[artifact] = (new_owner, size)
            self.disk[agent][1] -= size
            self.disk[new_owner][1] += size

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        async def snapshot() -> Any:
            principals = {p.id: p.scrip for p in await self.ledger.principals()}
            holdings = {a: await self.ledger.holdings(a) for a in AGENTS}
            return principals, holdings, await self.ledger.supply(), await self.ledger.artifacts()

        principals, holdings, supply, artifacts = self.run(snapshot())
        assert principals == self.scrip
        assert all(v >= 0 for v in principals.values())
        assert supply.circulating == sum(principals.values()) == self.minted - self.burned
        assert supply.is_conserved
        now = self.clock.now()
        for agent, (stock, flow) in holdings.items():
            by_name = {h.resource: h for h in stock}
            assert math.isclose(by_name["disk"].quota, self.disk[agent][0], **close)
            assert math.isclose(by_name["disk"].used, self.disk[agent][1], **close)
            assert math.isclose(by_name["llm_budget"].used, self.budget[agent][1], **close)
            (compute,) = flow
            assert math.isclose(compute.rate, self.buckets[agent][2], **close)
            assert math.isclose(compute.available(now), self.available(agent), **close)
            owned = sum(a.size_bytes for a in artifacts if a.owner_id == agent)
            assert by_name["disk"].used == owned
        assert {a.id: (a.owner_id, a.size_bytes) for a in artifacts} == self.artifacts


LedgerModel.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ledger_matches_its_model = pytest.mark.timeout(300)(LedgerModel.TestCase)
