"""Programs, their accounts and invocations, driven by hypothesis; invariants after each step.

Agents write programs from a small library (a tool, the handbook's splitter and timed sale, a
contract that transfers and then raises, one that gives away what its account holds, a
runaway loop, one that stores state, one that invokes another program with pay), price,
freeze, fund and delete them, give them artifacts and invoke them with random pay. After each
step: scrip is conserved and never negative, nothing is left held in ``genesis_sandbox`` or
running, every artifact's owner exists, no program holds a program (nor itself), each agent's
disk holds exactly what it pays for (what it owns, and what its programs hold and store), a
frozen program never changes, memory is all given back, and every agent's compute went
exactly to its invocations. A failed invocation changes nothing but its invoker's compute; a
refused one changes nothing at all.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from agent_ecology.genesis.examples import TIMED_SALE, splitter
from agent_ecology.ledger import LedgerError, ResourceSpec, ops
from agent_ecology.ledger.errors import InsufficientResource
from agent_ecology.programs import ProgramError, Programs
from agent_ecology.sandbox import Limits, Sandbox, load
from tests.conftest import AGENTS, COMPUTE
from tests.ledger.machine import LedgerMachine

DISK_QUOTA = 4_000.0  # room for the timed sale (1.6 kB) and some stored state
LIMITS = Limits(fuel=50_000_000, deadline_s=10.0)
SECONDS_PER_FUEL = 1e-9

TOOL = "def main(args, host):\n    return {'sum': args.get('a', 0) + args.get('b', 0)}\n"

RAISER = """\
TO = {to!r}

def main(args, host):
    host.transfer(TO, max(1, host.paid))
    raise RuntimeError("transferred, then changed its mind")
"""

GIVER = """\
def main(args, host):
    what = args["artifact_id"]
    to = args.get("to") or host.invoker
    host.give(what, to)
    return {"gave": what, "to": to}
"""

LOOP = "def main(args, host):\n    n = 0\n    while True:\n        n += 1\n"

STORE = """\
def main(args, host):
    n = host.get("n", 0) + 1
    host.set("n", n)
    if args.get("clear"):
        host.delete("blob")
    else:
        host.set("blob", "x" * args.get("size", 10))
    return {"n": n}
"""

CALLER = """\
TARGET = {target!r}
PAY = {pay}
STRICT = {strict}

def main(args, host):
    try:
        inner = host.invoke(TARGET, args, pay=PAY)
    except HostError as exc:
        if STRICT:
            raise
        inner = {{"refused": str(exc)}}
    return {{"inner": inner}}
"""

BROKEN = "def main(args, host):\n    return (\n"

KINDS = ("tool", "forward", "raiser", "giver", "loop", "store", "caller", "sale", "broken")
SLOTS = ("p1", "p2", "p3")
PROGRAM_IDS = tuple(f"{a}/{s}" for a in AGENTS for s in SLOTS)

_sandbox: list[Sandbox] = []


def sandbox() -> Sandbox:
    """The sandbox, loaded (built, the first time on a machine) once per process."""
    if not _sandbox:
        _sandbox.append(load())
    return _sandbox[0]


agents = st.sampled_from(AGENTS)
amounts = st.integers(1, 40)
picks = st.integers(0, 50)
calls = st.fixed_dictionaries(
    {
        "who": agents,
        "n": picks,  # which program
        "extra": st.integers(-3, 10),  # pay = price + extra (below the price when < 0)
        "a": st.integers(-5, 5),
        "held": picks,  # which artifact (one a program holds, if any) args name
        "to": st.sampled_from([None, *AGENTS, "self", "program", ops.SANDBOX]),
        "size": st.integers(0, 1_500),
        "clear": st.booleans(),
        "action": st.sampled_from(["offer", "buy", "reclaim"]),
    }
)


def source(kind: str, to: str, other: str, target: str, pay: int, strict: bool) -> str:
    """The library's program ``kind`` (parameters used where the kind has them)."""
    if kind == "tool":
        return TOOL
    if kind == "forward":
        return splitter({to: 1} if to == other else {to: 2, other: 1})
    if kind == "raiser":
        return RAISER.format(to=to)
    if kind == "giver":
        return GIVER
    if kind == "loop":
        return LOOP
    if kind == "store":
        return STORE
    if kind == "caller":
        return CALLER.format(target=target, pay=pay, strict=strict)
    if kind == "sale":
        return TIMED_SALE
    assert kind == "broken"
    return BROKEN


