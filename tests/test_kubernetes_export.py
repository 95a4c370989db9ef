"""``thv export NAME [PATH] --format json|k8s``: ToolHive's export, with secrets as references,
the real permission profile, the group and remote workloads (ToolHive refuses those)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.cli import thv
from tests.support.operator_schema import problems
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import build_runconfig
from toolhive_compose.targets.kubernetes.manifest import parse

FIXTURES = Path(__file__).parent / "fixtures" / "toolhive"


@pytest.fixture
def store(isolated_home: Path) -> Store:
    shutil.copytree(FIXTURES / "state", os.environ["XDG_STATE_HOME"], dirs_exist_ok=True)
    return Store.from_env()


def _by_kind(text: str) -> dict[str, dict]:
    objects = parse(text)
    assert problems(objects) == []
    return {o["kind"]: o for o in objects}


def test_a_toolhive_workload_exports_with_secret_references_and_its_profile(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    result = thv(capsys, "export", "fetch", "--format", "k8s", "-n", "tools")
    assert result.code == 0, result.err
    objects = _by_kind(result.out)
    server = objects["MCPServer"]
    assert server["metadata"] == {
        "labels": {"app.kubernetes.io/managed-by": "toolhive-compose", "team": "platform"},
        "name": "fetch",
        "namespace": "tools",
    }
    assert server["spec"] == {
        "args": ["--verbose"],
        "env": [{"name": "LOG_LEVEL", "value": "debug"}],  # without the injected MCP_*
        "groupRef": {"name": "default"},
        "image": "ghcr.io/stackloklabs/gofetch/server:1.0.1",
        "toolConfigRef": {"name": "fetch-tools"},
        "mcpPort": 8080,
        # ToolHive added the volume to the built-in profile: it stays built-in
        "permissionProfile": {"name": "network", "type": "builtin"},
        "proxyPort": 23456,
        "secrets": [
            {"key": "github-token", "name": "github-token", "targetEnvName": "GITHUB_TOKEN"}
        ],
        "transport": "streamable-http",
        "volumes": [
            {
                "hostPath": "/srv/fetch-data",
                "mountPath": "/data",
                "name": "volume-0",
                "readOnly": True,
            }
        ],
    }
    assert objects["MCPGroup"]["metadata"]["name"] == "default"
    # ToolHive's tool filter (from its middleware chain) as an MCPToolConfig
    assert objects["MCPToolConfig"]["spec"] == {"toolsFilter": ["fetch"]}
    assert objects["MCPToolConfig"]["metadata"]["name"] == "fetch-tools"
    warned = [line.split(":")[1].strip() for line in result.err.splitlines()]
    assert warned == ["isolate_network", "servers.fetch.port", "servers.fetch.volumes"]


def test_a_remote_workload_exports_as_a_remote_proxy_in_its_group(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    result = thv(capsys, "export", "docs", "--format", "k8s")
    assert result.code == 0, result.err
    objects = _by_kind(result.out)
    assert objects["MCPRemoteProxy"]["spec"] == {
        "groupRef": {"name": "dev"},
        "proxyPort": 45678,
        "remoteUrl": "https://mcp.example.com/v1/mcp?token=dropped",
        "transport": "streamable-http",
    }
    assert objects["MCPGroup"]["metadata"]["name"] == "dev"
    assert "remote_auth_config: a ToolHive setting that is not exported" in result.err


def test_a_workload_of_ours_exports_its_env_secret_and_custom_profile(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "workloads.yaml"
    file.write_text(
        "version: 1\nproject: team\ngroups: {dev: {description: Dev tools}}\nservers:\n"
        "  notes:\n    image: img:1\n    group: dev\n    secrets: {TOKEN: {env: NOTES_TOKEN}}\n"
        "    permission_profile: {name: tight, network: {outbound: {allow_port: [443]}}}\n"
    )
    desired = load([file], environ={"NOTES_TOKEN": "canary-value-3d1"})
    spec = desired.servers[0]
    canon = canonical(spec, port=20000)
    rc = build_runconfig(
        spec, port=20000, target_port=None, project="team", canon=canon,
        config_hash=config_hash(canon),
    )  # fmt: skip
    store.runconfigs.write("notes", rc)
    store.groups.write("dev", {"name": "dev", "registered_clients": []})
    store.ownership.set_group("dev", "team", "Dev tools")  # as an apply of the file records it
    result = thv(capsys, "export", "notes", "--format", "k8s")
    assert result.code == 0, result.err
    assert "canary-value-3d1" not in result.out + result.err
    objects = _by_kind(result.out)
    server = objects["MCPServer"]
    assert server["metadata"]["labels"]["toolhive-compose.project"] == "team"
    assert server["spec"]["secrets"] == [
        {"key": "NOTES_TOKEN", "name": "notes-token", "targetEnvName": "TOKEN"}
    ]
    assert server["spec"]["permissionProfile"] == {
        "key": "profile.json", "name": "notes-permission-profile", "type": "configmap",
    }  # fmt: skip
    profile = json.loads(objects["ConfigMap"]["data"]["profile.json"])
    assert profile == {"name": "tight", "network": {"outbound": {"allow_port": [443]}}}
    assert objects["MCPGroup"]["spec"] == {"description": "Dev tools"}


def test_json_is_the_run_config_and_a_path_gets_a_private_file(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = thv(capsys, "export", "github")
    assert result.code == 0
    read = store.runconfigs.read("github") or {}  # as read (normalised), encoded as ToolHive
    assert json.loads(result.out) == {k: v for k, v in read.items() if v not in ([], {})}
    target = tmp_path / "out" / "github.yaml"
    result = thv(capsys, "export", "github", str(target), "--format", "k8s")
    assert result.code == 0 and result.out == ""
    assert f"Exported github (k8s) to {target}." in result.err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _by_kind(target.read_text())["MCPServer"]["spec"]["proxyMode"] == "streamable-http"


def test_export_errors(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    result = thv(capsys, "export", "nope", "--format", "k8s")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: workload nope not found\nhint: thv list --all\n"
    result = thv(capsys, "export", "fetch", "--format", "k8s", "--strict")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("error: --strict: 3 fields cannot mean the same on Kubernetes:")
    result = thv(capsys, "export", "fetch", "--format", "yaml")
    assert result.code == 1 and "'yaml' is not one of" in result.err


def test_export_to_a_directory_is_refused_in_one_sentence(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for format_ in ("json", "k8s"):
        result = thv(capsys, "export", "github", str(tmp_path), "--format", format_)
        assert (result.code, result.out) == (1, "")
        assert result.err.splitlines()[0] == f"error: cannot write {tmp_path}: it is a directory"
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_device_writes_in_place(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``thv export NAME /dev/stdout`` (a FIFO here): written in place, never replaced."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        result = thv(capsys, "export", "github", str(fifo))
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert result.code == 0, result.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    read = store.runconfigs.read("github") or {}  # as read, encoded as ToolHive (no empty lists)
    assert json.loads(received) == {k: v for k, v in read.items() if v not in ([], {})}
