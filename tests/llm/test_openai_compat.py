"""OpenAICompatibleProvider against a real HTTP server (tests/llm/chat_server.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from email.utils import formatdate

import httpx2 as httpx
import pytest

from agent_ecology.llm.errors import (
    ConnectionLost,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
    ServerError,
)
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider, parse_retry_after
from agent_ecology.llm.types import CompletionRequest, Message, Usage

from .chat_server import ChatServer, Disconnect, Hang, Malformed, Reply, Status

KEY = "sk-test-key-0123456789"
MODEL = "test-model"


_CLIENT = {"http": "lean"}


@pytest.fixture(autouse=True, params=["lean", "sdk"])
def http_client(request: pytest.FixtureRequest) -> str:
    """Every test here runs with both ways of sending: the lean HTTP/1.1 client and the SDK."""
    _CLIENT["http"] = request.param
    return str(request.param)


def make_provider(**kwargs: object) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(http=_CLIENT["http"], **kwargs)  # type: ignore[arg-type]


def make_request(max_tokens: int | None = 50, text: str = "Hi there.") -> CompletionRequest:
    return CompletionRequest(
        agent_id="alice",
        model=MODEL,
        messages=(Message("system", "You are alice."), Message("user", text)),
        max_tokens=max_tokens,
    )


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(api_key=KEY) as chat_server:
        yield chat_server


@pytest.fixture
async def provider(server: ChatServer) -> AsyncIterator[OpenAICompatibleProvider]:
    llm = make_provider(api_key=KEY, base_url=server.base_url, timeout=5.0)
    async with aclosing(llm):
        yield llm


# --- success ----------------------------------------------------------------------------------


async def test_reply_returns_text_usage_model_and_finish_reason(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Reply("I trade.", prompt_tokens=17, completion_tokens=3))
    completion = await provider.complete(make_request())
    assert completion.text == "I trade."
    assert completion.usage == Usage(prompt_tokens=17, completion_tokens=3)
    assert completion.model == MODEL
    assert completion.finish_reason == "stop"


async def test_request_body_carries_model_messages_and_max_tokens(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    await provider.complete(make_request(max_tokens=50))
    (body,) = server.requests
    assert body["model"] == MODEL
    assert body["messages"] == [
        {"role": "system", "content": "You are alice."},
        {"role": "user", "content": "Hi there."},
    ]
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body
    assert "stream" not in body


async def test_max_tokens_is_left_out_when_the_request_has_no_cap(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    await provider.complete(make_request(max_tokens=None))
    (body,) = server.requests
    assert "max_tokens" not in body


async def test_usage_may_be_computed_from_the_request(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.set_default(Reply("x", completion_tokens=lambda body: body["max_tokens"]))
    completion = await provider.complete(make_request(max_tokens=123))
    assert completion.usage.completion_tokens == 123


async def test_assistant_messages_are_sent_with_their_role(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    request = CompletionRequest(
        agent_id="alice",
        model=MODEL,
        messages=(Message("user", "a"), Message("assistant", "b"), Message("user", "c")),
    )
    await provider.complete(request)
    roles = [message["role"] for message in server.requests[0]["messages"]]
    assert roles == ["user", "assistant", "user"]


async def test_fifty_concurrent_calls_all_succeed() -> None:
    with ChatServer(api_key=KEY, latency=0.05) as server:
        provider = make_provider(api_key=KEY, base_url=server.base_url, timeout=5.0)
        async with aclosing(provider):
            results = await asyncio.gather(
                *(provider.complete(make_request(text=f"n{i}")) for i in range(50))
            )
        assert len(results) == 50
        assert all(result.text == "Hello." for result in results)
        assert server.request_count == 50
        sent = sorted(body["messages"][1]["content"] for body in server.requests)
        assert sent == sorted(f"n{i}" for i in range(50))


@pytest.mark.parametrize("max_connections", [4, 100])
async def test_calls_beyond_max_connections_wait_for_a_free_connection(
    max_connections: int,
) -> None:
    with ChatServer(latency=0.05) as server:
        provider = make_provider(
            api_key=KEY, base_url=server.base_url, max_connections=max_connections
        )
        async with aclosing(provider):
            calls = (provider.complete(make_request()) for _ in range(2 * max_connections))
            results = await asyncio.gather(*calls)
    assert len(results) == 2 * max_connections
    assert server.request_count == 2 * max_connections
    assert server.connection_count <= max_connections


async def test_name_shows_the_base_url(server: ChatServer) -> None:
    provider = make_provider(api_key=KEY, base_url=server.base_url)
    async with aclosing(provider):
        assert provider.name == f"openai-compatible ({server.base_url})"


async def test_name_without_base_url_is_api_openai_com(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    provider = make_provider(api_key=KEY)
    async with aclosing(provider):
        assert provider.name == "openai-compatible (api.openai.com)"


def test_an_empty_api_key_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError, match="MY_KEY"):
        make_provider(api_key="", api_key_env="MY_KEY")


# --- one attempt per call -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Status(429), RateLimited),
        (Status(500), ServerError),
        (Status(502), ServerError),
        (Status(503, headers={"Retry-After": "0"}), ServerError),
        (Disconnect(), ConnectionLost),
    ],
)
async def test_exactly_one_request_reaches_the_server_per_call(
    server: ChatServer,
    provider: OpenAICompatibleProvider,
    behaviour: Status | Disconnect,
    error: type[Exception],
) -> None:
    server.enqueue(behaviour)
    with pytest.raises(error):
        await provider.complete(make_request())
    assert server.request_count == 1
    await provider.complete(make_request())  # the next call is a fresh, single attempt
    assert server.request_count == 2


# --- rate limits and server errors ----------------------------------------------------------


async def test_429_with_retry_after_seconds_is_rate_limited(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(429, headers={"Retry-After": "0.05"}))
    with pytest.raises(RateLimited) as caught:
        await provider.complete(make_request())
    assert caught.value.retry_after == pytest.approx(0.05)
    assert caught.value.retryable
    assert "429" in str(caught.value)
    assert "Rate limit reached" in str(caught.value)


async def test_429_prefers_retry_after_ms(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(429, headers={"retry-after-ms": "250", "Retry-After": "7"}))
    with pytest.raises(RateLimited) as caught:
        await provider.complete(make_request())
    assert caught.value.retry_after == pytest.approx(0.25)


async def test_429_with_an_http_date_waits_until_that_date(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(429, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}))
    with pytest.raises(RateLimited) as caught:
        await provider.complete(make_request())
    assert caught.value.retry_after is not None
    assert 27.0 < caught.value.retry_after <= 30.0


async def test_429_without_retry_after_has_none(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(429, headers={"Retry-After": "soon"}), Status(429))
    for _ in range(2):
        with pytest.raises(RateLimited) as caught:
            await provider.complete(make_request())
        assert caught.value.retry_after is None


async def test_500_is_a_retryable_server_error(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(500))
    with pytest.raises(ServerError) as caught:
        await provider.complete(make_request())
    assert caught.value.status == 500
    assert caught.value.retryable
    assert caught.value.retry_after is None
    assert "HTTP 500" in str(caught.value)
    assert "The server had an error" in str(caught.value)


async def test_503_carries_retry_after(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(503, body="upstream overloaded", headers={"Retry-After": "2"}))
    with pytest.raises(ServerError) as caught:
        await provider.complete(make_request())
    assert caught.value.status == 503
    assert caught.value.retry_after == 2.0
    assert "upstream overloaded" in str(caught.value)


# --- rejected requests ------------------------------------------------------------------------


async def test_400_is_rejected_with_the_server_message(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    body = {"error": {"message": "max_tokens is too large: 999999", "type": "invalid_request"}}
    server.enqueue(Status(400, body=body))
    with pytest.raises(RequestRejected) as caught:
        await provider.complete(make_request())
    assert caught.value.status == 400
    assert not caught.value.retryable
    assert "max_tokens is too large: 999999" in str(caught.value)


async def test_wrong_api_key_is_rejected_pointing_at_the_key_variable(
    server: ChatServer,
) -> None:
    provider = make_provider(
        api_key="sk-wrong-key-999999", base_url=server.base_url, api_key_env="AE_OPENAI_KEY"
    )
    async with aclosing(provider):
        with pytest.raises(RequestRejected) as caught:
            await provider.complete(make_request())
    message = str(caught.value)
    assert caught.value.status == 401
    assert "Incorrect API key provided" in message
    assert "AE_OPENAI_KEY" in message
    assert "sk-wrong-key-999999" not in message


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (
            403,
            {"message": "Project lacks access to model"},
            ["OPENAI_API_KEY", "Project lacks access to model"],
        ),
        (
            404,
            {"message": "The model `test-model` does not exist", "code": "model_not_found"},
            ["does not exist", "llm.model", "llm.base_url"],
        ),
    ],
    ids=["403-points-at-the-key", "404-for-an-unknown-model-points-at-model-and-base-url"],
)
async def test_a_rejection_points_at_the_setting_to_fix(
    server: ChatServer,
    provider: OpenAICompatibleProvider,
    status: int,
    error: dict[str, str],
    words: list[str],
) -> None:
    server.enqueue(Status(status, body={"error": error}))
    with pytest.raises(RequestRejected) as caught:
        await provider.complete(make_request())
    assert caught.value.status == status
    missing = [word for word in words if word not in str(caught.value)]
    assert not missing, f"{missing} not in {caught.value}"


async def test_a_base_url_without_v1_gets_404_pointing_at_base_url(server: ChatServer) -> None:
    provider = make_provider(api_key=KEY, base_url=f"http://127.0.0.1:{server.port}")
    async with aclosing(provider):
        with pytest.raises(RequestRejected) as caught:
            await provider.complete(make_request())
    assert caught.value.status == 404
    assert "llm.base_url" in str(caught.value)


async def test_long_server_messages_are_shortened(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Status(400, body={"error": {"message": "x" * 5000}}))
    with pytest.raises(RequestRejected) as caught:
        await provider.complete(make_request())
    assert "x" * 297 + "..." in str(caught.value)
    assert "x" * 298 not in str(caught.value)


@pytest.mark.parametrize("code", [302, 304])
async def test_a_redirect_without_location_is_malformed(
    server: ChatServer, provider: OpenAICompatibleProvider, code: int
) -> None:
    server.enqueue(Status(code, body=""))
    with pytest.raises(MalformedResponse, match=f"unexpected HTTP {code}"):
        await provider.complete(make_request())


# --- malformed answers ------------------------------------------------------------------------


GOOD_CHOICES = '[{"index": 0, "message": {"role": "assistant", "content": "hi"}}]'
GOOD_USAGE = '{"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}'


@pytest.mark.parametrize(
    ("malformed", "expected"),
    [
        (Malformed("<html>Bad gateway</html>"), "not JSON"),
        (Malformed("<html>oops</html>", content_type="text/html"), "not JSON"),
        (Malformed(""), "not JSON"),
        (Malformed("[1, 2]"), "not an object"),
        (Malformed(f'{{"usage": {GOOD_USAGE}}}'), "no 'choices'"),
        (Malformed(f'{{"choices": [], "usage": {GOOD_USAGE}}}'), "no 'choices'"),
        (Malformed(f'{{"choices": [1], "usage": {GOOD_USAGE}}}'), "no 'message'"),
        (Malformed(f'{{"choices": {GOOD_CHOICES}}}'), "no 'usage'"),
        (Malformed(f'{{"choices": {GOOD_CHOICES}, "usage": null}}'), "no 'usage'"),
        (
            Malformed(f'{{"choices": {GOOD_CHOICES}, "usage": {{"prompt_tokens": 1}}}}'),
            "must be non-negative integers",
        ),
        (
            Malformed(
                f'{{"choices": {GOOD_CHOICES}, '
                '"usage": {"prompt_tokens": "1", "completion_tokens": 2}}'
            ),
            "must be non-negative integers",
        ),
        (
            Malformed(
                f'{{"choices": {GOOD_CHOICES}, '
                '"usage": {"prompt_tokens": 1.5, "completion_tokens": 2}}'
            ),
            "must be non-negative integers",
        ),
        (
            Malformed(
                '{"choices": [{"message": {"role": "assistant", "content": 7}}], '
                f'"usage": {GOOD_USAGE}}}'
            ),
            "content is not a string",
        ),
        (
            Malformed(
                '{"choices": [{"message": {"role": "assistant", "content": null}, '
                f'"finish_reason": "length"}}], "usage": {GOOD_USAGE}}}'
            ),
            "content is null",
        ),
        (
            Malformed(
                '{"choices": [{"message": {"role": "assistant", "content": null, '
                '"refusal": "I cannot help with that."}}], '
                f'"usage": {GOOD_USAGE}}}'
            ),
            "refused instead of answering: I cannot help with that.",
        ),
        (
            Malformed(
                '{"choices": [{"message": {"role": "assistant", "content": null, '
                '"tool_calls": [{"id": "c1", "type": "function"}]}}], '
                f'"usage": {GOOD_USAGE}}}'
            ),
            "called a tool",
        ),
    ],
)
async def test_a_200_that_is_not_a_chat_completion_is_malformed(
    server: ChatServer, provider: OpenAICompatibleProvider, malformed: Malformed, expected: str
) -> None:
    server.enqueue(malformed)
    with pytest.raises(MalformedResponse, match=expected) as caught:
        await provider.complete(make_request())
    assert not caught.value.usage_known
    assert not caught.value.retryable


async def test_a_minimal_completion_without_optional_fields_is_accepted(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Malformed(f'{{"choices": {GOOD_CHOICES}, "usage": {GOOD_USAGE}}}'))
    completion = await provider.complete(make_request())
    assert completion.text == "hi"
    assert completion.usage == Usage(1, 2)
    assert completion.model == MODEL  # the server named none: the requested model
    assert completion.finish_reason is None


# --- timeouts and connections -----------------------------------------------------------------


async def test_a_hanging_server_times_out_quickly(server: ChatServer) -> None:
    server.enqueue(Hang(2.0))
    provider = make_provider(api_key=KEY, base_url=server.base_url, timeout=0.2)
    async with aclosing(provider):
        started = time.monotonic()
        with pytest.raises(ProviderTimeout) as caught:
            await provider.complete(make_request())
        assert time.monotonic() - started < 1.5
        # The abandoned attempt leaves the provider usable.
        assert (await provider.complete(make_request())).text == "Hello."
    assert caught.value.retryable
    assert not caught.value.usage_known
    assert "0.2 s" in str(caught.value)


async def test_nothing_listening_is_unreachable() -> None:
    # A bound socket that does not listen: connecting to it is refused at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        provider = make_provider(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
        async with aclosing(provider):
            with pytest.raises(ProviderUnreachable) as caught:
                await provider.complete(make_request())
    assert caught.value.retryable
    assert caught.value.usage_known
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "llm.base_url" in str(caught.value)


async def test_a_connection_dropped_after_sending_is_retryable_with_unknown_cost(
    server: ChatServer, provider: OpenAICompatibleProvider
) -> None:
    server.enqueue(Disconnect())
    with pytest.raises(ConnectionLost) as caught:
        await provider.complete(make_request())
    assert caught.value.retryable
    assert not caught.value.usage_known
    assert "may have been processed" in str(caught.value)


async def test_an_unsupported_scheme_is_unreachable_pointing_at_base_url() -> None:
    provider = make_provider(api_key=KEY, base_url="ftp://127.0.0.1:1/v1")
    async with aclosing(provider):
        with pytest.raises(ProviderUnreachable, match="http:// or https://"):
            await provider.complete(make_request())


# --- parse_retry_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "tomorrow"}, None),
        ({"retry-after-ms": "20"}, 0.02),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),  # in the past
        ({"retry-after": "Thu, 01 Jan 1970 00:01:40 GMT"}, 60.0),
        ({"retry-after": "Thu, 01 Jan 1970 00:01:40 -0000"}, 60.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=40.0) == pytest.approx(expected)


# --- the test server itself -------------------------------------------------------------------


def test_chat_server_reuses_keep_alive_connections_from_sync_code() -> None:
    with ChatServer() as server, httpx.Client(base_url=server.base_url) as client:
        headers = {"Authorization": "Bearer anything"}
        for _ in range(3):
            response = client.post("/chat/completions", json={"model": "m"}, headers=headers)
            assert response.status_code == 200
            assert response.json()["object"] == "chat.completion"
        assert server.connection_count == 1
        assert server.request_count == 3


def test_chat_server_requires_a_bearer_token_and_uses_no_behaviour() -> None:
    with ChatServer([Status(500)]) as server, httpx.Client(base_url=server.base_url) as client:
        response = client.post("/chat/completions", json={"model": "m"})
        assert response.status_code == 401
        assert "API key" in response.json()["error"]["message"]
        authorized = {"Authorization": "Bearer k"}
        response = client.post("/chat/completions", json={"model": "m"}, headers=authorized)
        assert response.status_code == 500


async def test_the_cap_can_be_sent_as_max_completion_tokens(server: ChatServer) -> None:
    llm = make_provider(
        api_key=KEY, base_url=server.base_url, max_tokens_param="max_completion_tokens"
    )
    async with aclosing(llm):
        await llm.complete(make_request(max_tokens=33))
    body = server.requests[-1]
    assert body["max_completion_tokens"] == 33 and "max_tokens" not in body
