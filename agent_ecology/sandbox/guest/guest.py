"""The guest: runs an agent's program inside the sandbox (CPython compiled to WebAssembly).

Built into a component by ``componentize-py`` (agent_ecology.sandbox.builder). Everything
imported here is imported at build time and snapshotted; a program may import only the
modules of ``ALLOWED``, and any import of a module that is not already loaded is refused
with an ImportError (loading one would need the file system, which the sandbox does not
have). The host (agent_ecology.sandbox.runner) enforces every limit; nothing here is trusted
to: this file only turns the guest's own failures into clean messages.
"""

import ast
import builtins
import gc
import json
import random
import sys

import wit_world
from allowed import ALLOWED  # copied in by the build from agent_ecology/sandbox
from componentize_py_types import Err

# Every allowed module is loaded now, at build time, into the snapshot each run starts from.
for _name in sorted(ALLOWED):
    __import__(_name)

PROGRAM = "<artifact>"
_real_import = builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    # Who imports is read from the calling frame, not from the globals argument (which a
    # program could fake): the program's own code runs with __name__ "__artifact__".
    try:
        caller = sys._getframe(1).f_globals.get("__name__")
    except ValueError:  # called from C with no Python frame: the interpreter's own import
        caller = None
    if level:
        raise ImportError("relative imports are not available in the sandbox")
    if caller == "__artifact__" and name not in ALLOWED:
        raise ImportError(
            f"module {name!r} is not available in the sandbox; allowed:"
            f" {', '.join(sorted(ALLOWED))}"
        )
    if name not in sys.modules:
        raise ImportError(f"module {name!r} is not available in the sandbox")
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import


def _no(what):
    def refuse(*args, **kwargs):
        raise PermissionError(f"{what} is not available in the sandbox")

    return refuse


_SAFE = dict(vars(builtins))
for _name, _what in (
    ("open", "the file system"),
    ("input", "input"),
    ("breakpoint", "the debugger"),
    ("exit", "exit"),
    ("quit", "exit"),
    ("help", "help"),
):
    _SAFE[_name] = _no(_what)


class HostError(Exception):
    """A host call was refused; the message says why."""


_SAFE["HostError"] = HostError


def _call(name, **payload):
    try:
        return json.loads(wit_world.host_call(name, json.dumps(payload)))
    except Err as e:
        raise HostError(e.value) from None


class Host:
    """What a program may do outside itself (ARTIFACTS.md section 5)."""

    __slots__ = ("invoker", "me", "now", "owner", "paid", "price")

    def __init__(self, info):
        self.invoker = info["invoker"]
        self.owner = info["owner"]
        self.me = info["me"]
        self.now = info["now"]
        self.paid = info["paid"]
        self.price = info["price"]

    def read(self, artifact_id, offset=0):
        return _call("read", artifact_id=artifact_id, offset=offset)

    def balance(self, principal=None):
        return _call("balance", principal=self.me if principal is None else principal)

    def get(self, key, default=None):
        found = _call("get", key=key)
        return default if found is None else found["value"]

    def set(self, key, value):
        _call("set", key=key, value=value)

    def delete(self, key):
        _call("set", key=key, value=None)

    def transfer(self, to, amount):
        return _call("transfer", to=to, amount=amount)

    def give(self, artifact_id, to):
        return _call("give", artifact_id=artifact_id, to=to)

    def invoke(self, artifact_id, args=None, pay=0):
        return _call("invoke", artifact_id=artifact_id, args={} if args is None else args, pay=pay)

    def log(self, *parts):
        _call("log", line=" ".join(str(p) for p in parts))


def _line(exc):
    # Walked by hand: the traceback module reads source files, which the sandbox has not.
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == PROGRAM:
        line = exc.lineno
    return line


def _failure(exc):
    message = str(exc) if not isinstance(exc, SyntaxError) else exc.msg
    return Err(
        json.dumps({"type": type(exc).__name__, "message": message[:500], "line": _line(exc)})
    )


class WitWorld(wit_world.WitWorld):
    def check(self, source):
        try:
            # The sandbox's own compiler is the judge (a syntax error here traps: CPython
            # opens the file to quote the line; the host then says what the error is).
            compile(source, PROGRAM, "exec", dont_inherit=True)
            tree = ast.parse(source, PROGRAM)
        except SyntaxError as e:
            raise Err(f"{e.msg} (line {e.lineno})") from None
        except (ValueError, MemoryError, RecursionError) as e:
            raise Err(f"{type(e).__name__}: {e}") from None
        mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        if not mains:
            raise Err("the program defines no top-level function main(args, host)")
        params = mains[-1].args
        if len(params.posonlyargs) + len(params.args) < 2 and params.vararg is None:
            raise Err(f"main must take two arguments, main(args, host) (line {mains[-1].lineno})")

    def run(self, source, context):
        ctx = json.loads(context)
        random.seed(ctx["seed"])
        sys.setrecursionlimit(ctx["recursion"])
        scope = {"__name__": "__artifact__", "__builtins__": _SAFE}
        try:
            exec(compile(source, PROGRAM, "exec"), scope)
            main = scope.get("main")
            if not callable(main):
                raise NameError("the program defines no function main(args, host)")
            result = main(ctx["args"], Host(ctx["info"]))
            out = json.dumps(result, allow_nan=False)
        except BaseException as e:  # the program's failure, reported to its invoker
            raise _failure(e) from None
        # The host judges the result's size (what the guest says of it is the program's).
        return out


# One run at build time, so that the snapshot holds an interpreter that has already been
# through a run's code paths (json, compile, exec) rather than a cold one.
for _ in range(3):
    WitWorld().run(
        "def main(args, host):\n    return {'ok': [args['x'] + 1, str(host.me)]}",
        json.dumps(
            {
                "args": {"x": 1},
                "info": {"invoker": "", "owner": "", "me": "", "now": 0.0, "paid": 0, "price": 0},
                "seed": 0,
                "recursion": 200,
                "max_result": 1000,
            }
        ),
    )
sys.setrecursionlimit(1000)

# Everything loaded so far is the snapshot every invocation starts from: frozen out of the
# collector's sight, so that a collection during a call does not walk (and fault in) the
# whole interpreter's heap.
gc.collect()
gc.freeze()
