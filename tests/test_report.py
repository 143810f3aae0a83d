"""What a run says at its end: the summary is a pure function of the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_ecology.llm import ScriptedProvider
from agent_ecology.report import RunReport, progress_line, summary_lines

NANO = 1_000_000_000


def agent(turns: int, **by_action: int) -> dict[str, object]:
    return {
        "state": "stopped",
        "turns": turns,
        "ok": turns,
        "refused": 0,
        "dollars": 0.0,
        "tokens": 0,
        "cpu_ms": 1.25,
        "scrip": 100,
        "by_action": by_action,
    }


def a_run(**fields: Any) -> RunReport:
    """A report whose reason, times and provider the test does not look at."""
    return RunReport(reason="r", started=0.0, ended=1.0, provider="p", **fields)


def summary(report: RunReport) -> list[str]:
    return summary_lines(
        report,
        2.5,
        provider=ScriptedProvider(default="{}"),
        robonomics=None,
        database=Path("data/world.db"),
    )


def test_the_summary_says_why_what_was_done_and_where_to_look() -> None:
    report = RunReport(
        reason="the duration is over",
        started=0.0,
        ended=2.5,
        provider="scripted",
        agents={"alice": agent(2, noop=2), "bob": agent(1, note=1)},
        spent_nd=NANO // 4,
        limit_nd=NANO,
    )
    lines = summary(report)
    assert lines[1] == "run ended: the duration is over after 2.5 s"
    assert lines[2] == "actions: 3 in all (noop 2, note 1)"
    assert lines[3] == "API dollars: $0.250000 spent of $1.00 (the world's total so far)"
    assert lines[4] == "scrip: conserved"
    assert "alice" in lines[-3] and "bob" in lines[-3]  # the table
    assert lines[-1] == "inspect the world: agent-ecology inspect --db data/world.db"


def test_a_world_past_its_limit_and_lost_scrip_are_said() -> None:
    report = a_run(
        spent_nd=NANO + NANO // 2,
        limit_nd=NANO,
        conserved=False,
        overbilled=["model m billed 9 tokens past its reservation"],
    )
    text = "\n".join(summary(report))
    assert "scrip: NOT CONSERVED: report this as a bug" in text
    assert "LLM server faults: 1 call(s) billed past their reservation" in text
    assert "  - model m billed 9 tokens past its reservation" in text
    assert "the world spent $0.500000 past its limit" in text


def test_only_twenty_agents_are_listed_with_a_count_of_the_rest() -> None:
    agents = {f"a{i:02d}": agent(0) for i in range(23)}
    report = a_run(agents=agents)
    table = summary(report)[-3]
    assert "a19" in table and "a20" not in table
    assert table.endswith("... and 3 more agents")


def test_the_progress_line_of_a_world_without_agents() -> None:
    assert progress_line({}, None, 3.0) == (
        "    3.0s  agents 0: 0 active, 0 asleep, 0 frozen  |  actions 0 (0 refused)  |  $0.0000"
        " spent"
    )
