"""Reverse proxy to an HTTP MCP server: a container's published port or a remote URL.

Requests are forwarded with their path, query and headers (hop-by-hop ones dropped,
``Host`` rewritten); responses are relayed as they arrive, chunk by chunk, so SSE streams
pass through unbuffered.  Upstream connections are kept alive and reused; a request that
fails on a reused connection before any response byte is retried once on a fresh one.

The tool guard (:mod:`.toolsurface`) looks only at POST bodies that may concern tools: a
refused ``tools/call`` is answered here (a legacy SSE session gets the error on its stream,
the POST ``202``), a renamed one forwarded under the server's name; the answer to a
``tools/list`` is screened, buffered when it is JSON, event by event when it is SSE
(:mod:`.sse_screen`), as are the GET streams.

In front of a container (``gate`` given) the server may be restarting: when it cannot be
reached, clients get 503 with ``Retry-After`` and a JSON-RPC error body
(:mod:`..http.outage`) naming why — the supervisor's reason while it has the gate closed.
Requests are still tried while the gate is closed: a server whose container outlives its
engine (live-restore) keeps serving.  With the gate open a refused connection is retried
for a few seconds first, as the server may be coming up.  A remote server that does not
answer is a 502, as ToolHive's proxy answers.
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
from .reverse_tools import Asked, ToolScreen
from .sse_screen import EventScreen
from .toolsurface import SurfaceGuard, may_concern_tools

HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "host", "expect",
    }
)  # fmt: skip
_NO_LENGTH = HOP_BY_HOP
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

    def __init__(
        self, upstream: Upstream, guard: SurfaceGuard | None = None, gate: Gate | None = None
    ) -> None:
        self.upstream = upstream
        self.pool = Pool(upstream)
        self.gate = gate  # None: a remote server, which nothing supervises
        self._origin = upstream.origin.encode()
        self.tools = ToolScreen(guard) if guard is not None else None

    async def handle(self, request: Request, client: Conn) -> bool:
        gate = self.gate
        asked = None
        if self.tools is not None and request.method == "POST" and may_concern_tools(request.body):
            screened = self.tools.request(request, client)
            if screened is None:
                return request.keep_alive  # answered here
            request, asked = screened
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
        return await self._relay(request, response, upstream, client, asked)

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
        self,
        request: Request,
        response: Response,
        upstream: Conn,
        client: Conn,
        asked: Asked | None = None,
    ) -> bool:
        body, length, reusable = _framing(request, response, upstream)
        kind = response.headers.get("content-type")
        if asked and body is not None and 200 <= response.status < 300 and "json" in kind:
            return await self._screened_json(request, response, body, upstream, client, asked)
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
            streaming = request.method == "GET" and "event-stream" in kind
            relay = _Relay(client, upstream, chunked, bytearray(head), fixed=length is not None)
            if self.tools is not None and "event-stream" in kind:
                relay.screen = self.tools.event_screen(asked, relay)
                relay.tools = self.tools
            ok = await self._pump(body, relay, streaming)
            if self.tools is not None:
                self.tools.stream_ended(relay)
        if ok and reusable:
            self.pool.put(upstream)
        else:
            upstream.close()
        return ok and request.keep_alive

    async def _screened_json(
        self,
        request: Request,
        response: Response,
        body: Body,
        upstream: Conn,
        client: Conn,
        asked: Asked,
    ) -> bool:
        """A JSON answer, whole: its tools lists screened, a batch's refusals added."""
        assert self.tools is not None
        parts = []
        try:
            async with contextlib.aclosing(body):
                async for data in body:
                    parts.append(data)
        except (ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
            log(f"upstream answer ended early: {type(exc).__name__}")
            upstream.close()
            respond(client, 502, b"upstream MCP server unavailable\n")
            return False
        raw = self.tools.json_body(b"".join(parts), asked)
        fields = [(k, v) for k, v in response.headers.items if k.lower() not in _NO_LENGTH]
        fields.append(("Content-Length", str(len(raw))))
        client.write(response_head(response.status, fields) + raw)
        if "close" in response.headers.get("connection").lower():
            upstream.close()
        else:
            self.pool.put(upstream)
        return request.keep_alive

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
    fixed: bool = False  # the body has a Content-Length
    screen: EventScreen | None = None  # the tool guard's, on an SSE body
    tools: ToolScreen | None = None
    session: str = ""  # a legacy SSE stream's session, once its endpoint event passed

    def flush(self) -> None:
        if self.out:
            self.client.write(bytes(self.out))
            self.out.clear()

    def inject(self, event: bytes) -> bool:
        """An event of the proxy's own, between two of the server's; False when the body's
        framing (a Content-Length) leaves no room for one."""
        if self.screen is None or self.fixed:
            return False
        if self.screen.partial:
            self.screen.queued.append(event)
        else:
            self.client.write(chunk(event) if self.chunked else event)
        return True

    def _screened(self, data: bytes) -> bytes:
        assert self.screen is not None
        data = self.screen.feed(data)
        if self.screen.endpoint and not self.session and self.tools is not None:
            self.tools.stream_started(self)
        return data

    async def copy(self, body: Body) -> bool:
        """Relay the body; True when all of it went through."""
        try:
            async with contextlib.aclosing(body):
                async for data in body:
                    if self.origin and b"endpoint" in data:
                        data = data.replace(b"data: " + self.origin + b"/", b"data: /")
                    if self.screen is not None:
                        data = self._screened(data)
                    if data:
                        self.out += chunk(data) if self.chunked else data
                    if not self.upstream.buf:
                        self.flush()
                        await self.client.drain()
            if self.screen is not None and (rest := self.screen.flush()):
                self.out += chunk(rest) if self.chunked else rest
            if self.chunked:
                self.out += LAST_CHUNK
            self.flush()
            return True
        except (ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
            log(f"stream relay ended early: {type(exc).__name__}")
            return False
