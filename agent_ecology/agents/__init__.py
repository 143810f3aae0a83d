"""Agents: continuous think-act loops, their context, the action schema and its parser.

Each agent is an :class:`AgentLoop` (``while alive: wait until allowed -> think -> act ->
pay``), all run in one task group by the runtime and none triggered by a tick. Replies are
parsed into one typed action (:data:`Action`) by :func:`parse_action`; the
:class:`Executor` carries it out through the ledger kernel and the genesis artifacts.
"""

from agent_ecology.agents.actions import ACTIONS, Action, action_shapes
from agent_ecology.agents.bus import EventBus, Mailbox
from agent_ecology.agents.context import Observation, render
from agent_ecology.agents.executor import Executor, Outcome
from agent_ecology.agents.loop import (
    COMPUTE,
    LLM_RATE,
    AgentLoop,
    AgentState,
    AgentStats,
    LoopServices,
)
from agent_ecology.agents.meter import CpuMeter
from agent_ecology.agents.observer import Observer, WorldObserver, WorldView
from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.agents.roster import AgentSpec, load_roster
from agent_ecology.agents.sleep import WakeConditions

__all__ = [
    "ACTIONS",
    "COMPUTE",
    "LLM_RATE",
    "Action",
    "ActionError",
    "AgentLoop",
    "AgentSpec",
    "AgentState",
    "AgentStats",
    "CpuMeter",
    "EventBus",
    "Executor",
    "LoopServices",
    "Mailbox",
    "Observation",
    "Observer",
    "Outcome",
    "WakeConditions",
    "WorldObserver",
    "WorldView",
    "action_shapes",
    "load_roster",
    "parse_action",
    "render",
]
