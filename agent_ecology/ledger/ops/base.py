"""The operation base class, and applying one with its idempotency key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, dataclass_transform

from agent_ecology.ledger.errors import (
    IdempotencyConflict,
)
from agent_ecology.ledger.ops.checks import OpId, Rule, rules_of
from agent_ecology.ledger.ops.tx import Tx
from agent_ecology.ledger.records import Details, Receipt

_RULES: dict[type, tuple[tuple[str, Rule, bool], ...]] = {}


def _rules(cls: type) -> tuple[tuple[str, Rule, bool], ...]:
    """Each field of ``cls`` with the rule its annotation carries (found once per class).

    Only the fields' annotations are evaluated, each in the module of the class declaring it.
    """
    found = _RULES.get(cls)
    if found is None:
        names = {f.name for f in dataclasses.fields(cls)}
        annotations: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            namespace = vars(sys.modules[klass.__module__])
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if name not in names:
                    continue
                if isinstance(annotation, str):
                    try:
                        annotation = eval(annotation, namespace)
                    except NameError:
                        if "<locals>" not in klass.__qualname__:
                            raise  # a rule must never be dropped by an unresolvable name
                        continue  # a class made in a function (a test's): a local name
                annotations[name] = annotation
        rules = []
        for name, annotation in annotations.items():
            rule, optional = rules_of(annotation)
            if rule is not None:
                rules.append((name, rule, optional))
        found = _RULES[cls] = tuple(rules)
    return found


def _hashable(value: Any) -> Any:
    # A JSON-object field (the only mappings but EnsurePrincipal's, which hashes its own) is
    # hashed as the sorted text it is stored as.
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation(Generic[Details]):
    """A request to change state. ``op_id`` makes it idempotent.

    Each field is checked by the rule its annotation carries (see
    :mod:`~agent_ecology.ledger.ops.checks`), then :meth:`check` tests what spans fields.
    """

    kind: ClassVar[str] = "operation"
    op_id: OpId = None

    def __post_init__(self) -> None:
        for name, rule, optional in _rules(type(self)):
            value = getattr(self, name)
            if value is None and optional:
                continue
            checked = rule(value, name)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self.check()

    def check(self) -> None:
        """Rules between fields (``src`` is not ``dst``, ...); the fields are checked already."""

    def hashed_fields(self) -> dict[str, Any]:
        """The fields as the request hash of an ``op_id`` sees them (all but ``op_id``)."""
        fields = {f.name: _hashable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        fields.pop("op_id")
        return fields

    def request_hash(self) -> str:
        fields = self.hashed_fields()
        text = json.dumps({"kind": self.kind, **fields}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()

    def apply(self, tx: Tx) -> Details:
        raise NotImplementedError


_Op = TypeVar("_Op", bound=Operation[Any])


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def operation(kind: str) -> Callable[[type[_Op]], type[_Op]]:
    """Declare an operation: a frozen, keyword-only dataclass whose receipts say ``kind``.

    ``kind`` also goes into the request hash of an ``op_id``, so it never changes once shipped.
    """

    def declare(cls: type[_Op]) -> type[_Op]:
        cls.kind = kind
        return dataclass(frozen=True, slots=True, kw_only=True)(cls)

    return declare


def apply_operation(conn: sqlite3.Connection, op: Operation[Any], now: float) -> Receipt[Any]:
    """Apply ``op`` on ``conn`` (inside the caller's savepoint), honouring its ``op_id``."""
    tx = Tx(conn, now, op.op_id)
    request_hash = ""
    if op.op_id is not None:
        request_hash = op.request_hash()
        row = conn.execute(
            "SELECT kind, request_hash, receipt FROM operations WHERE op_id = ?", (op.op_id,)
        ).fetchone()
        if row is not None:
            if row[1] != request_hash:
                raise IdempotencyConflict(op.op_id, row[0], op.kind)
            return Receipt.from_json(row[2], op_id=op.op_id, replayed=True)
    details = op.apply(tx)
    receipt = Receipt(op.kind, tx.seq, now, details, op.op_id, event=tx.record)
    if op.op_id is not None:
        conn.execute(
            "INSERT INTO operations (op_id, kind, request_hash, receipt, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (op.op_id, op.kind, request_hash, receipt.to_json(), now),
        )
    return receipt
