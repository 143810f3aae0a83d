"""The task board: lists the world's tasks, checks submissions against hidden cases, pays.

A submission runs every hidden case of the task against the submitter's program in the
sandbox, one after another (stopping early only when a case hits the fuel, deadline or
memory limit: the next would too), each as a *trial*: it may call the tools the submission
names (paid a fixed price per case when it starts, whatever the cases do), and nothing else
it does is kept. Its fuel is the submitter's compute, charged in steps of an eighth of a
case's fuel. The verdict says how many cases passed and the first failure's public-safe
reason (a builtin exception's type, a limit, "a wrong answer"): never an input, an output,
an exception's message, a line or a log line. So no answer, event, row or context holds a
hidden case, and what a submitter learns per submission (a count, a reason, a fuel step)
is a few bits, bounded by the task's ``attempts``.
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
from agent_ecology.ledger.ops.tasks import closed, unknown_task
from agent_ecology.programs import Programs
from agent_ecology.sandbox import Failure, Limits
from agent_ecology.sandbox.allowed import ALLOWED
from agent_ecology.tasks.spec import Case, TaskSpec, same_result

__all__ = [
    "CHECKER_FUEL",
    "FUEL_STEPS",
    "OpenTask",
    "TaskBoard",
    "Verdict",
    "charged_fuel",
    "public_reason",
]

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


FUEL_STEPS = 8
"""A submission's fuel is charged in steps of a case's fuel limit / FUEL_STEPS, rounded up."""


def charged_fuel(fuel: int, case_fuel: int) -> int:
    """The fuel a submission is charged for ``fuel`` burnt: rounded up to a step of
    ``case_fuel / FUEL_STEPS``, so that the figure (which its submitter sees, in the answer
    and in its compute) cannot carry more than a few bits of the hidden inputs."""
    step = max(1, -(-case_fuel // FUEL_STEPS))
    return -(-fuel // step) * step


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
        return (
            f"raised {failure.kind}: import only the sandbox's {len(ALLOWED)} allowed modules"
            " (the handbook page programs lists them)"
        )
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

    async def open(self, agents: tuple[str, ...] | None = None) -> list[str]:
        """Check the checkers compile, list the tasks in the ledger, close submissions an
        interrupted run left open (only those of ``agents`` when given: a shard's own);
        the lines to say."""
        lines = []
        if self.programs is not None:
            problems = []
            for spec in self.specs.values():
                problems += await self._check_spec(spec)
            if problems:
                raise ConfigError(str(self.folder or "genesis/tasks"), problems)
        abandoned = await self.ledger.submit(
            ops.AbandonSubmissions(authority=self.authority, agents=agents)
        )
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
                "attempts": s.attempts,
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
        if self.programs is None:
            return []  # nothing can be submitted: no task is open to anyone
        mine = self._solved.get(agent_id, set())
        return [
            OpenTask(t.id, t.title, t.reward, t.solvers_left, t.difficulty, t.closes_at)
            for t in self._standings
            if t.id in self.specs
            and t.solvers_left > 0
            and not closed(t.closes_at, now)
            and t.id not in mine
        ]

    def spec(self, task_id: str) -> TaskSpec:
        spec = self.specs.get(task_id)
        if spec is None:
            raise unknown_task(task_id, list(self.specs))
        return spec

    async def submit(
        self, submitter: str, task_id: str, artifact_id: str, tools: Sequence[str] = ()
    ) -> Verdict:
        """Check ``artifact_id`` against every hidden case of ``task_id``, for ``submitter``,
        its program free to call ``tools`` (each paid its price per case, whatever the cases
        do); a refusal before any case runs raises the ledger's error (nothing held)."""
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
                memory_bytes=programs.memory_held,
                cases_total=len(spec.hidden),
                tools=json.dumps({"tools": list(tools)}),
            )
        )
        limits = self.case_limits(spec)
        passed, fuel = 0, 0
        reason: str | None = None
        try:
            for case in spec.hidden:
                out = await programs.trial(
                    invoker=submitter,
                    artifact_id=artifact_id,
                    source=started.details["source"],
                    args=case.args,
                    limits=limits,
                    tools=started.details["tools"],
                )
                fuel += out.fuel
                if out.failure is None:
                    if await self._correct(spec, case, out.value):
                        passed += 1
                    elif reason is None:
                        reason = "returned a wrong answer"
                    continue
                reason = reason or public_reason(out.failure, limits)
                if out.failure.limit in _STOPS:
                    break
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._finish(submission_id, 0, fuel, limits, "the world stopped the check")
            raise
        except Exception:
            with anyio.CancelScope(shield=True):
                await self._finish(
                    submission_id, 0, fuel, limits, "the world failed while checking (a bug)"
                )
            raise
        with anyio.CancelScope(shield=True):
            receipt = await self._finish(submission_id, passed, fuel, limits, reason)
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
            charged_fuel(fuel, limits.fuel),
            d["compute_seconds"],
            d.get("compute_balance"),
        )

    def case_limits(self, spec: TaskSpec) -> Limits:
        """What one case of ``spec`` may use: the sandbox's limits, with the task's fuel."""
        assert self.programs is not None
        limits = self.programs.limits
        return limits if spec.fuel is None else replace(limits, fuel=spec.fuel)

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
        self, submission_id: str, passed: int, fuel: int, limits: Limits, reason: str | None
    ) -> Any:
        assert self.programs is not None
        charged = charged_fuel(fuel, limits.fuel)
        return await self.ledger.submit(
            ops.FinishSubmission(
                submission_id=submission_id,
                passed=passed,
                fuel=charged,
                compute_seconds=self.programs.compute_of(charged),
                authority=self.authority,
                reason=reason,
            )
        )
