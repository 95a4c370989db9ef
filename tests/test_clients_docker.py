"""MCP clients on a real engine: ``thv apply`` registers real servers in the real-shaped files
of all 25 supported clients in a temporary HOME, the official MCP SDK client connects to the
URL read from each file, a port change rewrites the entries in the same apply, and
``thv down`` gives every file back byte for byte."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.proxy_helpers import TOOLS, free_port, mcp_round_trip
from tests.support.clients import fixture, on_disk
from tests.support.images import ensure_mcp_image
from toolhive_compose.clients.catalog import CLIENT_NAMES, CLIENTS, config_path, install_marker

pytestmark = pytest.mark.docker

URL_FIELDS = ("url", "serverUrl", "httpUrl", "uri")


def thv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
    )  # fmt: skip


def urls(home: Path, client: str) -> dict[str, str]:
    """Server name → the URL written in ``client``'s file (read as the client would)."""
    path = Path(config_path(CLIENTS[client], str(home), "linux"))
    servers = on_disk(path, CLIENTS[client].servers_key)
    return {
        name: next(entry[f] for f in URL_FIELDS if f in entry)
        for name, entry in servers.items()
        if any(f in entry for f in URL_FIELDS)
    }


async def connect_all(targets: list[tuple[str, str, bool]]) -> list[tuple[list[str], str]]:
    """The MCP SDK round trip through each URL, all at once."""
    return list(
        await asyncio.gather(*(mcp_round_trip(url, sse=sse, text=who) for who, url, sse in targets))
    )


def test_clients_reach_real_servers_through_the_urls_in_their_files(
    isolated_home: Path, tmp_path: Path, test_project: str
) -> None:
    before = {}
    for client in CLIENT_NAMES:  # installed, with their real-shaped file if they have one
        app = CLIENTS[client]
        if len(app.path) > 1:
            Path(install_marker(app, str(isolated_home), "linux")).mkdir(
                parents=True, exist_ok=True
            )
        path = Path(config_path(app, str(isolated_home), "linux"))
        source = fixture(client)
        if source is not None:
            path.write_bytes(source.read_bytes())
        before[client] = path.read_bytes() if path.exists() else None
    http, sse = f"{test_project}-http", f"{test_project}-sse"
    file = tmp_path / "workloads.yaml"
    spec = {
        "version": 1,
        "project": test_project,
        "groups": {test_project: {"clients": list(CLIENT_NAMES)}},
        "servers": {
            http: {"image": ensure_mcp_image(), "group": test_project},
            sse: {"image": ensure_mcp_image(), "proxy_mode": "sse", "group": test_project},
        },
    }
    file.write_text(yaml.safe_dump(spec))

    applied = thv("apply", "-f", str(file), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"{2 * len(CLIENT_NAMES)} client entr(ies) to register" in applied.stdout
    targets = [
        (f"{client} {name}", urls(isolated_home, client)[name], name == sse)
        for client in CLIENT_NAMES
        for name in (http, sse)
    ]
    assert asyncio.run(connect_all(targets)) == [(TOOLS, who) for who, _, _ in targets]

    port = free_port()
    spec["servers"][http]["port"] = port  # type: ignore[index]
    file.write_text(yaml.safe_dump(spec))
    moved = thv("apply", "-f", str(file), "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"{len(CLIENT_NAMES)} client entr(ies) to update" in moved.stdout
    for client in CLIENT_NAMES:
        assert urls(isolated_home, client)[http] == f"http://127.0.0.1:{port}/mcp", client
    url = urls(isolated_home, "cursor")[http]
    assert asyncio.run(mcp_round_trip(url, text="moved"))[1] == "moved"

    down = thv("down", "-f", str(file), "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    for client, original in before.items():
        path = Path(config_path(CLIENTS[client], str(isolated_home), "linux"))
        assert (path.read_bytes() if path.exists() else None) == original, client
