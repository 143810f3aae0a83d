"""Robonomics: the TokenTorq training loop's engine state, actors, flows and flow log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "robonomics_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tick", sa.Integer, nullable=False),
        sa.Column("next_flow_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("id = 1", name="one_row"),
    )
    op.create_table(
        "robonomics_actors",
        sa.Column("uuid", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.UniqueConstraint("kind", "name", name="uq_actor_kind_name"),
    )
    op.create_table(
        "robonomics_flows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "robonomics_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tick", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_robonomics_log_tick", "robonomics_log", ["tick"])
    op.execute(
        """CREATE VIEW robonomics_robots AS
        SELECT name, json_extract(state, '$.agent') AS agent,
               json_extract(state, '$.ready_to_train') AS ready_to_train,
               json_extract(state, '$.is_trained') AS is_trained,
               json_extract(state, '$.training_remaining') AS training_remaining,
               json_extract(state, '$.token_torq') AS token_torq,
               json_extract(state, '$.min_token_torq') AS min_token_torq,
               json_extract(state, '$.torq') AS torq, uuid
          FROM robonomics_actors WHERE kind = 'Robot' ORDER BY position"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW robonomics_robots")
    op.drop_table("robonomics_log")
    op.drop_table("robonomics_flows")
    op.drop_table("robonomics_actors")
    op.drop_table("robonomics_state")
