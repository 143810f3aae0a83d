"""Leases: which process of a sharded run holds a world-wide duty (the oracle, the tasks'
schedules, the exchange's expiry, robonomics), and until when."""

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE leases (
	name TEXT NOT NULL PRIMARY KEY,
	holder TEXT NOT NULL,
	acquired_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	CONSTRAINT lease_named CHECK (length(name) > 0 AND length(holder) > 0),
	CONSTRAINT lease_ends_after_it_starts CHECK (expires_at >= acquired_at)
)"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE leases")
