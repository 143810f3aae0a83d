"""The ledger kernel: principals, scrip, resources, artifacts, events, idempotency.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

# Wall-clock "now" in Unix seconds, for views that evaluate token buckets at query time.
_NOW = "((julianday('now') - 2440587.5) * 86400.0)"

_VIEWS = {
    # One row per principal and item (scrip, then every resource), evaluated now.
    "balances_now": f"""
        SELECT p.id AS principal_id, p.kind AS principal_kind, 'scrip' AS item,
               'currency' AS item_kind, p.scrip AS available, NULL AS used, NULL AS quota,
               NULL AS rate, NULL AS capacity, 0 AS in_debt, 'scrip' AS unit
          FROM principals p
        UNION ALL
        SELECT h.principal_id, p.kind, h.resource, 'stock', h.quota - h.used, h.used, h.quota,
               NULL, NULL, 0, r.unit
          FROM stock_holdings h
          JOIN principals p ON p.id = h.principal_id
          JOIN resources r ON r.name = h.resource
        UNION ALL
        SELECT f.principal_id, p.kind, f.resource, 'flow', f.available, NULL, f.rate,
               f.rate, f.capacity, f.available < 0, r.unit
          FROM (SELECT principal_id, resource, rate, capacity,
                       min(capacity, balance + max(0.0, {_NOW} - updated_at) * rate) AS available
                  FROM flow_buckets) f
          JOIN principals p ON p.id = f.principal_id
          JOIN resources r ON r.name = f.resource
    """,
    # Every movement of scrip: transfers, mints (from nobody) and burns (to nobody).
    "scrip_transfers": """
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at, kind,
               CASE kind WHEN 'mint' THEN NULL ELSE principal_id END AS from_id,
               CASE kind WHEN 'transfer' THEN counterparty_id
                         WHEN 'mint' THEN principal_id END AS to_id,
               CAST(amount AS INTEGER) AS amount, actor_id, op_id
          FROM events
         WHERE kind IN ('transfer', 'mint', 'burn')
    """,
    # Movements of resources and of quotas between principals.
    "resource_transfers": """
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at, kind,
               principal_id AS from_id, counterparty_id AS to_id, resource, amount, op_id
          FROM events
         WHERE kind IN ('resource_transfer', 'quota_transfer')
    """,
    # Each event once for every principal it concerns, with that principal's role in it.
    "principal_events": """
        SELECT principal_id, 'subject' AS role, seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc,
               kind, counterparty_id AS other_id, resource, amount, artifact_id, details
          FROM events WHERE principal_id IS NOT NULL
        UNION ALL
        SELECT counterparty_id, 'counterparty', seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch'),
               kind, principal_id, resource, amount, artifact_id, details
          FROM events WHERE counterparty_id IS NOT NULL
        UNION ALL
        SELECT actor_id, 'actor', seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch'),
               kind, principal_id, resource, amount, artifact_id, details
          FROM events
         WHERE actor_id IS NOT NULL
           AND actor_id IS NOT principal_id AND actor_id IS NOT counterparty_id
    """,
    # The conservation law, checkable by anyone: circulating = minted - burned.
    "scrip_totals": """
        SELECT s.minted, s.burned, (SELECT coalesce(sum(scrip), 0) FROM principals) AS circulating,
               (SELECT coalesce(sum(scrip), 0) FROM principals) = s.minted - s.burned AS conserved
          FROM scrip_supply s
    """,
    # Disk and artifact count per owner, with the disk charged to them when declared.
    "artifact_usage": """
        SELECT a.owner_id, count(*) AS artifacts, sum(a.size_bytes) AS bytes
          FROM artifacts a GROUP BY a.owner_id
    """,
}


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("scrip", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.CheckConstraint("kind IN ('agent', 'system')", name="principal_kind"),
        sa.CheckConstraint("scrip >= 0", name="scrip_never_negative"),
        sa.CheckConstraint("typeof(scrip) = 'integer'", name="scrip_is_integer"),
    )
    op.create_table(
        "scrip_supply",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("minted", sa.Integer, nullable=False),
        sa.Column("burned", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("minted >= 0 AND burned >= 0 AND burned <= minted", name="supply_sane"),
        sa.CheckConstraint(
            "typeof(minted) = 'integer' AND typeof(burned) = 'integer'", name="supply_is_integer"
        ),
    )
    op.execute("INSERT INTO scrip_supply (id, minted, burned) VALUES (1, 0, 0)")
    op.create_table(
        "resources",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("total", sa.Float, nullable=True),
        sa.Column("distribution", sa.Text, nullable=True),
        sa.Column("rate", sa.Float, nullable=True),
        sa.Column("capacity", sa.Float, nullable=True),
        sa.Column("declared_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint(
            "(kind = 'stock' AND total IS NOT NULL AND total >= 0)"
            " OR (kind = 'flow' AND rate IS NOT NULL AND rate >= 0"
            " AND capacity IS NOT NULL AND capacity >= 0)",
            name="resource_shape",
        ),
    )
    op.create_table(
        "stock_holdings",
        sa.Column("principal_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
        sa.Column("resource", sa.Text, sa.ForeignKey("resources.name"), primary_key=True),
        sa.Column("quota", sa.Float, nullable=False),
        sa.Column("used", sa.Float, nullable=False),
        sa.CheckConstraint("quota >= 0", name="quota_non_negative"),
        sa.CheckConstraint("used >= 0 AND used <= quota", name="used_within_quota"),
    )
    op.create_table(
        "flow_buckets",
        sa.Column("principal_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
        sa.Column("resource", sa.Text, sa.ForeignKey("resources.name"), primary_key=True),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("capacity", sa.Float, nullable=False),
        sa.Column("balance", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("rate >= 0 AND capacity >= 0", name="bucket_shape"),
        sa.CheckConstraint("balance <= capacity", name="balance_within_capacity"),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    )
    op.create_index("ix_artifacts_owner_id", "artifacts", ["owner_id"])
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=True),
        sa.Column("principal_id", sa.Text, nullable=True),
        sa.Column("counterparty_id", sa.Text, nullable=True),
        sa.Column("resource", sa.Text, nullable=True),
        sa.Column("amount", sa.Numeric, nullable=True),
        sa.Column("artifact_id", sa.Text, nullable=True),
        sa.Column("op_id", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_principal", "events", ["principal_id", "seq"])
    op.create_index("ix_events_counterparty", "events", ["counterparty_id", "seq"])
    # The event log is append-only, in the schema and not only in code.
    op.execute(
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: rows cannot be updated'); END"
    )
    op.execute(
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only: rows cannot be deleted'); END"
    )
    op.create_table(
        "operations",
        sa.Column("op_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    for name, body in _VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(_VIEWS)):
        op.execute(f"DROP VIEW {name}")
    op.execute("DROP TRIGGER events_append_only_delete")
    op.execute("DROP TRIGGER events_append_only_update")
    for table in (
        "operations",
        "events",
        "artifacts",
        "flow_buckets",
        "stock_holdings",
        "resources",
        "scrip_supply",
        "principals",
    ):
        op.drop_table(table)
