"""agent-ecology: an asyncio runtime where LLM agents live under real resource limits.

Every change of state goes through the ledger kernel (:mod:`agent_ecology.ledger`), which
keeps scrip, resources, quotas, artifacts and the event log in one SQLite file.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
