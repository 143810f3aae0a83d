"""The genesis artifacts: the world's built-in, privileged artifacts.

- ``genesis_ledger``: balances, unilateral transfers of scrip and resources, artifact ownership;
- ``genesis_escrow``: artifact-for-scrip trades (deposit, purchase, cancel, list);
- ``genesis_rights_registry``: quotas and the right to change an agent's config;
- ``genesis_oracle``: bids at any time, resolution on a published schedule, minting to winners;
- ``genesis_debt``: loans owned as artifacts by their creditors;
- ``genesis_tasks``: the user's tasks: list, read, submit a program (checked by hidden cases);
- ``genesis_event_log``: paged reads of the event log;
- ``genesis_handbook``: how the world works, generated from the live config.

Every state change they make goes through the ledger kernel.
"""

from agent_ecology.genesis.base import (
    Args,
    GenesisArtifact,
    Invocation,
    InvocationError,
    Method,
    MethodFailed,
)
from agent_ecology.genesis.event_log import event_json
from agent_ecology.genesis.handbook import Handbook
from agent_ecology.genesis.ledger import account_json
from agent_ecology.genesis.registry import Genesis

__all__ = [
    "Args",
    "Genesis",
    "GenesisArtifact",
    "Handbook",
    "Invocation",
    "InvocationError",
    "Method",
    "MethodFailed",
    "account_json",
    "event_json",
]
