"""Reverse proxy to an HTTP MCP server: a container's published port or a remote URL.

Requests are forwarded with their path, query and headers (hop-by-hop ones dropped,
``Host`` rewritten); responses are relayed as they arrive, chunk by chunk, so SSE streams
pass through unbuffered.  Upstream connections are kept alive and reused; a request that
fails on a reused connection before any response byte is retried once on a fresh one.

In front of a container (``gate`` given) the server may be restarting: while the supervisor
has the gate closed, and when the server cannot be reached, clients get 503 with
``Retry-After`` and a JSON-RPC error body (:mod:`..http.outage`); a refused connection is
retried for a few seconds first, as the server may be coming up.  A remote server that does
not answer is a 502, as ToolHive's proxy answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..http.outage import Gate, respond_unavailable
from ..http.server import log, wait_client_gone
from ..http.wire import (
    LAST_CHUNK,
    Conn,
    HttpError,
    Request,
    Response,
    chunk,
    content_length,
    is_chunked,
    iter_chunked,
    iter_length,
    iter_until_eof,
    read_response_head,
    respond,
    response_head,
)

HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "host", "expect",
    }
)  # fmt: skip
MAX_IDLE = 64
CONNECT_TIMEOUT = 10.0
REFUSED_RETRY = 3.0  # seconds to retry a refused connection to a container's server
RETRY_PAUSE = 0.2
RETRYABLE = (ConnectionError, asyncio.IncompleteReadError, BrokenPipeError)
Body = AsyncGenerator[bytes, None]


@dataclass(frozen=True, slots=True)
class Upstream:
    scheme: str
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported upstream URL {url!r}")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, parts.port or default)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host_header}"


class Pool:
    """Idle keep-alive connections to one upstream."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.idle: list[Conn] = []
        self._ssl: Any = None

    async def get(self) -> tuple[Conn, bool]:
        """A connection and whether it was reused."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.closing and not conn.reader.at_eof():
                return conn, True
            conn.close()
        return await self.open(), False

    async def open(self) -> Conn:
        up = self.upstream
        ssl_ctx = None
        if up.scheme == "https":
            if self._ssl is None:
                import ssl  # only remote HTTPS workloads pay for it

                self._ssl = ssl.create_default_context()
            ssl_ctx = self._ssl
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                up.host, up.port, ssl=ssl_ctx, server_hostname=up.host if ssl_ctx else None
            ),
            CONNECT_TIMEOUT,
        )
        return Conn(reader, writer)

    def put(self, conn: Conn) -> None:
        if len(self.idle) < MAX_IDLE and not conn.closing:
            self.idle.append(conn)
        else:
            conn.close()


class ReverseProxy:
    """The proxy application for sse / streamable-http servers and remote servers."""

    def __init__(self, upstream: Upstream, gate: Gate | None = None) -> None:
        self.upstream = upstream
        self.pool = Pool(upstream)
        self.gate = gate  # None: a remote server, which nothing supervises
        self._origin = upstream.origin.encode()

    async def handle(self, request: Request, client: Conn) -> bool:
        gate = self.gate
        if gate is not None and not gate.open:
            respond_unavailable(client, request, gate.reason, gate.retry_after)
            return request.keep_alive
        head = self._request_head(request)
        try:
            upstream, response = await self._exchange_retrying(head + request.body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            log(f"upstream {self.upstream.origin} unavailable: {type(exc).__name__}: {exc}")
            if gate is None:
                respond(client, 502, b"upstream MCP server unavailable\n")
            elif not gate.open:  # it went away while this request waited
                respond_unavailable(client, request, gate.reason, gate.retry_after)
            else:
                respond_unavailable(client, request, "it does not accept connections", 1)
            return request.keep_alive
        return await self._relay(request, response, upstream, client)

    async def _exchange_retrying(self, data: bytes) -> tuple[Conn, Response]:
        """:meth:`_exchange`; in front of a container, a refused connection is tried again
        for :data:`REFUSED_RETRY` seconds (the server may be starting)."""
        deadline = asyncio.get_running_loop().time() + REFUSED_RETRY
        while True:
            try:
                return await self._exchange(data)
            except ConnectionRefusedError:
                gate = self.gate
                if gate is None or not gate.open:
                    raise
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(RETRY_PAUSE)

    def _request_head(self, request: Request) -> bytes:
        lines = [
            f"{request.method} {request.target} HTTP/1.1",
            f"Host: {self.upstream.host_header}",
        ]
        lines += [f"{k}: {v}" for k, v in request.headers.items if k.lower() not in HOP_BY_HOP]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(request.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _exchange(self, data: bytes) -> tuple[Conn, Response]:
        for attempt in (0, 1):
            conn, reused = await self.pool.get()
            try:
                conn.write(data)
                response = await read_response_head(conn)
                if response is None:
                    raise ConnectionResetError("upstream closed the connection")
                while 100 <= response.status < 200 and response.status != 101:
                    response = await read_response_head(conn)
                    if response is None:
                        raise ConnectionResetError("upstream closed the connection")
                return conn, response
            except RETRYABLE:
                conn.close()
                if not reused or attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _relay(
        self, request: Request, response: Response, upstream: Conn, client: Conn
    ) -> bool:
        body, length, reusable = _framing(request, response, upstream)
        fields = [(k, v) for k, v in response.headers.items if k.lower() not in HOP_BY_HOP]
        chunked = body is not None and length is None
        if length is not None:
            fields.append(("Content-Length", str(length)))
        elif chunked:
            fields.append(("Transfer-Encoding", "chunked"))
        head = response_head(response.status, fields)
        ok = True
        if body is None:
            client.write(head)
        else:
            streaming = request.method == "GET" and "event-stream" in response.headers.get(
                "content-type"
            )
            relay = _Relay(client, upstream, chunked, bytearray(head))
            ok = await self._pump(body, relay, streaming)
        if ok and reusable:
            self.pool.put(upstream)
        else:
            upstream.close()
        return ok and request.keep_alive

    async def _pump(
        self, body: AsyncGenerator[bytes, None], relay: _Relay, streaming: bool
    ) -> bool:
        """Copy the body; a long-lived stream ends when the client goes away."""
        if not streaming:
            return await relay.copy(body)
        relay.origin = self._origin if relay.chunked else None
        relay.flush()  # a stream's client waits for the head before anything else
        copy = asyncio.ensure_future(relay.copy(body))
        gone = asyncio.ensure_future(wait_client_gone(relay.client))
        try:
            await asyncio.wait({copy, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (copy, gone):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return copy.done() and not copy.cancelled() and copy.result()


def _framing(
    request: Request, response: Response, upstream: Conn
) -> tuple[Body | None, int | None, bool]:
    """(body iterator or None, Content-Length to announce, upstream reusable afterwards)."""
    keep = "close" not in response.headers.get("connection").lower()
    if request.method == "HEAD" or response.status in (204, 304) or response.status < 200:
        return None, content_length(response.headers), keep
    if is_chunked(response.headers):
        return iter_chunked(upstream), None, keep
    length = content_length(response.headers)
    if length is not None:
        return iter_length(upstream, length), length, keep
    return iter_until_eof(upstream), None, False


@dataclass(slots=True)
class _Relay:
    """One response body on its way to the client.

    Bytes are written when the upstream has nothing more buffered, so the head, the body
    chunks and the last chunk that arrived together leave in one send: on loopback each
    send costs as much as the rest of the relay.  ``origin``: on an SSE stream, an
    ``endpoint`` event naming the upstream's own origin is made relative, so clients keep
    talking to the proxy.
    """

    client: Conn
    upstream: Conn
    chunked: bool
    out: bytearray
    origin: bytes | None = None

    def flush(self) -> None:
        if self.out:
            self.client.write(bytes(self.out))
            self.out.clear()

    async def copy(self, body: Body) -> bool:
        """Relay the body; True when all of it went through."""
        try:
            async with contextlib.aclosing(body):
                async for data in body:
                    if self.origin and b"endpoint" in data:
                        data = data.replace(b"data: " + self.origin + b"/", b"data: /")
                    if data:
                        self.out += chunk(data) if self.chunked else data
                    if not self.upstream.buf:
                        self.flush()
                        await self.client.drain()
            if self.chunked:
                self.out += LAST_CHUNK
            self.flush()
            return True
        except (ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
            log(f"stream relay ended early: {type(exc).__name__}")
            return False
