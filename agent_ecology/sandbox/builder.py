"""Building the sandbox once, reproducibly, and finding it again.

Two steps, about 30 s on two cores, done once per set of inputs:

1. ``componentize-py`` turns ``guest/guest.py`` and ``guest/sandbox.wit`` into a WebAssembly
   component that bundles CPython, with WASI stubbed out (``--stub-wasi``): the component
   imports nothing but our host call.
2. wasmtime compiles the component to native code for this machine and serializes it.

The result lives in ``<cache>/<key>/sandbox.cwasm``, where ``key`` hashes everything the
file depends on (the guest's source and interface, the componentize-py and wasmtime versions,
the engine settings). A change to any of them makes a new key, so a stale build is never
loaded. ``cache`` is ``$AGENT_ECOLOGY_SANDBOX_CACHE`` or ``~/.cache/agent-ecology/sandbox``;
the container builds it at image build time (``agent-ecology build-sandbox``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from wasmtime import component as cm

from agent_ecology.sandbox.errors import SandboxBuildError
from agent_ecology.sandbox.runner import ENGINE_SIGNATURE, engine_config

__all__ = ["GUEST", "SandboxBuildError", "build", "cache_dir", "cache_key", "compiled_path"]

GUEST = Path(__file__).with_name("guest")
ALLOWED_FILE = Path(__file__).with_name("allowed.py")
CACHE_ENV = "AGENT_ECOLOGY_SANDBOX_CACHE"
# Bumped when the build steps themselves change in a way the inputs do not show.
RECIPE = "1"

Progress = Callable[[str], None]


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "agent-ecology" / "sandbox"


def cache_key() -> str:
    """A hash of every input the compiled sandbox depends on."""
    h = hashlib.sha256()
    for part in (
        RECIPE,
        (GUEST / "guest.py").read_text(encoding="utf-8"),
        (GUEST / "sandbox.wit").read_text(encoding="utf-8"),
        ALLOWED_FILE.read_text(encoding="utf-8"),
        importlib.metadata.version("componentize-py"),
        importlib.metadata.version("wasmtime"),
        ENGINE_SIGNATURE,
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def compiled_path(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / cache_key() / "sandbox.cwasm"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _ticking(label: str, progress: Progress, work: Callable[[], None]) -> float:
    """Run ``work``, saying every 5 s that it is still going; returns the seconds it took."""
    done = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        while not done.wait(5.0):
            progress(f"sandbox: {label}... {time.monotonic() - start:.0f} s")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        work()
    finally:
        done.set()
        ticker.join()
    return time.monotonic() - start


def build(cache: Path | None = None, *, progress: Progress = _stderr, force: bool = False) -> Path:
    """The compiled sandbox, built first if it is not in ``cache``. Returns its path."""
    target = compiled_path(cache)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"sandbox: building the Python sandbox once (about 30 s), cached in {target.parent}")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        for name in ("guest.py", "sandbox.wit"):
            shutil.copy(GUEST / name, work / name)
        shutil.copy(ALLOWED_FILE, work / "allowed.py")
        wasm = work / "sandbox.wasm"
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        command = [
            sys.executable,
            "-c",
            "import sys; from componentize_py import script;"
            " sys.argv[0] = 'componentize-py'; sys.exit(script())",
            "-d", "sandbox.wit", "-w", "sandbox", "--quiet",
            "componentize", "--stub-wasi", "-p", ".", "guest", "-o", str(wasm),
        ]  # fmt: skip
        failed: list[str] = []

        def componentize() -> None:
            proc = subprocess.run(
                command, cwd=work, env=env, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                text = (proc.stderr or proc.stdout).strip()
                # The guest's own traceback comes first; the native backtrace after it.
                failed.append(text.split("Stack backtrace:")[0].strip()[-3000:])

        took = _ticking(
            "step 1/2, CPython to WebAssembly (componentize-py)", progress, componentize
        )
        if failed:
            raise SandboxBuildError(
                f"componentize-py failed building the sandbox:\n{failed[0]}\nIs the venv"
                " complete? `make setup` installs the locked componentize-py."
            )
        progress(f"sandbox: step 1/2 done in {took:.0f} s ({wasm.stat().st_size >> 20} MiB)")
        out: list[bytearray] = []

        def compile_component() -> None:
            engine = wasmtime.Engine(engine_config())
            out.append(cm.Component.from_file(engine, str(wasm)).serialize())

        took = _ticking(
            "step 2/2, compiling to native code (wasmtime)", progress, compile_component
        )
        partial = work / "sandbox.cwasm"
        partial.write_bytes(bytes(out[0]))
        os.replace(partial, target)  # atomic: a reader never sees half a file
        progress(
            f"sandbox: step 2/2 done in {took:.0f} s; ready ({target.stat().st_size >> 20} MiB)"
        )
    return target
