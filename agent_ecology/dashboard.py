"""The live view: the report's plots served on 127.0.0.1, updating while a run writes.

::

    server = Dashboard(db, host="127.0.0.1", port=8000)
    server.start()          # serves in a thread; read-only on the database
    ...
    server.stop()

Routes: ``/`` the page; ``api/figures`` the figures as JSON with a version (the newest event's
seq and metrics window: the page redraws only when it moves); ``api/events?after=SEQ`` the
events after SEQ, oldest first. Each request opens its own read-only connection (WAL readers
see the last commit and never block the run's writer).

It is the standard library's threading HTTP server: the page polls two JSON routes, so no
ASGI framework or event loop is needed, and ``run --dashboard`` can serve beside the
runtime's loop without sharing it.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import sqlite3
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent_ecology.pages import render_page
from agent_ecology.plots import ReportError, latest_events, open_readonly, read_figures, run_title

log = logging.getLogger(__name__)


class Dashboard:
    """An HTTP server for one world database, in a background thread."""

    def __init__(self, db: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.db = db
        self._cache: tuple[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dashboard._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("dashboard: " + format, *args)

        server = _Server6 if ":" in host else ThreadingHTTPServer  # an IPv6 address: "::"
        try:
            self._server = server((host, port), Handler)
        except OSError as exc:
            fix = (
                "choose another port (0: any free one)"
                if exc.errno == errno.EADDRINUSE
                else "give an address of this machine (127.0.0.1, 0.0.0.0 or ::)"
            )
            raise ReportError(
                f"cannot serve the dashboard on {host}:{port} ({exc.strerror or exc}); {fix}"
            ) from None
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dashboard", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving (if it was) and close the socket."""
        if self._thread is not None:
            self._server.shutdown()  # (waits for serve_forever: only once it was started)
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    # --- requests --------------------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        try:
            if url.path == "/":
                try:
                    with open_readonly(self.db) as conn:
                        title = run_title(conn)
                except ReportError as exc:  # no run has written it yet: the page waits
                    title = str(exc)
                body = render_page(None, title, live=True).encode()
                return _send(request, HTTPStatus.OK, "text/html; charset=utf-8", body)
            if url.path == "/favicon.ico":  # browsers ask; there is none (not an error)
                return _send(request, HTTPStatus.NO_CONTENT, "image/x-icon", b"")
            if url.path == "/api/figures":
                return _send_json(request, self._figures())
            if url.path == "/api/events":
                query = parse_qs(url.query)
                try:
                    after = int(query.get("after", ["0"])[0])
                except ValueError:
                    return _send_json(
                        request, {"error": "after must be an event seq (an integer)"}, 400
                    )
                with open_readonly(self.db) as conn:
                    return _send_json(request, latest_events(conn, after))
            return _send_json(request, {"error": f"no such page: {url.path}"}, 404)
        except ReportError as exc:
            return _send_json(request, {"error": str(exc)}, 503)
        except sqlite3.Error as exc:  # e.g. the database is being migrated right now
            return _send_json(request, {"error": f"cannot read the database now: {exc}"}, 503)
        except (BrokenPipeError, ConnectionResetError):
            return None  # the browser went away

    def _figures(self) -> dict[str, Any]:
        with open_readonly(self.db) as conn:
            seq, window = conn.execute(
                "SELECT (SELECT coalesce(max(seq), 0) FROM events),"
                " (SELECT coalesce(max(id), 0) FROM metric_windows)"
            ).fetchone()
            version = f"{seq}.{window}"
            with self._lock:
                if self._cache is not None and self._cache[0] == version:
                    return self._cache[1]
            body = {
                "version": version,
                "title": run_title(conn),
                "figures": [f.to_json() for f in read_figures(conn)],
            }
        with self._lock:
            self._cache = (version, body)
        return body


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _send(request: BaseHTTPRequestHandler, status: int, kind: str, body: bytes) -> None:
    request.send_response(status)
    request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Cache-Control", "no-store")
    request.end_headers()
    request.wfile.write(body)


def _send_json(request: BaseHTTPRequestHandler, value: object, status: int = 200) -> None:
    _send(request, status, "application/json", json.dumps(value).encode())
