"""ToolHive's tool filter and overrides, and our pins, enforced by the proxy (no Docker).

The surface test server (``tests/support/mcp_surface_server.py``) runs as a local process:
over pipes behind the stdio bridge (both proxy modes), and over HTTP behind the reverse proxy
(streamable HTTP and legacy SSE).  The official MCP SDK client talks through the proxy apps
in this process; the last tests use the detached proxy process of a remote workload.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError

from tests.proxy_helpers import free_port, in_session, rug_pull, wait_until
from tests.test_proxy_local import LoopThread, local_servers, serve, serve_stdio_app
from toolhive_compose.fingerprint import canonical
from toolhive_compose.model import ServerSpec
from toolhive_compose.proxy.transports.reverse import ReverseProxy, Upstream
from toolhive_compose.proxy.transports.toolsurface import SurfaceGuard
from toolhive_compose.state import Store
from toolhive_compose.state.surfaces import read_report
from toolhive_compose.tools import ToolConfig, screen, tool_digest
from toolhive_compose.workloads.lifecycle import Lifecycle

SERVER = Path(__file__).parent / "support" / "mcp_surface_server.py"
FILTER = {"tools_filter": ["say", "add"], "tools_override": {"echo": {"name": "say"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def guard(name: str, rc: dict[str, Any]) -> SurfaceGuard:
    """A guard reading a run config written for ``name`` (so reloads can be tested)."""
    store = Store.from_env()
    store.runconfigs.write(name, {"name": name, **rc})
    return SurfaceGuard(name, store, store.runconfigs.read(name) or {})


async def serve_stdio(port: int, surface_guard: SurfaceGuard, *, sse: bool, env: str = "1") -> None:
    environ = {"SURFACE": env, "PATH": "/usr/bin:/bin"}
    await serve_stdio_app(port, sse=sse, server=SERVER, env=environ, guard=surface_guard)


@pytest.fixture
def surface_server() -> Iterator[Any]:
    """surface_server(transport, variant) -> port of a local surface server."""
    with local_servers() as start:
        yield lambda transport, variant="1": start(
            transport, server=SERVER, env={"SURFACE": variant, "PATH": "/usr/bin:/bin"}
        )


async def filtered_view(session: ClientSession) -> dict[str, Any]:
    """What a client sees and gets with FILTER: the list, a renamed call, refused calls."""
    tools = (await session.list_tools()).tools
    said = await session.call_tool("say", {"text": "renamed"})
    refused = {}
    for name, args in (("whoami", {}), ("echo", {"text": "old name"})):
        try:
            await session.call_tool(name, args)
            refused[name] = "not refused"
        except McpError as exc:
            refused[name] = f"{exc.error.code} {exc.error.message}"
    return {
        "tools": sorted(t.name for t in tools),
        "say": said.content[0].text,  # type: ignore[union-attr]
        "refused": refused,
    }


EXPECTED = {
    "tools": ["add", "say"],
    "say": "renamed",
    # the server's own name of a renamed tool is not in the filter: refused (ToolHive's rule)
    "refused": {"whoami": "-32602 tool not found", "echo": "-32602 tool not found"},
}


@pytest.mark.parametrize("sse", [False, True], ids=["streamable-http", "sse"])
def test_stdio_bridge_filters_and_renames(loop_thread: LoopThread, sse: bool) -> None:
    port = free_port()
    loop_thread.run(serve_stdio(port, guard("st", FILTER), sse=sse))
    url = f"http://127.0.0.1:{port}/{'sse' if sse else 'mcp'}"
    assert asyncio.run(in_session(url, filtered_view, sse=sse)) == EXPECTED


@pytest.mark.parametrize(("transport", "path"), [("streamable-http", "/mcp"), ("sse", "/sse")])
def test_reverse_proxy_filters_and_renames(
    loop_thread: LoopThread, surface_server: Any, transport: str, path: str
) -> None:
    upstream = surface_server(transport)
    port = free_port()
    proxy = ReverseProxy(Upstream.from_url(f"http://127.0.0.1:{upstream}"), guard("rv", FILTER))
    loop_thread.run(serve(proxy.handle, port))
    sse = transport == "sse"
    assert asyncio.run(in_session(f"http://127.0.0.1:{port}{path}", filtered_view, sse=sse)) == (
        EXPECTED
    )


def test_an_override_without_a_filter_keeps_the_old_name_callable(loop_thread: LoopThread) -> None:
    """ToolHive: with overrides and no filter, the server's own name still passes."""
    port = free_port()
    rc = {"tools_override": {"echo": {"name": "say", "description": "Says it back."}}}
    loop_thread.run(serve_stdio(port, guard("ov", rc), sse=False))

    async def body(session: ClientSession) -> tuple[dict[str, str], str, str]:
        tools = {t.name: t.description or "" for t in (await session.list_tools()).tools}
        new = await session.call_tool("say", {"text": "new"})
        old = await session.call_tool("echo", {"text": "old"})
        return tools, new.content[0].text, old.content[0].text  # type: ignore[union-attr]

    tools, new, old = asyncio.run(in_session(f"http://127.0.0.1:{port}/mcp", body))
    assert tools["say"] == "Says it back." and "echo" not in tools
    assert set(tools) == {"say", "add", "whoami"}
    assert (new, old) == ("new", "old")


