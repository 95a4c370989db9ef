"""A lean read-only client for the Docker Engine API (stdlib only).

``thv plan`` must answer in a fraction of a second, and importing the docker SDK alone
costs ~0.17 s, so the single list call that observation needs goes through this module.
Mutations use the docker SDK (:mod:`.docker`).  Supports ``unix://`` and plain ``tcp://``
endpoints; anything else (TLS, ssh) is left to the SDK.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote, urlparse

from ..errors import EngineError, EngineUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
HINT = "start the Docker engine (or Podman's Docker-compatible socket), or set DOCKER_HOST"


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST", "").strip() or DEFAULT_HOST


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


def get_json(host: str, path: str, params: dict[str, str] | None = None) -> Any:
    """GET an Engine API path and decode the JSON answer."""
    query = "&".join(f"{k}={quote(v)}" for k, v in (params or {}).items())
    conn = connect(host)
    try:
        conn.request("GET", f"{path}?{query}" if query else path)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EngineUnavailable(
            f"cannot reach the container engine at {host} ({_reason(exc)})", hint=HINT
        ) from None
    finally:
        conn.close()
    if response.status >= 400:
        raise EngineError(
            f"the container engine at {host} answered {response.status}: {_msg(body)}"
        )
    return json.loads(body)


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
    try:
        return str(json.loads(body).get("message", "")).strip() or body.decode(errors="replace")
    except ValueError:
        return body.decode(errors="replace").strip()
