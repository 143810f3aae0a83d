"""Running an agent's program: one wasmtime Store per invocation, every limit enforced here.

The guest (``guest/guest.py``, CPython compiled to WebAssembly) has no import but the one
host call of ``guest/sandbox.wit``; WASI is stubbed out, so the file system, sockets, clocks
and processes trap rather than reach the machine. What bounds a program:

- **fuel**: executed wasm instructions, deterministic for the same program and input; nested
  invocations share the outer call's fuel, and every host call costs ``host_call_fuel``;
- **memory**: the linear memory of each Store (an allocation past it is a ``MemoryError``);
- **deadline**: wall-clock seconds, through epoch interruption (a ticker thread);
- **result size**, **host calls**, **nesting depth** and Python's recursion limit.

A Store is created, used and dropped on one thread; nested invocations run on the same
thread, inside the host call of the outer one. Host calls reach the :class:`Host` given to
:meth:`Sandbox.run`: nothing here knows about the ledger.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import wasmtime
from wasmtime import component as cm

from agent_ecology.sandbox.limits import Limits

__all__ = [
    "Failure",
    "Host",
    "HostRefusal",
    "Limits",
    "Outcome",
    "Sandbox",
    "engine_config",
]

TICK_S = 0.005  # the epoch ticker's period: the deadline's resolution
CHECK_FUEL = 2_000_000_000  # compiling a program of the largest size an artifact may have


# engine_config() as text, for the build's cache key (wasmtime's settings are write-only):
# change the two together.
ENGINE_SIGNATURE = "fuel,epoch,reservation=64MiB,guard=64KiB,may_move"


def engine_config() -> wasmtime.Config:
    """The engine settings a compiled sandbox is tied to (the build's cache key names them)."""
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    # Each Store reserves this much address space for its memory (not RAM): a small
    # reservation keeps many concurrent Stores within an RLIMIT_AS, at the price of moving
    # memory when it grows past it.
    cfg.memory_reservation = 1 << 26
    cfg.memory_guard_size = 1 << 16
    cfg.memory_may_move = True
    return cfg


class HostRefusal(Exception):
    """A host call the :class:`Host` refuses: the program sees a ``HostError`` with this
    message (and may catch it)."""


class Host(Protocol):
    """The invocation's side of the host calls: validates, stages and answers each."""

    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        """Answer host call ``name`` (JSON result), or raise :class:`HostRefusal`."""
        ...


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a program produced no result.

    ``limit`` names the sandbox limit that stopped it (``fuel``, ``deadline``, ``host_calls``,
    ``result_size``, ``forbidden``), or is None for the program's own exception (``kind`` is
    its type, ``line`` its line in the program).
    """

    kind: str
    message: str
    line: int | None = None
    limit: str | None = None

    def describe(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.kind}{where}: {self.message}" if self.message else f"{self.kind}{where}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.limit is not None:
            out["limit"] = self.limit
        return out


@dataclass(slots=True)
class Outcome:
    """What a run did: its JSON ``value`` or its ``failure``, the fuel it burnt (host calls
    and nested runs included) and its log lines."""

    value: Any = None
    failure: Failure | None = None
    fuel: int = 0
    wall_s: float = 0.0
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(slots=True)
class _Frame:
    store: wasmtime.Store
    host: Host
    depth: int
    deadline: float
    limits: Limits
    calls: list[int]  # shared by every frame of one invocation: host calls made
    logs: list[str]
    stop: Failure | None = None
    fuel_at_stop: int = 0

    def halt(self, failure: Failure) -> None:
        """Stop the program at its next instruction (its fuel is set to 0; what it used so far
        is kept), with ``failure`` as the reason. Nothing is raised through wasm: an exception
        escaping a host call would pass through wasmtime's process-wide last-error slot."""
        if self.stop is None:
            self.stop = failure
            self.fuel_at_stop = self.store.get_fuel()
        self.store.set_fuel(0)

    deadline_hit: bool = False

    def used(self, fuel: int) -> int:
        if self.deadline_hit:
            return fuel  # the epoch trap loses the count of a running loop: all of it
        return fuel - (self.fuel_at_stop if self.stop is not None else self.store.get_fuel())


_WARM_UP = "def main(args, host):\n    return {'ok': [args['x'] + 1, str(host.me)]}"
_WARM_CONTEXT = json.dumps(
    {
        "args": {"x": 1},
        "info": {"invoker": "", "owner": "", "me": "", "now": 0.0, "paid": 0, "price": 0},
        "seed": 0,
        "recursion": 200,
        "max_result": 1000,
    }
)


@dataclass(slots=True)
class _Prepared:
    """A fresh instance, warmed by one run of our own program (a new instance's first call
    costs about 1.5 ms more than later ones), never used by an agent's program before."""

    store: wasmtime.Store
    run: cm.Func
    memory_bytes: int


