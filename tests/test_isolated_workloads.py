"""ToolHive's network-isolated workloads (sidecars + internal network), made as ToolHive makes
them (``tests/support/toolhive_isolated.py``): listed as one workload, served through the
ingress sidecar, and stopped, started, adopted, brought down and removed with their sidecars
and network, leaving nothing behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_helpers import TOOLS, mcp_round_trip
from tests.support.cli import thv
from tests.support.toolhive_isolated import ingress_port, isolated_runconfig, make_isolated
from toolhive_compose.ports import PortAllocator
from toolhive_compose.state import Store

pytestmark = pytest.mark.docker
SIDECARS = ("dns", "egress", "ingress")


def _states(client: Any, name: str) -> dict[str, str]:
    found = client.containers.list(all=True, filters={"name": name})
    return {c.name: c.status for c in found if c.name == name or c.name.startswith(f"{name}-")}


def _networks(client: Any, name: str) -> list[str]:
    return [n.name for n in client.networks.list(names=[f"toolhive-{name}-internal"])]


@pytest.fixture
def isolated(docker_client: Any, test_project: str) -> Iterator[Any]:
    """A factory of isolated workloads (run config + status file + containers); whatever is
    left of them is removed afterwards."""
    made: list[str] = []

    def make(suffix: str, transport: str) -> tuple[str, dict[str, Any]]:
        name = f"{test_project}-{suffix}"
        ports = PortAllocator(set)
        port, target = ports.allocate(), ports.allocate()
        rc = isolated_runconfig(name, transport=transport, port=port, target_port=target)
        store = Store.from_env()
        store.runconfigs.write(name, rc)
        store.statuses.set_status(name, "running")  # ToolHive's proxy is not here: unhealthy
        made.append(name)
        make_isolated(docker_client, rc)
        return name, rc

    yield make
    for name in made:
        for container in docker_client.containers.list(all=True, filters={"name": name}):
            if container.name == name or container.name.startswith(f"{name}-"):
                container.remove(force=True)
        for network in docker_client.networks.list(names=[f"toolhive-{name}-internal"]):
            network.remove()


def test_isolated_http_workload_lifecycle(
    isolated: Any, docker_client: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, rc = isolated("iso", "streamable-http")
    listed = json.loads(thv(capsys, "list", "--all", "--format", "json").out)
    mine = [w["name"] for w in listed if w["name"].startswith(name)]
    assert mine == [name]  # the sidecars are never workloads

    assert thv(capsys, "start", name).code == 0  # its proxy was not running
    url = f"http://127.0.0.1:{rc['port']}/mcp"
    assert asyncio.run(mcp_round_trip(url)) == (TOOLS, "hello")  # proxy → ingress → server
    port = ingress_port(docker_client, name)

    assert thv(capsys, "stop", name).code == 0
    assert set(_states(docker_client, name).values()) == {"exited"}  # the sidecars too
    assert thv(capsys, "start", name).code == 0
    assert set(_states(docker_client, name).values()) == {"running"}
    assert ingress_port(docker_client, name) == port  # the same sidecar, started again
    assert asyncio.run(mcp_round_trip(url, text="again")) == (TOOLS, "again")

    # adopted by a project, then brought down with everything it has
    file = tmp_path / "workloads.yaml"
    assert thv(capsys, "import", name, "-p", "iso-proj", "-f", str(file)).code == 0
    applied = thv(capsys, "apply", "--adopt", "--yes", "-f", str(file))
    assert applied.code == 0, applied.out + applied.err
    assert "0 to recreate, 0 to delete, 1 to adopt." in applied.out
    assert len(_states(docker_client, name)) == 1 + len(SIDECARS)
    down = thv(capsys, "down", "--yes", "-f", str(file))
    assert down.code == 0, down.out + down.err
    assert _states(docker_client, name) == {} and _networks(docker_client, name) == []
    assert not Store.from_env().runconfigs.path(name).exists()


def test_isolated_stdio_workload_is_removed_with_its_sidecars(
    isolated: Any, docker_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = isolated("iso-stdio", "stdio")
    assert sorted(_states(docker_client, name)) == sorted([name, f"{name}-dns", f"{name}-egress"])
    assert _networks(docker_client, name) == [f"toolhive-{name}-internal"]
    assert thv(capsys, "stop", name).code == 0
    assert set(_states(docker_client, name).values()) == {"exited"}
    assert thv(capsys, "rm", name).code == 0
    assert _states(docker_client, name) == {} and _networks(docker_client, name) == []
