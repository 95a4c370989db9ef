"""The Engine API over HTTP: the pure part both lean clients share (standard library only).

The CLI's blocking client (:mod:`.engine_sync`) and the proxy's asyncio one
(:mod:`toolhive_compose.proxy.engine_async`) talk to the same engine (:mod:`.endpoint`) the
same way: which endpoints they can reach (``unix://``, and plain ``tcp://`` without TLS), how
a ``tcp://`` endpoint splits into host and port, how a request target and its query are
written, what the engine's error answer says, and why an engine could not be reached.
Nothing here does I/O; the proxy imports it, so it stays free of everything heavy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlparse

DEFAULT_TCP_PORT = 2375


def tls_required(environ: Mapping[str, str] | None = None) -> bool:
    """``DOCKER_TLS_VERIFY`` asks for TLS, which the lean clients do not speak."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")


def lean_supported(host: str) -> bool:
    """Whether a lean client can talk to ``host``: ``unix://``, or ``tcp://`` without TLS."""
    if host.startswith("unix://"):
        return True
    return host.startswith("tcp://") and not tls_required()


def unix_path(host: str) -> str:
    """``unix:///var/run/docker.sock`` → ``/var/run/docker.sock``."""
    return host[len("unix://") :]


def tcp_address(host: str) -> tuple[str, int]:
    """``tcp://HOST[:PORT]`` → ``(HOST, PORT)``; the port defaults to the engine's 2375."""
    url = urlparse(host.replace("tcp://", "http://", 1))
    return url.hostname or "localhost", url.port or DEFAULT_TCP_PORT


def compact_json(value: Any) -> str:
    """JSON as the clients send it: a request body, or the ``filters`` of a list call."""
    return json.dumps(value, separators=(",", ":"))


def request_target(path: str, params: Mapping[str, str] | None = None) -> str:
    """The request target: ``path`` quoted, then its query (``params`` values quoted)."""
    query = "&".join(f"{k}={quote(v)}" for k, v in (params or {}).items())
    return quote(path, safe="/:@") + (f"?{query}" if query else "")


def error_message(body: bytes) -> str:
    """What the engine says went wrong: its JSON answer's ``message``, else the body as text."""
    try:
        text = str(json.loads(body).get("message", "")).strip()
    except (ValueError, AttributeError):
        text = ""
    return text or body.decode(errors="replace").strip()


def unreachable_reason(exc: BaseException) -> str:
    """Why a connection to the engine failed, in a few words."""
    if isinstance(exc, FileNotFoundError):
        return "no such socket"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
