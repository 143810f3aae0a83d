"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It speaks just enough HTTP/1.1 (``Content-Length`` bodies, keep-alive) over
``asyncio.start_server`` to serve ``POST /v1/chat/completions``, with no dependency beyond
the standard library. It runs in its own thread on its own event loop, so sync and async
tests can use it alike and its work never runs on the test's loop; one coroutine per
connection (no thread per connection) lets it hold thousands of keep-alive connections.

What it answers is scripted: behaviours queued with ``script=`` or :meth:`ChatServer.enqueue`
are used one per request, in order; when the queue is empty the ``default`` answers::

    with ChatServer(script=[Status(429, headers={"Retry-After": "0.05"})]) as server:
        ...  # the first request is rate limited, the rest get Reply()

Behaviours: :class:`Reply` (a chat completion with ``usage``), :class:`Status` (any status
and body), :class:`Malformed` (a 200 that is not a chat completion), :class:`Hang` (wait,
then reply) and :class:`Disconnect` (close the connection without answering). ``latency``
delays every answer. Requests without ``Authorization: Bearer <key>``, or with a key other
than ``api_key=`` when one was given, get OpenAI's 401 and use up no behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

__all__ = [
    "Behaviour",
    "ChatServer",
    "Disconnect",
    "Hang",
    "Malformed",
    "Reply",
    "Status",
]

RequestBody = dict[str, Any]
TokenCount = int | Callable[[RequestBody], int]

_CHAT_PATH = "/v1/chat/completions"
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 16 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


# --- behaviours -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A normal 200 chat completion. Token counts may be functions of the request body."""

    text: str | Callable[[RequestBody], str] = "Hello."
    prompt_tokens: TokenCount = 10
    completion_tokens: TokenCount = 5
    delay: float = 0.0
    finish_reason: str | None = "stop"
    cached_tokens: TokenCount | None = None
    """Reported as ``usage.prompt_tokens_details.cached_tokens`` (None: not reported)."""


