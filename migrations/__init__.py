"""Alembic revisions for the agent-ecology database (installed as ``agent_ecology.migrations``)."""
