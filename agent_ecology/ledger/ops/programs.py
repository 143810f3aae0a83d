"""Programs: executable artifacts, their accounts, and invocations (ARTIFACTS.md sections 1-5).

An executable artifact is an artifact whose content is Python defining ``main(args, host)``.
It is also a principal (kind ``system``: not an agent, not metered) with the artifact's id:
its **account** holds scrip and artifacts, and only its own code moves them, through the
effects an invocation stages and :class:`FinishInvocation` commits.

An invocation is two operations around the sandbox run:

- :class:`StartInvocation` holds the invoker's ``pay`` (in :data:`SANDBOX`) and the memory
  the run may use (the invoker's ``memory`` quota), and refuses an invoker in compute debt;
- :class:`FinishInvocation` charges the compute the run used (into debt if need be), frees
  the memory and either commits everything the program did (the price to the owner, the rest
  of ``pay`` to the artifact's account, its transfers, gifts, stored state and nested
  invocations) in one savepoint, or, on failure, gives ``pay`` back: nothing else happens.

Invocations still running when the world stops are abandoned when it opens again
(:class:`AbandonInvocations`): their holds are given back.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NotRequired, TypedDict

from agent_ecology.ledger import buckets
from agent_ecology.ledger.errors import (
    InsufficientResource,
    InvalidRequest,
    LedgerError,
    NotPermitted,
    UnknownArtifact,
)
from agent_ecology.ledger.kinds import EventKind, InvocationStatus
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    COMPUTE,
    DISK,
    HOLDERS,
    MEMORY,
    SANDBOX,
    ArtifactId,
    Count,
    JsonText,
    NonNegative,
    PrincipalId,
    Rule,
    ScripOrZero,
    Text,
    whole,
)
from agent_ecology.ledger.ops.tx import Tx, scope_sql

Fuel = Annotated[int, Rule(whole(0, "a whole number of instructions >= 0"))]

MAX_STATE_KEYS = 100
"""How many keys one program's stored state may hold."""
MAX_STATE_VALUE = 4_000
"""The largest stored value, as JSON text (characters)."""


def program(tx: Tx, artifact_id: str) -> tuple[str, bool, bool, int, str]:
    """``(owner, executable, frozen, price, content)`` of ``artifact_id``."""
    row = tx.conn.execute(
        "SELECT owner_id, executable, frozen, price, content FROM artifacts WHERE id = ?",
        (artifact_id,),
    ).fetchone()
    if row is None:
        raise UnknownArtifact(artifact_id)
    return str(row[0]), bool(row[1]), bool(row[2]), int(row[3]), str(row[4])


def is_program_account(tx: Tx, principal: str) -> bool:
    """Whether ``principal`` is the account of an executable artifact."""
    row = tx.conn.execute(
        "SELECT 1 FROM artifacts WHERE id = ? AND executable = 1", (principal,)
    ).fetchone()
    return row is not None


def holds_anything(tx: Tx, artifact_id: str) -> tuple[int, int]:
    """``(scrip, artifacts)`` the account of ``artifact_id`` holds (0, 0 if it has none)."""
    row = tx.conn.execute("SELECT scrip FROM principals WHERE id = ?", (artifact_id,)).fetchone()
    scrip = int(row[0]) if row is not None else 0
    owned = tx.conn.execute(
        "SELECT count(*) FROM artifacts WHERE owner_id = ?", (artifact_id,)
    ).fetchone()
    return scrip, int(owned[0])


