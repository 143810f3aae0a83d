"""How a run goes and went: the progress line while it runs, the report and summary at its end.

::

    line = progress_line(runtime.loops, runtime.budget, elapsed)
    report = await compile_report(ledger, loops, reason=..., ...)
    for line in summary_lines(report, wall, provider=..., robonomics=..., database=...):
        print(line)

Everything here reads: the loops' own counts, the budget's last view, the ledger's rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from agent_ecology._table import render_table
from agent_ecology.agents import AgentLoop, AgentState
from agent_ecology.ledger import NANODOLLARS, Ledger, TaskTally
from agent_ecology.llm import Provider
from agent_ecology.llm.budget import Budget

if TYPE_CHECKING:
    from agent_ecology.robonomics.setup import Loop

__all__ = [
    "RunReport",
    "compile_report",
    "counts",
    "progress_line",
    "show_progress",
    "summary_lines",
    "task_lines",
]


@dataclass
class RunReport:
    """How a run went."""

    reason: str
    started: float
    ended: float
    provider: str
    agents: dict[str, dict[str, object]] = field(default_factory=dict)
    spent_nd: int = 0
    limit_nd: int = 0
    conserved: bool = True
    abandoned_calls: int = 0
    overbilled: list[str] = field(default_factory=list)
    """One line per call a server billed past its reservation (a fault of that server)."""
    tasks: TaskTally | None = None
    """What the tasks did in this run (None: the world has no tasks)."""
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens of this run's calls, and those the servers read from their caches."""

    @property
    def turns(self) -> int:
        return sum(int(a["turns"]) for a in self.agents.values())  # type: ignore[call-overload]


# --- while it runs ------------------------------------------------------------------------


def counts(loops: Iterable[AgentLoop]) -> dict[str, int]:
    """Agents per state, for the progress line."""
    out = {"active": 0, "asleep": 0, "frozen": 0, "backing off": 0}
    for loop in loops:
        if loop.state is AgentState.ASLEEP:
            out["asleep"] += 1
        elif loop.state is AgentState.FROZEN:  # in debt, or waiting for dollars
            out["frozen"] += 1
        elif loop.state is AgentState.BACKING_OFF:  # after a failed turn, not debt
            out["backing off"] += 1
        elif loop.state is not AgentState.STOPPED:
            out["active"] += 1
    return out


def progress_line(loops: Mapping[str, AgentLoop], budget: Budget | None, elapsed: float) -> str:
    """One line on the run ``elapsed`` seconds in: agents by state, actions, dollars."""
    c = counts(loops.values())
    turns = sum(loop.stats.turns for loop in loops.values())
    failed = sum(loop.stats.actions_failed for loop in loops.values())
    spent = sum(loop.stats.cost_nd for loop in loops.values()) / NANODOLLARS
    money = f"${spent:.4f} spent"
    view = budget.view() if budget is not None else None
    if view is not None:
        money += f", ${view[0]:.4f} of ${view[1]:.2f} left"
    return (
        f"{elapsed:7.1f}s  agents {len(loops)}: {c['active']} active, {c['asleep']}"
        f" asleep, {c['frozen']} frozen"
        + (f", {c['backing off']} backing off" if c["backing off"] else "")
        + f"  |  actions {turns} ({failed} refused)  |  {money}"
    )


async def show_progress(
    out: TextIO,
    loops: Mapping[str, AgentLoop],
    budget: Budget | None,
    *,
    live: bool,
    stop: anyio.Event,
    wall_start: float,
) -> None:
    """Until ``stop``: a live line on a terminal (twice a second), else a plain line every 10 s.

    ``wall_start`` is the run's start on :func:`time.monotonic`.
    """
    while not stop.is_set():
        with anyio.move_on_after(0.5 if live else 10.0):
            await stop.wait()
        if stop.is_set():
            break
        line = progress_line(loops, budget, time.monotonic() - wall_start)
        if live:
            out.write("\r\x1b[2K" + line)
        else:
            out.write(line + "\n")
        out.flush()
    if live:
        out.write("\r\x1b[2K")
        out.flush()


# --- at its end ---------------------------------------------------------------------------


