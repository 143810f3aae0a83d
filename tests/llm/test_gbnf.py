"""The GBNF grammar of the action schema, read by an independent GBNF reader
(:mod:`tests.llm.gbnf_oracle`): every text the grammar allows is a valid action (what a
constrained model writes passes the parser), numbers keep their bounds exactly, strings
hold no raw control character or lone surrogate, and the invalid replies small models
wrote against a schema-only server are refused by the grammar as by the parser."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_ecology.agents.actions import ACTIONS
from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.agents.schema import action_schema
from agent_ecology.llm.gbnf import MAX_BOUNDED_LENGTH, schema_grammar
from tests.llm.gbnf_oracle import accepts, parse, refs, sample

GRAMMAR = schema_grammar(action_schema())


def test_the_grammar_is_well_formed_and_every_rule_it_names_exists() -> None:
    rules = parse(GRAMMAR)
    named = set().union(*(refs(body) for body in rules.values()))
    assert "root" in rules and len(named) > 50
    assert named <= set(rules), named - set(rules)
    assert schema_grammar(action_schema()) is GRAMMAR  # built once


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_every_text_the_grammar_allows_is_a_valid_action(rng: random.Random) -> None:
    text = sample(GRAMMAR, rng)
    assert accepts(GRAMMAR, text), text  # the sampler and the reader agree
    parse_action(text)  # raises ActionError if a constrained model could write it and fail


def test_every_action_is_reachable() -> None:
    rng = random.Random(7)
    seen = {json.loads(sample(GRAMMAR, rng))["action"] for _ in range(400)}
    assert seen == set(ACTIONS)


VALID = [
    '{"action": "noop"}',
    '{"action": "noop", "reason": "nothing to buy"}',
    '{"action": "read_artifact", "artifact_id": "alice/notes", "offset": 0, "limit": 20000}',
    '{"action": "write_artifact", "artifact_id": "a", "content": "x", "price": 5}',
    '{"action": "write_artifact", "artifact_id": "a", "content": "", "executable": false}',
    '{"action": "edit_artifact", "artifact_id": "a", "old": "x", "new": "y"}',
    '{"action": "delete_artifact", "artifact_id": "a"}',
    '{"action": "invoke", "artifact_id": "genesis_exchange", "method": "bid",'
    ' "args": {"good": "disk:capacity", "quantity": 2, "price": 3.5, "tags": [1, null]}}',
    '{"action": "query", "what": "balances", "limit": 100}',
    '{"action": "sleep", "seconds": 0.25}',
    '{"action": "sleep", "seconds": 604800}',
    '{"action": "sleep", "until_event": ["transfer", "exchange_order"]}',
    '{"action": "sleep", "until_balance": {"resource": "scrip", "at_most": -3.5}}',
    '{"action": "note", "text": "caf\\u00e9 is \\"open\\"\\n"}',
    '{"action": "update_config", "sleep_policy": {"between_turns": 3600}}',
    '{"action": "update_config", "agent_id": "bob", "max_tokens": 1}',
]

INVALID = [
    # What SmolLM2 wrote against llama-cpp-python's json_object + schema (bounds ignored).
    '{"action": "read_artifact", "artifact_id": "x", "offset": -12, "limit": 4068}',
    '{"action": "read_artifact", "artifact_id": "x", "limit": 5970148}',
    '{"action": "write_artifact", "artifact_id": "", "content": "", "price": 100}',
    '{"action": "query", "what": "agents", "limit": 0}',
    '{"action": "sleep", "seconds": 0}',
    '{"action": "sleep", "seconds": 604800.5}',
    '{"action": "sleep"}',
    '{"action": "sleep", "until_event": []}',
    '{"action": "sleep", "until_balance": {"resource": "scrip", "at_least": 1, "at_most": 2}}',
    '{"action": "sleep", "until_balance": {"resource": "scrip"}}',
    '{"action": "update_config", "agent_id": "bob"}',
    '{"action": "update_config", "max_tokens": 0}',
    '{"action": "note", "text": ""}',
    '{"action": "note", "text": "a \\udc00 lone surrogate"}',
    '{"action": "noop", "mood": "idle"}',
    '{"action": "dance"}',
    '{"action": "invoke", "artifact_id": "a", "pay": -1}',
]


@pytest.mark.parametrize("text", VALID)
def test_valid_actions_are_allowed(text: str) -> None:
    parse_action(text)
    assert accepts(GRAMMAR, text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_replies_are_refused_by_the_grammar_as_by_the_parser(text: str) -> None:
    with pytest.raises(ActionError):
        parse_action(text)
    assert not accepts(GRAMMAR, text)


def test_a_raw_control_character_inside_a_string_is_refused() -> None:
    assert not accepts(GRAMMAR, '{"action": "note", "text": "line\none"}')
    assert accepts(GRAMMAR, '{"action": "note", "text": "line\\none"}')


def bounded(kind: str, low: tuple[str, int], high: tuple[str, int]) -> str:
    return schema_grammar({"type": kind, low[0]: low[1], high[0]: high[1]})


LOWS = st.sampled_from(["minimum", "exclusiveMinimum"])
HIGHS = st.sampled_from(["maximum", "exclusiveMaximum"])
INTS = st.integers(-(10**7), 10**7)


def within(x: float, low: tuple[str, int], high: tuple[str, int]) -> bool:
    above = x > low[1] if low[0] == "exclusiveMinimum" else x >= low[1]
    below = x < high[1] if high[0] == "exclusiveMaximum" else x <= high[1]
    return above and below


@settings(max_examples=300, deadline=None)
@given(LOWS, HIGHS, INTS, st.integers(0, 10**7), INTS)
def test_an_integer_is_allowed_exactly_within_its_bounds(
    lo_key: str, hi_key: str, lo: int, span: int, x: int
) -> None:
    low, high = (lo_key, lo), (hi_key, lo + span)
    if not any(within(v, low, high) for v in range(lo, lo + span + 1)):
        with pytest.raises(ValueError, match="no integer lies within"):
            bounded("integer", low, high)
        return
    grammar = bounded("integer", low, high)
    for value in (x, lo, lo + span, lo - 1, lo + 1, lo + span + 1, lo + span - 1, 0):
        assert accepts(grammar, str(value)) == within(value, low, high), (low, high, value)


@settings(max_examples=300, deadline=None)
@given(
    LOWS,
    HIGHS,
    st.integers(-1000, 1000),
    st.integers(1, 2000),
    st.integers(-4000, 4000),
    st.integers(0, 999),
)
def test_a_number_is_allowed_exactly_within_its_bounds(
    lo_key: str, hi_key: str, lo: int, span: int, whole: int, thousandths: int
) -> None:
    low, high = (lo_key, lo), (hi_key, lo + span)
    grammar = bounded("number", low, high)
    sign = "-" if whole < 0 else ""
    for text in (
        f"{sign}{abs(whole)}.{thousandths:03d}",
        str(whole),
        f"{lo}",
        f"{lo + span}",
        f"{lo}.5",
        f"{lo + span}.5" if lo + span >= 0 else f"-{abs(lo + span) - 1}.5",
    ):
        value = float(text)
        if text.rstrip("0").endswith(".") or text.endswith(".000"):
            continue  # "3.000" is 3, and the grammar writes 3 as "3" only: not a bound test
        assert accepts(grammar, text) == within(value, low, high), (low, high, text)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5), st.integers(0, 80), st.text(max_size=90))
def test_a_string_keeps_its_lengths(least: int, extra: int, text: str) -> None:
    most = least + extra
    grammar = schema_grammar({"type": "string", "minLength": least, "maxLength": most})
    encoded = json.dumps(text, ensure_ascii=False)  # control characters escaped, one each
    fits = least <= len(text) and (len(text) <= most or most > MAX_BOUNDED_LENGTH)
    if "\x7f" not in text:  # the grammar takes DEL only escaped
        assert accepts(grammar, encoded) == fits, (least, most, text)


def test_what_the_grammar_cannot_say_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="needs both bounds"):
        schema_grammar({"type": "integer", "minimum": 0})
    with pytest.raises(ValueError, match="whole-number bounds"):
        schema_grammar({"type": "number", "minimum": 0.5, "maximum": 2})
    with pytest.raises(ValueError, match=r"string keywords \['pattern'\]"):
        schema_grammar({"type": "string", "pattern": "^a$"})
    with pytest.raises(ValueError, match="closed objects only"):
        schema_grammar({"type": "object", "properties": {"a": {"type": "null"}}})
    with pytest.raises(ValueError, match="cannot express this schema node"):
        schema_grammar({"type": "date"})
