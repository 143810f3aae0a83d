"""The ledger's reads: plain functions of a read connection, each returning frozen records.

The kernel runs each of them on the hot reader's thread in one read transaction (see
:mod:`agent_ecology.ledger.reader`), so a read of several tables sees one snapshot. They are
the only SQL that reads the kernel's tables; none of them writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, NoReturn

from agent_ecology.ledger import records
from agent_ecology.ledger.buckets import Bucket
from agent_ecology.ledger.errors import UnknownArtifact, UnknownPrincipal, UnknownResource
from agent_ecology.ledger.kinds import BidStatus, DebtStatus, ListingStatus, SubmissionStatus
from agent_ecology.ledger.ops.agents import HOLDER_SQL
from agent_ecology.ledger.ops.checks import CONFIG_RIGHT_PREFIX, DEBT_PREFIX, effective_owner_sql

_log = logging.getLogger("agent_ecology.ledger")

_PRINCIPAL = "SELECT id, kind, scrip, created_at FROM principals"
_ARTIFACT = (
    "SELECT id, owner_id, content, size_bytes, created_at, updated_at, executable = 1,"
    " frozen = 1, price FROM artifacts"
)
_STOCK = "SELECT principal_id, resource, quota, used FROM stock_holdings"
_FLOW = "SELECT resource, balance, updated_at, rate, capacity FROM flow_buckets"
_EVENT = (
    "SELECT seq, at, kind, actor_id, principal_id, counterparty_id, resource, amount,"
    " artifact_id, op_id, details FROM events"
)
_AGENT = (
    f"SELECT s.agent_id, s.config, s.config_version, {HOLDER_SQL}, s.sleep,"
    " s.last_result, s.turns FROM agent_state s"
    f" LEFT JOIN artifacts a ON a.id = '{CONFIG_RIGHT_PREFIX}' || s.agent_id"
)
_DEBT = (
    f"SELECT d.id, d.debtor_id, d.lender_id, {effective_owner_sql('a')}, d.principal,"
    " d.interest_rate, d.amount_due, d.repaid, d.defaulted, d.due_at, d.status FROM debts d"
    f" LEFT JOIN artifacts a ON a.id = '{DEBT_PREFIX}' || d.id"
)


def _where(sql: str, conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``sql`` with the conditions (SQL with ``?`` for its value, and the value) ANDed on; a
    condition whose value is None is left out (the filter was not asked for)."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in conditions:  # (a plain loop: this runs on every read of a turn)
        if value is not None:
            clauses.append(clause)
            params += [value] * clause.count("?")
    return (f"{sql} WHERE {' AND '.join(clauses)}" if clauses else sql), params


# --- principals and scrip -------------------------------------------------------------------


def principal(conn: sqlite3.Connection, principal_id: str) -> records.Principal:
    row = conn.execute(_PRINCIPAL + " WHERE id = ?", (principal_id,)).fetchone()
    if row is None:
        raise UnknownPrincipal(principal_id)
    return records.Principal(*row)


def principals(conn: sqlite3.Connection, kind: str | None) -> list[records.Principal]:
    sql, params = _where(_PRINCIPAL, [("kind = ?", kind)])
    return [records.Principal(*row) for row in conn.execute(sql + " ORDER BY id", params)]


def supply(conn: sqlite3.Connection) -> records.Supply:
    minted, burned, circulating = conn.execute(
        "SELECT minted, burned, (SELECT coalesce(sum(scrip), 0) FROM principals) FROM scrip_supply"
    ).fetchone()
    return records.Supply(int(minted), int(burned), int(circulating))


# --- resources and holdings -----------------------------------------------------------------


def resources(conn: sqlite3.Connection) -> list[records.ResourceSpec]:
    return [
        records.ResourceSpec(*row)
        for row in conn.execute(
            "SELECT name, kind, unit, total, distribution, rate, capacity FROM resources"
            " ORDER BY name"
        )
    ]


def stock_allocated(conn: sqlite3.Connection, resource: str) -> float:
    row = conn.execute(
        "SELECT coalesce(sum(quota), 0.0) FROM stock_holdings WHERE resource = ?", (resource,)
    ).fetchone()
    return float(row[0])


def stock(conn: sqlite3.Connection, principal_id: str, resource: str) -> records.StockHolding:
    row = conn.execute(
        _STOCK + " WHERE principal_id = ? AND resource = ?", (principal_id, resource)
    ).fetchone()
    if row is None:
        _explain_missing(conn, principal_id, resource, "stock")
    return records.StockHolding(*row)


def bucket(conn: sqlite3.Connection, principal_id: str, resource: str) -> records.FlowHolding:
    row = conn.execute(
        _FLOW + " WHERE principal_id = ? AND resource = ?", (principal_id, resource)
    ).fetchone()
    if row is None:
        _explain_missing(conn, principal_id, resource, "flow")
    return records.FlowHolding(principal_id, resource, Bucket(*row[1:]))


def available(conn: sqlite3.Connection, principal_id: str, resource: str, now: float) -> float:
    row = conn.execute("SELECT kind FROM resources WHERE name = ?", (resource,)).fetchone()
    if row is None:
        raise UnknownResource(resource)
    if row[0] == "stock":
        return stock(conn, principal_id, resource).available
    return bucket(conn, principal_id, resource).available(now)


def holdings(
    conn: sqlite3.Connection, principal_id: str
) -> tuple[list[records.StockHolding], list[records.FlowHolding]]:
    held = conn.execute(
        _STOCK + " WHERE principal_id = ? ORDER BY resource", (principal_id,)
    ).fetchall()
    flow = conn.execute(
        _FLOW + " WHERE principal_id = ? ORDER BY resource", (principal_id,)
    ).fetchall()
    return (
        [records.StockHolding(*r) for r in held],
        [records.FlowHolding(principal_id, r[0], Bucket(*r[1:])) for r in flow],
    )


def account(conn: sqlite3.Connection, principal_id: str) -> records.Account:
    who = principal(conn, principal_id)
    held, flow = holdings(conn, principal_id)
    return records.Account(who, tuple(held), tuple(flow))


def _explain_missing(
    conn: sqlite3.Connection, principal_id: str, resource: str, kind: str
) -> NoReturn:
    principal(conn, principal_id)
    row = conn.execute("SELECT kind FROM resources WHERE name = ?", (resource,)).fetchone()
    if row is None:
        raise UnknownResource(resource)
    if row[0] != kind:
        raise UnknownResource(resource, f"{resource} is a {row[0]} resource, not {kind}")
    raise UnknownResource(resource, f"{principal_id!r} holds no {resource}")


# --- artifacts and trades -------------------------------------------------------------------


def artifact(conn: sqlite3.Connection, artifact_id: str) -> records.Artifact:
    row = conn.execute(_ARTIFACT + " WHERE id = ?", (artifact_id,)).fetchone()
    if row is None:
        raise UnknownArtifact(artifact_id)
    return records.Artifact(*row)


def artifacts(conn: sqlite3.Connection, owner_id: str | None) -> list[records.Artifact]:
    sql, params = _where(_ARTIFACT, [("owner_id = ?", owner_id)])
    return [records.Artifact(*row) for row in conn.execute(sql + " ORDER BY id", params)]


def artifact_index(
    conn: sqlite3.Connection, owner_id: str | None, limit: int | None
) -> list[records.ArtifactInfo]:
    sql, params = _where(
        "SELECT id, owner_id, size_bytes, updated_at, executable = 1, frozen = 1, price"
        " FROM artifacts",
        [("owner_id = ?", owner_id)],
    )
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [records.ArtifactInfo(*row) for row in conn.execute(sql, params)]


def listings(
    conn: sqlite3.Connection,
    *,
    status: ListingStatus | None,
    seller: str | None,
    open_to: str | None,
    max_price: int | None,
    after: int,
    limit: int,
) -> list[records.Listing]:
    sql, params = _where(
        "SELECT id, artifact_id, seller_id, price, buyer_id, status, size_bytes, created_at,"
        " closed_at, sold_to FROM escrow_listings",
        [
            ("id > ?", after),
            ("status = ?", status),
            ("seller_id = ?", seller),
            ("(buyer_id IS NULL OR buyer_id = ?) AND seller_id != ?", open_to),
            ("price <= ?", max_price),
        ],
    )
    return [
        records.Listing(*row)
        for row in conn.execute(sql + " ORDER BY id LIMIT ?", [*params, limit])
    ]


def debts(conn: sqlite3.Connection, party: str | None) -> list[records.Debt]:
    found = [records.Debt(*row) for row in conn.execute(_DEBT + " ORDER BY d.id")]
    if party is None:
        return found
    offered = DebtStatus.PROPOSED
    return [
        d
        for d in found
        if party in (d.debtor, d.creditor) or (d.status is offered and d.lender == party)
    ]


def oracle_bids(conn: sqlite3.Connection, status: BidStatus | None) -> list[records.Bid]:
    sql, params = _where(
        "SELECT id, bidder_id, artifact_id, amount, status, placed_at, round_at, paid"
        " FROM oracle_bids",
        [("status = ?", status)],
    )
    return [records.Bid(*row) for row in conn.execute(sql + " ORDER BY id", params)]


def oracle_results(conn: sqlite3.Connection, limit: int) -> list[records.OracleResult]:
    rows = conn.execute(
        "SELECT round_at, artifact_id, owner_id, bidder_id, bid, paid, score, minted"
        " FROM oracle_results ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [records.OracleResult(*row) for row in reversed(rows)]


# --- the event log --------------------------------------------------------------------------


def events(
    conn: sqlite3.Connection,
    *,
    after: int,
    principal: str | None,
    kind: str | None,
    limit: int,
    newest_first: bool,
) -> list[records.Event]:
    sql, params = _where(
        _EVENT,
        [
            ("seq > ?", after),
            ("(principal_id = ? OR counterparty_id = ? OR actor_id = ?)", principal),
            ("kind = ?", kind),
        ],
    )
    sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
    return [
        records.Event(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            _number(row[7]),
            row[8],
            row[9],
            json.loads(row[10]),
        )
        for row in conn.execute(sql, [*params, limit])
    ]


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


# --- agents and the dollar budget -----------------------------------------------------------


def agent(conn: sqlite3.Connection, agent_id: str) -> records.AgentRecord:
    row = conn.execute(_AGENT + " WHERE s.agent_id = ?", (agent_id,)).fetchone()
    if row is None:
        raise UnknownPrincipal(agent_id)
    return _agent_record(row)


def agents(conn: sqlite3.Connection) -> list[records.AgentRecord]:
    return [_agent_record(row) for row in conn.execute(_AGENT + " ORDER BY s.agent_id")]


def notes(conn: sqlite3.Connection, agent_id: str, limit: int) -> list[records.Note]:
    rows = conn.execute(
        "SELECT id, at, text FROM agent_notes WHERE agent_id = ? ORDER BY id DESC LIMIT ?",
        (agent_id, limit),
    ).fetchall()
    return [records.Note(*row) for row in reversed(rows)]


def api_budget(conn: sqlite3.Connection) -> records.ApiBudget:
    return records.ApiBudget(
        *conn.execute("SELECT limit_nd, reserved_nd, spent_nd FROM api_budget").fetchone()
    )


def llm_calls(conn: sqlite3.Connection, agent_id: str | None) -> list[records.LLMCall]:
    sql, params = _where(
        "SELECT call_id, agent_id, model, attempt, status, reserved_nd, cost_nd, prompt_tokens,"
        " completion_tokens, error FROM llm_calls",
        [("agent_id = ?", agent_id)],
    )
    return [records.LLMCall(*row) for row in conn.execute(sql + " ORDER BY id", params)]


def _stored(agent_id: str, what: str, text: Any, default: Any) -> Any:
    """A JSON column of an agent's state; a value that is not a JSON object (a tampered or
    damaged row) is logged and read as ``default``, so that it affects only this agent."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        _log.warning(
            "agent %s: its stored %s is not JSON (%s); using %r", agent_id, what, exc, default
        )
        return default
    if not isinstance(value, dict):
        _log.warning(
            "agent %s: its stored %s is not a JSON object; using %r", agent_id, what, default
        )
        return default
    return value


