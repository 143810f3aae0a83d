"""Errors raised by the ledger kernel.

Every error says what failed and what the caller can do about it; ``code`` is a stable,
machine-readable name (agents see it in their context). A failed operation leaves nothing
behind: no balance moved, no event written, no idempotency key recorded.

::

    LedgerError
    ├── InvalidRequest            an argument is malformed (amount, id, content); fix the call
    │   └── IdempotencyConflict   an operation id was reused with different arguments
    ├── UnknownPrincipal          no principal has that id
    ├── UnknownResource           no resource of that name (or kind) is declared
    ├── UnknownArtifact           no artifact has that id
    ├── PrincipalConflict         a principal exists with another kind
    ├── NotPermitted              the actor may not do this (not the owner, not privileged)
    ├── InsufficientScrip         a debit larger than the scrip balance
    ├── InsufficientResource      a stock quota, a bucket or a quota to give is too small
    ├── CapacityExceeded          a flow transfer would overfill the receiver's bucket
    ├── TaskRefused               a task submission cannot be paid (unknown, closed, taken, solved)
    ├── BudgetExhausted           the world's dollar limit (llm.max_api_cost) cannot cover a call
    └── LedgerUnavailable         the database could not be written (busy, I/O, closed)
        └── LedgerClosed          the ledger was closed
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "BudgetExhausted",
    "CapacityExceeded",
    "IdempotencyConflict",
    "InsufficientResource",
    "InsufficientScrip",
    "InvalidRequest",
    "LedgerClosed",
    "LedgerError",
    "LedgerUnavailable",
    "NotPermitted",
    "PrincipalConflict",
    "TaskRefused",
    "UnknownArtifact",
    "UnknownPrincipal",
    "UnknownResource",
    "from_driver",
]


def _fmt(amount: float) -> str:
    # Whole amounts in full (33554432 bytes, not 3.35544e+07); fractions to six figures.
    if isinstance(amount, float) and amount.is_integer() and abs(amount) < 1e15:
        return str(int(amount))
    return f"{amount:g}" if isinstance(amount, float) else str(amount)


class LedgerError(Exception):
    """Base class of every error the ledger kernel raises."""

    code = "ledger_error"


class InvalidRequest(LedgerError, ValueError):
    """An argument is malformed: a non-positive or non-integer amount, a bad id, and so on."""

    code = "invalid_request"


class IdempotencyConflict(InvalidRequest):
    """An operation id was already used for a different request."""

    code = "idempotency_conflict"

    def __init__(self, op_id: str, first_kind: str, kind: str) -> None:
        self.op_id = op_id
        super().__init__(
            f"operation id {op_id!r} was already used for a {first_kind} request with other "
            f"arguments (this request: {kind}); use a fresh operation id for a new request, or "
            "resend the original arguments to get the first result back"
        )


class UnknownPrincipal(LedgerError, LookupError):
    """No principal has the given id."""

    code = "unknown_principal"

    def __init__(self, principal: str) -> None:
        self.principal = principal
        super().__init__(
            f"unknown principal {principal!r}; check the id (principals are created at "
            "`agent-ecology init` from config.yaml, or by the runtime)"
        )


class UnknownResource(LedgerError, LookupError):
    """No resource of the given name (or of the kind the operation needs) is declared."""

    code = "unknown_resource"

    def __init__(self, resource: str, detail: str = "") -> None:
        self.resource = resource
        super().__init__(
            detail
            or f"unknown resource {resource!r}; declare it under resources.stock or "
            "resources.flow in config.yaml and run `agent-ecology init`"
        )


class UnknownArtifact(LedgerError, LookupError):
    """No artifact has the given id."""

    code = "unknown_artifact"

    def __init__(self, artifact_id: str) -> None:
        self.artifact_id = artifact_id
        super().__init__(
            f"unknown artifact {artifact_id!r}; check the id (it may have been deleted)"
        )


class PrincipalConflict(LedgerError):
    """A principal with the id exists already, with another kind."""

    code = "principal_conflict"

    def __init__(self, principal: str, existing: str, requested: str) -> None:
        self.principal = principal
        super().__init__(
            f"principal {principal!r} exists already as a {existing} principal, not {requested}; "
            "choose another id"
        )


class NotPermitted(LedgerError, PermissionError):
    """The actor lacks the right to do this."""

    code = "not_permitted"

    def __init__(self, actor: str, message: str) -> None:
        self.actor = actor
        super().__init__(f"{actor!r} is not permitted: {message}")


class InsufficientScrip(LedgerError):
    """A debit is larger than the principal's scrip balance; scrip never goes negative."""

    code = "insufficient_scrip"

    def __init__(self, principal: str, needed: int, available: int) -> None:
        self.principal = principal
        self.needed = needed
        self.available = available
        super().__init__(
            f"{principal!r} needs {needed} scrip but has {available}; "
            f"move at most {available}, or earn or receive scrip first"
        )


