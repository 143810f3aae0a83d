"""The resource exchange: its goods, orders (escrowed until filled, cancelled or expired) and
fills, with views of the book, the trades and a price history per good."""

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE exchange_goods (
	good TEXT NOT NULL PRIMARY KEY,
	resource TEXT NOT NULL,
	side TEXT NOT NULL,
	lot FLOAT NOT NULL,
	fee INTEGER NOT NULL DEFAULT 0,
	CONSTRAINT good_side CHECK (side IN ('rate', 'units', 'capacity')),
	CONSTRAINT good_named CHECK (good = resource || ':' || side),
	CONSTRAINT lot_positive CHECK (lot > 0),
	CONSTRAINT fee_whole CHECK (fee >= 0 AND typeof(fee) = 'integer'),
	FOREIGN KEY(resource) REFERENCES resources (name)
)"""
    )
    op.execute(
        """CREATE TABLE exchange_orders (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	trader_id TEXT NOT NULL,
	good TEXT NOT NULL,
	side TEXT NOT NULL,
	price INTEGER NOT NULL,
	quantity INTEGER NOT NULL,
	remaining INTEGER NOT NULL,
	status TEXT NOT NULL,
	created_at FLOAT NOT NULL,
	expires_at FLOAT,
	closed_at FLOAT,
	CONSTRAINT order_side CHECK (side IN ('bid', 'ask')),
	CONSTRAINT order_price CHECK (price > 0 AND typeof(price) = 'integer'),
	CONSTRAINT order_quantity CHECK (quantity > 0 AND typeof(quantity) = 'integer'),
	CONSTRAINT order_remaining CHECK (remaining >= 0 AND remaining <= quantity),
	CONSTRAINT order_status CHECK (status IN ('open', 'filled', 'cancelled', 'expired')),
	CONSTRAINT filled_is_empty CHECK ((status = 'filled') = (remaining = 0)),
	CONSTRAINT open_not_closed CHECK ((status = 'open') = (closed_at IS NULL)),
	FOREIGN KEY(trader_id) REFERENCES principals (id),
	FOREIGN KEY(good) REFERENCES exchange_goods (good)
)"""
    )
    op.execute(
        "CREATE INDEX ix_exchange_book ON exchange_orders (good, side, price, id)"
        " WHERE status = 'open'"
    )
    op.execute(
        "CREATE INDEX ix_exchange_due ON exchange_orders (expires_at)"
        " WHERE status = 'open' AND expires_at IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_exchange_trader ON exchange_orders (trader_id, status)")
    op.execute(
        """CREATE TABLE exchange_fills (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	good TEXT NOT NULL,
	bid_id INTEGER NOT NULL,
	ask_id INTEGER NOT NULL,
	buyer_id TEXT NOT NULL,
	seller_id TEXT NOT NULL,
	price INTEGER NOT NULL,
	quantity INTEGER NOT NULL,
	fee INTEGER NOT NULL,
	at FLOAT NOT NULL,
	CONSTRAINT fill_price CHECK (price > 0 AND typeof(price) = 'integer'),
	CONSTRAINT fill_quantity CHECK (quantity > 0 AND typeof(quantity) = 'integer'),
	CONSTRAINT fill_fee CHECK (fee >= 0 AND fee <= price * quantity),
	CONSTRAINT fill_not_self CHECK (buyer_id != seller_id),
	FOREIGN KEY(good) REFERENCES exchange_goods (good),
	FOREIGN KEY(bid_id) REFERENCES exchange_orders (id),
	FOREIGN KEY(ask_id) REFERENCES exchange_orders (id)
)"""
    )
    op.execute("CREATE INDEX ix_exchange_fills_good ON exchange_fills (good, id)")
    op.execute(
        """CREATE VIEW exchange_book AS
        SELECT good, side, price, sum(remaining) AS lots, count(*) AS orders
          FROM exchange_orders WHERE status = 'open'
         GROUP BY good, side, price"""
    )
    op.execute(
        """CREATE VIEW exchange_trades AS
        SELECT f.id AS fill_id, f.good, f.buyer_id, f.seller_id, f.price, f.quantity AS lots,
               f.quantity * g.lot AS amount, f.price * f.quantity AS scrip, f.fee,
               f.bid_id, f.ask_id,
               strftime('%Y-%m-%d %H:%M:%f', f.at, 'unixepoch') AS at_utc
          FROM exchange_fills f JOIN exchange_goods g ON g.good = f.good"""
    )
    op.execute(
        """CREATE VIEW exchange_prices AS
        SELECT good, CAST(at / 60 AS INTEGER) * 60 AS minute,
               strftime('%Y-%m-%d %H:%M', CAST(at / 60 AS INTEGER) * 60, 'unixepoch')
                   AS minute_utc,
               (SELECT price FROM exchange_fills x WHERE x.good = f.good
                   AND CAST(x.at / 60 AS INTEGER) = CAST(f.at / 60 AS INTEGER)
                 ORDER BY x.id LIMIT 1) AS open,
               max(price) AS high, min(price) AS low,
               (SELECT price FROM exchange_fills x WHERE x.good = f.good
                   AND CAST(x.at / 60 AS INTEGER) = CAST(f.at / 60 AS INTEGER)
                 ORDER BY x.id DESC LIMIT 1) AS close,
               sum(quantity) AS lots, sum(price * quantity) AS scrip, count(*) AS fills
          FROM exchange_fills f GROUP BY good, CAST(at / 60 AS INTEGER)"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW exchange_prices")
    op.execute("DROP VIEW exchange_trades")
    op.execute("DROP VIEW exchange_book")
    op.drop_table("exchange_fills")
    op.drop_table("exchange_orders")
    op.drop_table("exchange_goods")
