"""One stdio MCP server shared by many HTTP client sessions.

Client messages are written to the server's stdin, one JSON line each, after the
:class:`~.jsonrpc.Router` has made their ids unique.  Each line the server writes on stdout
is routed: a response to the stream of the request it answers, a progress notification to
the stream whose token it carries, a server-initiated request to the session of the most
recent request in flight, any other notification to every session.  A session with no open
stream keeps a bounded backlog that its next stream receives first.

The server's stdio may go away and come back (its container restarting, or the container
engine): :meth:`Bridge.detach` answers every request in flight with a JSON-RPC error and
closes :attr:`Bridge.gate`; :meth:`Bridge.attach` takes the new stream.  When the server is a
new process its in-memory MCP sessions are gone, so every client session ends: streams
close, and the next request naming an old ``Mcp-Session-Id`` gets 404, which tells an MCP
client to initialise again.  When it is the same process (only the stream dropped) the
sessions stay.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..http.outage import Gate
from ..http.server import log
from .jsonrpc import Message, Router, is_request, is_response
from .toolsurface import LIST, LIST_CHANGED, Screening, SurfaceGuard

BACKLOG = 256
PING = object()  # queue item: send a keep-alive comment
LOST = -32603  # JSON-RPC internal error: the request was in flight when the server went away


class Sink:
    """The queue behind one HTTP response stream; ``None`` in it ends the stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def put(self, item: Any) -> None:
        if not self.closed:
            self.queue.put_nowait(item)

    def close(self) -> None:
        if not self.closed:
            self.queue.put_nowait(None)
            self.closed = True


class Session:
    """One client: streamable HTTP (``Mcp-Session-Id``) or a legacy SSE connection."""

    def __init__(self, session_id: str, *, legacy_sse: bool = False) -> None:
        self.id = session_id
        self.legacy_sse = legacy_sse
        self.stream: Sink | None = None  # GET /mcp or GET /sse
        self.posts: list[Sink] = []  # POST responses being streamed as SSE
        self.backlog: deque[Message] = deque(maxlen=BACKLOG)
        self.touched = time.monotonic()

    def deliver(self, message: Message) -> None:
        """A server-initiated message: the newest POST stream, else the GET stream."""
        target = self.posts[-1] if self.posts else self.stream
        if target is not None and not target.closed:
            target.put(message)
        else:
            self.backlog.append(message)

    def open_stream(self, sink: Sink) -> None:
        self.stream = sink
        while self.backlog:
            sink.put(self.backlog.popleft())

    def close(self) -> None:
        for sink in [self.stream, *self.posts]:
            if sink is not None:
                sink.close()

    @property
    def idle(self) -> bool:
        return not self.posts and (self.stream is None or self.stream.closed)


