"""The actors (nodes) of the TokenTorq training loop, as plain serialisable records.

Field names follow the seed (``seeds/000_c4e0d91dfc8484f3.txt``): an Oracle's ``is_active``,
a Robot's ``ready_to_train``, ``is_trained``, ``training_remaining``, ``token_torq``,
``min_token_torq``, ``torq`` and ``sit_rep``, Giskard's ``token_torq_capacity`` and
``tick_rate``. Every actor has a UUID, derived from its kind and name so that the same
configuration always gives the same UUIDs (and the same flow log).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ACTOR_KINDS",
    "BRLA",
    "Actor",
    "Enterprise",
    "Giskard",
    "Isaac",
    "Oracle",
    "Robot",
    "Task",
    "actor_from_state",
    "actor_uuid",
]

_NAMESPACE = uuid.UUID("6f1d0c1e-2b8a-4f57-9a63-7a0e5c1b9d42")


def actor_uuid(kind: str, name: str) -> str:
    """The UUID of the actor ``kind``/``name`` (stable across runs and machines)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


@dataclass(kw_only=True)
class Actor:
    """A node of the flow graph."""

    kind: ClassVar[str] = "actor"
    name: str
    uuid: str = ""

    def __post_init__(self) -> None:
        if not self.uuid:
            self.uuid = actor_uuid(self.kind, self.name)

    def state(self) -> dict[str, Any]:
        # the fields as they are (JSON copies nested dicts when it dumps them); much faster
        # than dataclasses.asdict, which deep-copies, at 10,000 robots a tick
        return dict(vars(self))


@dataclass(kw_only=True)
class BRLA(Actor):
    """The labour agreement that oversees production; holds the TokenTorqAuth request data."""

    kind: ClassVar[str] = "BRLA"
    tta_request_data: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Enterprise(Actor):
    """The beneficiary of production."""

    kind: ClassVar[str] = "Enterprise"


@dataclass(kw_only=True)
class Oracle(Actor):
    """A production task: which robots work on it, whether it is active, the Torq it made."""

    kind: ClassVar[str] = "Oracle"
    task: str
    robots: list[str] = field(default_factory=list)  # robot UUIDs
    brla: str = ""  # the BRLA UUID that oversees it
    is_active: bool = False
    torq: float = 0.0


@dataclass(kw_only=True)
class Robot(Actor):
    """A robot: trained by a TokenTorqDrain, then mining Torq in a TorqFountain."""

    kind: ClassVar[str] = "Robot"
    oracle: str = ""  # its Oracle's UUID
    agent: str | None = None  # the ecology agent it is bound to (minted scrip goes there)
    task: str = ""  # the task it was approved for (set when its drain starts)
    tta_data: dict[str, Any] = field(default_factory=dict)  # its request data, sit_rep merged
    ready_to_train: bool = False
    is_trained: bool = True
    training_remaining: float = 0.0
    token_torq: float = 0.0
    min_token_torq: float = 0.0
    torq: float = 0.0
    sit_rep: dict[str, Any] = field(default_factory=dict)
    experience: dict[str, int] = field(default_factory=dict)  # tasks done, per task kind
    mint_carry: float = 0.0  # scrip owed below one unit, carried to the next mint


@dataclass(kw_only=True)
class Giskard(Actor):
    """The compute allocator: shares ``token_torq_capacity`` among the active streams."""

    kind: ClassVar[str] = "Giskard"
    token_torq_capacity: float = 0.0
    tick_rate: float = 0.0


@dataclass(kw_only=True)
class Isaac(Actor):
    """The minter: turns Torq into scrip for the agent bound to the robot."""

    kind: ClassVar[str] = "Isaac"
    minted: int = 0


ACTOR_KINDS: dict[str, type[Actor]] = {
    cls.kind: cls for cls in (BRLA, Enterprise, Oracle, Robot, Giskard, Isaac)
}


def actor_from_state(kind: str, state: dict[str, Any]) -> Actor:
    """Rebuild an actor from :meth:`Actor.state` (as stored in the database)."""
    return ACTOR_KINDS[kind](**state)


@dataclass(frozen=True, slots=True)
class Task:
    """A production task: its kind (``complex`` or ``simple``), how complex it is (which sets
    the TokenTorq a robot must hold before it may produce) and how many ticks it lasts."""

    name: str
    kind: str
    complexity: float
    ticks: int
