"""The parser accepts what models really write and explains everything it refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.agents import ACTIONS, ActionError, parse_action
from agent_ecology.agents.actions import Invoke, Noop, Note, SleepAction, UpdateConfig, shape


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_documented_example_parses_as_its_action(name: str) -> None:
    assert parse_action(shape(name)).action == name


@pytest.mark.parametrize(
    "reply",
    [
        '```json\n{"action": "noop"}\n```',
        '```\n{"action": "noop"}\n```',
        'I will wait.\n{"action": "noop", "reason": "nothing to do"}\nThat is my move.',
        'Let me think: don\'t spend yet. {"action": "noop"}',
        '  {"action":"noop"}  ',
    ],
)
def test_fences_and_prose_around_one_object_are_accepted(reply: str) -> None:
    assert isinstance(parse_action(reply), Noop)


def test_braces_inside_strings_do_not_confuse_the_scanner() -> None:
    action = parse_action('{"action": "note", "text": "use {braces} and \\"quotes\\" }"}')
    assert isinstance(action, Note) and action.text == 'use {braces} and "quotes" }'


def test_nested_arguments_are_kept() -> None:
    action = parse_action(
        '{"action": "invoke", "artifact_id": "genesis_ledger", "method": "transfer",'
        ' "args": {"to": "bob", "amount": 5}}'
    )
    assert isinstance(action, Invoke) and action.args == {"to": "bob", "amount": 5}


def test_update_config_tells_an_explicit_null_from_a_missing_key() -> None:
    action = parse_action('{"action": "update_config", "max_tokens": null}')
    assert isinstance(action, UpdateConfig) and action.changes() == {"max_tokens": None}
    action = parse_action('{"action": "update_config", "model": "gpt-4o"}')
    assert isinstance(action, UpdateConfig) and action.changes() == {"model": "gpt-4o"}


@pytest.mark.parametrize(
    ("reply", "code", "words"),
    [
        ("", "empty_reply", ["empty"]),
        ("I am not sure what to do.", "no_json", ["no JSON object", '"action"']),
        ('{"action": "noop"', "invalid_json", ["never closed"]),
        ("{'action': 'noop'}", "invalid_json", ["double quotes"]),
        ('{"reason": "x"}', "missing_action", ['no "action" key', "noop"]),
        ('{"action": "nop"}', "unknown_action", ["did you mean 'noop'", "handbook"]),
        ('{"action": "noop"} {"action": "note", "text": "x"}', "several_actions", ["2 actions"]),
        ('{"action": "sleep"}', "invalid_action", ["at least one of seconds", "Expected shape"]),
        (
            '{"action": "write_artifact", "artifact_id": 7}',
            "invalid_action",
            ["artifact_id", "content: required", '"content": "<text>"'],
        ),
        ('{"action": "noop", "colour": "red"}', "invalid_action", ["colour: not a field"]),
        ('{"action": "query", "what": "everything"}', "invalid_action", ["what:"]),
        ('{"action": "sleep", "seconds": NaN}', "invalid_json", ["NaN is not a JSON number"]),
        ('{"action": "sleep", "seconds": 1e999}', "invalid_json", ["too large"]),
        ('{"action": "noop"} {"action": "noop"}', "several_actions", ['such as {"action"']),
    ],
)
def test_refusals_say_what_was_wrong_and_show_the_shape(
    reply: str, code: str, words: list[str]
) -> None:
    with pytest.raises(ActionError) as info:
        parse_action(reply)
    assert info.value.code == code
    for word in words:
        assert word in str(info.value)


def test_a_reply_over_the_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(ActionError) as info:
        parse_action('{"action": "note", "text": "' + "x" * 500 + '"}', max_chars=100)
    assert info.value.code == "reply_too_long" and "limit of 100" in str(info.value)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_action_like = st.fixed_dictionaries(
    {"action": st.sampled_from([*ACTIONS, "buy", "", "NOOP"]) | st.integers()},
    optional={
        "artifact_id": _json_values,
        "content": _json_values,
        "text": _json_values,
        "seconds": _json_values,
        "args": _json_values,
        "what": _json_values,
        "max_tokens": _json_values,
    },
)
_replies = st.one_of(
    st.text(max_size=300),
    _action_like.map(json.dumps),
    _action_like.map(lambda d: "```json\n" + json.dumps(d) + "\n```"),
    _action_like.map(lambda d: json.dumps(d)[: len(json.dumps(d)) // 2]),  # cut short
    st.tuples(st.text(max_size=50), _action_like, st.text(max_size=50)).map(
        lambda t: t[0] + json.dumps(t[1]) + t[2]
    ),
    st.integers(1, 200_000).map(lambda n: "{" * (n % 5000) + "x" * (n % 997)),
)


@settings(max_examples=300, deadline=None)
@given(_replies)
def test_any_reply_parses_or_is_refused_with_an_explanation(reply: str) -> None:
    try:
        action = parse_action(reply)
    except ActionError as exc:
        assert exc.code and len(str(exc)) > 20
    else:
        assert action.action in ACTIONS


def test_hostile_input_is_linear() -> None:
    import time

    reply = '{"a": "' * 20_000
    start = time.perf_counter()
    with pytest.raises(ActionError):
        parse_action(reply, max_chars=1_000_000)
    assert time.perf_counter() - start < 1.0


def test_sleep_needs_a_condition_and_accepts_all_three() -> None:
    action = parse_action(
        '{"action": "sleep", "seconds": 5, "until_event": ["transfer", "mint"],'
        ' "until_balance": {"resource": "scrip", "at_least": 10}}'
    )
    assert isinstance(action, SleepAction) and action.event_kinds() == ["transfer", "mint"]


def test_sleep_wakes_only_on_event_kinds_that_exist() -> None:
    with pytest.raises(ActionError) as refused:
        parse_action('{"action": "sleep", "seconds": 60, "until_event": "<event kind>"}')
    assert "until_event '<event kind>' is not an event kind; wake on one of: principal_created" in (
        str(refused.value)
    )
    action = parse_action('{"action": "sleep", "until_event": ["transfer", "exchange_order"]}')
    assert isinstance(action, SleepAction) and action.event_kinds()[1] == "exchange_order"
