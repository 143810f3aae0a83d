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
import logging
import socket
import sqlite3
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent_ecology.pages import page_json, render_page
from agent_ecology.plots import ReportError, latest_events, open_readonly, read_figures, run_title

log = logging.getLogger(__name__)

MIN_AGE = 2.0  # seconds the figures are served from the cache before they are read again


class Dashboard:
    """An HTTP server for one world database, in a background thread."""

    def __init__(self, db: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.db = db
        self._cache: tuple[float, str, dict[str, Any]] | None = None  # (when, version, body)
        self._build = threading.Lock()
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
        address, port = self._server.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

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
            if not self._host_allowed(request.headers.get("Host", "")):
                # A page elsewhere cannot read the ledger through a name that resolves here
                # (DNS rebinding): on a loopback address only loopback names are answered.
                return _send_json(
                    request,
                    {"error": "this dashboard answers to 127.0.0.1, localhost or [::1] only"},
                    421,
                )
            if url.path == "/":
                try:
                    with open_readonly(self.db) as conn:
                        title = run_title(conn)
                except (ReportError, sqlite3.Error) as exc:  # not written yet: the page waits
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
                    if not 0 <= after < 2**63:
                        raise ValueError(after)
                except ValueError:
                    return _send_json(
                        request,
                        {"error": "after must be an event seq (a whole number, 0 or more)"},
                        400,
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
        except Exception as exc:  # a fault of ours: logged, and answered, never a hang
            log.exception("dashboard: %s failed", url.path)
            return _send_json(request, {"error": f"the dashboard failed: {exc!r}"}, 500)

    def _host_allowed(self, host: str) -> bool:
        bound = str(self._server.server_address[0])
        if bound not in ("127.0.0.1", "::1"):
            return True  # served beyond loopback on purpose (--host): any name reaches it
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in ("127.0.0.1", "localhost", "[::1]")

    def _figures(self) -> dict[str, Any]:
        """The figures, rebuilt at most every MIN_AGE seconds and by one request at a time
        (the others wait for it and share its result): with many tabs open on a busy run,
        the run's process still builds them only once per interval."""
        with self._build:
            if self._cache is not None and time.monotonic() - self._cache[0] < MIN_AGE:
                return self._cache[2]
            with open_readonly(self.db) as conn:
                seq, window = conn.execute(
                    "SELECT (SELECT coalesce(max(seq), 0) FROM events),"
                    " (SELECT coalesce(max(id), 0) FROM metric_windows)"
                ).fetchone()
                version = f"{seq}.{window}"
                if self._cache is None or self._cache[1] != version:
                    body = {
                        "version": version,
                        "title": run_title(conn),
                        "figures": [f.to_json() for f in read_figures(conn)],
                    }
                else:
                    body = self._cache[2]
            self._cache = (time.monotonic(), version, body)
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
    _send(request, status, "application/json", page_json(value).encode())