def refuse_if_frozen(tx: Tx, actor: str, artifact_id: str, verb: str) -> None:
    row = tx.conn.execute("SELECT frozen FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
    if row is not None and row[0]:
        raise NotPermitted(
            actor,
            f"{artifact_id!r} is frozen: nobody, its owner included, can {verb} it (that is"
            " what lets others trust it); write a new artifact instead",
        )


def refuse_if_holding(tx: Tx, actor: str, artifact_id: str, verb: str) -> None:
    scrip, owned = holds_anything(tx, artifact_id)
    if scrip or owned:
        raise NotPermitted(
            actor,
            f"{artifact_id!r} holds {scrip} scrip and {owned} artifact(s) in its account; a"
            f" program that holds anything cannot be {verb} (its own code must pay it out"
            " first)",
        )


def ensure_account(tx: Tx, artifact_id: str) -> None:
    tx.conn.execute(
        "INSERT INTO principals (id, kind, scrip, created_at) VALUES (?, 'system', 0, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (artifact_id, tx.now),
    )


def own_program(tx: Tx, actor: str, artifact_id: str, why: str) -> bool:
    """Refuse unless ``artifact_id`` is a program ``actor`` owns; returns whether it is frozen.
    ``why`` says what only programs may do."""
    owner, executable, frozen, _price, _ = program(tx, artifact_id)
    if owner != actor:
        raise NotPermitted(actor, f"{artifact_id!r} is owned by {owner!r}")
    if not executable:
        raise InvalidRequest(f"{artifact_id!r} is not a program; {why}")
    return frozen


class PriceDetails(TypedDict):
    price: int


@operation(EventKind.ARTIFACT_PRICED)
class SetPrice(Operation[PriceDetails]):
    """Set the price in scrip of one successful invocation of a program ``actor`` owns."""

    actor: PrincipalId
    artifact_id: ArtifactId
    price: ScripOrZero

    def apply(self, tx: Tx) -> PriceDetails:
        own_program(
            tx,
            self.actor,
            self.artifact_id,
            "only programs have a price (sell a data artifact through genesis_escrow)",
        )
        refuse_if_frozen(tx, self.actor, self.artifact_id, "reprice")
        tx.conn.execute(
            "UPDATE artifacts SET price = ?, updated_at = ? WHERE id = ?",
            (self.price, tx.now, self.artifact_id),
        )
        tx.event(
            EventKind.ARTIFACT_PRICED, by=self.actor, artifact=self.artifact_id, amount=self.price
        )
        return {"price": self.price}


class FreezeDetails(TypedDict):
    frozen: bool


@operation(EventKind.ARTIFACT_FROZEN)
class FreezeArtifact(Operation[FreezeDetails]):
    """Freeze a program ``actor`` owns: from now on nobody can edit, reprice or delete it."""

    actor: PrincipalId
    artifact_id: ArtifactId

    def apply(self, tx: Tx) -> FreezeDetails:
        if own_program(tx, self.actor, self.artifact_id, "only programs can be frozen"):
            return {"frozen": False}
        tx.conn.execute(
            "UPDATE artifacts SET frozen = 1, updated_at = ? WHERE id = ?",
            (tx.now, self.artifact_id),
        )
        tx.event(EventKind.ARTIFACT_FROZEN, by=self.actor, artifact=self.artifact_id)
        return {"frozen": True}


class StartDetails(TypedDict):
    source: str
    owner: str
    price: int
    frozen: bool
    scrip_held: int


@operation(EventKind.INVOCATION_STARTED)
class StartInvocation(Operation[StartDetails]):
    """Begin invoking a program: hold ``pay`` and ``memory_bytes``; refuse an invoker in
    compute debt or a ``pay`` below the price."""

    invocation_id: Text
    invoker: PrincipalId
    artifact_id: ArtifactId
    pay: ScripOrZero
    memory_bytes: Count

    def apply(self, tx: Tx) -> StartDetails:
        tx.principal_kind(self.invoker)
        _owner, executable, frozen, price, source = program(tx, self.artifact_id)
        # A program listed in escrow is still its seller's: the price is theirs.
        owner = tx.effective_owner(self.artifact_id) or _owner
        if not executable:
            raise InvalidRequest(
                f"{self.artifact_id!r} is a data artifact, not a program; read it with"
                " read_artifact (a program is written with write_artifact executable true)"
            )
        if self.pay < price:
            raise InvalidRequest(
                f"{self.artifact_id} costs {price} scrip per successful call; pay at least"
                f" {price} (you offered {self.pay})"
            )
        refuse_in_compute_debt(
            tx,
            self.invoker,
            "no invocation starts in compute debt; wait until your compute accrues back above 0",
        )
        if self.pay:
            tx.move_scrip(self.invoker, SANDBOX, self.pay)
        hold_memory(
            tx,
            self.invoker,
            self.memory_bytes,
            "each running invocation holds the sandbox's memory limit from your memory quota;"
            " wait for your other invocations to end, or get memory quota",
        )
        tx.conn.execute(
            "INSERT INTO invocations (id, invoker_id, artifact_id, owner_id, status, pay,"
            " price, memory_bytes, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.invocation_id,
                self.invoker,
                self.artifact_id,
                owner,
                InvocationStatus.RUNNING,
                self.pay,
                price,
                self.memory_bytes,
                tx.now,
            ),
        )
        tx.event(
            EventKind.INVOCATION_STARTED,
            by=self.invoker,
            counterparty=owner,
            artifact=self.artifact_id,
            amount=self.pay,
            details={"invocation_id": self.invocation_id, "price": price},
        )
        held, _owned = holds_anything(tx, self.artifact_id)
        return {
            "source": source,
            "owner": owner,
            "price": price,
            "frozen": frozen,
            "scrip_held": held,
        }


