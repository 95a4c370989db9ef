"""The whole product in one test: ``thv apply`` of a file with the three transports (as a real
process), the official MCP SDK client through every proxy, a no-op re-plan, then ``thv down``
leaving no container, proxy process, run config or status file behind."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proxy_helpers import TOOLS, mcp_round_trip
from tests.support.images import ensure_mcp_image
from toolhive_compose.proxy.processes.procfs import pid_alive
from toolhive_compose.state import Store

pytestmark = pytest.mark.docker

FILE = """\
version: 1
project: {project}
groups:
  e2e: {{description: "three transports"}}
servers:
  {project}-stdio:
    image: {image}
    transport: stdio
    env: {{SERVER_ID: stdio}}
    group: e2e
  {project}-stdio-sse:
    image: {image}
    transport: stdio
    proxy_mode: sse
    env: {{SERVER_ID: stdio-sse}}
    group: e2e
  {project}-sse:
    image: {image}
    transport: sse
    env: {{SERVER_ID: sse}}
    group: e2e
  {project}-http:
    image: {image}
    transport: streamable-http
    env: {{SERVER_ID: http}}
    group: e2e
"""


def thv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
    )  # fmt: skip


def test_apply_three_transports_serve_mcp_then_down(tmp_path: Path, test_project: str) -> None:
    file = tmp_path / "workloads.yaml"
    file.write_text(FILE.format(project=test_project, image=ensure_mcp_image()))

    applied = thv("apply", "-f", str(file), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete: 5 action(s) done." in applied.stdout

    replan = thv("plan", "-f", str(file), "--detailed-exitcode")
    assert replan.returncode == 0, replan.stdout + replan.stderr

    listed = thv("list", "--group", "e2e", "--format", "mcpservers")
    servers = json.loads(listed.stdout)["mcpServers"]
    assert sorted(servers) == sorted(
        f"{test_project}-{s}" for s in ("stdio", "stdio-sse", "sse", "http")
    )
    for name, server in sorted(servers.items()):
        sse = server["type"] == "sse"
        tools, echoed = asyncio.run(mcp_round_trip(server["url"], sse=sse, text=f"hi {name}"))
        assert (tools, echoed) == (TOOLS, f"hi {name}"), name

    store = Store.from_env()
    pids = [store.statuses.get(name).process_id for name in servers]  # type: ignore[union-attr]
    assert all(pid_alive(pid) for pid in pids)

    down = thv("down", "-f", str(file), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    left = thv("list", "--all", "--format", "json")
    assert [w["name"] for w in json.loads(left.stdout) if w["name"].startswith(test_project)] == []
    assert not any(pid_alive(pid) for pid in pids)
    assert store.runconfigs.names() == [] and store.statuses.names() == []
    assert store.groups.read("e2e") is None
