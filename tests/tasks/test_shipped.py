"""The shipped task set (genesis/tasks): graded, listed in the README, each solvable by its
reference solution and not by a plausible wrong one, and the baseline policy's snippets do
what its docstring says (right ones are paid, wrong ones fail for each kind of reason)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent_ecology.agents import action_shapes
from agent_ecology.clock import ManualClock
from agent_ecology.config import load_settings, parse_settings
from agent_ecology.genesis import Genesis
from agent_ecology.ledger import Ledger
from agent_ecology.llm.baseline import TASK_SNIPPETS
from agent_ecology.programs import Programs
from agent_ecology.sandbox import Sandbox
from agent_ecology.tasks import TaskBoard
from tests.tasks.conftest import SOLUTIONS, BoardFactory, shipped

TASKS = shipped()
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


@pytest.fixture
def programs(ledger: Ledger, sandbox: Sandbox, clock: ManualClock, genesis: Genesis) -> Programs:
    """Programs with the shipped config's sandbox limits: the tasks are sized for them."""
    limits = load_settings(ROOT / "config.yaml").sandbox.limits()
    return Programs(ledger, sandbox, clock, limits=limits, seconds_per_fuel=1e-9)


def test_the_set_is_graded_and_its_cases_are_real_checks() -> None:
    assert len(TASKS) >= 12
    assert {t.difficulty for t in TASKS.values()} == {1, 2, 3, 4, 5}
    for spec in TASKS.values():
        assert len(spec.hidden) >= 5, f"{spec.id} has too few hidden cases"
        assert spec.fuel is not None, f"{spec.id} sets no fuel per case"
        shown = [c.args for c in spec.examples]
        assert all(c.args not in shown for c in spec.hidden), f"{spec.id} hides an example"
    assert any(t.checker for t in TASKS.values())  # one task has many right answers


def test_the_readme_lists_every_task_with_its_reward() -> None:
    start = README.index("## Tasks")
    section = README[start : README.index("\n## ", start + 1)]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", section, flags=re.M))
    assert set(rows) == set(TASKS)
    for task_id, row in rows.items():
        spec = TASKS[task_id]
        assert f"| {spec.difficulty} | {spec.reward} |" in f"| {row} |", task_id


@pytest.mark.parametrize("task_id", sorted(TASKS))
async def test_the_reference_is_paid_and_the_wrong_solution_is_not(
    task_id: str, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board(TASKS[task_id], programs=programs)
    right = (SOLUTIONS / f"{task_id}.py").read_text()
    wrong = (SOLUTIONS / f"{task_id}.wrong.py").read_text()
    await programs.write("alice", "alice/right", right, 0)
    await programs.write("bob", "bob/wrong", wrong, 0)
    verdict = await board.submit("alice", task_id, "alice/right")
    assert verdict.solved, verdict
    failed = await board.submit("bob", task_id, "bob/wrong")
    assert failed.status == "failed" and failed.cases_passed < failed.cases_total


@pytest.mark.parametrize(
    ("task_id", "reason"),
    [
        ("reverse_words", None),
        ("fizzbuzz", None),
        ("is_palindrome", None),
        ("balanced_brackets", None),
        ("run_length", "returned a wrong answer"),
        ("merge_intervals", "raised KeyError"),
        ("count_primes", "ran out of fuel"),
        ("csv_rows", "raised ImportError"),
    ],
)
async def test_the_baseline_policys_snippets_are_right_or_wrong_as_labelled(
    task_id: str, reason: str | None, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board(TASKS[task_id], programs=programs)
    await programs.write("alice", "alice/snippet", TASK_SNIPPETS[task_id], 0)
    verdict = await board.submit("alice", task_id, "alice/snippet")
    if reason is None:
        assert verdict.solved, verdict
    else:
        assert verdict.reason is not None and verdict.reason.startswith(reason), verdict


def test_every_snippet_is_for_a_shipped_task() -> None:
    assert set(TASK_SNIPPETS) <= set(TASKS)


def test_the_handbook_tells_agents_how_to_solve_tasks_and_lists_them(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    settings = parse_settings({"world": {"genesis": str(tmp_path)}})
    board = TaskBoard(ledger, TASKS, clock, programs=None, authority="world")
    pages = Genesis.build(
        settings, actions_text=action_shapes(), provider="p", agents=3, tasks=board
    ).handbook.pages
    for task_id, spec in TASKS.items():
        assert f"- `{task_id}` (difficulty {spec.difficulty}, {spec.reward} scrip" in pages["tasks"]
    assert "submit(task_id, artifact_id, tools?)" in pages["genesis"]
    assert "'tasks'" in pages["index"]
    bare = Genesis.build(settings, actions_text=action_shapes(), provider="p", agents=3)
    assert "This world has no tasks" in bare.handbook.pages["tasks"]
