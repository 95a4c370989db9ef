"""Minimal HTTP/1.1 over asyncio streams: parse heads, read and write bodies.

Used on both sides of the proxy (clients in, upstream servers and the container engine
out).  :class:`Conn` keeps its own read buffer so that a task watching a streaming client
for disconnection never loses bytes of a pipelined next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

READ_SIZE = 65536
MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
MAX_CHUNK_LINE = 4096
REQUEST_TIMEOUT = 30.0  # seconds from a request's first byte to its last (slow clients)
HEX = frozenset(b"0123456789abcdefABCDEF")
CRLF = b"\r\n"
REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 202: "Accepted", 204: "No Content",
    304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
    413: "Content Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 505: "HTTP Version Not Supported",
}  # fmt: skip


class HttpError(Exception):
    """A malformed or unacceptable message; ``status`` is what a server answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Conn:
    """A byte stream with a pushback buffer: the base of every HTTP exchange here."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False

    async def fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        data = await self.reader.read(READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def read_until(self, sep: bytes, limit: int) -> bytes | None:
        """Bytes up to and including ``sep``; None on a clean EOF before any byte."""
        start = 0
        while (idx := self.buf.find(sep, start)) < 0:
            if len(self.buf) > limit:
                raise HttpError(431, "message head too large")
            start = max(0, len(self.buf) - len(sep) + 1)
            if not await self.fill():
                if self.buf:
                    raise asyncio.IncompleteReadError(bytes(self.buf), None)
                return None
        end = idx + len(sep)
        if end > limit:
            raise HttpError(431, "message head too large")
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self.fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_some(self, n: int = READ_SIZE) -> bytes:
        """Up to ``n`` bytes, whatever is available first; b"" at EOF."""
        if not self.buf and not await self.fill():
            return b""
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()

    @property
    def closing(self) -> bool:
        return self.eof or self.writer.is_closing()


@dataclass(slots=True)
class Headers:
    """Header fields in arrival order, with case-insensitive lookup of the first value."""

    items: list[tuple[str, str]] = field(default_factory=list)
    index: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.items.append((name, value))
        self.index.setdefault(name.lower(), value)

    def get(self, name: str, default: str = "") -> str:
        return self.index.get(name, default)


@dataclass(slots=True)
class Request:
    method: str
    target: str
    version: str
    headers: Headers
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    version: str
    headers: Headers


def _parse_headers(lines: list[str]) -> Headers:
    """Header lines (already decoded as latin-1) into :class:`Headers`, in one pass."""
    items: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for raw in lines:
        if not raw:
            continue
        name, colon, value = raw.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        value = value.strip()
        items.append((name, value))
        index.setdefault(name.lower(), value)
    return Headers(items, index)


async def read_request(conn: Conn) -> Request | None:
    """The next request with its whole body; None when the client closed cleanly.

    An idle keep-alive connection may wait for its next request as long as it likes; once
    the first byte is in, the whole request must arrive within :data:`REQUEST_TIMEOUT`
    (408 otherwise), so a client that trickles bytes cannot hold a connection forever."""
    if not conn.buf and not await conn.fill():
        return None
    buffered = _buffered_request(conn)  # the usual case: all of it came in one read
    if buffered is not None:
        return buffered
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await _read_request(conn)
    except TimeoutError:
        raise HttpError(408, "the request did not arrive in time") from None


def _buffered_request(conn: Conn) -> Request | None:
    """The next request when its head and its Content-Length body are all in the buffer
    already (parsed without waiting, the buffer consumed); None otherwise."""
    buf = conn.buf
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return None
    request = _parse_request_head(buf[:end])
    chunked, length = request_framing(request.headers)
    end += 4
    if chunked or len(buf) - end < length or length > MAX_BODY:
        return None  # the slow path reads it (and refuses what it must)
    if request.headers.index.get("expect", "").lower() == "100-continue":
        return None
    request.body = bytes(buf[end : end + length])
    del buf[: end + length]
    return request


def _parse_request_head(head: bytes | bytearray) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "malformed request line")
    if not parts[2].startswith("HTTP/1."):
        raise HttpError(505 if parts[2].startswith("HTTP/") else 400, "unsupported HTTP version")
    return Request(parts[0], parts[1], parts[2], _parse_headers(lines[1:]))


async def _read_request(conn: Conn) -> Request | None:
    head = await conn.read_until(b"\r\n\r\n", MAX_HEAD)
    if head is None:
        return None
    request = _parse_request_head(head[:-4])
    chunked, length = request_framing(request.headers)
    if request.headers.get("expect").lower() == "100-continue":
        conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.body = await read_body(conn, request.headers, chunked=chunked, length=length)
    return request


def request_framing(headers: Headers) -> tuple[bool, int]:
    """(chunked, Content-Length) of a request, refusing what could be read two ways
    (RFC 9112 §6.3): both ``Transfer-Encoding`` and ``Content-Length``, several different
    lengths, or a transfer coding other than ``chunked`` alone (400 / 501)."""
    index = headers.index
    if "transfer-encoding" not in index and "content-length" not in index:
        return False, 0
    codings = [v for k, v in headers.items if k.lower() == "transfer-encoding"]
    lengths = {v for k, v in headers.items if k.lower() == "content-length"}
    if codings:
        if lengths:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        tokens = [t.strip().lower() for v in codings for t in v.split(",")]
        if tokens != ["chunked"]:
            raise HttpError(501, f"unsupported Transfer-Encoding {', '.join(codings)!r}")
        return True, 0
    if len(lengths) > 1:
        raise HttpError(400, "conflicting Content-Length headers")
    return False, content_length(headers) or 0


async def read_response_head(conn: Conn) -> Response | None:
    """A response's status line and headers; None on EOF before any byte."""
    head = await conn.read_until(b"\r\n\r\n", MAX_HEAD)
    if head is None:
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise HttpError(502, "malformed status line")
    return Response(int(code), reason, version, _parse_headers(lines[1:]))