class InsufficientResource(LedgerError):
    """A stock quota, a flow bucket or a quota to give away is too small for the request."""

    code = "insufficient_resource"

    def __init__(
        self, principal: str, resource: str, needed: float, available: float, hint: str = ""
    ) -> None:
        self.principal = principal
        self.resource = resource
        self.needed = needed
        self.available = available
        super().__init__(
            f"{principal!r} needs {_fmt(needed)} {resource} but has {_fmt(available)} available; "
            + (hint or "free some, wait for it to accrue, or buy quota from another agent")
        )


class CapacityExceeded(LedgerError):
    """A transfer into a flow bucket would overfill it; the excess would be lost."""

    code = "capacity_exceeded"

    def __init__(self, principal: str, resource: str, amount: float, room: float) -> None:
        self.principal = principal
        self.resource = resource
        self.amount = amount
        self.room = room
        super().__init__(
            f"{principal!r}'s {resource} bucket has room for {_fmt(max(room, 0.0))} more, "
            f"not {_fmt(amount)}; send at most that much"
        )


class TaskRefused(LedgerError):
    """A task submission was refused before any case ran; ``code`` says why (``unknown_task``,
    ``task_closed``, ``task_taken``, ``already_solved``)."""

    code = "task_refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BudgetExhausted(LedgerError):
    """The world's dollar limit cannot cover a call's worst case; the run stops when it is hit."""

    code = "budget_exhausted"

    def __init__(self, needed_nd: int, left_nd: int, reserved_nd: int = 0) -> None:
        self.needed_nd = needed_nd
        self.left_nd = left_nd
        self.reserved_nd = reserved_nd
        held = (
            f" (another ${reserved_nd / 1e9:.6f} is held by calls in flight and comes back as"
            " they settle)"
            if reserved_nd
            else ""
        )
        super().__init__(
            f"the world's API budget has ${left_nd / 1e9:.6f} left{held}, less than this call's"
            f" worst case of ${needed_nd / 1e9:.6f}; lower max_tokens, or raise"
            " llm.max_api_cost in config.yaml to go on"
        )


class LedgerUnavailable(LedgerError):
    """The database could not be written: locked too long, out of disk, or an I/O error.

    Nothing in the failed batch was committed; the same request (with the same operation id)
    can be sent again.
    """

    code = "ledger_unavailable"


class LedgerClosed(LedgerUnavailable):
    """The ledger has been closed; open it again to go on."""

    code = "ledger_closed"


_REQUEST_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
)
_ADVICE = {
    "open": "check that the path is a SQLite file (or does not exist yet) and that its folder"
    " is writable",
    "read": "check the disk and that no other program holds it locked, then try again",
    "write": "nothing in this batch was saved. Check the disk (space, a read-only or immutable"
    " file or folder) and that no other program holds a write lock, then send the same request"
    " (same op_id) again",
}


def from_driver(exc: BaseException, doing: str, *, what: str = "the database") -> LedgerError:
    """The one translation of a database driver's error into the kernel's.

    ``doing`` is ``"open"``, ``"read"``, ``"write"`` (a whole batch) or the kind of one
    operation: a constraint or a value SQLite cannot take is that request's fault
    (:class:`LedgerError`, the rest of the batch goes on); anything else means the database
    cannot be used now (:class:`LedgerUnavailable`).
    """
    if doing not in _ADVICE and isinstance(exc, _REQUEST_ERRORS):
        error: LedgerError = LedgerError(f"{doing} refused by the database: {exc}")
    elif doing == "open":
        error = LedgerUnavailable(
            f"cannot open the world database at {what}: {exc}; {_ADVICE[doing]}"
        )
    else:
        verb = {"read": "read", "write": "written"}.get(doing, "written")
        error = LedgerUnavailable(
            f"{what} could not be {verb} ({exc}); {_ADVICE.get(doing, _ADVICE['write'])}"
        )
    error.__cause__ = exc
    return error
