"""JSON-RPC routing for one stdio server shared by several HTTP clients (pure, no I/O).

Every client numbers its requests from 1, so request ids are rewritten on the way in to
ids unique in this proxy, and restored on the way out; the response then goes to the
stream (``sink``) of the client that asked.  Progress tokens are rewritten the same way,
so ``notifications/progress`` find their client, and a client's ``notifications/cancelled``
is translated to the id the server knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]


def is_request(message: Message) -> bool:
    return "method" in message and message.get("id") is not None


def is_response(message: Message) -> bool:
    return "method" not in message and ("result" in message or "error" in message)


def parse_messages(body: bytes) -> tuple[list[Message], bool]:
    """The messages of a POST body and whether it was a batch; ValueError if not JSON-RPC."""
    doc = json.loads(body)
    batch = isinstance(doc, list)
    messages = doc if batch else [doc]
    if not messages or not all(isinstance(m, dict) for m in messages):
        raise ValueError("expected a JSON-RPC message or a non-empty batch")
    return messages, batch


@dataclass(slots=True)
class Pending:
    """A request forwarded to the server and not answered yet."""

    session: str
    original_id: Any
    sink: Any
    token: Any = None  # the client's own progress token, when one was rewritten
    method: str = ""
    first_page: bool = True  # a tools/list without a cursor


def _id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Router:
    """Maps proxy-unique request ids back to their clients."""

    def __init__(self) -> None:
        self._next = 0
        self.pending: dict[int, Pending] = {}
        self._by_origin: dict[tuple[str, str], int] = {}

    def outgoing(self, session: str, message: Message, sink: Any) -> Message:
        """The message as the server must see it (requests renumbered, cancels translated)."""
        if is_request(message):
            return self._request(session, message, sink)
        if message.get("method") == "notifications/cancelled":
            return self._cancel(session, message)
        return message

    def incoming_response(self, message: Message) -> tuple[Pending, Message] | None:
        """The pending request a server response answers, and the response as its client
        expects it; None if it answers nothing we know of."""
        proxy_id = message.get("id")
        if type(proxy_id) is not int or proxy_id not in self.pending:
            return None
        pending = self.pending.pop(proxy_id)
        self._by_origin.pop((pending.session, _id_key(pending.original_id)), None)
        out = dict(message)
        out["id"] = pending.original_id
        return pending, out

    def incoming_progress(self, message: Message) -> tuple[Pending, Message] | None:
        """Route ``notifications/progress`` by its (rewritten) token."""
        params = message.get("params")
        token = params.get("progressToken") if isinstance(params, dict) else None
        pending = self.pending.get(token) if type(token) is int else None
        if pending is None or pending.token is None:
            return None
        out = dict(message)
        out["params"] = {**params, "progressToken": pending.token}  # type: ignore[dict-item]
        return pending, out

    def latest(self) -> Pending | None:
        """The most recently forwarded request still waiting for its answer."""
        return self.pending[max(self.pending)] if self.pending else None

    def clear(self) -> list[Pending]:
        """Forget every request in flight (the server went away); the ones forgotten."""
        pending = list(self.pending.values())
        self.pending.clear()
        self._by_origin.clear()
        return pending

    def forget_session(self, session: str) -> None:
        for proxy_id in [k for k, p in self.pending.items() if p.session == session]:
            pending = self.pending.pop(proxy_id)
            self._by_origin.pop((session, _id_key(pending.original_id)), None)

    def _request(self, session: str, message: Message, sink: Any) -> Message:
        self._next += 1
        proxy_id = self._next
        out = dict(message)
        out["id"] = proxy_id
        token = None
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and meta.get("progressToken") is not None:
            token = meta["progressToken"]
            out["params"] = {**params, "_meta": {**meta, "progressToken": proxy_id}}  # type: ignore[dict-item]
        method = str(message.get("method"))
        first = not (isinstance(params, dict) and params.get("cursor") is not None)
        self.pending[proxy_id] = Pending(session, message["id"], sink, token, method, first)
        self._by_origin[(session, _id_key(message["id"]))] = proxy_id
        return out

    def _cancel(self, session: str, message: Message) -> Message:
        params = message.get("params")
        if not isinstance(params, dict) or "requestId" not in params:
            return message
        proxy_id = self._by_origin.get((session, _id_key(params["requestId"])))
        if proxy_id is None:
            return message
        return {**message, "params": {**params, "requestId": proxy_id}}
