"""Interop end to end: a workload made "the ToolHive way" is listed as unmanaged, imported
into a workloads file, and adopted by ``apply --adopt`` without being recreated.

"The ToolHive way": a run config in ToolHive's shape (no ``toolhive_compose`` key, with
``middleware_configs`` and ``ignore_config``) and a container carrying ToolHive's labels only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import thv
from tests.support.fake_engine import this_process_is_a_proxy, toolhive_labels
from tests.support.images import ensure_busybox_image
from toolhive_compose.ports import PortAllocator
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import EXTENSION_KEY

pytestmark = pytest.mark.docker

NETWORK = {"name": "network", "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}}}


@pytest.fixture
def toolhive_workload(
    test_project: str, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """(name, container id) of a running busybox workload ToolHive could have made."""
    this_process_is_a_proxy(monkeypatch)
    image, name = ensure_busybox_image(), f"{test_project}-th"
    port = PortAllocator(set).allocate()
    labels = toolhive_labels(name, port=port, team="tools")
    store = Store.from_env()
    store.runconfigs.write(
        name,
        {
            "schema_version": "v0.1.0",
            "image": image,
            "cmd_args": ["sleep", "3600"],
            "name": name,
            "container_name": name,
            "base_name": name,
            "transport": "stdio",
            "host": "127.0.0.1",
            "port": port,
            "permission_profile_name_or_path": "network",
            "permission_profile": NETWORK,
            "env_vars": {"MCP_TRANSPORT": "stdio", "GREETING": "hi"},
            "container_labels": labels,
            "proxy_mode": "streamable-http",
            "group": "default",
            "ignore_config": {"LoadGlobal": True, "PrintOverlays": False},
            "middleware_configs": [{"type": "mcp-parser", "parameters": {}}],
        },
    )
    store.statuses.set_running(name, os.getpid())  # a live PID stands in for ToolHive's proxy
    container = docker_client.containers.run(
        image,
        ["sleep", "3600"],
        name=name,
        labels=labels,
        environment={"MCP_TRANSPORT": "stdio", "GREETING": "hi"},
        detach=True,
        stdin_open=True,
    )
    try:
        yield name, container.id
    finally:
        for leftover in docker_client.containers.list(all=True, filters={"name": f"^/{name}$"}):
            leftover.remove(force=True)


def test_import_then_adopt_without_recreating(
    toolhive_workload: tuple[str, str],
    test_project: str,
    docker_client: Any,
    tmp_path: Path,
    capsys: Any,
) -> None:
    name, container_id = toolhive_workload
    file = tmp_path / "workloads.yaml"

    listed = thv(capsys, "list", "--all")
    row = next(line for line in listed.out.splitlines() if line.startswith(name + " "))
    assert row.split()[-1] == "-"  # unmanaged

    imported = thv(capsys, "import", "--project", test_project, "-f", str(file))
    assert imported.code == 0, imported.err
    text = file.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    server = yaml.safe_load(text)["servers"][name]
    assert server["args"] == ["sleep", "3600"] and server["env"] == {"GREETING": "hi"}
    assert server["labels"] == {"team": "tools"} and "permission_profile" not in server
    assert server["port"] == (Store.from_env().runconfigs.read(name) or {})["port"]

    clash = thv(capsys, "plan", "-f", str(file))
    assert clash.code == 1 and "--adopt" in clash.err

    preview = thv(capsys, "plan", "-f", str(file), "--adopt", "--format", "json")
    assert [(a["kind"], a["name"]) for a in json.loads(preview.out)["actions"]] == [("adopt", name)]
    applied = thv(capsys, "apply", "-f", str(file), "--adopt", "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert docker_client.containers.get(name).id == container_id  # not recreated
    rc = Store.from_env().runconfigs.read(name) or {}
    assert rc[EXTENSION_KEY]["project"] == test_project
    assert rc["middleware_configs"] == [{"type": "mcp-parser", "parameters": {}}]

    assert thv(capsys, "plan", "-f", str(file), "--detailed-exitcode").code == 0  # no-op
    listed = thv(capsys, "list", "--all")
    row = next(line for line in listed.out.splitlines() if line.startswith(name + " "))
    assert row.split()[-1] == test_project

    assert thv(capsys, "down", "-f", str(file), "--yes").code == 0
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})
    assert Store.from_env().runconfigs.read(name) is None
