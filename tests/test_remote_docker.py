"""A remote workload (``url:``) through plan/apply, list, status, stop and down.

The "remote" MCP server is the streamable-http test image published on a loopback port,
started directly on the engine (it is not a workload).  The workload itself has no
container: a run config with ``remote_url``, a status file and a proxy.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.images import ensure_mcp_image
from toolhive_compose.ports import PortAllocator
from toolhive_compose.state import Store

pytestmark = pytest.mark.docker

PROJECT_LABEL = "toolhive-compose.project"


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:  # any HTTP answer means it is up
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def remote_url(test_project: str, docker_client: Any) -> Iterator[str]:
    """A streamable-http MCP server on 127.0.0.1; removed by ``test_project``'s cleanup."""
    port = PortAllocator(set).allocate()
    docker_client.containers.run(
        ensure_mcp_image(),
        name=f"{test_project}-upstream",
        environment={"MCP_TRANSPORT": "streamable-http", "MCP_PORT": "8080"},
        ports={"8080/tcp": ("127.0.0.1", port)},
        labels={PROJECT_LABEL: test_project},
        detach=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    _wait_http(url)
    yield url


def _listed(capsys: Any, name: str, *flags: str) -> dict[str, Any] | None:
    result = thv(capsys, "list", "--format", "json", *flags)
    assert result.code == 0, result.err
    return next((w for w in json.loads(result.out) if w["name"] == name), None)


def test_remote_workload_lifecycle(
    remote_url: str, test_project: str, tmp_path: Path, capsys: Any
) -> None:
    name = f"{test_project}-remote"
    file = tmp_path / "workloads.yaml"
    file.write_text(
        f"version: 1\nproject: {test_project}\nservers:\n  {name}:\n    url: {remote_url}\n"
    )
    try:
        applied = thv(capsys, "apply", "-f", str(file), "--yes")
        assert applied.code == 0, applied.out + applied.err
        rc = Store.from_env().runconfigs.read(name) or {}
        assert rc["remote_url"] == remote_url and rc["image"] == ""
        listed = _listed(capsys, name)
        assert listed is not None, "a serving remote workload is listed by default"
        assert listed["remote"] is True and listed["package"] == "remote"
        assert listed["url"] == f"http://127.0.0.1:{rc['port']}/mcp"
        status = json.loads(thv(capsys, "status", name, "--format", "json").out)
        assert status["status"] == "running" and status["transport"] == "streamable-http"
        assert thv(capsys, "plan", "-f", str(file), "--detailed-exitcode").code == 0

        assert thv(capsys, "stop", name).code == 0
        assert (_listed(capsys, name, "--all") or {})["status"] == "stopped"
        plan = json.loads(thv(capsys, "plan", "-f", str(file), "--format", "json").out)
        assert [(a["kind"], a["reason"]) for a in plan["actions"]] == [
            ("start", "proxy is stopped")
        ]
        assert thv(capsys, "apply", "-f", str(file), "--yes").code == 0
        assert (_listed(capsys, name) or {})["status"] == "running"

        assert thv(capsys, "down", "-f", str(file), "--yes").code == 0
        assert _listed(capsys, name, "--all") is None
        assert Store.from_env().runconfigs.read(name) is None
    finally:
        thv(capsys, "down", "-f", str(file), "--yes")
