"""While the server is away: what clients are told.

The proxy keeps listening while its server restarts (or its container engine does).  Each
request meanwhile is answered ``503 Service Unavailable`` with a ``Retry-After`` (seconds)
and a JSON-RPC error body — the id of the request it answers when there is one, else
``null`` — so that an MCP client shows why, and any HTTP client knows when to try again.
:class:`Gate` holds whether the server is there and why not; the supervisor opens and closes
it (:mod:`toolhive_compose.proxy.supervisor`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .wire import Conn, Request, respond

UNAVAILABLE = -32000  # JSON-RPC "server error" range: the MCP server is not reachable


@dataclass(slots=True)
class Gate:
    """Whether requests may reach the server; when not, why and when to retry."""

    open: bool = True
    reason: str = ""
    retry_after: float = 2.0

    def close(self, reason: str, retry_after: float = 2.0) -> None:
        self.open, self.reason, self.retry_after = False, reason, retry_after

    def reopen(self) -> None:
        self.open, self.reason = True, ""


def respond_unavailable(conn: Conn, request: Request, reason: str, retry_after: float) -> None:
    """503 with ``Retry-After`` and a JSON-RPC error naming ``reason``."""
    seconds = max(1, math.ceil(retry_after))
    doc = {
        "jsonrpc": "2.0",
        "id": request_id(request),
        "error": {
            "code": UNAVAILABLE,
            "message": f"the MCP server is unavailable: {reason}; retry in {seconds}s",
        },
    }
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    respond(
        conn,
        503,
        body,
        content_type="application/json",
        headers=[("Retry-After", str(seconds))],
    )


def request_id(request: Request) -> object:
    """The JSON-RPC id of a single request in the body; None otherwise."""
    if request.method != "POST" or not request.body:
        return None
    try:
        doc = json.loads(request.body)
    except ValueError:
        return None
    if isinstance(doc, dict) and "method" in doc:
        value = doc.get("id")
        return value if isinstance(value, str | int) and not isinstance(value, bool) else None
    return None
