"""Upgrades against a real OCI registry on 127.0.0.1:5000 (Debian's docker-registry).

Two tags of the test MCP image are pushed there: ``thc/echo:1.0.0`` (``thc-test/mcp-py:1``)
and ``thc/echo:1.1.0`` (``thc-test/mcp-py:2``, another image id).  Local copies of the
registry tags are removed first, so every upgrade really pulls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _docker_required
from tests.support.images import CACHE_DIR, ensure_mcp_image
from tests.support.registry import HOST, Unavailable, ensure_registry, push, remove_local
from toolhive_compose.proxy.processes.readiness import probe_streamable

pytestmark = pytest.mark.docker

REPO = f"{HOST}/thc/echo"
V1, V2, MISSING = f"{REPO}:1.0.0", f"{REPO}:1.1.0", f"{REPO}:9.9.9"
ENTRY = "io.github.thc-test/echo"


@pytest.fixture(scope="session")
def oci_registry(docker_client: Any) -> Iterator[dict[str, str]]:
    try:
        registry = ensure_registry(storage=CACHE_DIR / "oci-registry")
    except Unavailable as exc:
        message = f"no local OCI registry: {exc}"
        if _docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    ids = {}
    for version, tag in ((1, V1), (2, V2)):
        source = ensure_mcp_image(version)
        push(docker_client, source, tag)
        ids[tag] = docker_client.images.get(source).id
    yield ids
    registry.stop()


@pytest.fixture(autouse=True)
def _forget_registry_tags(docker_client: Any) -> None:
    for tag in (V1, V2):
        remove_local(docker_client, tag)


def write_registry(path: Path, image: str) -> Path:
    package = {
        "registryType": "oci",
        "identifier": image,
        "transport": {"type": "streamable-http"},  # no fixed port: tests never clash
        "environmentVariables": [{"name": "SERVER_ID", "default": "echo"}],
    }
    doc = {"data": {"servers": [{"name": ENTRY, "description": "t", "packages": [package]}]}}
    path.write_text(json.dumps(doc))
    return path


def thv(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )
    if ok:
        assert result.returncode == 0, f"thv {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def serves_mcp(name: str) -> None:
    status = json.loads(thv("status", name, "--format", "json").stdout)
    assert status["status"] == "running"
    probe_streamable(status["url"], 20)


def runconfig(name: str) -> dict[str, Any]:
    state = Path(os.environ["XDG_STATE_HOME"]) / "toolhive" / "runconfigs" / f"{name}.json"
    return dict(json.loads(state.read_text()))


def test_check_apply_then_a_missing_tag_leaves_it_serving(
    oci_registry: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    name = f"thc-up-{uuid.uuid4().hex[:6]}"
    registry = write_registry(tmp_path / "registry.json", V1)
    thv("run", "echo", "--registry", str(registry), "--name", name)
    try:
        rc = runconfig(name)
        assert (rc["registry_server_name"], rc["registry_url"]) == (ENTRY, str(registry))
        write_registry(registry, V2)
        (check,) = json.loads(thv("upgrade", "check", name, "--format", "json").stdout)
        assert (check["status"], check["candidate_image"]) == ("upgrade-available", V2)

        out = thv("upgrade", "apply", name, "--yes").stdout  # the recorded registry is used
        assert f"{V1} -> {V2}" in out
        container = docker_client.containers.get(name)
        assert container.attrs["Config"]["Image"] == V2
        assert container.image.id == oci_registry[V2]  # the new image really runs
        assert runconfig(name)["image"] == V2
        serves_mcp(name)
        (check,) = json.loads(thv("upgrade", "check", name, "--format", "json").stdout)
        assert check["status"] == "up-to-date"

        write_registry(registry, MISSING)
        failed = thv("upgrade", "apply", name, "--yes", ok=False)
        assert failed.returncode == 1
        assert f"pulling {MISSING} failed" in failed.stderr
        assert "the workload was not touched" in failed.stderr
        same = docker_client.containers.get(name)
        assert (same.id, same.status) == (container.id, "running")
        serves_mcp(name)
    finally:
        thv("rm", name, ok=False)


def test_plan_upgrade_action_pulls_first(
    oci_registry: dict[str, str], docker_client: Any, tmp_path: Path, test_project: str
) -> None:
    name = f"thc-pin-{uuid.uuid4().hex[:6]}"
    write_registry(tmp_path / "registry.json", V2)
    file = tmp_path / "workloads.yaml"

    def pin(image: str) -> None:
        file.write_text(
            f"version: 1\nproject: {test_project}\nregistry: ./registry.json\n"
            f"servers:\n  {name}:\n    server: echo\n    image: {image}\n"
        )

    pin(V1)
    plan = json.loads(thv("plan", "-f", str(file), "--format", "json", "--check-upgrades").stdout)
    assert [(u["workload_name"], u["candidate_image"]) for u in plan["upgrades"]] == [(name, V2)]
    thv("apply", "-f", str(file), "--yes")
    first = docker_client.containers.get(name)

    pin(V2)
    plan = json.loads(thv("plan", "-f", str(file), "--format", "json").stdout)
    (action,) = plan["actions"]
    assert action["kind"] == "upgrade"
    assert action["image"]["before"] == V1 and action["image"]["after"] == V2
    assert action["image"]["before_digest"] == oci_registry[V1]
    out = thv("apply", "-f", str(file), "--yes").stdout
    assert "upgraded" in out and oci_registry[V2][:19] in out
    upgraded = docker_client.containers.get(name)
    assert upgraded.id != first.id and upgraded.image.id == oci_registry[V2]

    pin(MISSING)
    failed = thv("apply", "-f", str(file), "--yes", ok=False)
    assert failed.returncode == 1 and "upgrade failed" in failed.stdout
    kept = docker_client.containers.get(name)
    assert (kept.id, kept.status) == (upgraded.id, "running")
    serves_mcp(name)
    thv("down", "-f", str(file), "--yes")
