"""A lean client for the Docker Engine API (stdlib only), for the calls on the hot path.

``thv plan`` must answer in a fraction of a second, and importing the docker SDK alone
costs ~0.17 s of CPU; 50 creates or removes through it cost another ~0.2 s (requests and
urllib3 per call), on a machine whose 2 cores the engine needs for the work itself.  So the
list call, image inspection, create, start, stop and remove go through this module; pulls
and logs (streams) use the docker SDK (:mod:`.docker`).  Supports ``unix://`` and plain
``tcp://`` endpoints; anything else (TLS, ssh) is left to the SDK.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote, urlparse

from ..errors import EngineError, EngineUnavailable
from .endpoint import engine_host

HINT = "start the Docker engine (or Podman's Docker-compatible socket), or set DOCKER_HOST"


def docker_host() -> str:
    """``DOCKER_HOST``, else the engine ToolHive would find (:mod:`.endpoint`)."""
    return engine_host()


def lean_supported(host: str) -> bool:
    if host.startswith("unix://"):
        return True
    return host.startswith("tcp://") and os.environ.get("DOCKER_TLS_VERIFY", "") in ("", "0")


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
        return _UnixConnection(host[len("unix://") :], timeout)
    url = urlparse(host.replace("tcp://", "http://", 1))
    return http.client.HTTPConnection(
        url.hostname or "localhost", url.port or 2375, timeout=timeout
    )


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

    Unreachable engine: :class:`EngineUnavailable`; 404: :class:`NotFound`; any other
    error status: :class:`EngineError` saying ``cannot <what>: <engine's message>``.
    """
    query = "&".join(f"{k}={quote(v)}" for k, v in (params or {}).items())
    target = quote(path, safe="/:@") + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
    conn = connect(host, timeout)
    try:
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        answer = response.read()
    except TimeoutError:
        raise EngineError(
            f"cannot {what or path}: the engine did not answer within {timeout:g}s",
            hint="the engine may be overloaded; try again",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise EngineUnavailable(
            f"cannot reach the container engine at {host} ({_reason(exc)})", hint=HINT
        ) from None
    finally:
        conn.close()
    if response.status == 404:
        raise NotFound(f"cannot {what or path}: {_msg(answer)}")
    if response.status >= 400:
        if what:
            raise EngineError(f"cannot {what}: {_msg(answer)}")
        raise EngineError(
            f"the container engine at {host} answered {response.status}: {_msg(answer)}"
        )
    return json.loads(answer) if answer.strip() else None


def get_json(host: str, path: str, params: dict[str, str] | None = None) -> Any:
    """GET an Engine API path and decode the JSON answer."""
    return call(host, "GET", path, params, timeout=60.0)


def list_containers(host: str, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    params = {"all": "1", "filters": json.dumps(filters, separators=(",", ":"))}
    result = get_json(host, "/containers/json", params)
    return result if isinstance(result, list) else []


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such socket"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _msg(body: bytes) -> str:
    """The engine's error message, first letter lowered to read after ``cannot …:``."""
    try:
        text = str(json.loads(body).get("message", "")).strip()
    except (ValueError, AttributeError):
        text = ""
    text = text or body.decode(errors="replace").strip() or "no reason given"
    return text[:1].lower() + text[1:]
