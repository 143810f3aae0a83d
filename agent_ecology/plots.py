"""The plots of a run, read from its world database: what the report and the dashboard show.

::

    with open_readonly(db) as conn:
        figures = read_figures(conn)       # [Figure(id, section, title, caption, data, layout)]
        empty = [f.title for f in figures if not f.data]

Every figure is a Plotly figure as plain data (traces and a layout), computed here in SQL and
Python; the page draws it with plotly.js. Long runs are downsampled in SQL (time series: the
last value per time bin; counts: sums per bin), so a figure holds at most a few thousand
points whatever the run's length, and the page never freezes. Reading takes a read-only
connection, so a run may go on writing (SQLite's WAL readers see the last commit).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from agent_ecology.store import head_revision

HEAT = [[0, "#f7fbff"], [1, "#08306b"]]  # a heatmap's colours: nothing white, most dark blue
BINS = 120  # time bins of a counting plot
MAX_SERIES = 12  # per-agent lines in one plot (the richest and the poorest beyond that)
NANODOLLARS = 1_000_000_000
COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
]


class ReportError(Exception):
    """The database cannot be read as a world database; the message says what to do."""


@dataclass(slots=True)
class Figure:
    id: str
    section: str
    title: str
    caption: str
    data: list[dict[str, Any]] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """Data points in the figure (what a plot with nothing to show has none of)."""
        n = 0
        for trace in self.data:
            for key in ("y", "z", "values"):
                values = trace.get(key)
                if values:
                    n += sum(len(v) for v in values) if key == "z" else len(values)
                    break
        return n

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "title": self.title,
            "caption": self.caption,
            "data": self.data,
            "layout": self.layout,
        }


@contextmanager
def open_readonly(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a world database, or a ReportError that says why not."""
    if not db.exists():
        raise ReportError(
            f"no world database at {db}; give the file a run wrote (--db, or world.database in"
            " config.yaml), or create one with `agent-ecology run`"
        )
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM events").fetchone()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise ReportError(
            f"cannot read {db} as a world database ({exc}); check that it is the SQLite file a"
            " run wrote and that its schema is current (`agent-ecology init` migrates it)"
        ) from None
    head = _head()
    if revision is None or revision[0] != head:
        conn.close()
        raise ReportError(
            f"{db} is at schema revision {revision[0] if revision else None!r}, this version"
            f" reads {head!r}: migrate it with `agent-ecology init --db {db}` (a run does it"
            " too), or use the agent-ecology that wrote it"
        )
    try:
        yield conn
    finally:
        conn.close()


@cache
def _head() -> str | None:
    """The schema revision this code reads (read once: the dashboard opens a connection per
    request)."""
    return head_revision()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _has(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')", (table,)
    ).fetchone()
    return row is not None


def _time_layout(y: str, span: _Span, **extra: Any) -> dict[str, Any]:
    """A layout whose time axis spans the whole run (every time plot lines up)."""
    pad = (span.end - span.start) * 0.01
    layout: dict[str, Any] = {
        "xaxis": {
            "type": "date",
            "title": {"text": "time (UTC)"},
            "range": [_iso(span.start - pad), _iso(span.end + pad)],
        },
        "yaxis": {"title": {"text": y}},
    }
    layout.update(extra)
    return layout


@dataclass(slots=True)
class _Span:
    start: float
    end: float

    @property
    def width(self) -> float:
        return max((self.end - self.start) / BINS, 1e-3)

    def bin_sql(self, column: str) -> str:
        """A SQL expression: the bin of ``column`` (0 .. BINS - 1; the run's last instant is in
        the last bin, not one past it)."""
        return f"min({BINS - 1}, CAST(({column} - {self.start!r}) / {self.width!r} AS INTEGER))"

    def bin_time(self, b: int) -> str:
        return _iso(self.start + (b + 0.5) * self.width)


def _span(conn: sqlite3.Connection) -> _Span | None:
    start, end = conn.execute("SELECT min(at), max(at) FROM events").fetchone()
    if start is None:
        return None
    return _Span(float(start), max(float(end), float(start) + 1e-3))


def _agents(conn: sqlite3.Connection) -> list[str]:
    return [
        r[0] for r in conn.execute("SELECT id FROM principals WHERE kind = 'agent' ORDER BY id")
    ]


