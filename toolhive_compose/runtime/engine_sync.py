"""The blocking lean client for the Docker Engine API (stdlib only), for the calls on the hot path.

``thv plan`` must answer in a fraction of a second, and importing the docker SDK alone
costs ~0.17 s of CPU; 50 creates or removes through it cost another ~0.2 s (requests and
urllib3 per call), on a machine whose 2 cores the engine needs for the work itself.  So the
list call, image inspection, create, start, stop and remove go through this module; pulls
and logs (streams) use the docker SDK (:mod:`.docker`).  Supports ``unix://`` and plain
``tcp://`` endpoints; anything else (TLS, ssh) is left to the SDK.  Requests are written and
answers read as the proxy's asyncio client does it (:mod:`.engine_http`).

Each thread keeps its connection to the engine open between requests (keep-alive), as the
SDK's connection pool does: a connection per request cost ~0.2 ms of CPU (ours and the
engine's) on each of the 2,000 creates of a large apply.  A kept connection the engine has
closed meanwhile (it restarted, say) fails when the request is written, or ends with no
byte of an answer; that request is sent once more on a new connection (an engine closes a
connection between requests, never with one half read).  Any other failure closes it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

from .. import cancel
from ..errors import EngineError, EngineUnavailable
from .engine_http import (
    compact_json,
    error_message,
    request_target,
    tcp_address,
    unix_path,
    unreachable_reason,
)
from .protocol import Conflict

HINT = "start the Docker engine (or Podman's Docker-compatible socket), or set DOCKER_HOST"
LIST_TIMEOUT = 10.0  # seconds: a list answers at once; a wedged engine must not hang thv list


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def connect(host: str, timeout: float = 60.0) -> http.client.HTTPConnection:
    if host.startswith("unix://"):
        return _UnixConnection(unix_path(host), timeout)
    address, port = tcp_address(host)
    return http.client.HTTPConnection(address, port, timeout=timeout)


class _Kept(threading.local):
    """This thread's open connections, by engine address."""

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}


_kept = _Kept()
# The engine closed a kept connection before reading the request: safe to send it again.
_STALE = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def _exchange(
    host: str,
    method: str,
    target: str,
    data: bytes | None,
    headers: dict[str, str],
    timeout: float,
) -> tuple[int, bytes]:
    """Status and body of one request, on this thread's kept connection when it has one."""
    kept = _kept.connections.pop(host, None)
    for conn in (kept, None) if kept is not None else (None,):
        fresh = conn is None
        if conn is None:
            conn = connect(host, timeout)
        else:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            answer = response.read()
        except _STALE:
            conn.close()
            if fresh:
                raise
            continue  # the kept connection had been closed by the engine: a new one
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            _kept.connections[host] = conn
        return response.status, answer
    raise AssertionError("unreachable")  # pragma: no cover


class NotFound(EngineError):
    """The engine answered 404: no such container or image."""


def call(
    host: str,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    body: Any = None,
    *,
    what: str = "",
    timeout: float = 300.0,
) -> Any:
    """One Engine API request; the decoded JSON answer (None when empty).

    Unreachable engine: :class:`EngineUnavailable`; 404: :class:`NotFound`; 409:
    :class:`~.protocol.Conflict`; any other error status: :class:`EngineError` saying
    ``cannot <what>: <engine's message>``.  Cancelled work (:mod:`toolhive_compose.cancel`)
    sends nothing, and a call made near its deadline waits no longer than the deadline allows.
    """
    cancel.checkpoint()
    timeout = cancel.io_timeout(timeout)
    target = request_target(path, params)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    data = compact_json(body).encode() if body is not None else None
    try:
        status, answer = _exchange(host, method, target, data, headers, timeout)
    except TimeoutError:
        raise EngineError(
            f"cannot {what or path}: the engine did not answer within {timeout:g}s",
            hint="the engine may be overloaded; try again",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise EngineUnavailable(
            f"cannot reach the container engine at {host} ({unreachable_reason(exc)})",
            hint=HINT,
        ) from None
    if status == 404:
        raise NotFound(f"cannot {what or path}: {_msg(answer)}")
    if status == 409:
        raise Conflict(f"cannot {what or path}: {_msg(answer)}")
    if status >= 400:
        if what:
            raise EngineError(f"cannot {what}: {_msg(answer)}")
        raise EngineError(f"the container engine at {host} answered {status}: {_msg(answer)}")
    return json.loads(answer) if answer.strip() else None


def get_json(host: str, path: str, params: dict[str, str] | None = None) -> Any:
    """GET an Engine API path and decode the JSON answer."""
    return call(host, "GET", path, params, timeout=60.0)


def list_containers(host: str, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    params = {"all": "1", "filters": compact_json(filters)}
    result = call(
        host, "GET", "/containers/json", params, what="list containers", timeout=LIST_TIMEOUT
    )
    return result if isinstance(result, list) else []


def _msg(body: bytes) -> str:
    """The engine's error message, first letter lowered to read after ``cannot …:``."""
    text = error_message(body) or "no reason given"
    return text[:1].lower() + text[1:]
