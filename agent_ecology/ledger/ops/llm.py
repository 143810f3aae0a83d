"""The hard dollar limit: reserve a call's worst case before it, settle to real usage after.

Amounts are integer nanodollars (1e-9 $), rounded up when priced, so that the limit is
checked exactly. A reservation takes the worst case from both the world's budget
(``api_budget``, the limit ``llm.max_api_cost``) and the agent's own share (its
``llm_budget`` stock quota, when that resource is declared). Settling gives the reservation
back and charges what the provider billed. Reservations left open by a crash are charged in
full when the world opens again (the provider may have billed them), so the limit holds
across crashes too.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from agent_ecology.ledger.errors import BudgetExhausted, InvalidRequest
from agent_ecology.ledger.kinds import CallStatus, EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import Count, PrincipalId, Rule, Text, whole
from agent_ecology.ledger.ops.tx import Tx, scope_sql

LLM_BUDGET = "llm_budget"
"""The stock resource (dollars) that is each agent's share of the world's API budget."""

NANODOLLARS = 1_000_000_000

MAX_CHARGE_ND = 10**18
"""The largest charge recorded for one call ($1e9): a bill above it (a server reporting
10^17 tokens) is recorded at this cap, with the figure billed kept in its event, so that the
sums stay within SQLite's 64-bit integers."""
_MAX_SPENT_ND = 4 * 10**18
_MAX_TOKENS = 2**63 - 1
_SETTLED_STATUSES = (CallStatus.SETTLED, CallStatus.FAILED)


_nd = whole(0, "a non-negative integer of nanodollars")
_tokens = whole(0, "a non-negative integer or None")


def _status(value: object, what: str) -> CallStatus:
    if value not in _SETTLED_STATUSES:
        names = tuple(map(str, _SETTLED_STATUSES))
        raise InvalidRequest(f"{what} must be one of {names}, got {value!r}")
    return CallStatus(str(value))


Nanodollars = Annotated[int, Rule(_nd)]
Tokens = Annotated[int, Rule(_tokens)]


def _column(tokens: int | None) -> int | None:
    # A count past SQLite's 64-bit integers is stored at the largest; events keep the figure.
    return None if tokens is None else min(tokens, _MAX_TOKENS)


def _budget(tx: Tx) -> tuple[int, int, int]:
    row = tx.conn.execute("SELECT limit_nd, reserved_nd, spent_nd FROM api_budget").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _metered(tx: Tx, agent_id: str) -> bool:
    row = tx.conn.execute(
        "SELECT 1 FROM stock_holdings WHERE principal_id = ? AND resource = ?",
        (agent_id, LLM_BUDGET),
    ).fetchone()
    return row is not None


class SetApiLimitDetails(TypedDict):
    changed: bool


@operation(EventKind.API_LIMIT_SET)
class SetApiLimit(Operation[SetApiLimitDetails]):
    """Set the world's dollar limit (from ``llm.max_api_cost``); only a system authority may."""

    authority: PrincipalId
    limit_nd: Nanodollars

    def apply(self, tx: Tx) -> SetApiLimitDetails:
        tx.require_system(self.authority, "set the API budget")
        limit, _reserved, spent = _budget(tx)
        if limit == self.limit_nd:
            return {"changed": False}
        tx.conn.execute("UPDATE api_budget SET limit_nd = ?", (self.limit_nd,))
        tx.event(
            EventKind.API_LIMIT_SET,
            actor=self.authority,
            amount=self.limit_nd / NANODOLLARS,
            details={"previous_dollars": limit / NANODOLLARS, "spent_dollars": spent / NANODOLLARS},
        )
        return {"changed": True}


class ReserveCallDetails(TypedDict):
    left_nd: int


