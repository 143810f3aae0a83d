"""The oracle: bids held in scrip, and the results of each resolution."""

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE oracle_bids (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	bidder_id TEXT NOT NULL, 
	artifact_id TEXT NOT NULL, 
	amount INTEGER NOT NULL, 
	status TEXT NOT NULL, 
	placed_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	round_at FLOAT, 
	paid INTEGER, 
	CONSTRAINT bid_positive CHECK (amount > 0 AND typeof(amount) = 'integer'), 
	CONSTRAINT bid_status CHECK (status IN ('active', 'won', 'lost', 'withdrawn')), 
	FOREIGN KEY(bidder_id) REFERENCES principals (id)
)"""
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_oracle_active_bid ON oracle_bids (bidder_id, artifact_id) WHERE status = 'active'"
    )
    op.execute(
        """CREATE TABLE oracle_results (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	round_at FLOAT NOT NULL, 
	artifact_id TEXT NOT NULL, 
	owner_id TEXT, 
	bidder_id TEXT NOT NULL, 
	bid INTEGER NOT NULL, 
	paid INTEGER NOT NULL, 
	score FLOAT NOT NULL, 
	minted INTEGER NOT NULL
)"""
    )
    op.execute("CREATE INDEX ix_oracle_results_round ON oracle_results (round_at)")
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