def _agent_record(row: tuple[Any, ...]) -> records.AgentRecord:
    agent_id = str(row[0])
    return records.AgentRecord(
        agent_id,
        _stored(agent_id, "config", row[1], {}) or {},
        int(row[2]),
        row[3],
        _stored(agent_id, "sleep state", row[4], None),
        _stored(agent_id, "last result", row[5], None),
        int(row[6]),
    )


def programs(
    conn: sqlite3.Connection,
    *,
    owner_id: str | None,
    frozen: bool | None,
    ids: tuple[str, ...] | None,
    for_agent: str | None,
    limit: int,
) -> list[records.Program]:
    sql, params = _where(
        "SELECT id, owner_id, price, frozen = 1, size_bytes, scrip_held, artifacts_held,"
        " invocations, succeeded, revenue, updated_at FROM programs",
        [("owner_id = ?", owner_id), ("frozen = ?", None if frozen is None else int(frozen))],
    )
    if ids is not None:
        marks = ", ".join("?" * len(ids)) or "NULL"
        sql += (" AND" if params else " WHERE") + f" id IN ({marks})"
        params.extend(ids)
    if for_agent is not None:
        # What an agent should know first: what it invoked lately, then frozen (trustable)
        # programs, then the newest (so new ones are seen). Others' only: its own are in its
        # artifact list.
        sql += (" AND" if params else " WHERE") + " owner_id != ?"
        params.append(for_agent)
        sql += (
            " ORDER BY (SELECT max(i.started_at) FROM invocations i WHERE i.invoker_id = ?"
            " AND i.artifact_id = programs.id) DESC NULLS LAST, frozen DESC, updated_at DESC, id"
        )
        params.append(for_agent)
    else:
        sql += " ORDER BY succeeded DESC, id"
    sql += " LIMIT ?"
    params.append(limit)
    out = []
    for row in conn.execute(sql, params):
        pid, owner, price, frozen, size, scrip, held, calls, ok, revenue, updated = row
        out.append(
            records.Program(
                pid, owner, price, bool(frozen), size, scrip, held, calls, ok, revenue, updated
            )
        )
    return out


