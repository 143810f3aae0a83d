"""What an agent can do in one turn: a discriminated union of actions, keyed by ``"action"``.

Each action is a frozen pydantic model whose docstring says what it does and whose
``example`` is a JSON shape the parser takes, with placeholder values (``<name>``) that the
kernel refuses; the handbook and every agent's context are generated from
these, so the documentation cannot drift from what the parser accepts.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from agent_ecology.ledger.kinds import EventKind

__all__ = [
    "ACTIONS",
    "Action",
    "BalanceCondition",
    "DeleteArtifact",
    "EditArtifact",
    "Invoke",
    "Noop",
    "Note",
    "Query",
    "ReadArtifact",
    "SleepAction",
    "SleepPolicyChange",
    "UpdateConfig",
    "WriteArtifact",
    "action_adapter",
    "action_shapes",
]

ArtifactId = Annotated[str, Field(min_length=1, max_length=128)]
MAX_CONTENT_CHARS = 100_000


def _needs(rule: str, *names: str) -> ConfigDict:
    """A model's cross-field rule, said to the schema as well as checked by its validator:
    ``rule`` is ``"one-of"`` (exactly one of ``names`` given, not null) or ``"any-of"`` (at
    least one). :mod:`.schema` turns it into one branch per name, so that a server that
    constrains output to the schema cannot write an action the validator refuses."""
    return ConfigDict(json_schema_extra={f"x-{rule}": list(names)})


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    example: ClassVar[dict[str, Any]] = {}

    @classmethod
    def summary(cls) -> str:
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


class Noop(_Action):
    """Do nothing this turn (the turn is still paid for)."""

    action: Literal["noop"]
    reason: str = Field(default="", max_length=500)
    example: ClassVar[dict[str, Any]] = {"action": "noop", "reason": "<why you wait>"}


class ReadArtifact(_Action):
    """Read an artifact's content (any artifact; reading is free), a slice at a time."""

    action: Literal["read_artifact"]
    artifact_id: ArtifactId
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=3000, ge=1, le=20_000)
    example: ClassVar[dict[str, Any]] = {"action": "read_artifact", "artifact_id": "<artifact id>"}


class WriteArtifact(_Action):
    """Create an artifact you will own, or replace the content of one you own (disk is charged).

    With ``executable`` true the content is a program (Python defining ``main(args, host)``),
    compiled on write, that others invoke, paying ``price`` scrip per successful call to you.
    """

    action: Literal["write_artifact"]
    artifact_id: ArtifactId
    content: str = Field(max_length=MAX_CONTENT_CHARS)
    executable: bool = False
    price: int | None = Field(default=None, ge=0, le=10**12)
    example: ClassVar[dict[str, Any]] = {
        "action": "write_artifact",
        "artifact_id": "{me}/<name>",
        "content": "<text>",
    }


class EditArtifact(_Action):
    """Replace the one occurrence of the text old with new in an artifact you own."""

    action: Literal["edit_artifact"]
    artifact_id: ArtifactId
    old: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    new: str = Field(max_length=MAX_CONTENT_CHARS)
    example: ClassVar[dict[str, Any]] = {
        "action": "edit_artifact",
        "artifact_id": "{me}/<name>",
        "old": "<text in it>",
        "new": "<text instead>",
    }


class DeleteArtifact(_Action):
    """Delete an artifact you own and free its disk."""

    action: Literal["delete_artifact"]
    artifact_id: ArtifactId
    example: ClassVar[dict[str, Any]] = {
        "action": "delete_artifact",
        "artifact_id": "{me}/<name>",
    }


class Invoke(_Action):
    """Call a method of a genesis artifact with named arguments, or run a program (no method;
    ``pay`` scrip covers its price, the rest goes to the program's account)."""

    action: Literal["invoke"]
    artifact_id: ArtifactId
    method: str | None = Field(default=None, min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    pay: int = Field(default=0, ge=0, le=10**12)
    example: ClassVar[dict[str, Any]] = {
        "action": "invoke",
        "artifact_id": "genesis_ledger",
        "method": "transfer",
        "args": {"to": "<agent id>", "amount": 1},
    }


class Query(_Action):
    """Look things up for free: balances, agents, artifacts (one or a list), or events."""

    action: Literal["query"]
    what: Literal["balances", "agents", "artifacts", "artifact", "events"]
    principal: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=64)
    artifact_id: ArtifactId | None = None
    kind: str | None = Field(default=None, max_length=64)
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=20, ge=1, le=100)
    example: ClassVar[dict[str, Any]] = {
        "action": "query",
        "what": "balances",
        "principal": "<agent id>",
    }


