"""The proxy's HTTP/1.1 server: one keep-alive loop per client connection.

An application is one coroutine ``handle(request, conn) -> keep_alive``.  It writes its
response on ``conn`` itself, so streaming responses (SSE) need nothing special here; the
helpers below write Server-Sent Events over a chunked body.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .wire import LAST_CHUNK, Conn, HttpError, Request, chunk, read_request, respond, response_head

Handler = Callable[[Request, Conn], Awaitable[bool]]
# The tasks serving connections: the streams module drops its reference to a connection's task
# when the client hangs up, and a task nothing references may be collected while it still
# waits (on an upstream, say): "Task was destroyed but it is pending!".
_SERVING: set[asyncio.Task[Any]] = set()
SSE_HEADERS = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("Transfer-Encoding", "chunked"),
]


def log(message: str) -> None:
    """One timestamped line on stderr, which is the proxy log file when detached."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    sys.stderr.write(f"{stamp} {message}\n")
    sys.stderr.flush()


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Answer requests on one connection until either side closes it."""
    conn = Conn(reader, writer)
    task = asyncio.current_task()
    if task is not None:
        _SERVING.add(task)
        task.add_done_callback(_SERVING.discard)
    try:
        while True:
            try:
                request = await read_request(conn)
            except HttpError as exc:
                respond(conn, exc.status, f"{exc}\n".encode(), keep_alive=False)
                await conn.drain()
                return
            if request is None:
                return
            if not await handler(request, conn) or not request.keep_alive:
                await conn.drain()
                return
            await conn.drain()
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
        pass
    except asyncio.CancelledError:  # the proxy is shutting down: end quietly
        pass
    except Exception as exc:  # a bug in a handler must not take the proxy down
        log(f"error: request handler failed: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def json_response(
    conn: Conn, status: int, doc: Any, headers: list[tuple[str, str]] | None = None
) -> None:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    respond(conn, status, body, content_type="application/json", headers=headers)


def start_sse(conn: Conn, headers: list[tuple[str, str]] | None = None) -> None:
    """Send the head of a 200 text/event-stream response."""
    conn.write(response_head(200, SSE_HEADERS + list(headers or [])))


def sse_event(data: str, event: str = "message") -> bytes:
    """One SSE event as a chunk of the response body."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return chunk(f"event: {event}\n{lines}\n".encode())


def sse_message(message: Any) -> bytes:
    return sse_event(json.dumps(message, separators=(",", ":"), ensure_ascii=False))


SSE_PING = chunk(b": ping\n\n")
SSE_END = LAST_CHUNK


async def wait_client_gone(conn: Conn) -> None:
    """Return once the client closed its side (bytes it sends meanwhile stay buffered)."""
    try:
        while await conn.fill():
            pass
    except (ConnectionError, OSError):
        pass
