"""The flows (edges) of the TokenTorq training loop, each written as the seed's template.

Every ``tick`` follows ``seeds/000_c4e0d91dfc8484f3.txt`` step for step: track variables,
schema checks, updates and grabs in a core ``try``, then each flow path in its own ``try``,
then dissolution; log lines are the seed's templates word for word. Where the seed gives no
template (the failure flows, the robot's TorqFountain, mining), ours follow the same form.
The steps that read the same in every flow, a failure flow back (flow path 1.1) and
dissolution, are written once, as :meth:`Flow.fail_back` and :meth:`Flow.dissolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from agent_ecology.robonomics.actors import BRLA, Actor, Giskard, Oracle, Robot, Task
from agent_ecology.robonomics.mining import MiningParams, mine

A = TypeVar("A", bound=Actor)


class FlowWorld(Protocol):
    """What a flow may ask of the world that ticks it (the engine's ``Robonomics``).

    A Protocol, so that flows do not import the engine that imports them.
    """

    tasks: dict[str, Task]
    mining: MiningParams
    giskard: Giskard

    def at(self) -> str: ...
    def num(self, value: float) -> str: ...
    def actor(self, uuid: str, kind: type[A]) -> A: ...
    def log(self, source: Flow | Actor | str, message: str) -> None: ...
    def touch(self, actor: Actor) -> None: ...
    def spawn(self, cls: type[Flow], **fields: Any) -> Flow: ...
    def removed(self, flow: Flow) -> None: ...
    def request_new_drain(
        self, tta_request_data: dict[str, Any], robot: Robot
    ) -> dict[str, Any]: ...
    def mint(self, robot: Robot, torq: float) -> None: ...
    def handle_failure(self, failure: Flow) -> None: ...


DONE = 1e-9
"""training_remaining at or below this is 0: a sum of thirds must not leave 1e-16 to train."""

__all__ = [
    "DONE",
    "FLOW_KINDS",
    "DrainRequest",
    "Flow",
    "FlowWorld",
    "ProductionStartFlag",
    "RequestFailed",
    "StreamFailed",
    "TokenTorqAuth",
    "TokenTorqDrain",
    "TorqFountain",
    "flow_from_state",
]


@dataclass(kw_only=True)
class Flow:
    """An edge between two actors with a payload and a failure-retry node."""

    kind: ClassVar[str] = "Flow"
    flow_type: ClassVar[str] = "request"
    id: int
    source: str
    target: str
    payload: dict[str, Any] = field(default_factory=dict)
    failure_retry_node: str
    spawned_tick: int
    attempt: int = 1  # 1 for the first try; a retry spawned by a failure-retry node adds 1
    flagged: bool = False  # flagged for removal at the end of the tick

    def tick(self, w: FlowWorld) -> bool:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        # the fields as they are (JSON copies nested dicts when it dumps them); much faster
        # than dataclasses.asdict, which deep-copies, at 10,000 robots a tick
        return dict(vars(self))

    def spec(self) -> dict[str, Any]:
        """What a failure-retry node needs to spawn this flow again (``Flow = self``)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
            "payload": self.payload,
            "failure_retry_node": self.failure_retry_node,
            "attempt": self.attempt,
        }

    def flag(self, w: FlowWorld) -> None:
        self.flagged = True
        w.removed(self)

    def fail_back(
        self,
        w: FlowWorld,
        failure: type[Flow],
        *,
        source: str,
        target: str,
        reason: str,
        because: str,
    ) -> None:
        """Flow path 1.1: spawn a ``failure`` flow that asks this flow's source, its
        failure-retry node, to spawn it again (``because`` is the log's words for ``reason``)."""
        try:
            w.spawn(
                failure,
                source=source,
                target=target,
                payload={"retry": True, "reason": reason, "Flow": self.spec()},
                failure_retry_node=self.source,
            )
            w.log(
                self,
                f"{self.kind} spawned {failure.kind} to {target} because {because} {w.at()}",
            )
        except Exception as error:
            w.log(self, f"{self.kind} failed to spawn {failure.kind} {w.at()}, {error}")

    def dissolve(self, w: FlowWorld, success: bool, note: str | None = None) -> bool:
        """Flag this flow for dissolution: ``success``, or False where flagging fails.

        The log line ends with ``note`` where one is given, else with the step and tick.
        """
        try:
            self.flag(w)
            w.log(self, f"{self.kind} flagged for dissolution {note or w.at()}")
            return success
        except Exception as error:
            w.log(self, f"{self.kind} failed dissolution flag {w.at()}, {error}")
            return False


