"""The report and the live dashboard in a real browser (headless Chromium): every plot drawn
with its data, no JavaScript error, and the live page showing new events as the run writes.

Each test saves a screenshot of the whole page in its temp folder (report.png, dashboard.png).
`make test-browser` runs these; the unit suite leaves them out (marker `browser`).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from agent_ecology.clock import SystemClock
from agent_ecology.llm import Completion, CompletionRequest, ScriptedProvider, Usage
from tests.agents.world import running_world, world_settings
from tests.browser.driver import chromium, need_browser

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# What plotly drew in each plot: lines with a path, markers and bars, heatmap images.
DRAWN = """
return Array.from(document.querySelectorAll(".plot")).map(function (p) {
  const lines = Array.from(p.querySelectorAll(".scatterlayer path.js-line")).filter(
    function (e) { return (e.getAttribute("d") || "").length > 1; }).length;
  return {
    id: p.parentNode.id.replace("figure-", ""),
    lines: lines,
    points: p.querySelectorAll(".scatterlayer .point, .barlayer .point").length,
    heatmaps: p.querySelectorAll(".hm image").length,
  };
});
"""


@pytest.fixture(autouse=True)
def _browser() -> None:
    need_browser()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def drawn(driver: Any) -> dict[str, dict[str, int]]:
    """Wait until the page has drawn its figures; what each plot shows."""
    wait_for("the plots drawn", lambda: driver.execute_script("return document.body.dataset.plots"))
    return {p["id"]: p for p in driver.execute_script(DRAWN)}


def every_plot_drawn(plots: dict[str, dict[str, int]], figures: list[dict[str, Any]]) -> None:
    """A plot for each figure with data, in order, and each shows marks."""
    assert list(plots) == [f["id"] for f in figures if f["data"]]
    for shown in plots.values():
        assert shown["lines"] + shown["points"] + shown["heatmaps"] > 0, shown


def no_javascript_errors(driver: Any) -> None:
    logged = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert logged == [], logged
    assert driver.execute_script("return window.__errors") == []


def screenshot(driver: Any, path: Path) -> None:
    """The whole page, not only the window: the window is made as tall as the page."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(height + 100, 16_000))
    time.sleep(0.5)  # the plots are responsive: they redraw to the new size
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def embedded_figures(page: Path) -> list[dict[str, Any]]:
    text = page.read_text()
    embedded = text.split('<script type="application/json" id="figures">', 1)[1]
    figures: list[dict[str, Any]] = json.loads(embedded.split("</script>", 1)[0])
    return figures


def cli(*args: str, cwd: Path = REPO) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "agent_ecology.launch", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def report(db: Path, out: Path) -> None:
    proc = cli("report", "--db", str(db), "-o", str(out))
    said, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, said


