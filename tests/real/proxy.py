"""A recording pass-through on 127.0.0.1 between the product and a real model server.

It forwards every request unchanged to the server and every answer unchanged back, and keeps
what went by: the request's body and the answer's status and body. So a test can compare what
the server reported (its ``usage``) with what the product charged, and see which
``response_format`` the product settled on, without faking either side. Standard library
only; one thread per connection (the product keeps few open).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["Exchange", "RecordingProxy"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Exchange:
    """One request and the server's answer to it, as they went by."""

    path: str
    request: dict[str, Any]
    status: int
    response: dict[str, Any] | None  # None: the body was not a JSON object
    received: float  # time.monotonic() when the request came in
    answered: float  # and when the server's answer came back
    delivered: bool  # whether the answer reached the product (it may have hung up)


class RecordingProxy:
    def __init__(self, upstream_port: int, *, timeout: float = 600.0) -> None:
        self._upstream = upstream_port
        self._timeout = timeout
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy._forward(self)

            def do_GET(self) -> None:
                proxy._forward(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        received = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self._upstream, timeout=self._timeout)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            status, answer_headers = answer.status, answer.getheaders()
            answered = time.monotonic()
        except OSError:  # the server went away or timed out: the product sees a lost connection
            handler.close_connection = True
            return
        finally:
            upstream.close()
        try:
            handler.send_response(status)
            for name, value in answer_headers:
                if name.lower() not in _HOP_BY_HOP:
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
            delivered = True
        except OSError:  # the product hung up (a call cancelled when the run stopped)
            handler.close_connection = True
            delivered = False
        if handler.command == "POST":
            self._record(handler.path, body, status, payload, (received, answered, delivered))

    def _record(
        self, path: str, body: bytes, status: int, payload: bytes, when: tuple[float, float, bool]
    ) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        try:
            response = json.loads(payload)
        except ValueError:
            response = None
        with self._lock:
            self._exchanges.append(
                Exchange(
                    path=path,
                    request=request if isinstance(request, dict) else {},
                    status=status,
                    response=response if isinstance(response, dict) else None,
                    received=when[0],
                    answered=when[1],
                    delivered=when[2],
                )
            )
