"""The real sandbox, loaded once per test session, and a small Host at its boundary.

``load()`` builds the compiled sandbox once per machine (about 30 s, with progress on
stderr) and caches it; every later session only deserializes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from agent_ecology.sandbox import HostRefusal, Limits, Outcome, Sandbox, load

INFO: dict[str, Any] = {
    "invoker": "alice",
    "owner": "bob",
    "me": "prog1",
    "now": 1_000_000.0,
    "paid": 0,
    "price": 0,
}

# Small budgets keep the suite fast: a runaway loop burns 50M instructions in ~30 ms.
SMALL = Limits(fuel=50_000_000)

# What the sandbox says when a program reaches past it (WASI is stubbed out: the call traps).
FORBIDDEN = "the program tried something the sandbox does not provide"

# A program's way past the import guard: a module reached through the object graph
# (os's own globals hold ``sys``), without any import statement.
ESCAPE = """
def reach(name):
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            return cls.__init__.__globals__["sys"].modules[name]
    raise LookupError(name)


def builtin(name):
    machinery = reach("importlib").machinery
    return reach("_imp").create_builtin(machinery.ModuleSpec(name, None))
"""

ESCAPE_LINES = ESCAPE.count("\n")

NORMAL = (
    "def main(args, host):\n"
    "    return {'sum': args['a'] + args['b'], 'balance': host.balance(), 'me': host.me}"
)


class FakeHost:
    """Answers ``read`` and ``balance``; ``invoke`` runs one of ``programs`` nested (through
    :meth:`Sandbox.run_nested`); refuses every other call."""

    def __init__(self, sandbox: Sandbox, programs: Mapping[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.programs = dict(programs or {})
        self.calls: list[tuple[str, int]] = []
        self.nested: list[Outcome] = []

    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        self.calls.append((name, depth))
        if name == "read":
            return {"id": payload["artifact_id"], "content": "hello", "offset": payload["offset"]}
        if name == "balance":
            return 42
        if name == "invoke":
            source = self.programs.get(payload["artifact_id"])
            if source is None:
                raise HostRefusal(f"no artifact {payload['artifact_id']!r}")
            out = self.sandbox.run_nested(
                source, payload["args"], info=INFO, host=self, seed=depth + 1
            )
            self.nested.append(out)
            if out.failure is not None:
                return {"failed": out.failure.to_json()}
            return {"value": out.value}
        raise HostRefusal(f"the fake host does not answer {name!r}")


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return load()


def run(
    sandbox: Sandbox,
    source: str,
    args: Mapping[str, Any] | None = None,
    *,
    limits: Limits = SMALL,
    host: FakeHost | None = None,
    seed: int = 0,
) -> Outcome:
    return sandbox.run(
        source,
        {} if args is None else args,
        info=INFO,
        host=FakeHost(sandbox) if host is None else host,
        limits=limits,
        seed=seed,
    )


def assert_unaffected(sandbox: Sandbox) -> None:
    """A normal program, run right after, still gets the right answer."""
    out = run(sandbox, NORMAL, {"a": 2, "b": 3})
    assert out.failure is None, out.failure
    assert out.value == {"sum": 5, "balance": 42, "me": "prog1"}
    assert out.fuel > 0