class Sandbox:
    """A loaded sandbox: check and run programs. Thread-safe; each run uses its own Store.

    ``prepared`` instances are kept warm by a background thread, so that a call does not
    wait for instantiation (each instance still serves exactly one run).
    """

    def __init__(self, compiled: Path, *, prepared: int = 2, memory_bytes: int = 64 << 20) -> None:
        self.engine = wasmtime.Engine(engine_config())
        self.component = cm.Component.deserialize_file(self.engine, str(compiled))
        self.linker = cm.Linker(self.engine)
        with self.linker.root() as root:
            root.add_func("host-call", self._host_call)
        self._local = threading.local()
        self._ticker: threading.Thread | None = None
        self._ticker_lock = threading.Lock()
        self._memory_bytes = memory_bytes
        self._ready: queue.Queue[_Prepared] = queue.Queue(maxsize=max(prepared, 1))
        self._preparing = prepared > 0
        self._preparer: threading.Thread | None = None

    # -- prepared instances --------------------------------------------------------------

    def _prepare(self, memory_bytes: int) -> _Prepared:
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=memory_bytes)
        store.set_fuel(CHECK_FUEL)
        store.set_epoch_deadline(1 << 40)
        instance = self.linker.instantiate(store, self.component)
        func = instance.get_func(store, "run")
        assert func is not None
        func(store, _WARM_UP, _WARM_CONTEXT)
        func.post_return(store)
        return _Prepared(store, func, memory_bytes)

    def _keep_prepared(self) -> None:
        while True:
            try:
                self._ready.put(self._prepare(self._memory_bytes))
            except Exception:  # pragma: no cover - a failure here shows in the next run
                time.sleep(1.0)

    def _take(self, memory_bytes: int) -> _Prepared:
        if self._preparing and memory_bytes == self._memory_bytes:
            if self._preparer is None:
                with self._ticker_lock:
                    if self._preparer is None:
                        self._preparer = threading.Thread(
                            target=self._keep_prepared, name="sandbox-prepare", daemon=True
                        )
                        self._preparer.start()
            try:
                return self._ready.get_nowait()
            except queue.Empty:
                pass
        return self._prepare(memory_bytes)

    # -- the epoch ticker: deadlines ----------------------------------------------------

    def _start_ticker(self) -> None:
        with self._ticker_lock:
            if self._ticker is not None:
                return
            engine = self.engine

            def tick() -> None:
                while True:
                    time.sleep(TICK_S)
                    engine.increment_epoch()

            self._ticker = threading.Thread(target=tick, name="sandbox-epoch", daemon=True)
            self._ticker.start()

    # -- checking ------------------------------------------------------------------------

    def check(self, source: str) -> str | None:
        """None if ``source`` compiles and defines ``main(args, host)``; else what is wrong
        (with its line).

        The sandbox's compiler (CPython 3.14) decides; but inside the sandbox CPython reports
        a syntax error by opening the program's file to quote its line, which traps. So the
        error's words come from this process's compiler (which runs nothing), and where the
        two disagree the sandbox wins (newer syntax it accepts is accepted).
        """
        here: str | None = None
        try:
            compile(source, "<artifact>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            here = f"{exc.msg} (line {exc.lineno})"
        except (ValueError, RecursionError, MemoryError) as exc:
            here = f"the program cannot be compiled: {exc}"
        store = self._store(Limits(), time.monotonic() + 10.0)
        store.set_fuel(CHECK_FUEL)
        instance = self.linker.instantiate(store, self.component)
        func = instance.get_func(store, "check")
        assert func is not None
        try:
            result = func(store, source)
            func.post_return(store)
        except wasmtime.WasmtimeError:
            if store.get_fuel() == 0:
                return "the program is too large or too deeply nested to compile"
            return here or "the sandbox's Python 3.14 cannot compile it (a syntax error)"
        return None if result is None else str(result)  # result<_, string>: None or the error

    # -- running -------------------------------------------------------------------------

    def _store(self, limits: Limits, deadline: float) -> wasmtime.Store:
        self._start_ticker()
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=limits.memory_bytes)
        store.set_epoch_deadline(max(1, math.ceil((deadline - time.monotonic()) / TICK_S)))
        return store

    def run(
        self,
        source: str,
        args: Mapping[str, Any],
        *,
        info: Mapping[str, Any],
        host: Host,
        limits: Limits,
        seed: int,
    ) -> Outcome:
        """Run ``main(args, host)`` of ``source`` (on this thread, to the end)."""
        started = time.monotonic()
        out = self._run(
            source,
            args,
            info=info,
            host=host,
            limits=limits,
            seed=seed,
            fuel=limits.fuel,
            depth=0,
            deadline=started + limits.deadline_s,
            calls=[0],
            logs=[],
        )
        out.wall_s = time.monotonic() - started
        return out

    def run_nested(
        self,
        source: str,
        args: Mapping[str, Any],
        *,
        info: Mapping[str, Any],
        host: Host,
        seed: int,
    ) -> Outcome:
        """From inside a host call: run another program with what is left of the outer
        invocation's fuel, deadline and host calls (the fuel it burns is the outer's)."""
        outer = self._frames()[-1]
        if outer.depth + 1 > outer.limits.max_depth:
            raise HostRefusal(
                f"nesting depth limit reached: an invocation may invoke others at most"
                f" {outer.limits.max_depth} deep"
            )
        left = outer.store.get_fuel()
        out = self._run(
            source,
            args,
            info=info,
            host=host,
            limits=outer.limits,
            seed=seed,
            fuel=left,
            depth=outer.depth + 1,
            deadline=outer.deadline,
            calls=outer.calls,
            logs=outer.logs,
        )
        outer.store.set_fuel(max(0, left - out.fuel))
        if out.failure is not None and out.failure.limit in _SHARED:
            # The outer call's budget is gone too: it stops with the same reason.
            outer.halt(out.failure)
        return out

    def _frames(self) -> list[_Frame]:
        frames: list[_Frame] | None = getattr(self._local, "frames", None)
        if frames is None:
            frames = self._local.frames = []
        return frames

    def _run(
        self,
        source: str,
        args: Mapping[str, Any],
        *,
        info: Mapping[str, Any],
        host: Host,
        limits: Limits,
        seed: int,
        fuel: int,
        depth: int,
        deadline: float,
        calls: list[int],
        logs: list[str],
    ) -> Outcome:
        self._start_ticker()
        try:
            prepared = self._take(limits.memory_bytes)
        except wasmtime.WasmtimeError as exc:
            return Outcome(
                failure=Failure(
                    "SandboxError",
                    f"a sandbox instance could not be made ({str(exc).splitlines()[0]}); is"
                    " sandbox.memory_mb large enough for the interpreter?",
                    limit="host",
                ),
                logs=logs,
            )
        store = prepared.store
        store.set_fuel(fuel)
        store.set_epoch_deadline(max(1, math.ceil((deadline - time.monotonic()) / TICK_S)))
        frame = _Frame(store, host, depth, deadline, limits, calls, logs)
        context = json.dumps(
            {
                "args": dict(args),
                "info": dict(info),
                "seed": seed,
                "recursion": limits.recursion,
                "max_result": limits.max_result_bytes,
            }
        )
        frames = self._frames()
        frames.append(frame)
        try:
            result = prepared.run(store, source, context)
            prepared.run.post_return(store)
        except wasmtime.WasmtimeError as exc:
            return Outcome(failure=self._trapped(frame, exc), fuel=frame.used(fuel), logs=logs)
        finally:
            frames.pop()
        used = frame.used(fuel)
        if frame.stop is not None:  # halted in its last host call, before another instruction
            return Outcome(failure=frame.stop, fuel=used, logs=logs)
        if result.tag == "err":
            failure = _program_failure(str(result.payload), limits)
            return Outcome(failure=failure, fuel=used, logs=logs)
        text = str(result.payload)
        if len(text.encode("utf-8")) > limits.max_result_bytes:
            return Outcome(
                failure=Failure(
                    "ResultTooLarge",
                    f"the result is {len(text.encode('utf-8')):,} bytes of JSON; the limit is"
                    f" {limits.max_result_bytes:,}",
                    limit="result_size",
                ),
                fuel=used,
                logs=logs,
            )
        try:
            value = json.loads(text, parse_constant=_no_constant)
            _shallow(value)
        except (ValueError, RecursionError) as exc:
            # The guest's encoder is the program's to tamper with: its text is checked here.
            return Outcome(
                failure=Failure(
                    "BadResult",
                    f"the program's result is not plain JSON ({type(exc).__name__}: {exc});"
                    " return numbers, strings, lists and objects, at most a few hundred deep",
                ),
                fuel=used,
                logs=logs,
            )
        return Outcome(value=value, fuel=used, logs=logs)

    def _trapped(self, frame: _Frame, exc: wasmtime.WasmtimeError) -> Failure:
        if frame.stop is not None:
            return frame.stop
        text = str(exc)
        if frame.store.get_fuel() == 0 or "all fuel consumed" in text:
            return _out_of_fuel(frame.limits)
        # The ticker may fire up to one tick before the deadline: the trap's own words say
        # it was the epoch (the deadline), whatever the clock reads now.
        if "interrupt" in text or time.monotonic() >= frame.deadline:
            frame.deadline_hit = True
            return Failure(
                "DeadlineExceeded",
                f"the program ran past its deadline of {frame.limits.deadline_s:g} s, and is"
                " charged its whole fuel budget (a loop stopped by the clock has not had all"
                " its instructions counted)",
                limit="deadline",
            )
        if "stack overflow" in text or "call stack exhausted" in text:
            return Failure(
                "StackOverflow",
                "the program's recursion overflowed the sandbox's stack",
                limit="stack",
            )
        return Failure(
            "Forbidden",
            "the program tried something the sandbox does not provide (the file system, the"
            " network, a clock, a process or native code); use the host API instead",
            limit="forbidden",
        )

    # -- the one door out ------------------------------------------------------------------

    def _host_call(self, _ctx: Any, name: str, payload: str) -> cm.Variant:
        # Everything is caught: nothing may unwind through wasm (see _Frame.halt).
        frames = self._frames()
        if not frames:
            return cm.Variant("err", "no invocation is running")
        frame = frames[-1]
        try:
            limits = frame.limits
            frame.calls[0] += 1
            if frame.calls[0] > limits.max_host_calls:
                frame.halt(
                    Failure(
                        "HostCallLimit",
                        f"the program made more than {limits.max_host_calls} host calls",
                        limit="host_calls",
                    )
                )
                return cm.Variant("err", "stopped: host call limit")
            left = frame.store.get_fuel()
            if left < limits.host_call_fuel:
                frame.halt(_out_of_fuel(limits))
                return cm.Variant("err", "stopped: out of fuel")
            frame.store.set_fuel(left - limits.host_call_fuel)
            try:
                request = json.loads(payload)
            except (ValueError, RecursionError):
                return cm.Variant("err", f"host.{name}: its arguments are not JSON")
            if not isinstance(request, dict):
                return cm.Variant("err", f"host.{name}: its arguments must be a JSON object")
            if name == "log":
                line = str(request.get("line", ""))[:500]
                if len(frame.logs) < 50:
                    frame.logs.append(line)
                return cm.Variant("ok", "null")
            try:
                answer = frame.host.call(name, request, frame.depth)
            except HostRefusal as refusal:
                return cm.Variant("err", str(refusal))
            return cm.Variant("ok", json.dumps(answer))
        except BaseException as exc:  # a bug on our side: stop the invocation and say so
            frame.halt(
                Failure("HostFailure", f"the host failed answering {name!r}: {exc!r}", limit="host")
            )
            return cm.Variant("err", "stopped: host failure")


