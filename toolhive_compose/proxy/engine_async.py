"""The asyncio lean client for the Docker Engine API: the few calls a proxy makes (stdlib only).

Find the workload's container, attach to its stdin/stdout/stderr (a hijacked connection,
``Upgrade: tcp``), wait for it to stop; and, to supervise it, inspect, start and stop it and
read the end of its log.  The engine is the one the CLI uses
(:mod:`toolhive_compose.runtime.endpoint`): ``unix://`` and plain ``tcp://`` endpoints.
Requests are written as the CLI's blocking client writes them
(:mod:`toolhive_compose.runtime.engine_http`).

Failures are :class:`EngineFailure`; an engine that cannot be reached (no socket, connection
refused or dropped, no answer in time) is the subclass :class:`EngineUnreachable`, and a
container the engine does not know the subclass :class:`ContainerMissing`.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.engine_http import (
    compact_json,
    error_message,
    request_target,
    tcp_address,
    tls_required,
    unix_path,
    unreachable_reason,
)
from ..state.status import parse_rfc3339
from .http.wire import Conn, iter_chunked, iter_length, iter_until_eof, read_response_head
from .http.wire import content_length as _length
from .http.wire import is_chunked as _chunked

STDOUT, STDERR = 1, 2
_FRAME = struct.Struct(">BxxxL")
CALL_TIMEOUT = 10.0  # seconds for a short call (inspect, start, logs); waits have none


class EngineFailure(Exception):
    """The engine is unreachable or refused a call."""


class EngineUnreachable(EngineFailure):
    """The engine cannot be reached, dropped the connection or did not answer in time."""


class ContainerMissing(EngineFailure):
    """The engine answered 404: no such container."""


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


async def call(
    host: str,
    method: str,
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
) -> Any:
    """One API call on its own connection; the decoded JSON answer (``timeout``: seconds
    for the whole exchange, None for none)."""
    _, data = await _exchange(host, method, path, params, timeout)
    return json.loads(data) if data.strip() else None


async def _exchange(
    host: str, method: str, path: str, params: Mapping[str, str] | None, timeout: float | None
) -> tuple[int, bytes]:
    target = request_target(path, params)
    try:
        status, data = await asyncio.wait_for(_raw(host, method, target), timeout)
    except TimeoutError:
        raise EngineUnreachable(
            f"the container engine at {host} did not answer {method} {path} in {timeout:g}s"
        ) from None
    except (OSError, asyncio.IncompleteReadError) as exc:
        reason = unreachable_reason(exc) if isinstance(exc, OSError) else "connection dropped"
        raise EngineUnreachable(f"cannot reach the container engine at {host} ({reason})") from None
    if status == 404:
        raise ContainerMissing(f"no such container ({method} {path}): {error_message(data)[:200]}")
    if status >= 400:
        message = error_message(data)[:200]
        raise EngineFailure(f"engine answered {status} to {method} {target}: {message}")
    return status, data


async def _raw(host: str, method: str, target: str) -> tuple[int, bytes]:
    conn = await connect(host)
    try:
        conn.write(_request(method, target, "Content-Length: 0\r\nConnection: close\r\n"))
        response = await read_response_head(conn)
        if response is None:
            raise ConnectionResetError("the engine closed the connection")
        if _chunked(response.headers):
            body = iter_chunked(conn)
        elif (length := _length(response.headers)) is not None:
            body = iter_length(conn, length)
        else:
            body = iter_until_eof(conn)
        data = b"".join([part async for part in body])
    finally:
        conn.close()
    return response.status, data


async def find_container(host: str, name: str) -> dict[str, Any] | None:
    """The workload's container (label ``toolhive-basename=<name>``), running ones first."""
    filters = compact_json({"label": ["toolhive=true", f"toolhive-basename={name}"]})
    found = await call(
        host, "GET", "/containers/json", {"all": "1", "filters": filters}, timeout=CALL_TIMEOUT
    )
    candidates = [c for c in found or [] if isinstance(c, dict)]
    candidates.sort(key=lambda c: (c.get("State") != "running", -int(c.get("Created") or 0)))
    return candidates[0] if candidates else None


