"""MCP clients on a real engine: ``thv apply`` registers real servers in the (real-shaped)
files of four clients in a temporary HOME, the official MCP SDK client connects to the URL
read from each file, a port change rewrites the entries in the same apply, and ``thv down``
gives every file back byte for byte."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.proxy_helpers import TOOLS, free_port, mcp_round_trip
from tests.support.clients import fixture
from tests.support.images import ensure_mcp_image
from toolhive_compose.clients import jsonc
from toolhive_compose.clients.catalog import CLIENTS, config_path, install_marker

pytestmark = pytest.mark.docker

CLIENT_FILES = ("cursor", "vscode", "goose", "codex")


def thv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
    )  # fmt: skip


def urls(home: Path, client: str) -> dict[str, str]:
    """Server name → the URL written in ``client``'s file (read as the client would)."""
    path = Path(config_path(CLIENTS[client], str(home), "linux"))
    text = path.read_text()
    if client == "goose":
        return {k: v["uri"] for k, v in yaml.safe_load(text)["extensions"].items() if "uri" in v}
    if client == "codex":
        servers: dict[str, Any] = tomllib.loads(text)["mcp_servers"]
        return {k: v["url"] for k, v in servers.items() if "url" in v}
    root = jsonc.parse(text)
    assert root is not None
    servers = root.data[CLIENTS[client].servers_key]
    return {k: v["url"] for k, v in servers.items() if "url" in v}


def test_clients_reach_real_servers_through_the_urls_in_their_files(
    isolated_home: Path, tmp_path: Path, test_project: str
) -> None:
    before = {}
    for client in CLIENT_FILES:
        app = CLIENTS[client]
        Path(install_marker(app, str(isolated_home), "linux")).mkdir(parents=True, exist_ok=True)
        path = Path(config_path(app, str(isolated_home), "linux"))
        source = fixture(client)
        assert source is not None
        path.write_bytes(source.read_bytes())
        before[client] = path.read_bytes()
    http, sse = f"{test_project}-http", f"{test_project}-sse"
    file = tmp_path / "workloads.yaml"
    spec = {
        "version": 1,
        "project": test_project,
        "groups": {test_project: {"clients": list(CLIENT_FILES)}},
        "servers": {
            http: {"image": ensure_mcp_image(), "group": test_project},
            sse: {"image": ensure_mcp_image(), "proxy_mode": "sse", "group": test_project},
        },
    }
    file.write_text(yaml.safe_dump(spec))

    applied = thv("apply", "-f", str(file), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "8 client entr(ies) to register" in applied.stdout
    for client in CLIENT_FILES:
        found = urls(isolated_home, client)
        for name in (http, sse):
            tools, echoed = asyncio.run(
                mcp_round_trip(found[name], sse=name == sse, text=f"{client} {name}")
            )
            assert (tools, echoed) == (TOOLS, f"{client} {name}"), (client, name)

    port = free_port()
    spec["servers"][http]["port"] = port  # type: ignore[index]
    file.write_text(yaml.safe_dump(spec))
    moved = thv("apply", "-f", str(file), "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "4 client entr(ies) to update" in moved.stdout
    for client in CLIENT_FILES:
        url = urls(isolated_home, client)[http]
        assert url == f"http://127.0.0.1:{port}/mcp", client
        assert asyncio.run(mcp_round_trip(url, text="moved"))[1] == "moved"

    down = thv("down", "-f", str(file), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    for client, original in before.items():
        path = Path(config_path(CLIENTS[client], str(isolated_home), "linux"))
        assert path.read_bytes() == original, client
