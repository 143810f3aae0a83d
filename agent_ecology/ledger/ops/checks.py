"""Argument checks, run in the caller before anything is queued."""

from __future__ import annotations

import math
import re

from agent_ecology.ledger.errors import (
    InvalidRequest,
)

DISK = "disk"
"""The stock resource that artifact sizes are charged to, when it is declared."""

RESERVED_ARTIFACT_PREFIX = "genesis_"
"""Artifact ids with this prefix belong to the world; agents cannot create them."""

CONFIG_RIGHT_PREFIX = "rights/config/"
"""``rights/config/<agent>``: the artifact form of the right to change that agent's config.
Only the kernel makes them; whoever owns one holds the right; they cannot be edited or
deleted, only given or sold."""

DEBT_PREFIX = "debts/"
"""``debts/<id>``: a loan, owned by its creditor; made by the kernel, given or sold like the
rights."""

KERNEL_MADE_PREFIXES = (CONFIG_RIGHT_PREFIX, DEBT_PREFIX)

ESCROW = "genesis_escrow"
"""The system principal that holds listed artifacts."""

ORACLE = "genesis_oracle"
"""The system principal that holds bids."""

HOLDERS = frozenset({ESCROW, ORACLE})
"""System principals whose holdings must match what they manage (listings, bids): nobody
gives them scrip or artifacts directly."""
"""Artifact ids only the kernel creates; they cannot be edited or deleted."""

MAX_SCRIP = 2**63 - 1


def effective_owner_sql(artifact: str) -> str:
    """SQL for who owns the artifact row aliased ``artifact``: its owner, or its seller while it
    is listed in escrow (the seller keeps what owning it brings: a debt's payments, a right)."""
    return (
        f"CASE WHEN {artifact}.owner_id = '{ESCROW}' THEN (SELECT l.seller_id FROM"
        f" escrow_listings l WHERE l.artifact_id = {artifact}.id AND l.status = 'active')"
        f" ELSE {artifact}.owner_id END"
    )


_PRINCIPAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_RESOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


# --- argument checks (run in the caller, before anything is queued) -------------------------


def check_principal_id(value: object, role: str) -> str:
    if not isinstance(value, str) or not _PRINCIPAL_ID.fullmatch(value):
        raise InvalidRequest(
            f"{role} must be a principal id (1-64 characters: letters, digits, '_', '.', ':', '-',"
            f" starting with a letter or digit), got {value!r}"
        )
    return value


def check_artifact_id(value: object) -> str:
    if not isinstance(value, str) or not _ARTIFACT_ID.fullmatch(value):
        raise InvalidRequest(
            "artifact_id must be 1-128 characters (letters, digits, '_', '.', ':', '/', '-',"
            f" starting with a letter or digit), got {value!r}"
        )
    return value


def check_resource_name(value: object) -> str:
    if not isinstance(value, str) or not _RESOURCE_NAME.fullmatch(value):
        raise InvalidRequest(
            f"resource must be a resource name (lowercase letters, digits, '_'), got {value!r}"
        )
    return value


def check_scrip_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"scrip amounts are whole numbers; got {value!r} ({type(value).__name__}),"
            " pass a positive int"
        )
    if value <= 0 or value > MAX_SCRIP:
        raise InvalidRequest(f"scrip amount must be a positive integer, got {value}")
    return value


def check_resource_amount(value: object, what: str = "amount") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what} must be a number, got {value!r}")
    amount = float(value)
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidRequest(f"{what} must be a positive finite number, got {value!r}")
    return amount


def check_non_negative(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what} must be a number, got {value!r}")
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise InvalidRequest(f"{what} must be a finite number >= 0, got {value!r}")
    return amount


def check_op_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise InvalidRequest(f"op_id must be a string of 1-200 characters, got {value!r}")
    return value


def check_not_disk(resource: str, verb: str) -> None:
    if resource == DISK:
        raise InvalidRequest(
            f"{DISK} is accounted by artifact sizes and cannot be {verb} directly; write,"
            " shrink or delete artifacts instead"
        )


def check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text, got {value!r}")
    return value
