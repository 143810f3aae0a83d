"""A small HTTP/1.1 client for one thing: ``POST`` a JSON body to one origin, many at once.

The openai SDK (through httpx and httpcore) spends about 2 ms of CPU per call when a
thousand calls are in flight, most of it scanning its connection pool; a chat completion
needs none of that machinery. :class:`Origin` keeps a stack of idle keep-alive connections
to one ``scheme://host:port`` (taking one is O(1): the most recently used, which is the one
least likely to have been closed by the server), writes a request whose headers were built
once, and reads ``Content-Length``, chunked or close-delimited answers, gzip or deflate
encoded or not.

It raises only its own exceptions (below), each saying which phase failed, so that the
provider can map them to the same :mod:`agent_ecology.llm.errors` as the SDK's:

* :class:`ConnectFailed`: no connection (refused, DNS, TLS, or ``connect_timeout``); the
  request was never sent.
* :class:`Lost`: the connection failed or the answer was not HTTP after the request went
  out: the server may have processed it.
* :class:`Undecodable`: a whole answer arrived, in a content encoding that cannot be read.

The caller bounds the whole attempt (``asyncio.timeout``); a cancelled request closes its
connection, whose state is then unknown, and the :class:`Progress` it passed says how far the
request got (waiting for a connection, connecting, or sent). Proxies are not supported: the
provider uses the SDK when one is configured in the environment.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult

__all__ = ["ConnectFailed", "Lost", "Origin", "Progress", "Response", "Undecodable"]

#: The largest header block accepted from a server (bytes).
_MAX_HEADER_BYTES: Final = 64 * 1024
#: The largest body accepted from a server (bytes, after decoding).
_MAX_BODY_BYTES: Final = 64 * 1024 * 1024


class ConnectFailed(Exception):
    """No connection could be made; the request was not sent. ``timed_out`` when the connect
    deadline passed."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Undecodable(Exception):
    """The answer's content encoding is unknown or its bytes do not decode."""