def _holds(tx: Tx, principal: str, resource: str, *, flow: bool) -> bool:
    table = "flow_buckets" if flow else "stock_holdings"
    row = tx.conn.execute(
        f"SELECT 1 FROM {table} WHERE principal_id = ? AND resource = ?", (principal, resource)
    ).fetchone()
    return row is not None


def refuse_in_compute_debt(tx: Tx, who: str, hint: str) -> None:
    """The one rule for running code on ``who``'s compute: not while it is in debt."""
    if _holds(tx, who, COMPUTE, flow=True):
        bucket = buckets.settle(tx.bucket(who, COMPUTE), tx.now)
        if bucket.balance < 0:
            raise InsufficientResource(who, COMPUTE, 0, bucket.balance, hint)


def hold_memory(tx: Tx, who: str, amount: int, hint: str) -> None:
    """Hold ``amount`` bytes of ``who``'s memory quota while its code runs."""
    if amount and _holds(tx, who, MEMORY, flow=False):
        tx.use_stock(who, MEMORY, float(amount), hint)


def free_memory(tx: Tx, who: str, amount: int) -> None:
    if amount and _holds(tx, who, MEMORY, flow=False):
        tx.free_stock(who, MEMORY, float(amount))


def charge_compute(tx: Tx, who: str, seconds: float) -> float | None:
    """Charge ``seconds`` of compute to ``who`` (into debt if need be); its new balance, or
    None when it has no compute bucket (a system principal)."""
    if seconds <= 0 or not _holds(tx, who, COMPUTE, flow=True):
        return None
    bucket = buckets.spend(tx.bucket(who, COMPUTE), seconds, tx.now)
    tx.put_bucket(who, COMPUTE, bucket)
    return bucket.balance


class FinishDetails(TypedDict):
    status: str
    price_paid: int
    compute_seconds: float
    error: NotRequired[str]
    compute_balance: NotRequired[float]


