"""Escrow listings: artifacts held by genesis_escrow while they are for sale.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "escrow_listings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("artifact_id", sa.Text, nullable=False),
        sa.Column("seller_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("price", sa.Integer, nullable=False),
        sa.Column("buyer_id", sa.Text, sa.ForeignKey("principals.id"), nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("sold_to", sa.Text, sa.ForeignKey("principals.id"), nullable=True),
        sa.CheckConstraint("price > 0 AND typeof(price) = 'integer'", name="price_positive"),
        sa.CheckConstraint("status IN ('active', 'sold', 'cancelled')", name="listing_status"),
        sa.CheckConstraint("(status = 'sold') = (sold_to IS NOT NULL)", name="sold_has_buyer"),
        sqlite_autoincrement=True,
    )
    # One active listing per artifact, in the schema and not only in code.
    op.create_index(
        "ux_escrow_active_artifact",
        "escrow_listings",
        ["artifact_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_escrow_status", "escrow_listings", ["status", "id"])
    op.execute(
        """CREATE VIEW escrow_sales AS
        SELECT id AS listing_id, artifact_id, seller_id, sold_to AS buyer_id, price,
               strftime('%Y-%m-%d %H:%M:%f', closed_at, 'unixepoch') AS sold_at_utc
          FROM escrow_listings WHERE status = 'sold'"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW escrow_sales")
    op.drop_table("escrow_listings")
