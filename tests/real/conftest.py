"""The real-model stage's fixtures: its venv (llama.cpp's server), the model, and a world.

`make test-real` builds the venv (tools/real-venv) and names it in AGENT_ECOLOGY_REAL_VENV;
the suite (`make test`) leaves these tests out (they are marked `real`).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_run import world  # noqa: F401 (the fixture: a copy of config.yaml and genesis/)

# What SmolLM2's tokenizer marks turns and the end of text with (its chat template's markers).
SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


@pytest.fixture(scope="session")
def real_venv() -> Path:
    named = os.environ.get("AGENT_ECOLOGY_REAL_VENV")
    if not named:
        pytest.fail(
            "these tests need llama.cpp's server and the model: run them with make test-real"
        )
    venv = Path(named).resolve()
    if not (venv / ".installed").exists():
        pytest.fail(f"{venv} is not a finished real-model venv: run make test-real")
    return venv


@pytest.fixture(scope="session")
def gguf(real_venv: Path) -> Path:
    (model,) = (real_venv / "model").glob("*.gguf")
    return model


def run_world(folder: Path, *args: str, env: dict[str, str], timeout: float) -> str:
    """`agent-ecology run` in ``folder``, as a user runs it; its output, after a clean exit."""
    return run_world_until(folder, *args, env=env, done=lambda: False, timeout=timeout)


def run_world_until(
    folder: Path,
    *args: str,
    env: dict[str, str],
    done: Callable[[], bool],
    timeout: float,
) -> str:
    """`agent-ecology run` in ``folder``, stopped as a user stops it (SIGINT, once) as soon as
    ``done()`` holds (or by its own ``--duration`` in ``args``); its output, after a clean
    exit. A slow machine then runs longer instead of deciding fewer turns."""
    with subprocess.Popen(
        [sys.executable, "-m", "agent_ecology.launch", "run", "--config", "config.yaml", *args],
        cwd=folder,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if done():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.5)
        try:
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            reader.join(5)
            pytest.fail(f"the run did not end within {timeout:.0f} s:\n{''.join(lines)}")
        reader.join(10)
    out = "".join(lines)
    assert code == 0, out
    return out


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:  # SQLite's values
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


_FIGURES: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test wants a person to read (what the models did, rates, timings): shown in the
    session's summary, passed or failed, under the test's name."""
    lines: list[str] = []
    yield lines
    if lines:
        _FIGURES.extend([f"{request.node.name}:", *(f"  {line}" for line in lines)])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("what the real models did")
        for line in _FIGURES:
            terminalreporter.write_line(line)