class Bridge:
    """Routes between HTTP sessions and the server's stdin/stdout."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        drain: Callable[[], Awaitable[None]],
        guard: SurfaceGuard | None = None,
    ) -> None:
        self._write = write
        self._drain = drain
        self.gate = Gate()
        self.guard = guard
        self.router = Router()
        self.sessions: dict[str, Session] = {}
        self.anonymous = Session("")  # clients that send no session id
        self._last: Session = self.anonymous

    async def drain(self) -> None:
        """Wait until the server's stdin took what was written (a dropped stream is left to
        the reader to notice; the requests in flight are then answered by :meth:`detach`)."""
        try:
            await self._drain()
        except (ConnectionError, OSError) as exc:
            log(f"writing to the server failed: {type(exc).__name__}: {exc}")

    def detach(self, reason: str, retry_after: float = 2.0) -> None:
        """The server's stdio is gone: close the gate, answer what is in flight."""
        self.gate.close(reason, retry_after)
        self._write = _nowhere
        message = f"the MCP server went away before answering: {reason}"
        for pending in self.router.clear():
            if pending.sink is not None:
                error = {"code": LOST, "message": message}
                pending.sink.put({"jsonrpc": "2.0", "id": pending.original_id, "error": error})

    def attach(
        self,
        write: Callable[[bytes], None],
        drain: Callable[[], Awaitable[None]],
        *,
        new_process: bool,
    ) -> None:
        """Serve through a new stdio stream; a new server process ends every session."""
        if new_process:
            ended = len(self.sessions)
            for session in list(self.sessions.values()):
                self.end_session(session)
            self.anonymous.close()
            self.anonymous = self._last = Session("")
            if ended:
                log(f"ended {ended} client session(s): the server is a new process")
        self._write, self._drain = write, drain
        self.gate.reopen()

    def new_session(self, *, legacy_sse: bool = False) -> Session:
        session = Session(os.urandom(16).hex(), legacy_sse=legacy_sse)
        self.sessions[session.id] = session
        return session

    def end_session(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        self.router.forget_session(session.id)
        session.close()

    def expire(self, max_idle: float) -> None:
        """End sessions with no open stream that were not used for ``max_idle`` seconds."""
        cutoff = time.monotonic() - max_idle
        for session in [s for s in self.sessions.values() if s.idle and s.touched < cutoff]:
            self.end_session(session)

    def screen(self, messages: list[Message]) -> Screening:
        """The tool guard's verdict on client messages (all forwarded when there is none)."""
        return Screening(messages) if self.guard is None else self.guard.requests(messages)

    def forward(
        self, session: Session, messages: list[Message] | Screening, sink: Sink | None
    ) -> None:
        """Write client messages to the server; answers to its requests go to ``sink`` (the
        guard's refusals too, at once)."""
        screening = messages if isinstance(messages, Screening) else self.screen(messages)
        session.touched = time.monotonic()
        for answer in screening.answers:
            if sink is not None:
                sink.put(answer)
            else:
                session.deliver(answer)
        if not screening.forward:
            return
        lines = [
            json.dumps(self.router.outgoing(session.id, m, sink), separators=(",", ":"),
                       ensure_ascii=False).encode() + b"\n"
            for m in screening.forward
        ]  # fmt: skip
        self._last = session
        self._write(b"".join(lines))

    def on_line(self, line: bytes) -> None:
        """One line of the server's stdout."""
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            log(f"server stdout (not JSON-RPC): {line[:200].decode(errors='replace')}")
            return
        if isinstance(message, list):
            for item in message:
                if isinstance(item, dict):
                    self.on_message(item)
        elif isinstance(message, dict):
            self.on_message(message)

    def on_message(self, message: Message) -> None:
        if is_response(message):
            routed = self.router.incoming_response(message)
            if routed is None:
                log(f"dropped a response to unknown request id {message.get('id')!r}")
            elif routed[0].sink is not None:
                pending, answer = routed
                if pending.method == LIST and self.guard is not None:
                    answer = self.guard.response(answer, first_page=pending.first_page)
                pending.sink.put(answer)
        elif is_request(message):
            self._request_target().deliver(message)
        elif message.get("method") == "notifications/progress" and (
            progress := self.router.incoming_progress(message)
        ):
            if progress[0].sink is not None:
                progress[0].sink.put(progress[1])
        else:
            if self.guard is not None and message.get("method") == LIST_CHANGED:
                self.guard.notification(message)
            for session in [*self.sessions.values(), self.anonymous]:
                session.deliver(message)

    def _request_target(self) -> Session:
        pending = self.router.latest()
        if pending is not None and pending.session in self.sessions:
            return self.sessions[pending.session]
        if self._last.id in self.sessions:
            return self._last
        return self.anonymous


def _nowhere(data: bytes) -> None:
    """The writer while no server is attached (the gate keeps requests away)."""


class LineSplitter:
    """Reassemble newline-delimited messages from arbitrary chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if b"\n" not in data:
            return []
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest)
        return [bytes(line) for line in lines]
