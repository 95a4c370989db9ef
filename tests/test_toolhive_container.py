"""Our containers are the ones ToolHive's ``thv start`` would make from our run configs: its
re-create check (transcribed in ``tests/support/toolhive_deploy.py`` from ToolHive's Docker
client, facts §2) finds nothing to change, so the real ``thv start`` keeps them.  And our
``thv start`` keeps a container ToolHive made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.proxy_helpers import TOOLS, mcp_round_trip
from tests.support.cli import thv
from tests.support.images import ensure_busybox_image, ensure_mcp_image
from tests.support.toolhive_deploy import create_as_toolhive, desired_container, differences
from toolhive_compose.fingerprint import canonical
from toolhive_compose.runtime import get_runtime
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

pytestmark = pytest.mark.docker
SECRET = "canary-4c1e-value"  # never printed; the container gets it


def _file(tmp_path: Path, project: str, data: Path) -> Path:
    (tmp_path / "token").write_text("file-secret\n")
    profile = {"write": [f"{data}:/scratch"], "read": [f"{data}:/scratch"]}  # write flips it
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    doc = {
        "version": 1,
        "project": project,
        "servers": {
            f"{project}-http": {  # ENTRYPOINT, no CMD: no cmd_args
                "image": ensure_mcp_image(),
                "transport": "streamable-http",
                "target_port": 8080,
                "env": {"LOG_LEVEL": "debug"},
                "secrets": {
                    "API_TOKEN": {"env": "TOOLHIVE_SECRET_canary"},
                    "FILE_TOKEN": {"file": "./token"},
                },
                "volumes": [f"{data}:/data:ro"],
                "labels": {"team": "platform"},
            },
            f"{project}-stdio": {  # no args: the image's CMD runs, and cmd_args says so
                "image": ensure_busybox_image(),
                "permission_profile": "./profile.json",
            },
            f"{project}-closed": {  # the built-in none profile: no network for stdio
                "image": ensure_busybox_image(),
                "args": ["sh", "-c", "sleep 3600"],
                "permission_profile": "none",
            },
        },
    }
    path = tmp_path / "workloads.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_toolhive_start_would_keep_our_containers(
    tmp_path: Path, test_project: str, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TOOLHIVE_SECRET_canary", SECRET)
    desired = load([_file(tmp_path, test_project, data)], environ=dict(os.environ))
    store = Store.from_env()
    lifecycle = Lifecycle(get_runtime(), store, environ=desired.secret_env, ready_timeout=0)
    made = []
    try:
        for spec in desired.servers:
            lifecycle.create(spec, canonical(spec), project=test_project)
            made.append(spec.name)
        for name in made:
            rc = store.runconfigs.read(name) or {}
            info = docker_client.api.inspect_container(name)
            secrets = {"API_TOKEN": SECRET, "FILE_TOKEN": "file-secret"} if "http" in name else {}
            assert differences(info, desired_container(rc, secrets)) == [], name
        http = store.runconfigs.read(f"{test_project}-http") or {}
        # ToolHive finds the secrets: ${TOOLHIVE_SECRET_canary}, and one named for the file
        assert http["secrets"] == [
            "canary,target=API_TOKEN",
            f"{test_project.replace('-', '_')}_http_FILE_TOKEN,target=FILE_TOKEN",
        ]
        assert "MCP_HOST" not in http["env_vars"]  # ToolHive adds it when it makes the container
        assert http["permission_profile"]["read"] == [f"{data}:/data"]
        stdio = store.runconfigs.read(f"{test_project}-stdio") or {}
        assert (
            stdio["cmd_args"]
            == docker_client.images.get(ensure_busybox_image()).attrs["Config"]["Cmd"]
        )
        assert stdio["permission_profile"]["write"] == [f"{data}:/scratch"]
        closed = docker_client.api.inspect_container(f"{test_project}-closed")
        assert closed["HostConfig"]["NetworkMode"] == "none"
        for name in made:  # nothing secret in any state file
            assert SECRET not in store.runconfigs.path(name).read_text()
    finally:
        for name in made:
            found = get_runtime().list_containers(names=[name])
            lifecycle.delete(name, found[0].id if found else "")


def _toolhive_runconfig(name: str, port: int) -> dict[str, Any]:
    """A run config as ToolHive's ``thv run --isolate-network=false`` writes it."""
    labels = {
        "toolhive": "true", "toolhive-name": name, "toolhive-basename": name,
        "toolhive-port": str(port), "toolhive-transport": "streamable-http",
    }  # fmt: skip
    return {
        "schema_version": "v0.1.0",
        "image": ensure_mcp_image(),
        "name": name,
        "container_name": name,
        "base_name": name,
        "transport": "streamable-http",
        "host": "127.0.0.1",
        "port": port,
        "target_port": 18000 + port % 1000,
        "target_host": "127.0.0.1",
        "permission_profile_name_or_path": "network",
        "permission_profile": {
            "name": "network",
            "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}},
        },
        "env_vars": {"MCP_TRANSPORT": "streamable-http"},
        "container_labels": labels,
        "proxy_mode": "streamable-http",
        "group": "default",
    }


def test_our_start_keeps_a_container_toolhive_made(
    test_project: str, docker_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolhive_compose.ports import PortAllocator

    name = f"{test_project}-th"
    port = PortAllocator(set).allocate()
    rc = _toolhive_runconfig(name, port)
    store = Store.from_env()
    store.runconfigs.write(name, rc)
    store.statuses.set_status(name, "stopped")
    cid = create_as_toolhive(docker_client, rc)
    try:
        info = docker_client.api.inspect_container(cid)
        # ToolHive's own check fails its own container on NetworkMode (the engine stores
        # "default" for the "" it sends): ToolHive re-creates it on every start; nothing else.
        assert [d.split(" ")[0] for d in differences(info, desired_container(rc))] == [
            "HostConfig.NetworkMode"
        ]
        docker_client.api.stop(cid, timeout=1)
        result = thv(capsys, "start", name)
        assert result.code == 0, result.err
        after = docker_client.api.inspect_container(name)
        assert after["Id"] == cid and after["State"]["Running"]  # kept, not re-created
        tools, echoed = asyncio.run(mcp_round_trip(f"http://127.0.0.1:{port}/mcp"))
        assert tools == TOOLS and echoed == "hello"
        assert thv(capsys, "stop", name).code == 0
        assert docker_client.api.inspect_container(cid)["State"]["Running"] is False
    finally:
        thv(capsys, "rm", name)
        with contextlib.suppress(Exception):  # ToolHive's shared network, if nothing uses it
            docker_client.networks.get("toolhive-external").remove()
    assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})
