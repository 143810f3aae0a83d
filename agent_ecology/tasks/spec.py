"""Task files: ``genesis/tasks/<id>.yaml``, the work a user gives the ecology.

A task says what ``main(args, host)`` must do (a title, a description for agents, the names
of its ``args`` and what it returns), shows public ``examples``, and keeps ``hidden`` cases
that the world runs against a submitted program. A case is ``args`` and the ``expected``
result, or, when the task has a ``checker`` (Python defining ``check(args, output)``, run in
the sandbox), just ``args``. A task pays ``reward`` scrip to each of its first ``solvers``
solvers, until its deadline if it has one. Files are validated as config.yaml is: every
error names its key path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_validator,
    model_validator,
)

from agent_ecology._settings import MAX_COUNT, PositiveFloat, PositiveInt, Strict
from agent_ecology.config import ConfigError, read_mapping_file, validate_file

__all__ = ["TASK_ID", "Case", "TaskSpec", "load_task_file", "load_tasks", "same_result"]

TASK_ID = r"^[a-z][a-z0-9_-]{0,63}$"
"""A task's id: its file name without ``.yaml``."""
_ARG = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
MAX_REWARD = 1_000_000


def _json_value(value: Any, where: str = "") -> Any:
    """``value`` if it is plain JSON data (what YAML may give that JSON has not, such as a
    date, a set or NaN, is refused)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where or 'a value'} is {value!r}; JSON has no NaN or infinity")
        return value
    if isinstance(value, list):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(
                    f"{where or 'a mapping'} has the key {k!r}; JSON keys are strings (quote it)"
                )
            out[k] = _json_value(v, f"{where}.{k}" if where else k)
        return out
    raise ValueError(
        f"{where or 'a value'} is a {type(value).__name__} ({value!r}); cases hold JSON data:"
        " strings, numbers, true/false, null, lists and mappings (quote dates)"
    )


class Case(Strict):
    """One test case: the ``args`` main gets and, unless the task has a checker, the result
    it must return."""

    args: dict[str, Any] = Field(description="What main(args, host) gets.")
    expected: Any = Field(default=None, description="The result main must return.")
    _given: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _note_expected(cls, data: Any, handler: ModelWrapValidatorHandler[Case]) -> Case:
        case = handler(data)
        case._given = isinstance(data, dict) and "expected" in data
        return case

    @property
    def has_expected(self) -> bool:
        """Whether the case gives ``expected`` (``null`` included)."""
        return self._given

    @field_validator("args", "expected", mode="after")
    @classmethod
    def _plain_json(cls, value: Any) -> Any:
        return _json_value(value)


def same_result(got: Any, expected: Any) -> bool:
    """Whether ``got`` is ``expected`` as JSON data: numbers compare by value (``2 == 2.0``),
    but ``true`` is not ``1``; lists in order; mappings by key."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return got == expected
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(same_result(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same_result(got[k], expected[k]) for k in expected)
        )
    return type(got) is type(expected) and got == expected


