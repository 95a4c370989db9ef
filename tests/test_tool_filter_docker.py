"""ToolHive's tool filter and overrides on real containers, every transport, through ``thv``.

One file with four servers of ``thc-test/mcp-surface:1`` (stdio behind streamable HTTP and
behind SSE, an SSE server, a streamable HTTP server), all with the same filter and override,
applied as a real process; the official MCP SDK client then sees the filtered, renamed
surface through each proxy.  Changing the filter is a ``reconfigure``: the containers and the
proxy processes stay, and the new filter holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError

from tests.proxy_helpers import in_session
from tests.support.images import ensure_surface_image
from toolhive_compose.runtime import get_runtime
from toolhive_compose.state import Store

pytestmark = pytest.mark.docker

SERVERS = {
    "stdio": "transport: stdio",
    "stdio-sse": "transport: stdio\n    proxy_mode: sse",
    "sse": "transport: sse",
    "http": "transport: streamable-http",
}


def workloads_file(project: str, image: str, tools: str) -> str:
    lines = [f"version: 1\nproject: {project}\nservers:"]
    for suffix, transport in SERVERS.items():
        lines.append(
            f"  {project}-{suffix}:\n    image: {image}\n    {transport}\n    tools: {tools}\n"
            "    tools_override:\n      echo: {name: say, description: Say it back.}"
        )
    return "\n".join(lines) + "\n"


def thv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
    )  # fmt: skip


def container_ids(project: str) -> dict[str, str]:
    found = get_runtime().list_containers(labels=[f"toolhive-compose.project={project}"])
    return {c.name: c.id for c in found}


async def view(session: ClientSession) -> tuple[dict[str, str], str, str]:
    tools = {t.name: t.description or "" for t in (await session.list_tools()).tools}
    said = await session.call_tool("say", {"text": "hi"})
    try:
        await session.call_tool("whoami", {})
        refused = "not refused"
    except McpError as exc:
        refused = exc.error.message
    return tools, said.content[0].text, refused  # type: ignore[union-attr]


def test_filter_and_overrides_on_every_transport_then_a_reconfigure(
    tmp_path: Path, test_project: str
) -> None:
    file = tmp_path / "workloads.yaml"
    image = ensure_surface_image("1")
    file.write_text(workloads_file(test_project, image, "[say, add]"))
    applied = thv("apply", "-f", str(file), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    try:
        servers = json.loads(thv("list", "--format", "mcpservers").stdout)["mcpServers"]
        mine = {n: s for n, s in servers.items() if n.startswith(test_project)}
        assert len(mine) == 4
        for name, server in sorted(mine.items()):
            sse = server["type"] == "sse"
            tools, said, refused = asyncio.run(in_session(server["url"], view, sse=sse))
            assert tools == {"say": "Say it back.", "add": "Return a + b."}, name
            assert (said, refused) == ("hi", "tool not found"), name

        store = Store.from_env()
        before = {n: store.statuses.get(n).process_id for n in mine}  # type: ignore[union-attr]
        containers = container_ids(test_project)
        file.write_text(workloads_file(test_project, image, "[say, add, whoami]"))
        plan = thv("plan", "-f", str(file), "--format", "json")
        kinds = {(a["kind"], a["name"]) for a in json.loads(plan.stdout)["actions"]}
        assert kinds == {("reconfigure", n) for n in mine}, plan.stdout
        risks = {tuple(a["risk"]) for a in json.loads(plan.stdout)["actions"]}
        assert risks == {("privilege-widening",)}  # the filter admits whoami
        asked = thv("apply", "-f", str(file), "--yes")  # off a terminal: --allow needed
        assert asked.returncode == 1 and "--allow privilege-widening" in asked.stderr
        again = thv("apply", "-f", str(file), "--yes", "--allow", "privilege-widening")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "4 action(s) done" in again.stdout
        after = {n: store.statuses.get(n).process_id for n in mine}  # type: ignore[union-attr]
        assert after == before  # the same proxies, no restart
        for name, server in sorted(mine.items()):
            sse = server["type"] == "sse"
            tools, _, refused = asyncio.run(in_session(server["url"], view, sse=sse))
            assert sorted(tools) == ["add", "say", "whoami"] and refused == "not refused", name
        assert thv("plan", "-f", str(file), "--detailed-exitcode").returncode == 0
        assert container_ids(test_project) == containers  # the same containers
    finally:
        down = thv("down", "-f", str(file), "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