# -- the HTTP shapes ToolHive answers with, and batches --------------------------------------
def _post(url: str, body: Any, session: str = "", accept: str = "") -> httpx.Response:
    headers = dict(ACCEPT)
    if accept:
        headers["Accept"] = accept
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(url, content=json.dumps(body), headers=headers, timeout=20)


def _initialize(url: str) -> str:
    init = {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    response = _post(url, init)
    session = response.headers.get("mcp-session-id", "")
    _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def _answers(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        found = [json.loads(line[5:]) for line in response.text.splitlines() if line[:5] == "data:"]
        return found if len(found) != 1 else found[0]
    return response.json()


@pytest.mark.parametrize("kind", ["stdio", "streamable-http"])
def test_toolhive_http_answers_and_batches(
    loop_thread: LoopThread, surface_server: Any, kind: str
) -> None:
    port = free_port()
    if kind == "stdio":
        loop_thread.run(serve_stdio(port, guard("hb", FILTER), sse=False))
    else:
        upstream = f"http://127.0.0.1:{surface_server('streamable-http')}"
        proxy = ReverseProxy(Upstream.from_url(upstream), guard("hb", FILTER))
        loop_thread.run(serve(proxy.handle, port))
    url = f"http://127.0.0.1:{port}/mcp"
    session = _initialize(url)
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "whoami"}}

    refused = _post(url, call, session)
    assert refused.status_code == 200 and refused.headers["content-type"] == "application/json"
    assert refused.content == (
        b'{"error":{"code":-32602,"message":"tool not found"},"id":7,"jsonrpc":"2.0"}'
    )  # ToolHive's bytes: Go marshals a map with sorted keys
    assert _post(url, call, session, accept="text/event-stream").status_code == 400
    bogus = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": ""}}
    bogus_answer = _post(url, bogus, session)
    assert (bogus_answer.status_code, bogus_answer.content) == (400, b"")

    refused_only = [call, {**call, "id": 9}]
    assert _answers(_post(url, refused_only, session)) == [
        {"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "tool not found"}},
        {"jsonrpc": "2.0", "id": 9, "error": {"code": -32602, "message": "tool not found"}},
    ]  # answered by the proxy: nothing reaches the server
    if kind != "stdio":
        return  # FastMCP's HTTP server takes no batches (MCP 2025-06-18 dropped them)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami"}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "say", "arguments": {"text": "in a batch"}}},
    ]  # fmt: skip
    answers = {a["id"]: a for a in _answers(_post(url, batch, session))}
    assert sorted(t["name"] for t in answers[1]["result"]["tools"]) == ["add", "say"]
    assert answers[2]["error"] == {"code": -32602, "message": "tool not found"}
    assert answers[3]["result"]["content"][0]["text"] == "in a batch"