def invocations(
    conn: sqlite3.Connection, *, invoker_id: str | None, artifact_id: str | None, limit: int
) -> list[records.InvocationRecord]:
    sql, params = _where(
        "SELECT id, invoker_id, artifact_id, owner_id, status, pay, price, memory_bytes, fuel,"
        " compute_seconds, error_kind, error, started_at, ended_at FROM invocations",
        [("invoker_id = ?", invoker_id), ("artifact_id = ?", artifact_id)],
    )
    sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [records.InvocationRecord(*row) for row in conn.execute(sql, params)]


def program_state(conn: sqlite3.Connection, artifact_id: str, key: str) -> str | None:
    row = conn.execute(
        "SELECT value FROM artifact_state WHERE artifact_id = ? AND key = ?", (artifact_id, key)
    ).fetchone()
    return None if row is None else str(row[0])


def prompt_tokens_since(conn: sqlite3.Connection, since: float) -> tuple[int, int]:
    row = conn.execute(
        "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(cached_tokens), 0)"
        " FROM llm_calls WHERE started_at >= ?",
        (since,),
    ).fetchone()
    return int(row[0]), int(row[1])


# --- tasks -----------------------------------------------------------------------------------


def task_board(conn: sqlite3.Connection, *, listed_only: bool) -> list[records.TaskStanding]:
    sql = (
        "SELECT id, title, difficulty, reward, solvers, solved, solvers_left, submissions,"
        " closes_at, attempts, listed = 1 FROM task_board"
    )
    if listed_only:
        sql += " WHERE listed = 1"
    sql += " ORDER BY difficulty, id"
    return [records.TaskStanding(*row) for row in conn.execute(sql)]