@operation(EventKind.LLM_RESERVED)
class ReserveCall(Operation[ReserveCallDetails]):
    """Hold ``reserve_nd`` for one attempt of an LLM call, or refuse if it does not fit."""

    call_id: Text
    agent_id: PrincipalId
    model: Text
    attempt: Count
    reserve_nd: Nanodollars

    def apply(self, tx: Tx) -> ReserveCallDetails:
        tx.principal_kind(self.agent_id)
        dollars = self.reserve_nd / NANODOLLARS
        # The agent's own share first: an agent that cannot afford a call must not stop the
        # world because others' calls hold the rest of the budget.
        if _metered(tx, self.agent_id) and self.reserve_nd:
            tx.use_stock(
                self.agent_id,
                LLM_BUDGET,
                dollars,
                "your share of the API budget cannot cover this call's worst case; lower"
                " max_tokens (update_config), shorten what you send, or get llm_budget quota"
                " from another agent (genesis_ledger transfer with resource llm_budget)",
            )
        limit, reserved, spent = _budget(tx)
        left = limit - reserved - spent
        if self.reserve_nd > left:
            raise BudgetExhausted(self.reserve_nd, max(0, left), reserved)
        tx.conn.execute("UPDATE api_budget SET reserved_nd = reserved_nd + ?", (self.reserve_nd,))
        tx.conn.execute(
            "INSERT INTO llm_calls (call_id, agent_id, model, attempt, status, reserved_nd,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.call_id,
                self.agent_id,
                self.model,
                self.attempt,
                CallStatus.RESERVED,
                self.reserve_nd,
                tx.now,
            ),
        )
        tx.event(
            EventKind.LLM_RESERVED,
            by=self.agent_id,
            resource=LLM_BUDGET,
            amount=dollars,
            details={"call_id": self.call_id, "model": self.model, "attempt": self.attempt},
        )
        return {"left_nd": left - self.reserve_nd}


class SettleCallDetails(TypedDict):
    cost_nd: int
    reserved_nd: int
    billed_nd: int


@operation(EventKind.LLM_CALL)
class SettleCall(Operation[SettleCallDetails]):
    """Close an attempt: give its reservation back and charge ``cost_nd``.

    ``status`` is ``settled`` (an answer) or ``failed`` (an error; ``cost_nd`` is what the
    error is known or assumed to have cost). A cost above the reservation (a provider billing
    more than the worst case) is recorded as billed: the record stays true.
    """

    call_id: Text
    status: Annotated[CallStatus, Rule(_status)]
    cost_nd: Nanodollars
    prompt_tokens: Tokens | None = None
    completion_tokens: Tokens | None = None
    error: Text | None = None
    billed_nd: Nanodollars | None = None
    cached_tokens: Tokens | None = None
    """Of the prompt tokens, those the server read from its cache, where it said."""
    """What the server billed, when above :data:`MAX_CHARGE_ND` (``cost_nd`` is then the cap)."""

    def check(self) -> None:
        if self.cost_nd > MAX_CHARGE_ND:
            raise InvalidRequest(
                f"cost_nd must be at most {MAX_CHARGE_ND}; give a larger bill as billed_nd"
            )

    def apply(self, tx: Tx) -> SettleCallDetails:
        row = tx.conn.execute(
            "SELECT agent_id, model, reserved_nd, status FROM llm_calls WHERE call_id = ?",
            (self.call_id,),
        ).fetchone()
        if row is None:
            raise InvalidRequest(f"no LLM call {self.call_id!r} was reserved")
        agent_id, model, reserved_nd, status = str(row[0]), str(row[1]), int(row[2]), str(row[3])
        if status != CallStatus.RESERVED:
            raise InvalidRequest(f"LLM call {self.call_id!r} is {status} already")
        tx.conn.execute(
            "UPDATE api_budget SET reserved_nd = reserved_nd - ?, spent_nd = MIN(?, spent_nd + ?)",
            (reserved_nd, _MAX_SPENT_ND, self.cost_nd),
        )
        if _metered(tx, agent_id):
            quota, used = tx.stock(agent_id, LLM_BUDGET)
            if reserved_nd and used > 0:
                # min(): the reservation may have been clamped to the quota by float round-off.
                tx.free_stock(agent_id, LLM_BUDGET, min(reserved_nd / NANODOLLARS, used))
            quota, used = tx.stock(agent_id, LLM_BUDGET)
            charge = min(self.cost_nd / NANODOLLARS, quota - used)
            if charge > 0:
                tx.use_stock(agent_id, LLM_BUDGET, charge)
        tx.conn.execute(
            "UPDATE llm_calls SET status = ?, cost_nd = ?, prompt_tokens = ?,"
            " completion_tokens = ?, cached_tokens = ?, error = ?, finished_at = ?"
            " WHERE call_id = ?",
            (
                self.status,
                self.cost_nd,
                _column(self.prompt_tokens),
                _column(self.completion_tokens),
                _column(self.cached_tokens),
                self.error,
                tx.now,
                self.call_id,
            ),
        )
        tx.event(
            EventKind.LLM_CALL,
            by=agent_id,
            resource=LLM_BUDGET,
            amount=self.cost_nd / NANODOLLARS,
            details={
                "call_id": self.call_id,
                "model": model,
                "status": self.status,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "over_reservation": self.cost_nd > reserved_nd,
            },
        )
        billed = self.billed_nd if self.billed_nd is not None else self.cost_nd
        return {"cost_nd": self.cost_nd, "reserved_nd": reserved_nd, "billed_nd": billed}


