"""Tasks (ARTIFACTS.md section 6): the user's work, checked by hidden cases, paid by minting.

The task files themselves (and their hidden cases) never enter the ledger: it keeps what
each task pays and how long it is open (``tasks``, written by :class:`ListTasks` when a
world starts) and every submission (``task_submissions``). A submission is two operations
around the runs of its cases:

- :class:`StartSubmission` refuses what cannot be paid (an unknown, closed or taken task, a
  task the submitter was paid for already, a program it does not own, an invoker in compute
  debt) and holds what the submission attaches for tools (``pay``) and the sandbox's memory;
- :class:`FinishSubmission` charges the compute the cases used (into debt if need be), pays
  the tools the solution called their prices, gives the rest of ``pay`` back and, if every
  case passed, mints the reward to the submitter when a paid slot is still free and it was
  not paid for the task before. Two submissions racing for the last slot are decided here,
  one at a time: exactly one is paid.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NotRequired, TypedDict

from agent_ecology.ledger import buckets
from agent_ecology.ledger.errors import (
    InsufficientResource,
    InvalidRequest,
    LedgerError,
    NotPermitted,
    TaskRefused,
)
from agent_ecology.ledger.kinds import EventKind, SubmissionStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    COMPUTE,
    MEMORY,
    SANDBOX,
    ArtifactId,
    Count,
    JsonText,
    NonNegative,
    PrincipalId,
    Rule,
    ScripOrZero,
    Text,
    whole,
)
from agent_ecology.ledger.ops.programs import Fuel, pay_nested_call, program
from agent_ecology.ledger.ops.tx import Tx

Cases = Annotated[int, Rule(whole(1, "a whole number of cases >= 1"))]
Passed = Annotated[int, Rule(whole(0, "a whole number of cases >= 0"))]


def _holds(tx: Tx, principal: str, resource: str, table: str) -> bool:
    row = tx.conn.execute(
        f"SELECT 1 FROM {table} WHERE principal_id = ? AND resource = ?", (principal, resource)
    ).fetchone()
    return row is not None


def _solved(tx: Tx, task_id: str) -> int:
    row = tx.conn.execute(
        "SELECT count(*) FROM task_submissions WHERE task_id = ? AND status = ?",
        (task_id, SubmissionStatus.SOLVED),
    ).fetchone()
    return int(row[0])


def _solved_by(tx: Tx, task_id: str, agent: str) -> bool:
    row = tx.conn.execute(
        "SELECT 1 FROM task_submissions WHERE task_id = ? AND submitter_id = ? AND status = ?",
        (task_id, agent, SubmissionStatus.SOLVED),
    ).fetchone()
    return row is not None


class ListDetails(TypedDict):
    listed: int
    changed: list[str]
    withdrawn: list[str]


@operation(EventKind.TASKS_LISTED)
class ListTasks(Operation[ListDetails]):
    """Make ``tasks`` (JSON ``{"tasks": [...]}`` of ``{id, title, reward, solvers,
    difficulty, hidden_cases, open_for, closes_at, digest}``) the world's open tasks; a
    task listed before but absent now is withdrawn (its results stay). A task keeps the
    instant it was first listed, from which ``open_for`` counts."""

    authority: PrincipalId
    tasks: JsonText

    def apply(self, tx: Tx) -> ListDetails:
        tx.require_system(self.authority, "list tasks")
        given = json.loads(self.tasks).get("tasks")
        if not isinstance(given, list):
            raise InvalidRequest('tasks must be {"tasks": [...]}')
        changed, ids = [], set()
        for t in given:
            task_id = str(t["id"])
            ids.add(task_id)
            row = tx.conn.execute(
                "SELECT digest, listed FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            values = (
                str(t["title"]),
                int(t["reward"]),
                int(t["solvers"]),
                int(t["difficulty"]),
                int(t["hidden_cases"]),
                t.get("open_for"),
                t.get("closes_at"),
                str(t["digest"]),
            )
            if row is None:
                tx.conn.execute(
                    "INSERT INTO tasks (id, title, reward, solvers, difficulty, hidden_cases,"
                    " open_for, closes_at, digest, listed, opened_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                    (task_id, *values, tx.now, tx.now),
                )
                changed.append(task_id)
            elif str(row[0]) != t["digest"] or not row[1]:
                tx.conn.execute(
                    "UPDATE tasks SET title = ?, reward = ?, solvers = ?, difficulty = ?,"
                    " hidden_cases = ?, open_for = ?, closes_at = ?, digest = ?, listed = 1,"
                    " updated_at = ? WHERE id = ?",
                    (*values, tx.now, task_id),
                )
                changed.append(task_id)
        gone = [
            str(r[0])
            for r in tx.conn.execute("SELECT id FROM tasks WHERE listed = 1 ORDER BY id")
            if str(r[0]) not in ids
        ]
        for task_id in gone:
            tx.conn.execute(
                "UPDATE tasks SET listed = 0, updated_at = ? WHERE id = ?", (tx.now, task_id)
            )
        details: ListDetails = {"listed": len(ids), "changed": changed, "withdrawn": gone}
        if changed or gone:
            tx.event(EventKind.TASKS_LISTED, actor=self.authority, amount=len(ids),
                     details=dict(details))  # fmt: skip
        return details


def task_closes_at(tx: Tx, task_id: str) -> float | None:
    row = tx.conn.execute(
        "SELECT COALESCE(closes_at, opened_at + open_for) FROM tasks WHERE id = ?", (task_id,)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


class StartSubmissionDetails(TypedDict):
    source: str
    reward: int
    solvers_left: int


@operation(EventKind.TASK_SUBMITTED)
class StartSubmission(Operation[StartSubmissionDetails]):
    """Begin checking ``artifact_id`` (a program ``submitter`` owns) against ``task_id``:
    refuse what could not be paid, hold ``pay`` (for the tools it calls) and the memory."""

    submission_id: Text
    task_id: Text
    submitter: PrincipalId
    artifact_id: ArtifactId
    pay: ScripOrZero
    memory_bytes: Count
    cases_total: Cases

    def apply(self, tx: Tx) -> StartSubmissionDetails:
        if tx.principal_kind(self.submitter) != "agent":
            raise NotPermitted(self.submitter, "only agents submit solutions to tasks")
        row = tx.conn.execute(
            "SELECT reward, solvers, listed FROM tasks WHERE id = ?", (self.task_id,)
        ).fetchone()
        if row is None or not row[2]:
            open_ids = [str(r[0]) for r in tx.conn.execute("SELECT id FROM tasks WHERE listed = 1")]
            raise TaskRefused(
                "unknown_task",
                f"there is no open task {self.task_id!r}; the tasks are:"
                f" {', '.join(sorted(open_ids)) or 'none'} (genesis_tasks list)",
            )
        reward, solvers = int(row[0]), int(row[1])
        closes = task_closes_at(tx, self.task_id)
        if closes is not None and tx.now >= closes:
            raise TaskRefused(
                "task_closed",
                f"task {self.task_id!r} closed at unix {closes:.0f}; it pays nobody now",
            )
        if _solved_by(tx, self.task_id, self.submitter):
            raise TaskRefused(
                "already_solved",
                f"you were paid for task {self.task_id!r} already; a task pays each agent once",
            )
        solved = _solved(tx, self.task_id)
        if solved >= solvers:
            raise TaskRefused(
                "task_taken",
                f"task {self.task_id!r} is taken: its {solvers} paid solver(s) were paid; pick"
                " another task (genesis_tasks list)",
            )
        owner, executable, _frozen, _price, source = program(tx, self.artifact_id)
        if not executable:
            raise InvalidRequest(
                f"{self.artifact_id!r} is a data artifact; submit a program (write_artifact"
                " with executable true, defining main(args, host))"
            )
        if owner != self.submitter:
            raise NotPermitted(
                self.submitter,
                f"{self.artifact_id!r} is owned by {owner!r}; submit a program you own (write"
                " your own, or buy one through genesis_escrow)",
            )
        if _holds(tx, self.submitter, COMPUTE, "flow_buckets"):
            bucket = buckets.settle(tx.bucket(self.submitter, COMPUTE), tx.now)
            if bucket.balance < 0:
                raise InsufficientResource(
                    self.submitter,
                    COMPUTE,
                    0,
                    bucket.balance,
                    "the cases run on your compute; wait until it accrues back above 0",
                )
        if self.pay:
            tx.move_scrip(self.submitter, SANDBOX, self.pay)
        if self.memory_bytes and _holds(tx, self.submitter, MEMORY, "stock_holdings"):
            tx.use_stock(
                self.submitter,
                MEMORY,
                float(self.memory_bytes),
                "a submission's cases hold the sandbox's memory limit from your memory quota"
                " while they run; wait for your invocations to end",
            )
        tx.conn.execute(
            "INSERT INTO task_submissions (id, task_id, submitter_id, artifact_id, status,"
            " cases_total, pay, memory_bytes, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.submission_id,
                self.task_id,
                self.submitter,
                self.artifact_id,
                SubmissionStatus.RUNNING,
                self.cases_total,
                self.pay,
                self.memory_bytes,
                tx.now,
            ),
        )
        tx.event(
            EventKind.TASK_SUBMITTED,
            by=self.submitter,
            artifact=self.artifact_id,
            amount=self.pay,
            details={"submission_id": self.submission_id, "task_id": self.task_id},
        )
        return {"source": source, "reward": reward, "solvers_left": solvers - solved}


class FinishSubmissionDetails(TypedDict):
    status: str
    cases_passed: int
    cases_total: int
    reward: int
    tools_paid: int
    compute_seconds: float
    reason: NotRequired[str]
    compute_balance: NotRequired[float]


@operation(EventKind.TASK_CHECKED)
class FinishSubmission(Operation[FinishSubmissionDetails]):
    """End a submission: charge its compute, free its memory, pay the tools its solution
    called (``calls``: JSON ``{"calls": [{"artifact_id", "price"}, ...]}``), give the rest
    of its pay back, and, if ``passed`` is every case, mint the reward when it may be paid.

    ``reason`` is public-safe (an exception's type, a limit, "wrong answer"): never an input.
    """

    submission_id: Text
    passed: Passed
    fuel: Fuel
    compute_seconds: NonNegative
    authority: PrincipalId
    calls: JsonText = '{"calls": []}'
    reason: Text | None = None

    def apply(self, tx: Tx) -> FinishSubmissionDetails:
        tx.require_system(self.authority, "mint task rewards")
        row = tx.conn.execute(
            "SELECT task_id, submitter_id, artifact_id, status, cases_total, pay, memory_bytes"
            " FROM task_submissions WHERE id = ?",
            (self.submission_id,),
        ).fetchone()
        if row is None:
            raise InvalidRequest(f"no submission {self.submission_id!r} was started")
        task_id, submitter, artifact_id = str(row[0]), str(row[1]), str(row[2])
        status, total, pay, memory = str(row[3]), int(row[4]), int(row[5]), int(row[6])
        if status != SubmissionStatus.RUNNING:
            raise InvalidRequest(f"submission {self.submission_id!r} is {status} already")
        if self.passed > total:
            raise InvalidRequest(f"passed {self.passed} is more than the {total} cases")
        if memory and _holds(tx, submitter, MEMORY, "stock_holdings"):
            tx.free_stock(submitter, MEMORY, float(memory))
        seconds = float(self.compute_seconds)
        details: FinishSubmissionDetails = {
            "status": SubmissionStatus.FAILED,
            "cases_passed": self.passed,
            "cases_total": total,
            "reward": 0,
            "tools_paid": 0,
            "compute_seconds": seconds,
        }
        if seconds > 0 and _holds(tx, submitter, COMPUTE, "flow_buckets"):
            bucket = buckets.spend(tx.bucket(submitter, COMPUTE), seconds, tx.now)
            tx.put_bucket(submitter, COMPUTE, bucket)
            details["compute_balance"] = bucket.balance
        reason = self.reason
        passed = self.passed
        tools_paid = 0
        calls: list[dict[str, Any]] = json.loads(self.calls).get("calls", [])
        if calls:
            tx.conn.execute("SAVEPOINT task_tools")
            try:
                for n, call in enumerate(calls, 1):
                    price = int(call["price"])
                    if tools_paid + price > pay:
                        raise InvalidRequest(
                            f"the tools cost more than the {pay} scrip the submission attached"
                        )
                    pay_nested_call(
                        tx, f"{self.submission_id}/{n}", SANDBOX, str(call["artifact_id"]),
                        price, price,
                    )  # fmt: skip
                    tools_paid += price
            except LedgerError as exc:
                tx.conn.execute("ROLLBACK TO task_tools")
                tools_paid, passed = 0, min(passed, total - 1)
                reason = f"a tool it called changed during the check, so nothing was paid: {exc}"
            tx.conn.execute("RELEASE task_tools")
        if pay - tools_paid:
            tx.move_scrip(SANDBOX, submitter, pay - tools_paid)
        details["tools_paid"] = tools_paid
        details["cases_passed"] = passed
        reward = 0
        if passed == total:
            task = tx.conn.execute(
                "SELECT reward, solvers FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if _solved_by(tx, task_id, submitter):
                details["status"] = SubmissionStatus.ALREADY_SOLVED
                reason = "every case passed, but you were paid for this task already"
            elif _solved(tx, task_id) >= int(task[1]):
                details["status"] = SubmissionStatus.TAKEN
                reason = (
                    "every case passed, but the task's paid slots were filled while it was checked"
                )
            else:
                reward = int(task[0])
                tx.credit_scrip(submitter, reward)
                tx.conn.execute(
                    "UPDATE scrip_supply SET minted = minted + ? WHERE id = 1", (reward,)
                )
                details["status"] = SubmissionStatus.SOLVED
                reason = None
        details["reward"] = reward
        if reason is not None:
            details["reason"] = reason
        tx.conn.execute(
            "UPDATE task_submissions SET status = ?, cases_passed = ?, reason = ?, reward = ?,"
            " tools_paid = ?, fuel = ?, compute_seconds = ?, ended_at = ? WHERE id = ?",
            (
                details["status"],
                passed,
                reason,
                reward,
                tools_paid,
                self.fuel,
                seconds,
                tx.now,
                self.submission_id,
            ),
        )
        tx.event(
            EventKind.TASK_CHECKED,
            actor=self.authority,
            principal=submitter,
            artifact=artifact_id,
            amount=reward,
            details={
                "submission_id": self.submission_id,
                "task_id": task_id,
                "status": details["status"],
                "cases_passed": passed,
                "cases_total": total,
                "tools_paid": tools_paid,
                "compute_seconds": seconds,
                **({"reason": reason} if reason else {}),
            },
        )
        return details


class AbandonSubmissionsDetails(TypedDict):
    abandoned: int


@operation(EventKind.TASK_SUBMISSIONS_ABANDONED)
class AbandonSubmissions(Operation[AbandonSubmissionsDetails]):
    """Close every submission left running (the world stopped during it): its pay and
    memory come back; nothing was paid or minted for it."""

    authority: PrincipalId

    def apply(self, tx: Tx) -> AbandonSubmissionsDetails:
        tx.require_system(self.authority, "abandon task submissions")
        rows = tx.conn.execute(
            "SELECT id, submitter_id, pay, memory_bytes FROM task_submissions WHERE status = ?",
            (SubmissionStatus.RUNNING,),
        ).fetchall()
        for submission_id, submitter, pay, memory in rows:
            if pay:
                tx.move_scrip(SANDBOX, str(submitter), int(pay))
            if memory and _holds(tx, str(submitter), MEMORY, "stock_holdings"):
                tx.free_stock(str(submitter), MEMORY, float(memory))
            tx.conn.execute(
                "UPDATE task_submissions SET status = ?, reason = ?, ended_at = ? WHERE id = ?",
                (
                    SubmissionStatus.ABANDONED,
                    "the world stopped while its cases ran; its pay was given back",
                    tx.now,
                    submission_id,
                ),
            )
        if rows:
            tx.event(
                EventKind.TASK_SUBMISSIONS_ABANDONED,
                actor=self.authority,
                amount=len(rows),
                details={"submissions": [str(r[0]) for r in rows]},
            )
        return {"abandoned": len(rows)}
