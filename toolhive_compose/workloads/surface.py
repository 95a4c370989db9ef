"""A workload's tool surface, read live through its proxy (what a client gets from it).

One MCP round trip through the proxy (``initialize``, then ``tools/list`` page by page) gives
the tools a client is served, after the filter, the overrides and the pins.  Our proxy also
reports what it withholds because it no longer matches its pin (its report, written during
that very round trip: :mod:`toolhive_compose.proxy.transports.toolsurface`); those tools
count too, since the surface is what the server offers through the filter, pinned or not.
The report also names the server's own tool names, which warnings about unknown names in
``tools`` / ``tools_override`` need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EngineError, NotFound, ThvError
from ..proxy.processes.procfs import pid_alive
from ..proxy.processes.readiness import NotReady, wait_ready
from ..state import Store
from ..state.surfaces import read_report
from ..tools import ToolView, view_of
from .queries import mcp_endpoint

READ_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class Surface:
    """What a workload offers through its filter: served or withheld by the pins."""

    views: dict[str, ToolView]  # client-visible name -> digest and description
    served: tuple[str, ...]  # the names a client is served now
    withheld: dict[str, str]  # name -> why the proxy withholds it
    server_tools: tuple[str, ...] | None = None  # the server's own names, when reported


def read_surface(store: Store, name: str, *, timeout: float = READ_TIMEOUT) -> Surface:
    """The live surface of ``name`` through its proxy; a clear error when it cannot be read."""
    rc = store.runconfigs.read(name)
    if rc is None:
        raise NotFound(f"workload {name} not found", hint="thv list --all shows every workload")
    status = store.statuses.get(name)
    if status is None or status.status != "running" or not pid_alive(status.process_id):
        state = status.status if status else "not started"
        raise ThvError(
            f"workload {name} is not serving (it is {state}), so its tools cannot be read",
            hint=f"thv start {name}",
        )
    url, sse = mcp_endpoint(name, rc)
    try:
        tools = wait_ready(url, sse=sse, timeout=timeout)
    except NotReady as exc:
        raise EngineError(f"cannot read the tools of {name} through its proxy: {exc}") from None
    views = {str(t["name"]): view_of(t) for t in tools if isinstance(t.get("name"), str)}
    served = tuple(views)
    report = read_report(store.paths, name)
    if report.get("pid") != status.process_id:
        return Surface(views, served, {})
    withheld = {str(k): str(v) for k, v in (report.get("withheld") or {}).items()}
    for tool in withheld:
        views[tool] = _view(report, tool)
    server_tools = report.get("server_tools")
    names = tuple(str(n) for n in server_tools) if isinstance(server_tools, list) else None
    return Surface(views, served, withheld, names)


def _view(report: dict[str, Any], name: str) -> ToolView:
    entry = (report.get("tools") or {}).get(name) or {}
    return ToolView(str(entry.get("sha256") or ""), str(entry.get("description") or ""))
