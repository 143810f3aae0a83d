"""A provider that replays scripted replies: for tests and demos, never for real runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeAlias

import anyio

from agent_ecology.llm.errors import ProviderError
from agent_ecology.llm.types import Completion, CompletionRequest, Usage

__all__ = ["Script", "ScriptedProvider"]

Script: TypeAlias = (
    str | Completion | ProviderError | Callable[[CompletionRequest], "str | Completion"]
)


class ScriptedProvider:
    """Answers each call with the next scripted item; then with ``default`` (if given).

    An item is reply text (billed as ``usage``), a full :class:`Completion`, a
    :class:`ProviderError` to raise, or a function of the request returning either.
    ``requests`` keeps every request seen; :meth:`wait_for_calls` lets a test wait for the
    n-th call without sleeping.
    """

    def __init__(
        self,
        script: Iterable[Script] = (),
        *,
        default: Script | None = None,
        usage: Usage | None = None,
        name: str = "scripted",
    ) -> None:
        self._script: deque[Script] = deque(script)
        self._default = default
        self._usage = usage or Usage(10, 5)
        self._name = name
        self.requests: list[CompletionRequest] = []
        self._changed = anyio.Event()

    @property
    def name(self) -> str:
        return self._name

    def push(self, *items: Script) -> None:
        """Queue more replies."""
        self._script.extend(items)

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        self._changed.set()
        self._changed = anyio.Event()
        if self._script:
            item = self._script.popleft()
        elif self._default is not None:
            item = self._default
        else:
            raise AssertionError(
                f"ScriptedProvider ran out of replies at call {len(self.requests)}"
            )
        if callable(item):
            item = item(request)
        if isinstance(item, ProviderError):
            raise item
        if isinstance(item, Completion):
            return item
        return Completion(item, self._usage, request.model, "stop")

    async def wait_for_calls(self, n: int) -> None:
        """Return once at least ``n`` calls have been made."""
        while len(self.requests) < n:
            await self._changed.wait()

    async def aclose(self) -> None:
        return None
