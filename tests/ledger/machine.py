"""A hypothesis state machine over a real ledger, for the stateful tests to build their rules on."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hypothesis.stateful import RuleBasedStateMachine

from agent_ecology.clock import ManualClock
from agent_ecology.ledger import Ledger, Receipt, ops
from agent_ecology.store import migrate
from tests.conftest import T0, populate

T = TypeVar("T")
_template: Path | None = None


def template() -> Path:
    """One migrated database for all examples (each copies it), removed at exit."""
    global _template
    if _template is None:
        folder = tempfile.mkdtemp(prefix="ledger-model-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _template = Path(folder) / "template.db"
        asyncio.run(migrate(_template))
    return _template


class LedgerMachine(RuleBasedStateMachine):
    """Each example gets its own copy of the template in a temp dir, the conftest's three agents,
    a manual clock at T0, and one event loop that runs every step (hypothesis steps are sync)."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{type(self).__name__.lower()}-"))
        self.path = self.dir / "world.db"
        shutil.copyfile(template(), self.path)
        self.clock = ManualClock(T0)
        self.runner = asyncio.Runner()
        self.ledger: Ledger = self.run(
            Ledger.open(self.path, clock=self.clock, run_migrations=False)
        )
        self.run(populate(self.ledger))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def submit(self, op: ops.Operation[Any]) -> Receipt[Any]:
        return self.run(self.ledger.submit(op))

    def teardown(self) -> None:
        self.run(self.ledger.close())
        self.runner.close()
        shutil.rmtree(self.dir, ignore_errors=True)
