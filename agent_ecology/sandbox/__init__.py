"""The sandbox: agents' programs, run as CPython compiled to WebAssembly under wasmtime.

``Sandbox`` (runner.py) checks and runs programs with hard limits (limits.py); ``build``
(builder.py) makes the compiled sandbox once and caches it; ``load`` does both.

wasmtime is imported on first use of anything here but :class:`Limits` (the config reads
the limits' defaults without loading the engine).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_ecology.sandbox.errors import SandboxBuildError
from agent_ecology.sandbox.limits import Limits

if TYPE_CHECKING:
    from agent_ecology.sandbox.builder import build, cache_dir, compiled_path
    from agent_ecology.sandbox.runner import (
        Failure,
        Host,
        HostRefusal,
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

_LAZY = {
    "build": "builder",
    "cache_dir": "builder",
    "compiled_path": "builder",
    "Failure": "runner",
    "Host": "runner",
    "HostRefusal": "runner",
    "Outcome": "runner",
    "Sandbox": "runner",
    "measure_fuel_rate": "runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


_LOADED: dict[tuple[Path, int, int], Sandbox] = {}
_RATES: dict[int, float] = {}


def load(cache: Path | None = None, *, prepared: int = 2, memory_bytes: int = 64 << 20) -> Sandbox:
    """The sandbox, built first (about 30 s, once) if the cache does not hold it.

    One per process and settings: a sandbox keeps a ticker thread and warm instances, so
    worlds opened one after another in a process share it.
    """
    import os
    import sys

    import wasmtime

    from agent_ecology.sandbox.builder import build, cache_dir
    from agent_ecology.sandbox.runner import Sandbox

    path = build(cache)
    key = (path, prepared, memory_bytes)
    if key not in _LOADED:
        try:
            _LOADED[key] = Sandbox(path, prepared=prepared, memory_bytes=memory_bytes)
        except wasmtime.WasmtimeError as exc:
            # Native code compiled for another CPU (an image built elsewhere): build it for
            # this one, where the cache can be written (else in the user's own cache).
            where = cache or cache_dir()
            if not os.access(where, os.W_OK):
                where = Path.home() / ".cache" / "agent-ecology" / "sandbox"
            print(
                f"sandbox: {path} does not load here ({str(exc).splitlines()[0]}); building it"
                f" for this machine in {where}",
                file=sys.stderr,
            )
            path = build(where, force=True)
            _LOADED[key] = Sandbox(path, prepared=prepared, memory_bytes=memory_bytes)
    return _LOADED[key]


def fuel_rate(sandbox: Sandbox) -> float:
    """:func:`measure_fuel_rate` of ``sandbox``, measured once per process."""
    from agent_ecology.sandbox.runner import measure_fuel_rate

    if id(sandbox) not in _RATES:
        _RATES[id(sandbox)] = measure_fuel_rate(sandbox)
    return _RATES[id(sandbox)]