def test_every_figure_of_a_full_world_is_drawn_with_its_data(full_db: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    report(full_db, page)
    figures = embedded_figures(page)
    assert all(f["data"] for f in figures), [f["id"] for f in figures if not f["data"]]
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        plots = drawn(driver)
        assert list(plots) == [f["id"] for f in figures]
        for figure in figures:
            shown = plots[figure["id"]]
            assert shown["lines"] + shown["points"] + shown["heatmaps"] > 0, shown
        # One mark per bar or marker, a heatmap as an image: what plotly drew is the data.
        assert plots["network"]["heatmaps"] == 1
        bars = sum(len(t["x"]) for t in _figure(figures, "tools")["data"])
        assert plots["tools"]["points"] == bars
        assert driver.find_element("id", "empty").text == ""  # nothing is left out
        no_javascript_errors(driver)
        screenshot(driver, tmp_path / "report.png")


def _figure(figures: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f for f in figures if f["id"] == name)


@pytest.fixture
def live_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """`agent-ecology run --dashboard 0` on the shipped config: the process, its URL, its db."""
    db = tmp_path / "world.db"
    proc = cli(
        "run", "--config", "config.yaml", "--db", str(db), "--duration", "60", "--dashboard", "0"
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            lines.append(line)
            found = re.match(r"dashboard: (http://\S+) ", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "".join(lines)
        yield proc, url, db
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def newest_seq(db: Path) -> int:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        return int(seq)
    finally:
        conn.close()


def after(db: Path, seq: int) -> Callable[[], int | None]:
    """The newest event's seq once it is past ``seq``."""

    def probe() -> int | None:
        newest = newest_seq(db)
        return newest if newest > seq else None

    return probe


ACTIONS = """
const plot = document.querySelector("#figure-actions .plot");
return plot.data.reduce(function (n, t) {
  return n + t.y.reduce(function (a, b) { return a + b; }, 0); }, 0);
"""
SHOWN = """
return Math.max(0, ...Array.from(document.querySelectorAll("#events tr")).map(
  function (r) { return Number(r.dataset.seq); }));
"""


def shown(driver: Any, seq: int) -> Callable[[], bool]:
    """Whether the page's event stream has reached ``seq``."""
    return lambda: bool(driver.execute_script(SHOWN) >= seq)


def test_the_live_dashboard_shows_new_events_within_seconds(
    live_run: tuple[subprocess.Popen[str], str, Path], tmp_path: Path
) -> None:
    proc, url, db = live_run
    with chromium(tmp_path / "profile") as driver:
        driver.get(url)
        plots = drawn(driver)
        assert plots and all(p["lines"] + p["points"] + p["heatmaps"] > 0 for p in plots.values())
        wait_for("the first events", lambda: driver.execute_script(SHOWN))
        turns = driver.execute_script(ACTIONS)
        delays = []
        for _ in range(3):
            # The moment the run commits a new event, then how long until the page shows it.
            written = wait_for("a new event", after(db, newest_seq(db)))
            started = time.monotonic()
            wait_for(f"event {written} on the page", shown(driver, written), timeout=5.0)
            delays.append(time.monotonic() - started)
        assert proc.poll() is None, "the run ended before the checks did"
        # The plots follow the run too: more turns counted than when the page opened.
        wait_for("the plots redrawn", lambda: driver.execute_script(ACTIONS) > turns, 10.0)
        no_javascript_errors(driver)
        screenshot(driver, tmp_path / "dashboard.png")
    print(f"new events shown after {', '.join(f'{d:.2f}' for d in delays)} s")


def test_the_report_of_a_shipped_config_run_opens_with_its_plots(tmp_path: Path) -> None:
    """As a user does it: `agent-ecology run`, then `agent-ecology report`."""
    db = tmp_path / "world.db"
    proc = cli("run", "--config", "config.yaml", "--db", str(db), "--duration", "10")
    said, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, said
    page = tmp_path / "report.html"
    report(db, page)
    figures = embedded_figures(page)
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        plots = drawn(driver)
        every_plot_drawn(plots, figures)
        # What did not happen is said in words, not drawn as an empty plot.
        empty = driver.find_element("id", "empty").text
        for figure in figures:
            assert (figure["title"] in empty) == (not figure["data"]), figure["title"]
        no_javascript_errors(driver)
        screenshot(driver, tmp_path / "report.png")


@pytest.fixture(scope="module")
def long_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 100,000 events: 40 agents taking turns as fast as the runtime goes (noops,
    transfers and notes, each billed), on the real clock (about 25 s here)."""
    tmp = tmp_path_factory.mktemp("long")
    rng = random.Random(3)
    agents = [f"a{i:02d}" for i in range(40)]

    def answer(request: CompletionRequest) -> Completion:
        r = rng.random()
        if r < 0.4:
            action: dict[str, Any] = {"action": "noop"}
        elif r < 0.7:
            to = rng.choice(agents)
            action = {
                "action": "invoke",
                "artifact_id": "genesis_ledger",
                "method": "transfer",
                "args": {"to": to, "amount": 1},
            }
        else:
            action = {"action": "note", "text": "noted"}
        return Completion(json.dumps(action), Usage(400, 20, cached_tokens=300), request.model)

    settings = world_settings(
        tmp,
        agents=[{"id": a, "sleep_policy": {"between_turns": 0}} for a in agents],
        run={"grace": 0.5, "metrics_interval": 1},
        llm={
            "provider": "openai",
            "model": "m",
            "max_api_cost": 1000.0,
            "prices": {"m": {"input": 1, "output": 1, "max_output_tokens": 100}},
        },
        resources={
            "stock": {"disk": {"total": 300_000, "unit": "bytes"}},
            "flow": {
                "compute": {"rate": 10, "capacity": 100, "unit": "cpu_seconds"},
                "llm_rate": {"rate": 1e9, "capacity": 1e9, "unit": "tokens"},
            },
        },
    )
    db = tmp / "world.db"

    async def scenario() -> None:
        provider = ScriptedProvider(default=answer)
        async with running_world(settings, provider, billed=True, clock=SystemClock()):
            calls = 25_000  # each turn writes three or four events
            with anyio.fail_after(240):
                while newest_seq(db) < 100_000:
                    await provider.wait_for_calls(calls)
                    calls += 1000

    anyio.run(scenario)
    return db


def test_a_report_of_100000_events_is_drawn_in_under_5_s(long_db: Path, tmp_path: Path) -> None:
    events = newest_seq(long_db)
    assert events >= 100_000
    page = tmp_path / "report.html"
    started = time.monotonic()
    report(long_db, page)
    written = time.monotonic() - started
    figures = embedded_figures(page)
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        plots = drawn(driver)
        every_plot_drawn(plots, figures)
        drawn_s = int(driver.execute_script("return document.body.dataset.drawnMs")) / 1000
        no_javascript_errors(driver)
        screenshot(driver, tmp_path / "report.png")
    print(
        f"{events:,} events: report written in {written:.1f} s ({page.stat().st_size / 1e6:.1f}"
        f" MB), drawn in {drawn_s:.2f} s after the page started loading"
    )
    assert drawn_s < 5.0


def test_a_dashboard_opened_before_the_run_waits_then_follows_it(tmp_path: Path) -> None:
    db = tmp_path / "world.db"
    server = cli("dashboard", "--db", str(db), "-p", "0")
    run = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.match(r"dashboard: (http://\S+) ", line)
        assert found, line
        with chromium(tmp_path / "profile") as driver:
            driver.get(found.group(1))
            status = driver.find_element("id", "status")
            wait_for(
                "the page waiting", lambda: status.text.startswith("waiting: no world database")
            )
            run = cli("run", "--config", "config.yaml", "--db", str(db), "--duration", "8")
            # Without a reload: the plots appear and the events stream once the run writes.
            plots = drawn(driver)
            assert plots and all(
                p["lines"] + p["points"] + p["heatmaps"] > 0 for p in plots.values()
            )
            wait_for("the events", lambda: driver.execute_script(SHOWN))
            wait_for("the status", lambda: status.text.startswith("live: last event"))
            said, _ = run.communicate(timeout=90)
            assert run.returncode == 0, said
            wait_for("the last event", shown(driver, newest_seq(db)), timeout=5.0)
    finally:
        for proc in (run, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.communicate(timeout=30)
