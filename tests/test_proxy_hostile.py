"""Malformed and hostile HTTP against the real proxy process: 4xx or a closed connection,
never a crash, and every other client keeps being served.

One detached proxy (a remote workload in front of a local FastMCP server, no Docker) takes
oversized heads, bad chunk sizes, request-smuggling framings (``Transfer-Encoding`` with
``Content-Length``, two lengths, unknown codings), broken request lines and header fields,
garbage bytes and clients that trickle or abandon a request, while an MCP client talks to
it through the official SDK before, during and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.proxy_helpers import TOOLS, mcp_round_trip
from tests.test_proxy_local import local_servers, remote_spec
from toolhive_compose.fingerprint import canonical
from toolhive_compose.proxy.http import wire
from toolhive_compose.proxy.http.server import serve_connection
from toolhive_compose.proxy.http.wire import Conn, Request, respond
from toolhive_compose.proxy.processes.procfs import pid_alive
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

HEAD = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40 + b"\r\n\r\n"
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'

# (what, bytes sent, the status the proxy must answer before it closes)
HOSTILE: list[tuple[str, bytes, int]] = [
    ("oversized head", HEAD + b"X-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n", 431),
    ("too many header bytes", HEAD + b"X-H: v\r\n" * 12_000 + b"\r\n", 431),
    ("chunk size not hex", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
    ("negative chunk size", HEAD + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nab\r\n0\r\n\r\n", 400),
    ("0x chunk size", HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n", 400),
    ("chunk size with _", HEAD + b"Transfer-Encoding: chunked\r\n\r\n1_0\r\nab\r\n0\r\n\r\n", 400),
    ("17-digit chunk size", CHUNKED + b"f" * 17 + b"\r\n", 400),
    ("chunk over the body limit", HEAD + b"Transfer-Encoding: chunked\r\n\r\nfffffffff\r\nab", 413),
    ("chunk without CRLF", HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", 400),
    ("TE and CL", HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two lengths", HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("gzip coding", HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("xchunked coding", HEAD + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501),
    ("non-ASCII digit length", HEAD + b"Content-Length: \xb2\r\n\r\nab", 400),
    ("negative length", HEAD + b"Content-Length: -1\r\n\r\n", 400),
    ("huge length", HEAD + b"Content-Length: 99999999999\r\n\r\n", 413),
    ("space before colon", HEAD + b"Content-Length : 2\r\n\r\n{}", 400),
    ("folded header", HEAD + b"X-A: 1\r\n  continued\r\nContent-Length: 2\r\n\r\n{}", 400),
    ("no header colon", HEAD + b"Content-Length 2\r\n\r\n{}", 400),
    ("bad request line", b"POST  /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    ("HTTP/2 request line", b"POST /mcp HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505),
    ("TLS hello on plain HTTP", TLS_HELLO, 400),
]  # fmt: skip


def exchange(port: int, payload: bytes, timeout: float = 10.0) -> tuple[int | None, bool]:
    """Send ``payload``; (the answer's status or None, whether the proxy then closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # it may refuse before it has read everything: the answer is still there
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
        except TimeoutError:
            return _status(received), False
    return _status(received), True


def _status(received: bytes) -> int | None:
    parts = received.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@pytest.fixture
def proxy_port() -> Iterator[tuple[int, int, Store]]:
    """(port, pid, store) of a real detached proxy in front of a local FastMCP server."""
    with ExitStack() as stack:
        start = stack.enter_context(local_servers())
        upstream = start("streamable-http")
        store = Store.from_env()
        lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]  # remote: no engine
        spec = remote_spec("hostile", f"http://127.0.0.1:{upstream}/mcp")
        port = lifecycle.create(spec, canonical(spec), project="p")["port"]
        stack.callback(lifecycle.delete, "hostile", "")
        status = store.statuses.get("hostile")
        assert status is not None and pid_alive(status.process_id)
        yield port, status.process_id, store


def test_proxy_answers_hostile_http_with_4xx_and_keeps_serving(
    proxy_port: tuple[int, int, Store],
) -> None:
    port, pid, store = proxy_port
    url = f"http://127.0.0.1:{port}/mcp"
    assert asyncio.run(mcp_round_trip(url)) == (TOOLS, "hello")
    # clients that start a request and go quiet, or stop mid-body, hold no one up
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    slow[0].sendall(HEAD[:20])
    slow[1].sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + PING)
    slow[2].sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc")
    try:
        answers = {what: exchange(port, payload) for what, payload, _ in HOSTILE}
        assert answers == {what: (status, True) for what, _, status in HOSTILE}
        assert asyncio.run(mcp_round_trip(url, text="while slow")) == (TOOLS, "while slow")
    finally:
        for sock in slow:
            sock.close()
    with socket.create_connection(("127.0.0.1", port)) as sock:  # gone mid-body
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n" + PING[:10])
    assert asyncio.run(mcp_round_trip(url, text="after")) == (TOOLS, "after")
    assert pid_alive(pid)
    log = (store.paths.logs / "hostile.log").read_text()
    assert "request handler failed" not in log and "Traceback" not in log


def test_a_request_that_trickles_in_is_answered_408(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole request must arrive within REQUEST_TIMEOUT of its first byte; waiting idle
    for the next request on a kept-alive connection is not limited."""
    monkeypatch.setattr(wire, "REQUEST_TIMEOUT", 0.3)

    async def handler(request: Request, conn: Conn) -> bool:
        respond(conn, 200, request.body)
        return request.keep_alive

    async def scenario() -> tuple[bytes, bytes]:
        server = await asyncio.start_server(
            lambda r, w: serve_connection(r, w, handler), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(0.5)  # idle before the first byte: fine
            writer.write(HEAD + b"Content-Length: 2\r\n\r\n{}")
            first = await reader.readuntil(b"{}")
            writer.write(HEAD[:10])  # then a request that never completes
            second = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return first, second
        finally:
            server.close()

    first, second = asyncio.run(scenario())
    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in second
