"""Metric windows: periodic snapshots of every agent, for plots after the run."""

from __future__ import annotations

import json
from typing import TypedDict

from agent_ecology.ledger.errors import InvalidRequest
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.tx import Tx

_FIELDS = (
    "agent_id",
    "state",
    "scrip",
    "turns",
    "actions_ok",
    "actions_failed",
    "dollars",
    "tokens",
    "cpu_seconds",
    "balances",
)


class RecordMetricsDetails(TypedDict):
    rows: int


@operation(EventKind.METRICS_WINDOW)
class RecordMetrics(Operation[RecordMetricsDetails]):
    """Store one window's rows (a JSON list of objects with the ``metric_windows`` fields)."""

    window_start: float
    window_end: float
    rows: str

    def check(self) -> None:
        if not self.window_start <= self.window_end:
            raise InvalidRequest("a metrics window must not end before it starts")
        try:
            rows = json.loads(self.rows)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"metrics rows are not JSON: {exc}") from None
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and set(r) == set(_FIELDS) for r in rows
        ):
            raise InvalidRequest(f"metrics rows must be objects with exactly {', '.join(_FIELDS)}")
        for r in rows:
            for name in ("scrip", "turns", "actions_ok", "actions_failed", "tokens"):
                value = r[name]
                if not isinstance(value, int) or not -(2**63) <= value < 2**63:
                    raise InvalidRequest(
                        f"metrics row of {r['agent_id']!r}: {name} must be an integer that fits"
                        f" in 64 bits, got {str(value)[:40]}"
                    )

    def apply(self, tx: Tx) -> RecordMetricsDetails:
        rows = json.loads(self.rows)
        tx.conn.executemany(
            "INSERT INTO metric_windows (window_start, window_end, agent_id, state, scrip, turns,"
            " actions_ok, actions_failed, dollars, tokens, cpu_seconds, balances)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    self.window_start,
                    self.window_end,
                    r["agent_id"],
                    r["state"],
                    r["scrip"],
                    r["turns"],
                    r["actions_ok"],
                    r["actions_failed"],
                    r["dollars"],
                    r["tokens"],
                    r["cpu_seconds"],
                    json.dumps(r["balances"], sort_keys=True),
                )
                for r in rows
            ],
        )
        tx.event(
            EventKind.METRICS_WINDOW,
            details={"start": self.window_start, "end": self.window_end, "agents": len(rows)},
        )
        return {"rows": len(rows)}
