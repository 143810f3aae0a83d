"""Agents' own state: configuration (and who may change it), notes, sleep, and turns.

An agent's configuration (model, system prompt, max_tokens, sleep policy) is changed only by
the holder of the right to it: at first the agent itself; the right can be given away. The
kernel checks the holder; the agent runtime checks the values (for example that a model
has a price) before it asks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from agent_ecology.ledger import buckets
from agent_ecology.ledger.errors import InvalidRequest, NotPermitted, UnknownPrincipal
from agent_ecology.ledger.kinds import EventKind
from agent_ecology.ledger.ops.base import Operation, operation
from agent_ecology.ledger.ops.checks import (
    CONFIG_RIGHT_PREFIX,
    TEXT,
    Count,
    JsonObject,
    JsonText,
    NonNegative,
    PrincipalId,
    Text,
    check_non_negative,
    check_resource_name,
    effective_owner_sql,
)
from agent_ecology.ledger.ops.tx import Tx

CONFIG_KEYS = ("model", "system_prompt", "max_tokens", "sleep_policy")
"""The parts of an agent's configuration that the holder of its config right may change."""

MAX_NOTE_CHARS = 2000


def _check_config_keys(config: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidRequest(
            f"{what} has unknown key(s) {', '.join(map(repr, unknown))};"
            f" allowed: {', '.join(CONFIG_KEYS)}"
        )


HOLDER_SQL = f"CASE WHEN a.id IS NULL THEN s.config_holder ELSE {effective_owner_sql('a')} END"
"""Who holds an agent's config right: the owner of its right's artifact if it was made one
(its seller while the artifact is listed in escrow), else the holder recorded with the agent.
Used with ``agent_state s LEFT JOIN artifacts a ON a.id = 'rights/config/' || s.agent_id``."""


def _agent_row(tx: Tx, agent_id: str) -> tuple[str, int, str]:
    row = tx.conn.execute(
        f"SELECT s.config, s.config_version, {HOLDER_SQL} FROM agent_state s"
        f" LEFT JOIN artifacts a ON a.id = '{CONFIG_RIGHT_PREFIX}' || s.agent_id"
        " WHERE s.agent_id = ?",
        (agent_id,),
    ).fetchone()
    if row is None:
        if tx.principal_kind(agent_id) != "agent":
            raise InvalidRequest(f"{agent_id!r} is a system principal, not an agent")
        raise UnknownPrincipal(agent_id)
    return str(row[0]), int(row[1]), str(row[2])


def _require_holder(tx: Tx, actor: str, agent_id: str, holder: str, more: str = "") -> None:
    """Refuse unless ``actor`` holds the right to change ``agent_id``'s config."""
    if holder != actor:
        tx.principal_kind(actor)  # an unknown actor is told so first
        raise NotPermitted(
            actor, f"the right to change {agent_id!r}'s configuration is held by {holder!r}{more}"
        )


def _set_holder(tx: Tx, agent_id: str, holder: str) -> None:
    tx.conn.execute(
        "UPDATE agent_state SET config_holder = ?, updated_at = ? WHERE agent_id = ?",
        (holder, tx.now, agent_id),
    )


class EnsureAgentDetails(TypedDict):
    created: bool


@operation(EventKind.AGENT_REGISTERED)
class EnsureAgent(Operation[EnsureAgentDetails]):
    """Give an agent principal its runtime state (config, held by itself) if it has none.

    An agent that has state already keeps it: its config may have been changed since.
    """

    agent_id: PrincipalId
    config: JsonObject

    def check(self) -> None:
        _check_config_keys(self.config, "config")

    def apply(self, tx: Tx) -> EnsureAgentDetails:
        if tx.principal_kind(self.agent_id) != "agent":
            raise InvalidRequest(f"{self.agent_id!r} is a system principal, not an agent")
        cur = tx.conn.execute(
            "INSERT OR IGNORE INTO agent_state (agent_id, config, config_version, config_holder,"
            " turns, updated_at) VALUES (?, ?, 1, ?, 0, ?)",
            (self.agent_id, json.dumps(self.config, sort_keys=True), self.agent_id, tx.now),
        )
        if not cur.rowcount:
            return {"created": False}
        tx.event(
            EventKind.AGENT_REGISTERED,
            principal=self.agent_id,
            details={"config": dict(self.config)},
        )
        return {"created": True}


class UpdateAgentConfigDetails(TypedDict):
    config: dict[str, Any]
    version: int


@operation(EventKind.AGENT_CONFIG_UPDATED)
class UpdateAgentConfig(Operation[UpdateAgentConfigDetails]):
    """Change parts of ``agent_id``'s config; only the holder of its config right may."""

    actor: PrincipalId
    agent_id: PrincipalId
    changes: JsonObject

    def check(self) -> None:
        if not self.changes:
            raise InvalidRequest(f"update_config needs at least one of: {', '.join(CONFIG_KEYS)}")
        _check_config_keys(self.changes, "changes")

    def apply(self, tx: Tx) -> UpdateAgentConfigDetails:
        config_text, version, holder = _agent_row(tx, self.agent_id)
        _require_holder(
            tx,
            self.actor,
            self.agent_id,
            holder,
            "; only its holder may change it; the holder can give or sell the right"
            " (genesis_rights_registry)",
        )
        changes = dict(self.changes)
        config = {**json.loads(config_text), **changes}
        tx.conn.execute(
            "UPDATE agent_state SET config = ?, config_version = ?, updated_at = ?"
            " WHERE agent_id = ?",
            (json.dumps(config, sort_keys=True), version + 1, tx.now, self.agent_id),
        )
        details = {"changes": changes, "version": version + 1}
        tx.event(
            EventKind.AGENT_CONFIG_UPDATED,
            actor=self.actor,
            principal=self.agent_id,
            details=details,
        )
        return {"config": config, "version": version + 1}


class TransferConfigRightDetails(TypedDict):
    holder: str


@operation(EventKind.CONFIG_RIGHT_TRANSFERRED)
class TransferConfigRight(Operation[TransferConfigRightDetails]):
    """Give the right to change ``agent_id``'s config to ``new_holder`` (only its holder may)."""

    actor: PrincipalId
    agent_id: PrincipalId
    new_holder: PrincipalId

    def apply(self, tx: Tx) -> TransferConfigRightDetails:
        _config, _version, holder = _agent_row(tx, self.agent_id)
        _require_holder(tx, self.actor, self.agent_id, holder)
        token = f"{CONFIG_RIGHT_PREFIX}{self.agent_id}"
        if tx.conn.execute("SELECT 1 FROM artifacts WHERE id = ?", (token,)).fetchone():
            raise InvalidRequest(
                f"this right is held as the artifact {token!r}; give it with genesis_ledger"
                " transfer_ownership, or sell it through genesis_escrow"
            )
        if tx.principal_kind(self.new_holder) != "agent":
            raise InvalidRequest(f"{self.new_holder!r} is not an agent; rights go to agents")
        if self.new_holder == holder:
            raise InvalidRequest(f"{holder!r} holds that right already")
        _set_holder(tx, self.agent_id, self.new_holder)
        tx.event(
            EventKind.CONFIG_RIGHT_TRANSFERRED,
            by=self.actor,
            counterparty=self.new_holder,
            details={"agent_id": self.agent_id},
        )
        return {"holder": self.new_holder}


class TokenizeConfigRightDetails(TypedDict):
    artifact_id: str


@operation(EventKind.CONFIG_RIGHT_TOKENIZED)
class TokenizeConfigRight(Operation[TokenizeConfigRightDetails]):
    """Turn the right to change ``agent_id``'s config into an artifact its holder owns.

    From then on whoever owns ``rights/config/<agent_id>`` holds the right: it can be given
    (``transfer_ownership``) or sold (``genesis_escrow``) like any artifact, but not edited
    or deleted. Its bytes are charged to its owner's disk like any artifact's.
    """

    actor: PrincipalId
    agent_id: PrincipalId

    def apply(self, tx: Tx) -> TokenizeConfigRightDetails:
        _config, _version, holder = _agent_row(tx, self.agent_id)
        token = f"{CONFIG_RIGHT_PREFIX}{self.agent_id}"
        if tx.conn.execute("SELECT 1 FROM artifacts WHERE id = ?", (token,)).fetchone():
            raise InvalidRequest(f"the right is an artifact already: {token!r}")
        _require_holder(tx, self.actor, self.agent_id, holder)
        content = (
            f"The right to change {self.agent_id}'s configuration (model, system prompt,"
            " max_tokens, sleep policy). Whoever owns this artifact holds the right."
        )
        tx.make_kernel_artifact(token, self.actor, content)
        _set_holder(tx, self.agent_id, self.actor)
        tx.event(
            EventKind.CONFIG_RIGHT_TOKENIZED,
            by=self.actor,
            artifact=token,
            details={"agent_id": self.agent_id},
        )
        return {"artifact_id": token}


class SetSleepDetails(TypedDict):
    pass


@operation("agent_sleep")
class SetSleep(Operation[SetSleepDetails]):
    """Put an agent to sleep with its wake conditions (JSON), or wake it (``sleep=None``)."""

    agent_id: PrincipalId
    sleep: JsonObject | None
    reason: Text = ""

    def apply(self, tx: Tx) -> SetSleepDetails:
        _agent_row(tx, self.agent_id)
        tx.conn.execute(
            "UPDATE agent_state SET sleep = ?, updated_at = ? WHERE agent_id = ?",
            (
                None if self.sleep is None else json.dumps(self.sleep, sort_keys=True),
                tx.now,
                self.agent_id,
            ),
        )
        if self.sleep is None:
            tx.event(EventKind.AGENT_WOKE, principal=self.agent_id, details={"reason": self.reason})
        else:
            tx.event(EventKind.AGENT_SLEPT, principal=self.agent_id, details=self.sleep)
        return {}


class AddNoteDetails(TypedDict):
    note_id: int | None
    dropped: int


@operation(EventKind.NOTE_ADDED)
class AddNote(Operation[AddNoteDetails]):
    """Append to an agent's own notes, keeping only its newest ``keep``."""

    agent_id: PrincipalId
    text: Annotated[str, TEXT.named("note")]
    keep: Count = 50

    def check(self) -> None:
        if not self.text.strip():
            raise InvalidRequest("a note needs some text")
        if len(self.text) > MAX_NOTE_CHARS:
            raise InvalidRequest(
                f"a note is at most {MAX_NOTE_CHARS} characters, got {len(self.text)};"
                " shorten it or keep long text in an artifact"
            )

    def apply(self, tx: Tx) -> AddNoteDetails:
        _agent_row(tx, self.agent_id)
        cur = tx.conn.execute(
            "INSERT INTO agent_notes (agent_id, at, text) VALUES (?, ?, ?)",
            (self.agent_id, tx.now, self.text),
        )
        dropped = tx.conn.execute(
            "DELETE FROM agent_notes WHERE agent_id = ? AND id NOT IN (SELECT id FROM agent_notes"
            " WHERE agent_id = ? ORDER BY id DESC LIMIT ?)",
            (self.agent_id, self.agent_id, self.keep),
        ).rowcount
        tx.event(
            EventKind.NOTE_ADDED,
            principal=self.agent_id,
            details={"note_id": cur.lastrowid, "chars": len(self.text), "dropped": dropped},
        )
        return {"note_id": cur.lastrowid, "dropped": dropped}


class EndTurnDetails(TypedDict):
    balances: dict[str, float]


@operation(EventKind.TURN)
class EndTurn(Operation[EndTurnDetails]):
    """Close an agent's turn: charge its flow resources (possibly into debt), record the result.

    ``charges`` are ``(resource, amount)`` pairs of flow resources, charged after the work as
    seed 003 says. ``result`` (JSON) is what the agent will be told on its next turn.
    ``model_seconds`` is the part of the ``compute`` charge that was the turn's share of a
    local model's batch (recorded in the event, so the charge can be checked).
    """

    agent_id: PrincipalId
    turn: Count
    action: Text
    ok: bool
    code: str | None = None
    result: JsonText = "{}"
    charges: tuple[tuple[str, float], ...] = ()
    model_seconds: NonNegative = 0.0

    def check(self) -> None:
        for name, amount in self.charges:
            check_resource_name(name)
            check_non_negative(amount, f"charge of {name}")

    def apply(self, tx: Tx) -> EndTurnDetails:
        # The fewest statements on the hot path (every turn ends here): the agent's row is
        # checked by the update itself, a resource's kind only when its bucket is missing.
        updated = tx.conn.execute(
            "UPDATE agent_state SET turns = max(turns, ?), last_result = ?, updated_at = ?"
            " WHERE agent_id = ?",
            (self.turn, self.result, tx.now, self.agent_id),
        ).rowcount
        if not updated:
            _agent_row(tx, self.agent_id)  # raises: says why there is no such agent
        balances: dict[str, float] = {}
        for name, amount in self.charges:
            held = tx.find_bucket(self.agent_id, name)
            if held is None:
                if tx.resource_kind(name) != "flow":
                    raise InvalidRequest(f"turns are charged to flow resources; {name} is stock")
                held = tx.bucket(self.agent_id, name)  # raises: says why it is not held
            bucket = buckets.spend(held, float(amount), tx.now)
            tx.put_bucket(self.agent_id, name, bucket)
            balances[name] = bucket.balance
        tx.event(
            EventKind.TURN,
            by=self.agent_id,
            details={
                "turn": self.turn,
                "action": self.action,
                "ok": self.ok,
                "code": self.code,
                "charges": dict(self.charges),
                **({"model_seconds": self.model_seconds} if self.model_seconds else {}),
            },
        )
        return {"balances": balances}
