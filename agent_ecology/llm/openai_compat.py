"""A :class:`~agent_ecology.llm.types.Provider` for any OpenAI-compatible chat-completions API.

OpenAI itself, vLLM, the llama.cpp server and Ollama all speak ``POST /v1/chat/completions``;
:class:`OpenAICompatibleProvider` talks to them through the ``openai`` SDK's ``AsyncOpenAI``.

Design:

* **One attempt per call.** The SDK's own retries are switched off (``max_retries=0``): a
  hidden retry would spend tokens and time that the caller never reserved or charged.
  Retrying, with backoff and ``retry_after``, is the caller's job
  (:mod:`agent_ecology.llm.calls`).
* **A deadline for the whole attempt.** The HTTP timeouts bound each phase (connect, each
  read, each write, waiting for a pooled connection); an ``asyncio`` deadline of ``timeout``
  seconds around the call bounds the attempt as a whole, so a server that trickles bytes
  cannot hold an agent longer than configured.
* **A pool sized for the whole world.** Every agent may be waiting on the model at once, so
  up to ``max_connections`` connections are allowed and kept alive. They are split over
  several SDK clients of at most 32 connections each (the HTTP pool's bookkeeping is linear
  in its size, per request), and each call goes to the one with the most free connections,
  so a call never waits for a connection while fewer than ``max_connections`` are in use.
* **The lean client by default.** With ``http="lean"`` (and ``auto`` unless a proxy is set in
  the environment) the request goes through :mod:`agent_ecology.llm.http11`: the SDK's own
  URL, headers (taken from an ``AsyncOpenAI`` client: its user agent, platform headers,
  organization and project) and JSON body, byte for byte (tests/llm/test_http11.py compares
  them), over a stack of keep-alive connections, with the same errors as below. At 1,000
  concurrent calls it costs about 0.07 ms of CPU a call against the SDK's 0.9
  (``benchmarks/agents.py``). Unlike the SDK it does not follow redirects: a 3xx is
  reported with where it points, to put in ``llm.base_url``.
* **The SDK's own ``post()``** (``http="sdk"``). The request goes through
  ``AsyncOpenAI.post`` with a plain JSON body: the same URL, headers, authentication,
  timeouts and error types as ``chat.completions.create``, without that method's per-call
  introspection of the parameters' types, which cost about a third of the SDK's CPU per
  call (2.2 -> 1.6 ms at 1,000 concurrent calls). The body is read and checked here.
* **Only our errors leave.** Every failure becomes a
  :class:`~agent_ecology.llm.errors.ProviderError`; no ``openai`` or ``httpx`` exception
  escapes :meth:`OpenAICompatibleProvider.complete`. The mapping:

  ===============================================  =========================================
  what happened                                    raised
  ===============================================  =========================================
  HTTP 429                                         ``RateLimited(retry_after=...)``
  HTTP 5xx                                         ``ServerError(status, retry_after=...)``
  any other 4xx (bad key, unknown model, ...)      ``RequestRejected(status)``
  no answer within the timeout                     ``ProviderTimeout``
  could not connect (refused, DNS, TLS, pool)      ``ProviderUnreachable``
  connection lost after the request went out       ``ConnectionLost`` (usage unknown)
  a 2xx that is not a readable chat completion     ``MalformedResponse``
  ===============================================  =========================================

  ``retry_after`` comes from ``retry-after-ms`` (milliseconds) or else ``Retry-After``
  (seconds, or an HTTP date). The response body is parsed and checked here, not by the
  SDK's models, which are built without validation: a completion must have ``choices[0]``
  with string ``message.content`` and ``usage`` with integer ``prompt_tokens`` and
  ``completion_tokens``, or the attempt counts as malformed (its cost unknown).

Error messages are read by people and by the agent that made the call, so each says what
happened (with the server's own message, shortened) and what to do about it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx2
import openai

from agent_ecology.llm import http11
from agent_ecology.llm.errors import (
    ConnectionLost,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
    ServerError,
)
from agent_ecology.llm.gbnf import schema_grammar
from agent_ecology.llm.types import Completion, CompletionRequest, Usage

__all__ = ["OpenAICompatibleProvider", "parse_retry_after"]

#: How much of a server's message goes into ours.
_MAX_DETAIL: Final = 300
#: Seconds an idle pooled connection is kept before it is closed.
_KEEPALIVE_EXPIRY: Final = 30.0
#: The most connections one HTTP client pools. httpcore scans its whole pool (polling each
#: idle socket) on every request and every release: with one pool of 1000 connections,
#: 1000 concurrent calls to a 200 ms server took 10-17 s of client CPU; shards of 32 bring
#: that to about 3 s, most of it the SDK's own per-call work (about 2 ms a call).
_CONNECTIONS_PER_SHARD: Final = 32
#: The ways to send a request (``http=``): our own HTTP/1.1 client, or the SDK's.
HTTP_CLIENTS: Final = ("auto", "lean", "sdk")


LADDER: Final = ("json_schema", "grammar", "json_object", "json_object_only", "off")
"""The structured outputs ``auto`` tries, in order: OpenAI's ``json_schema``, then a GBNF
``grammar`` of the schema (llama.cpp's servers: the Python one ignores a schema's numeric
bounds, a grammar it enforces), then ``json_object`` with the schema (Ollama), then plain
``json_object``, then none. A configured ``grammar`` or ``json_object`` starts at its own
rung and may fall as far as plain ``json_object``."""

_DESCRIBE: Final = {
    "json_schema": "response_format json_schema (the action schema)",
    "grammar": "a GBNF grammar of the action schema (the request's grammar field)",
    "json_object": "response_format json_object with the action schema",
    "json_object_only": "response_format json_object (any JSON object)",
    "off": "no response_format (free text)",
}


def _response_format(rung: str, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if schema is None or rung in ("off", "grammar"):
        return None
    if rung == "json_schema":
        # strict: false, since strict mode cannot say "any object" (an invocation's args);
        # the parser validates every reply anyway.
        return {
            "type": "json_schema",
            "json_schema": {"name": "action", "schema": schema, "strict": False},
        }
    if rung == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


_FORMAT_WORDS: Final = ("response_format", "json_schema", "json_object", "schema", "grammar")


def _names_the_format(status: int, detail: str) -> bool:
    """Whether an error refuses the structured output (and not the request as such): a 4xx
    or 5xx whose message names it, as OpenAI-compatible servers word it (llama.cpp's server
    answers OpenAI's json_schema with a 500 "Input should be 'text' or 'json_object'")."""
    lowered = detail.lower()
    return status in (400, 415, 422, 500, 501) and any(w in lowered for w in _FORMAT_WORDS)


class _FormatRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = _truncate(detail)[:160]


class OpenAICompatibleProvider:
    """Chat completions from an OpenAI-compatible server, one attempt per :meth:`complete`.

    ``timeout`` bounds a whole attempt, ``connect_timeout`` the TCP/TLS connect alone;
    ``max_connections`` is how many calls may be in flight at once (as many connections are
    kept alive; more calls wait for one, within ``timeout``). ``api_key_env`` only names the
    key's environment variable in error messages. ``base_url=None`` means the SDK's default:
    ``$OPENAI_BASE_URL`` if set, else ``https://api.openai.com/v1``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_connections: int = 1000,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens_param: str = "max_tokens",
        structured_output: str = "auto",
        per_model: Mapping[str, str] | None = None,
        say: Callable[[str], None] | None = None,
        http: str = "auto",
    ) -> None:
        if not api_key:
            raise ValueError(
                f"the API key is empty; set {api_key_env} (a server that checks no key, such as"
                " a local llama.cpp or Ollama, accepts any non-empty value)"
            )
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be positive (seconds)")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if not api_key.isascii() or not api_key.isprintable():
            raise ValueError(
                f"the API key in {api_key_env} has characters an HTTP header cannot carry"
                " (non-ASCII or control characters); check that it was copied whole"
            )
        if http not in HTTP_CLIENTS:
            raise ValueError(f"http {http!r} is none of {', '.join(HTTP_CLIENTS)}")
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._api_key_env = api_key_env
        self._max_tokens_param = max_tokens_param
        for mode in (structured_output, *(per_model or {}).values()):
            if mode not in ("auto", *LADDER) or mode == "json_object_only":
                raise ValueError(
                    f"structured_output {mode!r} is none of auto, json_schema, grammar,"
                    " json_object, off"
                )
        self._structured = structured_output
        self._per_model = dict(per_model or {})
        self._rung: dict[str, int] = {}  # model -> its rung of LADDER now (auto, json_object)
        self._said: set[str] = set()
        self.say = say
        """Where the provider says which structured output each model uses (once each)."""
        self.constrains_output = structured_output != "off" or any(
            m != "off" for m in self._per_model.values()
        )
        """Whether a request's schema is sent (so it counts in the call's worst case)."""
        http_timeout = httpx2.Timeout(timeout, connect=min(connect_timeout, timeout))
        if http == "auto":
            http = "sdk" if _proxied(base_url) else "lean"
        self.http = http
        """The client requests go through: ``lean`` (:mod:`agent_ecology.llm.http11`) or
        ``sdk`` (the openai SDK's ``post()``)."""
        self._origin: http11.Origin | None = None
        self._head: bytes | None = None
        # lean: one SDK client, never used to send: it resolves base_url ($OPENAI_BASE_URL)
        # and makes the headers (its user agent, platform headers, organization, project).
        max_connections_sdk = 1 if http == "lean" else max_connections
        shards = math.ceil(max_connections_sdk / _CONNECTIONS_PER_SHARD)
        # Shard sizes that add up to max_connections exactly (they differ by at most one).
        sizes = [
            max_connections_sdk // shards + (i < max_connections_sdk % shards)
            for i in range(shards)
        ]
        # One TLS context for all shards: building one costs ~35 ms (it loads the trust store).
        tls = httpx2.create_ssl_context()
        try:
            self._clients = [
                openai.AsyncOpenAI(
                    api_key=api_key,
                    base_url=base_url,
                    timeout=http_timeout,
                    max_retries=0,
                    http_client=openai.DefaultAsyncHttpxClient(
                        verify=tls,
                        timeout=http_timeout,
                        limits=httpx2.Limits(
                            max_connections=size,
                            max_keepalive_connections=size,
                            keepalive_expiry=_KEEPALIVE_EXPIRY,
                        ),
                    ),
                )
                for size in sizes
            ]
        except openai.OpenAIError as exc:  # e.g. a base_url that is not a URL
            raise ValueError(f"cannot create the OpenAI client: {exc}") from exc
        self._free = sizes  # connections of each shard not carrying a call now
        self._base_url = str(self._clients[0].base_url).rstrip("/")
        if http == "lean":
            url = urlsplit(self._base_url)
            self._target = (url.path.rstrip("/") or "") + "/chat/completions"
            try:
                self._origin = http11.Origin(
                    url,
                    max_connections=max_connections,
                    connect_timeout=min(connect_timeout, timeout),
                    keepalive_expiry=_KEEPALIVE_EXPIRY,
                    tls=tls,
                )
            except ValueError as exc:
                if url.scheme in ("http", "https"):
                    raise ValueError(f"base_url {self._base_url!r}: {exc}") from None
                self._origin = None  # an unsupported scheme: said on the first call, as the SDK

    @property
    def name(self) -> str:
        host = self._clients[0].base_url.host
        shown = "api.openai.com" if host == "api.openai.com" else self._base_url
        return f"openai-compatible ({shown})"

    async def complete(self, request: CompletionRequest) -> Completion:
        """Make one attempt; raise a :class:`ProviderError` on any failure.

        A server that refuses the structured output asked for (an error naming the format)
        is asked again at once with the next one (``LADDER``), which is then kept for that
        model: the refused request generated nothing, so it is no attempt of its own.
        """
        while True:
            rung = self._rung_of(request)
            try:
                completion = await self._attempt(request, rung)
            except _FormatRefused as refused:
                if not self._step_down(request.model, rung, refused.detail):
                    # Not a server fault to retry: the same request would be refused again.
                    raise RequestRejected(
                        f"{self._base_url} refused {_DESCRIBE[LADDER[rung]]} for"
                        f" {request.model} ({refused.detail}); set llm.structured_output (or"
                        f" prices.{request.model}.structured_output) to auto, grammar,"
                        " json_object or off",
                        status=refused.status,
                    ) from None
                continue
            if request.schema is not None and request.model not in self._said:
                self._said.add(request.model)
                self._tell(f"structured output for {request.model}: {_DESCRIBE[LADDER[rung]]}")
            return completion

    def _rung_of(self, request: CompletionRequest) -> int:
        if request.schema is None:
            return LADDER.index("off")
        mode = self._per_model.get(request.model, self._structured)
        first = 0 if mode == "auto" else LADDER.index(mode)
        return max(first, self._rung.get(request.model, first))

    def _step_down(self, model: str, rung: int, detail: str) -> bool:
        """Move ``model`` to the next format after a refusal of ``rung``'s; False when the
        configured mode allows no other (json_schema, off)."""
        mode = self._per_model.get(model, self._structured)
        last = len(LADDER) - 1 if mode == "auto" else LADDER.index("json_object_only")
        if mode in ("json_schema", "off") or rung >= last:
            return False
        if self._rung.get(model, 0) > rung:
            return True  # a call at the same time stepped down already (and said so)
        self._rung[model] = rung + 1
        self._tell(
            f"structured output for {model}: the server refused {_DESCRIBE[LADDER[rung]]}"
            f" ({detail}); trying {_DESCRIBE[LADDER[rung + 1]]}"
        )
        return True

    def _tell(self, line: str) -> None:
        if self.say is not None:
            self.say(line)

    def _payload(self, request: CompletionRequest, rung: int) -> tuple[dict[str, object], bool]:
        """The request body, and whether it constrains the output (so that an error naming
        the format is a refusal of it)."""
        payload: dict[str, object] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.max_tokens is not None:
            payload[self._max_tokens_param] = request.max_tokens
        response_format = _response_format(LADDER[rung], request.schema)
        if response_format is not None:
            payload["response_format"] = response_format
        constrained = response_format is not None
        if LADDER[rung] == "grammar" and request.schema is not None:
            payload["grammar"] = schema_grammar(request.schema)
            constrained = True
        return payload, constrained

    async def _attempt(self, request: CompletionRequest, rung: int) -> Completion:
        if self.http == "lean":
            return await self._lean_attempt(request, rung)
        # The shard with the most free connections: it has one whenever fewer than
        # max_connections calls are in flight in all, so no call waits needlessly.
        shard = max(range(len(self._clients)), key=self._free.__getitem__)
        self._free[shard] -= 1
        try:
            async with asyncio.timeout(self._timeout):
                payload, constrained = self._payload(request, rung)
                # The client's own post(): the same request, headers, errors and timeouts as
                # chat.completions.create, without its per-call introspection of the
                # parameters' types (a third of the SDK's CPU per call); we read the body.
                raw = await self._clients[shard].post(
                    "/chat/completions", cast_to=httpx2.Response, body=payload
                )
                body = await raw.aread()
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"no complete answer from {self._base_url} within the {self._timeout:g} s timeout"
                " (whole attempt); the server may be overloaded or the answer too long; retry"
                " later, or raise the timeout for slow local models"
            ) from exc
        except openai.APIStatusError as exc:
            detail = _server_message(exc.body, exc.response.reason_phrase)
            if constrained and _names_the_format(exc.status_code, detail):
                raise _FormatRefused(exc.status_code, detail) from exc
            raise self._status_error(
                exc.status_code, detail, exc.response.headers, request
            ) from exc
        except openai.APITimeoutError as exc:  # before APIConnectionError: it is a subclass
            raise self._timeout_error(exc) from exc
        except openai.APIConnectionError as exc:
            raise self._connection_error(exc) from exc
        except openai.APIResponseValidationError as exc:
            raise MalformedResponse(
                f"the answer from {self._base_url} was not a chat completion"
                f" (HTTP {exc.status_code}): {_detail(exc.body)}; check that base_url points at"
                " an OpenAI-compatible API (it usually ends in /v1)"
            ) from exc
        except (openai.OpenAIError, httpx2.HTTPError, httpx2.StreamError) as exc:
            raise MalformedResponse(
                f"unexpected failure talking to {self._base_url}: {type(exc).__name__}: "
                f"{_truncate(str(exc))}"
            ) from exc
        finally:
            self._free[shard] += 1
        return self._parse(body, raw.status_code, request)

    async def _lean_attempt(self, request: CompletionRequest, rung: int) -> Completion:
        """One attempt through :mod:`~agent_ecology.llm.http11`: the SDK's request (URL,
        headers, body), its errors and timeouts, without its per-call machinery."""
        if self._origin is None:
            raise ProviderUnreachable(
                f"cannot use {self._base_url} (UnsupportedProtocol: the URL's scheme is not"
                " http or https); llm.base_url must start with http:// or https://"
            )
        if self._head is None:
            self._head = self._lean_headers()
        payload, constrained = self._payload(request, rung)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        progress = http11.Progress()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._origin.post(self._target, self._head, body, progress)
        except TimeoutError as exc:
            if progress.phase == "waiting":
                raise ProviderUnreachable(
                    f"all {self._max_connections} connections to {self._base_url} stayed busy"
                    f" for {self._timeout:g} s, so the request was never sent; retry, or allow"
                    " more connections"
                ) from exc
            if progress.phase == "connecting":
                raise ProviderUnreachable(
                    f"could not connect to {self._base_url} within {self._timeout:g} s;"
                    " check that the server is running and reachable, then retry"
                ) from exc
            raise ProviderTimeout(
                f"no complete answer from {self._base_url} within the {self._timeout:g} s timeout"
                " (whole attempt); the server may be overloaded or the answer too long; retry"
                " later, or raise the timeout for slow local models"
            ) from exc
        except http11.ConnectFailed as exc:
            if exc.timed_out:
                raise ProviderUnreachable(
                    f"could not connect to {self._base_url} within {self._connect_timeout:g} s;"
                    " check that the server is running and reachable, then retry"
                ) from exc
            raise ProviderUnreachable(
                f"cannot connect to {self._base_url} ({_truncate(str(exc))}); check that the"
                " server is running and that llm.base_url is right (host, port, http/https)"
            ) from exc
        except http11.Undecodable as exc:
            raise MalformedResponse(
                f"the answer from {self._base_url} could not be read ({_truncate(str(exc))});"
                " check that base_url points at an OpenAI-compatible API"
            ) from exc
        except http11.Lost as exc:
            raise ConnectionLost(
                f"the connection to {self._base_url} was lost before a full answer arrived"
                f" ({_truncate(str(exc))}); the request may have been processed; retry"
            ) from exc
        status = response.status
        if not 200 <= status < 300:
            detail = _server_message(_error_body(response.body), response.reason)
            location = response.headers.get("location")
            if 300 <= status < 400 and location:
                detail = f"{detail}; it redirects to {_truncate(location)}: set llm.base_url there"
            if constrained and _names_the_format(status, detail):
                raise _FormatRefused(status, detail)
            raise self._status_error(status, detail, response.headers, request)
        return self._parse(response.body, status, request)

    def _lean_headers(self) -> bytes:
        """The SDK's own headers for a chat completion (made in the event loop, as the SDK
        makes them: they name the async library), as header lines."""
        client = self._clients[0]
        headers: dict[str, object] = {
            **client.default_headers,
            **client.auth_headers,
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "X-Stainless-Retry-Count": "0",
            "X-Stainless-Read-Timeout": str(float(self._timeout)),
        }
        lines = [
            f"{name}: {value}\r\n" for name, value in headers.items() if isinstance(value, str)
        ]
        return "".join(lines).encode("latin-1")

    async def aclose(self) -> None:
        """Close the HTTP clients and their pooled connections."""
        if self._origin is not None:
            self._origin.close()
        for client in self._clients:
            await client.close()

    # --- error mapping --------------------------------------------------------------------

    def _status_error(
        self, status: int, detail: str, headers: Mapping[str, str], request: CompletionRequest
    ) -> ProviderError:
        if status == 429:
            retry_after = parse_retry_after(headers)
            wait = f"wait {retry_after:g} s" if retry_after is not None else "wait"
            return RateLimited(
                f"rate limited by {self._base_url} (HTTP 429): {detail}; {wait} and retry, or"
                " lower the request rate (fewer concurrent agents)",
                retry_after=retry_after,
            )
        if status >= 500:
            return ServerError(
                f"{self._base_url} failed (HTTP {status}): {detail}; this is the server's fault,"
                " retry later",
                status=status,
                retry_after=parse_retry_after(headers),
            )
        if 400 <= status < 500:
            return RequestRejected(self._rejection(status, detail, request), status=status)
        return MalformedResponse(
            f"unexpected HTTP {status} from {self._base_url}: {detail}; check that base_url"
            " points at an OpenAI-compatible API (it usually ends in /v1)"
        )

    def _rejection(self, status: int, detail: str, request: CompletionRequest) -> str:
        where = self._base_url
        if status in (401, 403):
            what = "the API key was refused" if status == 401 else "the API key may not do this"
            return (
                f"{what} by {where} (HTTP {status}): {detail}; check the API key in the"
                f" environment variable {self._api_key_env} (llm.api_key_env) and its"
                " permissions for this model"
            )
        if status == 404:
            return (
                f"not found at {where} (HTTP 404): {detail}; check llm.model ({request.model!r}"
                " may not exist or be served there) and llm.base_url (it usually ends in /v1)"
            )
        if status == 400:
            return (
                f"the request was rejected by {where} (HTTP 400): {detail}; change the request"
                " (for example a shorter prompt or a smaller max_tokens) before trying again"
            )
        return (
            f"the request was rejected by {where} (HTTP {status}): {detail}; retrying the same"
            " request will not help"
        )

    def _timeout_error(self, exc: openai.APITimeoutError) -> ProviderError:
        cause = exc.__cause__
        if isinstance(cause, httpx2.ConnectTimeout):
            return ProviderUnreachable(
                f"could not connect to {self._base_url} within {self._connect_timeout:g} s;"
                " check that the server is running and reachable, then retry"
            )
        if isinstance(cause, httpx2.PoolTimeout):
            return ProviderUnreachable(
                f"all {self._max_connections} connections to {self._base_url} stayed busy for"
                f" {self._timeout:g} s, so the request was never sent; retry, or allow more"
                " connections"
            )
        return ProviderTimeout(
            f"no answer from {self._base_url} within the {self._timeout:g} s timeout; the"
            " server may be overloaded or the answer too long; retry later, or raise the"
            " timeout for slow local models"
        )

    def _connection_error(self, exc: openai.APIConnectionError) -> ProviderError:
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {_truncate(str(cause))}" if cause else exc.message
        if isinstance(cause, httpx2.ConnectError | httpx2.ProxyError | ssl.SSLError):
            return ProviderUnreachable(
                f"cannot connect to {self._base_url} ({reason}); check that the server is"
                " running and that llm.base_url is right (host, port, http/https)"
            )
        if isinstance(cause, httpx2.UnsupportedProtocol):
            return ProviderUnreachable(
                f"cannot use {self._base_url} ({reason}); llm.base_url must start with"
                " http:// or https://"
            )
        if isinstance(cause, httpx2.DecodingError | httpx2.TooManyRedirects):
            return MalformedResponse(
                f"the answer from {self._base_url} could not be read ({reason}); check that"
                " base_url points at an OpenAI-compatible API"
            )
        # The request may have reached the server (a dropped connection, a protocol error
        # mid-answer): retrying is sensible, but what this attempt cost is unknown.
        return ConnectionLost(
            f"the connection to {self._base_url} was lost before a full answer arrived"
            f" ({reason}); the request may have been processed; retry"
        )

    # --- the answer -----------------------------------------------------------------------

    def _parse(self, body: bytes, status: int, request: CompletionRequest) -> Completion:
        def malformed(problem: str) -> MalformedResponse:
            return MalformedResponse(
                f"HTTP {status} from {self._base_url} is not a chat completion: {problem};"
                " check that base_url points at an OpenAI-compatible chat-completions API"
                " and that the model returns text"
            )

        try:
            data: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise malformed(f"the body is not JSON: {_detail(body)}") from None
        if not isinstance(data, dict):
            raise malformed(f"the body is JSON but not an object: {_detail(body)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise malformed(f"no 'choices' in {_detail(body)}")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise malformed(f"choices[0] has no 'message' object: {_detail(body)}")
        content = message.get("content")
        if not isinstance(content, str):
            if content is None:
                raise malformed(_why_no_text(message, choice))
            raise malformed(f"choices[0].message.content is not a string: {_detail(content)}")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise malformed(
                "no 'usage' object, so the cost of the call is unknown (servers such as"
                " vLLM and llama.cpp report usage on chat completions; check the server's"
                " version and options)"
            )
        prompt_tokens = _count(usage.get("prompt_tokens"))
        completion_tokens = _count(usage.get("completion_tokens"))
        if prompt_tokens is None or completion_tokens is None:
            raise malformed(
                "usage.prompt_tokens and usage.completion_tokens must be non-negative"
                f" integers, got {_detail(usage)}"
            )
        finish_reason = choice.get("finish_reason")
        model = data.get("model")
        return Completion(
            text=content,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=_cached(usage, prompt_tokens),
            ),
            model=model if isinstance(model, str) and model else request.model,
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        )