@dataclass(kw_only=True)
class ProductionStartFlag(Flow):
    """BRLA -> Oracle: start production (seed step 2, tick 1)."""

    kind: ClassVar[str] = "ProductionStartFlag"

    def tick(self, w: FlowWorld) -> bool:
        brla_uuid, oracle_uuid = self.source, self.target
        robots: list[str] = []
        tta_request_data: dict[str, Any] = {}
        success = True
        make_request_failed = False
        try:  # core flow logic
            brla = w.actor(brla_uuid, BRLA)
            oracle = w.actor(oracle_uuid, Oracle)
            robots = list(oracle.robots)
            tta_request_data = dict(brla.tta_request_data)
            if oracle.is_active is False:
                oracle.is_active = True
                w.touch(oracle)
                success = True
            else:
                make_request_failed = True
        except Exception as error:
            make_request_failed = True
            w.log(self, f"ProductionStartFlag unable to update Oracle.is_active {w.at()}, {error}")
        if success and not make_request_failed:
            try:  # flow path 1 (success)
                for robot in robots:
                    w.spawn(
                        TokenTorqAuth,
                        source=oracle_uuid,
                        target=robot,
                        payload=tta_request_data,
                        failure_retry_node=oracle_uuid,
                    )
                    w.log(
                        self,
                        f"ProductionStartFlag spawned TokenTorqAuth from {oracle_uuid} to {robot}"
                        f" {w.at()}",
                    )
            except Exception as error:
                w.log(self, f"ProductionStartFlag failed to spawn TokenTorqAuth {w.at()}, {error}")
        if make_request_failed:
            success = False
            self.fail_back(  # flow path 1.1 (schema conflict)
                w,
                RequestFailed,
                source=oracle_uuid,
                target=brla_uuid,
                reason="Oracle already active",
                because="Oracle already active",
            )
        return self.dissolve(w, success)


@dataclass(kw_only=True)
class TokenTorqAuth(Flow):
    """Oracle -> Robot: authorise training with the robot's sit_rep merged in (tick 2)."""

    kind: ClassVar[str] = "TokenTorqAuth"

    def tick(self, w: FlowWorld) -> bool:
        oracle_uuid, robot_uuid, giskard_uuid = self.source, self.target, w.giskard.uuid
        tta_request_data = dict(self.payload)
        success = True
        make_request_failed = False
        try:  # core flow logic
            robot = w.actor(robot_uuid, Robot)
            robot_sit_rep = dict(robot.sit_rep)
            tta_request_data.update(robot_sit_rep)  # tta_request_data += robot_sit_rep
            if robot.ready_to_train is False:
                robot.ready_to_train = True
                w.touch(robot)
                success = True
            else:
                make_request_failed = True
        except Exception as error:
            make_request_failed = True
            w.log(self, f"TokenTorqAuth unable to prepare sit_rep merge {w.at()}, {error}")
        if success and not make_request_failed:
            try:  # flow path 1 (success)
                w.spawn(
                    DrainRequest,
                    source=robot_uuid,
                    target=giskard_uuid,
                    payload=tta_request_data,
                    failure_retry_node=robot_uuid,
                )
                w.log(
                    self,
                    f"TokenTorqAuth spawned DrainRequest from {robot_uuid} to {giskard_uuid}"
                    f" {w.at()}",
                )
            except Exception as error:
                w.log(self, f"TokenTorqAuth failed to spawn DrainRequest {w.at()}, {error}")
        if make_request_failed:
            success = False
            self.fail_back(  # flow path 1.1 (already ready)
                w,
                RequestFailed,
                source=robot_uuid,
                target=oracle_uuid,
                reason="Robot already ready to train",
                because="Robot already ready",
            )
        return self.dissolve(w, success)


