"""Debts: loans between agents, each owned as the artifact debts/<id> by its creditor.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_table(
        "debts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("debtor_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("lender_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("principal", sa.Integer, nullable=False),
        sa.Column("interest_rate", sa.Float, nullable=False),
        sa.Column("amount_due", sa.Integer, nullable=False),
        sa.Column("repaid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("defaulted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("accepted_at", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.CheckConstraint("principal > 0 AND typeof(principal) = 'integer'", name="principal_ok"),
        sa.CheckConstraint("interest_rate >= 0", name="interest_non_negative"),
        sa.CheckConstraint("repaid >= 0 AND repaid <= amount_due", name="repaid_within_due"),
        sa.CheckConstraint("defaulted >= 0", name="defaulted_non_negative"),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'repaid', 'forgiven', 'defaulted', 'withdrawn')",
            name="debt_status",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_debts_debtor", "debts", ["debtor_id", "status"])


def downgrade() -> None:
    op.drop_table("debts")
