"""Prompt tokens a server read from its cache, per LLM call, and in the llm_costs view."""

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"

_COSTS = """CREATE VIEW llm_costs AS
        SELECT agent_id, model, count(*) AS attempts,
               sum(status = 'settled') AS answered,
               sum(status = 'failed') AS failed,
               sum(status = 'abandoned') AS abandoned,
               coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
               coalesce(sum(cached_tokens), 0) AS cached_tokens,
               coalesce(sum(completion_tokens), 0) AS completion_tokens,
               coalesce(sum(cost_nd), 0) / 1000000000.0 AS dollars
          FROM llm_calls GROUP BY agent_id, model"""


def upgrade() -> None:
    op.execute(
        "ALTER TABLE llm_calls ADD COLUMN cached_tokens INTEGER"
        " CONSTRAINT cached_within_prompt CHECK (cached_tokens IS NULL OR (cached_tokens >= 0"
        " AND (prompt_tokens IS NULL OR cached_tokens <= prompt_tokens)))"
    )
    op.execute("DROP VIEW llm_costs")
    op.execute(_COSTS)


def downgrade() -> None:
    op.execute("DROP VIEW llm_costs")
    op.execute(_COSTS.replace("               coalesce(sum(cached_tokens), 0) AS cached_tokens,\n", ""))
    op.execute("ALTER TABLE llm_calls DROP COLUMN cached_tokens")
