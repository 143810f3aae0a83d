"""Agents and their LLM calls: agent state, notes, the dollar budget, calls, metric windows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"

_ND = 1e9  # nanodollars per dollar

_VIEWS = {
    # The hard dollar limit and where it stands: spent, held by calls in flight, left.
    "api_budget_now": f"""
        SELECT limit_nd / {_ND} AS limit_dollars, spent_nd / {_ND} AS spent_dollars,
               reserved_nd / {_ND} AS reserved_dollars,
               (limit_nd - spent_nd - reserved_nd) / {_ND} AS left_dollars
          FROM api_budget
    """,
    # What each agent's thinking cost: attempts, tokens and dollars, by model.
    "llm_costs": f"""
        SELECT agent_id, model, count(*) AS attempts,
               sum(status = 'settled') AS answered,
               sum(status = 'failed') AS failed,
               sum(status = 'abandoned') AS abandoned,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               coalesce(sum(cost_nd), 0) / {_ND} AS dollars
          FROM llm_calls GROUP BY agent_id, model
    """,
    # Every agent turn: what the agent did and whether it worked.
    "agent_turns": """
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at,
               principal_id AS agent_id,
               json_extract(details, '$.turn') AS turn,
               json_extract(details, '$.action') AS action,
               json_extract(details, '$.ok') AS ok,
               json_extract(details, '$.code') AS code,
               json_extract(details, '$.charges') AS charges
          FROM events WHERE kind = 'turn'
    """,
}


def upgrade() -> None:
    op.create_table(
        "agent_state",
        sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("config_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("config_holder", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("sleep", sa.Text, nullable=True),
        sa.Column("last_result", sa.Text, nullable=True),
        sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("json_valid(config)", name="config_is_json"),
        sa.CheckConstraint("sleep IS NULL OR json_valid(sleep)", name="sleep_is_json"),
        sa.CheckConstraint("turns >= 0", name="turns_non_negative"),
    )
    op.create_table(
        "agent_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_agent_notes_agent", "agent_notes", ["agent_id", "id"])
    op.create_table(
        "api_budget",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("limit_nd", sa.Integer, nullable=False),
        sa.Column("reserved_nd", sa.Integer, nullable=False),
        sa.Column("spent_nd", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint(
            "limit_nd >= 0 AND reserved_nd >= 0 AND spent_nd >= 0", name="budget_non_negative"
        ),
        sa.CheckConstraint(
            "typeof(limit_nd) = 'integer' AND typeof(reserved_nd) = 'integer'"
            " AND typeof(spent_nd) = 'integer'",
            name="budget_is_integer",
        ),
    )
    op.execute("INSERT INTO api_budget (id, limit_nd, reserved_nd, spent_nd) VALUES (1, 0, 0, 0)")
    op.create_table(
        "llm_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.Text, nullable=False, unique=True),
        sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reserved_nd", sa.Integer, nullable=False),
        sa.Column("cost_nd", sa.Integer, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=True),
        sa.Column("completion_tokens", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.CheckConstraint(
            "status IN ('reserved', 'settled', 'failed', 'abandoned')", name="call_status"
        ),
        sa.CheckConstraint("reserved_nd >= 0 AND coalesce(cost_nd, 0) >= 0", name="cost_sane"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_llm_calls_agent", "llm_calls", ["agent_id", "id"])
    op.create_index("ix_llm_calls_status", "llm_calls", ["status"])
    op.create_table(
        "metric_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("scrip", sa.Integer, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("actions_ok", sa.Integer, nullable=False),
        sa.Column("actions_failed", sa.Integer, nullable=False),
        sa.Column("dollars", sa.Float, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("balances", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_metric_windows_end", "metric_windows", ["window_end", "agent_id"])
    for name, body in _VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(_VIEWS)):
        op.execute(f"DROP VIEW {name}")
    for table in ("metric_windows", "llm_calls", "api_budget", "agent_notes", "agent_state"):
        op.drop_table(table)
