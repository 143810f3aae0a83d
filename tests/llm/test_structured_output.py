"""Structured output against a real HTTP server on 127.0.0.1: the lean action schema, the
auto ladder (json_schema, a GBNF grammar, json_object with the schema, plain json_object,
none) on refusals
that name the format, remembered per model and said once; a configured format the server
refuses is a rejection, never retried as a server fault."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

import anyio
import pytest
import yaml

from agent_ecology.agents.actions import ACTIONS
from agent_ecology.agents.parser import parse_action
from agent_ecology.agents.schema import INTEGER_BOUND, action_schema
from agent_ecology.config import ConfigError, parse_settings
from agent_ecology.llm.errors import RequestRejected
from agent_ecology.llm.gbnf import MAX_BOUNDED_LENGTH, schema_grammar
from agent_ecology.llm.openai_compat import OpenAICompatibleProvider
from agent_ecology.llm.pricing import prompt_token_bound
from agent_ecology.llm.types import CompletionRequest, Message
from tests.llm.chat_server import ChatServer, Reply, Status

KEY = "sk-test"
LLAMA_REFUSAL = {
    "error": {
        "code": 500,
        "message": "1 validation error for ResponseFormat\ntype\n  Input should be 'text' or"
        " 'json_object' [type=literal_error, input_value='json_schema']",
        "type": "internal_server_error",
    }
}
NO_SCHEMA = {"error": {"message": "response_format.schema is not supported", "code": 400}}
NO_JSON_MODE = {"error": {"message": "response_format json_object is not supported"}}
NO_GRAMMAR = {"error": {"message": "Unrecognized request argument supplied: grammar"}}


def request(model: str = "m1", schema: bool = True) -> CompletionRequest:
    return CompletionRequest(
        agent_id="alice",
        model=model,
        messages=(Message("system", "rules"), Message("user", "act")),
        max_tokens=50,
        schema=action_schema() if schema else None,
    )


def formats(server: ChatServer) -> list[Any]:
    """What each request asked for: its response_format's type, "grammar", or None."""
    return [
        "grammar" if "grammar" in body else body.get("response_format", {}).get("type")
        for body in server.requests
    ]


def walk(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out += walk(value)
    elif isinstance(node, list):
        for value in node:
            out += walk(value)
    return out


def test_the_action_schema_is_lean_one_branch_per_action_and_every_number_bounded() -> None:
    schema = action_schema()
    branches = schema["anyOf"]
    names = [b["properties"]["action"]["const"] for b in branches]
    # One branch per action, and per field that meets a cross-field rule: sleep needs one of
    # 3 conditions, update_config one of 4 changes.
    assert list(dict.fromkeys(names)) == list(ACTIONS)
    assert {n: names.count(n) for n in ("sleep", "update_config", "note")} == {
        "sleep": 3,
        "update_config": 4,
        "note": 1,
    }
    text = json.dumps(schema)
    for word in ("$ref", "$defs", "title", "oneOf", "default", "x-any-of", "x-one-of"):
        assert word not in text, word
    assert len(text) < 16_000  # ~3,300 of it: the event kinds sleep may wake on, 3 times
    for node in walk(schema):
        assert not {"gt", "ge", "lt", "le"} & set(node) or "properties" in node, node
        assert node.get("maxLength", 0) <= MAX_BOUNDED_LENGTH, node
        if node.get("type") in ("integer", "number"):
            assert "maximum" in node or "exclusiveMaximum" in node, node
            assert "minimum" in node or "exclusiveMinimum" in node, node
    sleep = [b for b in branches if b["properties"]["action"] == {"const": "sleep"}]
    assert [b["required"] for b in sleep] == [
        ["action", "seconds"],
        ["action", "until_event"],
        ["action", "until_balance"],
    ]
    seconds = sleep[0]["properties"]["seconds"]["anyOf"]  # float | int, not null here
    assert [(n["type"], n["exclusiveMinimum"], n["maximum"]) for n in seconds] == [
        ("number", 0, 7 * 24 * 3600),
        ("integer", 0, 7 * 24 * 3600),
    ]
    balance = sleep[2]["properties"]["until_balance"]["anyOf"]  # exactly one bound
    assert [sorted(b["properties"]) for b in balance] == [
        ["at_least", "resource"],
        ["at_most", "resource"],
    ]
    read = next(b for b in branches if b["properties"]["action"] == {"const": "read_artifact"})
    assert read["properties"]["limit"]["maximum"] == 20_000  # pydantic's own bound, kept
    assert read["properties"]["offset"]["maximum"] == INTEGER_BOUND  # a sane default
    assert all(b["additionalProperties"] is False and "action" in b["required"] for b in branches)


def test_the_schema_counts_in_the_prompts_worst_case() -> None:
    with_schema, without = request(), request(schema=False)
    extra = prompt_token_bound(with_schema.messages, with_schema.schema) - prompt_token_bound(
        without.messages
    )
    assert extra > len(json.dumps(action_schema()))


def test_raw_control_characters_inside_strings_are_accepted() -> None:
    action = parse_action('{"action": "note", "text": "line one\nline\ttwo"}')
    assert action.text == "line one\nline\ttwo"  # type: ignore[union-attr]


@pytest.fixture
async def said() -> list[str]:
    return []


async def provider_for(
    server: ChatServer, said: list[str], **kwargs: Any
) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        api_key=KEY, base_url=server.base_url, timeout=5.0, say=said.append, **kwargs
    )