class Progress:
    """How far one request got: ``"waiting"`` for a free connection, ``"connecting"``, then
    ``"sent"`` (from the first byte written on)."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = "waiting"


class Lost(Exception):
    """The exchange failed after the request was (perhaps) sent."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with ``", "``."""
    body: bytes


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        # Bytes that came while idle (a "408 Request Timeout" before a close, or junk after
        # a body) would be read as the next answer: such a connection is not reused.
        # StreamReader has no public count of what it holds; its buffer is the only one.
        buffered = len(getattr(self.reader, "_buffer", b""))
        return (
            not buffered
            and not self.reader.at_eof()
            and not self.writer.is_closing()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class Origin:
    """Keep-alive connections to ``url``'s origin, at most ``max_connections`` at once."""

    def __init__(
        self,
        url: SplitResult,
        *,
        max_connections: int,
        connect_timeout: float,
        keepalive_expiry: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        if url.scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {url.scheme!r}")
        self.host = url.hostname or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = tls if url.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._closed = False
        default_port = 443 if url.scheme == "https" else 80
        shown = self.host if ":" not in self.host else f"[{self.host}]"
        authority = shown if self.port == default_port else f"{shown}:{self.port}"
        try:
            self._host_line = b"Host: " + authority.encode("idna") + b"\r\n"
        except UnicodeError as exc:
            raise ValueError(f"the host {self.host!r} cannot be written in HTTP ({exc})") from None

    async def post(self, target: str, head: bytes, body: bytes, progress: Progress) -> Response:
        """Send ``POST target`` with the header lines ``head`` (each ending in CRLF, without
        Host and Content-Length) and ``body``; return the answer. ``progress`` follows the
        request, for a caller whose deadline cuts it short."""
        await self._slots.acquire()
        try:
            progress.phase = "connecting"
            connection = await self._take()
            progress.phase = "sent"
            try:
                request = b"".join(
                    (
                        b"POST ",
                        target.encode("ascii"),
                        b" HTTP/1.1\r\n",
                        self._host_line,
                        head,
                        b"Content-Length: ",
                        str(len(body)).encode("ascii"),
                        b"\r\n\r\n",
                        body,
                    )
                )
                response, keep = await self._exchange(connection, request)
            except BaseException:
                connection.close()
                raise
            if keep and not self._closed:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return response
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections; those in use close when their request ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _take(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self.keepalive_expiry):
                return connection
            connection.close()
        return await self._connect()

    async def _connect(self) -> _Connection:
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                    limit=_MAX_HEADER_BYTES,
                )
        except TimeoutError:
            # Ours or the caller's deadline: tell them apart by the time left to the caller.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise ConnectFailed(
                f"no connection to {where} within {self.connect_timeout:g} s", timed_out=True
            ) from None
        except ssl.SSLError as exc:
            raise ConnectFailed(f"TLS with {where} failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
        return _Connection(reader, writer)

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[Response, bool]:
        reader, writer = connection.reader, connection.writer
        try:
            writer.write(request)
            await writer.drain()
            while True:
                status, reason, version, headers = await _read_head(reader)
                if status >= 200:
                    break  # 1xx (100 Continue, 103 Early Hints) precede the answer
            body, delimited = await _read_body(reader, headers, status)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            detail = str(exc) or type(exc).__name__
            if isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                detail = "the server closed the connection without an answer"
            raise Lost(detail) from exc
        except ValueError as exc:  # not HTTP: a bad status line, header or chunk size
            raise Lost(f"the answer is not HTTP/1.1: {exc}") from exc
        encoding = headers.get("content-encoding", "identity").strip().lower()
        body = _decode(body, encoding)
        connection_header = headers.get("connection", "").lower()
        keep = delimited and (
            "close" not in connection_header
            if version == "HTTP/1.1"
            else "keep-alive" in connection_header
        )
        return Response(status, reason, headers, body), keep


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, str, dict[str, str]]:
    try:
        block = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ValueError(f"its header is longer than {_MAX_HEADER_BYTES} bytes") from None
    lines = block[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), parts[2] if len(parts) > 2 else "", parts[0], headers


async def _read_body(
    reader: asyncio.StreamReader, headers: Mapping[str, str], status: int
) -> tuple[bytes, bool]:
    """The body and whether its end was delimited (so the connection may be reused)."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            length = int(line.split(b";", 1)[0].strip(), 16)
            if length == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return b"".join(chunks), True
            size += length
            if size > _MAX_BODY_BYTES:
                raise ValueError(f"its body is longer than {_MAX_BODY_BYTES} bytes")
            chunks.append(await reader.readexactly(length))
            if await reader.readexactly(2) != b"\r\n":
                raise ValueError("a chunk does not end in CRLF")
    length_header = headers.get("content-length")
    if length_header is not None:
        length = int(length_header.split(",")[0])
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise ValueError(f"Content-Length {length_header!r}")
        return await reader.readexactly(length), True
    body = await reader.read(_MAX_BODY_BYTES + 1)
    rest = [body]
    while body:
        body = await reader.read(_MAX_BODY_BYTES + 1)
        rest.append(body)
        if sum(map(len, rest)) > _MAX_BODY_BYTES:
            raise ValueError(f"its body is longer than {_MAX_BODY_BYTES} bytes")
    return b"".join(rest), False


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity") or not body:
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise Undecodable(f"the answer is encoded as {encoding!r}, which was not asked for")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(body, _MAX_BODY_BYTES)
        if inflater.unconsumed_tail:
            raise Undecodable(f"the decoded answer is longer than {_MAX_BODY_BYTES} bytes")
        return out
    except zlib.error:
        if encoding == "deflate":  # some servers send raw deflate without the zlib wrapper
            try:
                return zlib.decompress(body, -zlib.MAX_WBITS)
            except zlib.error:
                pass
        raise Undecodable(f"the {encoding} body could not be decoded") from None
