"""Names the kernel reserves, and the rules an operation's fields (and a genesis method's
arguments) must follow, checked in the caller before anything is queued."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from agent_ecology.ledger.errors import InvalidRequest
from agent_ecology.ledger.kinds import ListingStatus

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
"""Artifact ids only the kernel creates; they cannot be edited or deleted."""

ESCROW = "genesis_escrow"
"""The system principal that holds listed artifacts."""

ORACLE = "genesis_oracle"
"""The system principal that holds bids."""

EXCHANGE = "genesis_exchange"
"""The system principal that holds the scrip of open bids on the resource exchange."""

SANDBOX = "genesis_sandbox"
"""The system principal that holds the scrip invokers pay while their invocations run."""

COMPUTE = "compute"
"""The flow resource (CPU seconds) that turns and invocations are charged to."""

MEMORY = "memory"
"""The stock resource (bytes) that running invocations hold, when it is declared."""

HOLDERS = frozenset({ESCROW, ORACLE, SANDBOX, EXCHANGE})
"""System principals whose holdings must match what they manage (listings, bids): nobody
gives them scrip or artifacts directly."""

MAX_SCRIP = 2**63 - 1


def effective_owner_sql(artifact: str) -> str:
    """SQL for who owns the artifact row aliased ``artifact``: its owner, or its seller while it
    is listed in escrow (the seller keeps what owning it brings: a debt's payments, a right)."""
    return (
        f"CASE WHEN {artifact}.owner_id = '{ESCROW}' THEN (SELECT l.seller_id FROM escrow_listings"
        f" l WHERE l.artifact_id = {artifact}.id AND l.status = '{ListingStatus.ACTIVE}')"
        f" ELSE {artifact}.owner_id END"
    )


# A program's account has its artifact's id, so a principal id may hold '/' too.
_PRINCIPAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}")
_RESOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


# --- field rules: each constraint declared once ----------------------------------------------
#
# An operation's field says what it must hold by its annotation, ``actor: PrincipalId``; the
# :class:`~agent_ecology.ledger.ops.base.Operation` constructor checks every field by its rule
# (so a malformed call fails at once, in the caller's task), and a genesis method's argument
# model that uses the same alias is validated by the same function, with the same message.


@dataclass(frozen=True, slots=True)
class Rule:
    """A constraint on one value: ``check(value, name)`` returns it (normalised) or raises
    :class:`InvalidRequest` naming ``name`` (the field, or ``label`` where one is given)."""

    check: Callable[[Any, str], Any]
    label: str | None = None

    def named(self, label: str) -> Rule:
        """The same rule, naming the value ``label`` in its messages (an agent-facing name)."""
        return Rule(self.check, label)

    def __call__(self, value: Any, name: str) -> Any:
        return self.check(value, self.label or name)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema  # only genesis argument models need it

        def validate(value: Any, info: Any) -> Any:
            try:
                return self(value, info.field_name or "value")
            except InvalidRequest as exc:
                raise ValueError(str(exc)) from None

        return core_schema.with_info_after_validator_function(validate, handler(source))


def rules_of(annotation: Any) -> tuple[Rule, bool]:
    """The rule an annotation carries (looking inside ``X | None``), and whether None is let
    through; ``(None, ...)`` where it carries none."""
    optional = False
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    if get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Rule):
                return meta, optional
    return None, optional  # type: ignore[return-value]


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[object, str], str]:
    """A check that the value is text matching ``pattern`` (``what`` says what that is)."""

    def check(value: object, name: str) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidRequest(f"{name} must be {what}, got {value!r}")
        return value

    return check


_principal_id = _matching(
    _PRINCIPAL_ID,
    "a principal id (1-64 characters: letters, digits, '_', '.', ':', '-', starting with a"
    " letter or digit)",
)
_artifact_id = _matching(
    _ARTIFACT_ID,
    "1-128 characters (letters, digits, '_', '.', ':', '/', '-', starting with a letter or digit)",
)
_resource_name = _matching(_RESOURCE_NAME, "a resource name (lowercase letters, digits, '_')")


