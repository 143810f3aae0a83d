"""The task board: lists the world's tasks, checks submissions against hidden cases, pays.

A submission runs every hidden case of the task against the submitter's program in the
sandbox, one after another (stopping early only when a case hits a limit such as the fuel:
the next would too), each as a *trial*: it may call priced tools, whose prices come from
what the submission attached, and nothing else it does is kept. Its fuel is the
submitter's compute. The verdict says how many cases passed and the first failure's
public-safe reason (an exception's type, a limit, "a wrong answer"): never an input, an
output, an exception's message or a log line, so no answer, event or context holds a
hidden case.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio

from agent_ecology.clock import Clock
from agent_ecology.config import ConfigError
from agent_ecology.ledger import Ledger, SubmissionStatus, TaskRefused, TaskStanding, ops
from agent_ecology.programs import Programs
from agent_ecology.sandbox import Failure, Limits
from agent_ecology.sandbox.allowed import ALLOWED
from agent_ecology.tasks.spec import Case, TaskSpec, same_result

__all__ = ["CHECKER_FUEL", "OpenTask", "TaskBoard", "Verdict", "public_reason"]

CHECKER_FUEL = 200_000_000
"""Instructions a task's checker may use per case (the world's cost, not the submitter's)."""

_BUILTIN_ERRORS = frozenset(
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), BaseException)
)
_STOPS = frozenset({"fuel", "deadline", "memory"})
"""Limits after which the remaining cases are not run (they would hit it too)."""


def public_reason(failure: Failure, limits: Limits) -> str:
    """Why a case failed, in words that cannot hold its input: the exception's type (if it is
    a builtin one, or the sandbox's HostError: a program could name a class after its input)
    or the limit it hit. Never the message, the line or a log."""
    if failure.limit == "fuel":
        return f"ran out of fuel (a case may use {limits.fuel:,} instructions)"
    if failure.limit == "deadline":
        return f"ran past the deadline ({limits.deadline_s:g} s per case)"
    if failure.limit == "host_calls":
        return f"made more than {limits.max_host_calls} host calls"
    if failure.limit == "result_size":
        return f"returned more than {limits.max_result_bytes:,} bytes of JSON"
    if failure.limit == "forbidden":
        return (
            "tried what the sandbox does not provide (files, print, the network, a clock, a"
            " process, native code)"
        )
    if failure.limit is not None:
        return f"hit the sandbox's {failure.limit} limit"
    if failure.kind == "ImportError" or failure.kind == "ModuleNotFoundError":
        return f"raised {failure.kind}: the sandbox allows only {', '.join(sorted(ALLOWED))}"
    if failure.kind == "MemoryError":
        return "ran out of memory (raised MemoryError)"
    if failure.kind in _BUILTIN_ERRORS or failure.kind == "HostError":
        return f"raised {failure.kind}"
    return "raised an exception of a class it defines"


