"""The asyncio lean client for the Docker Engine API: the few calls a proxy makes (stdlib only).

Find the workload's container, attach to its stdin/stdout/stderr (a hijacked connection,
``Upgrade: tcp``), wait for it to stop.  The engine is the one the CLI uses
(:mod:`toolhive_compose.runtime.endpoint`): ``unix://`` and plain ``tcp://`` endpoints.
Requests are written as the CLI's blocking client writes them
(:mod:`toolhive_compose.runtime.engine_http`).
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Mapping
from typing import Any

from ..runtime.engine_http import (
    compact_json,
    error_message,
    request_target,
    tcp_address,
    tls_required,
    unix_path,
)
from .http.wire import Conn, iter_chunked, iter_length, iter_until_eof, read_response_head
from .http.wire import content_length as _length
from .http.wire import is_chunked as _chunked

STDOUT, STDERR = 1, 2
_FRAME = struct.Struct(">BxxxL")


class EngineFailure(Exception):
    """The engine is unreachable or refused a call."""


async def connect(host: str) -> Conn:
    if host.startswith("unix://"):
        reader, writer = await asyncio.open_unix_connection(unix_path(host))
    elif host.startswith("tcp://"):
        if tls_required():
            raise EngineFailure(f"TLS engine endpoints are not supported by the proxy: {host}")
        reader, writer = await asyncio.open_connection(*tcp_address(host))
    else:
        raise EngineFailure(f"unsupported DOCKER_HOST {host!r} (use unix:// or tcp://)")
    return Conn(reader, writer)


def _request(method: str, path: str, extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n{extra}\r\n").encode()


async def call(host: str, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
    """One API call on its own connection; the decoded JSON answer."""
    target = request_target(path, params)
    try:
        conn = await connect(host)
    except OSError as exc:
        raise EngineFailure(f"cannot reach the container engine at {host}: {exc}") from None
    try:
        conn.write(_request(method, target, "Content-Length: 0\r\nConnection: close\r\n"))
        response = await read_response_head(conn)
        if response is None:
            raise EngineFailure(f"the container engine closed the connection ({method} {target})")
        if _chunked(response.headers):
            body = iter_chunked(conn)
        elif (length := _length(response.headers)) is not None:
            body = iter_length(conn, length)
        else:
            body = iter_until_eof(conn)
        data = b"".join([part async for part in body])
    finally:
        conn.close()
    if response.status >= 400:
        message = error_message(data)[:200]
        raise EngineFailure(f"engine answered {response.status} to {method} {target}: {message}")
    return json.loads(data) if data.strip() else None


async def find_container(host: str, name: str) -> dict[str, Any] | None:
    """The workload's container (label ``toolhive-basename=<name>``), running ones first."""
    filters = compact_json({"label": ["toolhive=true", f"toolhive-basename={name}"]})
    found = await call(host, "GET", "/containers/json", {"all": "1", "filters": filters})
    candidates = [c for c in found or [] if isinstance(c, dict)]
    candidates.sort(key=lambda c: (c.get("State") != "running", -int(c.get("Created") or 0)))
    return candidates[0] if candidates else None


async def published_port(host: str, name: str) -> int:
    """The TCP port that running container ``name`` publishes on 127.0.0.1 (0: none)."""
    filters = compact_json({"name": [f"^/{name}$"]})
    found = await call(host, "GET", "/containers/json", {"filters": filters})
    for item in found or []:
        if not isinstance(item, dict) or f"/{name}" not in (item.get("Names") or []):
            continue
        for port in item.get("Ports") or []:
            loopback = port.get("IP") in ("127.0.0.1", "0.0.0.0", "", None)
            if port.get("Type") == "tcp" and port.get("PublicPort") and loopback:
                return int(port["PublicPort"])
    return 0


async def attach(host: str, container_id: str) -> tuple[Conn, bool]:
    """Attach to stdin, stdout and stderr.  The stream carries raw stdin one way and, the
    other way, stdout/stderr multiplexed in frames (see :class:`Demuxer`) unless the
    container has a TTY; the flag says which.  (Engines before API 1.42 call both kinds
    ``raw-stream``, so the container's own TTY setting decides.)"""
    details = await call(host, "GET", f"/containers/{container_id}/json")
    tty = bool(((details or {}).get("Config") or {}).get("Tty"))
    conn = await connect(host)
    streams = {"stream": "1", "stdin": "1", "stdout": "1", "stderr": "1"}
    path = request_target(f"/containers/{container_id}/attach", streams)
    conn.write(_request("POST", path, "Upgrade: tcp\r\nConnection: Upgrade\r\n"))
    response = await read_response_head(conn)
    if response is None or response.status not in (101, 200):
        conn.close()
        status = response.status if response else "no answer"
        raise EngineFailure(f"cannot attach to container {container_id[:12]} ({status})")
    return conn, not tty


async def wait_stopped(host: str, container_id: str) -> None:
    """Return when the container is not running any more."""
    await call(host, "POST", f"/containers/{container_id}/wait", {"condition": "not-running"})


class Demuxer:
    """Split Docker's multiplexed attach stream into (stream, payload) frames.

    Each frame is an 8-byte header — stream type (0 stdin, 1 stdout, 2 stderr), three zero
    bytes, big-endian payload size — then the payload.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        offset = 0
        buf = self._buf
        while len(buf) - offset >= 8:
            stream, size = _FRAME.unpack_from(buf, offset)
            end = offset + 8 + size
            if len(buf) < end:
                break
            frames.append((stream, bytes(buf[offset + 8 : end])))
            offset = end
        del buf[:offset]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)