class BalanceCondition(BaseModel):
    """Wake when one of your own balances crosses a threshold."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, **_needs("one-of", "at_least", "at_most")
    )
    resource: str = Field(min_length=1, max_length=64, description="'scrip' or a resource name")
    at_least: float | int | None = None
    at_most: float | int | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> BalanceCondition:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one of at_least or at_most")
        return self


EVENT_KINDS = tuple(kind.value for kind in EventKind)
# The schema names the kinds, so a server that constrains output to it cannot write another.
EventKindName = Annotated[str, Field(json_schema_extra={"enum": list(EVENT_KINDS)})]


class SleepAction(_Action):
    """Sleep until the first of: a duration, an event of a kind, a balance threshold."""

    model_config = _needs("any-of", "seconds", "until_event", "until_balance")
    action: Literal["sleep"]
    seconds: float | int | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    until_event: EventKindName | Annotated[list[EventKindName], Field(min_length=1)] | None = None
    until_balance: BalanceCondition | None = None
    example: ClassVar[dict[str, Any]] = {
        "action": "sleep",
        "seconds": 60,
        "until_event": "transfer",
        "until_balance": {"resource": "<resource>", "at_least": 1},
    }

    @field_validator("until_event")
    @classmethod
    def _known_kinds(cls, value: str | list[str] | None) -> str | list[str] | None:
        for kind in [value] if isinstance(value, str) else value or []:
            if kind not in EVENT_KINDS:
                raise ValueError(
                    f"until_event {kind[:60]!r} is not an event kind; wake on one of: "
                    + ", ".join(EVENT_KINDS)
                )
        return value

    @model_validator(mode="after")
    def _some_condition(self) -> SleepAction:
        if self.seconds is None and not self.until_event and self.until_balance is None:
            raise ValueError("give at least one of seconds, until_event or until_balance")
        return self

    def event_kinds(self) -> list[str]:
        if self.until_event is None:
            return []
        return [self.until_event] if isinstance(self.until_event, str) else list(self.until_event)


class Note(_Action):
    """Keep a note for yourself; your newest notes are in every context you get."""

    action: Literal["note"]
    text: str = Field(min_length=1, max_length=2000)
    example: ClassVar[dict[str, Any]] = {"action": "note", "text": "<what to remember>"}


class SleepPolicyChange(BaseModel):
    """Your pacing: seconds to pause after every turn."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    between_turns: float | int = Field(ge=0, le=3600)


class UpdateConfig(_Action):
    """Change an agent's model, prompt, max_tokens or sleep policy (needs the config right).

    max_tokens: null removes the cap (your calls may then cost up to the model's limit).
    """

    model_config = _needs("any-of", "model", "system_prompt", "max_tokens", "sleep_policy")
    action: Literal["update_config"]
    agent_id: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    sleep_policy: SleepPolicyChange | None = None
    example: ClassVar[dict[str, Any]] = {"action": "update_config", "model": "<model>"}

    @model_validator(mode="after")
    def _something(self) -> UpdateConfig:
        if not (self.model_fields_set - {"action", "agent_id"}):
            raise ValueError("give at least one of model, system_prompt, max_tokens, sleep_policy")
        return self

    def changes(self) -> dict[str, Any]:
        """The config keys this action sets (an explicit null max_tokens is a change)."""
        out: dict[str, Any] = {}
        for key in ("model", "system_prompt", "max_tokens", "sleep_policy"):
            if key in self.model_fields_set:
                value = getattr(self, key)
                out[key] = value.model_dump() if isinstance(value, BaseModel) else value
        return out


Action: TypeAlias = Annotated[
    Noop
    | ReadArtifact
    | WriteArtifact
    | EditArtifact
    | DeleteArtifact
    | Invoke
    | Query
    | SleepAction
    | Note
    | UpdateConfig,
    Field(discriminator="action"),
]

ACTIONS: dict[str, type[_Action]] = {
    cls.model_fields["action"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
        Noop,
        ReadArtifact,
        WriteArtifact,
        EditArtifact,
        DeleteArtifact,
        Invoke,
        Query,
        SleepAction,
        Note,
        UpdateConfig,
    )
}
"""Every action by name, in the order the handbook lists them."""

action_adapter: TypeAdapter[Action] = TypeAdapter(Action)


YOU = "<your id>"
"""What ``{me}`` in an example reads as where no agent is meant (the handbook)."""


def shape(name: str, me: str = YOU) -> str:
    """The JSON example of one action, on one line, for agent ``me``. Its values are
    placeholders in angle brackets, which no id, principal, resource or model matches: a
    copy of an example is refused, never a valid move by accident."""
    return json.dumps(ACTIONS[name].example, ensure_ascii=False).replace("{me}", me)


@functools.lru_cache(maxsize=4096)  # every turn's context asks for its agent's
def action_shapes(me: str = YOU) -> str:
    """Every action: its JSON example (for agent ``me``) and what it does, one per line."""
    return "\n".join(f"- {shape(name, me)}  : {cls.summary()}" for name, cls in ACTIONS.items())
