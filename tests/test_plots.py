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

import pytest

from agent_ecology.cli import main
from agent_ecology.dashboard import Dashboard
from agent_ecology.pages import render_page
from agent_ecology.plots import Figure, ReportError, open_readonly, read_figures


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
    refused = query(full_db, "SELECT count(*) FROM agent_turns WHERE NOT ok")[0][0]
    assert sum(sum(t["y"]) for t in figures["refusals"].data) == refused
    # The states of each agent are shares that add up to one.
    agents = len(now)
    assert agents == 5 and all(len(t["x"]) == agents for t in figures["states"].data)
    for i in range(agents):
        assert sum(t["x"][i] for t in figures["states"].data) == pytest.approx(1.0)
    # The money network holds every transfer.
    ((transferred,),) = query(
        full_db, "SELECT coalesce(sum(amount), 0) FROM scrip_transfers WHERE kind = 'transfer'"
    )
    z = figures["network"].data[0]["z"]
    assert sum(map(sum, z)) >= transferred > 0


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
    # Tools: invocations and what others paid, per program.
    tools = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in figures["tools"].data}
    for artifact, n, revenue in query(
        full_db,
        "SELECT artifact_id, count(*), sum(CASE WHEN invoker_id != owner_id THEN price ELSE 0"
        " END) FROM invocations GROUP BY 1",
    ):
        assert tools["invocations"][artifact] == n
        assert tools["revenue (scrip)"][artifact] == revenue
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


def test_a_caption_cannot_end_the_embedded_data_early() -> None:
    hostile = Figure("x", "S", "t", "</script><script>alert(1)</script>", [{"y": [1]}])
    page = render_page([hostile], "title")
    assert "</script><script>alert(1)" not in page
    embedded = page.split('id="figures">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)[0]["caption"] == hostile.caption


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
    folder = tmp_path / "no" / "such" / "folder" / "r.html"
    assert main(["report", "--db", str(full_db), "-o", str(folder)]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot write the report to {folder} (")


def test_the_report_of_a_database_being_written_is_read_without_blocking_it(
    full_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "world.db"
    shutil.copyfile(full_db, db)
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")  # a writer holds its lock while the report reads
    writer.execute("UPDATE principals SET scrip = scrip WHERE id = 'alice'")
    try:
        assert figures_of(db)["scrip"].points > 0
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
        assert get(server.url + "api/events?after=x") == (
            400,
            {"error": "after must be an event seq (an integer)"},
        )
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