async def test_auto_uses_json_schema_where_it_is_taken_and_says_so_once(said: list[str]) -> None:
    with ChatServer(api_key=KEY, default=Reply('{"action": "noop"}')) as server:
        async with aclosing(await provider_for(server, said)) as llm:
            for _ in range(3):
                assert (await llm.complete(request())).text == '{"action": "noop"}'
        assert formats(server) == ["json_schema"] * 3
        sent = server.requests[0]["response_format"]["json_schema"]
        assert sent["schema"] == action_schema() and sent["name"] == "action"
    assert said == ["structured output for m1: response_format json_schema (the action schema)"]


async def test_auto_steps_down_like_a_llama_cpp_server_asks_and_remembers_per_model(
    said: list[str],
) -> None:
    script = [Status(500, body=LLAMA_REFUSAL)]
    with ChatServer(api_key=KEY, script=script, default=Reply("{}")) as server:
        async with aclosing(await provider_for(server, said)) as llm:
            await llm.complete(request())
            await llm.complete(request())
        assert formats(server) == ["json_schema", "grammar", "grammar"]
        assert server.requests[1]["grammar"] == schema_grammar(action_schema())
        assert "response_format" not in server.requests[1]
    assert said[0].startswith(
        "structured output for m1: the server refused response_format json_schema (the action"
        " schema) (1 validation error for ResponseFormat type Input should be 'text' or"
    )
    assert said[1] == (
        "structured output for m1: a GBNF grammar of the action schema (the request's grammar"
        " field)"
    )
    assert len(said) == 2


async def test_auto_goes_down_to_no_format_at_all(said: list[str]) -> None:
    script = [
        Status(400, body=NO_SCHEMA),
        Status(400, body=NO_GRAMMAR),
        Status(400, body=NO_SCHEMA),
        Status(400, body=NO_JSON_MODE),
    ]
    with ChatServer(api_key=KEY, script=script, default=Reply("{}")) as server:
        async with aclosing(await provider_for(server, said)) as llm:
            await llm.complete(request())
            await llm.complete(request("m2"))  # another model starts at the top again
        assert formats(server) == [
            "json_schema",
            "grammar",
            "json_object",
            "json_object",
            None,
            "json_schema",
        ]
    assert said[-2] == "structured output for m1: no response_format (free text)"


async def test_other_errors_are_not_taken_for_a_format_refusal(said: list[str]) -> None:
    with ChatServer(api_key=KEY, script=[Status(500)], default=Reply("{}")) as server:
        async with aclosing(await provider_for(server, said)) as llm:
            with pytest.raises(Exception, match="HTTP 500"):
                await llm.complete(request())
        assert formats(server) == ["json_schema"]  # one request: the caller retries, or not


async def test_a_configured_format_the_server_refuses_is_a_rejection_not_a_retry(
    said: list[str],
) -> None:
    with ChatServer(api_key=KEY, script=[Status(500, body=LLAMA_REFUSAL)]) as server:
        async with aclosing(
            await provider_for(server, said, structured_output="json_schema")
        ) as llm:
            with pytest.raises(RequestRejected, match=r"set llm\.structured_output"):
                await llm.complete(request())
        assert server.request_count == 1


async def test_off_and_a_per_model_choice_are_honoured(said: list[str]) -> None:
    with ChatServer(api_key=KEY, default=Reply("{}")) as server:
        async with aclosing(
            await provider_for(
                server,
                said,
                structured_output="off",
                per_model={"m2": "json_object", "m4": "grammar"},
            )
        ) as llm:
            await llm.complete(request("m1"))
            await llm.complete(request("m2"))
            await llm.complete(request("m3", schema=False))
            await llm.complete(request("m4"))
        assert formats(server) == [None, "json_object", None, "grammar"]
        assert server.requests[1]["response_format"]["schema"] == action_schema()


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="structured_output 'xml' is none of auto, json_schema"):
        OpenAICompatibleProvider(
            api_key=KEY, base_url="http://127.0.0.1:9/v1", structured_output="xml"
        )


async def test_calls_refused_at_once_step_down_once_and_say_it_once(said: list[str]) -> None:
    script = [Status(500, body=LLAMA_REFUSAL)] * 4
    with ChatServer(api_key=KEY, script=script, default=Reply("{}")) as server:
        async with (
            aclosing(await provider_for(server, said)) as llm,
            anyio.create_task_group() as tg,
        ):
            for _ in range(4):
                tg.start_soon(llm.complete, request())
        assert sorted(formats(server), key=str) == ["grammar"] * 4 + ["json_schema"] * 4
    assert len([s for s in said if "refused" in s]) == 1
    assert len(said) == 2


def test_a_bare_off_in_yaml_means_off() -> None:
    settings = parse_settings(yaml.safe_load("llm:\n  structured_output: off\n"))
    assert settings.llm.structured_output == "off"
    with pytest.raises(ConfigError, match=r"llm\.structured_output: input should be 'auto'"):
        parse_settings(yaml.safe_load("llm:\n  structured_output: yes\n"))
