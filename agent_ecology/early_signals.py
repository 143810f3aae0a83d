"""Signals that arrive before a run can handle them: remembered, then handed to the run.

:mod:`agent_ecology.launch` installs :func:`install` before the heavy imports; the runtime
takes what came (:func:`take`) when its own receiver is open; other commands get Python's
handlers back (:func:`restore_defaults`). Standard library only, so it imports nothing of
the package.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["install", "restore_defaults", "take"]

_PENDING: list[int] = []


def _remember(signum: int, _frame: FrameType | None) -> None:
    _PENDING.append(signum)


def install() -> None:
    """Remember SIGINT and SIGTERM instead of dying of them."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _remember)


def take() -> list[int]:
    """The signals remembered so far, oldest first; they are forgotten here."""
    pending, _PENDING[:] = list(_PENDING), []
    return pending


def restore_defaults() -> None:
    """Python's own handlers again, and a signal that came meanwhile delivered now.

    Does nothing unless :func:`install` ran (a test calling the CLI directly).
    """
    if signal.getsignal(signal.SIGTERM) is not _remember:
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for signum in take()[:1]:
        signal.raise_signal(signum)