async def compile_report(
    ledger: Ledger,
    loops: Mapping[str, AgentLoop],
    *,
    reason: str,
    started: float,
    ended: float,
    provider: str,
    budget: Budget | None,
    abandoned: int,
    tasks: bool = False,
) -> RunReport:
    """The run's report: each agent's counts and scrip, the world's dollars, conservation."""
    row = await ledger.api_budget()
    supply = await ledger.supply()
    report = RunReport(
        reason=reason,
        started=started,
        ended=ended,
        provider=provider,
        spent_nd=row.spent_nd,
        limit_nd=row.limit_nd,
        conserved=supply.is_conserved,
        abandoned_calls=abandoned,
        overbilled=[b.describe() for b in budget.overbillings] if budget else [],
        tasks=await ledger.task_tally(started) if tasks else None,
    )
    report.prompt_tokens, report.cached_tokens = await ledger.prompt_tokens(started)
    for agent_id, loop in loops.items():
        s = loop.stats
        report.agents[agent_id] = {
            "state": loop.state.value if loop.state is not AgentState.STOPPED else "stopped",
            "turns": s.turns,
            "ok": s.actions_ok,
            "refused": s.actions_failed,
            "dollars": s.cost_nd / NANODOLLARS,
            "tokens": s.tokens,
            "cpu_ms": s.cpu_seconds * 1000,
            "scrip": (await ledger.principal(agent_id)).scrip,
            "by_action": dict(s.by_action),
        }
    return report


def task_lines(tally: TaskTally) -> list[str]:
    """The summary's lines on tasks: solved, minted (against the oracle), refusals by reason."""
    lines = [
        f"tasks: {tally.tasks_solved} solved ({tally.solutions} paid solution(s) of"
        f" {tally.submissions} checked); scrip minted by tasks {tally.minted_by_tasks:,}, by"
        f" the oracle {tally.minted_by_oracle:,}"
    ]
    refused = [(s, r, n) for s, r, n in tally.outcomes if s != "solved"]
    for status, reason, n in refused[:6]:
        lines.append(f"  - {n} {status.replace('_', ' ')}: {reason or 'no reason recorded'}")
    if len(refused) > 6:
        lines.append(f"  - ... and {sum(n for _s, _r, n in refused[6:])} more")
    return lines


def summary_lines(
    report: RunReport,
    wall: float,
    *,
    provider: Provider,
    robonomics: Loop | None,
    database: Path,
) -> list[str]:
    """What the run says when it ends: why, what was done and spent, a table of agents."""
    by_action: dict[str, int] = {}
    for a in report.agents.values():
        for name, n in a["by_action"].items():  # type: ignore[attr-defined]
            by_action[name] = by_action.get(name, 0) + n
    lines = [
        "",
        f"run ended: {report.reason} after {wall:.1f} s",
        f"actions: {report.turns} in all"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items())) + ")"
            if by_action
            else ""
        ),
        f"API dollars: ${report.spent_nd / NANODOLLARS:.6f} spent of"
        f" ${report.limit_nd / NANODOLLARS:.2f} (the world's total so far)",
        "scrip: " + ("conserved" if report.conserved else "NOT CONSERVED: report this as a bug"),
    ]
    if report.prompt_tokens:
        share = report.cached_tokens / report.prompt_tokens
        lines.append(
            f"prompt tokens: {report.prompt_tokens:,}, of them read from the server's cache"
            f" {report.cached_tokens:,} ({share:.0%})"
        )
    if report.tasks is not None:
        lines += task_lines(report.tasks)
    if report.overbilled:
        lines.append(
            f"LLM server faults: {len(report.overbilled)} call(s) billed past their"
            " reservation (see the llm_overbilled events):"
        )
        lines += [f"  - {line}" for line in report.overbilled[:5]]
    if report.spent_nd > report.limit_nd:
        lines.append(
            f"the world spent ${(report.spent_nd - report.limit_nd) / NANODOLLARS:.6f} past"
            " its limit: a server billed more than the output cap sent allows"
        )
    batcher = getattr(provider, "batcher", None)
    if batcher is not None and batcher.batch_count:
        lines.append(
            f"local model: {batcher.rows_run} turn(s) in {batcher.batch_count} batch(es),"
            f" {batcher.rows_run / batcher.batch_count:.1f} turns a batch on average,"
            f" {batcher.model_seconds:.1f} s of model time"
        )
    if robonomics is not None and robonomics.world is not None:
        world = robonomics.world
        torq = sum(r.torq for r in world.robots)
        lines.append(
            f"robonomics: tick {world.tick_count} (resumes there), Torq {world.num(torq)},"
            f" scrip minted by Isaac {world.isaac.minted}; flow log {robonomics.log_file}"
        )
    rows = []
    shown = list(report.agents.items())
    for agent_id, a in shown[:20]:
        rows.append(
            [
                agent_id,
                a["turns"],
                a["ok"],
                a["refused"],
                f"{a['dollars']:.6f}",
                a["tokens"],
                f"{a['cpu_ms']:.1f}",
                a["scrip"],
            ]
        )
    table = render_table(
        ["agent", "actions", "ok", "refused", "dollars", "tokens", "cpu ms", "scrip"], rows
    )
    if len(shown) > 20:
        table += f"\n... and {len(shown) - 20} more agents"
    lines += [
        "",
        table,
        "",
        f"inspect the world: agent-ecology inspect --db {database}",
    ]
    return lines