class ProgramWorld(LedgerMachine):
    def __init__(self) -> None:
        super().__init__()
        self.programs = Programs(
            self.ledger, sandbox(), self.clock, limits=LIMITS, seconds_per_fuel=SECONDS_PER_FUEL
        )
        memory = self.programs.memory_held  # one running invocation's worth, no more
        self.submit(ops.EnsurePrincipal(principal_id=ops.SANDBOX, principal_kind="system"))
        self.submit(
            ops.DeclareResource.of(
                ResourceSpec("memory", "stock", "bytes", total=3.0 * memory, distribution="equal")
            )
        )
        for agent in AGENTS:
            self.submit(ops.EnsurePrincipal(principal_id=agent, stock={"memory": memory}))
            self.submit(
                ops.SetQuota(principal=agent, resource="disk", amount=DISK_QUOTA, authority="world")
            )
        self.kind: dict[str, str] = {}  # program id -> the library kind it was last written as
        self.frozen: dict[str, tuple[str, int]] = {}  # frozen program -> (content, price)

    # --- reading the ledger ---------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[Any]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def pick(self, query: str, n: int, *params: Any) -> Any:
        rows = self.sql(query, *params)
        return rows[n % len(rows)] if rows else None

    def snapshot(self) -> dict[str, Any]:
        """Everything an invocation may change, but compute."""
        return {
            "scrip": dict(self.sql("SELECT id, scrip FROM principals")),
            "artifacts": self.sql(
                "SELECT id, owner_id, content, price, frozen FROM artifacts ORDER BY id"
            ),
            "state": self.sql("SELECT artifact_id, key, value FROM artifact_state ORDER BY 1, 2"),
            "stock": self.sql(
                "SELECT principal_id, resource, quota, used FROM stock_holdings ORDER BY 1, 2"
            ),
        }

    # --- the world's moves ----------------------------------------------------------------

    def write(self, who: str, artifact_id: str, kind: str, text: str, price: int) -> bool:
        before = self.snapshot()
        was_frozen = artifact_id in self.frozen
        row = self.sql("SELECT owner_id, executable FROM artifacts WHERE id = ?", artifact_id)
        # a new id under one's own name (a deleted program's included), or a program of one's
        # own that is not frozen: only a full disk (or a program that does not compile) stops it
        free = artifact_id.startswith(f"{who}/") and (
            not row or (row[0] == (who, 1) and not was_frozen)
        )
        try:
            self.run(self.programs.write(who, artifact_id, text, price))
        except (LedgerError, ProgramError) as exc:
            event(f"write {kind}: refused ({type(exc).__name__})")
            assert self.snapshot() == before, "a refused write left something behind"
            if free and kind != "broken":
                assert isinstance(exc, InsufficientResource), f"{artifact_id}: {exc}"
            return False
        event(f"write {kind}: done")
        assert kind != "broken", "a program that does not compile was written"
        assert not was_frozen, f"{artifact_id} was rewritten though frozen"
        self.kind[artifact_id] = kind
        return True

    @initialize()
    def some_artifacts(self) -> None:
        for agent in AGENTS:
            text = f"{agent}'s notes: " + " ".join(f"word{i}" for i in range(10))
            self.submit(ops.WriteArtifact(actor=agent, artifact_id=f"{agent}/d1", content=text))
        assert self.write("alice", "alice/p1", "tool", TOOL, 2)
        assert self.write("alice", "alice/p2", "giver", GIVER, 0)
        assert self.write("bob", "bob/p1", "forward", splitter({"alice": 1, "carol": 1}), 1)
        assert self.write(
            "bob", "bob/p2", "caller", source("caller", "", "", "alice/p1", 3, False), 0
        )
        assert self.write("carol", "carol/p1", "store", STORE, 1)
        assert self.write("carol", "carol/p2", "raiser", RAISER.format(to="bob"), 0)

    @rule(
        who=agents,
        slot=st.sampled_from(SLOTS),
        kind=st.sampled_from(KINDS),
        price=st.integers(0, 6),
        to=agents,
        other=agents,
        callee=st.sampled_from(PROGRAM_IDS),
        pay=st.integers(0, 8),
        strict=st.booleans(),
    )
    def write_program(
        self,
        who: str,
        slot: str,
        kind: str,
        price: int,
        to: str,
        other: str,
        callee: str,
        pay: int,
        strict: bool,
    ) -> None:
        self.write(who, f"{who}/{slot}", kind, source(kind, to, other, callee, pay, strict), price)

    @rule(who=agents, name=st.sampled_from(["d1", "d2"]), size=st.integers(1, 400))
    def write_data(self, who: str, name: str, size: int) -> None:
        with contextlib.suppress(LedgerError):
            self.submit(
                ops.WriteArtifact(actor=who, artifact_id=f"{who}/{name}", content="w" * size)
            )

    def program(self, n: int) -> Any:
        return self.pick(
            "SELECT id, owner_id, frozen, content, price FROM artifacts WHERE executable = 1"
            " ORDER BY id",
            n,
        )

    def actor(self, owner: str, stranger: str, as_owner: bool) -> str:
        return owner if as_owner and owner in AGENTS else stranger

    @rule(n=picks, stranger=agents, as_owner=st.booleans())
    def freeze(self, n: int, stranger: str, as_owner: bool) -> None:
        row = self.program(n)
        if row is None:
            return
        artifact_id, owner = row[0], row[1]
        try:
            self.submit(
                ops.FreezeArtifact(
                    actor=self.actor(owner, stranger, as_owner), artifact_id=artifact_id
                )
            )
        except LedgerError:
            event("freeze: refused")
            return
        event("freeze: done")
        ((content, price, frozen),) = self.sql(
            "SELECT content, price, frozen FROM artifacts WHERE id = ?", artifact_id
        )
        assert frozen == 1
        self.frozen.setdefault(artifact_id, (content, price))

    @rule(n=picks, price=st.integers(0, 8), stranger=agents, as_owner=st.booleans())
    def set_price(self, n: int, price: int, stranger: str, as_owner: bool) -> None:
        row = self.program(n)
        if row is None:
            return
        try:
            self.submit(
                ops.SetPrice(
                    actor=self.actor(row[1], stranger, as_owner), artifact_id=row[0], price=price
                )
            )
        except LedgerError:
            event("set_price: refused")
            return
        event("set_price: done")
        assert row[0] not in self.frozen, f"{row[0]} was repriced though frozen"

    @rule(who=agents, n=picks, amount=amounts)
    def fund(self, who: str, n: int, amount: int) -> None:
        row = self.program(n)
        if row is not None:
            with contextlib.suppress(LedgerError):
                self.submit(ops.Transfer(src=who, dst=row[0], amount=amount))

    @rule(n=picks, m=picks, to_program=st.booleans())
    def give(self, n: int, m: int, to_program: bool) -> None:
        """An agent gives an artifact it owns (data or a program) to a program or an agent;
        a program to a program is refused (a program's account holds no programs)."""
        row = self.pick(
            "SELECT id, owner_id, executable FROM artifacts WHERE owner_id IN (?, ?, ?)"
            " ORDER BY id",
            n,
            *AGENTS,
        )
        if row is None:
            return
        artifact_id, owner, executable = row
        if to_program:
            dst = self.program(m)
            new_owner = artifact_id if dst is None else dst[0]
        else:
            new_owner = AGENTS[m % len(AGENTS)]
        try:
            self.submit(
                ops.TransferArtifact(actor=owner, artifact_id=artifact_id, new_owner=new_owner)
            )
        except (LedgerError, ValueError):
            event("give: refused")
            return
        what, whom = (
            "a program" if executable else "data",
            "a program" if to_program else "an agent",
        )
        event(f"give {what} to {whom}: done")
        assert not (to_program and executable), f"{artifact_id} was given to {new_owner}"

    @rule(who=agents, to=agents, amount=amounts)
    def transfer(self, who: str, to: str, amount: int) -> None:
        with contextlib.suppress(LedgerError, ValueError):
            self.submit(ops.Transfer(src=who, dst=to, amount=amount))

    @rule(n=picks, stranger=agents, as_owner=st.booleans())
    def delete(self, n: int, stranger: str, as_owner: bool) -> None:
        row = self.pick("SELECT id, owner_id, frozen FROM artifacts ORDER BY id", n)
        if row is None:
            return
        artifact_id, owner, frozen = row
        (holds,) = self.sql(
            "SELECT (SELECT coalesce(sum(scrip), 0) FROM principals WHERE id = ?)"
            " + (SELECT count(*) FROM artifacts WHERE owner_id = ?)",
            artifact_id,
            artifact_id,
        )
        try:
            self.submit(
                ops.DeleteArtifact(
                    actor=self.actor(owner, stranger, as_owner), artifact_id=artifact_id
                )
            )
        except LedgerError:
            event("delete: refused")
            return
        event("delete: done")
        assert not frozen, f"{artifact_id} was deleted though frozen"
        assert holds[0] == 0, f"{artifact_id} was deleted though it held something"
        assert self.sql(
            "SELECT count(*) FROM artifact_state WHERE artifact_id = ?", artifact_id
        ) == [(0,)]
        self.kind.pop(artifact_id, None)

    @rule(call=calls)
    def invoke(self, call: dict[str, Any]) -> None:
        self.invoke_with(**call)

    @rule(call=calls)
    def invoke_again(self, call: dict[str, Any]) -> None:
        """The same as ``invoke``: a second rule makes invocations about a sixth of the steps."""
        self.invoke_with(**call)

    def invoke_with(
        self,
        who: str,
        n: int,
        extra: int,
        a: int,
        held: int,
        to: str | None,
        size: int,
        clear: bool,
        action: str,
    ) -> None:
        row = self.program(n)
        if row is None:
            return
        artifact_id, owner, _frozen, _content, price = row
        given = (  # what this program holds, else what any program holds, else anything
            self.pick("SELECT id FROM artifacts WHERE owner_id = ? ORDER BY id", held, artifact_id)
            or self.pick(
                "SELECT a.id FROM artifacts a JOIN artifacts p ON p.id = a.owner_id"
                " AND p.executable = 1 ORDER BY a.id",
                held,
            )
            or self.pick("SELECT id FROM artifacts ORDER BY id", held)
        )
        if to == "self":
            to = artifact_id
        elif to == "program":
            other = self.program(held)
            to = None if other is None else other[0]
        args = {
            "a": a,
            "b": extra,
            "artifact_id": given[0],
            "artifact": given[0],
            "to": to,
            "size": size,
            "clear": clear,
            "action": action,
            "price": size % 7,
            "seconds": 30,
        }
        pay = max(0, price + extra)
        kind = self.kind.get(artifact_id, "?")
        before = self.snapshot()
        ((compute_before,),) = self.sql(
            "SELECT balance FROM flow_buckets WHERE principal_id = ? AND resource = 'compute'", who
        )
        try:
            result = self.run(self.programs.invoke(who, artifact_id, args, pay))
        except LedgerError as exc:
            event(f"invoke {kind}: refused ({type(exc).__name__})")
            assert self.snapshot() == before, "a refused invocation left something behind"
            if pay < price:
                return
            assert pay > before["scrip"][who], f"refused with {pay} to pay, {price} price: {exc}"
            return
        assert pay >= price, f"{artifact_id} ran though {pay} does not cover its price {price}"
        assert result.fuel > 0
        assert abs(result.compute_seconds - result.fuel * SECONDS_PER_FUEL) < 1e-9
        ((compute_after,),) = self.sql(
            "SELECT balance FROM flow_buckets WHERE principal_id = ? AND resource = 'compute'", who
        )
        assert abs(compute_before - compute_after - result.compute_seconds) < 1e-9
        ((status, price_paid),) = self.sql(
            "SELECT status, price FROM invocations WHERE id = ?", result.invocation_id
        )
        after = self.snapshot()
        if not result.ok:
            assert result.failure is not None
            event(f"invoke {kind}: failed ({result.failure.kind})")
            assert status == "failed"
            assert after == before, f"a failed invocation changed more than compute: {result}"
            assert kind not in ("tool", "forward"), result
            return
        event(f"invoke {kind}: ok")
        assert status == "ok" and result.price_paid == price_paid == price
        assert kind not in ("raiser", "loop"), result
        delta = {p: after["scrip"].get(p, 0) - s for p, s in before["scrip"].items()}
        if kind == "tool":
            assert result.value == {"sum": a + extra}
            expected = {who: -pay, artifact_id: pay - price}
            expected[owner] = expected.get(owner, 0) + price
            assert {p: d for p, d in delta.items() if d} == {p: d for p, d in expected.items() if d}
        if kind == "forward":
            assert delta[artifact_id] == 0, "the splitter kept some of what it was paid"

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def scrip_is_conserved_and_never_negative(self) -> None:
        ((circulating, minted, burned),) = self.sql(
            "SELECT (SELECT sum(scrip) FROM principals), minted, burned FROM scrip_supply"
        )
        assert circulating == minted - burned
        assert self.sql("SELECT count(*) FROM principals WHERE scrip < 0") == [(0,)]
        assert self.sql("SELECT scrip FROM principals WHERE id = ?", ops.SANDBOX) == [(0,)]

    @invariant()
    def no_invocation_is_left_running(self) -> None:
        statuses = {r[0] for r in self.sql("SELECT DISTINCT status FROM invocations")}
        assert statuses <= {"ok", "failed"}, statuses
        assert self.sql("SELECT count(*) FROM stock_holdings WHERE resource = 'memory'") == [(3,)]
        assert self.sql("SELECT sum(used) FROM stock_holdings WHERE resource = 'memory'") == [(0,)]

    @invariant()
    def every_artifact_has_an_existing_owner(self) -> None:
        assert self.sql(
            "SELECT count(*) FROM artifacts a LEFT JOIN principals p ON p.id = a.owner_id"
            " WHERE p.id IS NULL"
        ) == [(0,)]
        assert self.sql(
            "SELECT count(*) FROM artifact_state s LEFT JOIN artifacts a ON a.id = s.artifact_id"
            " WHERE a.id IS NULL OR a.executable = 0"
        ) == [(0,)]

    @invariant()
    def no_program_holds_a_program(self) -> None:
        assert (
            self.sql(
                "SELECT a.id, a.owner_id FROM artifacts a JOIN artifacts p ON p.id = a.owner_id"
                " AND p.executable = 1 WHERE a.executable = 1 OR a.id = a.owner_id"
            )
            == []
        )

    @invariant()
    def frozen_programs_never_change(self) -> None:
        for artifact_id, (content, price) in self.frozen.items():
            assert self.sql(
                "SELECT content, price, frozen FROM artifacts WHERE id = ?", artifact_id
            ) == [(content, price, 1)], artifact_id

    @invariant()
    def compute_went_to_invocations(self) -> None:
        """The clock never moves, so no bucket refills: what each agent's compute lost is
        exactly the compute its invocations were charged (failed ones included)."""
        for agent in AGENTS:
            ((balance,),) = self.sql(
                "SELECT balance FROM flow_buckets WHERE principal_id = ? AND resource = 'compute'",
                agent,
            )
            ((charged,),) = self.sql(
                "SELECT coalesce(sum(compute_seconds), 0) FROM invocations WHERE invoker_id = ?",
                agent,
            )
            assert COMPUTE.capacity is not None
            assert abs(COMPUTE.capacity - balance - charged) < 1e-6, (agent, balance, charged)

    @invariant()
    def disk_is_what_each_agent_pays_for(self) -> None:
        """An agent's disk holds the bytes of what it owns and of everything its programs hold
        or store, down any chain of programs holding programs; every byte has a payer."""
        kinds = dict(self.sql("SELECT id, kind FROM principals"))
        owner = {a: o for a, o, _s in self.sql("SELECT id, owner_id, size_bytes FROM artifacts")}
        programs = {r[0] for r in self.sql("SELECT id FROM artifacts WHERE executable = 1")}

        def payer(principal: str) -> str | None:
            seen: set[str] = set()
            while kinds.get(principal) != "agent":
                if principal not in programs or principal in seen:
                    return None
                seen.add(principal)
                principal = owner[principal]
            return principal

        expected = dict.fromkeys(AGENTS, 0)
        unpaid: list[str] = []
        for artifact_id, holder, size in self.sql("SELECT id, owner_id, size_bytes FROM artifacts"):
            who = payer(holder)
            if who is None:
                unpaid.append(f"{artifact_id} (held by {holder})")
            else:
                expected[who] += size
        for artifact_id, size in self.sql(
            "SELECT artifact_id, sum(size_bytes) FROM artifact_state GROUP BY artifact_id"
        ):
            who = payer(artifact_id)
            if who is None:
                unpaid.append(f"the state of {artifact_id}")
            else:
                expected[who] += size
        used = dict(
            self.sql(
                "SELECT principal_id, used FROM stock_holdings WHERE resource = 'disk'"
                " AND principal_id IN (?, ?, ?)",
                *AGENTS,
            )
        )
        assert not unpaid, f"bytes nobody pays disk for: {unpaid}"
        for agent in AGENTS:
            assert abs(used[agent] - expected[agent]) < 1e-6, (agent, used[agent], expected)


TestPrograms = ProgramWorld.TestCase
TestPrograms.settings = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
