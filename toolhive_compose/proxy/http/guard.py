"""DNS-rebinding protection for a proxy bound to the loopback interface.

The MCP transport spec asks local servers to validate ``Origin`` on every connection: a web
page the user visits could otherwise reach ``127.0.0.1:<port>`` through a hostname that
resolves there (DNS rebinding) and call the user's tools.  ToolHive's proxy checks neither
header; this one, while it listens on a loopback address, answers 403 to a request whose

- ``Origin`` is present and is not a loopback origin (``null`` included), or whose
- ``Host`` names something other than a loopback host (a rebound name).

MCP clients that are not browsers send no ``Origin`` and ``Host: 127.0.0.1:<port>`` (or
``localhost``); browser-based ones served from ``localhost`` (the MCP Inspector) pass too.
A proxy bound to another address was asked to serve other hosts and checks nothing.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from .server import Handler, log
from .wire import Conn, Request, respond


def is_loopback(host: str) -> bool:
    """``localhost`` (and ``*.localhost``), 127.0.0.0/8 or ``::1``."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host of a ``Host`` header value, without its port (``[::1]:80`` -> ``::1``)."""
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def refusal(request: Request) -> str:
    """Why ``request`` must be refused on a loopback-bound proxy; "" when it may pass."""
    return _verdict(request.headers.get("origin"), request.headers.get("host"))


@functools.lru_cache(maxsize=256)
def _verdict(origin: str, host: str) -> str:
    """(Clients send the same two values on every request: decided once per pair.)"""
    if origin:
        try:
            origin_host = urlsplit(origin).hostname or ""
        except ValueError:
            origin_host = ""
        if not is_loopback(origin_host):
            return f"origin {origin!r} is not allowed"
    if host and not is_loopback(host_name(host)):
        return f"host {host!r} is not allowed"
    return ""


def guarded(handler: Handler, bind_host: str) -> Handler:
    """``handler`` behind the checks above when ``bind_host`` is a loopback address."""
    if not is_loopback(bind_host):
        return handler

    async def guard(request: Request, conn: Conn) -> bool:
        reason = refusal(request)
        if not reason:
            return await handler(request, conn)
        log(f"refused {request.method} {request.path}: {reason} (DNS rebinding protection)")
        respond(conn, 403, f"forbidden: {reason}\n".encode())
        return request.keep_alive

    return guard
