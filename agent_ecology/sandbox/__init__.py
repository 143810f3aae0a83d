"""The sandbox: agents' programs, run as CPython compiled to WebAssembly under wasmtime.

``Sandbox`` (runner.py) checks and runs programs with hard limits; ``build`` (build.py)
makes the compiled sandbox once and caches it; ``load`` does both.
"""

from pathlib import Path

from agent_ecology.sandbox.build import SandboxBuildError, build, cache_dir, compiled_path
from agent_ecology.sandbox.runner import Failure, Host, HostRefusal, Limits, Outcome, Sandbox

__all__ = [
    "Failure",
    "Host",
    "HostRefusal",
    "Limits",
    "Outcome",
    "Sandbox",
    "SandboxBuildError",
    "build",
    "cache_dir",
    "compiled_path",
    "load",
]


def load(cache: Path | None = None) -> Sandbox:
    """The sandbox, built first (about 30 s, once) if the cache does not hold it."""
    return Sandbox(build(cache))
