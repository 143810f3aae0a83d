"""Tasks (ARTIFACTS.md section 6): the user's work, checked by hidden cases, paid by minting.

The task files themselves (and their hidden cases) never enter the ledger: it keeps what
each task pays and how long it is open (``tasks``, written by :class:`ListTasks` when a
world starts) and every submission (``task_submissions``). A submission is two operations
around the runs of its cases:

- :class:`StartSubmission` refuses what cannot be paid (an unknown, closed or taken task, a
  task the submitter was paid for already or has used its attempts on, a program it does not
  own, a submitter in compute debt), holds the sandbox's memory, and holds what the tools
  the submission names cost: each one's price (as it is now) for every hidden case;
- :class:`FinishSubmission` charges the compute the cases used (into debt if need be), pays
  each named tool what was held for it, and, if every case passed, mints the reward to the
  submitter when a paid slot is still free, the task is still open and it was not paid for
  the task before. Two submissions racing for the last slot are decided here, one at a
  time: exactly one is paid.

What a check pays its tools is fixed when it starts, whatever the cases do, so that no
amount, count or order of calls can carry a hidden input out.
"""

from __future__ import annotations

import json
from typing import Annotated, NotRequired, TypedDict

from agent_ecology.ledger.errors import InvalidRequest, NotPermitted, TaskRefused
from agent_ecology.ledger.kinds import EventKind, InvocationStatus, SubmissionStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    SANDBOX,
    ArtifactId,
    Count,
    JsonText,
    NonNegative,
    PrincipalId,
    Rule,
    Text,
    whole,
)
from agent_ecology.ledger.ops.programs import (
    Fuel,
    charge_compute,
    free_memory,
    hold_memory,
    program,
    refuse_in_compute_debt,
)
from agent_ecology.ledger.ops.tx import Tx, scope_sql

Cases = Annotated[int, Rule(whole(1, "a whole number of cases >= 1"))]
Passed = Annotated[int, Rule(whole(0, "a whole number of cases >= 0"))]

MAX_TOOLS = 5
"""How many tools one submission may name."""


def unknown_task(task_id: str, known: list[str]) -> TaskRefused:
    """The one wording of "no such task" (the board's and the ledger's)."""
    return TaskRefused(
        "unknown_task",
        f"there is no task {task_id!r}; the tasks are: {', '.join(sorted(known)) or 'none'}"
        " (genesis_tasks list)",
    )


