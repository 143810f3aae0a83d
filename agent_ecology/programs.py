"""Agents' programs: writing them (compiled in the sandbox first) and invoking them.

:class:`Programs` joins the sandbox (:mod:`agent_ecology.sandbox`, which knows nothing of the
ledger) and the ledger's program operations (:mod:`agent_ecology.ledger.ops.programs`). An
invocation is:

1. ``StartInvocation``: the invoker's ``pay`` and the sandbox's memory limit are held, an
   invoker in compute debt is refused;
2. the run, on a worker thread: every host call the program makes is answered by a
   :class:`_Staging` of this invocation, which reads the ledger and *stages* moves (nothing
   is written while the program runs);
3. ``FinishInvocation``: the fuel burnt is charged as ``compute`` (fuel x the calibrated
   seconds per instruction, into debt if need be) and, if the program returned, everything
   it staged commits in one transaction; if it raised or hit a limit, none of it does.

The sandbox holds no database handle and no secret: its only door out is the host call,
whose answers come from here.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from agent_ecology.clock import Clock
from agent_ecology.ledger import Ledger, LedgerError, ops
from agent_ecology.ledger.errors import UnknownArtifact, UnknownPrincipal
from agent_ecology.ledger.ops.artifacts import WriteArtifactDetails
from agent_ecology.ledger.ops.programs import MAX_STATE_KEYS, MAX_STATE_VALUE
from agent_ecology.sandbox import Failure, HostRefusal, Limits, Outcome, Sandbox

__all__ = ["InvokeResult", "ProgramError", "Programs"]

READ_CAP = 4_000
"""The most characters of an artifact one ``host.read`` returns (page with ``offset``)."""
MAX_KEY = 200


class ProgramError(ValueError):
    """A program could not be written (it does not compile, or defines no main)."""

    code = "program_invalid"


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """What an invocation did, as its invoker is told."""

    invocation_id: str
    ok: bool
    value: Any
    failure: Failure | None
    fuel: int
    compute_seconds: float
    price_paid: int
    logs: list[str]
    compute_balance: float | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "invocation_id": self.invocation_id,
            "fuel": self.fuel,
            "compute_seconds": round(self.compute_seconds, 6),
        }
        if self.ok:
            out["result"] = self.value
            out["price_paid"] = self.price_paid
        elif self.failure is not None:
            out["error"] = self.failure.to_json()
        if self.logs:
            out["logs"] = self.logs
        if self.compute_balance is not None:
            out["compute_balance"] = round(self.compute_balance, 6)
        return out


@dataclass(slots=True)
class _Ledgerview:
    """What one invocation (all its nested calls) has staged so far."""

    ledger: Ledger
    effects: list[dict[str, Any]] = field(default_factory=list)
    scrip: dict[str, int] = field(default_factory=dict)  # accounts read, with staged changes
    owners: dict[str, str] = field(default_factory=dict)  # artifacts given, to whom
    state: dict[tuple[str, str], str | None] = field(default_factory=dict)
    tools: dict[str, int] | None = None
    """A task's case (not None): the programs it may call, with the prices the submission
    paid for them; nothing it stages (moves, gifts, stored state) is ever kept."""

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return anyio.from_thread.run(lambda: fn(*args, **kwargs))

    def balance(self, account: str) -> int:
        if account not in self.scrip:
            try:
                self.scrip[account] = int(self.read(self.ledger.scrip, account))
            except UnknownPrincipal:
                self.scrip[account] = 0
        return self.scrip[account]

    def mark(self) -> tuple[int, dict[str, int], dict[str, str], dict[tuple[str, str], Any]]:
        return len(self.effects), dict(self.scrip), dict(self.owners), dict(self.state)

    def undo(self, mark: tuple[int, dict[str, int], dict[str, str], dict[Any, Any]]) -> None:
        del self.effects[mark[0] :]
        self.scrip, self.owners, self.state = mark[1], mark[2], mark[3]


class _Staging:
    """The host side of one program's frame: answers its host calls (section 5)."""

    def __init__(
        self, programs: Programs, view: _Ledgerview, info: Mapping[str, Any], seed: int
    ) -> None:
        self.programs = programs
        self.view = view
        self.info = info
        self.me = str(info["me"])
        self.seed = seed

    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        handler = getattr(self, f"_h_{name}", None)
        if handler is None:
            raise HostRefusal(
                f"there is no host call {name!r}; host offers read, balance, get, set, delete,"
                " transfer, give, invoke and log"
            )
        try:
            return handler(payload)
        except LedgerError as exc:
            raise HostRefusal(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise HostRefusal(f"bad arguments to host.{name}: {exc}") from None

    # reads

    def _h_read(self, p: Mapping[str, Any]) -> dict[str, Any]:
        artifact_id = _text(p.get("artifact_id"), "artifact_id")
        offset = p.get("offset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise HostRefusal("offset must be a whole number >= 0")
        art = self.view.read(self.view.ledger.artifact, artifact_id)
        piece = art.content[offset : offset + READ_CAP]
        out = {
            "artifact_id": art.id,
            "owner": self.view.owners.get(art.id, art.owner_id),
            "executable": art.executable,
            "content": piece,
        }
        if offset + len(piece) < len(art.content):
            out["next_offset"] = offset + len(piece)
        return out

    def _h_balance(self, p: Mapping[str, Any]) -> dict[str, Any]:
        principal = _text(p.get("principal"), "principal")
        if principal in self.view.scrip:
            return {"principal": principal, "scrip": self.view.scrip[principal]}
        account = self.view.read(self.view.ledger.account, principal)
        out: dict[str, Any] = {"principal": principal, "scrip": account.principal.scrip}
        for h in account.stock:
            out[h.resource] = {"quota": h.quota, "used": h.used}
        for b in account.flow:
            out[b.resource] = {"balance": b.balance, "rate": b.rate, "capacity": b.capacity}
        return out

    def _h_get(self, p: Mapping[str, Any]) -> dict[str, Any] | None:
        key = _key(p.get("key"))
        if (self.me, key) in self.view.state:
            text = self.view.state[(self.me, key)]
        else:
            text = self.view.read(self.view.ledger.program_state, self.me, key)
            # What was read must still hold when the call commits: two calls of one program
            # at once cannot both act on the same stored value.
            self.view.state[(self.me, key)] = text
            self.view.effects.append(
                {"op": "expect", "artifact_id": self.me, "key": key, "value": text}
            )
        return None if text is None else {"value": json.loads(text)}

    # its own state

    def _h_set(self, p: Mapping[str, Any]) -> None:
        key = _key(p.get("key"))
        value = p.get("value")
        text = None if value is None else json.dumps(value)
        if text is not None and len(text) > MAX_STATE_VALUE:
            raise HostRefusal(
                f"a stored value is at most {MAX_STATE_VALUE} characters of JSON; this one is"
                f" {len(text)}"
            )
        staged = sum(1 for (a, _k), v in self.view.state.items() if a == self.me and v is not None)
        if text is not None and staged >= MAX_STATE_KEYS:
            raise HostRefusal(f"a program stores at most {MAX_STATE_KEYS} keys")
        self.view.state[(self.me, key)] = text
        self.view.effects.append({"op": "state", "artifact_id": self.me, "key": key,
                                  "value": text})  # fmt: skip

    # moves, from its own account only

    def _h_transfer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        to = _text(p.get("to"), "to")
        amount = p.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise HostRefusal(f"amount must be a whole number of scrip > 0, got {amount!r}")
        have = self.view.balance(self.me)
        if amount > have:
            raise HostRefusal(
                f"{self.me} holds {have} scrip; it cannot transfer {amount} (a program moves"
                " only what its own account holds)"
            )
        if to == self.me:
            raise HostRefusal("a program cannot transfer to itself")
        self._receiver(to)
        self.view.scrip[self.me] = have - amount
        if to in self.view.scrip:
            self.view.scrip[to] += amount
        self.view.effects.append({"op": "transfer", "from": self.me, "to": to, "amount": amount})
        return {"scrip_left": have - amount}

    def _h_give(self, p: Mapping[str, Any]) -> dict[str, Any]:
        artifact_id = _text(p.get("artifact_id"), "artifact_id")
        to = _text(p.get("to"), "to")
        owner = self.view.owners.get(artifact_id)
        if owner is None:
            owner = self.view.read(self.view.ledger.artifact, artifact_id).owner_id
        if owner != self.me:
            raise HostRefusal(f"{artifact_id!r} is not held by {self.me}; a program gives only"
                              " what its account holds")  # fmt: skip
        self._receiver(to)
        self.view.owners[artifact_id] = to
        self.view.effects.append({"op": "give", "from": self.me, "artifact_id": artifact_id,
                                  "to": to})  # fmt: skip
        return {"given": artifact_id, "to": to}

    def _receiver(self, to: str) -> None:
        """Refuse at once what the ledger would refuse at the end (ops.check_receiver's
        rule): the genesis holders, and system principals that are not programs."""
        if to in (ops.ESCROW, ops.ORACLE, ops.SANDBOX):
            raise HostRefusal(f"{to!r} takes nothing directly; pay agents or programs")
        principal = self.view.read(self.view.ledger.principal, to)
        if principal.kind == "system":
            try:
                is_program = self.view.read(self.view.ledger.artifact, to).executable
            except UnknownArtifact:
                is_program = False
            if not is_program:
                raise HostRefusal(f"{to!r} is a system principal: what is sent would strand")

    def _h_invoke(self, p: Mapping[str, Any]) -> Any:
        target = _text(p.get("artifact_id"), "artifact_id")
        args = p.get("args") or {}
        pay = p.get("pay", 0)
        if not isinstance(args, dict):
            raise HostRefusal("args must be a JSON object")
        if not isinstance(pay, int) or isinstance(pay, bool) or pay < 0:
            raise HostRefusal(f"pay must be a whole number of scrip >= 0, got {pay!r}")
        try:
            art = self.view.read(self.view.ledger.artifact, target)
        except UnknownArtifact:
            raise HostRefusal(f"there is no artifact {target!r}") from None
        if not art.executable:
            raise HostRefusal(f"{target!r} is not a program")
        price = art.price
        tools = self.view.tools
        if tools is not None:
            if target not in tools:
                raise HostRefusal(
                    f"while a task's cases run, a program may call only the tools the"
                    f" submission names, and {target} is not one: submit with tools"
                    f" [{', '.join(repr(t) for t in [*tools, target])}]"
                )
            price = tools[target]  # paid for every case when the submission started
        if pay < price:
            raise HostRefusal(f"{target} costs {price} scrip per call; pay at least that")
        mark = self.view.mark()
        if tools is None:
            have = self.view.balance(self.me)
            if pay > have:
                raise HostRefusal(f"{self.me} holds {have} scrip; it cannot pay {pay}")
            self.view.scrip[self.me] = have - pay
            self.view.effects.append(
                {"op": "invoke", "from": self.me, "artifact_id": target, "pay": pay,
                 "price": price}
            )  # fmt: skip
            self.view.scrip[target] = self.view.balance(target) + (pay - price)
            if art.owner_id in self.view.scrip:
                self.view.scrip[art.owner_id] += price
        info = {
            "invoker": self.me,
            "owner": art.owner_id,
            "me": target,
            "now": self.info["now"],
            "paid": pay - price,
            "price": price,
        }
        child = _Staging(self.programs, self.view, info, self.seed + 1)
        out = self.programs.sandbox.run_nested(
            art.content, args, info=info, host=child, seed=self.seed + 1
        )
        if not out.ok:
            self.view.undo(mark)
            assert out.failure is not None
            raise HostRefusal(f"{target} failed, so nothing it did happened: "
                              f"{out.failure.describe()}")  # fmt: skip
        return out.value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise HostRefusal(f"{name} must be a non-empty string, got {value!r}")
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise HostRefusal(f"a key is a string of 1 to {MAX_KEY} characters, got {value!r}")
    return value


class _NoHost:
    def call(self, name: str, payload: Mapping[str, Any], depth: int) -> Any:
        raise HostRefusal("this program runs with no host: it only computes")


class Programs:
    """Writes and invokes agents' programs. ``seconds_per_fuel`` converts fuel to compute."""

    def __init__(
        self,
        ledger: Ledger,
        sandbox: Sandbox,
        clock: Clock,
        *,
        limits: Limits,
        seconds_per_fuel: float,
        workers: int = 2,
    ) -> None:
        self.ledger = ledger
        self.sandbox = sandbox
        self.clock = clock
        self.limits = limits
        self.seconds_per_fuel = seconds_per_fuel
        self._workers = anyio.CapacityLimiter(max(1, workers))

    async def check(self, source: str) -> None:
        """Raise :class:`ProgramError` unless ``source`` compiles and defines main."""
        problem = await anyio.to_thread.run_sync(self.sandbox.check, source, limiter=self._workers)
        if problem is not None:
            raise ProgramError(f"the program does not compile: {problem}")

    async def write(
        self, actor: str, artifact_id: str, source: str, price: int
    ) -> WriteArtifactDetails:
        await self.check(source)
        receipt = await self.ledger.submit(
            ops.WriteProgram(actor=actor, artifact_id=artifact_id, source=source, price=price)
        )
        return receipt.details

    @property
    def memory_held(self) -> int:
        """What one invocation holds from its invoker's memory quota: its memory limit for
        itself and for each level of nesting it may reach (each nested call runs in an
        instance of its own, with the same limit)."""
        return self.limits.memory_bytes * (self.limits.max_depth + 1)

    def compute_of(self, fuel: int) -> float:
        return fuel * self.seconds_per_fuel

    async def invoke(
        self, invoker: str, artifact_id: str, args: Mapping[str, Any], pay: int
    ) -> InvokeResult:
        """Invoke ``artifact_id`` for ``invoker``; a refusal before the run raises the
        ledger's error (nothing held), anything after it is in the result."""
        invocation_id = uuid.uuid4().hex
        started = await self.ledger.submit(
            ops.StartInvocation(
                invocation_id=invocation_id,
                invoker=invoker,
                artifact_id=artifact_id,
                pay=pay,
                memory_bytes=self.memory_held,
            )
        )
        d = started.details
        info = {
            "invoker": invoker,
            "owner": d["owner"],
            "me": artifact_id,
            "now": self.clock.now(),
            "paid": pay - d["price"],
            "price": d["price"],
        }
        view = _Ledgerview(self.ledger)
        view.scrip[artifact_id] = d["scrip_held"] + pay - d["price"]
        seed = int(invocation_id[:12], 16)
        host = _Staging(self, view, info, seed)
        fuel, failure, value, logs = 0, None, None, []
        try:
            out = await anyio.to_thread.run_sync(
                lambda: self.sandbox.run(
                    d["source"], args, info=info, host=host, limits=self.limits, seed=seed
                ),
                limiter=self._workers,
            )
            fuel, failure, value, logs = out.fuel, out.failure, out.value, out.logs
        except BaseException as exc:
            failure = Failure("RuntimeError", f"the sandbox failed: {exc!r}", limit="host")
            with anyio.CancelScope(shield=True):
                await self._finish(invocation_id, False, fuel, failure, [])
            raise
        with anyio.CancelScope(shield=True):
            receipt = await self._finish(
                invocation_id, failure is None, fuel, failure, view.effects
            )
        fd = receipt.details
        if failure is None and fd["status"] != "ok":
            failure = Failure("Conflict", fd.get("error", "conflict"), limit="conflict")
        return InvokeResult(
            invocation_id,
            failure is None,
            value if failure is None else None,
            failure,
            fuel,
            fd["compute_seconds"],
            fd["price_paid"],
            logs,
            fd.get("compute_balance"),
        )

    async def trial(
        self,
        *,
        invoker: str,
        artifact_id: str,
        source: str,
        args: Mapping[str, Any],
        limits: Limits,
        tools: Mapping[str, int],
    ) -> Outcome:
        """Run ``source`` once on ``args`` as a task's case, keeping nothing it does: it may
        call only ``tools`` (paid for by the submission, at these prices)."""
        view = _Ledgerview(self.ledger, tools=dict(tools))
        info = {
            "invoker": invoker,
            "owner": invoker,
            "me": artifact_id,
            "now": self.clock.now(),
            "paid": 0,
            "price": 0,
        }
        seed = int(uuid.uuid4().hex[:12], 16)
        host = _Staging(self, view, info, seed)
        return await anyio.to_thread.run_sync(
            lambda: self.sandbox.run(source, args, info=info, host=host, limits=limits, seed=seed),
            limiter=self._workers,
        )

    async def pure(self, source: str, args: Mapping[str, Any], limits: Limits) -> Outcome:
        """Run ``source`` (the world's own code, such as a task's checker) with no host."""
        info = {"invoker": "", "owner": "", "me": "", "now": self.clock.now(), "paid": 0,
                "price": 0}  # fmt: skip
        return await anyio.to_thread.run_sync(
            lambda: self.sandbox.run(
                source, args, info=info, host=_NoHost(), limits=limits, seed=0
            ),
            limiter=self._workers,
        )

    async def _finish(
        self,
        invocation_id: str,
        ok: bool,
        fuel: int,
        failure: Failure | None,
        effects: list[dict[str, Any]],
    ) -> Any:
        seconds = self.compute_of(fuel)
        return await self.ledger.submit(
            ops.FinishInvocation(
                invocation_id=invocation_id,
                ok=ok,
                fuel=fuel,
                compute_seconds=seconds if math.isfinite(seconds) else 0.0,
                effects=json.dumps({"effects": effects}),
                error_kind=None if failure is None else failure.kind,
                error=None if failure is None else failure.describe(),
            )
        )
