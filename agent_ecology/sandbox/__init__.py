"""The sandbox: agents' programs, run as CPython compiled to WebAssembly under wasmtime.

``Sandbox`` (runner.py) checks and runs programs with hard limits; ``build`` (build.py)
makes the compiled sandbox once and caches it; ``load`` does both.
"""

from pathlib import Path

from agent_ecology.sandbox.build import SandboxBuildError, build, cache_dir, compiled_path
from agent_ecology.sandbox.runner import (
    Failure,
    Host,
    HostRefusal,
    Limits,
    Outcome,
    Sandbox,
    measure_fuel_rate,
)

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
    "fuel_rate",
    "load",
    "measure_fuel_rate",
]


_LOADED: dict[tuple[Path, int, int], Sandbox] = {}
_RATES: dict[int, float] = {}


def load(cache: Path | None = None, *, prepared: int = 2, memory_bytes: int = 64 << 20) -> Sandbox:
    """The sandbox, built first (about 30 s, once) if the cache does not hold it.

    One per process and settings: a sandbox keeps a ticker thread and warm instances, so
    worlds opened one after another in a process share it.
    """
    path = build(cache)
    key = (path, prepared, memory_bytes)
    if key not in _LOADED:
        _LOADED[key] = Sandbox(path, prepared=prepared, memory_bytes=memory_bytes)
    return _LOADED[key]


def fuel_rate(sandbox: Sandbox) -> float:
    """:func:`measure_fuel_rate` of ``sandbox``, measured once per process."""
    if id(sandbox) not in _RATES:
        _RATES[id(sandbox)] = measure_fuel_rate(sandbox)
    return _RATES[id(sandbox)]