@dataclass(kw_only=True)
class DrainRequest(Flow):
    """Robot -> Giskard: ask for a TokenTorq drain (tick 3)."""

    kind: ClassVar[str] = "DrainRequest"

    def tick(self, w: FlowWorld) -> bool:
        robot_uuid, giskard_uuid = self.source, self.target
        tta_request_data = dict(self.payload)
        tta_approval: dict[str, Any] = {}
        success = True
        make_stream_failed = False
        try:  # core flow logic
            robot = w.actor(robot_uuid, Robot)
            giskard = w.actor(giskard_uuid, Giskard)
            token_torq_capacity = giskard.token_torq_capacity
            if token_torq_capacity > 0:
                tta_approval = w.request_new_drain(tta_request_data, robot)
                success = True
            else:
                make_stream_failed = True
        except Exception as error:
            make_stream_failed = True
            w.log(self, f"DrainRequest unable to contact Giskard {w.at()}, {error}")
        if success and not make_stream_failed:
            try:  # flow path 1 (success)
                w.spawn(
                    TokenTorqDrain,
                    source=giskard_uuid,
                    target=robot_uuid,
                    payload=tta_approval,
                    failure_retry_node=giskard_uuid,
                )
                # what the drain's start sets (seed: "Giskard spawns TokenTorqDrain ...")
                robot.min_token_torq = float(tta_approval["min"])
                robot.is_trained = False
                robot.training_remaining = 1.0
                robot.task = str(tta_approval["task"])
                robot.tta_data = tta_request_data
                w.touch(robot)
                w.log(
                    self,
                    f"DrainRequest spawned TokenTorqDrain from {giskard_uuid} to {robot_uuid}"
                    f" {w.at()}",
                )
            except Exception as error:
                w.log(self, f"DrainRequest failed to spawn TokenTorqDrain {w.at()}, {error}")
        if make_stream_failed:
            success = False
            self.fail_back(  # flow path 1.1 (capacity exhausted)
                w,
                StreamFailed,
                source=robot_uuid,
                target=giskard_uuid,
                reason="Giskard capacity exhausted",
                because="capacity exhausted",
            )
        return self.dissolve(w, success)


@dataclass(kw_only=True)
class TokenTorqDrain(Flow):
    """Giskard -> Robot: TokenTorq every tick until training is complete (tick 4 and on)."""

    kind: ClassVar[str] = "TokenTorqDrain"
    flow_type: ClassVar[str] = "transaction"
    tokens_sent: float = 0.0

    def tick(self, w: FlowWorld) -> bool:
        giskard_uuid, robot_uuid = self.source, self.target
        tick_rate = 0.0
        remaining = 0.0
        success = True
        make_stream_failed = False
        delivered = False
        try:  # core flow logic
            giskard = w.actor(giskard_uuid, Giskard)
            robot = w.actor(robot_uuid, Robot)
            tick_rate = giskard.tick_rate
            if robot.training_remaining > DONE:
                robot.token_torq += tick_rate
                self.tokens_sent += tick_rate
                robot.min_token_torq = float(self.payload["min"])
                robot.training_remaining -= tick_rate / robot.min_token_torq
                w.touch(robot)
                delivered = True
                success = True
                # completion is signalled in the tick it happens (ROBONOMICS.md, rule 7)
                make_stream_failed = robot.training_remaining <= DONE
            else:
                make_stream_failed = True
            remaining = robot.training_remaining
        except Exception as error:
            make_stream_failed = True
            w.log(self, f"TokenTorqDrain unable to deliver tokens {w.at()}, {error}")
        if delivered:  # flow path 1 (training continues): no spawn, just the log
            w.log(
                self,
                f"TokenTorqDrain delivered {w.num(tick_rate)} tokens, training_remaining:"
                f" {w.num(remaining)}",
            )
        if make_stream_failed:
            try:  # flow path 1.1 (training complete)
                failure_payload = {
                    "retry": False,
                    "reason": "Training complete, spawn TorqFountain",
                    "Flow": self.spec(),
                }
                w.spawn(
                    StreamFailed,
                    source=giskard_uuid,
                    target=robot_uuid,
                    payload=failure_payload,
                    failure_retry_node=giskard_uuid,
                )
                w.log(self, f"TokenTorqDrain ended: Training complete {w.at()}")
            except Exception as error:
                w.log(self, f"TokenTorqDrain failed to signal completion {w.at()}, {error}")
        if remaining <= DONE:
            return self.dissolve(w, success, "- training complete")
        return success  # continues next tick


