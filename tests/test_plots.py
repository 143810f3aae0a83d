"""The report's figures, read from the database of a real (small) run, and the commands that
write and serve them."""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_ecology.cli import main
from agent_ecology.dashboard import Dashboard
from agent_ecology.pages import render_page
from agent_ecology.plots import Figure, ReportError, open_readonly, read_figures
from agent_ecology.store import head_revision, migrate


def figures_of(db: Path) -> dict[str, Figure]:
    with open_readonly(db) as conn:
        return {f.id: f for f in read_figures(conn)}


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_every_question_of_a_trading_run_has_a_plot_with_its_data(full_db: Path) -> None:
    figures = figures_of(full_db)
    for name in ("scrip", "supply", "states", "actions", "actions-by-agent", "network"):
        assert figures[name].points > 0, name
    assert figures["bucket-compute"].points > 0
    # Each agent's line ends at its scrip now; the supply says conservation holds.
    now = dict(query(full_db, "SELECT id, scrip FROM principals WHERE kind = 'agent'"))
    ends = {t["name"]: t["y"][-1] for t in figures["scrip"].data}
    assert ends == now
    ((minted, burned, conserved),) = query(
        full_db, "SELECT minted, burned, conserved FROM scrip_totals"
    )
    assert conserved == 1
    supply = {t["name"]: t["y"][-1] for t in figures["supply"].data}
    assert supply == {"minted": minted, "burned": burned, "circulating": minted - burned}
    assert "(conserved)" in figures["supply"].caption
    # Every turn is counted once, by kind, over time and per agent.
    ((turns,),) = query(full_db, "SELECT count(*) FROM agent_turns")
    assert sum(sum(t["y"]) for t in figures["actions"].data) == turns
    assert sum(sum(t["y"]) for t in figures["actions-by-agent"].data) == turns
    (grid,) = figures["actions-by-agent-over-time"].data
    per_agent = dict(query(full_db, "SELECT agent_id, count(*) FROM agent_turns GROUP BY 1"))
    assert {a: sum(row) for a, row in zip(grid["y"], grid["z"], strict=True)} == per_agent
    refused = query(full_db, "SELECT count(*) FROM agent_turns WHERE NOT ok")[0][0]
    assert sum(sum(t["y"]) for t in figures["refusals"].data) == refused
    # The states of each agent are shares that add up to one.
    agents = len(now)
    assert agents == 5 and all(len(t["x"]) == agents for t in figures["states"].data)
    for i in range(agents):
        assert sum(t["x"][i] for t in figures["states"].data) == pytest.approx(1.0)
    # The money network holds every payment between principals, each once, read from the
    # ledger's own views and events: transfers, escrow sales (to their buyer), the revenue of
    # programs, exchange fills, loans and their repayments.
    network = figures["network"].data[0]
    cell = {
        (payer, payee): v
        for payer, row in zip(network["y"], network["z"], strict=True)
        for payee, v in zip(network["x"], row, strict=True)
        if v
    }
    expected: dict[tuple[str, str], int] = {}
    for payer, payee, amount in query(
        full_db,
        "SELECT from_id, to_id, amount FROM scrip_transfers WHERE kind = 'transfer'"
        " UNION ALL SELECT buyer_id, seller_id, price FROM escrow_sales"
        " UNION ALL SELECT buyer_id, seller_id, price * quantity FROM exchange_fills"
        " UNION ALL SELECT principal_id, counterparty_id, amount FROM events"
        "  WHERE kind IN ('debt_accepted', 'debt_repaid')"
        " UNION ALL SELECT counterparty_id, principal_id, amount FROM events"
        "  WHERE kind = 'debt_collected'",
    ):
        expected[(payer, payee)] = expected.get((payer, payee), 0) + amount
    tools = sum(v for _, v in query(full_db, "SELECT id, revenue FROM programs"))
    assert sum(cell.values()) == sum(expected.values()) + tools
    for pair, amount in expected.items():
        assert cell[pair] >= amount, pair  # (a pair may also have paid for tools)
    assert any(kind == "transfer" for (kind,) in query(full_db, "SELECT kind FROM scrip_transfers"))


