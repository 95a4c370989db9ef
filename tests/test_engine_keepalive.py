"""The lean engine client keeps one connection per thread open between requests, and sends a
request again on a new connection when the engine had closed the kept one.

The engine here is a small HTTP/1.1 server on a unix socket that counts the connections it
accepts and the requests it answers; it can close each connection after its answer without
saying so (as an engine that restarted between two requests looks to the client).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolhive_compose.errors import EngineUnavailable
from toolhive_compose.runtime import engine_sync


class _Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _Handler)
        self.connections = 0
        self.requests: list[str] = []
        self.drop_after_answer = False
        self.lock = threading.Lock()
        self.open: list[object] = []  # the accepted sockets

    def kill(self) -> None:
        """Gone as a crashed engine is: no listener, every connection closed."""
        self.shutdown()
        self.server_close()
        with self.lock:
            for sock in self.open:
                with contextlib.suppress(OSError):  # closed already
                    sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Engine

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.server.open.append(self.request)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path}")
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if self.server.drop_after_answer:
            self.close_connection = True  # closed without a "Connection: close"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[_Engine, str]]:
    path = tmp_path / "engine.sock"
    server = _Engine(str(path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"unix://{path}"
    finally:
        server.kill()


def test_one_connection_carries_a_thread_s_requests(engine: tuple[_Engine, str]) -> None:
    server, host = engine
    for i in range(10):
        assert engine_sync.call(host, "GET", f"/containers/c{i}/json") == {
            "path": f"/containers/c{i}/json"
        }
    engine_sync.call(host, "POST", "/containers/create", body={"Image": "x"})
    assert server.connections == 1
    assert len(server.requests) == 11


def test_each_thread_has_its_own_connection(engine: tuple[_Engine, str]) -> None:
    server, host = engine
    barrier = threading.Barrier(3, timeout=10)

    def work() -> None:
        engine_sync.call(host, "GET", "/one")
        barrier.wait()  # all three connected before any makes its second request
        engine_sync.call(host, "GET", "/two")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert server.connections == 3
    assert sorted(server.requests) == ["GET /one"] * 3 + ["GET /two"] * 3


def test_a_connection_the_engine_closed_is_replaced_and_the_request_sent_once(
    engine: tuple[_Engine, str],
) -> None:
    server, host = engine
    server.drop_after_answer = True
    for i in range(5):
        engine_sync.call(host, "POST", f"/containers/c{i}/start")
    assert server.requests == [f"POST /containers/c{i}/start" for i in range(5)]
    assert server.connections == 5


def test_an_engine_gone_for_good_is_unavailable(engine: tuple[_Engine, str]) -> None:
    server, host = engine
    engine_sync.call(host, "GET", "/_ping")  # a kept connection to the engine that goes
    server.kill()
    Path(host.removeprefix("unix://")).unlink()
    with pytest.raises(EngineUnavailable, match="cannot reach the container engine"):
        engine_sync.call(host, "GET", "/_ping")
