"""Task files are validated as config.yaml is: every problem, with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_ecology.clock import ManualClock
from agent_ecology.config import ConfigError
from agent_ecology.ledger import Ledger
from agent_ecology.programs import Programs
from agent_ecology.tasks import TaskBoard, TaskSpec, load_tasks, same_result

GOOD = """\
title: Add
description: Add a and b.
args: {a: int, b: int}
returns: int
examples:
  - {args: {a: 1, b: 2}, expected: 3}
hidden:
  - {args: {a: 2, b: 2}, expected: 4}
reward: 5
"""


def problems(tmp_path: Path, **files: str) -> list[str]:
    folder = tmp_path / "tasks"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ConfigError) as err:
        load_tasks(folder)
    assert str(err.value).startswith(f"{folder} is not valid:")
    return err.value.problems


def test_a_good_file_loads_with_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "add.yaml").write_text(GOOD)
    (tmp_path / "README.md").write_text("not a task")
    [(task_id, spec)] = load_tasks(tmp_path).items()
    assert task_id == "add" and isinstance(spec, TaskSpec)
    assert (spec.solvers, spec.difficulty, spec.fuel, spec.closes_at) == (3, 1, None, None)
    assert spec.signature() == 'main(args, host) with args {"a": int, "b": int}; returns int'
    assert "hidden" not in spec.public() and spec.public()["hidden_cases"] == 1
    assert load_tasks(tmp_path / "absent") == {}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("reward: 5", "add.yaml: reward: required key is missing"),
        ("reward: 5", "add.yaml: reward: input should be greater than or equal to 1 (got -3)"),
        ("reward: 5", "add.yaml: rewrd: unknown key (did you mean 'reward'?); allowed here:"),
        ("reward: 5", "add.yaml: reward: input should be a valid integer (got '5')"),
        ("  - {args: {a: 2, b: 2}, expected: 4}", "add.yaml: hidden[0].args: the keys must be"),
        ("  - {args: {a: 2, b: 2}, expected: 4}", "add.yaml: hidden[0]: expected is required"),
        ("  - {args: {a: 2, b: 2}, expected: 4}", "add.yaml: hidden[0].expected: a value is"),
        ("  - {args: {a: 2, b: 2}, expected: 4}", "add.yaml: hidden[0].exepcted: unknown key"),
        ("reward: 5", "add.yaml: deadline: give deadline or open_for, not both"),
        ("reward: 5", "add.yaml: fuel: input should be greater than 0 (got 0)"),
        ("args: {a: int, b: int}", "add.yaml: args: 'A' is not a usable key"),
        ("returns: int", "add.yaml: returns: string should have at least 1 character"),
    ],
    ids=[
        "missing",
        "negative",
        "typo",
        "quoted-number",
        "keys",
        "no-expected",
        "a-date",
        "case-typo",
        "two-deadlines",
        "zero-fuel",
        "bad-arg-name",
        "empty",
    ],
)
def test_a_bad_file_names_the_key_path_of_the_problem(
    tmp_path: Path, change: str, expected: str, request: pytest.FixtureRequest
) -> None:
    replacement = {
        "missing": "",
        "negative": "reward: -3",
        "typo": "rewrd: 5",
        "quoted-number": "reward: '5'",
        "keys": "  - {args: {a: 2, c: 2}, expected: 4}",
        "no-expected": "  - {args: {a: 2, b: 2}}",
        "a-date": "  - {args: {a: 2, b: 2}, expected: 2024-01-01}",
        "case-typo": "  - {args: {a: 2, b: 2}, exepcted: 4}",
        "two-deadlines": "reward: 5\ndeadline: 2030-01-01T00:00:00Z\nopen_for: 60",
        "zero-fuel": "reward: 5\nfuel: 0",
        "bad-arg-name": "args: {A: int, b: int}",
        "empty": "returns: ''",
    }[request.node.callspec.id]
    found = problems(tmp_path, **{"add.yaml": GOOD.replace(change, replacement)})
    assert any(p.startswith(f"{tmp_path / 'tasks'}/{expected}") for p in found), found


def test_every_bad_file_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        **{
            "a.yaml": GOOD.replace("reward: 5", "reward: 0"),
            "b.yml": GOOD,
            "c.yaml": "title: [unclosed",
            "d.yaml": GOOD.replace("title: Add", "title: Add\ntitle: Twice"),
            "e.yaml": GOOD + "id: other\n",
            "F.yaml": GOOD,
            "g.yaml": "- a list",
            "h.yaml": GOOD.replace("{a: 2, b: 2}, expected: 4}", "{a: 2}}\n  - {args: {}}"),
        },
    )
    (tmp_path / "tasks" / "i.yaml").write_bytes(b"title: caf\xe9\n")
    found = problems(tmp_path)
    text = "\n".join(found)
    assert all("has_expected" not in p for p in found)
    assert "a.yaml: reward: input should be greater than or equal to 1" in text
    assert "b.yml: name task files <id>.yaml (not .yml)" in text
    assert "c.yaml: not valid YAML" in text
    assert "d.yaml: not valid YAML: duplicate key 'title' (line 2); keep only one" in text
    assert "e.yaml: id 'other' differs from the file name 'e'" in text
    assert "F.yaml: the file name 'F.yaml' is not a task id" in text
    assert "g.yaml: a task file holds a mapping, got list" in text
    # each problem on its own, with its key path
    assert any(p.endswith("h.yaml: hidden[0].args: the keys must be those of args (a, b);"
                          " missing: b; not declared: none") for p in found)  # fmt: skip
    assert any(p.endswith("h.yaml: hidden[0]: expected is required (or give the task a"
                          " checker)") for p in found)  # fmt: skip
    assert any(p.endswith("h.yaml: hidden[1].args: the keys must be those of args (a, b);"
                          " missing: a, b; not declared: none") for p in found)  # fmt: skip
    assert "i.yaml: a task file must be UTF-8 text; byte 10 is not (save it as UTF-8)" in text


async def test_a_checker_that_does_not_compile_is_refused_when_the_board_opens(
    tmp_path: Path, ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    text = GOOD.replace("expected: 4}", "}").replace(
        "reward: 5", "reward: 5\nchecker: |\n  def check(args, output)\n    return True\n"
    )
    (tmp_path / "add.yaml").write_text(text)
    board = TaskBoard(
        ledger, load_tasks(tmp_path), clock, programs=programs, authority="world", folder=tmp_path
    )
    with pytest.raises(ConfigError, match=r"add.yaml: checker: does not compile: .*line 1"):
        await board.open()
    assert await ledger.task_board() == []  # nothing was listed


@pytest.mark.parametrize(
    ("got", "expected", "same"),
    [
        (2, 2.0, True),
        (True, 1, False),
        (1, True, False),
        ([1, [2]], [1, [2]], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ("1", 1, False),
        (None, None, True),
        (None, 0, False),
    ],
)
def test_results_compare_as_json_data(got: object, expected: object, same: bool) -> None:
    assert same_result(got, expected) is same


async def test_a_checker_must_accept_the_expected_results_given(
    tmp_path: Path, ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    text = GOOD.replace(
        "reward: 5", "reward: 5\nchecker: |\n  def check(args, output):\n    return output > 3\n"
    )
    (tmp_path / "add.yaml").write_text(text)
    board = TaskBoard(
        ledger, load_tasks(tmp_path), clock, programs=programs, authority="world", folder=tmp_path
    )
    with pytest.raises(ConfigError) as err:
        await board.open()
    assert err.value.problems == [
        "add.yaml: examples[0].expected: the checker does not accept it (fix the checker or the"
        " case)"
    ]


async def test_a_case_may_not_use_more_fuel_than_an_invocation(
    tmp_path: Path, ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    (tmp_path / "add.yaml").write_text(GOOD + "fuel: 300000000\n")
    board = TaskBoard(
        ledger, load_tasks(tmp_path), clock, programs=programs, authority="world", folder=tmp_path
    )
    with pytest.raises(ConfigError, match=r"add.yaml: fuel: 300,000,000 is more than one"):
        await board.open()
