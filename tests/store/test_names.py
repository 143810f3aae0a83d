"""The names code and schema share: the CHECK constraints and the views name what the enums do.

A state or event kind renamed in :mod:`agent_ecology.ledger.kinds` but not in a migration (or
the other way round) would make rows the schema refuses, or views that silently match nothing.
"""

from __future__ import annotations

import re
import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_ecology.ledger import ops
from agent_ecology.ledger.kinds import (
    BidStatus,
    CallStatus,
    DebtStatus,
    EventKind,
    InvocationStatus,
    ListingStatus,
    OrderStatus,
    SubmissionStatus,
)
from agent_ecology.robonomics.store import SaveTick
from agent_ecology.store import migrate

STORED = Path(__file__).with_name("stored_names.txt")

STATES: dict[str, type[StrEnum]] = {
    "llm_calls": CallStatus,
    "escrow_listings": ListingStatus,
    "debts": DebtStatus,
    "oracle_bids": BidStatus,
    "invocations": InvocationStatus,
    "task_submissions": SubmissionStatus,
    "exchange_orders": OrderStatus,
}
"""Each table with a ``status`` column, and the enum of its states."""

_QUOTED = re.compile(r"'([^']*)'")


def _named(sql: str, column: str) -> set[str]:
    """The texts ``sql`` compares ``column`` with (``column = 'x'``, ``column IN ('x', 'y')``)."""
    found: set[str] = set()
    pattern = (
        rf"\b{column}\s*(?:=|!=|<>)\s*'[^']*'|\b{column}\s+(?:NOT\s+)?IN\s*\([^)]*\)"
        rf"|\bCASE\s+{column}\s+WHEN\s+'[^']*'(?:\s+THEN\s+[^']*?\s+WHEN\s+'[^']*')*"
    )
    for match in re.finditer(pattern, sql, re.IGNORECASE):
        found.update(_QUOTED.findall(match.group(0)))
    return found


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = Path(tmp_path_factory.mktemp("names")) / "world.db"
    anyio.run(migrate, path)
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return {str(name): str(sql) for name, sql in rows}
    finally:
        conn.close()


def test_the_parser_finds_both_forms() -> None:
    sql = "CHECK (status IN ('a', 'b')) ... WHERE kind = 'c' AND e.kind IN ('d') AND x = 'e'"
    assert _named(sql, "status") == {"a", "b"}
    assert _named(sql, "kind") == {"c", "d"}
    sql = "CASE kind WHEN 'f' THEN NULL WHEN 'g' THEN x ELSE y END, status NOT IN ('h')"
    assert _named(sql, "kind") == {"f", "g"}
    assert _named(sql, "status") == {"h"}


@pytest.mark.parametrize("table", sorted(STATES))
def test_each_status_check_allows_exactly_the_enums_states(
    schema: dict[str, str], table: str
) -> None:
    check = re.search(r"status\s+IN\s*\([^)]*\)", schema[table], re.IGNORECASE)
    assert check is not None, f"{table} has no CHECK on its status"
    assert set(_QUOTED.findall(check.group(0))) == {s.value for s in STATES[table]}


def test_every_state_a_view_or_check_names_is_a_state_of_its_enum(
    schema: dict[str, str],
) -> None:
    # Two tables share a state's text only where the enums do ('active', 'withdrawn'), so a
    # name must be a state of one of the enums of the tables that the statement reads.
    for name, sql in schema.items():
        tables = [t for t in STATES if re.search(rf"\b{t}\b", sql)]
        if not tables:
            continue
        allowed = {s.value for t in tables for s in STATES[t]}
        unknown = _named(sql, "status") - allowed
        assert not unknown, f"{name} names states no enum has: {sorted(unknown)}"
    assert "sold" in _named(schema["escrow_sales"], "status")  # the views were read


def test_every_event_kind_a_view_names_is_an_event_kind(schema: dict[str, str]) -> None:
    views = {name: sql for name, sql in schema.items() if sql.upper().startswith("CREATE VIEW")}
    kinds = {k.value for k in EventKind}
    named = set()
    for name, sql in views.items():
        if not re.search(r"\bevents\b", sql):
            continue  # kinds of other things (a robot's kind)
        found = _named(sql, "kind")
        assert found <= kinds, f"view {name} names kinds that are no event kind: {found - kinds}"
        named |= found
    assert {"transfer", "mint", "resource_transfer"} <= named  # the views were read


def _operations() -> dict[str, str]:
    found: dict[str, str] = {}
    todo: list[type[ops.Operation[Any]]] = [ops.Operation]
    while todo:
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            if cls.__module__.startswith("agent_ecology."):  # not the tests' own
                found[cls.__name__] = str(cls.kind)
    return found


def test_the_names_rows_store_are_the_ones_shipped() -> None:
    # A renamed event kind or state would strand the rows that hold the old name, and a
    # renamed operation kind would make every recorded op_id of it a conflict on replay.
    assert SaveTick.kind == "robonomics_tick"  # (imported so that its kind is listed)
    enums: list[type[StrEnum]] = [*STATES.values(), EventKind]
    now = [f"{e.__name__} {m.value}" for e in enums for m in e]
    now += [f"operation {name} {kind}" for name, kind in _operations().items()]
    shipped = [
        line for line in STORED.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert sorted(now) == sorted(shipped), (
        "the stored names changed: add a new name beside the old one (and a migration for"
        f" rows that hold it), never rename; {STORED.name} lists what shipped"
    )