async def published_port(host: str, name: str) -> int:
    """The TCP port that running container ``name`` publishes on 127.0.0.1 (0: none)."""
    filters = compact_json({"name": [f"^/{name}$"]})
    found = await call(host, "GET", "/containers/json", {"filters": filters}, timeout=CALL_TIMEOUT)
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
    details = await call(host, "GET", f"/containers/{container_id}/json", timeout=CALL_TIMEOUT)
    tty = bool(((details or {}).get("Config") or {}).get("Tty"))
    try:
        conn = await asyncio.wait_for(connect(host), CALL_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise EngineUnreachable(f"cannot attach to container {container_id[:12]}: {exc}") from None
    streams = {"stream": "1", "stdin": "1", "stdout": "1", "stderr": "1"}
    path = request_target(f"/containers/{container_id}/attach", streams)
    conn.write(_request("POST", path, "Upgrade: tcp\r\nConnection: Upgrade\r\n"))
    try:
        response = await asyncio.wait_for(read_response_head(conn), CALL_TIMEOUT)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        response = None
    if response is None or response.status not in (101, 200):
        conn.close()
        status = response.status if response else "no answer"
        raise EngineFailure(f"cannot attach to container {container_id[:12]} ({status})")
    return conn, not tty


async def wait_stopped(host: str, container_id: str) -> int | None:
    """Return when the container is not running any more: its exit code, when known."""
    answer = await call(
        host, "POST", f"/containers/{container_id}/wait", {"condition": "not-running"}
    )
    code = answer.get("StatusCode") if isinstance(answer, dict) else None
    return code if isinstance(code, int) else None


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What an inspect says about a container's current (or last) run."""

    id: str
    status: str  # created | running | restarting | paused | exited | dead | removing
    running: bool
    restarting: bool
    started_at: str  # RFC 3339 as the engine writes it; the identity of a run
    finished_at: str
    exit_code: int
    restart_count: int  # the engine's own restarts since the last start by hand
    error: str = ""
    oom_killed: bool = False

    @property
    def started(self) -> float:
        return epoch(self.started_at)

    @property
    def finished(self) -> float:
        return epoch(self.finished_at)


def epoch(stamp: str) -> float:
    """Seconds since the epoch; 0 for Go's zero time or anything unreadable."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    try:
        return parse_rfc3339(stamp).timestamp()
    except ValueError:
        return 0.0


async def inspect(host: str, container_id: str) -> ContainerState:
    details = await call(host, "GET", f"/containers/{container_id}/json", timeout=CALL_TIMEOUT)
    state = (details or {}).get("State") or {}
    return ContainerState(
        id=str((details or {}).get("Id") or container_id),
        status=str(state.get("Status") or ""),
        running=bool(state.get("Running")) and not state.get("Restarting"),
        restarting=bool(state.get("Restarting")),
        started_at=str(state.get("StartedAt") or ""),
        finished_at=str(state.get("FinishedAt") or ""),
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int((details or {}).get("RestartCount") or 0),
        error=str(state.get("Error") or ""),
        oom_killed=bool(state.get("OOMKilled")),
    )


async def start(host: str, container_id: str) -> None:
    """Start the container (already running is fine: the engine answers 304)."""
    await call(host, "POST", f"/containers/{container_id}/start", timeout=60.0)


async def stop(host: str, container_id: str, grace: int = 10) -> None:
    """Stop the container; the engine's restart policy leaves it stopped from then on."""
    await call(
        host, "POST", f"/containers/{container_id}/stop", {"t": str(grace)}, timeout=grace + 30.0
    )


async def log_tail(host: str, container_id: str, lines: int) -> list[str]:
    """The last ``lines`` lines of the container's output (stdout and stderr)."""
    details = await call(host, "GET", f"/containers/{container_id}/json", timeout=CALL_TIMEOUT)
    tty = bool(((details or {}).get("Config") or {}).get("Tty"))
    params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
    _, data = await _exchange(host, "GET", f"/containers/{container_id}/logs", params, CALL_TIMEOUT)
    payload = data if tty else b"".join(p for _, p in Demuxer().feed(data))
    text = payload.decode(errors="replace").replace("\r\n", "\n")
    return [line for line in text.split("\n") if line.strip()][-lines:]


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
