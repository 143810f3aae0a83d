"""The context: always the time and the exact previous result, always within its size."""

from __future__ import annotations

import json

from agent_ecology.agents import Observation, render
from agent_ecology.ledger import Account, Bucket, Event, FlowHolding, Principal, StockHolding

NOW = 1_795_000_000.0


def observation(**overrides: object) -> Observation:
    account = Account(
        Principal("alice", "agent", 42, 0.0),
        (StockHolding("alice", "disk", 1000.0, 10.0),),
        (FlowHolding("alice", "compute", Bucket(-5.0, NOW, 1.0, 10.0)),),
    )
    values: dict[str, object] = {
        "agent_id": "alice",
        "now": NOW,
        "turn": 7,
        "account": account,
        "config": {"model": "m", "max_tokens": None, "sleep_policy": {"between_turns": 0}},
    }
    values.update(overrides)
    return Observation(**values)  # type: ignore[arg-type]


def test_time_balances_and_the_exact_error_are_always_there() -> None:
    last = {"action": "invalid_reply", "ok": False, "error": "no_json", "message": "no JSON"}
    system, user = render(observation(last_result=last), "Be thrifty.", max_chars=4000)
    assert "Be thrifty." in system.content
    assert "Current time: 2026-11-18T" in user.content and f"{NOW:.0f}" not in user.content
    assert "- scrip: 42" in user.content
    assert "compute: -5 of 10 (refills 1/s) IN DEBT" in user.content
    assert json.dumps(last) in user.content
    assert '{"action": "update_config"' in system.content  # the action shapes, for alice:
    assert '"artifact_id": "alice/<name>"' in system.content


def test_news_and_notes_are_trimmed_oldest_first_to_fit() -> None:
    events = [
        Event(i, NOW, "transfer", "bob", "bob", "alice", None, i, None, None, {})
        for i in range(1, 400)
    ]
    notes = [f"note number {i}" for i in range(50)]
    obs = observation(events=events, notes=notes)
    for limit in (4000, 6000, 12000):
        system, user = render(obs, "", max_chars=limit)
        assert len(system.content) + len(user.content) <= limit
        assert '"seq": 399' in user.content or "not shown" in user.content
    _, user = render(obs, "", max_chars=12000)
    assert "older not shown" in user.content and '"seq": 399' in user.content


def test_a_long_read_is_cut_with_an_offset_to_read_on_from() -> None:
    last = {
        "action": "read_artifact",
        "ok": True,
        "message": "read bob/book (characters 0-20000 of 50000)",
        "data": {
            "artifact_id": "bob/book",
            "offset": 0,
            "next_offset": 20000,
            "content": "x" * 20000,
        },
    }
    _, user = render(observation(last_result=last), "", max_chars=9000)
    shown = json.loads(user.content.split("Result of your previous action:\n", 1)[1].split("\n")[0])
    kept = len(shown["data"]["content"])
    assert 0 < kept < 20000 and shown["data"]["next_offset"] == kept
    assert "read on from next_offset" in shown["note"]


def test_stored_text_that_is_not_unicode_still_makes_a_context_that_can_be_sent() -> None:
    # A lone surrogate stored before the parser refused them (or put there by hand).
    event = Event(
        1, NOW, "agent_slept", "bob", "bob", None, None, None, None, None, {"until_event": "\ud800"}
    )
    obs = observation(events=[event], notes=["half a character: \udfff"])
    messages = render(obs, "prompt \ud800", max_chars=4000)
    for message in messages:
        message.content.encode("utf-8")  # what a provider sends: must not raise
    assert "half a character: \ufffd" in messages[1].content
    assert "prompt \ufffd" in messages[0].content


def test_what_does_not_change_comes_first_so_prompt_caches_reuse_it() -> None:
    first = render(observation(turn=7), "Be thrifty.", max_chars=12000)
    later = render(
        observation(
            turn=8,
            now=NOW + 30,
            last_result={"action": "noop", "ok": True, "message": "you did nothing"},
            notes=["bob pays"],
        ),
        "Be thrifty.",
        max_chars=12000,
    )
    assert first[0].content == later[0].content  # one agent's system message never changes
    assert later[0].content.endswith("You are alice.\nYour own instructions:\nBe thrifty.")
    bob = render(observation(agent_id="bob"), "Be thrifty.", max_chars=12000)[0].content
    shared = next(i for i, (a, b) in enumerate(zip(first[0].content, bob, strict=False)) if a != b)
    assert first[0].content[:shared].startswith("You are an autonomous agent")
    assert "Actions (reply with exactly one JSON object" in first[0].content[:shared]
    assert "alice" not in first[0].content[:shared]  # the rules are every agent's prefix
    # In the user message, who it is and its lists come before the time and balances.
    user = later[1].content
    assert user.index("Your notes") < user.index("Current time") < user.index("Your balances")
    assert user.index("Your balances") < user.index("Result of your previous action")