def test_the_market_plots_count_what_the_ledger_holds(full_db: Path) -> None:
    figures = figures_of(full_db)
    # Task results: each submission once, under its status.
    tasks = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in figures["tasks"].data}
    by_status = query(
        full_db, "SELECT task_id, status, count(*) FROM task_submissions GROUP BY 1, 2"
    )
    assert by_status
    expected: dict[str, dict[str, int]] = {"solved": {}, "failed": {}, "neither": {}}
    for task, status, n in by_status:
        counts = expected[status if status in ("solved", "failed") else "neither"]
        counts[task] = counts.get(task, 0) + n
    assert {k: {t: n for t, n in v.items() if n} for k, v in tasks.items()} == expected
    # Tools: invocations per program, and the revenue the ledger credited its owner.
    tools = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in figures["tools"].data}
    invoked = dict(query(full_db, "SELECT artifact_id, count(*) FROM invocations GROUP BY 1"))
    assert tools["invocations"] == invoked
    revenue = dict(query(full_db, "SELECT id, revenue FROM programs WHERE invocations > 0"))
    assert tools["revenue (scrip)"] == revenue
    # Escrow sales, oracle bids, exchange orders: one marker each.
    ((sold,),) = query(full_db, "SELECT count(*) FROM escrow_listings WHERE status = 'sold'")
    assert sold > 0 and len(figures["escrow"].data[0]["y"]) == sold
    ((bids,),) = query(full_db, "SELECT count(*) FROM oracle_bids")
    assert bids > 0 and len(figures["oracle"].data[0]["y"]) == bids
    placed = {t["name"]: len(t["y"]) for t in figures["exchange"].data}
    for side, n in query(full_db, "SELECT side, count(*) FROM exchange_orders GROUP BY 1"):
        assert placed[f"{side}s placed"] == n
    # Robonomics: each robot's TokenTorq and Torq as the loop left them.
    robots = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in figures["robonomics"].data}
    for name, token_torq, torq in query(
        full_db, "SELECT name, token_torq, torq FROM robonomics_robots"
    ):
        assert robots["TokenTorq"][name] == token_torq
        assert robots["Torq"][name] == pytest.approx(torq)


def test_the_dollar_plots_add_up_to_the_budget(billed_db: Path) -> None:
    figures = figures_of(billed_db)
    ((spent, limit),) = query(billed_db, "SELECT spent_dollars, limit_dollars FROM api_budget_now")
    burn = {t["name"]: t["y"] for t in figures["dollars"].data}
    assert burn["spent"][-1] == pytest.approx(spent)
    assert burn["limit"] == [pytest.approx(limit)] * 2
    assert sorted(burn["spent"]) == burn["spent"]  # cumulative
    assert sum(figures["dollars-by-agent"].data[0]["y"]) == pytest.approx(spent)
    assert sum(figures["dollars-by-model"].data[0]["y"]) == pytest.approx(spent)
    tokens = {t["name"]: t["y"] for t in figures["tokens"].data}
    ((prompt, cached),) = query(
        billed_db, "SELECT sum(prompt_tokens), sum(cached_tokens) FROM llm_calls"
    )
    assert tokens["prompt (cached)"] == [cached]
    assert tokens["prompt (not cached)"] == [prompt - cached]
    assert "75%" in figures["tokens"].caption  # 300 of every 400 prompt tokens


