"""Robonomics: the TokenTorq training loop's engine state, actors, flows and flow log."""

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE robonomics_state (
	id INTEGER NOT NULL, 
	tick INTEGER NOT NULL, 
	next_flow_id INTEGER NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_row CHECK (id = 1)
)"""
    )
    op.execute(
        """CREATE TABLE robonomics_actors (
	uuid TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	name TEXT NOT NULL, 
	position INTEGER NOT NULL, 
	state TEXT NOT NULL, 
	PRIMARY KEY (uuid), 
	CONSTRAINT uq_actor_kind_name UNIQUE (kind, name)
)"""
    )
    op.execute(
        """CREATE TABLE robonomics_flows (
	id INTEGER NOT NULL, 
	kind TEXT NOT NULL, 
	state TEXT NOT NULL, 
	PRIMARY KEY (id)
)"""
    )
    op.execute(
        """CREATE TABLE robonomics_log (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	tick INTEGER NOT NULL, 
	step INTEGER NOT NULL, 
	flow TEXT NOT NULL, 
	message TEXT NOT NULL, 
	at FLOAT NOT NULL
)"""
    )
    op.execute("CREATE INDEX ix_robonomics_log_tick ON robonomics_log (tick)")
    op.execute(
        """CREATE VIEW robonomics_robots AS
        SELECT name, json_extract(state, '$.agent') AS agent,
               json_extract(state, '$.ready_to_train') AS ready_to_train,
               json_extract(state, '$.is_trained') AS is_trained,
               json_extract(state, '$.training_remaining') AS training_remaining,
               json_extract(state, '$.token_torq') AS token_torq,
               json_extract(state, '$.min_token_torq') AS min_token_torq,
               json_extract(state, '$.torq') AS torq, uuid
          FROM robonomics_actors WHERE kind = 'Robot' ORDER BY position"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW robonomics_robots")
    op.drop_table("robonomics_log")
    op.drop_table("robonomics_flows")
    op.drop_table("robonomics_actors")
    op.drop_table("robonomics_state")