# --- helpers ----------------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait before retrying, from ``retry-after-ms`` or ``Retry-After``.

    ``retry-after-ms`` (milliseconds, an OpenAI extension) wins; ``Retry-After`` may be
    seconds (a float is accepted) or an HTTP date, taken as seconds from ``now`` (never
    negative). ``None`` when neither header is there or parses. ``headers`` must look up
    names case-insensitively (``httpx`` headers do).
    """
    milliseconds = _finite_float(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return max(milliseconds / 1000.0, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # a "-0000" zone; HTTP dates are always UTC
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _finite_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _proxied(base_url: str | None) -> bool:
    """Whether the environment names a proxy for ``base_url`` (the SDK's httpx honours
    ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``; the lean client does not)."""
    url = urlsplit(base_url or _environ_base_url())
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.hostname or "")


def _environ_base_url() -> str:
    return os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"


def _error_body(raw: bytes) -> object:
    """An error answer's body as the SDK hands it to its exceptions: the JSON's ``error``
    object when it has one, else the JSON, else the text."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body: object = json.loads(text)
    except ValueError:
        return text
    return body.get("error", body) if isinstance(body, dict) else body


def _server_message(body: object, reason_phrase: str) -> str:
    """The server's own explanation: ``error.message`` when the body has one, else the body."""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return _truncate(message)
        error = body.get("error")
        if isinstance(error, str) and error:
            return _truncate(error)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _truncate(error["message"])
    if body is None or body == "":
        return _truncate(reason_phrase or "no details")
    return _detail(body)


def _why_no_text(message: Mapping[str, Any], choice: Mapping[str, Any]) -> str:
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        return f"the model refused instead of answering: {_truncate(refusal)}"
    if message.get("tool_calls") or message.get("function_call"):
        return "the model called a tool instead of answering with text (no tools are offered)"
    reason = choice.get("finish_reason")
    return f"choices[0].message.content is null (finish_reason {reason!r})"


def _count(value: object) -> int | None:
    """``value`` when it is a token count (a non-negative integer, not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _detail(value: object) -> str:
    """A short, printable rendering of a body or a part of one."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    text = text.strip()
    return _truncate(text) if text else "(empty body)"


def _cached(usage: Mapping[str, Any], prompt_tokens: int) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` (OpenAI, vLLM, llama.cpp), if the server
    reports a sane count (at most the prompt); else 0: no cache discount is assumed."""
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return cached if cached is not None and cached <= prompt_tokens else 0


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
