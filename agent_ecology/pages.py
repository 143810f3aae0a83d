"""The run's page: the report (one self-contained HTML file) and the dashboard's live page.

::

    html = render_page(figures, title)            # the report: figures inside, plotly.js inline
    html = render_page(None, title, live=True)    # the dashboard: fetches /api/figures, events

Both inline plotly.js from the ``plotly`` package (it ships the minified bundle), so nothing is
fetched from anywhere: the report opens offline, years later, in any browser.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib import resources

from agent_ecology.plots import Figure


@cache
def plotly_js() -> str:
    """plotly.js, minified, as the ``plotly`` package ships it."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text("utf-8")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .figure { margin: 1em 0 2em; } .figure h3 { margin: 0.3em 0; }
.caption { color: #444; margin: 0.2em 0 0.5em; } .plot { height: 380px; }
.empty { color: #777; }
.stream { max-height: 16em; overflow-y: auto; border: 1px solid #ddd; }
.stream table { font-family: ui-monospace, monospace; font-size: 0.85em;
  border-collapse: collapse; width: 100%; }
.stream th { position: sticky; top: 0; background: #f4f4f4; text-align: left; }
.stream td, .stream th { padding: 2px 8px; border-bottom: 1px solid #eee; }
"""

_SCRIPT = """
(function () {
  const LIVE = %(live)s;
  const sections = document.getElementById("sections");
  const drawn = {};
  window.__errors = window.__errors || [];
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function section(name) {
    let s = document.getElementById("section-" + name);
    if (!s) {
      s = el("section"); s.id = "section-" + name;
      s.appendChild(el("h2", null, name));
      sections.appendChild(s);
    }
    return s;
  }
  function draw(figures) {
    const empty = [];
    const work = [];
    for (const f of figures) {
      if (!f.data.length) { empty.push(f.title); continue; }
      let d = drawn[f.id];
      if (!d) {
        const box = el("div", "figure"); box.id = "figure-" + f.id;
        box.appendChild(el("h3", null, f.title));
        const cap = el("p", "caption"); box.appendChild(cap);
        const plot = el("div", "plot"); box.appendChild(plot);
        section(f.section).appendChild(box);
        d = drawn[f.id] = {cap: cap, plot: plot};
      }
      d.cap.textContent = f.caption;
      const layout = Object.assign({margin: {t: 30, r: 10},
        legend: {orientation: "h", x: 0, y: 1.0, yanchor: "bottom"}}, f.layout);
      work.push(Plotly.react(d.plot, f.data, layout, {responsive: true, displaylogo: false}));
    }
    document.getElementById("empty").textContent = empty.length
      ? "Nothing of this kind happened in this run: " + empty.join("; ") + "." : "";
    return Promise.all(work).then(function () {
      document.body.dataset.plots = String(work.length);
      // milliseconds from the page's start until every plot was drawn (the tests read it)
      document.body.dataset.drawnMs = String(Math.round(performance.now()));
    });
  }
  window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
  if (!LIVE) {
    draw(JSON.parse(document.getElementById("figures").textContent));
    return;
  }
  let version = null, after = 0;
  function waiting(e) { document.getElementById("status").textContent = "waiting: " + e.message; }
  // A JSON answer, or its error (e.g. no run has written the database yet: 503) thrown.
  function answer(r) {
    return r.json().then(function (body) {
      if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
      return body;
    });
  }
  const events = document.getElementById("events");
  function poll() {
    fetch("api/figures").then(answer).then(function (body) {
      document.getElementById("title").textContent = body.title;
      if (body.version !== version) { version = body.version; return draw(body.figures); }
    }).catch(waiting)
      .finally(function () { setTimeout(poll, 3000); });
  }
  function stream() {
    let more = false;  // a full batch: more are waiting, ask again at once
    fetch("api/events?after=" + after).then(answer)
    .then(function (rows) {
      more = rows.length >= 500;
      for (const e of rows) {
        after = e.seq;  // rows come oldest first: the last is where the next request starts
        const tr = el("tr"); tr.dataset.seq = String(e.seq);
        for (const v of [e.seq, e.at, e.kind, e.principal || "", e.counterparty || "",
                         e.amount === null ? "" : e.amount, e.artifact || ""]) {
          tr.appendChild(el("td", null, String(v)));
        }
        events.insertBefore(tr, events.firstChild);
        while (events.rows.length > 200) events.deleteRow(events.rows.length - 1);
      }
      document.getElementById("status").textContent = "live: last event " + after;
    }).catch(waiting)
      .finally(function () { setTimeout(stream, more ? 0 : 1000); });
  }
  poll(); stream();
})();
"""


def page_json(value: object) -> str:
    """JSON that is safe inside a <script> element and parses in any browser: every "<" is
    written as its escape (so neither "</script>" nor "<!--" can change how the page is
    parsed), and a NaN or infinity, which JSON cannot carry, as null."""
    text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def render_page(figures: list[Figure] | None, title: str, *, live: bool = False) -> str:
    """The page: with ``figures`` inside (the report), or fetching them (``live``)."""
    payload = page_json([f.to_json() for f in figures or []])
    stream = (
        '<h2>Latest events</h2><p class="meta" id="status">connecting</p>'
        '<div class="stream"><table><thead><tr><th>seq</th><th>time (UTC)</th><th>kind</th>'
        "<th>principal</th><th>counterparty</th><th>amount</th><th>artifact</th></tr></thead>"
        '<tbody id="events"></tbody></table></div>'
        if live
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agent-ecology: {html.escape(title)}</title>
<style>{_STYLE}</style>
<script>{plotly_js()}</script>
</head><body>
<h1>agent-ecology {"dashboard" if live else "report"}</h1>
<p class="meta" id="title">{html.escape(title)}</p>
{stream}
<div id="sections"></div>
<p class="empty" id="empty"></p>
<script type="application/json" id="figures">{payload}</script>
<script>{_SCRIPT % {"live": "true" if live else "false"}}</script>
</body></html>
"""
