"""The command's entry point: the signal handlers first, then the heavy imports.

Importing the runtime (SQLAlchemy, pydantic, anyio, the genesis artifacts) takes about a
second. A SIGTERM or SIGINT that arrives meanwhile would meet Python's default handlers and
kill the process mid-import; here it is remembered instead, and the run stops as soon as it
has started, as it does for a signal during the run. Other commands get Python's handlers
back once their arguments are read (:func:`restore_defaults`).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from types import FrameType

__all__ = ["PENDING", "main", "restore_defaults"]

PENDING: list[int] = []
"""Signals received before the run could handle them, in order."""


def _remember(signum: int, _frame: FrameType | None) -> None:
    PENDING.append(signum)


def restore_defaults() -> None:
    """Python's own handlers again (for commands that are not a run), and a signal that came
    while starting is delivered now: Ctrl-C or SIGTERM interrupts ``init`` as usual."""
    if signal.getsignal(signal.SIGTERM) is not _remember:
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pending, PENDING[:] = list(PENDING), []
    for signum in pending[:1]:
        signal.raise_signal(signum)


def main(argv: Sequence[str] | None = None) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _remember)
    from agent_ecology.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # python -m agent_ecology.launch: the same module as the command's
    from agent_ecology.launch import main as launched

    sys.exit(launched())
