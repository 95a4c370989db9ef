"""The raw sides of the proxy bench: no proxy, no MCP SDK, nothing of ``toolhive_compose``.

- :class:`RawStdio`: one container's stdin/stdout over the Engine API's attach (a hijacked
  ``POST /containers/<id>/attach`` on the engine's unix socket, stdout in 8-byte-header
  frames), driven line by line — the floor for a stdio server: "the server driven over its
  own stdio by one raw process".
- :class:`RawHttp`: JSON-RPC over one keep-alive ``http.client`` connection, as lean as a
  Python client gets (used for the stdio bridge, where the raw side has no HTTP at all).
- :func:`private_kib`, :func:`cpu_seconds`: ``/proc`` accounting of a process.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
from typing import Any

INIT = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bench", "version": "1"}},
}  # fmt: skip
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def call_msg(i: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": f"m{i}"}}}  # fmt: skip


def engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        raise SystemExit(f"the raw stdio driver needs a unix socket engine, not {host}")
    return host[len("unix://") :]


class RawStdio:
    """A container's stdio, attached through the Engine API (the container has no TTY)."""

    def __init__(self, container_id: str, timeout: float = 60) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(engine_socket())
        self.sock.sendall(
            f"POST /containers/{container_id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
            "Host: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("the engine closed the attach")
            head += data
        status = head.split(b" ", 2)[1]
        if status not in (b"101", b"200"):
            raise ConnectionError(f"attach answered {status.decode()}")
        self.raw = bytearray(head.partition(b"\r\n\r\n")[2])  # framed bytes
        self.out = bytearray()  # stdout, unframed
        self.next_id = 100

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def line(self) -> bytes:
        """The next line the server wrote on stdout."""
        while (end := self.out.find(b"\n")) < 0:
            self._read_frames()
        line = bytes(self.out[:end])
        del self.out[: end + 1]
        return line

    def _read_frames(self) -> None:
        while True:
            if len(self.raw) >= 8:
                kind, size = struct.unpack(">BxxxL", self.raw[:8])
                if len(self.raw) >= 8 + size:
                    if kind == 1:
                        self.out += self.raw[8 : 8 + size]
                    del self.raw[: 8 + size]
                    return
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the container's stdout closed")
            self.raw += data

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request; its response (other lines are skipped)."""
        self.send(message)
        while True:
            answer = json.loads(self.line())
            if answer.get("id") == message["id"] and "method" not in answer:
                return dict(answer)

    def initialize(self) -> None:
        self.request(INIT)
        self.send(INITIALIZED)

    def close(self) -> None:
        self.sock.close()


class RawHttp:
    """JSON-RPC over one keep-alive HTTP/1.1 connection (``http.client``)."""

    def __init__(self, url: str) -> None:
        hostport, _, path = url.removeprefix("http://").partition("/")
        host, _, port = hostport.partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.path = "/" + path
        self.headers = {"Accept": "application/json, text/event-stream",
                        "Content-Type": "application/json"}  # fmt: skip

    def post(self, message: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(message, separators=(",", ":")).encode()
        self.conn.request("POST", self.path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        status, headers, body = self.post(message)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        if headers.get("Content-Type", headers.get("content-type", "")).startswith(
            "text/event-stream"
        ):
            for line in body.decode().splitlines():
                if line.startswith("data:"):
                    return dict(json.loads(line[5:]))
            raise RuntimeError("no data in the SSE answer")
        return dict(json.loads(body))

    def initialize(self) -> None:
        status, headers, body = self.post(INIT)
        if status != 200:
            raise RuntimeError(f"initialize: HTTP {status}: {body[:200]!r}")
        for name, value in headers.items():
            if name.lower() == "mcp-session-id":
                self.headers["Mcp-Session-Id"] = value
        self.post(INITIALIZED)

    def close(self) -> None:
        self.conn.close()


def private_kib(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup``: Private (Private_Clean + Private_Dirty), Pss and Rss, KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name.strip()] = int(rest.split()[0])
    return {
        "private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "pss": fields.get("Pss", 0),
        "rss": fields.get("Rss", 0),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
