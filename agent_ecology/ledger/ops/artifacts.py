"""Artifacts: write, delete and give away, with their size charged to the owner's disk."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, TypedDict

from agent_ecology.ledger.errors import (
    InvalidRequest,
    NotPermitted,
    UnknownArtifact,
)
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.ledger.ops import programs
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    DISK,
    ESCROW,
    KERNEL_MADE_PREFIXES,
    RESERVED_ARTIFACT_PREFIX,
    TEXT,
    ArtifactId,
    PrincipalId,
    ScripOrZero,
)
from agent_ecology.ledger.ops.tx import Tx


class WriteArtifactDetails(TypedDict):
    created: bool
    size_bytes: int
    delta_bytes: int


@operation(EventKind.ARTIFACT_WRITTEN)
class WriteArtifact(Operation[WriteArtifactDetails]):
    """Create an artifact owned by ``actor``, or replace the content of one it owns.

    The change in size is charged to (or freed from) the owner's ``disk``.
    """

    actor: PrincipalId
    artifact_id: ArtifactId
    content: Annotated[str, TEXT.named("artifact content")]

    def apply(self, tx: Tx) -> WriteArtifactDetails:
        details = store_artifact(tx, self.actor, self.artifact_id, self.content, program=None)
        tx.event(
            EventKind.ARTIFACT_WRITTEN,
            by=self.actor,
            artifact=self.artifact_id,
            amount=details["size_bytes"],
            details=details,
        )
        return details


@operation(EventKind.PROGRAM_WRITTEN)
class WriteProgram(Operation[WriteArtifactDetails]):
    """Create or replace an executable artifact (a program) ``actor`` owns, with its price.

    The caller has compiled ``source`` in the sandbox (a syntax error never reaches the
    ledger). The program gets an account (a principal with its id) on its first write.
    """

    actor: PrincipalId
    artifact_id: ArtifactId
    source: Annotated[str, TEXT.named("program source")]
    price: ScripOrZero = 0

    def apply(self, tx: Tx) -> WriteArtifactDetails:
        details = store_artifact(tx, self.actor, self.artifact_id, self.source, program=self.price)
        programs.ensure_account(tx, self.artifact_id)
        tx.event(
            EventKind.PROGRAM_WRITTEN,
            by=self.actor,
            artifact=self.artifact_id,
            amount=details["size_bytes"],
            details={**details, "price": self.price},
        )
        return details


def store_artifact(
    tx: Tx, actor: str, artifact_id: str, content: str, *, program: int | None
) -> WriteArtifactDetails:
    """Write ``content`` as ``artifact_id`` for ``actor`` (a program with that price when
    ``program`` is not None), charging the change in size to the owner's disk."""
    size = len(content.encode("utf-8"))
    row = tx.conn.execute(
        "SELECT owner_id, size_bytes, executable, frozen FROM artifacts WHERE id = ?",
        (artifact_id,),
    ).fetchone()
    if row is None:
        check_namespace(
            actor,
            tx.principal_kind(actor),
            artifact_id,
            lambda name: (
                tx.conn.execute(
                    "SELECT 1 FROM principals WHERE lower(id) = ? AND id != ?",
                    (name, actor),
                ).fetchone()
                is not None
            ),
        )
        old_size = 0
    else:
        if row[0] != actor:
            raise NotPermitted(actor, _owned_by(artifact_id, str(row[0])))
        if artifact_id.startswith(KERNEL_MADE_PREFIXES):
            raise NotPermitted(
                actor,
                "a right's or a debt's artifact cannot be rewritten; give or sell it instead",
            )
        programs.refuse_if_frozen(tx, actor, artifact_id, "rewrite")
        if row[2] and program is None:
            raise NotPermitted(
                actor,
                f"{artifact_id!r} is a program: rewrite it as one (write_artifact with"
                " executable true), or delete it first to store data under its id",
            )
        old_size = int(row[1])
    if row is None and program is not None:
        taken = tx.conn.execute(
            "SELECT kind, scrip FROM principals WHERE id = ?", (artifact_id,)
        ).fetchone()
        # The account of a deleted program (empty: it could not be deleted otherwise) is
        # taken over by a new program of that id; any other principal's id is not free.
        if taken is not None and not (taken[0] == "system" and "/" in artifact_id):
            raise NotPermitted(actor, f"{artifact_id!r} is a principal's id; choose another id")
    delta = size - old_size
    if delta and tx.disk_metered(actor):
        hint = "delete or shrink artifacts you own, or buy disk quota"
        if delta > 0:
            tx.use_stock(actor, DISK, float(delta), hint)
        else:
            tx.free_stock(actor, DISK, float(-delta))
    executable, price = int(program is not None), program or 0
    if row is None:
        tx.conn.execute(
            "INSERT INTO artifacts (id, owner_id, content, size_bytes, created_at, updated_at,"
            " executable, price) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (artifact_id, actor, content, size, tx.now, tx.now, executable, price),
        )
    else:
        tx.conn.execute(
            "UPDATE artifacts SET content = ?, size_bytes = ?, updated_at = ?, executable = ?,"
            " price = ? WHERE id = ?",
            (content, size, tx.now, executable, price, artifact_id),
        )
    return {"created": row is None, "size_bytes": size, "delta_bytes": delta}


def _owned(tx: Tx, actor: str, artifact_id: str) -> int:
    row = tx.conn.execute(
        "SELECT owner_id, size_bytes FROM artifacts WHERE id = ?", (artifact_id,)
    ).fetchone()
    if row is None:
        tx.principal_kind(actor)
        raise UnknownArtifact(artifact_id)
    if row[0] != actor:
        raise NotPermitted(actor, _owned_by(artifact_id, str(row[0])))
    return int(row[1])