@operation(EventKind.INVOCATION_FINISHED)
class FinishInvocation(Operation[FinishDetails]):
    """End an invocation: charge its compute, free its memory, and commit what it did (``ok``)
    or give its pay back (not ``ok``, or when what it did no longer fits the ledger).

    ``effects`` is ``{"effects": [...]}``, in the order the program made them:

    - ``{"op": "transfer", "from": account, "to": principal, "amount": n}``
    - ``{"op": "give", "from": account, "artifact_id": id, "to": principal}``
    - ``{"op": "state", "artifact_id": id, "key": k, "value": json-text or null}``
    - ``{"op": "invoke", "from": account, "artifact_id": id, "pay": n, "price": p}``: a
      nested invocation's pay (its own effects follow it in the list)
    """

    invocation_id: Text
    ok: bool
    fuel: Fuel
    compute_seconds: NonNegative
    effects: JsonText = '{"effects": []}'
    error_kind: Text | None = None
    error: Text | None = None

    def apply(self, tx: Tx) -> FinishDetails:
        row = tx.conn.execute(
            "SELECT invoker_id, artifact_id, owner_id, status, pay, price, memory_bytes"
            " FROM invocations WHERE id = ?",
            (self.invocation_id,),
        ).fetchone()
        if row is None:
            raise InvalidRequest(f"no invocation {self.invocation_id!r} was started")
        invoker, artifact_id, owner = str(row[0]), str(row[1]), str(row[2])
        status, pay, price, memory = str(row[3]), int(row[4]), int(row[5]), int(row[6])
        if status != InvocationStatus.RUNNING:
            raise InvalidRequest(f"invocation {self.invocation_id!r} is {status} already")
        free_memory(tx, invoker, memory)
        details: FinishDetails = {
            "status": InvocationStatus.OK,
            "price_paid": 0,
            "compute_seconds": float(self.compute_seconds),
        }
        seconds = float(self.compute_seconds)
        balance = charge_compute(tx, invoker, seconds)
        if balance is not None:
            details["compute_balance"] = balance
        error_kind, error = self.error_kind, self.error
        ok = self.ok
        if ok:
            tx.conn.execute("SAVEPOINT program_effects")
            try:
                _commit(
                    tx,
                    self.invocation_id,
                    invoker,
                    artifact_id,
                    owner,
                    pay,
                    price,
                    json.loads(self.effects).get("effects", []),
                )
            except LedgerError as exc:
                tx.conn.execute("ROLLBACK TO program_effects")
                ok, error_kind = False, "Conflict"
                error = (
                    f"what the program did no longer fits the ledger, so none of it happened: {exc}"
                )
            tx.conn.execute("RELEASE program_effects")
        if ok:
            details["price_paid"] = price
        else:
            details["status"] = InvocationStatus.FAILED
            details["error"] = error or error_kind or "failed"
            if pay:
                tx.move_scrip(SANDBOX, invoker, pay)
        tx.conn.execute(
            "UPDATE artifacts SET calls = calls + 1, succeeded = succeeded + ?,"
            " revenue = revenue + ? WHERE id = ?",
            (int(ok), details["price_paid"], artifact_id),
        )
        tx.conn.execute(
            "UPDATE invocations SET status = ?, fuel = ?, compute_seconds = ?, error_kind = ?,"
            " error = ?, ended_at = ? WHERE id = ?",
            (
                details["status"],
                self.fuel,
                seconds,
                None if ok else error_kind,
                None if ok else error,
                tx.now,
                self.invocation_id,
            ),
        )
        tx.event(
            EventKind.INVOCATION_FINISHED,
            by=invoker,
            counterparty=owner,
            artifact=artifact_id,
            amount=details["price_paid"],
            details={
                "invocation_id": self.invocation_id,
                "status": details["status"],
                "fuel": self.fuel,
                "compute_seconds": seconds,
                **({} if ok else {"error_kind": error_kind, "error": error}),
                **({"effects": json.loads(self.effects).get("effects", [])} if ok else {}),
            },
        )
        return details


