"""Tasks: work the user gives the ecology, checked by hidden cases, paid by minting
(ARTIFACTS.md section 6).

- :mod:`~agent_ecology.tasks.spec`: the task files (``genesis/tasks/<id>.yaml``), validated;
- :mod:`~agent_ecology.tasks.board`: the board that lists them and checks submissions.

``genesis_tasks`` (:mod:`agent_ecology.genesis.tasks`) is how agents reach the board.
"""

from agent_ecology.tasks.board import CHECKER_FUEL, OpenTask, TaskBoard, Verdict, public_reason
from agent_ecology.tasks.spec import (
    TASK_ID,
    Case,
    TaskSpec,
    load_task_file,
    load_tasks,
    same_result,
)

__all__ = [
    "CHECKER_FUEL",
    "TASK_ID",
    "Case",
    "OpenTask",
    "TaskBoard",
    "TaskSpec",
    "Verdict",
    "load_task_file",
    "load_tasks",
    "public_reason",
    "same_result",
]
