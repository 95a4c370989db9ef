"""Screening the JSON-RPC messages of a relayed Server-Sent Events stream, event by event.

The reverse proxy relays SSE bodies (a streamable HTTP server's answers, a legacy SSE
server's stream) chunk by chunk.  With a tool guard in place, the bytes go through an
:class:`EventScreen`: complete events leave at once, the tail of an unfinished one waits for
its end.  An event whose data may concern tools (:func:`~.toolsurface.may_concern_tools`) is
decoded and handed to ``on_message``; when that returns another message, the event leaves
with one ``data:`` line holding it (its ``event:`` and ``id:`` lines, and its line endings,
kept).  Every other byte passes unchanged.  Events the proxy adds itself (a refusal for a
legacy SSE session) are queued until the stream is between two events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .toolsurface import may_concern_tools

Message = dict[str, Any]
SEPARATORS = (b"\r\n\r\n", b"\n\n", b"\r\r")


class EventScreen:
    """See the module docstring.  ``on_message(message) -> message``: return it unchanged
    (the same object) to keep the event as it came."""

    def __init__(self, on_message: Callable[[Message], Message]) -> None:
        self.on_message = on_message
        self.buf = bytearray()
        self.queued: list[bytes] = []
        self.endpoint = ""  # the data of a legacy SSE ``endpoint`` event, once seen

    @property
    def partial(self) -> bool:
        """Bytes of an unfinished event are held back."""
        return bool(self.buf)

    def feed(self, data: bytes) -> bytes:
        """What can be sent now of the stream so far."""
        self.buf += data
        out = bytearray()
        while (end := _event_end(self.buf)) is not None:
            event = bytes(self.buf[:end])
            del self.buf[:end]
            out += self._event(event)
        if not self.buf and self.queued:
            out += b"".join(self.queued)
            self.queued.clear()
        return bytes(out)

    def flush(self) -> bytes:
        """The end of the stream: whatever is left, as it is."""
        rest = bytes(self.buf) + b"".join(self.queued)
        self.buf.clear()
        self.queued.clear()
        return rest

    def _event(self, event: bytes) -> bytes:
        if not self.endpoint and b"endpoint" in event:
            self.endpoint = _data(event.splitlines())
        if b"data:" not in event or not may_concern_tools(event):
            return event
        lines = event.splitlines(keepends=True)
        try:
            message = json.loads(_data(lines))
        except ValueError:
            return event
        if isinstance(message, dict):
            new: Any = self.on_message(message)
            changed = new is not message
        elif isinstance(message, list):
            new = [self.on_message(m) if isinstance(m, dict) else m for m in message]
            changed = any(a is not b for a, b in zip(new, message, strict=True))
        else:
            return event
        return _with_data(lines, new) if changed else event


def encode_event(message: Message) -> bytes:
    """One ``message`` event (what an MCP server sends)."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return f"event: message\ndata: {data}\n\n".encode()


def _event_end(buf: bytearray) -> int | None:
    """The end of the first complete event (after its blank line), if there is one."""
    ends = [i + len(sep) for sep in SEPARATORS if (i := buf.find(sep)) >= 0]
    return min(ends) if ends else None


def _data(lines: list[bytes]) -> str:
    """The event's data: its ``data:`` lines joined (one leading space each dropped)."""
    parts = []
    for line in lines:
        text = line.rstrip(b"\r\n")
        if text.startswith(b"data:"):
            value = text[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts).decode("utf-8", errors="replace")


def _with_data(lines: list[bytes], message: Any) -> bytes:
    """The event with its data replaced by ``message`` (one line), other lines kept."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    out, placed = bytearray(), False
    for line in lines:
        if line.startswith(b"data:"):
            if not placed:
                ending = line[len(line.rstrip(b"\r\n")) :] or b"\n"
                out += b"data: " + data + ending
                placed = True
        else:
            out += line
    return bytes(out)
