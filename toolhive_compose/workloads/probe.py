"""The tool surface of a server's new configuration, read in a throwaway container first.

A replace must not take the old workload down before the new one passes its check against
``workloads.lock``, and the new one cannot have the old one's ports while the old one runs.
So the new configuration (image, args, env, secrets, volumes, permission profile) runs once
more in a container of its own, ``<name>-probe-<6 hex>``: without ToolHive's labels (it is no
workload; ``thv list`` never shows it), its HTTP port published on a free host port instead
of the workload's, removed right after.  Its tools are read straight from it (a stdio server
over the engine's attach stream, an HTTP one through that port) and the filter and overrides
applied as the proxy would.  A remote server is read at its URL.

A server on the host's network cannot run twice on its ports: it is not probed (None), and is
checked after its start instead.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from typing import Any

from ..errors import EngineError
from ..model import LABEL_PROJECT, ServerSpec
from ..ports import PortAllocator
from ..proxy.engine_async import STDERR, Demuxer, EngineFailure, attach
from ..proxy.processes.readiness import MAX_PAGES, NotReady, wait_ready
from ..proxy.transports.bridge import LineSplitter
from ..runtime import Runtime
from ..state.runconfig import HTTP_TRANSPORTS, build_runconfig
from ..tools import Nameless, Override, ToolConfig, ToolView, screen
from .containers import container_params

PROBE_TIMEOUT = 60.0
LABEL_PROBE = "toolhive-compose.probe"


def probe_surface(
    runtime: Runtime,
    spec: ServerSpec,
    *,
    project: str,
    target_port: int | None,
    secret_env: dict[str, str],
    timeout: float = PROBE_TIMEOUT,
) -> dict[str, ToolView] | None:
    """The tools ``spec`` would offer through its filter (name -> view); None: not probed."""
    if spec.remote:
        found: list[dict[str, Any]] | None = _read(spec.url, spec.transport == "sse", timeout)
    else:
        found = _in_container(runtime, spec, project, target_port, secret_env, timeout)
    if found is None:
        return None
    config = ToolConfig(
        filter=frozenset(spec.tools),
        overrides={a: Override(n, d) for a, n, d in spec.tools_override},
    )
    try:
        return screen(found, config).views
    except Nameless as exc:
        raise EngineError(f"the new configuration of {spec.name}: {exc}") from None


def _in_container(
    runtime: Runtime,
    spec: ServerSpec,
    project: str,
    target_port: int | None,
    secret_env: dict[str, str],
    timeout: float,
) -> list[dict[str, Any]] | None:
    http = spec.transport in HTTP_TRANSPORTS
    labels = {LABEL_PROBE: spec.name, **({LABEL_PROJECT: project} if project else {})}
    rc = build_runconfig(
        spec, port=0, target_port=target_port, project=project, canon={}, config_hash=""
    )
    params = replace(container_params(rc, secret_env), labels=labels)
    if params.network_mode == "host":
        return None
    host_port = PortAllocator(set).allocate() if http else 0
    params = replace(
        params,
        name=f"{spec.name}-probe-{os.urandom(3).hex()}",
        publish=((int(target_port or 0), host_port),) if http else (),
    )
    container_id = runtime.create(params)
    try:
        runtime.start(container_id)
        if http:
            path = "sse" if spec.transport == "sse" else "mcp"
            return _read(f"http://127.0.0.1:{host_port}/{path}", path == "sse", timeout)
        return asyncio.run(asyncio.wait_for(_stdio_tools(runtime, container_id), timeout))
    except (TimeoutError, EngineFailure, OSError) as exc:
        raise EngineError(
            f"the new configuration of {spec.name} did not list its tools in a probe: {exc}"
        ) from None
    finally:
        runtime.remove(container_id)


def _read(url: str, sse: bool, timeout: float) -> list[dict[str, Any]]:
    try:
        return wait_ready(url, sse=sse, timeout=timeout)
    except NotReady as exc:
        raise EngineError(f"could not list the tools at {url}: {exc}") from None


async def _stdio_tools(runtime: Runtime, container_id: str) -> list[dict[str, Any]]:
    """initialize, then tools/list page by page, over the container's stdin and stdout."""
    conn, multiplexed = await attach(runtime.endpoint, container_id)
    demux, lines = Demuxer(), LineSplitter()
    try:
        answers = _answers(conn, demux, lines, multiplexed)
        init = {"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "toolhive-compose-probe", "version": "1"}}  # fmt: skip
        await _send(conn, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        await anext(answers)
        await _send(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools: list[dict[str, Any]] = []
        cursor = None
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {"cursor": cursor} if cursor else {}
            await _send(conn, {"jsonrpc": "2.0", "id": 2 + page, "method": "tools/list",
                               "params": params})  # fmt: skip
            result = await anext(answers)
            tools += [t for t in result.get("tools") or [] if isinstance(t, dict)]
            if not (cursor := result.get("nextCursor")):
                return tools
        raise OSError(f"tools/list still had more pages after {MAX_PAGES}")
    finally:
        conn.close()


async def _send(conn: Any, message: dict[str, Any]) -> None:
    conn.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    await conn.drain()


async def _answers(conn: Any, demux: Demuxer, lines: LineSplitter, multiplexed: bool) -> Any:
    """The results of the server's answers, in order (its notifications and logs skipped)."""
    while data := await conn.read_some():
        for stream, payload in demux.feed(data) if multiplexed else [(1, data)]:
            if stream == STDERR:
                continue
            for line in lines.feed(payload):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and "id" in doc and "method" not in doc:
                    if "error" in doc:
                        raise OSError(f"the server answered with an error: {doc['error']}")
                    yield doc.get("result") or {}
    raise OSError("the server's output ended")
