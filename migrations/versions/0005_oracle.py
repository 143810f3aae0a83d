"""The oracle: bids held in scrip, and the results of each resolution.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.create_table(
        "oracle_bids",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bidder_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("artifact_id", sa.Text, nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("placed_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("round_at", sa.Float, nullable=True),
        sa.Column("paid", sa.Integer, nullable=True),
        sa.CheckConstraint("amount > 0 AND typeof(amount) = 'integer'", name="bid_positive"),
        sa.CheckConstraint(
            "status IN ('active', 'won', 'lost', 'withdrawn')", name="bid_status"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ux_oracle_active_bid",
        "oracle_bids",
        ["bidder_id", "artifact_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "oracle_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_at", sa.Float, nullable=False),
        sa.Column("artifact_id", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Text, nullable=True),
        sa.Column("bidder_id", sa.Text, nullable=False),
        sa.Column("bid", sa.Integer, nullable=False),
        sa.Column("paid", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("minted", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_oracle_results_round", "oracle_results", ["round_at"])
    op.execute(
        """CREATE VIEW oracle_payouts AS
        SELECT strftime('%Y-%m-%d %H:%M:%S', round_at, 'unixepoch') AS round_utc, artifact_id,
               owner_id, bidder_id, bid, paid, score, minted
          FROM oracle_results"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW oracle_payouts")
    op.drop_table("oracle_results")
    op.drop_table("oracle_bids")
