"""The flow engine: actors, flows, and ``Robonomics.tick()`` (``ROBONOMICS.md``).

``tick()`` advances the tick counter, then ticks every live flow spawned in an earlier tick,
in spawn order (a flow spawned during tick t first runs in tick t+1); every
``ticks_per_step`` ticks it then runs a step (Giskard shares its capacity among the active
drains, then every robot runs ``step().training_update()``); flows flagged for removal go at
the end of the tick. An exception that escapes a flow is logged and never stops the engine.

The engine is plain Python and deterministic. Each tick returns a :class:`TickReport`: the
log lines, the actors and flows it changed, the flows it removed and the scrip Isaac mints,
which :mod:`agent_ecology.robonomics.store` writes to the database in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent_ecology.robonomics.actors import (
    BRLA,
    Actor,
    Enterprise,
    Giskard,
    Isaac,
    Oracle,
    Robot,
    Task,
)
from agent_ecology.robonomics.flows import (
    DONE,
    FLOW_KINDS,
    Flow,
    ProductionStartFlag,
    RequestFailed,
    TokenTorqDrain,
    TorqFountain,
)
from agent_ecology.robonomics.mining import MiningParams

__all__ = ["LogLine", "Params", "Robonomics", "Task", "TickReport"]

A = TypeVar("A", bound=Actor)


@dataclass(frozen=True, slots=True)
class Params:
    ticks_per_step: int = 4
    max_retries: int = 3
    mint_rate: float = 1.0  # scrip per unit of Torq
    min_token_torq_per_complexity: float = 10.0
    tasks: dict[str, Task] = field(default_factory=dict)
    mining: MiningParams = field(default_factory=MiningParams)


@dataclass(frozen=True, slots=True)
class LogLine:
    tick: int
    step: int
    flow: str  # the flow (or actor) that logged it
    message: str


@dataclass
class TickReport:
    """What one tick did, for the store to write in one transaction."""

    tick: int
    step: int
    lines: list[LogLine]
    actors: list[Actor]
    flows: list[Flow]  # changed or spawned, still live
    removed: list[int]  # flow ids
    mints: dict[str, int]  # agent -> scrip
    next_flow_id: int
    flow_ticks: int = 0  # flows that ran in this tick


class Robonomics:
    """The TokenTorq training loop's world: actors by UUID, live flows in spawn order."""

    def __init__(
        self,
        params: Params,
        actors: Iterable[Actor],
        *,
        tick: int = 0,
        flows: Iterable[Flow] = (),
        next_flow_id: int = 1,
    ) -> None:
        self.params = params
        self.tasks = params.tasks
        self.mining = params.mining
        self.actors: dict[str, Actor] = {a.uuid: a for a in actors}
        self.positions = {uuid: i for i, uuid in enumerate(self.actors)}
        self.flows: dict[int, Flow] = {f.id: f for f in sorted(flows, key=lambda f: f.id)}
        self.tick_count = tick
        self.next_flow_id = next_flow_id
        self.giskard = self._only(Giskard)
        self.isaac = self._only(Isaac)
        self.robots = [a for a in self.actors.values() if isinstance(a, Robot)]
        # robots with a live TorqFountain (kept up to date, so asking is O(1) per agent turn)
        self.producing = {f.source for f in self.flows.values() if isinstance(f, TorqFountain)}
        self._begin()

    # --- what flows use --------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        return self.tick_count // self.params.ticks_per_step

    def at(self) -> str:
        """The seed's ``on Step: [current_step], Tick: [current_tick]``."""
        return f"on Step: {self.step_count}, Tick: {self.tick_count}"

    @staticmethod
    def num(value: float) -> str:
        """A number as the log writes it: short, no float noise (0.1 + 0.2 is 0.3)."""
        rounded = round(value, 9)
        return repr(rounded + 0.0)  # + 0.0 turns -0.0 into 0.0

    def actor(self, uuid: str, kind: type[A]) -> A:
        found = self.actors.get(uuid)
        if not isinstance(found, kind):
            raise LookupError(f"no {kind.kind} with UUID {uuid}")
        return found

    def log(self, source: Flow | Actor | str, message: str) -> None:
        name = source if isinstance(source, str) else source.kind
        self._lines.append(LogLine(self.tick_count, self.step_count, name, message))

    def touch(self, actor: Actor) -> None:
        self._touched[actor.uuid] = actor

    def spawn(self, cls: type[Flow], **fields: Any) -> Flow:
        flow = cls(id=self.next_flow_id, spawned_tick=self.tick_count, **fields)
        self.next_flow_id += 1
        self.flows[flow.id] = flow
        self._changed[flow.id] = flow
        if isinstance(flow, TorqFountain):
            self.producing.add(flow.source)
        return flow

    def removed(self, flow: Flow) -> None:
        self._removed.append(flow.id)

    def request_new_drain(self, tta_request_data: dict[str, Any], robot: Robot) -> dict[str, Any]:
        """Giskard's approval: the TokenTorq the robot must hold, from its task's complexity.
        Giskard processes this quietly (no log line)."""
        oracle = self.actor(robot.oracle, Oracle)
        task = self.tasks[oracle.task]
        minimum = task.complexity * self.params.min_token_torq_per_complexity
        return {"min": minimum, "task": task.name, "kind": task.kind, "robot": robot.uuid}

    def mint(self, robot: Robot, torq: float) -> None:
        """Isaac: scrip for the robot's agent at ``mint_rate`` per Torq; fractions carry."""
        owed = robot.mint_carry + torq * self.params.mint_rate
        amount = math.floor(owed)
        robot.mint_carry = owed - amount
        if amount > 0 and robot.agent is not None:
            self._mints[robot.agent] = self._mints.get(robot.agent, 0) + amount
            self.isaac.minted += amount
            self.touch(self.isaac)
        elif robot.agent is None:
            robot.mint_carry = 0.0  # no agent: nothing is owed to anyone

    def handle_failure(self, failure: Flow) -> None:
        """The failure-retry node decides: spawn the failed flow again while it has retries
        left (``max_retries``), else give up; a failure with ``retry = False`` is noted."""
        node = self.actors[failure.failure_retry_node]
        self.touch(node)
        reason = str(failure.payload.get("reason", ""))
        spec = failure.payload.get("Flow")
        if not failure.payload.get("retry"):
            self.log(node, f"{node.kind} received {failure.kind}: {reason} {self.at()}")
            return
        if not isinstance(spec, dict):
            self.log(node, f"{node.kind} cannot retry: {failure.kind} names no flow {self.at()}")
            return
        attempt, limit = int(spec["attempt"]), self.params.max_retries
        if attempt > limit:
            self.log(
                node,
                f"{node.kind} gave up on {spec['kind']} after {limit} retries: {reason}"
                f" {self.at()}",
            )
            return
        self.spawn(
            FLOW_KINDS[spec["kind"]],
            source=spec["source"],
            target=spec["target"],
            payload=spec["payload"],
            failure_retry_node=spec["failure_retry_node"],
            attempt=attempt + 1,
        )
        self.log(
            node,
            f"{node.kind} retrying {spec['kind']} ({attempt}/{limit}): {reason} {self.at()}",
        )

    # --- the clock -------------------------------------------------------------------------

    def start(self) -> TickReport:
        """Tick 0: the entry point standing in for the SecureBRLA loop's ``RetainerXfer``:
        each Oracle's BRLA spawns a ProductionStartFlag to it."""
        if self.tick_count != 0 or self.flows:
            raise RuntimeError("the loop has already started; resume it with tick()")
        for oracle in [a for a in self.actors.values() if isinstance(a, Oracle)]:
            brla = self.actor(oracle.brla, BRLA)
            self.spawn(
                ProductionStartFlag,
                source=brla.uuid,
                target=oracle.uuid,
                payload=dict(brla.tta_request_data),
                failure_retry_node=brla.uuid,
            )
            self.log(
                "RetainerXfer",
                f"RetainerXfer spawned ProductionStartFlag from {brla.uuid} to {oracle.uuid}"
                f" {self.at()}",
            )
        self._touched.update(self.actors)  # first save: every actor
        return self._end()

    def tick(self) -> TickReport:
        """One tick: flows spawned before it run in spawn order; a step if one is due."""
        self.tick_count += 1
        ran = 0
        for flow in [f for f in self.flows.values() if f.spawned_tick < self.tick_count]:
            if flow.flagged:
                continue
            ran += 1
            self._changed[flow.id] = flow
            try:
                flow.tick(self)
            except Exception as error:  # a flow path that did not catch its own error
                flow.flag(self)  # a broken flow must not run again every tick
                self.log(flow, f"{flow.kind} failed and was dissolved {self.at()}, {error!r}")
        if self.tick_count % self.params.ticks_per_step == 0:
            self._step()
        report = self._end()
        report.flow_ticks = ran
        return report

    def _step(self) -> None:
        giskard = self.giskard
        drains = sum(
            1 for f in self.flows.values() if isinstance(f, TokenTorqDrain) and not f.flagged
        )
        rate = giskard.token_torq_capacity / max(1, drains)
        if rate != giskard.tick_rate:
            giskard.tick_rate = rate
            self.touch(giskard)
        for robot in self.robots:
            self._training_update(robot)

    def _training_update(self, robot: Robot) -> bool:
        """The seed's ``Robot.step().training_update()``."""
        if robot.is_trained:
            return False
        if robot.token_torq < robot.min_token_torq * (1 - DONE):
            self.log(
                robot,
                f"Waiting for training: {self.num(robot.token_torq)}/"
                f"{self.num(robot.min_token_torq)}",
            )
            return False
        try:
            self.spawn(
                TorqFountain,
                source=robot.uuid,
                target=robot.oracle,
                payload={"task": robot.task, "tta_data": robot.tta_data, "sit_rep": robot.sit_rep},
                failure_retry_node=robot.uuid,
            )
            robot.is_trained = True
            self.touch(robot)
            self.log(
                robot,
                f"Robot spawned TorqFountain from {robot.uuid} to {robot.oracle} {self.at()}",
            )
        except Exception as error:
            self.spawn(
                RequestFailed,
                source=robot.uuid,
                target=robot.oracle,
                payload={"retry": True, "reason": "Not ready", "Flow": None},
                failure_retry_node=robot.oracle,
            )
            self.log(robot, f"Robot failed to spawn TorqFountain {self.at()}, {error}")
        return True

    # --- bookkeeping -----------------------------------------------------------------------

    def _only(self, kind: type[A]) -> A:
        found = [a for a in self.actors.values() if isinstance(a, kind)]
        if len(found) != 1:
            raise ValueError(f"the loop needs exactly one {kind.kind}, found {len(found)}")
        return found[0]

    def _begin(self) -> None:
        self._lines: list[LogLine] = []
        self._touched: dict[str, Actor] = {}
        self._changed: dict[int, Flow] = {}
        self._removed: list[int] = []
        self._mints: dict[str, int] = {}

    def _end(self) -> TickReport:
        for flow_id in self._removed:
            gone = self.flows.pop(flow_id, None)
            self._changed.pop(flow_id, None)
            if isinstance(gone, TorqFountain):
                self.producing.discard(gone.source)
        report = TickReport(
            tick=self.tick_count,
            step=self.step_count,
            lines=self._lines,
            actors=list(self._touched.values()),
            flows=list(self._changed.values()),
            removed=list(self._removed),
            mints=self._mints,
            next_flow_id=self.next_flow_id,
        )
        self._begin()
        return report


def new_world(
    params: Params,
    *,
    brla: BRLA,
    oracles: list[Oracle],
    robots: list[Robot],
    giskard: Giskard,
    enterprise: Enterprise | None = None,
    isaac: Isaac | None = None,
) -> Robonomics:
    """A world at tick 0 with no flows yet (call :meth:`Robonomics.start`)."""
    actors: list[Actor] = [brla, enterprise or Enterprise(name="enterprise"), giskard]
    actors += [isaac or Isaac(name="isaac"), *oracles, *robots]
    return Robonomics(params, actors)