@dataclass(frozen=True, slots=True)
class OpenTask:
    """A task an agent may still be paid for, as its context shows it."""

    id: str
    title: str
    reward: int
    solvers_left: int
    difficulty: int
    closes_at: float | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one submission came to, as its submitter is told."""

    submission_id: str
    task_id: str
    status: str
    cases_passed: int
    cases_total: int
    reason: str | None
    reward: int
    tools_paid: int
    fuel: int
    compute_seconds: float
    compute_balance: float | None

    @property
    def solved(self) -> bool:
        return self.status == SubmissionStatus.SOLVED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "submission_id": self.submission_id,
            "status": self.status,
            "cases_passed": self.cases_passed,
            "cases_total": self.cases_total,
            "reward": self.reward,
            "tools_paid": self.tools_paid,
            "fuel": self.fuel,
            "compute_seconds": round(self.compute_seconds, 6),
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.compute_balance is not None:
            out["compute_balance"] = round(self.compute_balance, 6)
        return out

    def describe(self) -> str:
        cases = f"{self.cases_passed} of {self.cases_total} hidden cases passed"
        if self.solved:
            return f"solved {self.task_id}: {cases}; {self.reward} scrip minted to you"
        return f"{self.task_id} not paid: {cases}; {self.reason}"


def _checker_program(checker: str) -> str:
    return (
        checker.rstrip()
        + "\n\n\ndef main(args, host):\n    return check(args['args'], args['output']) is True\n"
    )


class TaskBoard:
    """The world's tasks (``specs`` by id): lists them in the ledger, checks submissions.

    ``programs`` runs the cases (None: the world runs no programs, so nothing can be
    submitted); ``authority`` is the system principal that mints rewards."""

    def __init__(
        self,
        ledger: Ledger,
        specs: Mapping[str, TaskSpec],
        clock: Clock,
        *,
        programs: Programs | None,
        authority: str,
        folder: Path | None = None,
    ) -> None:
        self.ledger = ledger
        self.specs = dict(specs)
        self.clock = clock
        self.programs = programs
        self.authority = authority
        self.folder = folder
        self._standings: list[TaskStanding] = []
        self._solved: dict[str, set[str]] = {}

    async def open(self) -> list[str]:
        """Check the checkers compile, list the tasks in the ledger, close submissions an
        interrupted run left open; the lines to say."""
        lines = []
        if self.programs is not None:
            problems = []
            for spec in self.specs.values():
                problems += await self._check_spec(spec)
            if problems:
                raise ConfigError(str(self.folder or "genesis/tasks"), problems)
        abandoned = await self.ledger.submit(ops.AbandonSubmissions(authority=self.authority))
        if abandoned.details["abandoned"]:
            lines.append(
                f"closed {abandoned.details['abandoned']} task submission(s) left running by an"
                " interrupted run; their pay was given back"
            )
        listing = [
            {
                "id": s.id,
                "title": s.title,
                "reward": s.reward,
                "solvers": s.solvers,
                "difficulty": s.difficulty,
                "hidden_cases": len(s.hidden),
                "open_for": s.open_for,
                "closes_at": s.closes_at,
                "digest": s.digest(),
            }
            for s in self.specs.values()
        ]
        await self.ledger.submit(
            ops.ListTasks(authority=self.authority, tasks=json.dumps({"tasks": listing}))
        )
        await self.refresh()
        paid = sum(s.reward * s.solvers for s in self.specs.values())
        if self.specs:
            where = f" from {self.folder}" if self.folder else ""
            state = "" if self.programs is not None else " (not submittable: programs are off)"
            lines.append(
                f"tasks: {len(self.specs)}{where}, paying up to {paid:,} scrip in all{state}"
            )
        return lines

    async def _check_spec(self, spec: TaskSpec) -> list[str]:
        """What is wrong with ``spec`` that only the sandbox can tell: a fuel per case above
        an invocation's, a checker that does not compile or refuses a case's expected."""
        assert self.programs is not None
        problems = []
        most = self.programs.limits.fuel
        if spec.fuel is not None and spec.fuel > most:
            problems.append(
                f"{spec.id}.yaml: fuel: {spec.fuel:,} is more than one invocation may use"
                f" (sandbox.fuel, {most:,}); lower it, or raise sandbox.fuel"
            )
        if spec.checker is None:
            return problems
        problem = await anyio.to_thread.run_sync(
            self.programs.sandbox.check, _checker_program(spec.checker)
        )
        if problem is not None:
            return [*problems, f"{spec.id}.yaml: checker: does not compile: {problem}"]
        for group in ("examples", "hidden"):
            for i, case in enumerate(getattr(spec, group)):
                if case.has_expected and not await self._correct(spec, case, case.expected):
                    problems.append(
                        f"{spec.id}.yaml: {group}[{i}].expected: the checker does not accept"
                        " it (fix the checker or the case)"
                    )
        return problems

    async def refresh(self) -> None:
        self._standings = await self.ledger.task_board()
        solved: dict[str, set[str]] = {}
        for r in await self.ledger.task_results(status=SubmissionStatus.SOLVED, limit=1_000_000):
            solved.setdefault(r.agent_id, set()).add(r.task_id)
        self._solved = solved

    def standings(self) -> list[TaskStanding]:
        """Every listed task's standing, as of the last submission."""
        return list(self._standings)

    def open_for(self, agent_id: str, now: float) -> list[OpenTask]:
        """The tasks ``agent_id`` may still be paid for at ``now``, easiest first."""
        mine = self._solved.get(agent_id, set())
        return [
            OpenTask(t.id, t.title, t.reward, t.solvers_left, t.difficulty, t.closes_at)
            for t in self._standings
            if t.id in self.specs
            and t.solvers_left > 0
            and (t.closes_at is None or now < t.closes_at)
            and t.id not in mine
        ]

    def spec(self, task_id: str) -> TaskSpec:
        spec = self.specs.get(task_id)
        if spec is None:
            raise TaskRefused(
                "unknown_task",
                f"there is no task {task_id!r}; the tasks are:"
                f" {', '.join(sorted(self.specs)) or 'none'} (genesis_tasks list)",
            )
        return spec

    async def submit(self, submitter: str, task_id: str, artifact_id: str, pay: int) -> Verdict:
        """Check ``artifact_id`` against every hidden case of ``task_id``, for ``submitter``;
        a refusal before any case runs raises the ledger's error (nothing held)."""
        spec = self.spec(task_id)
        programs = self.programs
        if programs is None:
            raise TaskRefused(
                "programs_disabled",
                "this world runs no programs (sandbox.enabled is false), so no solution can be"
                " checked",
            )
        submission_id = uuid.uuid4().hex
        started = await self.ledger.submit(
            ops.StartSubmission(
                submission_id=submission_id,
                task_id=task_id,
                submitter=submitter,
                artifact_id=artifact_id,
                pay=pay,
                memory_bytes=programs.memory_held,
                cases_total=len(spec.hidden),
            )
        )
        limits = programs.limits
        if spec.fuel is not None:
            limits = replace(limits, fuel=spec.fuel)
        passed, fuel, budget = 0, 0, pay
        calls: list[dict[str, Any]] = []
        reason: str | None = None
        try:
            for case in spec.hidden:
                out, made = await programs.trial(
                    invoker=submitter,
                    owner=submitter,
                    artifact_id=artifact_id,
                    source=started.details["source"],
                    args=case.args,
                    limits=limits,
                    budget=budget,
                )
                fuel += out.fuel
                if out.failure is None:
                    budget -= sum(int(c["price"]) for c in made)
                    calls += made
                    if await self._correct(spec, case, out.value):
                        passed += 1
                    elif reason is None:
                        reason = "returned a wrong answer"
                    continue
                reason = reason or public_reason(out.failure, limits)
                if out.failure.limit in _STOPS:
                    break
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._finish(
                    submission_id, 0, fuel, [], "the check was interrupted (the world stopped)"
                )
            raise
        with anyio.CancelScope(shield=True):
            receipt = await self._finish(submission_id, passed, fuel, calls, reason)
        d = receipt.details
        if d["status"] == SubmissionStatus.SOLVED:
            self._solved.setdefault(submitter, set()).add(task_id)
        self._standings = await self.ledger.task_board()
        return Verdict(
            submission_id,
            task_id,
            d["status"],
            d["cases_passed"],
            d["cases_total"],
            d.get("reason"),
            d["reward"],
            d["tools_paid"],
            fuel,
            d["compute_seconds"],
            d.get("compute_balance"),
        )

    async def _correct(self, spec: TaskSpec, case: Case, value: Any) -> bool:
        if spec.checker is None:
            return same_result(value, case.expected)
        assert self.programs is not None
        limits = replace(self.programs.limits, fuel=CHECKER_FUEL)
        out = await self.programs.pure(
            _checker_program(spec.checker), {"args": case.args, "output": value}, limits
        )
        return out.failure is None and out.value is True

    async def _finish(
        self,
        submission_id: str,
        passed: int,
        fuel: int,
        calls: Sequence[Mapping[str, Any]],
        reason: str | None,
    ) -> Any:
        assert self.programs is not None
        seconds = self.programs.compute_of(fuel)
        return await self.ledger.submit(
            ops.FinishSubmission(
                submission_id=submission_id,
                passed=passed,
                fuel=fuel,
                compute_seconds=seconds,
                authority=self.authority,
                calls=json.dumps({"calls": list(calls)}),
                reason=reason,
            )
        )