def closed(closes_at: float | None, now: float) -> bool:
    """The one rule for a task's deadline: closed from ``closes_at`` on."""
    return closes_at is not None and now >= closes_at


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
    difficulty, hidden_cases, attempts, open_for, closes_at, digest}``) the world's open
    tasks; a task listed before but absent now is withdrawn (its results stay). ``open_for``
    counts from when the task was listed (kept while it stays listed)."""

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
                "SELECT digest, listed, opened_at FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if row is not None and str(row[0]) == t["digest"] and row[1]:
                continue
            # open_for counts from when the world lists the task (again, if it was withdrawn)
            opened = tx.now if row is None or not row[1] else float(row[2])
            open_for = t.get("open_for")
            closes = t.get("closes_at")
            if open_for is not None:
                closes = opened + float(open_for)
            tx.conn.execute(
                "INSERT INTO tasks (id, title, reward, solvers, difficulty, hidden_cases,"
                " attempts, open_for, closes_at, digest, listed, opened_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " title = excluded.title, reward = excluded.reward, solvers = excluded.solvers,"
                " difficulty = excluded.difficulty, hidden_cases = excluded.hidden_cases,"
                " attempts = excluded.attempts, open_for = excluded.open_for,"
                " closes_at = excluded.closes_at, digest = excluded.digest, listed = 1,"
                " opened_at = excluded.opened_at, updated_at = excluded.updated_at",
                (
                    task_id,
                    str(t["title"]),
                    int(t["reward"]),
                    int(t["solvers"]),
                    int(t["difficulty"]),
                    int(t["hidden_cases"]),
                    int(t["attempts"]),
                    open_for,
                    closes,
                    str(t["digest"]),
                    opened,
                    tx.now,
                ),
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


class StartSubmissionDetails(TypedDict):
    source: str
    reward: int
    solvers_left: int
    tools: dict[str, int]


@operation(EventKind.TASK_SUBMITTED)
class StartSubmission(Operation[StartSubmissionDetails]):
    """Begin checking ``artifact_id`` (a program ``submitter`` owns) against ``task_id``:
    refuse what could not be paid; hold the memory, and for each program ``tools`` names
    (JSON ``{"tools": [ids]}``) its price for each of the ``cases_total`` cases."""

    submission_id: Text
    task_id: Text
    submitter: PrincipalId
    artifact_id: ArtifactId
    memory_bytes: Count
    cases_total: Cases
    tools: JsonText = '{"tools": []}'

    def apply(self, tx: Tx) -> StartSubmissionDetails:
        if tx.principal_kind(self.submitter) != "agent":
            raise NotPermitted(self.submitter, "only agents submit solutions to tasks")
        row = tx.conn.execute(
            "SELECT reward, solvers, listed, closes_at, attempts FROM tasks WHERE id = ?",
            (self.task_id,),
        ).fetchone()
        if row is None or not row[2]:
            listed = tx.conn.execute("SELECT id FROM tasks WHERE listed = 1").fetchall()
            raise unknown_task(self.task_id, [str(r[0]) for r in listed])
        reward, solvers, attempts = int(row[0]), int(row[1]), int(row[4])
        closes = None if row[3] is None else float(row[3])
        if closed(closes, tx.now):
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
        tried = tx.conn.execute(
            "SELECT count(*) FROM task_submissions WHERE task_id = ? AND submitter_id = ?"
            " AND status != ?",
            (self.task_id, self.submitter, SubmissionStatus.ABANDONED),
        ).fetchone()
        if int(tried[0]) >= attempts:
            raise TaskRefused(
                "attempts_used",
                f"you have used your {attempts} submissions to task {self.task_id!r}; pick"
                " another task",
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
        names = json.loads(self.tools).get("tools", [])
        if not isinstance(names, list) or len(set(map(str, names))) != len(names):
            raise InvalidRequest("tools must be a list of distinct program ids")
        if len(names) > MAX_TOOLS:
            raise InvalidRequest(f"a submission names at most {MAX_TOOLS} tools")
        prices: dict[str, int] = {}
        for tool in map(str, names):
            _o, tool_executable, _f, price, _s = program(tx, tool)
            if not tool_executable:
                raise InvalidRequest(f"tools: {tool!r} is a data artifact, not a program")
            prices[tool] = price
        refuse_in_compute_debt(
            tx, self.submitter, "the cases run on your compute; wait until it accrues back above 0"
        )
        held = sum(prices.values()) * self.cases_total
        if held:
            tx.move_scrip(self.submitter, SANDBOX, held)
        hold_memory(
            tx,
            self.submitter,
            self.memory_bytes,
            "a submission's cases hold the sandbox's memory limit from your memory quota while"
            " they run; wait for your invocations to end",
        )
        tx.conn.execute(
            "INSERT INTO task_submissions (id, task_id, submitter_id, artifact_id, status,"
            " cases_total, tools, pay, memory_bytes, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.submission_id,
                self.task_id,
                self.submitter,
                self.artifact_id,
                SubmissionStatus.RUNNING,
                self.cases_total,
                json.dumps(prices, sort_keys=True),
                held,
                self.memory_bytes,
                tx.now,
            ),
        )
        tx.event(
            EventKind.TASK_SUBMITTED,
            by=self.submitter,
            artifact=self.artifact_id,
            amount=held,
            details={
                "submission_id": self.submission_id,
                "task_id": self.task_id,
                "tools": prices,
            },
        )
        return {
            "source": source,
            "reward": reward,
            "solvers_left": solvers - solved,
            "tools": prices,
        }


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
    """End a submission: charge its compute, free its memory, pay each named tool what was
    held for it (to its owner now; back to the submitter if it is no program any more), and
    if ``passed`` is every case, mint the reward when it may still be paid.

    ``fuel`` is what is charged (the board rounds it: see the board); ``reason`` is
    public-safe (an exception's type, a limit, "a wrong answer"): never an input.
    """

    submission_id: Text
    passed: Passed
    fuel: Fuel
    compute_seconds: NonNegative
    authority: PrincipalId
    reason: Text | None = None

    def apply(self, tx: Tx) -> FinishSubmissionDetails:
        tx.require_system(self.authority, "mint task rewards")
        row = tx.conn.execute(
            "SELECT task_id, submitter_id, artifact_id, status, cases_total, tools, pay,"
            " memory_bytes FROM task_submissions WHERE id = ?",
            (self.submission_id,),
        ).fetchone()
        if row is None:
            raise InvalidRequest(f"no submission {self.submission_id!r} was started")
        task_id, submitter, artifact_id, status = str(row[0]), str(row[1]), str(row[2]), row[3]
        total, prices, pay, memory = int(row[4]), json.loads(row[5]), int(row[6]), int(row[7])
        if status != SubmissionStatus.RUNNING:
            raise InvalidRequest(f"submission {self.submission_id!r} is {status} already")
        if self.passed > total:
            raise InvalidRequest(f"passed {self.passed} is more than the {total} cases")
        free_memory(tx, submitter, memory)
        seconds = float(self.compute_seconds)
        details: FinishSubmissionDetails = {
            "status": SubmissionStatus.FAILED,
            "cases_passed": self.passed,
            "cases_total": total,
            "reward": 0,
            "tools_paid": 0,
            "compute_seconds": seconds,
        }
        balance = charge_compute(tx, submitter, seconds)
        if balance is not None:
            details["compute_balance"] = balance
        tools_paid = 0
        for tool, price in sorted(prices.items()):
            due = int(price) * total
            if due:
                tools_paid += _pay_tool(tx, self.submission_id, submitter, tool, due, total)
        if pay - tools_paid:
            tx.move_scrip(SANDBOX, submitter, pay - tools_paid)
        details["tools_paid"] = tools_paid
        reason = self.reason
        reward = 0
        if self.passed == total:
            task = tx.conn.execute(
                "SELECT reward, solvers, closes_at FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if _solved_by(tx, task_id, submitter):
                details["status"] = SubmissionStatus.ALREADY_SOLVED
                reason = "every case passed, but you were paid for this task already"
            elif _solved(tx, task_id) >= int(task[1]):
                details["status"] = SubmissionStatus.TAKEN
                reason = (
                    "every case passed, but the task's paid slots were filled while it was checked"
                )
            elif closed(None if task[2] is None else float(task[2]), tx.now):
                details["status"] = SubmissionStatus.CLOSED
                reason = "every case passed, but the task closed while it was checked"
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
                self.passed,
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
                "cases_passed": self.passed,
                "cases_total": total,
                "tools_paid": tools_paid,
                "compute_seconds": seconds,
                **({"reason": reason} if reason else {}),
            },
        )
        return details


def _pay_tool(tx: Tx, submission_id: str, submitter: str, tool: str, due: int, cases: int) -> int:
    """Pay ``tool``'s owner ``due`` (its price for every case, held at the start) from the
    hold, recorded as one invocation; 0 if it is no program now (the hold goes back)."""
    row = tx.conn.execute(
        "SELECT owner_id FROM artifacts WHERE id = ? AND executable = 1", (tool,)
    ).fetchone()
    if row is None:
        return 0
    owner = tx.effective_owner(tool) or str(row[0])
    tx.move_scrip(SANDBOX, owner, due)
    tx.conn.execute(
        "INSERT INTO invocations (id, invoker_id, artifact_id, owner_id, status, pay, price,"
        " memory_bytes, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (f"{submission_id}/{tool}", submitter, tool, owner, InvocationStatus.OK, due, due,
         tx.now, tx.now),
    )  # fmt: skip
    tx.conn.execute(
        "UPDATE artifacts SET calls = calls + ?, succeeded = succeeded + ?,"
        " revenue = revenue + ? WHERE id = ?",
        (cases, cases, due, tool),
    )
    return due


class AbandonSubmissionsDetails(TypedDict):
    abandoned: int


@operation(EventKind.TASK_SUBMISSIONS_ABANDONED)
class AbandonSubmissions(Operation[AbandonSubmissionsDetails]):
    """Close every submission left running (the world stopped during it): its pay and
    memory come back; nothing was paid or minted for it."""

    authority: PrincipalId
    agents: tuple[str, ...] | None = None
    """Only submissions by these (a shard's own agents: the other shards' are running);
    None: all."""

    def apply(self, tx: Tx) -> AbandonSubmissionsDetails:
        tx.require_system(self.authority, "abandon task submissions")
        scope, params = scope_sql("submitter_id", self.agents, ())
        rows = tx.conn.execute(
            "SELECT id, submitter_id, pay, memory_bytes FROM task_submissions WHERE status = ?"
            + scope,
            (SubmissionStatus.RUNNING, *params),
        ).fetchall()
        for submission_id, submitter, pay, memory in rows:
            if pay:
                tx.move_scrip(SANDBOX, str(submitter), int(pay))
            free_memory(tx, str(submitter), int(memory))
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