@dataclass(kw_only=True)
class TorqFountain(Flow):
    """Robot -> Oracle: production; mines Torq every tick until the task is done."""

    kind: ClassVar[str] = "TorqFountain"
    flow_type: ClassVar[str] = "transaction"
    ticks_run: int = 0
    token_torq_drawn: float = 0.0
    torq: float = 0.0

    def tick(self, w: FlowWorld) -> bool:
        robot_uuid, oracle_uuid = self.source, self.target
        success = True
        task_done = False
        try:  # core flow logic
            robot = w.actor(robot_uuid, Robot)
            oracle = w.actor(oracle_uuid, Oracle)
            name = str(self.payload["task"])
            if name not in w.tasks:
                raise LookupError(f"no task {name!r} in robonomics.tasks")
            task = w.tasks[name]
            kind = task.kind
            mined = mine(
                w.mining,
                kind=kind,
                tick=self.ticks_run,
                ticks=task.ticks,
                done=robot.experience.get(kind, 0),
                tick_rate=w.giskard.tick_rate,
            )
            self.ticks_run += 1
            self.token_torq_drawn += mined.draw
            self.torq += mined.torq
            robot.torq += mined.torq
            oracle.torq += mined.torq
            w.touch(robot)
            w.touch(oracle)
            w.mint(robot, mined.torq)
            w.log(
                self,
                f"TorqFountain mined {w.num(mined.torq)} Torq from {w.num(mined.draw)} TokenTorq"
                f" {w.at()}",
            )
            if self.ticks_run >= task.ticks:
                robot.experience[kind] = robot.experience.get(kind, 0) + 1
                oracle.is_active = False
                task_done = True
                w.log(self, f"TorqFountain ended: task complete {w.at()}")
        except Exception as error:
            success = False
            task_done = True  # production cannot go on: end it rather than fail every tick
            w.log(self, f"TorqFountain unable to mine {w.at()}, {error}")
            try:
                w.spawn(
                    RequestFailed,
                    source=robot_uuid,
                    target=oracle_uuid,
                    payload={"retry": False, "reason": "Mining failed", "Flow": self.spec()},
                    failure_retry_node=oracle_uuid,
                )
            except Exception as spawn_error:
                w.log(self, f"TorqFountain failed to spawn RequestFailed {w.at()}, {spawn_error}")
        if task_done:
            return self.dissolve(w, success, "- task complete")
        return success


@dataclass(kw_only=True)
class _Failure(Flow):
    """A failure flow: carries ``{retry, reason, Flow}`` to its failure-retry node, which
    decides whether to spawn the failed flow again (bounded); the engine never retries."""

    flow_type: ClassVar[str] = "failure"

    def tick(self, w: FlowWorld) -> bool:
        success = True
        try:
            w.handle_failure(self)
        except Exception as error:
            success = False
            w.log(self, f"{self.kind} failed to reach its failure-retry node {w.at()}, {error}")
        return self.dissolve(w, success)


@dataclass(kw_only=True)
class RequestFailed(_Failure):
    kind: ClassVar[str] = "RequestFailed"


@dataclass(kw_only=True)
class StreamFailed(_Failure):
    kind: ClassVar[str] = "StreamFailed"


FLOW_KINDS: dict[str, type[Flow]] = {
    cls.kind: cls
    for cls in (
        ProductionStartFlag,
        TokenTorqAuth,
        DrainRequest,
        TokenTorqDrain,
        TorqFountain,
        RequestFailed,
        StreamFailed,
    )
}


def flow_from_state(kind: str, state: dict[str, Any]) -> Flow:
    """Rebuild a flow from :meth:`Flow.state` (as stored in the database)."""
    return FLOW_KINDS[kind](**state)
