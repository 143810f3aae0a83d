"""Agents and their LLM calls: agent state, notes, the dollar budget, calls, metric windows."""

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE agent_state (
	agent_id TEXT NOT NULL, 
	config TEXT NOT NULL, 
	config_version INTEGER DEFAULT '1' NOT NULL, 
	config_holder TEXT NOT NULL, 
	sleep TEXT, 
	last_result TEXT, 
	turns INTEGER DEFAULT '0' NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (agent_id), 
	CONSTRAINT config_is_json CHECK (json_valid(config)), 
	CONSTRAINT sleep_is_json CHECK (sleep IS NULL OR json_valid(sleep)), 
	CONSTRAINT turns_non_negative CHECK (turns >= 0), 
	FOREIGN KEY(agent_id) REFERENCES principals (id), 
	FOREIGN KEY(config_holder) REFERENCES principals (id)
)"""
    )
    op.execute(
        """CREATE TABLE agent_notes (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	agent_id TEXT NOT NULL, 
	at FLOAT NOT NULL, 
	text TEXT NOT NULL, 
	FOREIGN KEY(agent_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_agent_notes_agent ON agent_notes (agent_id, id)")
    op.execute(
        """CREATE TABLE api_budget (
	id INTEGER NOT NULL, 
	limit_nd INTEGER NOT NULL, 
	reserved_nd INTEGER NOT NULL, 
	spent_nd INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT single_row CHECK (id = 1), 
	CONSTRAINT budget_non_negative CHECK (limit_nd >= 0 AND reserved_nd >= 0 AND spent_nd >= 0), 
	CONSTRAINT budget_is_integer CHECK (typeof(limit_nd) = 'integer' AND typeof(reserved_nd) = 'integer' AND typeof(spent_nd) = 'integer')
)"""
    )
    op.execute("INSERT INTO api_budget (id, limit_nd, reserved_nd, spent_nd) VALUES (1, 0, 0, 0)")
    op.execute(
        """CREATE TABLE llm_calls (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	call_id TEXT NOT NULL, 
	agent_id TEXT NOT NULL, 
	model TEXT NOT NULL, 
	attempt INTEGER NOT NULL, 
	status TEXT NOT NULL, 
	reserved_nd INTEGER NOT NULL, 
	cost_nd INTEGER, 
	prompt_tokens INTEGER, 
	completion_tokens INTEGER, 
	error TEXT, 
	started_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	CONSTRAINT call_status CHECK (status IN ('reserved', 'settled', 'failed', 'abandoned')), 
	CONSTRAINT cost_sane CHECK (reserved_nd >= 0 AND coalesce(cost_nd, 0) >= 0), 
	UNIQUE (call_id), 
	FOREIGN KEY(agent_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_llm_calls_agent ON llm_calls (agent_id, id)")
    op.execute("CREATE INDEX ix_llm_calls_status ON llm_calls (status)")
    op.execute(
        """CREATE TABLE metric_windows (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	window_start FLOAT NOT NULL, 
	window_end FLOAT NOT NULL, 
	agent_id TEXT NOT NULL, 
	state TEXT NOT NULL, 
	scrip INTEGER NOT NULL, 
	turns INTEGER NOT NULL, 
	actions_ok INTEGER NOT NULL, 
	actions_failed INTEGER NOT NULL, 
	dollars FLOAT NOT NULL, 
	tokens INTEGER NOT NULL, 
	cpu_seconds FLOAT NOT NULL, 
	balances TEXT NOT NULL, 
	FOREIGN KEY(agent_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_metric_windows_end ON metric_windows (window_end, agent_id)")
    op.execute(
        """CREATE VIEW api_budget_now AS 
        SELECT limit_nd / 1000000000.0 AS limit_dollars, spent_nd / 1000000000.0 AS spent_dollars,
               reserved_nd / 1000000000.0 AS reserved_dollars,
               (limit_nd - spent_nd - reserved_nd) / 1000000000.0 AS left_dollars
          FROM api_budget"""
    )
    op.execute(
        """CREATE VIEW llm_costs AS 
        SELECT agent_id, model, count(*) AS attempts,
               sum(status = 'settled') AS answered,
               sum(status = 'failed') AS failed,
               sum(status = 'abandoned') AS abandoned,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               coalesce(sum(cost_nd), 0) / 1000000000.0 AS dollars
          FROM llm_calls GROUP BY agent_id, model"""
    )
    op.execute(
        """CREATE VIEW agent_turns AS 
        SELECT seq, strftime('%Y-%m-%d %H:%M:%f', at, 'unixepoch') AS at_utc, at,
               principal_id AS agent_id,
               json_extract(details, '$.turn') AS turn,
               json_extract(details, '$.action') AS action,
               json_extract(details, '$.ok') AS ok,
               json_extract(details, '$.code') AS code,
               json_extract(details, '$.charges') AS charges
          FROM events WHERE kind = 'turn'"""
    )


def downgrade() -> None:
    for view in ("agent_turns", "llm_costs", "api_budget_now"):
        op.execute(f"DROP VIEW {view}")
    for table in ("metric_windows", "llm_calls", "api_budget", "agent_notes", "agent_state"):
        op.drop_table(table)