def _settled_debt(tx: Tx, artifact_id: str) -> bool:
    """Whether ``artifact_id`` is the artifact of a debt that is closed (it may be deleted)."""
    status = tx.debt_status(artifact_id)
    return status is not None and status.closed


def check_namespace(
    actor: str, actor_kind: str, artifact_id: str, others: Callable[[str], bool]
) -> None:
    """The naming rule for a new artifact: raise :class:`NotPermitted` if ``actor`` may not
    create ``artifact_id``.

    - An id with a ``/`` starts with its creator's own id (``alice/notes``): nobody creates
      under another's name.
    - Reserved prefixes are refused in any case (``GENESIS_ledger``, ``Rights/config/bob``):
      ``genesis_`` is the world's (with ``-``, ``.`` or ``:`` for ``_`` too), ``rights/config/``
      and ``debts/`` are made by the kernel.
    - An id without ``/`` may not be another principal's id, in any case (``bob``, ``BOB``).
    """
    lowered = artifact_id.lower()
    if lowered.startswith(KERNEL_MADE_PREFIXES):
        raise NotPermitted(
            actor,
            f"ids starting with {' or '.join(map(repr, KERNEL_MADE_PREFIXES))} (in any case)"
            " are rights and debts made by the genesis artifacts; choose another id",
        )
    if actor_kind == "system":
        return
    if lowered.startswith(RESERVED_ARTIFACT_PREFIX):
        raise NotPermitted(
            actor,
            f"artifact ids starting with {RESERVED_ARTIFACT_PREFIX!r} (in any case) are reserved"
            " for the world; choose another id",
        )
    if re.sub(r"[-.:]", "_", lowered).startswith(RESERVED_ARTIFACT_PREFIX):
        raise NotPermitted(
            actor,
            f"{artifact_id!r} looks like a genesis artifact's id; choose another id",
        )
    if "/" in artifact_id and not artifact_id.startswith(f"{actor}/"):
        raise NotPermitted(
            actor,
            f"an id with a '/' starts with its creator's own id: name it {actor}/"
            f"{artifact_id.rsplit('/', 1)[-1]!s} (or use an id without '/')",
        )
    if "/" not in artifact_id and others(lowered):
        raise NotPermitted(
            actor,
            f"{artifact_id!r} is another principal's id (in some case); name it"
            f" {actor}/{artifact_id}",
        )


def _owned_by(artifact_id: str, owner: str) -> str:
    if owner == ESCROW:
        return (
            f"artifact {artifact_id!r} is listed for sale in genesis_escrow; its seller can"
            " cancel the listing to get it back"
        )
    return f"artifact {artifact_id!r} is owned by {owner!r}"


class DeleteArtifactDetails(TypedDict):
    freed_bytes: int


@operation(EventKind.ARTIFACT_DELETED)
class DeleteArtifact(Operation[DeleteArtifactDetails]):
    """Delete an artifact its ``actor`` owns; its size is freed from the owner's ``disk``."""

    actor: PrincipalId
    artifact_id: ArtifactId

    def apply(self, tx: Tx) -> DeleteArtifactDetails:
        size = _owned(tx, self.actor, self.artifact_id)
        if self.artifact_id.startswith(KERNEL_MADE_PREFIXES) and not _settled_debt(
            tx, self.artifact_id
        ):
            raise NotPermitted(
                self.actor,
                "a right or a debt cannot be destroyed; give it or sell it instead (a creditor"
                " can forgive a debt with genesis_debt forgive)",
            )
        programs.refuse_if_frozen(tx, self.actor, self.artifact_id, "delete")
        programs.refuse_if_holding(tx, self.actor, self.artifact_id, "deleted")
        programs.drop_state(tx, self.artifact_id)  # frees its own bytes from the disk
        if size and tx.disk_metered(self.actor):
            tx.free_stock(self.actor, DISK, float(size))
        tx.conn.execute("DELETE FROM artifacts WHERE id = ?", (self.artifact_id,))
        tx.event(EventKind.ARTIFACT_DELETED, by=self.actor, artifact=self.artifact_id, amount=size)
        return {"freed_bytes": size}


class TransferArtifactDetails(TypedDict):
    size_bytes: int


@operation(EventKind.ARTIFACT_TRANSFERRED)
class TransferArtifact(Operation[TransferArtifactDetails]):
    """Give an artifact to ``new_owner``; its size moves between the owners' ``disk``."""

    actor: PrincipalId
    artifact_id: ArtifactId
    new_owner: PrincipalId

    def check(self) -> None:
        if self.actor == self.new_owner:
            raise InvalidRequest(
                f"{self.actor!r} is both the giver and the receiver of {self.artifact_id!r};"
                " name another principal as new owner"
            )

    def apply(self, tx: Tx) -> TransferArtifactDetails:
        size = _owned(tx, self.actor, self.artifact_id)
        if tx.principal_kind(self.new_owner) != "agent" and not programs.is_program_account(
            tx, self.new_owner
        ):
            raise NotPermitted(
                self.actor,
                f"{self.new_owner!r} is not an agent or a program; artifacts are given to agents"
                " and programs (sell through genesis_escrow deposit instead of giving to the"
                " escrow)",
            )
        if self.new_owner == self.artifact_id:
            raise InvalidRequest(f"{self.artifact_id!r} cannot hold itself")
        tx.give_artifact(
            self.artifact_id,
            self.new_owner,
            size=size,
            from_disk=self.actor,
            hint="the receiver must free disk or get more quota first",
        )
        tx.event(
            EventKind.ARTIFACT_TRANSFERRED,
            by=self.actor,
            counterparty=self.new_owner,
            artifact=self.artifact_id,
            amount=size,
        )
        return {"size_bytes": size}
