"""What goes into an LLM call and what comes out, independent of any provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Completion", "CompletionRequest", "Message", "Provider", "Usage"]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the provider reports for one attempt."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Of ``prompt_tokens``, those the server read from its prompt cache (where it says)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One turn's request.

    ``max_tokens`` is the agent's own output cap (``None``: no cap of its own; the model's
    output limit then bounds the worst case). ``observation`` is the structured state the
    prompt was rendered from; only policies that do not read text (the baseline) use it.
    """

    agent_id: str
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    observation: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None
    """The JSON schema a reply should follow (the action union), for providers that can
    constrain their output to one; None: free text."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful attempt: the text the model wrote and the usage it was billed for.

    ``compute_seconds`` is what the attempt used of a model that runs here (a local model's
    batch, shared out by tokens); it is charged to ``compute`` with the turn's own CPU time.
    A remote provider leaves it 0: its compute is paid for in dollars.
    """

    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    compute_seconds: float = 0.0


class Provider(Protocol):
    """Something that thinks: one attempt per :meth:`complete` call, no retries inside.

    Raise a :class:`~agent_ecology.llm.errors.ProviderError` subclass on failure, never a
    library's own exception, so that the caller can charge and retry correctly.
    """

    @property
    def name(self) -> str:
        """What this provider is, for logs and the run's banner."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...
