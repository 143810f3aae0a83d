"""Tasks on a real ledger and sandbox: the programs' fixtures, a board over tasks made here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import Ledger
from agent_ecology.programs import Programs
from agent_ecology.tasks import TaskBoard, TaskSpec, load_tasks
from tests.programs.conftest import genesis, programs, sandbox  # noqa: F401 (fixtures)

SHIPPED = Path(__file__).resolve().parents[2] / "genesis" / "tasks"
SOLUTIONS = Path(__file__).with_name("solutions")

SECRET = "zq-hidden-4711"
"""A string only the hidden cases hold: it must never reach an answer, event or context."""

REVERSE = "def main(args, host):\n    return ' '.join(reversed(args['text'].split()))\n"


def task(task_id: str = "rev", **changes: Any) -> TaskSpec:
    """A small reverse-the-words task (hidden cases hold SECRET), with ``changes``."""
    data: dict[str, Any] = {
        "id": task_id,
        "title": "Reverse the words",
        "description": "Return the words of text in reverse order, joined by single spaces.",
        "args": {"text": "str"},
        "returns": "str",
        "examples": [{"args": {"text": "a b"}, "expected": "b a"}],
        "hidden": [
            {"args": {"text": f"one {SECRET} three"}, "expected": f"three {SECRET} one"},
            {"args": {"text": ""}, "expected": ""},
            {"args": {"text": f"  {SECRET}  "}, "expected": SECRET},
        ],
        "reward": 25,
        "solvers": 2,
        "fuel": 30_000_000,
    }
    data.update(changes)
    return TaskSpec.from_data(data, f"{task_id}.yaml")


BoardFactory = Callable[..., Any]


@pytest.fixture
def make_board(
    ledger: Ledger,
    programs: Programs,  # noqa: F811
    clock: ManualClock,
) -> BoardFactory:
    async def make(*specs: TaskSpec, **kwargs: Any) -> TaskBoard:
        board = TaskBoard(
            ledger,
            {s.id: s for s in specs} if specs else {"rev": task()},
            clock,
            programs=kwargs.get("programs", programs),
            authority="world",
        )
        await board.open()
        return board

    return make


def shipped() -> Mapping[str, TaskSpec]:
    return load_tasks(SHIPPED)
