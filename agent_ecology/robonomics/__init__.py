"""Robonomics: the TokenTorq training flow loop of a robot economy, run by the ecology's clock.

``seeds/000_c4e0d91dfc8484f3.txt`` is the authority for the loop, ``ROBONOMICS.md`` pins what
it leaves open. Actors and flows (:mod:`.actors`, :mod:`.flows`), the tick engine
(:mod:`.engine`), Torq mining (:mod:`.mining`), the database store (:mod:`.store`) and its
section of config.yaml (:mod:`.settings`).
"""

from agent_ecology.robonomics.actors import BRLA, Enterprise, Giskard, Isaac, Oracle, Robot
from agent_ecology.robonomics.engine import LogLine, Params, Robonomics, Task, TickReport, new_world
from agent_ecology.robonomics.mining import MiningParams, mine
from agent_ecology.robonomics.settings import RobonomicsSettings

__all__ = [
    "BRLA",
    "Enterprise",
    "Giskard",
    "Isaac",
    "LogLine",
    "MiningParams",
    "Oracle",
    "Params",
    "Robonomics",
    "RobonomicsSettings",
    "Robot",
    "Task",
    "TickReport",
    "mine",
    "new_world",
]
