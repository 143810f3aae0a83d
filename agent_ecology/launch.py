"""The command's entry point: the signal handlers first, then the heavy imports.

Importing the runtime (SQLAlchemy, pydantic, anyio, the genesis artifacts) takes about a
second. A SIGTERM or SIGINT that arrives meanwhile would meet Python's default handlers and
kill the process mid-import; here it is remembered instead
(:mod:`agent_ecology.early_signals`), and the run stops as soon as it has started, as it
does for a signal during the run. Other commands get Python's handlers back once their
arguments are read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent_ecology import early_signals

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    early_signals.install()
    from agent_ecology.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
