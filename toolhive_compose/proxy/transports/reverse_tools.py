"""The tool guard in the reverse proxy: what it does to requests, JSON answers and streams.

The reverse proxy (:mod:`.reverse`) calls :class:`ToolScreen` at three points:

- :meth:`~ToolScreen.request`, for a POST whose body may concern tools: a refused
  ``tools/call`` is answered here — alone, as ToolHive answers it, except on a legacy SSE
  session with an open stream, which gets the error there (its client waits for it there and
  never reads the POST's answer) and the POST ``202``; in a batch, with the server's answers;
  a renamed call is forwarded under the server's name;
- :meth:`~ToolScreen.json_body`, for a JSON answer to a POST with a ``tools/list``;
- :meth:`~ToolScreen.event_screen`, for every SSE body: a POST's answers, or a GET stream,
  where any tools list is screened (ToolHive's way) and, on a legacy SSE stream, a paginated
  list's first page is known from the session's POSTs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..http.server import json_response
from ..http.wire import Conn, Request, respond
from .jsonrpc import parse_messages
from .sse_screen import EventScreen, encode_event
from .toolsurface import Screening, SurfaceGuard, id_key, refuse_single

Message = dict[str, Any]


class Stream(Protocol):
    """A relayed SSE body (the reverse proxy's relay)."""

    screen: EventScreen | None
    session: str

    def inject(self, event: bytes) -> bool: ...


@dataclass(slots=True)
class Asked:
    """What the guard asks of one POST's answer: tools lists to screen, refusals to add."""

    lists: dict[str, bool]  # id key -> first page
    extra: list[Message]  # a batch's refused calls, answered with the server's answers


class ToolScreen:
    """See the module docstring."""

    def __init__(self, guard: SurfaceGuard) -> None:
        self.guard = guard
        self._encoded: tuple[Any, dict[str, Any], bytes] | None = None  # the last list's
        self.streams: dict[str, Stream] = {}  # legacy SSE session id -> its stream's relay
        self.session_lists: dict[tuple[str, str], bool] = {}  # (session, id key) -> first page

    def request(self, request: Request, client: Conn) -> tuple[Request, Asked] | None:
        """The request as the server must see it and what its answer needs, or None when
        it was answered here."""
        try:
            messages, batch = parse_messages(request.body)
        except ValueError:
            return request, Asked({}, [])  # not JSON-RPC: the server says what is wrong
        screening = self.guard.requests(messages)
        session = session_id(request.query)
        if session:
            self.session_lists.update({(session, k): f for k, f in screening.lists.items()})
        if screening.answers and not batch:
            self._refuse(request, client, screening, session)
            return None
        if screening.answers and not screening.forward:
            json_response(client, 200, screening.answers)
            return None
        if screening.forward != messages:
            doc = screening.forward if batch else screening.forward[0]
            body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
            request = replace(request, body=body)
        return request, Asked(screening.lists, screening.answers)

    def _refuse(self, request: Request, client: Conn, screening: Screening, session: str) -> None:
        relay = self.streams.get(session) if session else None
        event = encode_event(screening.answers[0])
        if relay is not None and not screening.bogus and relay.inject(event):
            respond(client, 202, b"Accepted")
        else:
            refuse_single(client, screening, request.headers.get("accept"))

    def json_body(self, raw: bytes, asked: Asked) -> bytes:
        """A JSON answer with its tools lists screened and a batch's refusals added."""
        try:
            doc = json.loads(raw)
        except ValueError:
            return raw
        if not isinstance(doc, dict | list):
            return raw
        answers = [self.answer(m, asked) for m in (doc if isinstance(doc, list) else [doc])]
        if isinstance(doc, list):
            return _encode([*answers, *asked.extra])
        return self._encode_answer(answers[0])

    def _encode_answer(self, answer: Any) -> bytes:
        """One answer as JSON; a screened tools list as last time is not encoded again (the
        guard hands back the same list object): only the id around it is new."""
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict) or set(answer) != {"jsonrpc", "id", "result"}:
            return _encode(answer)
        tools = result.get("tools")
        rest = {k: v for k, v in result.items() if k != "tools"}
        last = self._encoded
        if last is None or last[0] is not tools or last[1] != rest:
            last = self._encoded = (tools, rest, _encode(result))
        return b'{"jsonrpc":"2.0","id":' + _encode(answer["id"]) + b',"result":' + last[2] + b"}"

    def answer(self, message: Any, asked: Asked | None) -> Any:
        """A server message on its way to the client, screened when it answers a tools/list
        (``asked`` None: a stream, where any tools list counts)."""
        if not isinstance(message, dict):
            return message
        if "method" in message:
            self.guard.notification(message)
            return message
        first = asked.lists.get(id_key(message.get("id"))) if asked else None
        if asked is not None and first is None:
            return message  # the answer to another request of that POST
        return self.guard.response(message, first_page=first is not False)

    def event_screen(self, asked: Asked | None, relay: Stream) -> EventScreen:
        def on_message(message: Message) -> Message:
            if asked is None and relay.session and "id" in message and "method" not in message:
                key = (relay.session, id_key(message.get("id")))
                first = self.session_lists.pop(key, True)
                return self.answer(message, Asked({key[1]: first}, []))
            return self.answer(message, asked)

        screen = EventScreen(on_message)
        if asked is not None:
            screen.queued.extend(encode_event(m) for m in asked.extra)
        return screen

    def stream_started(self, relay: Stream) -> None:
        """A legacy SSE stream named its session (its ``endpoint`` event)."""
        assert relay.screen is not None
        relay.session = session_id(relay.screen.endpoint.partition("?")[2])
        if relay.session:
            self.streams[relay.session] = relay

    def stream_ended(self, relay: Stream) -> None:
        if relay.session:
            self.streams.pop(relay.session, None)
            for key in [k for k in self.session_lists if k[0] == relay.session]:
                del self.session_lists[key]


def _encode(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def session_id(query: str) -> str:
    """A legacy SSE session's id in a query string (``session_id``, or ``sessionId``)."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key in ("session_id", "sessionId"):
            return value
    return ""
