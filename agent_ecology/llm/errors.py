"""Errors raised by LLM providers, one attempt at a time.

A provider makes **one** attempt per call; retrying is the caller's job
(:class:`agent_ecology.llm.calls.LLMCaller`), so that every attempt is reserved and charged.
Each error says whether retrying can help and what the attempt cost::

    ProviderError                  base; ``retryable``, ``usage`` (billed, if known)
    ├── RateLimited                HTTP 429; ``retry_after`` seconds when the server said
    ├── ServerError                HTTP 5xx
    ├── ProviderTimeout            no answer within the configured timeout (usage unknown)
    ├── ProviderUnreachable        the connection failed before the request was sent
    ├── ConnectionLost             the connection dropped after sending (usage unknown)
    ├── MalformedResponse          an answer that is not a chat completion (usage unknown)
    └── RequestRejected            any other 4xx: bad key, unknown model, bad request
"""

from __future__ import annotations

from agent_ecology.llm.types import Usage

__all__ = [
    "ConnectionLost",
    "MalformedResponse",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "RequestRejected",
    "ServerError",
]


class ProviderError(Exception):
    """One attempt failed.

    ``retryable``: whether the same request may succeed later. ``usage``: what the provider
    billed for this attempt when it said so. ``usage_known``: false when the request may have
    been processed and billed but we cannot know how much (a timeout, a garbled answer); the
    caller then charges the attempt's worst case, so the dollar limit stays hard.
    """

    code = "provider_error"
    retryable = False
    usage_known = True

    def __init__(self, message: str, *, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class RateLimited(ProviderError):
    """HTTP 429: the provider's rate limit; wait ``retry_after`` seconds if it was given."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """HTTP 5xx: the provider failed; the request was not billed."""

    code = "server_error"
    retryable = True

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """No answer within the timeout; the provider may still have processed (and billed) it."""

    code = "provider_timeout"
    retryable = True
    usage_known = False


class ProviderUnreachable(ProviderError):
    """The connection could not be made; nothing was sent, nothing billed."""

    code = "provider_unreachable"
    retryable = True


class ConnectionLost(ProviderError):
    """The connection dropped after the request went out; it may have been processed."""

    code = "connection_lost"
    retryable = True
    usage_known = False


class MalformedResponse(ProviderError):
    """The answer was not a chat completion we can read; what it cost is unknown."""

    code = "malformed_response"
    usage_known = False


class RequestRejected(ProviderError):
    """Any other 4xx (bad key, unknown model, bad request): retrying the same will not help."""

    code = "request_rejected"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