_SHARED = frozenset({"fuel", "deadline", "host_calls", "host"})


def _out_of_fuel(limits: Limits) -> Failure:
    return Failure(
        "FuelExhausted",
        f"the program used all of its fuel ({limits.fuel:,} instructions)",
        limit="fuel",
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _program_failure(payload: str, limits: Limits) -> Failure:
    try:
        data = json.loads(payload)
        kind, message, line = str(data["type"])[:100], str(data["message"])[:500], data.get("line")
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError):
        return Failure("Error", payload[:500])
    return Failure(kind, message, line if isinstance(line, int) else None)


_RATE_PROGRAM = """
def main(args, host):
    total = 0
    for i in range(args["n"]):
        total += i * i % 7
    return total
"""


def measure_fuel_rate(sandbox: Sandbox, *, fuel: int = 100_000_000, repeats: int = 5) -> float:
    """Instructions per CPU-second on this machine: a CPU-bound program run ``repeats`` times
    on this thread, fuel burnt over the thread's CPU time; the median run (a shared machine's
    speed wanders by tens of percent from run to run). ``sandbox.fuel_per_second: auto``."""

    class _NoHost:
        def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
            raise HostRefusal("no host calls while calibrating")

    limits = Limits(fuel=fuel, deadline_s=60.0)
    rates = []
    for _ in range(repeats):
        started = time.thread_time()
        out = sandbox.run(
            _RATE_PROGRAM, {"n": 10**9}, info=_CALIBRATION_INFO, host=_NoHost(), limits=limits,
            seed=0,
        )  # fmt: skip
        seconds = time.thread_time() - started
        if seconds > 0:
            rates.append(out.fuel / seconds)
    if not rates:
        raise RuntimeError("could not measure the sandbox's speed (no CPU time measured)")
    return sorted(rates)[len(rates) // 2]


_CALIBRATION_INFO = {"invoker": "", "owner": "", "me": "", "now": 0.0, "paid": 0, "price": 0}


MAX_RESULT_DEPTH = 200
"""How deep a result's lists and objects may nest. Judged here, not by the host's recursion
limit (which a library in the same process may have raised), so that no result is too deep
for the code that later encodes it."""


def _shallow(value: Any) -> None:
    """Raise ValueError if ``value`` nests deeper than :data:`MAX_RESULT_DEPTH` (iteratively)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, list | dict):
            if depth > MAX_RESULT_DEPTH:
                raise ValueError(f"it nests more than {MAX_RESULT_DEPTH} lists or objects deep")
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