# -- pins -------------------------------------------------------------------------------------
def surface_of(variant: str) -> list[dict[str, Any]]:
    """The tools/list of a surface server, straight from it (no proxy).  Its stdin stays
    open until the answer came: at end of input the server drops what is in flight."""
    messages = (
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )  # fmt: skip
    with subprocess.Popen(
        [sys.executable, str(SERVER), "--transport", "stdio"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={"SURFACE": variant, "PATH": "/usr/bin:/bin"},
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        for line in proc.stdout:
            doc = json.loads(line)
            if doc.get("id") == 2:
                proc.stdin.close()
                return list(doc["result"]["tools"])
    raise AssertionError("the server did not answer tools/list")


def pins_of(variant: str) -> dict[str, str]:
    return {t["name"]: tool_digest(t) for t in surface_of(variant)}


def test_a_flipped_description_is_withheld_after_list_changed(loop_thread: LoopThread) -> None:
    """The rug pull: a pinned server changes a description and announces it.  The next list
    leaves the tool out, its calls are refused naming why, the status and log say so."""
    port = free_port()
    surface_guard = guard("rug", {"toolhive_compose": {"spec": {"tool_pins": pins_of("flip")}}})
    store = surface_guard.store
    store.statuses.set_running("rug", __import__("os").getpid())
    loop_thread.run(serve_stdio(port, surface_guard, sse=False, env="flip"))
    before, after, refused = asyncio.run(rug_pull(f"http://127.0.0.1:{port}/mcp"))
    assert before == ["add", "echo", "flip", "whoami"]
    assert after == ["add", "flip", "whoami"]
    assert refused == "tool echo is withheld by the proxy: changed since workloads.lock pinned it"
    report = read_report(store.paths, "rug")
    assert report["withheld"] == {"echo": "changed since workloads.lock pinned it"}
    assert "~/.ssh/id_rsa" in report["tools"]["echo"]["description"]
    status = store.statuses.get("rug")
    assert status is not None and status.status_context.startswith("tools withheld")


def test_pins_withhold_new_and_changed_tools() -> None:
    tools = surface_of("2")
    screened = screen(tools, ToolConfig(pins=pins_of("1")))
    assert sorted(t["name"] for t in screened.tools) == ["add", "whoami"]
    assert screened.withheld == {
        "echo": "changed since workloads.lock pinned it",
        "shout": "not in workloads.lock",
    }


# -- the detached proxy process: a filter change is followed without a restart ----------------
def test_reconfigure_is_followed_by_the_running_proxy(surface_server: Any) -> None:
    upstream = surface_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]  # remote: no runtime calls
    url = f"http://127.0.0.1:{upstream}/mcp"
    spec = ServerSpec(name="rc", url=url, transport="streamable-http")
    canon = lifecycle.create(spec, canonical(spec), project="p")
    url = f"http://127.0.0.1:{canon['port']}/mcp"

    async def names(session: ClientSession) -> list[str]:
        return sorted(t.name for t in (await session.list_tools()).tools)

    try:
        pid = store.statuses.get("rc").process_id  # type: ignore[union-attr]
        assert asyncio.run(in_session(url, names)) == ["add", "echo", "whoami"]
        narrowed = {**canon, "tools": ["add"]}
        lifecycle.reconfigure("rc", narrowed)
        assert store.statuses.get("rc").process_id == pid  # type: ignore[union-attr]
        assert read_report(store.paths, "rc")["pid"] == pid
        assert asyncio.run(in_session(url, names)) == ["add"]
        rc = store.runconfigs.read("rc") or {}
        assert rc["tools_filter"] == ["add"] and rc["toolhive_compose"]["spec"]["tools"] == ["add"]
        lifecycle.reconfigure("rc", {**canon, "tools": []})
        assert "tools_filter" not in (store.runconfigs.read("rc") or {})
        wait_until(lambda: asyncio.run(in_session(url, names)) == ["add", "echo", "whoami"])
        assert store.statuses.get("rc").process_id == pid  # type: ignore[union-attr]
    finally:
        lifecycle.delete("rc", "")