def task_results(
    conn: sqlite3.Connection,
    *,
    task_id: str | None,
    agent_id: str | None,
    status: str | None,
    limit: int,
) -> list[records.TaskResult]:
    sql, params = _where(
        "SELECT submission_id, task_id, title, agent_id, artifact_id, status, cases_passed,"
        " cases_total, reason, minted, tools_paid, fuel, compute_seconds, started_at, ended_at"
        " FROM task_results",
        [("task_id = ?", task_id), ("agent_id = ?", agent_id), ("status = ?", status)],
    )
    sql += " ORDER BY ended_at DESC, submission_id DESC LIMIT ?"
    params.append(limit)
    return [records.TaskResult(*row) for row in conn.execute(sql, params)]


def solved_by(conn: sqlite3.Connection, agent_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT task_id FROM task_submissions WHERE submitter_id = ? AND status = ?",
        (agent_id, SubmissionStatus.SOLVED),
    )
    return sorted(str(r[0]) for r in rows)


def task_tally(conn: sqlite3.Connection, since: float) -> records.TaskTally:
    minted = conn.execute(
        "SELECT COALESCE(sum(reward), 0) FROM task_submissions WHERE ended_at >= ?", (since,)
    ).fetchone()
    oracle = conn.execute(
        "SELECT COALESCE(sum(minted), 0) FROM oracle_results WHERE round_at >= ?", (since,)
    ).fetchone()
    rows = conn.execute(
        "SELECT status, COALESCE(reason, ''), count(*) FROM task_submissions"
        " WHERE ended_at >= ? AND status != ? GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        (since, SubmissionStatus.ABANDONED),
    ).fetchall()
    solved = conn.execute(
        "SELECT count(DISTINCT task_id) FROM task_submissions WHERE status = ? AND ended_at >= ?",
        (SubmissionStatus.SOLVED, since),
    ).fetchone()
    return records.TaskTally(
        minted_by_tasks=int(minted[0]),
        minted_by_oracle=int(oracle[0]),
        tasks_solved=int(solved[0]),
        outcomes=tuple((str(a), str(b), int(c)) for a, b, c in rows),
    )


def turn_view(
    conn: sqlite3.Connection,
    *,
    agent_id: str,
    with_account: bool,
    artifacts: int,
    for_sale: int,
    programs_limit: int,
) -> records.TurnView:
    return records.TurnView(
        account=account(conn, agent_id) if with_account else None,
        own_artifacts=artifact_index(conn, agent_id, artifacts),
        for_sale=listings(
            conn,
            status=ListingStatus.ACTIVE,
            seller=None,
            open_to=agent_id,
            max_price=None,
            after=0,
            limit=for_sale,
        ),
        programs=programs(
            conn, owner_id=None, frozen=None, ids=None, for_agent=agent_id, limit=programs_limit
        )
        if programs_limit
        else [],
    )