class TaskSpec(Strict):
    """One task, as ``genesis/tasks/<id>.yaml`` gives it."""

    id: Annotated[str, Field(pattern=TASK_ID)]
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(min_length=1, max_length=4000)] = Field(
        description="What main must do, for agents."
    )
    args: dict[str, Annotated[str, Field(max_length=300)]] = Field(
        description="The keys of the args main gets, each with what it holds."
    )
    returns: Annotated[str, Field(min_length=1, max_length=300)] = Field(
        description="What main returns."
    )
    examples: Annotated[list[Case], Field(min_length=1, max_length=10)] = Field(
        description="Public cases: shown to agents."
    )
    hidden: Annotated[list[Case], Field(min_length=1, max_length=100)] = Field(
        description="The cases a submission is checked with; never shown."
    )
    checker: str | None = Field(
        default=None,
        description="Python defining check(args, output) -> bool, run in the sandbox, for"
        " tasks with more than one right answer; cases then need no expected.",
    )
    reward: Annotated[int, Field(ge=1, le=MAX_REWARD, strict=True)] = Field(
        description="Scrip minted to each paid solver."
    )
    solvers: PositiveInt = Field(default=3, description="How many solvers are paid (the first).")
    difficulty: Annotated[int, Field(ge=1, le=5, strict=True)] = Field(
        default=1, description="1 (a one-liner) to 5 (much easier with a helper tool)."
    )
    deadline: datetime | None = Field(
        default=None, description="When submissions close (an ISO date and time, UTC if bare)."
    )
    open_for: PositiveFloat | None = Field(
        default=None,
        description="Seconds submissions stay open after the world first lists the task.",
    )
    fuel: Annotated[int, Field(gt=0, le=MAX_COUNT, strict=True)] | None = Field(
        default=None, description="Instructions each case may use (default sandbox.fuel)."
    )
    attempts: PositiveInt = Field(
        default=10, description="How many submissions one agent may make to the task."
    )

    @field_validator("args", mode="after")
    @classmethod
    def _arg_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ARG.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a usable key; use lowercase letters, digits and '_'"
                )
        return value

    def problems(self) -> list[str]:
        """What is inconsistent between keys, one problem per entry with its key path."""
        problems = []
        if self.deadline is not None and self.open_for is not None:
            problems.append("deadline: give deadline or open_for, not both")
        declared = set(self.args)
        names = ", ".join(sorted(declared)) or "none"
        for group in ("examples", "hidden"):
            for i, case in enumerate(getattr(self, group)):
                keys = set(case.args)
                if keys != declared:
                    missing = ", ".join(sorted(declared - keys)) or "none"
                    extra = ", ".join(sorted(keys - declared)) or "none"
                    problems.append(
                        f"{group}[{i}].args: the keys must be those of args ({names});"
                        f" missing: {missing}; not declared: {extra}"
                    )
                if self.checker is None and not case.has_expected:
                    problems.append(
                        f"{group}[{i}]: expected is required (or give the task a checker)"
                    )
        return problems

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str) -> TaskSpec:
        """A task from parsed YAML, or :class:`ConfigError` naming every problem's key path."""
        spec = validate_file(cls, data, source)
        problems = spec.problems()
        if problems:
            raise ConfigError(source, problems)
        return spec

    @property
    def closes_at(self) -> float | None:
        """The deadline as Unix time (a bare date and time is UTC), if it has one."""
        if self.deadline is None:
            return None
        when = self.deadline if self.deadline.tzinfo else self.deadline.replace(tzinfo=UTC)
        return when.timestamp()

    def signature(self) -> str:
        keys = ", ".join(f'"{k}": {v}' for k, v in self.args.items())
        return f"main(args, host) with args {{{keys}}}; returns {self.returns}"

    def public(self) -> dict[str, Any]:
        """What an agent may read: everything but the hidden cases and the checker."""
        return {
            "task_id": self.id,
            "title": self.title,
            "description": self.description.strip(),
            "signature": self.signature(),
            "args": dict(self.args),
            "returns": self.returns,
            "examples": [
                {"args": c.args, **({"expected": c.expected} if c.has_expected else {})}
                for c in self.examples
            ],
            "hidden_cases": len(self.hidden),
            "reward": self.reward,
            "solvers": self.solvers,
            "difficulty": self.difficulty,
            "attempts_per_agent": self.attempts,
            **({"fuel_per_case": self.fuel} if self.fuel is not None else {}),
            **(
                {"checked_by": "a checker: more answers than one may be right"}
                if self.checker
                else {}
            ),
        }

    def digest(self) -> str:
        """A fingerprint of the task (hidden cases included), to see when a file changed."""
        import hashlib

        data = self.model_dump(mode="json")
        for group in ("examples", "hidden"):  # whether a case gives expected counts too
            for case, dumped in zip(getattr(self, group), data[group], strict=True):
                dumped["given"] = case.has_expected
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_task_file(path: Path) -> TaskSpec:
    """Read one ``genesis/tasks/<id>.yaml``; its ``id`` is the file name."""
    source, data = read_mapping_file(path, "a task file")
    if data.setdefault("id", path.stem) != path.stem:
        raise ConfigError(
            source,
            [f"id {data['id']!r} differs from the file name {path.stem!r}; rename one of them"],
        )
    if not re.fullmatch(TASK_ID, path.stem):
        raise ConfigError(
            source,
            [
                f"the file name {path.name!r} is not a task id: use lowercase letters, digits,"
                " '_' and '-', starting with a letter"
            ],
        )
    return TaskSpec.from_data(data, source)


def load_tasks(folder: Path) -> dict[str, TaskSpec]:
    """Every task of ``folder`` (``genesis/tasks``), by id; none if the folder is absent.
    Raises :class:`ConfigError` listing every bad file's problems."""
    if not folder.is_dir():
        return {}
    tasks: dict[str, TaskSpec] = {}
    problems: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".yml":
            problems.append(f"{path}: name task files <id>.yaml (not .yml)")
            continue
        if path.suffix != ".yaml":
            continue
        try:
            tasks[path.stem] = load_task_file(path)
        except ConfigError as exc:
            problems += [f"{exc.source}: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(str(folder), problems)
    return tasks