def _shown(conn: sqlite3.Connection) -> tuple[list[str], str]:
    """The agents per-agent plots draw: all, or the richest and poorest when there are many."""
    ranked = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM principals WHERE kind = 'agent' ORDER BY scrip DESC, id"
        )
    ]
    if len(ranked) <= MAX_SERIES:
        return sorted(ranked), ""
    top = MAX_SERIES * 2 // 3
    shown = ranked[:top] + ranked[-(MAX_SERIES - top) :]
    return shown, (
        f" Of {len(ranked)} agents, the {top} richest and {MAX_SERIES - top} poorest are drawn."
    )


def _windows(conn: sqlite3.Connection, span: _Span, agents: list[str]) -> dict[str, list[Any]]:
    """Per agent, its metric windows downsampled to the last window of each time bin:
    (window_end, state, scrip, balances)."""
    out: dict[str, list[Any]] = {a: [] for a in agents}
    if not agents:
        return out
    marks = ",".join("?" * len(agents))
    # SQLite's bare columns with max(): the other columns come from the row holding the max.
    rows = conn.execute(
        f"SELECT agent_id, max(window_end), state, scrip, balances FROM metric_windows"
        f" WHERE agent_id IN ({marks}) GROUP BY agent_id, {span.bin_sql('window_end')}"
        " ORDER BY agent_id, 2",
        agents,
    )
    for agent, end, state, scrip, balances in rows:
        out[agent].append((float(end), state, int(scrip), json.loads(balances)))
    return out


# --- scrip ---------------------------------------------------------------------------------


def _scrip(conn: sqlite3.Connection, span: _Span) -> list[Figure]:
    agents, note = _shown(conn)
    windows = _windows(conn, span, agents)
    now = {r[0]: int(r[1]) for r in conn.execute("SELECT id, scrip FROM principals")}
    # Where each line starts: the agent's first mint (its starting scrip), so that a run
    # younger than its first metrics window still shows lines, not only their ends.
    first = {
        r[0]: (r[1], int(r[2]))
        for r in conn.execute(
            "SELECT principal_id, min(at), amount FROM events WHERE kind = 'mint'"
            " GROUP BY principal_id"
        )
    }
    data = []
    for i, agent in enumerate(agents):
        start = first.get(agent)
        begun = [start] if start and (not windows[agent] or start[0] < windows[agent][0][0]) else []
        xs = [_iso(t) for t, _ in begun] + [_iso(w[0]) for w in windows[agent]] + [_iso(span.end)]
        ys = [v for _, v in begun] + [w[2] for w in windows[agent]] + [now.get(agent, 0)]
        data.append(_line(agent, xs, ys, i))
    minted, burned = conn.execute("SELECT minted, burned FROM scrip_supply").fetchone()
    per_agent = Figure(
        "scrip",
        "Scrip",
        "Scrip per agent",
        "Each agent's scrip from its start, at its metrics windows (run.metrics_interval; the"
        " last in each time bin) and now: who got rich, who ran dry." + note,
        data,
        _time_layout("scrip", span),
    )
    # The supply: what was minted and burned, cumulative, and what circulates (their
    # difference): it equals the sum of every balance at every moment (conservation).
    # Every change of the supply: mint and burn, the oracle's mint and its burned bids, task
    # rewards, exchange fees (the test checks that they end at scrip_supply's totals).
    fees = (
        "UNION ALL SELECT at, 0, fee FROM exchange_fills WHERE fee > 0"
        if _has(conn, "exchange_fills")
        else ""
    )
    rows = conn.execute(
        f"SELECT {span.bin_sql('at')} AS b, sum(m), sum(x), max(at) FROM ("
        " SELECT at, amount AS m, 0 AS x FROM events WHERE kind = 'mint'"
        " UNION ALL SELECT at, 0, amount FROM events WHERE kind = 'burn'"
        " UNION ALL SELECT at, amount, coalesce(json_extract(details, '$.burned'), 0)"
        "  FROM events WHERE kind = 'oracle_resolved'"
        " UNION ALL SELECT at, amount, 0 FROM events WHERE kind = 'task_checked' AND amount > 0"
        f" {fees}) GROUP BY b ORDER BY b"
    ).fetchall()
    xs, m_ys, b_ys, c_ys = [_iso(span.start)], [0], [0], [0]
    m = b = 0
    for _, minted_in, burned_in, last in rows:  # each bin drawn at its last change
        m += int(minted_in or 0)
        b += int(burned_in or 0)
        xs.append(_iso(last))
        m_ys.append(m)
        b_ys.append(b)
        c_ys.append(m - b)
    xs.append(_iso(span.end))  # the supply now: flat from the last mint or burn
    m_ys.append(m)
    b_ys.append(b)
    c_ys.append(m - b)
    held = sum(now.values())
    supply = Figure(
        "supply",
        "Scrip",
        "Scrip supply: minted, burned, circulating",
        f"Minted {int(minted):,}, burned {int(burned):,}: {int(minted) - int(burned):,} scrip"
        f" circulate, and every principal together holds {held:,}"
        f" ({'conserved' if held == int(minted) - int(burned) else 'NOT conserved'}).",
        [
            _line("minted", xs, m_ys, 2),
            _line("burned", xs, b_ys, 3),
            _line("circulating", xs, c_ys, 0),
        ]
        if rows
        else [],
        _time_layout("scrip", span),
    )
    return [per_agent, supply]