def content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise HttpError(400, "bad Content-Length")
    return int(value)


def is_chunked(headers: Headers) -> bool:
    """Whether the last transfer coding is ``chunked`` (a response's framing)."""
    coding = headers.get("transfer-encoding").rpartition(",")[2]
    return coding.strip().lower() == "chunked"


async def read_body(
    conn: Conn, headers: Headers, limit: int = MAX_BODY, *, chunked: bool, length: int
) -> bytes:
    """A request body (``length`` bytes, or chunked; :func:`request_framing` says which)."""
    if chunked:
        parts: list[bytes] = []
        size = 0
        async for chunk in iter_chunked(conn, limit):
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "body too large")
            parts.append(chunk)
        return b"".join(parts)
    if length > limit:
        raise HttpError(413, "body too large")
    return await conn.read_exact(length) if length else b""


def chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (hex digits, then optional ``;`` extensions)."""
    digits = line[:-2].partition(b";")[0].rstrip(b" \t")
    if not digits or len(digits) > 16 or not HEX.issuperset(digits):
        raise HttpError(400, "bad chunk size")
    return int(digits, 16)


async def iter_chunked(conn: Conn, limit: int | None = None) -> AsyncGenerator[bytes, None]:
    """Decode a chunked body chunk by chunk (trailers are read and dropped); a chunk larger
    than ``limit`` is refused (413) before any of it is read."""
    while True:
        line = await conn.read_until(CRLF, MAX_CHUNK_LINE)
        if line is None:
            raise asyncio.IncompleteReadError(b"", None)
        size = chunk_size(line)
        if size == 0:
            while (trailer := await conn.read_until(CRLF, MAX_HEAD)) not in (CRLF, None):
                del trailer
            return
        if limit is not None and size > limit:
            raise HttpError(413, "body too large")
        data = await conn.read_exact(size + 2)
        if data[-2:] != CRLF:
            raise HttpError(400, "chunk data not followed by CRLF")
        yield data[:-2]


async def iter_length(conn: Conn, length: int) -> AsyncGenerator[bytes, None]:
    while length > 0:
        data = await conn.read_some(min(length, READ_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", length)
        length -= len(data)
        yield data


async def iter_until_eof(conn: Conn) -> AsyncGenerator[bytes, None]:
    while data := await conn.read_some():
        yield data


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    conn: Conn,
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
    keep_alive: bool = True,
) -> None:
    """Write a complete response with a Content-Length."""
    fields = list(headers or [])
    if body:
        fields.append(("Content-Type", content_type))
    fields.append(("Content-Length", str(len(body))))
    if not keep_alive:
        fields.append(("Connection", "close"))
    conn.write(response_head(status, fields) + body)
