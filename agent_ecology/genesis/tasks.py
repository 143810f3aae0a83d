"""genesis_tasks: the user's tasks; submit a program, the world checks it and pays by minting."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, Method, MethodFailed
from agent_ecology.ledger import SubmissionStatus, TaskRefused
from agent_ecology.ledger.ops.checks import ArtifactId
from agent_ecology.ledger.ops.tasks import MAX_TOOLS, closed
from agent_ecology.tasks import TaskBoard

__all__ = ["ID", "make_tasks_artifact"]

ID = "genesis_tasks"

TaskId = Annotated[str, Field(min_length=1, max_length=64, description="a task's id")]


class ListArgs(Args):
    pass


class ReadArgs(Args):
    task_id: TaskId


class SubmitArgs(Args):
    task_id: TaskId
    artifact_id: ArtifactId = Field(description="your program: main(args, host) solves it")
    tools: Annotated[list[ArtifactId], Field(max_length=MAX_TOOLS)] = Field(
        default_factory=list,
        description="the programs your program calls while its cases run (others are"
        " refused then); each is paid its price once for every hidden case, whatever the"
        " cases do",
    )


class ResultsArgs(Args):
    task_id: TaskId | None = None
    limit: Annotated[int, Field(ge=1, le=50, strict=True)] = 10


def _utc(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def make_tasks_artifact(board: TaskBoard | None) -> GenesisArtifact:
    """``genesis_tasks`` over ``board`` (None: a world with no tasks)."""

    def need() -> TaskBoard:
        if board is None or not board.specs:
            raise TaskRefused(
                "unknown_task", "this world has no tasks (the user puts them in genesis/tasks)"
            )
        return board

    async def list_(inv: Invocation, _a: ListArgs) -> Mapping[str, Any]:
        if board is None:
            return {"tasks": [], "note": "this world has no tasks"}
        now = inv.clock.now()
        mine = {t.id for t in board.open_for(inv.actor, now)}
        rows = []
        for t in board.standings():
            if t.id not in board.specs:
                continue
            rows.append(
                {
                    "task_id": t.id,
                    "title": t.title,
                    "difficulty": t.difficulty,
                    "reward": t.reward,
                    "solvers_left": t.solvers_left,
                    "open_to_you": t.id in mine,
                    **({"closes_at": _utc(t.closes_at)} if t.closes_at is not None else {}),
                    **({"closed": True} if closed(t.closes_at, now) else {}),
                }
            )
        return {"tasks": rows}

    async def read(inv: Invocation, a: ReadArgs) -> Mapping[str, Any]:
        spec = need().spec(a.task_id)
        out = spec.public()
        standing = next((t for t in need().standings() if t.id == a.task_id), None)
        if standing is not None:
            out["solvers_left"] = standing.solvers_left
            if standing.closes_at is not None:
                out["closes_at"] = _utc(standing.closes_at)
        out["how"] = (
            "write a program (write_artifact with executable true) defining main(args, host)"
            " that returns what each example expects, test it on the examples with invoke,"
            f" then submit it: invoke {ID} submit with task_id and artifact_id"
        )
        return out

    async def submit(inv: Invocation, a: SubmitArgs) -> Mapping[str, Any]:
        verdict = await need().submit(inv.actor, a.task_id, a.artifact_id, a.tools)
        data = verdict.to_json()
        if verdict.solved:
            return {**data, "message": verdict.describe()}
        code = {
            SubmissionStatus.TAKEN: "task_taken",
            SubmissionStatus.ALREADY_SOLVED: "already_solved",
            SubmissionStatus.CLOSED: "task_closed",
        }.get(SubmissionStatus(verdict.status), "task_failed")
        raise MethodFailed(
            code,
            f"{verdict.describe()} (compute charged: {verdict.compute_seconds:.4f} s)",
            data,
        )

    async def results(inv: Invocation, a: ResultsArgs) -> Mapping[str, Any]:
        rows = await inv.ledger.task_results(task_id=a.task_id, limit=a.limit)
        return {
            "results": [
                {
                    "task_id": r.task_id,
                    "agent_id": r.agent_id,
                    "status": r.status,
                    "cases_passed": r.cases_passed,
                    "cases_total": r.cases_total,
                    "minted": r.minted,
                    "at": _utc(r.ended_at),
                }
                for r in rows
            ]
        }

    art = GenesisArtifact(
        ID,
        "Work the user gives the world, paid by minting. Each task says what main(args, host)"
        " must return and shows public examples; submit a program you own and the world runs"
        " it on the task's hidden cases in the sandbox, on your compute. If every case passes,"
        " the reward is minted to you (once per task; only the first solvers of each task are"
        " paid, and some tasks close at a deadline). The answer says how many cases passed and"
        " why the first failure failed (an exception's type, a limit, a wrong answer), never"
        " the hidden inputs. While the cases run, your program may call the programs your"
        " submission names in tools (each paid its price once per hidden case); nothing else"
        " it does is kept.",
    )
    art.add(
        Method(
            "list",
            "The tasks: rewards, paid slots left, whether you can still be paid for each.",
            ListArgs,
            list_,
            {},
            returns="{tasks: [{task_id, title, difficulty, reward, solvers_left, open_to_you}]}",
        )
    )
    art.add(
        Method(
            "read",
            "One task: what main must do, its args and result, public examples.",
            ReadArgs,
            read,
            {"task_id": "reverse_words"},
            returns="{task_id, title, description, signature, examples, hidden_cases, reward}",
        )
    )
    art.add(
        Method(
            "submit",
            "Check your program against the task's hidden cases; all pass: you are paid.",
            SubmitArgs,
            submit,
            {"task_id": "reverse_words", "artifact_id": "alice/reverse"},
            returns="{status, cases_passed, cases_total, reward, reason?, tools_paid, fuel,"
            " compute_seconds}",
        )
    )
    art.add(
        Method(
            "results",
            "Checked submissions, latest first (of one task, if given).",
            ResultsArgs,
            results,
            {"task_id": "reverse_words"},
            returns="{results: [{task_id, agent_id, status, cases_passed, minted, at}]}",
        )
    )
    return art
