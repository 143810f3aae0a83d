"""Robonomics in the ecology's SQLite database: each tick saved in one transaction.

A tick's state (the engine counters, the actors and flows it changed, the flows it removed,
its log lines) is one ledger operation; the scrip Isaac mints in that tick goes through the
kernel's ``Mint`` (one ``mint`` event each, so ``scrip_transfers`` and the supply see it),
submitted first with an operation id naming the tick and the agent, so that a tick replayed
after a crash never mints twice. The flow log file is appended after the commit: the table
``robonomics_log`` is the record, the file a copy for reading.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, TypedDict

import anyio

from agent_ecology.ledger import Ledger, ops
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.tx import Tx
from agent_ecology.robonomics.actors import actor_from_state
from agent_ecology.robonomics.engine import LogLine, Params, Robonomics, TickReport
from agent_ecology.robonomics.flows import flow_from_state

__all__ = ["SaveTick", "load", "save", "saved_log"]

_log = logging.getLogger("agent_ecology.robonomics")


class SaveTickDetails(TypedDict):
    tick: int
    lines: int


@operation("robonomics_tick")
class SaveTick(Operation[SaveTickDetails]):
    """One tick of the loop, written whole or not at all."""

    tick: int
    next_flow_id: int
    actors: tuple[tuple[str, str, str, int, str], ...]  # uuid, kind, name, position, state
    flows: tuple[tuple[int, str, str], ...]  # id, kind, state
    removed: tuple[int, ...]
    lines: tuple[tuple[int, int, str, str], ...]  # tick, step, flow, message

    def apply(self, tx: Tx) -> SaveTickDetails:
        conn = tx.conn
        row = conn.execute("SELECT tick FROM robonomics_state WHERE id = 1").fetchone()
        if row is not None and row[0] >= self.tick and self.tick > 0:
            raise ValueError(f"robonomics tick {self.tick} is already saved (at {row[0]})")
        conn.execute(
            "INSERT INTO robonomics_state (id, tick, next_flow_id, updated_at)"
            " VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET tick = excluded.tick,"
            " next_flow_id = excluded.next_flow_id, updated_at = excluded.updated_at",
            (self.tick, self.next_flow_id, tx.now),
        )
        conn.executemany(
            "INSERT INTO robonomics_actors (uuid, kind, name, position, state)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET state = excluded.state",
            self.actors,
        )
        conn.executemany(
            "INSERT INTO robonomics_flows (id, kind, state) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            self.flows,
        )
        conn.executemany("DELETE FROM robonomics_flows WHERE id = ?", [(i,) for i in self.removed])
        conn.executemany(
            "INSERT INTO robonomics_log (tick, step, flow, message, at) VALUES (?, ?, ?, ?, ?)",
            [(*line, tx.now) for line in self.lines],
        )
        return {"tick": self.tick, "lines": len(self.lines)}


def _dumps(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"))  # field order is the class's: stable


def _operation(world: Robonomics, report: TickReport) -> SaveTick:
    """The tick as one operation (JSON encoding: run off the event loop at scale)."""
    positions = world.positions
    op = SaveTick(
        tick=report.tick,
        next_flow_id=report.next_flow_id,
        actors=tuple(
            (a.uuid, a.kind, a.name, positions[a.uuid], _dumps(a.state())) for a in report.actors
        ),
        flows=tuple((f.id, f.kind, _dumps(f.state())) for f in report.flows),
        removed=tuple(report.removed),
        lines=tuple((ln.tick, ln.step, ln.flow, ln.message) for ln in report.lines),
        op_id=f"robonomics:{report.tick}",
    )
    return op


async def save(
    ledger: Ledger,
    world: Robonomics,
    report: TickReport,
    *,
    authority: str,
    log_path: Path | None = None,
) -> None:
    """Write ``report`` (the tick ``world`` just ran): mints first, then the state."""
    for agent, amount in sorted(report.mints.items()):
        await ledger.submit(
            ops.Mint(
                dst=agent,
                amount=amount,
                authority=authority,
                op_id=f"robonomics:{report.tick}:mint:{agent}",
            )
        )
    op = await anyio.to_thread.run_sync(_operation, world, report)
    await ledger.submit(op)
    if log_path is not None and report.lines:
        try:
            with log_path.open("a", encoding="utf-8") as out:
                out.writelines(line.message + "\n" for line in report.lines)
        except OSError as exc:  # the table holds the log; the file is only a copy
            _log.warning(
                "cannot append to the flow log %s (%s); robonomics_log has it", log_path, exc
            )


async def load(ledger: Ledger, params: Params) -> Robonomics | None:
    """The saved world, or ``None`` when the loop has never started in this database."""

    def query(conn: sqlite3.Connection) -> tuple[Any, list[Any], list[Any]]:
        state = conn.execute("SELECT tick, next_flow_id FROM robonomics_state WHERE id = 1")
        actors = conn.execute("SELECT kind, state FROM robonomics_actors ORDER BY position")
        flows = conn.execute("SELECT kind, state FROM robonomics_flows ORDER BY id")
        return state.fetchone(), actors.fetchall(), flows.fetchall()

    state, actors, flows = await ledger.read(query)
    if state is None:
        return None
    return Robonomics(
        params,
        [actor_from_state(kind, json.loads(text)) for kind, text in actors],
        tick=int(state[0]),
        flows=[flow_from_state(kind, json.loads(text)) for kind, text in flows],
        next_flow_id=int(state[1]),
    )


async def saved_log(ledger: Ledger, *, since_tick: int = 0) -> list[LogLine]:
    """The flow log as stored, from ``since_tick`` on, in order."""

    def query(conn: sqlite3.Connection) -> list[LogLine]:
        rows = conn.execute(
            "SELECT tick, step, flow, message FROM robonomics_log WHERE tick >= ? ORDER BY seq",
            (since_tick,),
        )
        return [LogLine(*row) for row in rows]

    return await ledger.read(query)
