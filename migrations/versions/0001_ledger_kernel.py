"""The ledger kernel: principals, scrip, resources, artifacts, events, idempotency."""

from alembic import op

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.execute(
        """CREATE TABLE principals (
	id TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	scrip INTEGER DEFAULT '0' NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT principal_kind CHECK (kind IN ('agent', 'system')), 
	CONSTRAINT scrip_never_negative CHECK (scrip >= 0), 
	CONSTRAINT scrip_is_integer CHECK (typeof(scrip) = 'integer')
)"""
    )
    op.execute(
        """CREATE TABLE scrip_supply (
	id INTEGER NOT NULL, 
	minted INTEGER NOT NULL, 
	burned INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT single_row CHECK (id = 1), 
	CONSTRAINT supply_sane CHECK (minted >= 0 AND burned >= 0 AND burned <= minted), 
	CONSTRAINT supply_is_integer CHECK (typeof(minted) = 'integer' AND typeof(burned) = 'integer')
)"""
    )
    op.execute("INSERT INTO scrip_supply (id, minted, burned) VALUES (1, 0, 0)")
    op.execute(
        """CREATE TABLE resources (
	name TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	unit TEXT NOT NULL, 
	total FLOAT, 
	distribution TEXT, 
	rate FLOAT, 
	capacity FLOAT, 
	declared_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (name), 
	CONSTRAINT resource_shape CHECK ((kind = 'stock' AND total IS NOT NULL AND total >= 0) OR (kind = 'flow' AND rate IS NOT NULL AND rate >= 0 AND capacity IS NOT NULL AND capacity >= 0))
)"""
    )
    op.execute(
        """CREATE TABLE stock_holdings (
	principal_id TEXT NOT NULL, 
	resource TEXT NOT NULL, 
	quota FLOAT NOT NULL, 
	used FLOAT NOT NULL, 
	PRIMARY KEY (principal_id, resource), 
	CONSTRAINT quota_non_negative CHECK (quota >= 0), 
	CONSTRAINT used_within_quota CHECK (used >= 0 AND used <= quota), 
	FOREIGN KEY(principal_id) REFERENCES principals (id), 
	FOREIGN KEY(resource) REFERENCES resources (name)
)"""
    )
    op.execute(
        """CREATE TABLE flow_buckets (
	principal_id TEXT NOT NULL, 
	resource TEXT NOT NULL, 
	rate FLOAT NOT NULL, 
	capacity FLOAT NOT NULL, 
	balance FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (principal_id, resource), 
	CONSTRAINT bucket_shape CHECK (rate >= 0 AND capacity >= 0), 
	CONSTRAINT balance_within_capacity CHECK (balance <= capacity), 
	FOREIGN KEY(principal_id) REFERENCES principals (id), 
	FOREIGN KEY(resource) REFERENCES resources (name)
)"""
    )
    op.execute(
        """CREATE TABLE artifacts (
	id TEXT NOT NULL, 
	owner_id TEXT NOT NULL, 
	content TEXT NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT size_non_negative CHECK (size_bytes >= 0), 
	FOREIGN KEY(owner_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_artifacts_owner_id ON artifacts (owner_id)")
    op.execute(
        """CREATE TABLE events (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	at FLOAT NOT NULL, 
	kind TEXT NOT NULL, 
	actor_id TEXT, 
	principal_id TEXT, 
	counterparty_id TEXT, 
	resource TEXT, 
	amount NUMERIC, 
	artifact_id TEXT, 
	op_id TEXT, 
	details TEXT DEFAULT '{}' NOT NULL
)"""
    )
    op.execute("CREATE INDEX ix_events_principal ON events (principal_id, seq)")
    op.execute("CREATE INDEX ix_events_counterparty ON events (counterparty_id, seq)")
    op.execute(
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only: rows cannot be updated'); END"
    )
    op.execute(
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only: rows cannot be deleted'); END"
    )
    op.execute(
        """CREATE TABLE operations (
	op_id TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	request_hash TEXT NOT NULL, 
	receipt TEXT NOT NULL, 
	at FLOAT NOT NULL, 
	PRIMARY KEY (op_id)
)"""
    )
    op.execute(
        """CREATE VIEW balances_now AS 
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
                       min(capacity, balance + max(0.0, ((julianday('now') - 2440587.5) * 86400.0) - updated_at) * rate) AS available
                  FROM flow_buckets) f
          JOIN principals p ON p.id = f.principal_id
          JOIN resources r ON r.name = f.resource"""
    )
    op.execute(
        """CREATE VIEW scrip_transfers AS 
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at, kind,
               CASE kind WHEN 'mint' THEN NULL ELSE principal_id END AS from_id,
               CASE kind WHEN 'transfer' THEN counterparty_id
                         WHEN 'mint' THEN principal_id END AS to_id,
               CAST(amount AS INTEGER) AS amount, actor_id, op_id
          FROM events
         WHERE kind IN ('transfer', 'mint', 'burn')"""
    )
    op.execute(
        """CREATE VIEW resource_transfers AS 
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at, kind,
               principal_id AS from_id, counterparty_id AS to_id, resource, amount, op_id
          FROM events
         WHERE kind IN ('resource_transfer', 'quota_transfer')"""
    )
    op.execute(
        """CREATE VIEW principal_events AS 
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
           AND actor_id IS NOT principal_id AND actor_id IS NOT counterparty_id"""
    )
    op.execute(
        """CREATE VIEW scrip_totals AS 
        SELECT s.minted, s.burned, (SELECT coalesce(sum(scrip), 0) FROM principals) AS circulating,
               (SELECT coalesce(sum(scrip), 0) FROM principals) = s.minted - s.burned AS conserved
          FROM scrip_supply s"""
    )
    op.execute(
        """CREATE VIEW artifact_usage AS 
        SELECT a.owner_id, count(*) AS artifacts, sum(a.size_bytes) AS bytes
          FROM artifacts a GROUP BY a.owner_id"""
    )


def downgrade() -> None:
    for view in (
        "artifact_usage",
        "scrip_totals",
        "principal_events",
        "resource_transfers",
        "scrip_transfers",
        "balances_now",
    ):
        op.execute(f"DROP VIEW {view}")
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
