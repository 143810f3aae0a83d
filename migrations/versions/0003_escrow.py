"""Escrow listings: artifacts held by genesis_escrow while they are for sale."""

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE escrow_listings (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	artifact_id TEXT NOT NULL, 
	seller_id TEXT NOT NULL, 
	price INTEGER NOT NULL, 
	buyer_id TEXT, 
	status TEXT NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	created_at FLOAT NOT NULL, 
	closed_at FLOAT, 
	sold_to TEXT, 
	CONSTRAINT price_positive CHECK (price > 0 AND typeof(price) = 'integer'), 
	CONSTRAINT listing_status CHECK (status IN ('active', 'sold', 'cancelled')), 
	CONSTRAINT sold_has_buyer CHECK ((status = 'sold') = (sold_to IS NOT NULL)), 
	FOREIGN KEY(seller_id) REFERENCES principals (id), 
	FOREIGN KEY(buyer_id) REFERENCES principals (id), 
	FOREIGN KEY(sold_to) REFERENCES principals (id)
)"""
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_escrow_active_artifact ON escrow_listings (artifact_id) WHERE status = 'active'"
    )
    op.execute("CREATE INDEX ix_escrow_status ON escrow_listings (status, id)")
    op.execute(
        """CREATE VIEW escrow_sales AS
        SELECT id AS listing_id, artifact_id, seller_id, sold_to AS buyer_id, price,
               strftime('%Y-%m-%d %H:%M:%f', closed_at, 'unixepoch') AS sold_at_utc
          FROM escrow_listings WHERE status = 'sold'"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW escrow_sales")
    op.drop_table("escrow_listings")