def _commit(
    tx: Tx,
    invocation_id: str,
    invoker: str,
    artifact_id: str,
    owner: str,
    pay: int,
    price: int,
    effects: list[dict[str, Any]],
) -> None:
    """Apply a successful invocation's money and effects (inside the caller's savepoint)."""
    if not is_program_account(tx, artifact_id):
        raise InvalidRequest(f"{artifact_id!r} was deleted or rewritten as data during the call")
    if price:
        tx.move_scrip(SANDBOX, owner, price)
    if pay - price:
        ensure_account(tx, artifact_id)
        tx.move_scrip(SANDBOX, artifact_id, pay - price)
    accounts = {artifact_id}  # the programs of this call chain: whose accounts may move
    nested = 0
    for effect in effects:
        kind = effect.get("op")
        if kind == "expect":  # a stored value the program read: it must not have changed
            target, key = str(effect["artifact_id"]), str(effect["key"])
            row = tx.conn.execute(
                "SELECT value FROM artifact_state WHERE artifact_id = ? AND key = ?",
                (target, key),
            ).fetchone()
            if (None if row is None else str(row[0])) != effect.get("value"):
                raise InvalidRequest(
                    f"{target!r}'s stored {key!r} changed during the call (another invocation"
                    " wrote it first)"
                )
            continue
        if kind == "state":
            target = str(effect["artifact_id"])
            if target not in accounts:
                raise NotPermitted(target, "a program writes only its own stored state")
            value = effect.get("value")
            put_state(tx, target, str(effect["key"]), None if value is None else str(value))
            continue
        src = str(effect.get("from"))
        if src not in accounts:
            raise NotPermitted(src, "a program moves only what its own account holds")
        if kind == "transfer":
            dst, amount = str(effect["to"]), int(effect["amount"])
            check_receiver(tx, src, dst)
            tx.move_scrip(src, dst, amount)
        elif kind == "give":
            target, dst = str(effect["artifact_id"]), str(effect["to"])
            give_from_account(tx, src, target, dst)
        elif kind == "invoke":
            target = str(effect["artifact_id"])
            nested += 1
            pay_nested_call(
                tx,
                f"{invocation_id}/{nested}",
                src,
                target,
                int(effect["pay"]),
                int(effect["price"]),
            )
            ensure_account(tx, target)
            accounts.add(target)
        else:
            raise InvalidRequest(f"unknown effect {kind!r}")


def pay_nested_call(tx: Tx, call_id: str, src: str, target: str, pay: int, price: int) -> None:
    """Commit one call a running program made to ``target``: its ``price`` (as it was when
    called) to ``target``'s owner and the rest of ``pay`` to ``target``'s account, both
    from ``src``; recorded as an invocation that succeeded."""
    _owner, executable, _frozen, current, _ = program(tx, target)
    owner = tx.effective_owner(target) or _owner
    if not executable or current != price:
        raise InvalidRequest(f"{target!r} changed during the call (its price is now {current})")
    if price:
        tx.move_scrip(src, owner, price)
    if pay - price:
        ensure_account(tx, target)
        tx.move_scrip(src, target, pay - price)
    tx.conn.execute(
        "INSERT INTO invocations (id, invoker_id, artifact_id, owner_id, status, pay, price,"
        " memory_bytes, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (call_id, src, target, owner, InvocationStatus.OK, pay, price, tx.now, tx.now),
    )
    tx.conn.execute(
        "UPDATE artifacts SET calls = calls + 1, succeeded = succeeded + 1,"
        " revenue = revenue + ? WHERE id = ?",
        (price, target),
    )


def check_receiver(tx: Tx, src: str, dst: str) -> None:
    """The one rule for who may be given scrip or artifacts directly: agents and programs'
    accounts; not the genesis holders, nor other system principals (where it would strand)."""
    if dst in HOLDERS:
        raise NotPermitted(
            src,
            f"{dst!r} holds scrip only for bids, sales and calls it manages; pay agents or"
            " programs, or use its methods",
        )
    if tx.principal_kind(dst) == "system" and not is_program_account(tx, dst):
        raise NotPermitted(
            src,
            f"{dst!r} is a system principal: what is sent to it would be stranded; pay agents"
            " or programs (burn scrip you want out of circulation)",
        )


def give_from_account(tx: Tx, src: str, artifact_id: str, dst: str) -> None:
    """Move ``artifact_id`` from the program account ``src`` to ``dst`` (an agent or another
    program's account); its size moves to the disk of whoever pays for ``dst``'s holdings."""
    row = tx.conn.execute(
        "SELECT owner_id, size_bytes FROM artifacts WHERE id = ?", (artifact_id,)
    ).fetchone()
    if row is None:
        raise UnknownArtifact(artifact_id)
    if str(row[0]) != src:
        raise NotPermitted(src, f"artifact {artifact_id!r} is not held by {src!r}")
    check_receiver(tx, src, dst)
    tx.give_artifact(
        artifact_id,
        dst,
        size=int(row[1]),
        from_disk=src,
        hint="the receiver must free disk or get more quota first",
    )


