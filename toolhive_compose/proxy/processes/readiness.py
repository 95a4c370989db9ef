"""Readiness: an MCP ``initialize`` → ``notifications/initialized`` → ``tools/list`` round trip.

A small synchronous client (stdlib ``http.client``) for both proxy modes: streamable HTTP
(``POST`` the URL; answers as JSON or SSE) and legacy SSE (``GET`` the stream, ``POST`` to
the ``endpoint`` it names).  :func:`wait_ready` retries until the deadline: the proxy may
not be listening yet, and an HTTP server inside a container may not be either (502).  It
returns the tools listed (every page, following ``nextCursor``): the surface a client sees.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from ... import cancel

PROTOCOL_VERSION = "2025-06-18"
MAX_PAGES = 100
ACCEPT = "application/json, text/event-stream"
CLIENT_INFO = {"name": "toolhive-compose-readiness", "version": "1"}


class NotReady(Exception):
    """The server did not complete the round trip (yet)."""


class Unauthorized(NotReady):
    """The server answered 401: it needs credentials the proxy does not have."""


class ProxyExited(NotReady):
    """The proxy process ended while readiness was awaited."""


def wait_ready(
    url: str, *, sse: bool, timeout: float, alive: Callable[[], bool] = lambda: True
) -> list[dict[str, Any]]:
    """The tools listed once the server answers through ``url``; NotReady at the deadline
    (:class:`~toolhive_compose.errors.Cancelled` at once if the current work is cancelled)."""
    deadline = time.monotonic() + timeout
    probe = probe_sse if sse else probe_streamable
    delay, last = 0.05, "no answer"
    while True:
        cancel.checkpoint()
        if not alive():
            raise ProxyExited(f"the proxy exited ({last})")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotReady(last)
        try:
            return probe(url, cancel.io_timeout(remaining))
        except Unauthorized:
            raise
        except (OSError, http.client.HTTPException, NotReady, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        cancel.sleep(max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.1)  # servers start in ~0.5-1 s: poll finely


def _connect(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=max(timeout, 0.1))
    return conn, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _message(method: str, msg_id: int | None = None, cursor: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if method == "initialize":
        msg["params"] = {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO
        }  # fmt: skip
    elif cursor is not None:
        msg["params"] = {"cursor": cursor}
    if msg_id is not None:
        msg["id"] = msg_id
    return msg


def _check(response: http.client.HTTPResponse, what: str) -> None:
    if response.status == 401:
        raise Unauthorized(f"{what}: the server requires authentication (401)")
    if response.status >= 300:
        body = response.read(200).decode(errors="replace").strip()
        raise NotReady(f"{what}: HTTP {response.status} {body}".rstrip())


def _sse_messages(response: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream response, as they arrive."""
    event, data = "message", list[str]()
    while True:
        line = response.readline()
        if not line:
            return
        text = line.decode().rstrip("\r\n")
        if not text:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif text.startswith("data:"):
            data.append(text[5:].removeprefix(" "))
        elif text.startswith("event:"):
            event = text[6:].strip()


def _answer(response: http.client.HTTPResponse, msg_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to ``msg_id`` in a JSON or SSE response body."""
    if response.getheader("content-type", "").startswith("text/event-stream"):
        for event, data in _sse_messages(response):
            doc = json.loads(data) if event == "message" else None
            if isinstance(doc, dict) and doc.get("id") == msg_id:
                return _result(doc)
        raise NotReady("the SSE answer ended without a response")
    return _result(json.loads(response.read()))


def _result(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or "error" in doc:
        error = doc.get("error") if isinstance(doc, dict) else doc
        raise NotReady(f"the server answered with an error: {error}")
    return doc.get("result") or {}


def _pages(ask: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """Every page of ``tools/list`` (``ask`` sends one request and returns its result)."""
    tools: list[dict[str, Any]] = []
    cursor = None
    for page in range(MAX_PAGES):
        result = ask(_message("tools/list", 2 + page, cursor))
        listed = result.get("tools")
        if not isinstance(listed, list):
            raise NotReady("the tools/list answer has no tools")
        tools += [t for t in listed if isinstance(t, dict)]
        cursor = result.get("nextCursor")
        if not cursor:
            return tools
    raise NotReady(f"tools/list still had more pages after {MAX_PAGES}")


def probe_streamable(url: str, timeout: float) -> list[dict[str, Any]]:
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}

    def call(method: str, msg: dict[str, Any] | None) -> dict[str, Any] | None:
        """One request on its own connection (an SSE answer may not be read to its end)."""
        conn, path = _connect(url, timeout)
        try:
            conn.request(method, path, json.dumps(msg) if msg else None, headers)
            response = conn.getresponse()
            if msg is None:
                return None
            _check(response, msg["method"])
            if method == "POST" and "id" in msg:
                if session := response.getheader("mcp-session-id"):
                    headers["Mcp-Session-Id"] = session
                return _answer(response, msg["id"])
            return None
        finally:
            conn.close()

    result = call("POST", _message("initialize", 1)) or {}
    headers["MCP-Protocol-Version"] = str(result.get("protocolVersion") or PROTOCOL_VERSION)
    call("POST", _message("notifications/initialized"))
    tools = _pages(lambda msg: call("POST", msg) or {})
    if "Mcp-Session-Id" in headers:
        call("DELETE", None)
    return tools


def probe_sse(url: str, timeout: float) -> list[dict[str, Any]]:
    stream_conn, path = _connect(url, timeout)
    try:
        stream_conn.request("GET", path, headers={"Accept": "text/event-stream"})
        stream = stream_conn.getresponse()
        _check(stream, "GET")
        events = _sse_messages(stream)
        endpoint = next((data for event, data in events if event == "endpoint"), None)
        if endpoint is None:
            raise NotReady("the SSE stream sent no endpoint event")
        post_url = urljoin(url, endpoint)

        def ask(msg: dict[str, Any]) -> dict[str, Any]:
            _post_sse(post_url, msg, timeout)
            return _await_sse(events, msg["id"]) if "id" in msg else {}

        ask(_message("initialize", 1))
        ask(_message("notifications/initialized"))
        return _pages(ask)
    finally:
        stream_conn.close()


def _post_sse(url: str, msg: dict[str, Any], timeout: float) -> None:
    conn, path = _connect(url, timeout)
    try:
        conn.request("POST", path, json.dumps(msg), {"Content-Type": "application/json"})
        response = conn.getresponse()
        _check(response, msg["method"])
        response.read()
    finally:
        conn.close()


def _await_sse(events: Iterator[tuple[str, str]], msg_id: int) -> dict[str, Any]:
    for event, data in events:
        doc = json.loads(data) if event == "message" else None
        if isinstance(doc, dict) and doc.get("id") == msg_id:
            return _result(doc)
    raise NotReady("the SSE stream ended before the answer")