def _scrip(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"scrip amounts are whole numbers; got {value!r} ({type(value).__name__}),"
            " pass a positive int"
        )
    if value <= 0 or value > MAX_SCRIP:
        most = f" at most {MAX_SCRIP}" if value > 0 else ""
        raise InvalidRequest(
            f"{name}: a scrip amount must be a positive integer{most}, got {value}"
        )
    return value


def whole(minimum: int, what: str) -> Callable[[object, str], int]:
    """A check that the value is an int (not a bool) of at least ``minimum``."""

    def check(value: object, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidRequest(f"{name} must be {what}, got {value!r}")
        return value

    return check


_count = whole(1, "a positive integer")


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{name} must be a number, got {value!r}")
    return float(value)


def _positive(value: object, name: str) -> float:
    amount = _number(value, name)
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidRequest(f"{name} must be a positive finite number, got {value!r}")
    return amount


def _non_negative(value: object, name: str) -> float:
    amount = _number(value, name)
    if not math.isfinite(amount) or amount < 0:
        raise InvalidRequest(f"{name} must be a finite number >= 0, got {value!r}")
    return amount


def _non_negative_as_given(value: object, name: str) -> object:
    _non_negative(value, name)
    return value  # an int stays an int: the request hash of an op_id is what it always was


def _op_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise InvalidRequest(f"{name} must be a string of 1-200 characters, got {value!r}")
    return value


def _brief(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{type(value).__name__} ({len(shown)} characters)"


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be text, got {_brief(value)}")
    return value


def json_object(value: object, name: str) -> dict[str, Any]:
    """``value`` (a mapping, or a JSON object as text) as a dict of JSON values."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{name} must be a JSON object, got {type(value).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(value))))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{name} must hold only JSON values: {exc}") from None


def json_text(value: object, name: str) -> str:
    """``value`` (text) if it is a JSON object."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a JSON object as text, got {type(value).__name__}")
    try:
        parsed = json.loads(value)  # parsed JSON holds only JSON values: no second pass
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{name} must be a JSON object, got {type(parsed).__name__}")
    return value


PRINCIPAL_ID = Rule(_principal_id)
ARTIFACT_ID = Rule(_artifact_id)
RESOURCE = Rule(_resource_name)
SCRIP = Rule(_scrip)
COUNT = Rule(_count)
POSITIVE = Rule(_positive)
NON_NEGATIVE = Rule(_non_negative)
"""A finite number >= 0, as a float."""
NON_NEGATIVE_AS_GIVEN = Rule(_non_negative_as_given)
TEXT = Rule(_text)

PrincipalId = Annotated[str, PRINCIPAL_ID]
ArtifactId = Annotated[str, ARTIFACT_ID]
ResourceName = Annotated[str, RESOURCE]
Scrip = Annotated[int, SCRIP]
ScripOrZero = Annotated[int, Rule(whole(0, "a whole number of scrip >= 0"))]
"""A price or a payment, which may be nothing."""
"""A positive whole amount of scrip (up to 2**63 - 1)."""
Count = Annotated[int, COUNT]
"""A positive integer: a row id (debt, listing, bid), a turn, an attempt."""
Amount = Annotated[float, POSITIVE]
"""A positive finite quantity of a resource."""
NonNegative = Annotated[float, NON_NEGATIVE_AS_GIVEN]
"""A finite number >= 0, kept as given (an int stays an int)."""
OpId = Annotated[str, Rule(_op_id)] | None
Text = Annotated[str, TEXT]
JsonObject = Annotated[Mapping[str, Any], Rule(json_object)]
"""A JSON object; kept as a dict, stored and hashed as sorted JSON text."""
JsonText = Annotated[str, Rule(json_text)]
"""A JSON object kept as the text it came as."""


def check_not_disk(resource: str, verb: str) -> None:
    if resource == DISK:
        raise InvalidRequest(
            f"{DISK} is accounted by artifact sizes and cannot be {verb} directly; write,"
            " shrink or delete artifacts instead"
        )


def check_resource_name(value: object, name: str = "resource") -> str:
    return _resource_name(value, name)


def check_artifact_id(value: object, name: str = "artifact_id") -> str:
    return _artifact_id(value, name)


def check_non_negative(value: object, name: str) -> float:
    return _non_negative(value, name)


def check_text(value: object, name: str) -> str:
    return _text(value, name)
