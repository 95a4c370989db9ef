"""The tool surface a proxy enforces, at the few points where the transports call it.

One :class:`SurfaceGuard` per proxy holds the workload's tool settings (ToolHive's
``tools_filter`` / ``tools_override`` and our pins, :func:`~...state.runconfig_spec.tool_config`)
and applies them with :mod:`toolhive_compose.tools`:

- :meth:`~SurfaceGuard.requests`: the ``tools/call`` requests of a POST, before they go to
  the server: a filtered tool is answered ToolHive's ``{"code": -32602, "message": "tool not
  found"}``, a withheld one an error naming the reason, a renamed one is forwarded under the
  server's name; everything else passes untouched (only ``tools/call`` is looked at);
- :meth:`~SurfaceGuard.response`: a ``tools/list`` answer, renamed, filtered and checked
  against the pins; ``nextCursor`` and ``_meta`` are kept (ToolHive drops them: a bug);
- :meth:`~SurfaceGuard.notification`: ``notifications/tools/list_changed`` is logged; the
  next ``tools/list`` is checked like every other.

The settings are re-read when the run config changes (``thv apply`` rewrites it for a
``reconfigure``), checked by a ``stat`` when a ``tools/list`` answer passes, and at most twice
a second as ``tools/call`` requests pass.  A workload with no filter, override or pin costs
nothing more than that check.

What the guard saw goes to a small report of ours, ``<state>/toolhive-compose/surfaces/
<name>.json`` (PID, settings digest, the server's own tool names, each admitted tool's digest
and description, what is withheld and why), rewritten only when it changes; withheld tools
also show in the status file's ``status_context`` (``thv list`` / ``thv status``) and are
logged once per tool and digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import StateError
from ...state.runconfig_spec import tool_config
from ...state.store import Store
from ...state.surfaces import write_report
from ...tools import (
    DRIFT_CONTEXT,
    NOT_FOUND_MESSAGE,
    Call,
    Nameless,
    Screened,
    ToolConfig,
    ToolView,
    refusal,
    screen,
    withheld_message,
)
from ..http.server import log
from ..http.wire import Conn, respond

Message = dict[str, Any]
LIST, CALL = "tools/list", "tools/call"
LIST_CHANGED = "notifications/tools/list_changed"
BOGUS_MESSAGE = "invalid tools/call: params.name must be a non-empty string"
INTERNAL_ERROR = -32603
RECHECK = 0.5  # seconds between two looks at the run config as calls pass


def may_concern_tools(body: bytes) -> bool:
    """Whether a JSON body may hold a ``tools/*`` method or a tools list: its bytes name
    ``tools``, or could hide the name behind an escape or another encoding than UTF-8."""
    return b"tools" in body or b"\\" in body or b"\x00" in body


@dataclass(slots=True)
class Screening:
    """The messages of one POST after the guard."""

    forward: list[Message]  # to the server, renamed calls rewritten
    answers: list[Message] = field(default_factory=list)  # refusals, answered by the proxy
    bogus: bool = False  # a tools/call with no usable name (ToolHive answers HTTP 400)
    lists: dict[str, bool] = field(default_factory=dict)  # tools/list id key -> first page


def id_key(value: Any) -> str:
    """A JSON-RPC id as a dictionary key (JSON text never starts with ``i`` or ``s``)."""
    if type(value) is int:
        return f"i{value}"
    if type(value) is str:
        return "s" + value
    return json.dumps(value, sort_keys=True)


class SurfaceGuard:
    """Enforces one workload's tool settings; see the module docstring."""

    def __init__(self, name: str, store: Store, rc: dict[str, Any]) -> None:
        self.name = name
        self.store = store
        self.path = store.runconfigs.path(name)
        self._stamp = _stamp(self.path)
        self.config = tool_config(rc)
        self.withheld: dict[str, str] = {}  # client-visible name -> reason
        self.views: dict[str, ToolView] = {}  # every admitted tool of the last list
        self.server_tools: tuple[str, ...] | None = None
        self._logged: set[tuple[str, str]] = set()
        self._written: dict[str, Any] | None = None
        # the last page screened: a server answers the same list again and again, and
        # comparing two lists costs a few µs where screening one (digests) costs ~100
        self._last: tuple[list[Any], ToolConfig, bool, Screened] | None = None
        self._config_digest: tuple[ToolConfig, str] | None = None
        self._looked = time.monotonic()

    @property
    def active(self) -> bool:
        return self.config.active

    def current(self, *, fresh: bool = True) -> ToolConfig:
        """The settings to enforce now, re-read if the run config changed since (not fresh:
        looked at again only when the last look is half a second old)."""
        now = time.monotonic()
        if not fresh and now - self._looked < RECHECK:
            return self.config
        self._looked = now
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self.config
        self._stamp = stamp
        try:
            rc = self.store.runconfigs.read(self.name)
        except StateError as exc:
            log(f"error: cannot re-read the tool settings (the last ones stay): {exc}")
            return self.config
        new = tool_config(rc) if rc is not None else self.config
        if new != self.config:
            self.config, self.withheld, self.views = new, {}, {}
            log(f"tool settings reloaded from the run config ({new.digest()[:19]})")
            self.write_report()
        return self.config

    # -- client to server ------------------------------------------------------------------
    def requests(self, messages: Iterable[Message]) -> Screening:
        out = Screening([])
        for message in messages:
            method = message.get("method")
            if method == LIST and "id" in message:
                params = message.get("params")
                cursor = params.get("cursor") if isinstance(params, dict) else None
                out.lists[id_key(message["id"])] = cursor is None
                out.forward.append(message)
            elif method == CALL:
                self._call(message, out)
            else:
                out.forward.append(message)
        return out

    def _call(self, message: Message, out: Screening) -> None:
        config = self.current(fresh=False)
        if not config.active:
            out.forward.append(message)
            return
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        decision, detail = config.route(name, self.withheld)
        request_id = message.get("id")
        if decision is Call.PASS:
            out.forward.append(message)
        elif decision is Call.RENAME:
            out.forward.append({**message, "params": {**params, "name": detail}})  # type: ignore[dict-item]
        elif decision is Call.FILTERED:
            out.answers.append(refusal(request_id, NOT_FOUND_MESSAGE))
        elif decision is Call.WITHHELD:
            out.answers.append(refusal(request_id, withheld_message(str(name), detail)))
        else:
            out.bogus = True
            out.answers.append(refusal(request_id, BOGUS_MESSAGE))

    # -- server to client ------------------------------------------------------------------
    def response(self, message: Message, *, first_page: bool = True) -> Message:
        """``message`` with a tools list screened; anything else unchanged."""
        result = message.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return message
        config = self.current()
        if not config.active:
            return message
        tools = result["tools"]
        last = self._last
        if last is not None and last[1] is config and last[2] == first_page and last[0] == tools:
            return {**message, "result": {**result, "tools": last[3].tools}}  # as last time
        try:
            screened = screen(tools, config)
        except Nameless as exc:
            log(f"error: {exc}; refusing to pass the list through unfiltered")
            error = {"code": INTERNAL_ERROR, "message": f"the proxy refused the tool list: {exc}"}
            return {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
        self._record(screened, first_page)
        self._last = (tools, config, first_page, screened)
        return {**message, "result": {**result, "tools": screened.tools}}

    def notification(self, message: Message) -> None:
        if message.get("method") == LIST_CHANGED:
            log("the server announced notifications/tools/list_changed")

    def _record(self, screened: Screened, first_page: bool) -> None:
        if first_page:
            self.withheld, self.views, names = {}, {}, screened.server_names
        else:
            names = (*(self.server_tools or ()), *screened.server_names)
        self.server_tools = tuple(dict.fromkeys(names))
        self.views.update(screened.views)
        self.withheld.update(screened.withheld)
        pins = self.config.pins or {}
        for name, reason in sorted(screened.withheld.items()):
            digest = screened.views[name].digest
            if (name, digest) not in self._logged:
                self._logged.add((name, digest))
                pinned = f" (pinned {pins[name][:19]}…)" if name in pins else ""
                log(f"withheld tool {name}: {reason}; it is now {digest[:19]}…{pinned}")
        self.write_report()

    # -- what the guard saw --------------------------------------------------------------
    def write_report(self) -> None:
        """The report file and the status context, when either changed."""
        withheld = dict(sorted(self.withheld.items()))
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "tool_config": self._digest(),
            "server_tools": list(self.server_tools) if self.server_tools is not None else None,
            "tools": {
                n: {"sha256": v.digest, "description": v.description}
                for n, v in sorted(self.views.items())
            },
            "withheld": withheld,
        }
        if doc == self._written:
            return
        previous, self._written = self._written, doc
        try:
            write_report(self.store.paths, self.name, doc)
            if previous is None or previous["withheld"] != withheld:
                self._status_context(withheld)
        except (OSError, StateError) as exc:
            log(f"error: cannot record the tool surface: {exc}")

    def _digest(self) -> str:
        if self._config_digest is None or self._config_digest[0] is not self.config:
            self._config_digest = (self.config, self.config.digest())
        return self._config_digest[1]

    def _status_context(self, withheld: dict[str, str]) -> None:
        statuses = self.store.statuses
        if withheld:
            context = DRIFT_CONTEXT + ", ".join(f"{n} ({r})" for n, r in withheld.items())
        else:
            current = statuses.get(self.name)
            if current is None or not current.status_context.startswith(DRIFT_CONTEXT):
                return
            context = ""
        statuses.transition(self.name, "running", context, only_from=("running",), pid=os.getpid())


def accepts_json(accept: str) -> bool:
    """ToolHive's clientAcceptsJSON: no Accept, or one naming application/json,
    application/* or */* (quality values ignored)."""
    if not accept:
        return True
    for entry in accept.split(","):
        media = entry.split(";", 1)[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return True
    return False


def refuse_single(conn: Conn, screening: Screening, accept: str) -> None:
    """ToolHive's answer to one refused ``tools/call`` POSTed alone: the JSON-RPC error over
    HTTP 200 (keys sorted, as Go marshals a map), or HTTP 400 with no body for a call with no
    name or a client that accepts no JSON."""
    if screening.bogus or not accepts_json(accept):
        respond(conn, 400)
        return
    body = json.dumps(screening.answers[0], sort_keys=True, separators=(",", ":"))
    respond(conn, 200, body.encode(), content_type="application/json")


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    with contextlib.suppress(OSError):
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    return None
