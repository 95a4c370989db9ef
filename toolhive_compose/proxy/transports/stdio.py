"""HTTP endpoints in front of a stdio server: streamable HTTP at ``/mcp``, legacy SSE.

Streamable HTTP (MCP 2025-03-26 and later): ``POST /mcp`` carries client messages (an
``initialize`` opens a session named by the ``Mcp-Session-Id`` response header;
notifications and responses get 202; requests are answered as an SSE stream when the
client accepts one, else as JSON); ``GET /mcp`` opens the session's stream for
server-initiated messages; ``DELETE /mcp`` ends the session.

Legacy SSE (``proxy_mode: sse``): ``GET /sse`` opens a session whose first event,
``endpoint``, names ``/messages?session_id=…``; ``POST`` there is answered 202 and the
replies arrive on the SSE stream.

While the server is away (:attr:`Bridge.gate` closed) every request but ``DELETE`` is
answered 503 with ``Retry-After`` (:mod:`..http.outage`); ``/health`` says so too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..http.outage import respond_unavailable
from ..http.server import (
    SSE_END,
    SSE_HEADERS,
    SSE_PING,
    json_response,
    sse_event,
    sse_message,
    start_sse,
    wait_client_gone,
)
from ..http.wire import Conn, Request, respond, response_head
from .bridge import PING, Bridge, Session, Sink
from .jsonrpc import is_request, is_response, parse_messages
from .toolsurface import refuse_single

PING_INTERVAL = 20.0
SESSION_MAX_IDLE = 3600.0
SESSION_HEADER = "mcp-session-id"


def _error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


class StdioApp:
    """The proxy application for a stdio server (``bridge`` owns the server's stdio)."""

    def __init__(self, bridge: Bridge, *, sse: bool) -> None:
        self.bridge = bridge
        self.sse = sse

    async def handle(self, request: Request, conn: Conn) -> bool:
        path = request.path.rstrip("/") or "/"
        method = request.method
        gate = self.bridge.gate
        if not gate.open and method != "DELETE":
            respond_unavailable(conn, request, gate.reason, gate.retry_after)
            return request.keep_alive
        if path == "/mcp":
            if method == "POST":
                return await self._post(request, conn)
            if method == "GET":
                return await self._get(request, conn)
            if method == "DELETE":
                return self._delete(request, conn)
            respond(conn, 405, b"method not allowed\n", headers=[("Allow", "GET, POST, DELETE")])
        elif self.sse and path == "/sse" and method == "GET":
            return await self._legacy_stream(conn)
        elif self.sse and path == "/messages" and method == "POST":
            return await self._legacy_post(request, conn)
        elif path == "/health" and method == "GET":
            json_response(conn, 200, {"status": "ok"})
        else:
            respond(conn, 404, b"not found\n")
        return request.keep_alive

    async def janitor(self) -> None:
        """End abandoned sessions now and then."""
        while True:
            await asyncio.sleep(60)
            self.bridge.expire(SESSION_MAX_IDLE)

    # -- streamable HTTP -----------------------------------------------------------------
    async def _post(self, request: Request, conn: Conn) -> bool:
        try:
            messages, batch = parse_messages(request.body)
        except ValueError:
            json_response(conn, 400, _error(-32700, "Parse error"))
            return request.keep_alive
        screening = self.bridge.screen(messages)
        if not batch and screening.answers:  # a refused tools/call, answered as ToolHive does
            refuse_single(conn, screening, request.headers.get("accept"))
            return request.keep_alive
        requests = [m for m in messages if is_request(m)]
        if any(m.get("method") == "initialize" for m in requests):
            session: Session | None = self.bridge.new_session()
        else:
            session = self._session(request, conn, required=False)
        if session is None:
            return request.keep_alive
        headers = [("Mcp-Session-Id", session.id)] if session.id else []
        sink = Sink() if requests else None
        self.bridge.forward(session, screening, sink)
        await self.bridge.drain()
        if sink is None:
            respond(conn, 202, headers=headers)
        elif "text/event-stream" in request.headers.get("accept"):
            await self._stream_answers(conn, session, sink, len(requests), headers)
        else:
            await self._json_answers(conn, session, sink, len(requests), batch, headers)
        return request.keep_alive

    async def _stream_answers(
        self, conn: Conn, session: Session, sink: Sink, count: int, headers: list[tuple[str, str]]
    ) -> None:
        """Answer as an SSE stream: messages for this request, then its response(s).  What
        is ready together is written together (the head with the first event, the last
        event with the end of the body)."""
        session.posts.append(sink)
        out = bytearray(response_head(200, SSE_HEADERS + headers))
        try:
            while count and (item := await sink.queue.get()) is not None:
                out += sse_message(item)
                count -= is_response(item)
                if count and sink.queue.empty():
                    conn.write(bytes(out))
                    out.clear()
                    await conn.drain()
            conn.write(bytes(out + SSE_END))
        finally:
            sink.closed = True
            with contextlib.suppress(ValueError):
                session.posts.remove(sink)

    async def _json_answers(
        self,
        conn: Conn,
        session: Session,
        sink: Sink,
        count: int,
        batch: bool,
        headers: list[tuple[str, str]],
    ) -> None:
        answers: list[Any] = []
        while len(answers) < count and (item := await sink.queue.get()) is not None:
            if is_response(item):
                answers.append(item)
            else:
                session.deliver(item)
        sink.closed = True
        if len(answers) < count:
            json_response(conn, 404, _error(-32001, "Session terminated"), headers)
        else:
            json_response(conn, 200, answers if batch else answers[0], headers)

    async def _get(self, request: Request, conn: Conn) -> bool:
        session = self._session(request, conn, required=True)
        if session is None:
            return request.keep_alive
        if "text/event-stream" not in request.headers.get("accept"):
            respond(conn, 406, b"GET /mcp needs Accept: text/event-stream\n")
            return request.keep_alive
        if session.stream is not None and not session.stream.closed:
            respond(conn, 409, b"this session already has an open stream\n")
            return request.keep_alive
        sink = Sink()
        session.open_stream(sink)
        start_sse(conn, [("Mcp-Session-Id", session.id)])
        await _pump(conn, sink)
        if session.stream is sink:
            session.stream = None
        return False

    def _delete(self, request: Request, conn: Conn) -> bool:
        session = self._session(request, conn, required=True)
        if session is not None:
            self.bridge.end_session(session)
            respond(conn, 200)
        return request.keep_alive

    def _session(self, request: Request, conn: Conn, *, required: bool) -> Session | None:
        """The request's session, or None after answering 400/404."""
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            if not required:
                return self.bridge.anonymous
            json_response(conn, 400, _error(-32600, "Bad Request: Mcp-Session-Id header required"))
            return None
        session = self.bridge.sessions.get(session_id)
        if session is None or session.legacy_sse:
            json_response(conn, 404, _error(-32001, "Session not found"))
            return None
        return session

    # -- legacy SSE ----------------------------------------------------------------------
    async def _legacy_stream(self, conn: Conn) -> bool:
        session = self.bridge.new_session(legacy_sse=True)
        sink = Sink()
        session.open_stream(sink)
        try:
            start_sse(conn)
            conn.write(sse_event(f"/messages?session_id={session.id}", "endpoint"))
            await conn.drain()
            await _pump(conn, sink)
        finally:
            self.bridge.end_session(session)
        return False

    async def _legacy_post(self, request: Request, conn: Conn) -> bool:
        session_id = _query_value(request.query, "session_id") or _query_value(
            request.query, "sessionId"
        )
        session = self.bridge.sessions.get(session_id) if session_id else None
        if session is None or not session.legacy_sse or session.stream is None:
            respond(conn, 404 if session_id else 400, b"Could not find session\n")
            return request.keep_alive
        try:
            messages, _ = parse_messages(request.body)
        except ValueError:
            respond(conn, 400, b"Could not parse message\n")
            return request.keep_alive
        self.bridge.forward(session, messages, session.stream)
        await self.bridge.drain()
        respond(conn, 202, b"Accepted")
        return request.keep_alive


async def _pump(conn: Conn, sink: Sink) -> None:
    """Write a long-lived stream until the sink ends or the client goes away."""

    async def ping() -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL)
            sink.put(PING)

    async def watch() -> None:
        await wait_client_gone(conn)
        sink.close()

    helpers = [asyncio.ensure_future(ping()), asyncio.ensure_future(watch())]
    try:
        while (item := await sink.queue.get()) is not None:
            conn.write(SSE_PING if item is PING else sse_message(item))
            await conn.drain()
        if not conn.writer.is_closing():
            conn.write(SSE_END)
    except (ConnectionError, OSError):
        pass
    finally:
        sink.closed = True
        for task in helpers:
            task.cancel()


def _query_value(query: str, key: str) -> str:
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == key:
            return value
    return ""
