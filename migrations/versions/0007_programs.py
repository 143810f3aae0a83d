"""Executable artifacts: programs with a price, frozen or not, their stored state, invocations."""

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE artifacts ADD COLUMN executable INTEGER DEFAULT 0 NOT NULL"
        " CONSTRAINT executable_is_flag CHECK (executable IN (0, 1))"
    )
    op.execute(
        "ALTER TABLE artifacts ADD COLUMN frozen INTEGER DEFAULT 0 NOT NULL"
        " CONSTRAINT frozen_is_flag CHECK (frozen IN (0, 1))"
    )
    op.execute(
        "ALTER TABLE artifacts ADD COLUMN price INTEGER DEFAULT 0 NOT NULL"
        " CONSTRAINT price_is_scrip CHECK (typeof(price) = 'integer' AND price >= 0)"
    )
    for column in ("calls", "succeeded", "revenue"):  # kept by FinishInvocation
        op.execute(
            f"ALTER TABLE artifacts ADD COLUMN {column} INTEGER DEFAULT 0 NOT NULL"
            f" CONSTRAINT {column}_non_negative CHECK ({column} >= 0)"
        )
    op.execute("CREATE INDEX ix_artifacts_programs ON artifacts (id) WHERE executable = 1")
    op.execute(
        """CREATE TABLE artifact_state (
	artifact_id TEXT NOT NULL, 
	key TEXT NOT NULL, 
	value TEXT NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (artifact_id, key), 
	CONSTRAINT state_size_non_negative CHECK (size_bytes >= 0), 
	FOREIGN KEY(artifact_id) REFERENCES artifacts (id)
)"""
    )
    op.execute(
        """CREATE TABLE invocations (
	id TEXT NOT NULL, 
	invoker_id TEXT NOT NULL, 
	artifact_id TEXT NOT NULL, 
	owner_id TEXT NOT NULL, 
	status TEXT NOT NULL, 
	pay INTEGER NOT NULL, 
	price INTEGER NOT NULL, 
	memory_bytes INTEGER NOT NULL, 
	fuel INTEGER, 
	compute_seconds FLOAT, 
	error_kind TEXT, 
	error TEXT, 
	started_at FLOAT NOT NULL, 
	ended_at FLOAT, 
	PRIMARY KEY (id), 
	CONSTRAINT invocation_status CHECK (status IN ('running', 'ok', 'failed', 'abandoned')), 
	CONSTRAINT pay_is_scrip CHECK (typeof(pay) = 'integer' AND pay >= 0), 
	CONSTRAINT invocation_price_is_scrip CHECK (typeof(price) = 'integer' AND price >= 0), 
	FOREIGN KEY(invoker_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_invocations_artifact ON invocations (artifact_id, started_at)")
    op.execute(
        "CREATE INDEX ix_invocations_invoker ON invocations (invoker_id, artifact_id, started_at)"
    )
    op.execute(
        "CREATE INDEX ix_invocations_running ON invocations (status) WHERE status = 'running'"
    )
    op.execute(
        """CREATE VIEW programs AS
        SELECT a.id, a.owner_id, a.price, a.frozen, a.size_bytes,
               COALESCE(p.scrip, 0) AS scrip_held,
               (SELECT count(*) FROM artifacts h WHERE h.owner_id = a.id) AS artifacts_held,
               a.calls AS invocations, a.succeeded, a.revenue, a.updated_at
          FROM artifacts a LEFT JOIN principals p ON p.id = a.id
         WHERE a.executable = 1"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW programs")
    op.drop_table("invocations")
    op.drop_table("artifact_state")
    op.execute("DROP INDEX ix_artifacts_programs")
    for column in ("revenue", "succeeded", "calls", "price"):
        op.execute(f"ALTER TABLE artifacts DROP COLUMN {column}")
    op.execute("ALTER TABLE artifacts DROP COLUMN frozen")
    op.execute("ALTER TABLE artifacts DROP COLUMN executable")
