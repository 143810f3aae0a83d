"""The sandbox's walls, tried through the real sandbox with a fake Host at the boundary.

Each test runs a hostile program and pins exactly what happens (the failure's kind, limit,
message and line), that the program was charged fuel, and that a normal program run right
after in the same Sandbox still gets the right answer.

Programs reach past the import guard through the object graph (``ESCAPE``: os's globals,
found from ``().__class__.__base__.__subclasses__()``, hold ``sys``, and ``sys.modules``
every module of the snapshot): the guard only words refusals; the wall is WASI, stubbed out
at build time, so what a module would ask the machine for traps instead.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from agent_ecology.sandbox import Limits, Outcome, Sandbox
from tests.sandbox.conftest import (
    ESCAPE,
    ESCAPE_LINES,
    FORBIDDEN,
    SMALL,
    FakeHost,
    assert_unaffected,
    run,
)

BODY = 2  # the line of main's first statement in program(...)

ALLOWED = (
    "base64, bisect, collections, collections.abc, copy, dataclasses, decimal, enum, fractions,"
    " functools, hashlib, heapq, itertools, json, math, operator, random, re, statistics,"
    " string, textwrap, typing"
)


def program(*body: str, escape: bool = False, head: str = "") -> str:
    """``main(args, host)`` with ``body`` (one statement a line), after ``ESCAPE`` if asked."""
    lines = "".join(f"    {line}\n" for line in body)
    return (ESCAPE if escape else "") + head + "def main(args, host):\n" + lines


def assert_failed(
    out: Outcome, kind: str, message: str, *, line: int | None, limit: str | None = None
) -> None:
    """``out`` failed with exactly this kind, limit and line, its message containing
    ``message``, and was charged fuel."""
    assert out.value is None
    assert out.failure is not None, out.value
    assert (out.failure.kind, out.failure.limit, out.failure.line) == (kind, limit, line), (
        out.failure
    )
    assert message in out.failure.message, out.failure.message
    assert out.fuel > 0


def assert_forbidden(out: Outcome) -> None:
    assert_failed(out, "Forbidden", FORBIDDEN, line=None, limit="forbidden")


def refused_import(name: str) -> str:
    return f"module {name!r} is not available in the sandbox; allowed: {ALLOWED}"


# -- the escape itself is real (so the tests below are not vacuous) ----------------------


def test_the_escape_reaches_the_real_os_module(sandbox: Sandbox) -> None:
    out = run(
        sandbox,
        program(
            "os = reach('os')",
            "return [os.__name__, os.name, os.getcwd(), os.getpid(), callable(os.open)]",
            escape=True,
        ),
    )
    # WASI libc answers these itself (no host call): a root cwd and a fixed pid.
    assert out.failure is None, out.failure
    assert out.value == ["os", "posix", "/", 42, True]
    assert out.fuel > 0
    assert_unaffected(sandbox)


def test_the_import_guard_words_refusals_but_is_not_the_wall(sandbox: Sandbox) -> None:
    # __import__ called by the program itself is refused, like an import statement ...
    out = run(sandbox, program("return __import__('os').name"))
    assert_failed(out, "ImportError", refused_import("os"), line=BODY)
    # ... but any module of the snapshot is a step away (the guard lets other modules import,
    # and the guest's own globals hold the real __import__); it still cannot reach out.
    for reach_os in (
        "reach('importlib').import_module('os')",
        "host.read.__globals__['_real_import']('os')",
    ):
        out = run(sandbox, program(f"return {reach_os}.name", escape=True))
        assert (out.value, out.failure) == ("posix", None)
        assert_forbidden(run(sandbox, program(f"return {reach_os}.listdir('/')", escape=True)))
    assert_unaffected(sandbox)


# -- the file system --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["r", "w", "rb"])
def test_builtin_open_is_refused(sandbox: Sandbox, mode: str) -> None:
    out = run(sandbox, program(f"return open('/etc/passwd', {mode!r}).read()"))
    assert_failed(
        out, "PermissionError", "the file system is not available in the sandbox", line=BODY
    )
    assert out.failure is not None
    assert out.failure.message == "the file system is not available in the sandbox"
    assert_unaffected(sandbox)


@pytest.mark.parametrize(
    "expr",
    [
        "reach('os').open('/etc/passwd', 0)",
        "reach('io').open('/etc/passwd').read()",
        "reach('_io').FileIO('/etc/passwd').read()",
        "reach('builtins').open('/etc/passwd').read()",
        "reach('os').stat('/etc/passwd')",
        "reach('_io').FileIO(0).read(10)",  # stdin
    ],
)
def test_reading_a_file_through_an_escape_traps(sandbox: Sandbox, expr: str) -> None:
    assert_forbidden(run(sandbox, program(f"return str({expr})", escape=True)))
    assert_unaffected(sandbox)


def test_writing_a_file_through_an_escape_traps(sandbox: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "written-by-the-sandbox"
    out = run(
        sandbox,
        program(f"reach('builtins').open({str(target)!r}, 'w').write('x')", escape=True),
    )
    assert_forbidden(out)
    assert not target.exists()
    assert_unaffected(sandbox)


@pytest.mark.parametrize(
    "expr",
    ["reach('os').listdir('/')", "reach('os').listdir('.')", "list(reach('os').scandir('/'))"],
)
def test_listing_a_directory_traps(sandbox: Sandbox, expr: str) -> None:
    assert_forbidden(run(sandbox, program(f"return str({expr})", escape=True)))
    assert_unaffected(sandbox)


# -- the network ------------------------------------------------------------------------


def test_importing_socket_is_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("import socket", "return 1"))
    assert_failed(out, "ImportError", refused_import("socket"), line=BODY)
    assert_unaffected(sandbox)


@pytest.mark.parametrize(
    ("expr", "kind", "message"),
    [
        # The builtin _socket module loads (it is compiled in), but has no socket type.
        ("builtin('_socket').socket()", "AttributeError", "has no attribute 'socket'"),
        ("builtin('_socket').getaddrinfo('127.0.0.1', 80)", "LookupError", "idna"),
        ("builtin('_socket').gethostbyname('localhost')", "LookupError", "idna"),
        ("builtin('_socket').dup(0)", "OSError", "Not supported"),
    ],
)
def test_a_socket_through_an_escape_does_not_exist(
    sandbox: Sandbox, expr: str, kind: str, message: str
) -> None:
    out = run(sandbox, program(f"return str({expr})", escape=True))
    assert_failed(out, kind, message, line=ESCAPE_LINES + BODY)
    assert_unaffected(sandbox)


def test_select_through_an_escape_traps(sandbox: Sandbox) -> None:
    assert_forbidden(
        run(sandbox, program("return str(builtin('select').select([], [], [], 0))", escape=True))
    )
    assert_unaffected(sandbox)


# -- processes --------------------------------------------------------------------------


def test_importing_subprocess_is_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("import subprocess", "return 1"))
    assert_failed(out, "ImportError", refused_import("subprocess"), line=BODY)
    assert_unaffected(sandbox)


def test_os_has_no_way_to_start_a_process(sandbox: Sandbox) -> None:
    names = ("system", "fork", "forkpty", "execv", "execve", "posix_spawn", "spawnv", "kill")
    out = run(
        sandbox,
        program(f"return [n for n in {names!r} if hasattr(reach('os'), n)]", escape=True),
    )
    assert (out.value, out.failure) == ([], None)
    out = run(sandbox, program("return reach('os').system('id')", escape=True))
    assert_failed(
        out, "AttributeError", "module 'os' has no attribute 'system'", line=ESCAPE_LINES + BODY
    )
    # os.popen exists (pure Python) but needs subprocess, which is not in the snapshot.
    out = run(sandbox, program("return reach('os').popen('id').read()", escape=True))
    assert_failed(
        out,
        "ImportError",
        "module 'subprocess' is not available in the sandbox",
        line=ESCAPE_LINES + BODY,
    )
    assert_unaffected(sandbox)


@pytest.mark.parametrize("expr", ["reach('os')._exit(3)", "reach('os').abort()"])
def test_exiting_the_process_traps_and_this_process_lives(sandbox: Sandbox, expr: str) -> None:
    pid = os.getpid()
    assert_forbidden(run(sandbox, program(expr, "return 1", escape=True)))
    assert os.getpid() == pid
    assert_unaffected(sandbox)


def test_system_exit_is_the_programs_own_failure(sandbox: Sandbox) -> None:
    out = run(sandbox, program("raise SystemExit(3)"))
    assert_failed(out, "SystemExit", "3", line=BODY)
    assert_unaffected(sandbox)


# -- native code ------------------------------------------------------------------------


def test_importing_ctypes_is_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("import ctypes", "return 1"))
    assert_failed(out, "ImportError", refused_import("ctypes"), line=BODY)
    assert_unaffected(sandbox)


def test_ctypes_through_an_escape_is_not_there(sandbox: Sandbox) -> None:
    # Not compiled in ...
    out = run(sandbox, program("return builtin('_ctypes') is None", escape=True))
    assert (out.value, out.failure) == (True, None)
    # ... no shared library can be loaded ...
    host_ctypes = "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so"
    out = run(
        sandbox,
        program(
            "spec = reach('importlib').machinery.ModuleSpec('_ctypes', None,"
            f" origin={host_ctypes!r})",
            "return str(reach('_imp').create_dynamic(spec))",
            escape=True,
        ),
    )
    assert_failed(out, "ImportError", "library not found", line=ESCAPE_LINES + BODY + 1)
    # ... and importing it for real would search the file system, which traps.
    assert_forbidden(
        run(sandbox, program("return str(reach('importlib').import_module('ctypes'))", escape=True))
    )
    assert_unaffected(sandbox)


# -- threads ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["_thread", "threading"])
def test_importing_threads_is_refused(sandbox: Sandbox, name: str) -> None:
    out = run(sandbox, program(f"import {name}", "return 1"))
    assert_failed(out, "ImportError", refused_import(name), line=BODY)
    assert_unaffected(sandbox)


def test_a_thread_through_an_escape_cannot_start(sandbox: Sandbox) -> None:
    out = run(sandbox, program("return reach('_thread').start_new_thread(len, ((),))", escape=True))
    assert_failed(out, "RuntimeError", "can't start new thread", line=ESCAPE_LINES + BODY)
    assert_unaffected(sandbox)


# -- the environment --------------------------------------------------------------------


def test_the_environment_through_an_escape_is_empty(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AE_SANDBOX_CANARY", "secret")
    out = run(
        sandbox,
        program(
            "os = reach('os')",
            "return [dict(os.environ), os.getenv('AE_SANDBOX_CANARY'), os.getenv('HOME')]",
            escape=True,
        ),
    )
    assert (out.value, out.failure) == ([{}, None, None], None)
    assert out.fuel > 0
    assert_unaffected(sandbox)


# -- clocks and entropy -----------------------------------------------------------------


def test_importing_time_is_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("import time", "return 1"))
    assert_failed(out, "ImportError", refused_import("time"), line=BODY)
    assert_unaffected(sandbox)


@pytest.mark.parametrize("call", ["time()", "time_ns()", "monotonic()", "perf_counter()"])
def test_reading_the_clock_through_an_escape_traps(sandbox: Sandbox, call: str) -> None:
    assert_forbidden(run(sandbox, program(f"return reach('time').{call}", escape=True)))
    assert_unaffected(sandbox)


def test_sleeping_through_an_escape_traps_at_once(sandbox: Sandbox) -> None:
    started = time.monotonic()
    assert_forbidden(run(sandbox, program("reach('time').sleep(5)", "return 1", escape=True)))
    assert time.monotonic() - started < 1.0
    assert_unaffected(sandbox)


def test_seeding_random_from_the_system_traps(sandbox: Sandbox) -> None:
    # random.seed() with no argument asks the OS for entropy (then the clock): both trap.
    assert_forbidden(
        run(sandbox, program("random.seed()", "return random.random()", head="import random\n"))
    )
    assert_forbidden(run(sandbox, program("return str(reach('os').urandom(4))", escape=True)))
    assert_unaffected(sandbox)


def test_print_traps_for_there_is_no_stdout(sandbox: Sandbox) -> None:
    # print() writes to a stdout WASI does not provide; host.log is the way to say something.
    assert_forbidden(run(sandbox, program("print('hello')", "return 1")))
    out = run(sandbox, program("host.log('hello', 1)", "return 1"))
    assert (out.value, out.failure, out.logs) == (1, None, ["hello 1"])
    assert_unaffected(sandbox)


# -- imports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["os", "sys", "socket", "subprocess", "pickle", "importlib", "gc", "inspect"]
)
def test_importing_outside_the_allowed_set_is_a_clean_import_error(
    sandbox: Sandbox, name: str
) -> None:
    out = run(sandbox, f"import {name}\n" + program("return 1"))
    assert_failed(out, "ImportError", refused_import(name), line=1)
    assert out.failure is not None
    assert out.failure.message == refused_import(name)
    out = run(sandbox, program(f"from {name} import __doc__", "return 1"))
    assert_failed(out, "ImportError", refused_import(name), line=BODY)
    assert_unaffected(sandbox)


def test_relative_imports_are_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("from . import guest", "return 1"))
    assert_failed(out, "ImportError", "relative imports are not available", line=BODY)
    assert_unaffected(sandbox)


@pytest.mark.parametrize("name", ALLOWED.split(", "))
def test_every_allowed_module_imports(sandbox: Sandbox, name: str) -> None:
    out = run(sandbox, f"import {name}\n" + program("return 1"))
    assert (out.value, out.failure) == (1, None)


# -- fuel, deadline, memory -------------------------------------------------------------


def test_an_infinite_loop_stops_at_exactly_its_fuel(sandbox: Sandbox) -> None:
    out = run(sandbox, program("n = 0", "while True:", "    n += 1"))
    assert_failed(
        out,
        "FuelExhausted",
        "the program used all of its fuel (50,000,000 instructions)",
        line=None,
        limit="fuel",
    )
    assert out.fuel == SMALL.fuel
    assert_unaffected(sandbox)


def test_a_deadline_stops_a_program_with_fuel_to_spare(sandbox: Sandbox) -> None:
    # Half a second: a hundred ticks of the epoch ticker, whose lateness (each sleep of 5 ms
    # oversleeps a little) outweighs its phase (see the short deadline below).
    limits = Limits(fuel=10**13, deadline_s=0.5)
    started = time.monotonic()
    out = run(sandbox, program("n = 0", "while True:", "    n += 1"), limits=limits)
    took = time.monotonic() - started
    assert_failed(
        out,
        "DeadlineExceeded",
        "the program ran past its deadline of 0.5 s, and is charged its whole fuel budget",
        line=None,
        limit="deadline",
    )
    # The ticker may fire up to one 5 ms tick early.
    assert limits.deadline_s - 0.01 <= out.wall_s <= took < limits.deadline_s + 0.5
    # A loop stopped by the clock has not had all its instructions counted: it is charged
    # everything it was allowed.
    assert out.fuel == limits.fuel
    assert_unaffected(sandbox)


def test_a_short_deadline_is_always_reported_as_the_deadline(sandbox: Sandbox) -> None:
    limits = Limits(fuel=10**13, deadline_s=0.005)
    source = program("n = 0", "while True:", "    n += 1")
    found = Counter(
        out.failure.limit if out.failure else None
        for out in (run(sandbox, source, limits=limits) for _ in range(60))
    )
    assert found == {"deadline": 60}, found


def test_a_call_free_loop_stopped_by_the_deadline_is_charged(sandbox: Sandbox) -> None:
    # Such a loop keeps its fuel count where the epoch trap loses it; the whole budget is
    # charged instead.
    limits = Limits(fuel=10**13, deadline_s=0.25)
    out = run(sandbox, program("while True:", "    pass"), limits=limits)
    assert out.failure is not None and out.failure.limit == "deadline"
    assert out.fuel == limits.fuel


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (("x = ' ' * (200 << 20)", "return len(x)"), BODY),
        (("x = bytearray(100 << 20)", "return len(x)"), BODY),
        (("x = []", "while True:", "    x.append(' ' * 100_000)"), BODY + 2),
        (("return len([0] * 10**8)",), BODY),
    ],
)
def test_a_memory_bomb_is_a_memory_error(
    sandbox: Sandbox, body: tuple[str, ...], line: int
) -> None:
    out = run(sandbox, program(*body), limits=Limits(fuel=1_000_000_000))
    assert_failed(out, "MemoryError", "", line=line)
    assert out.failure is not None and out.failure.message == ""
    assert_unaffected(sandbox)


def test_memory_below_the_limit_is_usable(sandbox: Sandbox) -> None:
    out = run(sandbox, program("return len(bytearray(32 << 20))"))
    assert (out.value, out.failure) == (32 << 20, None)


# -- results ----------------------------------------------------------------------------


def test_a_huge_result_is_refused(sandbox: Sandbox) -> None:
    out = run(sandbox, program("return 'x' * 100_000"))
    assert_failed(
        out,
        "ResultTooLarge",
        "the result is 100,002 bytes of JSON; the limit is 16,384",
        line=None,
        limit="result_size",
    )
    # Just over the limit too (a list of 17 strings of 1,000 characters: 17,068 of JSON).
    out = run(sandbox, program("return ['x' * 1000] * 17"))
    assert_failed(out, "ResultTooLarge", "17,068 bytes", line=None, limit="result_size")
    assert_unaffected(sandbox)


def test_a_result_that_is_not_json_is_the_programs_error(sandbox: Sandbox) -> None:
    out = run(sandbox, program("return {1, 2}"))
    assert_failed(out, "TypeError", "not JSON serializable", line=None)
    out = run(sandbox, program("return float('nan')"))
    assert_failed(out, "ValueError", "not JSON compliant", line=None)
    assert_unaffected(sandbox)


# The program controls the result's JSON text (json is the guest's own module, and
# sys.setrecursionlimit is reachable): the host checks what it decodes.
@pytest.mark.parametrize(
    "source",
    [
        # 1,000 nested lists: 2,000 bytes of JSON, too deep for the host's json.loads.
        program(
            "reach('sys').setrecursionlimit(5000)",
            "x = []",
            "for _ in range(1000):",
            "    x = [x]",
            "return x",
            escape=True,
        ),
        program("json.dumps = lambda *a, **k: 'not json'", "return 1", head="import json\n"),
    ],
    ids=["nested", "not-json"],
)
def test_a_result_text_the_host_cannot_decode_is_a_failure(sandbox: Sandbox, source: str) -> None:
    out = run(sandbox, source)
    assert out.failure is not None and out.failure.kind == "BadResult", out
    assert out.fuel > 0
    assert_unaffected(sandbox)


def test_a_nan_result_text_is_a_failure(sandbox: Sandbox) -> None:
    out = run(
        sandbox, program("json.dumps = lambda *a, **k: 'NaN'", "return 1", head="import json\n")
    )
    assert out.failure is not None and out.failure.kind == "BadResult", out.value
    assert "NaN is not JSON" in out.failure.message


def test_a_program_cannot_pose_as_a_sandbox_limit(sandbox: Sandbox) -> None:
    out = run(
        sandbox,
        program(
            "raise ResultTooLarge('fake')", head="class ResultTooLarge(Exception):\n    pass\n"
        ),
    )
    assert out.failure is not None
    assert out.failure.limit is None, out.failure


# -- recursion --------------------------------------------------------------------------


def test_deep_recursion_is_a_recursion_error(sandbox: Sandbox) -> None:
    out = run(sandbox, program("return f(0)", head="def f(n):\n    return f(n + 1)\n"))
    assert_failed(out, "RecursionError", "maximum recursion depth exceeded", line=2)
    assert_unaffected(sandbox)


def test_recursion_past_a_raised_limit_overflows_the_stack_cleanly(sandbox: Sandbox) -> None:
    out = run(
        sandbox,
        program(
            "reach('sys').setrecursionlimit(10**6)",
            "return f(0)",
            escape=True,
            head="def f(n):\n    return f(n + 1)\n",
        ),
        limits=Limits(fuel=2_000_000_000),
    )
    assert_failed(
        out,
        "StackOverflow",
        "the program's recursion overflowed the sandbox's stack",
        line=None,
        limit="stack",
    )
    assert_unaffected(sandbox)


# -- host calls -------------------------------------------------------------------------


def test_host_calls_answer_and_refuse(sandbox: Sandbox) -> None:
    host = FakeHost(sandbox)
    out = run(sandbox, program("return [host.read('a1', 3), host.balance()]"), host=host)
    assert (out.value, out.failure) == ([{"id": "a1", "content": "hello", "offset": 3}, 42], None)
    assert host.calls == [("read", 0), ("balance", 0)]
    out = run(sandbox, program("return host.transfer('bob', 1)"))
    assert_failed(out, "HostError", "the fake host does not answer 'transfer'", line=BODY)
    assert_unaffected(sandbox)


@pytest.mark.parametrize(
    "body",
    [
        ("while True:", "    host.balance()"),
        (
            "while True:",
            "    try:",
            "        host.balance()",
            "    except HostError:",
            "        pass",
        ),
    ],
    ids=["plain", "catching"],
)
def test_host_call_spam_stops_at_the_limit(sandbox: Sandbox, body: tuple[str, ...]) -> None:
    host = FakeHost(sandbox)
    out = run(sandbox, program(*body), host=host)
    assert_failed(
        out,
        "HostCallLimit",
        "the program made more than 200 host calls",
        line=None,
        limit="host_calls",
    )
    assert len(host.calls) == SMALL.max_host_calls  # the one past the limit never arrives
    assert out.fuel >= SMALL.max_host_calls * SMALL.host_call_fuel
    assert_unaffected(sandbox)


# -- nesting ----------------------------------------------------------------------------

NEST = program(
    "return {'depth': args['depth'], 'inner': host.invoke('nest', {'depth': args['depth'] + 1})}"
)


def test_nesting_past_the_depth_is_refused(sandbox: Sandbox) -> None:
    host = FakeHost(sandbox, {"nest": NEST})
    out = run(sandbox, NEST, {"depth": 0}, host=host)
    refusal = (
        "nesting depth limit reached: an invocation may invoke others at most"
        f" {SMALL.max_depth} deep"
    )
    # Depths 0, 1 and 2 invoke; depth 3's invoke is refused, which it does not catch.
    assert out.failure is None, out.failure
    assert out.value == {
        "depth": 0,
        "inner": {
            "value": {
                "depth": 1,
                "inner": {
                    "value": {
                        "depth": 2,
                        "inner": {
                            "failed": {"type": "HostError", "message": refusal, "line": BODY}
                        },
                    }
                },
            }
        },
    }
    assert host.calls == [("invoke", 0), ("invoke", 1), ("invoke", 2), ("invoke", 3)]
    assert [o.failure.kind if o.failure else None for o in host.nested] == ["HostError", None, None]
    # Each run's fuel includes the runs it invoked.
    assert out.fuel > host.nested[2].fuel > host.nested[1].fuel > host.nested[0].fuel > 0
    assert_unaffected(sandbox)


def test_a_nested_runaway_stops_the_outer_invocation(sandbox: Sandbox) -> None:
    host = FakeHost(sandbox, {"loop": program("while True:", "    pass")})
    out = run(sandbox, program("host.invoke('loop')", "return 'unreachable'"), host=host)
    assert_failed(
        out,
        "FuelExhausted",
        "the program used all of its fuel (50,000,000 instructions)",
        line=None,
        limit="fuel",
    )
    assert out.fuel == SMALL.fuel
    [inner] = host.nested
    assert inner.failure is not None and inner.failure.limit == "fuel"
    assert 0 < inner.fuel < SMALL.fuel
    assert_unaffected(sandbox)


def test_a_deep_result_is_refused_even_when_the_hosts_recursion_limit_is_high(
    sandbox: Sandbox,
) -> None:
    # A library in the runtime's process may raise the limit (the full suite once did): the
    # depth is judged by the sandbox itself, not by json.loads running out of recursion.
    deep = program("x = []", "for _ in range(300):", "    x = [x]", "return x")
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        out = run(sandbox, deep)
    finally:
        sys.setrecursionlimit(before)
    assert out.failure is not None and out.failure.kind == "BadResult", out
    assert "nests more than 200 lists or objects deep" in out.failure.message
    ok = run(sandbox, program("x = []", "for _ in range(150):", "    x = [x]", "return x"))
    assert ok.failure is None