def _stride(count: int, most: int = 2000) -> int:
    """Every how many rows to draw so that about ``most`` of ``count`` are drawn."""
    return max(1, count // most)


def _sampled(drawn: int, count: int) -> str:
    return f" ({drawn:,} of them drawn)" if drawn < count else ""


def _duration(seconds: float) -> str:
    """A bin's width for a caption: 40 ms, 2.5 s, 12 min, 3.2 h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def _line(name: str, xs: list[Any], ys: list[Any], color: int, **extra: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "lines+markers" if len(xs) <= 60 else "lines",
        "name": name,
        "x": xs,
        "y": ys,
        "line": {"color": COLORS[color % len(COLORS)], "shape": "hv"},
    }
    trace.update(extra)
    return trace


def _bar(name: str, xs: list[Any], ys: list[Any], color: int, **extra: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "bar",
        "name": name,
        "x": xs,
        "y": ys,
        "marker": {"color": COLORS[color % len(COLORS)]},
    }
    trace.update(extra)
    return trace


# --- flow buckets and states -----------------------------------------------------------------


def _buckets(conn: sqlite3.Connection, span: _Span) -> list[Figure]:
    agents, note = _shown(conn)
    windows = _windows(conn, span, agents)
    flows = [
        r[0] for r in conn.execute("SELECT name FROM resources WHERE kind = 'flow' ORDER BY name")
    ]
    figures = []
    for flow in flows:
        data, shapes = [], []
        debt_total = 0.0
        for i, agent in enumerate(agents):
            points = [(w[0], w[3].get(flow)) for w in windows[agent] if flow in w[3]]
            if not points:
                continue
            data.append(_line(agent, [_iso(t) for t, _ in points], [v for _, v in points], i))
            # Debt periods: from a window in debt to the next window out of it.
            start = None
            for t, v in points:
                if v < 0 and start is None:
                    start = t
                elif v >= 0 and start is not None:
                    shapes.append(_shade(start, t, i))
                    debt_total += t - start
                    start = None
            if start is not None:
                shapes.append(_shade(start, points[-1][0], i))
                debt_total += points[-1][0] - start
        figures.append(
            Figure(
                f"bucket-{flow}",
                "Resources",
                f"Flow bucket: {flow}",
                f"Each agent's {flow} balance at every metrics window; shaded: periods in debt"
                f" (an agent in debt is frozen until it accrues back to zero),"
                f" {debt_total:,.0f} agent-seconds in all." + note,
                data,
                _time_layout(flow, span, shapes=shapes),
            )
        )
    return figures


def _shade(start: float, end: float, color: int) -> dict[str, Any]:
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": _iso(start),
        "x1": _iso(end),
        "y0": 0,
        "y1": 1,
        "fillcolor": COLORS[color % len(COLORS)],
        "opacity": 0.15,
        "line": {"width": 0},
    }


def _states(conn: sqlite3.Connection) -> list[Figure]:
    agents, note = _shown(conn)
    if not agents:
        return []
    marks = ",".join("?" * len(agents))
    rows = conn.execute(
        f"SELECT agent_id, state, count(*) FROM metric_windows WHERE agent_id IN ({marks})"
        " GROUP BY agent_id, state",
        agents,
    ).fetchall()
    totals: dict[str, int] = {}
    for agent, _, n in rows:
        totals[agent] = totals.get(agent, 0) + n
    states = sorted({s for _, s, _ in rows})
    data = []
    for i, state in enumerate(states):
        share = {a: n / totals[a] for a, s, n in rows if s == state}
        data.append(
            _bar(
                state,
                [share.get(a, 0.0) for a in agents],
                agents,
                i,
                orientation="h",
            )
        )
    return [
        Figure(
            "states",
            "Resources",
            "Share of time frozen, asleep, active",
            "The share of metrics windows in which each agent was in each state (frozen: a"
            " bucket in debt; asleep: waiting for its wake conditions)." + note,
            data,
            {"barmode": "stack", "xaxis": {"title": {"text": "share of windows"}, "range": [0, 1]}},
        )
    ]


# --- dollars -----------------------------------------------------------------------------------


def _dollars(conn: sqlite3.Connection, span: _Span) -> list[Figure]:
    (limit_nd,) = conn.execute("SELECT coalesce(max(limit_nd), 0) FROM api_budget").fetchone()
    rows = conn.execute(
        f"SELECT {span.bin_sql('finished_at')} AS b, sum(cost_nd) FROM llm_calls"
        " WHERE cost_nd IS NOT NULL AND finished_at IS NOT NULL GROUP BY b ORDER BY b"
    ).fetchall()
    xs, ys = [], []
    spent = 0
    for b, cost in rows:
        spent += int(cost or 0)
        xs.append(span.bin_time(b))
        ys.append(spent / NANODOLLARS)
    data = [_line("spent", xs, ys, 3)] if xs else []
    if xs and limit_nd:
        data.append(
            _line(
                "limit",
                [_iso(span.start), _iso(span.end)],
                [limit_nd / NANODOLLARS] * 2,
                7,
                line={"dash": "dash", "color": "#7f7f7f"},
                mode="lines",
            )
        )
    limit_text = f" of the ${limit_nd / NANODOLLARS:,.2f} limit" if limit_nd else ""
    burn = Figure(
        "dollars",
        "Dollars",
        "Dollars spent against the limit",
        f"Cumulative cost of LLM calls (what the world was charged): ${spent / NANODOLLARS:,.4f}"
        f"{limit_text}.",
        data,
        _time_layout("dollars", span),
    )
    by = []
    for key, label in (("agent_id", "agent"), ("model", "model")):
        rows = conn.execute(
            f"SELECT {key}, coalesce(sum(cost_nd), 0), coalesce(sum(prompt_tokens), 0),"
            f" coalesce(sum(cached_tokens), 0), count(*) FROM llm_calls GROUP BY {key}"
            " ORDER BY 2 DESC LIMIT 30"
        ).fetchall()
        names = [r[0] for r in rows]
        data = [_bar("dollars", names, [r[1] / NANODOLLARS for r in rows], 0)] if rows else []
        (calls, groups) = conn.execute(
            f"SELECT count(*), count(DISTINCT {key}) FROM llm_calls"
        ).fetchone()
        shown = f" (the {len(rows)} that spent most of {groups:,})" if groups > len(rows) else ""
        by.append(
            Figure(
                f"dollars-by-{label}",
                "Dollars",
                f"Dollars by {label}",
                f"What each {label} spent{shown}, over {calls:,} calls.",
                data,
                {"yaxis": {"title": {"text": "dollars"}}},
            )
        )
    rows = conn.execute(
        "SELECT model, coalesce(sum(prompt_tokens), 0), coalesce(sum(cached_tokens), 0),"
        " coalesce(sum(completion_tokens), 0) FROM llm_calls GROUP BY model ORDER BY 2 DESC"
    ).fetchall()
    prompt = sum(r[1] for r in rows)
    cached = sum(r[2] for r in rows)
    names = [r[0] for r in rows]
    tokens = Figure(
        "tokens",
        "Dollars",
        "Tokens by model: prompt, of it cached, completion",
        f"{cached:,} of {prompt:,} prompt tokens were read from the server's prompt cache"
        f" ({cached / prompt:.0%})."
        if prompt
        else "No prompt tokens were reported.",
        [
            _bar("prompt (not cached)", names, [r[1] - r[2] for r in rows], 0),
            _bar("prompt (cached)", names, [r[2] for r in rows], 2),
            _bar("completion", names, [r[3] for r in rows], 1),
        ]
        if rows
        else [],
        {"barmode": "stack", "yaxis": {"title": {"text": "tokens"}}},
    )
    return [burn, *by, tokens]


# --- actions -----------------------------------------------------------------------------------


def _actions(conn: sqlite3.Connection, span: _Span) -> list[Figure]:
    # One pass over the turns (they are most of a long run's events): counts per agent, time
    # bin, action and refusal code, from which all four figures are summed.
    groups = conn.execute(
        f"SELECT agent_id, {span.bin_sql('at')} AS b, coalesce(action, '(unparsed)'),"
        " CASE WHEN ok THEN NULL ELSE coalesce(code, '(none)') END, count(*)"
        " FROM agent_turns GROUP BY 1, 2, 3, 4"
    ).fetchall()
    by_kind_bin: dict[tuple[str, int], int] = {}
    by_agent_kind: dict[tuple[str, str], int] = {}
    cells: dict[tuple[str, int], dict[str, int]] = {}
    by_code: dict[str, int] = {}
    for agent, b, kind, code, n in groups:
        by_kind_bin[(kind, b)] = by_kind_bin.get((kind, b), 0) + n
        by_agent_kind[(agent, kind)] = by_agent_kind.get((agent, kind), 0) + n
        cell = cells.setdefault((agent, b), {})
        cell[kind] = cell.get(kind, 0) + n
        if code is not None:
            by_code[code] = by_code.get(code, 0) + n
    rows = sorted((k, b, n) for (k, b), n in by_kind_bin.items())
    kinds = sorted({r[0] for r in rows})
    over_time = [
        _bar(
            kind,
            [span.bin_time(b) for k, b, _ in rows if k == kind],
            [n for k, _, n in rows if k == kind],
            i,
        )
        for i, kind in enumerate(kinds)
    ]
    agents, note = _shown(conn)
    per_agent = []
    for i, kind in enumerate(kinds):
        per_agent.append(_bar(kind, agents, [by_agent_kind.get((a, kind), 0) for a in agents], i))
    # Per agent per time bin, by kind: a heatmap of turns, each cell's kinds in its hover text.
    drawn = set(agents)
    bins = sorted({b for a, b in cells if a in drawn})
    grid = {
        "type": "heatmap",
        "x": [span.bin_time(b) for b in bins],
        "y": agents,
        "z": [[sum(cells.get((a, b), {}).values()) for b in bins] for a in agents],
        "text": [
            [", ".join(f"{k} {n}" for k, n in sorted(cells.get((a, b), {}).items())) for b in bins]
            for a in agents
        ],
        "hovertemplate": "%{y} at %{x}: %{z} turns (%{text})<extra></extra>",
        "colorscale": HEAT,  # none white, more darker
    }
    refusals = sorted(by_code.items(), key=lambda r: (-r[1], r[0]))
    total = sum(n for _, _, n in rows)
    refused = sum(n for _, n in refusals)
    return [
        Figure(
            "actions",
            "Actions",
            "Actions by kind over time",
            f"{total:,} turns, stacked by the action each took, per time bin"
            f" ({_duration(span.width)}).",
            [t for t in over_time if t["x"]],
            _time_layout("turns", span, barmode="stack"),
        ),
        Figure(
            "actions-by-agent",
            "Actions",
            "Actions per agent by kind",
            "What each agent did with its turns." + note,
            per_agent if agents else [],
            {"barmode": "stack", "yaxis": {"title": {"text": "turns"}}},
        ),
        Figure(
            "actions-by-agent-over-time",
            "Actions",
            "Actions per agent over time",
            f"Turns of each agent per time bin ({_duration(span.width)}); hover a cell for its"
            " actions by kind." + note,
            [grid] if bins and agents else [],
            _time_layout("agent", span),
        ),
        Figure(
            "refusals",
            "Actions",
            "Refusals by code",
            f"{refused:,} of {total:,} turns were refused ({refused / total:.0%}), by the code"
            " the agent was told."
            if total
            else "No turns.",
            [_bar("refusals", [c for c, _ in refusals], [n for _, n in refusals], 3)]
            if refusals
            else [],
            {"yaxis": {"title": {"text": "turns"}}},
        ),
    ]


# --- the money network ------------------------------------------------------------------------


def _network(conn: sqlite3.Connection) -> list[Figure]:
    """Who paid whom: transfers, escrow sales, tool prices, debts and exchange fills."""
    queries = [
        "SELECT from_id, to_id, sum(amount) FROM scrip_transfers WHERE kind = 'transfer'"
        " GROUP BY 1, 2",
        # sold_to is the buyer (buyer_id is a listing's optional "only this buyer" restriction)
        "SELECT sold_to, seller_id, sum(price) FROM escrow_listings WHERE status = 'sold'"
        " GROUP BY 1, 2",
        # a program's price is paid only by an invocation that succeeded (others are refunded)
        "SELECT invoker_id, owner_id, sum(price) FROM invocations WHERE price > 0"
        " AND status = 'ok' AND invoker_id != owner_id GROUP BY 1, 2",
        "SELECT lender_id, debtor_id, sum(principal) FROM debts WHERE accepted_at IS NOT NULL"
        " GROUP BY 1, 2",
        # repayments go to the debt's creditor then (the debt can be sold), as its events say
        "SELECT principal_id, counterparty_id, sum(amount) FROM events"
        " WHERE kind = 'debt_repaid' GROUP BY 1, 2",
        "SELECT counterparty_id, principal_id, sum(amount) FROM events"
        " WHERE kind = 'debt_collected' GROUP BY 1, 2",
        "SELECT buyer_id, seller_id, sum(price * quantity) FROM exchange_fills GROUP BY 1, 2",
    ]
    flows: dict[tuple[str, str], int] = {}
    for sql in queries:
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # a table this database's schema lacks
            continue
        for payer, payee, amount in rows:
            if payer is None or payee is None or not amount:
                continue
            flows[(payer, payee)] = flows.get((payer, payee), 0) + int(amount)
    totals: dict[str, int] = {}
    for (payer, payee), amount in flows.items():
        totals[payer] = totals.get(payer, 0) + amount
        totals[payee] = totals.get(payee, 0) + amount
    names = sorted(totals, key=lambda n: (-totals[n], n))[:25]
    z = [[flows.get((payer, payee), 0) for payee in names] for payer in names]
    return [
        Figure(
            "network",
            "Money",
            "Who paid whom",
            f"Scrip paid from each row's principal to each column's, {sum(flows.values()):,}"
            " in all: transfers, escrow sales, tool prices, loans and repayments, exchange"
            " fills.",
            [
                {
                    "type": "heatmap",
                    "x": names,
                    "y": names,
                    "z": z,
                    "colorscale": HEAT,
                    "hovertemplate": "%{y} paid %{x}: %{z} scrip<extra></extra>",
                }
            ]
            if flows
            else [],
            {
                "xaxis": {"title": {"text": "paid to"}, "automargin": True},
                "yaxis": {
                    "title": {"text": "paid by"},
                    "autorange": "reversed",
                    "automargin": True,  # long names (programs' accounts) are not cut
                },
            },
        )
    ]


# --- markets -----------------------------------------------------------------------------------


def _markets(conn: sqlite3.Connection, span: _Span) -> list[Figure]:
    figures = []
    (sold,) = conn.execute("SELECT count(*) FROM escrow_listings WHERE status = 'sold'").fetchone()
    rows = conn.execute(
        "SELECT closed_at, price, artifact_id, seller_id, sold_to FROM escrow_listings"
        " WHERE status = 'sold' AND id % ? = 0 ORDER BY closed_at",
        (_stride(sold),),
    ).fetchall()
    figures.append(
        Figure(
            "escrow",
            "Markets",
            "Escrow sales",
            f"{sold:,} artifacts sold through genesis_escrow, at their prices"
            f"{_sampled(len(rows), sold)}.",
            [
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": "sale",
                    "x": [_iso(r[0]) for r in rows],
                    "y": [r[1] for r in rows],
                    "text": [f"{r[2]}: {r[3]} to {r[4]}" for r in rows],
                }
            ]
            if rows
            else [],
            _time_layout("price (scrip)", span),
        )
    )
    (bid_count,) = conn.execute("SELECT count(*) FROM oracle_bids").fetchone()
    bids = conn.execute(
        "SELECT placed_at, amount, bidder_id FROM oracle_bids WHERE id % ? = 0 ORDER BY placed_at",
        (_stride(bid_count),),
    ).fetchall()
    rounds, round_minted = conn.execute(
        "SELECT count(DISTINCT round_at), coalesce(sum(minted), 0) FROM oracle_results"
    ).fetchone()
    # payouts summed per time bin, drawn at the bin's last round (a run of days has thousands)
    results = conn.execute(
        f"SELECT max(round_at), sum(paid), sum(minted) FROM oracle_results"
        f" GROUP BY {span.bin_sql('round_at')} ORDER BY 1"
    ).fetchall()
    data = []
    if bids:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "bid",
                "x": [_iso(r[0]) for r in bids],
                "y": [r[1] for r in bids],
                "text": [r[2] for r in bids],
            }
        )
    if results:
        data.append(
            _bar("paid by the winners", [_iso(r[0]) for r in results], [r[1] for r in results], 1)
        )
        data.append(_bar("minted", [_iso(r[0]) for r in results], [r[2] for r in results], 2))
    figures.append(
        Figure(
            "oracle",
            "Markets",
            "Oracle bids and payouts",
            f"{bid_count:,} bids on genesis_oracle{_sampled(len(bids), bid_count)}; {rounds:,}"
            f" rounds resolved, minting {int(round_minted):,} scrip (payouts summed per time bin).",
            data,
            _time_layout("scrip", span),
        )
    )
    rows = conn.execute(
        "SELECT task_id, sum(status = 'solved'), sum(status = 'failed'),"
        " sum(status NOT IN ('solved', 'failed')), sum(reward) FROM task_submissions"
        " GROUP BY task_id ORDER BY task_id LIMIT 50"
    ).fetchall()
    tasks = [r[0] for r in rows]
    (rewards,) = conn.execute("SELECT coalesce(sum(reward), 0) FROM task_submissions").fetchone()
    figures.append(
        Figure(
            "tasks",
            "Markets",
            "Task results",
            f"Submissions per task: solved (paid), failed, or neither (already solved, taken,"
            f" closed, abandoned, still running); {rewards:,} scrip paid in rewards"
            f"{'' if len(rows) < 50 else ' (the first 50 tasks drawn)'}.",
            [
                _bar("solved", tasks, [r[1] for r in rows], 2),
                _bar("failed", tasks, [r[2] for r in rows], 3),
                _bar("neither", tasks, [r[3] for r in rows], 7),
            ]
            if rows
            else [],
            {"barmode": "stack", "yaxis": {"title": {"text": "submissions"}}},
        )
    )
    rows = conn.execute(
        "SELECT artifact_id, count(*), coalesce(sum(CASE WHEN invoker_id != owner_id"
        " AND status = 'ok' THEN price ELSE 0 END), 0) FROM invocations GROUP BY artifact_id"
        " ORDER BY 3 DESC, 2 DESC LIMIT 30"
    ).fetchall()
    invoked, programs = conn.execute(
        "SELECT count(*), count(DISTINCT artifact_id) FROM invocations"
    ).fetchone()
    most = (
        f" (the {len(rows)} that earned most, of {programs:,}, drawn)"
        if programs > len(rows)
        else ""
    )
    figures.append(
        Figure(
            "tools",
            "Markets",
            "Tool invocations and revenue by tool",
            f"{invoked:,} invocations of agents' programs{most};"
            " revenue is the price others paid their owners for invocations that succeeded.",
            [
                _bar(
                    "revenue (scrip)", [r[0] for r in rows], [r[2] for r in rows], 2, offsetgroup=1
                ),
                _bar(
                    "invocations",
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    0,
                    yaxis="y2",
                    offsetgroup=2,
                ),
            ]
            if rows
            else [],
            {
                "barmode": "group",
                "yaxis": {"title": {"text": "scrip"}},
                "yaxis2": {"title": {"text": "invocations"}, "overlaying": "y", "side": "right"},
            },
        )
    )
    if _has(conn, "exchange_fills"):
        figures.append(_exchange(conn, span))
    return figures


def _exchange(conn: sqlite3.Connection, span: _Span) -> Figure:
    """Orders placed (bids below, asks above: where they meet, the market clears) and fills."""
    data = []
    counts = dict(
        conn.execute("SELECT side, count(*) FROM exchange_orders GROUP BY side").fetchall()
    )
    for i, (side, symbol) in enumerate((("bid", "triangle-up"), ("ask", "triangle-down"))):
        step = _stride(counts.get(side, 0))  # about 2,000 markers a side at most
        rows = conn.execute(
            "SELECT created_at, price, good, quantity, trader_id FROM exchange_orders"
            " WHERE side = ? AND id % ? = 0 ORDER BY id",
            (side, step),
        ).fetchall()
        if rows:
            data.append(
                _line(
                    f"{side}s placed",
                    [_iso(r[0]) for r in rows],
                    [r[1] for r in rows],
                    3 + i,
                    mode="markers",
                    text=[f"{r[2]}: {r[3]} lots, {r[4]}" for r in rows],
                    marker={"symbol": symbol, "size": 7, "opacity": 0.6, "color": COLORS[3 + i]},
                )
            )
    (fills,) = conn.execute("SELECT count(*) FROM exchange_fills").fetchone()
    step = _stride(fills)
    goods = [r[0] for r in conn.execute("SELECT DISTINCT good FROM exchange_fills ORDER BY 1")]
    for i, good in enumerate(goods):
        rows = conn.execute(
            "SELECT at, price, quantity FROM exchange_fills WHERE good = ? AND id % ? = 0"
            " ORDER BY id",
            (good, step),
        ).fetchall()
        data.append(
            _line(
                f"fills: {good}",
                [_iso(r[0]) for r in rows],
                [r[1] for r in rows],
                i,
                mode="markers",
                text=[f"{r[2]} lots" for r in rows],
                marker={"size": 9, "color": COLORS[i % len(COLORS)]},
            )
        )
    return Figure(
        "exchange",
        "Markets",
        "Exchange orders and fills",
        f"{counts.get('bid', 0):,} bids and {counts.get('ask', 0):,} asks placed on"
        f" genesis_exchange, {fills:,} fills: price per lot in scrip (where bids reach the"
        " asks, the market clears).",
        data,
        _time_layout("price per lot (scrip)", span),
    )


def _robonomics(conn: sqlite3.Connection) -> list[Figure]:
    if not _has(conn, "robonomics_robots"):
        return []
    rows = conn.execute("SELECT name, token_torq, torq FROM robonomics_robots").fetchall()
    if not rows:
        return []  # robonomics was not enabled: no section at all
    names = [r[0] for r in rows]
    return [
        Figure(
            "robonomics",
            "Robonomics",
            "TokenTorq and Torq per robot",
            "Each robot's TokenTorq and Torq now (robonomics.enabled).",
            [
                _bar("TokenTorq", names, [r[1] or 0 for r in rows], 0),
                _bar("Torq", names, [r[2] or 0 for r in rows], 1),
            ],
            {"barmode": "group"},
        )
    ]


def read_figures(conn: sqlite3.Connection) -> list[Figure]:
    """Every figure of the report, in the order of its questions (some may have no data).

    All of them are read in one read transaction: one snapshot of a database that a run may
    be writing, so that balances and the supply cannot disagree by a commit in between."""
    if conn.in_transaction:
        return _read_figures(conn)
    conn.execute("BEGIN")
    try:
        return _read_figures(conn)
    finally:
        conn.rollback()


def _read_figures(conn: sqlite3.Connection) -> list[Figure]:
    span = _span(conn)
    if span is None:
        return []
    return [
        *_scrip(conn, span),
        *_buckets(conn, span),
        *_states(conn),
        *_dollars(conn, span),
        *_actions(conn, span),
        *_network(conn),
        *_markets(conn, span),
        *_robonomics(conn),
    ]


def latest_events(
    conn: sqlite3.Connection, after: int = 0, limit: int = 50, most: int = 500
) -> list[dict[str, Any]]:
    """The live view's stream, oldest first: the newest ``limit`` events when ``after`` is 0
    (a page just opened), else every event after seq ``after``, up to ``most`` at a time (the
    page asks again at once for the rest; none is skipped). An ``after`` past the newest
    event (the database was made anew) starts over with the newest."""
    (newest,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    columns = "seq, at, kind, principal_id, counterparty_id, amount, artifact_id"
    if after <= 0 or after > newest:
        rows = conn.execute(
            f"SELECT {columns} FROM events ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()[::-1]
    else:
        rows = conn.execute(
            f"SELECT {columns} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, most)
        ).fetchall()
    return [
        {
            "seq": seq,
            "at": _iso(at),
            "kind": kind,
            "principal": principal,
            "counterparty": counterparty,
            "amount": amount,
            "artifact": artifact,
        }
        for seq, at, kind, principal, counterparty, amount, artifact in rows
    ]


def run_title(conn: sqlite3.Connection) -> str:
    span = _span(conn)
    agents = len(_agents(conn))
    (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    if span is None:
        return f"{agents} agents, no events yet"
    return (
        f"{agents} agents, {events:,} events, {_iso(span.start)[:19]} to {_iso(span.end)[:19]}"
        f" UTC ({span.end - span.start:,.0f} s)"
    )