@dataclass(frozen=True)
class Status:
    """Any status. ``body``: a dict is sent as JSON; ``None`` sends an OpenAI-style error."""

    code: int
    body: str | bytes | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Malformed:
    """A response whose body is sent as given (by default a 200 claiming to be JSON)."""

    body: str | bytes
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` before answering (then answer with ``then``), to trip client timeouts."""

    seconds: float
    then: Reply | Status | Malformed = field(default_factory=Reply)


@dataclass(frozen=True)
class Disconnect:
    """Read the request, then close the connection without answering."""


Behaviour = Reply | Status | Malformed | Hang | Disconnect


# --- HTTP plumbing ----------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request from the stream; ``None`` when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _BadRequest(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise _BadRequest(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _BadRequest(400, f"bad request line {lines[0]!r}") from None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _BadRequest(505, f"unsupported version {version}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest(411, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > _MAX_BODY_BYTES:
        raise _BadRequest(413, "body too large")
    body = await reader.readexactly(length) if length else b""
    return _Request(method, target.split("?", 1)[0], version, headers, body)


def _encode(response: _Response, *, keep_alive: bool) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def _error_body(message: str, type_: str, code: str | None = None) -> bytes:
    error = {"message": message, "type": type_, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


# --- the server -------------------------------------------------------------------------------


class ChatServer:
    """An OpenAI-style chat-completions server in a background thread; see the module doc.

    ``script``: behaviours used one per request, in order; ``default``: the behaviour once the
    script is used up; ``latency``: seconds added before every answer; ``api_key``: when
    given, the only bearer token accepted.
    """

    def __init__(
        self,
        script: Iterable[Behaviour] = (),
        *,
        default: Behaviour | None = None,
        latency: float = 0.0,
        api_key: str | None = None,
    ) -> None:
        self._script: deque[Behaviour] = deque(script)
        self._default: Behaviour = default if default is not None else Reply()
        self.latency = latency
        self.api_key = api_key
        self._lock = threading.Lock()
        self._requests: list[RequestBody] = []
        self._heads: list[tuple[str, str, dict[str, str], bytes]] = []
        self._connection_count = 0
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._port: int | None = None
        self._failure: BaseException | None = None

    # --- control (any thread) ---------------------------------------------------------------

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, after those already queued."""
        with self._lock:
            self._script.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """The behaviour for requests once the queue is empty."""
        with self._lock:
            self._default = behaviour

    @property
    def requests(self) -> list[RequestBody]:
        """Bodies of the chat-completion requests received so far, oldest first (a copy).

        A body that was not a JSON object is recorded as ``{"_raw": "<text>"}``.
        """
        with self._lock:
            return list(self._requests)

    @property
    def raw_requests(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        """``(method, path, headers, body bytes)`` of every request received, oldest first;
        header names in lower case."""
        with self._lock:
            return list(self._heads)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connection_count

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Self:
        """Start the thread and return once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("the server was already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="chat-server", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise RuntimeError("the chat server failed to start") from self._failure
        return self

    def stop(self) -> None:
        """Close the listener and every connection (waiting answers are dropped); join."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # the loop already stopped
            loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the server thread --------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve_connection,
                        host="127.0.0.1",
                        port=0,
                        backlog=4096,
                        limit=_MAX_HEADER_BYTES,
                    )
                )
            except BaseException as exc:
                self._failure = exc
                return
            self._port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        with self._lock:
            self._connection_count += 1
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequest as exc:
                    body = _error_body(str(exc), "invalid_request_error")
                    writer.write(_encode(_Response(exc.status, body), keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                response = await self._answer(request)
                if response is None:  # Disconnect
                    return
                keep_alive = request.keep_alive
                writer.write(_encode(response, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away
        except asyncio.CancelledError:
            return  # the server is stopping
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, request: _Request) -> _Response | None:
        with self._lock:
            self._heads.append((request.method, request.path, dict(request.headers), request.body))
        if request.path != _CHAT_PATH:
            message = f"Unknown request URL: {request.method} {request.path}."
            return _Response(404, _error_body(message, "invalid_request_error", "unknown_url"))
        if request.method != "POST":
            message = f"Method {request.method} is not allowed; use POST."
            return _Response(405, _error_body(message, "invalid_request_error"))
        body = self._record(request.body)
        auth = self._check_auth(request.headers.get("authorization", ""))
        if auth is not None:
            return auth
        if "_raw" in body:
            message = "We could not parse the JSON body of your request."
            return _Response(400, _error_body(message, "invalid_request_error"))
        with self._lock:
            behaviour = self._script.popleft() if self._script else self._default
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if isinstance(behaviour, Hang):
            await asyncio.sleep(behaviour.seconds)
            behaviour = behaviour.then
        if isinstance(behaviour, Disconnect):
            return None
        if isinstance(behaviour, Reply):
            if behaviour.delay > 0:
                await asyncio.sleep(behaviour.delay)
            return _Response(200, json.dumps(self._completion(behaviour, body)).encode())
        if isinstance(behaviour, Status):
            if behaviour.delay > 0:
                await asyncio.sleep(behaviour.delay)
            return _Response(behaviour.code, _status_body(behaviour), headers=behaviour.headers)
        raw = behaviour.body.encode() if isinstance(behaviour.body, str) else behaviour.body
        return _Response(behaviour.status, raw, content_type=behaviour.content_type)

    def _record(self, raw: bytes) -> RequestBody:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"_raw": raw.decode("utf-8", errors="replace")}
        with self._lock:
            self._requests.append(body)
        return body

    def _check_auth(self, header: str) -> _Response | None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            message = (
                "You didn't provide an API key. You need to provide your API key in an"
                " Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return _Response(401, _error_body(message, "invalid_request_error"))
        if self.api_key is not None and token != self.api_key:
            shown = f"{token[:3]}*****{token[-4:]}" if len(token) > 8 else "*****"
            message = (
                f"Incorrect API key provided: {shown}. You can find your API key at"
                " https://platform.openai.com/account/api-keys."
            )
            return _Response(401, _error_body(message, "invalid_request_error", "invalid_api_key"))
        return None

    def _completion(self, reply: Reply, request: RequestBody) -> dict[str, Any]:
        text = reply.text(request) if callable(reply.text) else reply.text
        prompt = _tokens(reply.prompt_tokens, request)
        completion = _tokens(reply.completion_tokens, request)
        model = request.get("model")
        return {
            "id": f"chatcmpl-test{next(self._ids):08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if isinstance(model, str) else "unknown",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                **(
                    {
                        "prompt_tokens_details": {
                            "cached_tokens": _tokens(reply.cached_tokens, request)
                        }
                    }
                    if reply.cached_tokens is not None
                    else {}
                ),
            },
        }


def _tokens(count: TokenCount, request: RequestBody) -> int:
    return count(request) if callable(count) else count


def _status_body(status: Status) -> bytes:
    body = status.body
    if body is None:
        if status.code == 429:
            return _error_body(
                "Rate limit reached for requests. Please try again later.",
                "requests",
                "rate_limit_exceeded",
            )
        if status.code >= 500:
            return _error_body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )
        return _error_body(f"Error {status.code}.", "invalid_request_error")
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(dict(body)).encode()