class ReportOverbillingDetails(TypedDict):
    excess_nd: int


@operation(EventKind.LLM_OVERBILLED)
class ReportOverbilling(Operation[ReportOverbillingDetails]):
    """Record that the server of a settled call billed more than its reservation.

    A fault of that server (it ignored the output cap sent, or reported more prompt tokens
    than the prompt has bytes): the runtime stops calling the model, and this event names
    the model, the server and the excess.
    """

    call_id: Text
    server: Text
    billed_nd: Nanodollars

    def apply(self, tx: Tx) -> ReportOverbillingDetails:
        row = tx.conn.execute(
            "SELECT agent_id, model, reserved_nd, status, prompt_tokens, completion_tokens"
            " FROM llm_calls WHERE call_id = ?",
            (self.call_id,),
        ).fetchone()
        if row is None or row[3] == CallStatus.RESERVED:
            raise InvalidRequest(f"no settled LLM call {self.call_id!r} to report")
        agent_id, model, reserved_nd = str(row[0]), str(row[1]), int(row[2])
        excess = max(0, self.billed_nd - reserved_nd)
        tx.event(
            EventKind.LLM_OVERBILLED,
            by=agent_id,
            resource=LLM_BUDGET,
            amount=excess / NANODOLLARS,
            details={
                "call_id": self.call_id,
                "model": model,
                "server": self.server,
                "reserved_dollars": reserved_nd / NANODOLLARS,
                "billed_dollars": self.billed_nd / NANODOLLARS,
                "excess_dollars": excess / NANODOLLARS,
                "prompt_tokens": row[4],
                "completion_tokens": row[5],
            },
        )
        return {"excess_nd": excess}


class AbandonCallsDetails(TypedDict):
    calls: int
    charged_nd: int


@operation(EventKind.LLM_CALLS_ABANDONED)
class AbandonCalls(Operation[AbandonCallsDetails]):
    """Charge every reservation left open (by a crash) in full and close it.

    Whether the provider billed those attempts is unknown, so the worst case is assumed:
    the dollar limit must hold even across a kill -9.
    """

    authority: PrincipalId
    agents: tuple[str, ...] | None = None
    """Only the calls of these agents (a shard closes its own agents' calls, not those that
    other shards have in flight); None: every call."""
    except_agents: tuple[str, ...] = ()
    """Not the calls of these (the leader of a sharded run closes the calls of the world's
    own principals, such as the oracle's judge: every call but the agents')."""

    def apply(self, tx: Tx) -> AbandonCallsDetails:
        tx.require_system(self.authority, "close abandoned LLM calls")
        scope, params = scope_sql("agent_id", self.agents, self.except_agents)
        rows = tx.conn.execute(
            "SELECT id, reserved_nd FROM llm_calls WHERE status = ?" + scope,
            (CallStatus.RESERVED, *params),
        ).fetchall()
        if not rows:
            return {"calls": 0, "charged_nd": 0}
        total = sum(int(r[1]) for r in rows)
        tx.conn.execute(
            "UPDATE api_budget SET reserved_nd = reserved_nd - ?, spent_nd = spent_nd + ?",
            (total, total),
        )
        tx.conn.executemany(
            "UPDATE llm_calls SET status = ?, cost_nd = reserved_nd, finished_at = ?,"
            " error = 'left open by an interrupted run; charged its worst case'"
            " WHERE id = ? AND status = ?",
            [(CallStatus.ABANDONED, tx.now, r[0], CallStatus.RESERVED) for r in rows],
        )
        # The agents' llm_budget stock stays used by the reservation: it becomes the charge.
        tx.event(
            EventKind.LLM_CALLS_ABANDONED,
            actor=self.authority,
            resource=LLM_BUDGET,
            amount=total / NANODOLLARS,
            details={"calls": len(rows)},
        )
        return {"calls": len(rows), "charged_nd": total}
