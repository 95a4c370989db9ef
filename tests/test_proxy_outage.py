"""What clients see while the server is away, and after it comes back (no Docker).

The stdio bridge and the reverse proxy serve in this process on a free port; the "server"
is a pipe the test writes to (stdio) or nothing at all (HTTP), and the gate is closed and
opened as the supervisor would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.proxy_helpers import free_port
from toolhive_compose.proxy.http.outage import Gate
from toolhive_compose.proxy.http.server import serve_connection
from toolhive_compose.proxy.http.wire import Conn, Request, respond
from toolhive_compose.proxy.transports.bridge import Bridge
from toolhive_compose.proxy.transports.reverse import ReverseProxy, Upstream
from toolhive_compose.proxy.transports.stdio import StdioApp

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange (Connection: close): status, headers (lower-case), body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {**JSON, **(headers or {})}.items()]
    lines.append(f"Content-Length: {len(data)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *fields = head.decode().split("\r\n")
    found = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), found, payload


async def serving(handler: Callable[[Request, Conn], Awaitable[bool]]) -> tuple[int, Any]:
    port = free_port()
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, handler), "127.0.0.1", port
    )
    return port, server


class FakeServer:
    """The server's stdin as the bridge writes it; the test answers for the server."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.lines += [json.loads(line) for line in data.splitlines() if line.strip()]

    async def drain(self) -> None:
        return None


def test_requests_in_flight_get_an_error_and_a_new_process_ends_the_sessions() -> None:
    async def scenario() -> None:
        first, second = FakeServer(), FakeServer()
        bridge = Bridge(first.write, first.drain)
        port, server = await serving(StdioApp(bridge, sse=False).handle)
        init = asyncio.ensure_future(request(port, "POST", "/mcp", INIT))
        while not first.lines:
            await asyncio.sleep(0.01)
        answer = {"jsonrpc": "2.0", "id": first.lines[0]["id"], "result": {}}
        bridge.on_line(json.dumps(answer).encode())
        status, headers, _ = await init
        session = headers["mcp-session-id"]
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow"}}
        pending = asyncio.ensure_future(
            request(port, "POST", "/mcp", call, {"Mcp-Session-Id": session})
        )
        while len(first.lines) < 2:
            await asyncio.sleep(0.01)

        bridge.detach("the container stopped (exit code 137)", retry_after=2)
        status, _, body = await pending
        error = json.loads(body.split(b"data: ")[-1].split(b"\n")[0])  # one SSE event
        assert error["id"] == 7 and error["error"]["code"] == -32603
        assert "went away before answering: the container stopped" in error["error"]["message"]

        status, headers, body = await request(port, "POST", "/mcp", {**call, "id": 8},
                                              {"Mcp-Session-Id": session})  # fmt: skip
        assert status == 503 and headers["retry-after"] == "2"
        doc = json.loads(body)
        assert doc["id"] == 8 and doc["error"]["code"] == -32000
        assert (
            "unavailable: the container stopped (exit code 137); retry in 2s"
            in doc["error"]["message"]
        )

        bridge.attach(second.write, second.drain, new_process=True)
        status, _, body = await request(port, "POST", "/mcp", call, {"Mcp-Session-Id": session})
        assert status == 404, "the old session is gone: the client initialises again"
        assert json.loads(body)["error"]["message"] == "Session not found"
        server.close()

    asyncio.run(scenario())


def test_the_same_process_keeps_its_sessions() -> None:
    async def scenario() -> None:
        server_side = FakeServer()
        bridge = Bridge(server_side.write, server_side.drain)
        session = bridge.new_session()
        bridge.detach("lost the container engine", retry_after=1)
        assert not bridge.gate.open
        bridge.attach(server_side.write, server_side.drain, new_process=False)
        assert bridge.gate.open and session.id in bridge.sessions
        bridge.detach("again")
        bridge.attach(server_side.write, server_side.drain, new_process=True)
        assert session.id not in bridge.sessions

    asyncio.run(scenario())


async def _answer_200(request: Request, conn: Conn) -> bool:
    respond(conn, 200, b"still here")
    return request.keep_alive


def test_reverse_proxy_answers_503_when_the_server_cannot_be_reached() -> None:
    async def scenario() -> None:
        dead = Upstream.from_url(f"http://127.0.0.1:{free_port()}")
        gate = Gate()
        port, server = await serving(ReverseProxy(dead, gate=gate).handle)
        gate.close("the container engine is unreachable (connection refused)", 3)
        status, headers, body = await request(port, "POST", "/mcp", INIT)
        assert (status, headers["retry-after"]) == (503, "3")
        assert json.loads(body)["id"] == 1
        assert "engine is unreachable" in json.loads(body)["error"]["message"]

        gate.reopen()  # open, but nothing listens: refused for 3 s of retries, then 503
        status, headers, body = await request(port, "GET", "/mcp")
        assert (status, headers["retry-after"]) == (503, "1")
        assert json.loads(body)["id"] is None
        server.close()

        remote, _ = await serving(ReverseProxy(dead).handle)  # a remote server: ToolHive's 502
        status, _, _ = await request(remote, "POST", "/mcp", INIT)
        assert status == 502

        alive_port, alive = await serving(_answer_200)  # the engine is away, the server is not
        gate.close("the container engine is unreachable (connection refused)", 3)
        port, server = await serving(
            ReverseProxy(Upstream.from_url(f"http://127.0.0.1:{alive_port}"), gate=gate).handle
        )
        status, _, body = await request(port, "GET", "/ok")
        assert (status, body) == (200, b"still here"), "a server that outlives its engine serves"
        server.close()
        alive.close()

    asyncio.run(scenario())