def put_state(tx: Tx, artifact_id: str, key: str, value: str | None) -> None:
    """Set (or, with None, delete) ``key`` of a program's stored state, charged to the disk
    of the program's owner."""
    if not is_program_account(tx, artifact_id):
        raise UnknownArtifact(artifact_id)
    old = tx.conn.execute(
        "SELECT size_bytes FROM artifact_state WHERE artifact_id = ? AND key = ?",
        (artifact_id, key),
    ).fetchone()
    old_size = int(old[0]) if old is not None else 0
    new_size = 0 if value is None else len(key.encode()) + len(value.encode())
    if value is not None and old is None:
        count = tx.conn.execute(
            "SELECT count(*) FROM artifact_state WHERE artifact_id = ?", (artifact_id,)
        ).fetchone()
        if int(count[0]) >= MAX_STATE_KEYS:
            raise InvalidRequest(
                f"{artifact_id!r} stores {MAX_STATE_KEYS} keys already; delete some first"
            )
    delta = new_size - old_size
    payer = tx.disk_payer(artifact_id) if delta else None
    if payer is not None:
        if delta > 0:
            tx.use_stock(payer, DISK, float(delta), "the program's owner must free disk")
        else:
            tx.free_stock(payer, DISK, float(-delta))
    if value is None:
        tx.conn.execute(
            "DELETE FROM artifact_state WHERE artifact_id = ? AND key = ?", (artifact_id, key)
        )
    else:
        tx.conn.execute(
            "INSERT INTO artifact_state (artifact_id, key, value, size_bytes, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (artifact_id, key) DO UPDATE SET"
            " value = excluded.value, size_bytes = excluded.size_bytes,"
            " updated_at = excluded.updated_at",
            (artifact_id, key, value, new_size, tx.now),
        )


def drop_state(tx: Tx, artifact_id: str) -> int:
    """Delete a program's stored state (it is being deleted); returns the bytes freed."""
    row = tx.conn.execute(
        "SELECT COALESCE(sum(size_bytes), 0) FROM artifact_state WHERE artifact_id = ?",
        (artifact_id,),
    ).fetchone()
    size = int(row[0])
    payer = tx.disk_payer(artifact_id) if size else None
    if payer is not None:
        tx.free_stock(payer, DISK, float(size))
    tx.conn.execute("DELETE FROM artifact_state WHERE artifact_id = ?", (artifact_id,))
    return size


class AbandonDetails(TypedDict):
    abandoned: int


@operation(EventKind.INVOCATIONS_ABANDONED)
class AbandonInvocations(Operation[AbandonDetails]):
    """Close every invocation left running (the world stopped during it): give its pay and
    memory back; it did nothing, so nothing else is undone."""

    authority: PrincipalId
    agents: tuple[str, ...] | None = None
    """Only invocations by these (a shard's own agents); None: all."""
    except_agents: tuple[str, ...] = ()
    """Not those by these (the leader of a sharded run: every invoker but the agents)."""

    def apply(self, tx: Tx) -> AbandonDetails:
        tx.require_system(self.authority, "abandon invocations")
        scope, params = scope_sql("invoker_id", self.agents, self.except_agents)
        rows = tx.conn.execute(
            "SELECT id, invoker_id, pay, memory_bytes FROM invocations WHERE status = ?" + scope,
            (InvocationStatus.RUNNING, *params),
        ).fetchall()
        for invocation_id, invoker, pay, memory in rows:
            if pay:
                tx.move_scrip(SANDBOX, str(invoker), int(pay))
            free_memory(tx, str(invoker), int(memory))
            tx.conn.execute(
                "UPDATE invocations SET status = ?, error_kind = 'Abandoned', error = ?,"
                " ended_at = ? WHERE id = ?",
                (
                    InvocationStatus.ABANDONED,
                    "the world stopped during the call; its pay was given back",
                    tx.now,
                    invocation_id,
                ),
            )
        if rows:
            tx.event(
                EventKind.INVOCATIONS_ABANDONED,
                actor=self.authority,
                amount=len(rows),
                details={"invocations": [str(r[0]) for r in rows]},
            )
        return {"abandoned": len(rows)}
