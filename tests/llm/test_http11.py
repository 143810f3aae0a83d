"""The lean HTTP/1.1 path: the same request on the wire as the openai SDK's, and the HTTP
that real servers answer with (chunked, gzip, Connection: close, 1xx, idle closes)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, asynccontextmanager

import pytest

from agent_ecology.llm.errors import ConnectionLost, MalformedResponse, RequestRejected
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider
from agent_ecology.llm.types import CompletionRequest, Message

from .chat_server import ChatServer, Hang, Status

KEY = "sk-wire-0123"
SCHEMA = {
    "type": "object",
    "properties": {"action": {"type": "string", "enum": ["noop", "note"]}},
    "required": ["action"],
    "additionalProperties": False,
}


def request(**kwargs: object) -> CompletionRequest:
    fields: dict[str, object] = {
        "agent_id": "alice",
        "model": "m",
        "messages": (
            Message("system", 'You are alice. «ünïcode» and "quotes"\n'),
            Message("user", "go"),
        ),
        "max_tokens": 40,
    }
    fields.update(kwargs)
    return CompletionRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(api_key=KEY) as chat_server:
        yield chat_server


async def _send_both(
    server: ChatServer, req: CompletionRequest, **kwargs: object
) -> list[tuple[str, str, dict[str, str], bytes]]:
    for http in ("sdk", "lean"):
        provider = OpenAICompatibleProvider(
            api_key=KEY,
            base_url=server.base_url,
            http=http,
            **kwargs,  # type: ignore[arg-type]
        )
        async with aclosing(provider):
            assert provider.http == http
            await provider.complete(req)
    sent = server.raw_requests
    assert len(sent) == 2
    return sent


@pytest.mark.parametrize(
    ("req", "options"),
    [
        (request(), {}),
        (request(max_tokens=None), {}),
        (request(schema=SCHEMA), {"structured_output": "json_schema"}),
        (request(schema=SCHEMA), {"structured_output": "grammar"}),
        (request(schema=SCHEMA), {"structured_output": "json_object"}),
        (request(), {"max_tokens_param": "max_completion_tokens", "timeout": 7.5}),
    ],
)
async def test_the_lean_request_is_the_sdks_byte_for_byte(
    server: ChatServer, req: CompletionRequest, options: dict[str, object]
) -> None:
    (sdk_method, sdk_path, sdk_headers, sdk_body), (method, path, headers, body) = await _send_both(
        server, req, **options
    )
    assert (method, path) == (sdk_method, sdk_path) == ("POST", "/v1/chat/completions")
    assert body == sdk_body
    assert headers == sdk_headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["user-agent"].startswith("AsyncOpenAI/Python")
    assert headers["x-stainless-async"] == "async:asyncio"
    assert json.loads(body)["model"] == "m"


async def test_organization_and_project_from_the_environment_are_sent_by_both(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-42")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-7")
    (_, _, sdk_headers, _), (_, _, headers, _) = await _send_both(server, request())
    assert headers == sdk_headers
    assert headers["openai-organization"] == "org-42"
    assert headers["openai-project"] == "proj-7"


async def test_base_url_from_the_environment_is_used_by_both(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    for http in ("sdk", "lean"):
        provider = OpenAICompatibleProvider(api_key=KEY, http=http)
        async with aclosing(provider):
            assert (await provider.complete(request())).text == "Hello."
    assert server.request_count == 2


async def test_a_proxy_in_the_environment_sends_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = OpenAICompatibleProvider(api_key=KEY, base_url="http://models.example/v1")
    assert proxied.http == "sdk"
    monkeypatch.setenv("NO_PROXY", "models.example")
    bypassed = OpenAICompatibleProvider(api_key=KEY, base_url="http://models.example/v1")
    assert bypassed.http == "lean"
    for provider in (proxied, bypassed):
        await provider.aclose()


def test_an_unknown_http_client_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, lean, sdk"):
        OpenAICompatibleProvider(api_key=KEY, http="curl")


async def test_a_thousand_calls_reuse_a_bounded_pool(server: ChatServer) -> None:
    provider = OpenAICompatibleProvider(
        api_key=KEY, base_url=server.base_url, max_connections=20, http="lean"
    )
    async with aclosing(provider):
        for _ in range(5):
            texts = await asyncio.gather(*(provider.complete(request()) for _ in range(200)))
            assert {t.text for t in texts} == {"Hello."}
    assert server.request_count == 1000
    assert server.connection_count <= 20


# --- HTTP as servers write it (a hand-written server for each shape) -------------------------

COMPLETION = json.dumps(
    {
        "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
).encode()

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


@asynccontextmanager
async def raw_server(
    answer: Callable[[int], bytes], *, close_after: bool = False
) -> AsyncIterator[tuple[str, list[int]]]:
    """A server that answers request number ``i`` on a connection with ``answer(i)``;
    yields the base URL and the number of requests per connection."""
    per_connection: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        me = len(per_connection) - 1
        try:
            while True:
                await _read_request(reader)
                writer.write(answer(per_connection[me]))
                per_connection[me] += 1
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", per_connection
    finally:
        listener.close()


def _response(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    if not any(line.lower().startswith("transfer-encoding") for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _chunked(body: bytes) -> bytes:
    parts = [body[:10], body[10:]]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-T: 1\r\n\r\n"


async def _complete_twice(base_url: str) -> list[str]:
    provider = OpenAICompatibleProvider(api_key=KEY, base_url=base_url, http="lean", timeout=5)
    async with aclosing(provider):
        return [(await provider.complete(request())).text for _ in range(2)]


@pytest.mark.parametrize(
    ("shape", "answer", "connections"),
    [
        ("content-length", lambda i: _response(COMPLETION), [2]),
        (
            "chunked",
            lambda i: _response(_chunked(COMPLETION), "Transfer-Encoding: chunked"),
            [2],
        ),
        ("gzip", lambda i: _response(gzip.compress(COMPLETION), "Content-Encoding: gzip"), [2]),
        (
            "100 continue first",
            lambda i: b"HTTP/1.1 100 Continue\r\n\r\n" + _response(COMPLETION),
            [2],
        ),
        ("connection close", lambda i: _response(COMPLETION, "Connection: close"), [1, 1]),
        (
            "HTTP/1.0 without keep-alive",
            lambda i: _response(COMPLETION).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
            [1, 1],
        ),
    ],
)
async def test_answers_in_every_http_shape_are_read(
    shape: str, answer: Callable[[int], bytes], connections: list[int]
) -> None:
    close = shape in ("connection close", "HTTP/1.0 without keep-alive")
    async with raw_server(answer, close_after=close) as (base_url, per_connection):
        assert await _complete_twice(base_url) == ["ok", "ok"]
    assert per_connection == connections


async def test_an_answer_ended_by_closing_the_connection_is_read() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + COMPLETION
    async with raw_server(lambda i: answer, close_after=True) as (base_url, per_connection):
        assert await _complete_twice(base_url) == ["ok", "ok"]
    assert per_connection == [1, 1]


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with raw_server(lambda i: _response(COMPLETION), close_after=True) as (
        base_url,
        per_connection,
    ):
        # Keep-alive answers, but the server closes each connection after one: the client
        # must notice the idle close and connect again, not fail the second call.
        provider = OpenAICompatibleProvider(api_key=KEY, base_url=base_url, http="lean")
        async with aclosing(provider):
            assert (await provider.complete(request())).text == "ok"
            await asyncio.sleep(0.05)  # the FIN arrives
            assert (await provider.complete(request())).text == "ok"
    assert per_connection == [1, 1]


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (b"SMTP ready\r\n\r\n", ConnectionLost, "not HTTP/1.1"),
        (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", ConnectionLost, "not HTTP/1.1"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + COMPLETION,
            ConnectionLost,
            "may have been processed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            ConnectionLost,
            "header is longer",
        ),
        (_response(b"\x00garbage", "Content-Encoding: gzip"), MalformedResponse, "decoded"),
        (_response(COMPLETION, "Content-Encoding: br"), MalformedResponse, "'br'"),
        (
            _response(b"", "Location: https://elsewhere.example/v1", status="308 Moved"),
            MalformedResponse,
            "redirects to https://elsewhere.example/v1",
        ),
    ],
)
async def test_broken_answers_are_our_errors(
    answer: bytes, error: type[Exception], match: str
) -> None:
    async with raw_server(lambda i: answer, close_after=True) as (base_url, _):
        provider = OpenAICompatibleProvider(api_key=KEY, base_url=base_url, http="lean", timeout=5)
        async with aclosing(provider):
            with pytest.raises(error, match=match):
                await provider.complete(request())


async def test_a_non_json_error_body_is_quoted(server: ChatServer) -> None:
    server.enqueue(Status(403, body="<html>nope</html>"))
    provider = OpenAICompatibleProvider(api_key=KEY, base_url=server.base_url, http="lean")
    async with aclosing(provider):
        with pytest.raises(RequestRejected, match="nope"):
            await provider.complete(request())


async def test_a_request_cut_short_while_every_connection_is_busy_says_so(
    server: ChatServer,
) -> None:
    from urllib.parse import urlsplit

    from agent_ecology.llm import http11

    server.enqueue(Hang(1.0))
    origin = http11.Origin(
        urlsplit(server.base_url),
        max_connections=1,
        connect_timeout=1,
        keepalive_expiry=30,
        tls=None,
    )
    head = f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
    first = http11.Progress()
    busy = asyncio.ensure_future(origin.post("/v1/chat/completions", head, body, first))
    while first.phase != "sent":  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    second = http11.Progress()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await origin.post("/v1/chat/completions", head, body, second)
    assert second.phase == "waiting"
    answer = await busy
    assert answer.status == 200 and json.loads(answer.body)["choices"][0]["message"]["content"]
    origin.close()


async def test_bytes_that_come_while_a_connection_is_idle_do_not_answer_the_next_call() -> None:
    # The server answers, then (unasked) writes a 408 and keeps the connection open: the
    # next call must not read that 408 as its answer.
    stray = _response(b'{"error": {"message": "idle too long"}}', status="408 Request Timeout")
    async with raw_server(lambda i: _response(COMPLETION) + stray) as (base_url, per_connection):
        provider = OpenAICompatibleProvider(api_key=KEY, base_url=base_url, http="lean")
        async with aclosing(provider):
            assert (await provider.complete(request())).text == "ok"
            await asyncio.sleep(0.05)  # the stray bytes arrive
            assert (await provider.complete(request())).text == "ok"
    assert per_connection[1:] == [1]  # the second call went on a new connection


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"api_key": "sk-\u2026copied"}, "cannot carry"),
        ({"api_key": "sk-line\nbreak"}, "cannot carry"),
    ],
)
def test_what_http_cannot_carry_is_refused_when_made(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OpenAICompatibleProvider(http="lean", **kwargs)  # type: ignore[arg-type]
