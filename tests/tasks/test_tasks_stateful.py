"""Tasks driven by hypothesis: agents write solutions (right, wrong, crashing, runaway, ones
that call a priced tool) and tools, submit them with random pay, race for the last slot,
and time passes past a deadline. After each step: scrip is conserved and never negative,
what was minted is exactly the rewards paid, nothing is held or running, no agent is paid
twice for a task, no task pays more solvers than it has slots, a closed task pays nobody,
and each submission moved exactly its reward and its tools' prices."""

from __future__ import annotations

import sqlite3
from typing import Any

import anyio
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from agent_ecology.ledger import LedgerError, ResourceSpec, ops
from agent_ecology.programs import Programs
from agent_ecology.sandbox import Limits, Sandbox, load
from agent_ecology.tasks import TaskBoard
from tests.conftest import AGENTS, T0
from tests.ledger.machine import LedgerMachine
from tests.tasks.conftest import REVERSE, task

LIMITS = Limits(fuel=30_000_000, deadline_s=10.0)
SOLUTIONS = {
    "right": REVERSE,
    "wrong": "def main(args, host):\n    return args['text'].upper()\n",
    "crash": "def main(args, host):\n    return 1 / 0\n",
    "runaway": "def main(args, host):\n    while True:\n        pass\n",
    "tool": (
        "def main(args, host):\n"
        "    return host.invoke('carol/rev', {'text': args['text']}, pay=3)\n"
    ),
}
_sandbox: list[Sandbox] = []


def sandbox() -> Sandbox:
    if not _sandbox:
        _sandbox.append(load())
    return _sandbox[0]


class TaskWorld(LedgerMachine):
    def __init__(self) -> None:
        super().__init__()
        self.programs = Programs(
            self.ledger, sandbox(), self.clock, limits=LIMITS, seconds_per_fuel=1e-9
        )
        memory = self.programs.memory_held * 2  # two submissions at once, each
        self.submit(ops.EnsurePrincipal(principal_id=ops.SANDBOX, principal_kind="system"))
        self.submit(
            ops.DeclareResource.of(
                ResourceSpec("memory", "stock", "bytes", total=3.0 * memory, distribution="equal")
            )
        )
        for agent in AGENTS:
            self.submit(ops.EnsurePrincipal(principal_id=agent, stock={"memory": memory}))
            self.submit(
                ops.SetQuota(principal=agent, resource="disk", amount=4000.0, authority="world")
            )
        self.specs = {
            "open": task("open", solvers=2, reward=10),
            "timed": task("timed", solvers=3, reward=7, open_for=30.0),
        }
        self.board = TaskBoard(
            self.ledger, self.specs, self.clock, programs=self.programs, authority="world"
        )
        self.tool_price = 0

    def sql(self, query: str, *params: Any) -> list[Any]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    @initialize(price=st.integers(0, 3))
    def open_board(self, price: int) -> None:
        self.run(self.board.open())
        self.tool_price = price
        self.run(self.programs.write("carol", "carol/rev", REVERSE, price))
        for who, kind in (("alice", "right"), ("bob", "tool")):
            self.write_solution(who, kind)

    @rule(who=st.sampled_from(AGENTS[:2]), kind=st.sampled_from(sorted(SOLUTIONS)))
    def write_solution(self, who: str, kind: str) -> None:
        text = SOLUTIONS[kind]
        self.run(self.programs.write(who, f"{who}/solution", text, 0))
        event(f"write {kind}")

    def _submit(self, who: str, task_id: str, tools: list[str]) -> str:
        if not self.sql("SELECT 1 FROM artifacts WHERE id = ?", f"{who}/solution"):
            return "none"
        scrip = self.sql("SELECT id, scrip FROM principals WHERE id IN (?, 'carol')", who)
        before = dict(scrip)
        try:
            verdict = self.run(self.board.submit(who, task_id, f"{who}/solution", tools))
        except LedgerError as exc:
            after = dict(self.sql("SELECT id, scrip FROM principals WHERE id IN (?, 'carol')", who))
            assert after == before, "a refused submission moved scrip"
            return exc.code
        after = dict(self.sql("SELECT id, scrip FROM principals WHERE id IN (?, 'carol')", who))
        assert after[who] - before[who] == verdict.reward - verdict.tools_paid
        assert after["carol"] - before["carol"] == verdict.tools_paid
        # a named tool is paid its price (as it was at the start) for every case
        assert verdict.tools_paid == len(tools) * self.tool_price * verdict.cases_total
        if verdict.solved:
            assert verdict.cases_passed == verdict.cases_total
        return verdict.status

    @rule(
        who=st.sampled_from(AGENTS[:2]),
        task_id=st.sampled_from(["open", "timed", "missing"]),
        named=st.booleans(),
    )
    def submit_one(self, who: str, task_id: str, named: bool) -> None:
        event(f"submit: {self._submit(who, task_id, ['carol/rev'] if named else [])}")

    @rule(named=st.booleans())
    def race(self, named: bool) -> None:
        tools = ["carol/rev"] if named else []
        outcomes: list[str] = []

        async def both() -> None:
            async def one(who: str) -> None:
                try:
                    verdict = await self.board.submit(who, "open", f"{who}/solution", tools)
                    outcomes.append(verdict.status)
                except LedgerError as exc:
                    outcomes.append(exc.code)

            async with anyio.create_task_group() as tg:
                for who in AGENTS[:2]:
                    tg.start_soon(one, who)

        if all(
            self.sql("SELECT 1 FROM artifacts WHERE id = ?", f"{a}/solution") for a in AGENTS[:2]
        ):
            self.run(both())
            event(f"race: {sorted(outcomes)}")

    @rule(seconds=st.sampled_from([1.0, 10.0, 40.0]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(price=st.integers(0, 3))
    def reprice_the_tool(self, price: int) -> None:
        self.run(
            self.ledger.submit(ops.SetPrice(actor="carol", artifact_id="carol/rev", price=price))
        )
        self.tool_price = price

    @invariant()
    def conserved_and_paid_as_the_rules_say(self) -> None:
        supply = self.run(self.ledger.supply())
        assert supply.is_conserved
        assert self.sql("SELECT count(*) FROM principals WHERE scrip < 0") == [(0,)]
        assert self.sql("SELECT scrip FROM principals WHERE id = ?", ops.SANDBOX) == [(0,)]
        assert self.sql("SELECT count(*) FROM task_submissions WHERE status = 'running'") == [(0,)]
        [(rewards,)] = self.sql("SELECT COALESCE(sum(reward), 0) FROM task_submissions")
        assert supply.minted == 100 * len(AGENTS) + rewards  # only the start and the tasks mint
        for task_id, spec in self.specs.items():
            paid = self.sql(
                "SELECT submitter_id, ended_at FROM task_submissions WHERE task_id = ?"
                " AND status = 'solved'",
                task_id,
            )
            assert len(paid) <= spec.solvers
            assert len({who for who, _ in paid}) == len(paid), "an agent was paid twice"
            if spec.open_for is not None:
                assert all(at < T0 + spec.open_for for _, at in paid), "paid after closing"


TestTasks = TaskWorld.TestCase
TestTasks.settings = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
