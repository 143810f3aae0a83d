"""The database schema as SQLAlchemy Core tables.

This is the schema *as the migrations leave it*: the Alembic revisions in ``migrations/`` are
the only thing that changes a database, and a test checks that a freshly migrated file matches
these tables. Readers use them to build queries; the ledger kernel's writer uses plain SQL.

Times are Unix seconds (REAL); the views in the migrations add readable UTC strings.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "agent_notes",
    "agent_state",
    "api_budget",
    "artifacts",
    "debts",
    "escrow_listings",
    "events",
    "flow_buckets",
    "llm_calls",
    "metadata",
    "metric_windows",
    "operations",
    "oracle_bids",
    "oracle_results",
    "principals",
    "resources",
    "robonomics_actors",
    "robonomics_flows",
    "robonomics_log",
    "robonomics_state",
    "scrip_supply",
    "stock_holdings",
]

metadata = sa.MetaData()

principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("scrip", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.CheckConstraint("kind IN ('agent', 'system')", name="principal_kind"),
    sa.CheckConstraint("scrip >= 0", name="scrip_never_negative"),
    sa.CheckConstraint("typeof(scrip) = 'integer'", name="scrip_is_integer"),
)

scrip_supply = sa.Table(
    "scrip_supply",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("minted", sa.Integer, nullable=False),
    sa.Column("burned", sa.Integer, nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
    sa.CheckConstraint("minted >= 0 AND burned >= 0 AND burned <= minted", name="supply_sane"),
    sa.CheckConstraint(
        "typeof(minted) = 'integer' AND typeof(burned) = 'integer'", name="supply_is_integer"
    ),
)

resources = sa.Table(
    "resources",
    metadata,
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

stock_holdings = sa.Table(
    "stock_holdings",
    metadata,
    sa.Column("principal_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("resource", sa.Text, sa.ForeignKey("resources.name"), primary_key=True),
    sa.Column("quota", sa.Float, nullable=False),
    sa.Column("used", sa.Float, nullable=False),
    sa.CheckConstraint("quota >= 0", name="quota_non_negative"),
    sa.CheckConstraint("used >= 0 AND used <= quota", name="used_within_quota"),
)

flow_buckets = sa.Table(
    "flow_buckets",
    metadata,
    sa.Column("principal_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("resource", sa.Text, sa.ForeignKey("resources.name"), primary_key=True),
    sa.Column("rate", sa.Float, nullable=False),
    sa.Column("capacity", sa.Float, nullable=False),
    sa.Column("balance", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("rate >= 0 AND capacity >= 0", name="bucket_shape"),
    sa.CheckConstraint("balance <= capacity", name="balance_within_capacity"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("owner_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False, index=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("size_bytes >= 0", name="size_non_negative"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("principal_id", sa.Text, nullable=True),
    sa.Column("counterparty_id", sa.Text, nullable=True),
    sa.Column("resource", sa.Text, nullable=True),
    sa.Column("amount", sa.Numeric(asdecimal=False), nullable=True),
    sa.Column("artifact_id", sa.Text, nullable=True),
    sa.Column("op_id", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_events_principal", "principal_id", "seq"),
    sa.Index("ix_events_counterparty", "counterparty_id", "seq"),
    sqlite_autoincrement=True,
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("op_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

# --- revision 0002: agents and their LLM calls -----------------------------------------------

agent_state = sa.Table(
    "agent_state",
    metadata,
    sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("config_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("config_holder", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("sleep", sa.Text, nullable=True),
    sa.Column("last_result", sa.Text, nullable=True),
    sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("json_valid(config)", name="config_is_json"),
    sa.CheckConstraint("sleep IS NULL OR json_valid(sleep)", name="sleep_is_json"),
    sa.CheckConstraint("turns >= 0", name="turns_non_negative"),
)

agent_notes = sa.Table(
    "agent_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_agent_notes_agent", "agent_id", "id"),
    sqlite_autoincrement=True,
)

api_budget = sa.Table(
    "api_budget",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("limit_nd", sa.Integer, nullable=False),
    sa.Column("reserved_nd", sa.Integer, nullable=False),
    sa.Column("spent_nd", sa.Integer, nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
    sa.CheckConstraint(
        "limit_nd >= 0 AND reserved_nd >= 0 AND spent_nd >= 0", name="budget_non_negative"
    ),
    sa.CheckConstraint(
        "typeof(limit_nd) = 'integer' AND typeof(reserved_nd) = 'integer'"
        " AND typeof(spent_nd) = 'integer'",
        name="budget_is_integer",
    ),
)

llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.Text, nullable=False, unique=True),
    sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reserved_nd", sa.Integer, nullable=False),
    sa.Column("cost_nd", sa.Integer, nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=True),
    sa.Column("completion_tokens", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.CheckConstraint(
        "status IN ('reserved', 'settled', 'failed', 'abandoned')", name="call_status"
    ),
    sa.CheckConstraint("reserved_nd >= 0 AND coalesce(cost_nd, 0) >= 0", name="cost_sane"),
    sa.Index("ix_llm_calls_agent", "agent_id", "id"),
    sa.Index("ix_llm_calls_status", "status"),
    sqlite_autoincrement=True,
)

metric_windows = sa.Table(
    "metric_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("window_end", sa.Float, nullable=False),
    sa.Column("agent_id", sa.Text, sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("scrip", sa.Integer, nullable=False),
    sa.Column("turns", sa.Integer, nullable=False),
    sa.Column("actions_ok", sa.Integer, nullable=False),
    sa.Column("actions_failed", sa.Integer, nullable=False),
    sa.Column("dollars", sa.Float, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("cpu_seconds", sa.Float, nullable=False),
    sa.Column("balances", sa.Text, nullable=False),
    sa.Index("ix_metric_windows_end", "window_end", "agent_id"),
    sqlite_autoincrement=True,
)

# --- revision 0003: escrow -------------------------------------------------------------------

escrow_listings = sa.Table(
    "escrow_listings",
    metadata,
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
    sa.Index(
        "ux_escrow_active_artifact",
        "artifact_id",
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
    ),
    sa.Index("ix_escrow_status", "status", "id"),
    sqlite_autoincrement=True,
)

# --- revision 0004: debt ---------------------------------------------------------------------

debts = sa.Table(
    "debts",
    metadata,
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
    sa.Index("ix_debts_debtor", "debtor_id", "status"),
    sqlite_autoincrement=True,
)

# --- revision 0005: the oracle ----------------------------------------------------------------

oracle_bids = sa.Table(
    "oracle_bids",
    metadata,
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
    sa.CheckConstraint("status IN ('active', 'won', 'lost', 'withdrawn')", name="bid_status"),
    sa.Index(
        "ux_oracle_active_bid",
        "bidder_id",
        "artifact_id",
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
    ),
    sqlite_autoincrement=True,
)

oracle_results = sa.Table(
    "oracle_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("round_at", sa.Float, nullable=False),
    sa.Column("artifact_id", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=True),
    sa.Column("bidder_id", sa.Text, nullable=False),
    sa.Column("bid", sa.Integer, nullable=False),
    sa.Column("paid", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("minted", sa.Integer, nullable=False),
    sa.Index("ix_oracle_results_round", "round_at"),
    sqlite_autoincrement=True,
)

# --- revision 0006: robonomics ---------------------------------------------------------------

robonomics_state = sa.Table(
    "robonomics_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tick", sa.Integer, nullable=False),
    sa.Column("next_flow_id", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("id = 1", name="one_row"),
)

robonomics_actors = sa.Table(
    "robonomics_actors",
    metadata,
    sa.Column("uuid", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.UniqueConstraint("kind", "name", name="uq_actor_kind_name"),
)

robonomics_flows = sa.Table(
    "robonomics_flows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)

robonomics_log = sa.Table(
    "robonomics_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tick", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_robonomics_log_tick", "tick"),
    sqlite_autoincrement=True,
)