def test_the_report_is_one_file_that_needs_no_network(
    full_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(full_db), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: ")
    page = out.read_text()
    assert "<script src" not in page and "<link" not in page  # nothing to fetch
    assert "Plotly.react" in page and "plotly.js v" in page  # the library is inside
    embedded = page.split('<script type="application/json" id="figures">', 1)[1]
    figures = json.loads(embedded.split("</script>", 1)[0])
    assert {f["id"] for f in figures} == set(figures_of(full_db))


def test_no_string_can_change_how_the_page_is_parsed() -> None:
    hostile = "</script><script>alert(1)</script> <!--<script> & \u2028"
    figure = Figure("x", "S", "t", hostile, [{"y": [1.5, float("nan"), float("inf")]}])
    page = render_page([figure], "title")
    embedded = page.split('id="figures">', 1)[1].split("</script>", 1)[0]
    assert "<" not in embedded  # nothing in the data can end the element or open a comment
    (parsed,) = json.loads(embedded)  # and it is JSON (NaN, which JSON lacks, becomes null)
    assert parsed["caption"] == hostile
    assert parsed["data"][0]["y"] == [1.5, None, None]


def test_report_errors_say_what_was_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], full_db: Path
) -> None:
    missing = tmp_path / "nope.db"
    assert main(["report", "--db", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"error: no world database at {missing}; give the file a run wrote (--db, or"
        " world.database in config.yaml), or create one with `agent-ecology run`\n"
    )
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    assert main(["report", "--db", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {junk} as a world database (")
    assert "agent-ecology init" in err
    old = tmp_path / "old.db"
    anyio.run(migrate, old, "0008")
    assert main(["report", "--db", str(old)]) == 1
    assert capsys.readouterr().err == (
        f"error: {old} is at schema revision '0008', this version reads '{head_revision()}':"
        f" migrate it with `agent-ecology init --db {old}` (a run does it too), or use the"
        " agent-ecology that wrote it\n"
    )
    folder = tmp_path / "no" / "such" / "folder" / "r.html"
    assert main(["report", "--db", str(full_db), "-o", str(folder)]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot write the report to {folder} (")


def test_the_report_of_a_database_being_written_is_read_without_blocking_it(
    full_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "world.db"
    shutil.copyfile(full_db, db)
    ((before,),) = query(db, "SELECT scrip FROM principals WHERE id = 'alice'")
    writer = sqlite3.connect(db)
    # The run left its database in WAL mode, where a writer holding the exclusive lock with
    # a change not yet committed blocks no reader (in rollback-journal mode it would).
    assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE principals SET scrip = scrip + 1000 WHERE id = 'alice'")
    try:
        scrip = {t["name"]: t["y"][-1] for t in figures_of(db)["scrip"].data}
        assert scrip["alice"] == before  # the last commit, not the change in flight
    finally:
        writer.rollback()
        writer.close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def test_the_dashboard_serves_the_page_the_figures_and_the_events(full_db: Path) -> None:
    server = Dashboard(full_db, port=0)
    server.start()
    try:
        status, page = get(server.url)
        assert status == 200 and "agent-ecology dashboard" in page
        status, body = get(server.url + "api/figures")
        assert status == 200
        assert [f["id"] for f in body["figures"]] == list(figures_of(full_db))
        ((last,),) = query(full_db, "SELECT max(seq) FROM events")
        status, events = get(server.url + f"api/events?after={last - 3}")
        assert [e["seq"] for e in events] == [last - 2, last - 1, last]
        for bad in ("x", "-1", "99999999999999999999"):
            assert get(server.url + f"api/events?after={bad}") == (
                400,
                {"error": "after must be an event seq (a whole number, 0 or more)"},
            )
        # A database made anew (seqs start over): the stream starts over with the newest.
        status, events = get(server.url + f"api/events?after={last + 1000}")
        assert [e["seq"] for e in events][-1] == last and len(events) == 50
        # Another name for this address (DNS rebinding) is not answered.
        rebound = urllib.request.Request(server.url + "api/figures", headers={"Host": "evil.test"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=10)
        refused.value.close()
        assert refused.value.code == 421
        assert get(server.url + "nothing")[0] == 404
    finally:
        server.stop()


def test_a_dashboard_port_in_use_is_a_clear_error(full_db: Path) -> None:
    first = Dashboard(full_db, port=0)
    try:
        port = int(first.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(ReportError, match=f"cannot serve the dashboard on 127.0.0.1:{port}"):
            Dashboard(full_db, port=port)
    finally:
        first.stop()


def test_a_dashboard_started_before_its_database_says_it_waits(tmp_path: Path) -> None:
    missing = tmp_path / "world.db"
    server = Dashboard(missing, port=0)
    server.start()
    try:
        status, page = get(server.url)
        assert status == 200 and f"no world database at {missing}" in page
        for route in ("api/figures", "api/events?after=0"):
            status, body = get(server.url + route)
            assert status == 503
            assert body["error"].startswith(f"no world database at {missing}")
    finally:
        server.stop()
