"""The few Docker Engine API calls a proxy makes, over asyncio (stdlib only).

Find the workload's container, attach to its stdin/stdout/stderr (a hijacked connection,
``Upgrade: tcp``), wait for it to stop.  The engine is the one the CLI uses
(:mod:`toolhive_compose.runtime.endpoint`): ``unix://`` and plain ``tcp://`` endpoints.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from typing import Any
from urllib.parse import quote

from ..runtime.endpoint import engine_host
from .httpio import Conn, iter_chunked, iter_length, iter_until_eof, read_response_head
from .httpio import content_length as _length
from .httpio import is_chunked as _chunked

STDOUT, STDERR = 1, 2
_FRAME = struct.Struct(">BxxxL")


class EngineFailure(Exception):
    """The engine is unreachable or refused a call."""


def docker_host() -> str:
    return engine_host()


async def connect(host: str) -> Conn:
    if host.startswith("unix://"):
        reader, writer = await asyncio.open_unix_connection(host[len("unix://") :])
    elif host.startswith("tcp://"):
        if os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0"):
            raise EngineFailure(f"TLS engine endpoints are not supported by the proxy: {host}")
        address, _, port = host[len("tcp://") :].rstrip("/").rpartition(":")
        reader, writer = await asyncio.open_connection(address.strip("[]"), int(port or 2375))
    else:
        raise EngineFailure(f"unsupported DOCKER_HOST {host!r} (use unix:// or tcp://)")
    return Conn(reader, writer)


def _request(method: str, path: str, extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: docker\r\n{extra}\r\n").encode()


async def call(host: str, method: str, path: str) -> Any:
    """One API call on its own connection; the decoded JSON answer."""
    try:
        conn = await connect(host)
    except OSError as exc:
        raise EngineFailure(f"cannot reach the container engine at {host}: {exc}") from None
    try:
        conn.write(_request(method, path, "Content-Length: 0\r\nConnection: close\r\n"))
        response = await read_response_head(conn)
        if response is None:
            raise EngineFailure(f"the container engine closed the connection ({method} {path})")
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
        raise EngineFailure(f"engine answered {response.status} to {method} {path}: {_msg(data)}")
    return json.loads(data) if data.strip() else None


async def find_container(host: str, name: str) -> dict[str, Any] | None:
    """The workload's container (label ``toolhive-basename=<name>``), running ones first."""
    filters = json.dumps({"label": ["toolhive=true", f"toolhive-basename={name}"]})
    found = await call(host, "GET", f"/containers/json?all=1&filters={quote(filters)}")
    candidates = [c for c in found or [] if isinstance(c, dict)]
    candidates.sort(key=lambda c: (c.get("State") != "running", -int(c.get("Created") or 0)))
    return candidates[0] if candidates else None


async def attach(host: str, container_id: str) -> tuple[Conn, bool]:
    """Attach to stdin, stdout and stderr.  The stream carries raw stdin one way and, the
    other way, stdout/stderr multiplexed in frames (see :class:`Demuxer`) unless the
    container has a TTY; the flag says which.  (Engines before API 1.42 call both kinds
    ``raw-stream``, so the container's own TTY setting decides.)"""
    details = await call(host, "GET", f"/containers/{container_id}/json")
    tty = bool(((details or {}).get("Config") or {}).get("Tty"))
    conn = await connect(host)
    path = f"/containers/{container_id}/attach?stream=1&stdin=1&stdout=1&stderr=1"
    conn.write(_request("POST", path, "Upgrade: tcp\r\nConnection: Upgrade\r\n"))
    response = await read_response_head(conn)
    if response is None or response.status not in (101, 200):
        conn.close()
        status = response.status if response else "no answer"
        raise EngineFailure(f"cannot attach to container {container_id[:12]} ({status})")
    return conn, not tty


async def wait_stopped(host: str, container_id: str) -> None:
    """Return when the container is not running any more."""
    await call(host, "POST", f"/containers/{container_id}/wait?condition=not-running")


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


def _msg(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", "")).strip()
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()[:200]
