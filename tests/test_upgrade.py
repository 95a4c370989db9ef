"""Upgrade checks (pure), the spec rebuilt from a run config, and the upgrade CLI offline."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from toolhive_compose.cli import main
from toolhive_compose.errors import ThvError
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import DesiredState, ObservedState, ObservedWorkload
from toolhive_compose.paths import Paths
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.registry.client import load as load_registry
from toolhive_compose.registry.client import parse
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import build_runconfig
from toolhive_compose.state.runconfig_spec import canonical_from_runconfig
from toolhive_compose.upgrade.check import (
    AVAILABLE,
    NOT_FOUND,
    NOT_REGISTRY,
    UNKNOWN,
    UP_TO_DATE,
    Registries,
    check,
    compare_images,
    spec_from_runconfig,
)
from toolhive_compose.upgrade.execute import prepare

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "registry.json"


@pytest.mark.parametrize(
    ("current", "candidate", "newer"),
    [
        ("ghcr.io/x/y:1.2.3", "ghcr.io/x/y:v1.2.3", False),  # 1.2.3 == v1.2.3
        ("ghcr.io/x/y:v1.2.3", "ghcr.io/x/y:1.10.0", True),  # numeric, not lexical
        ("ghcr.io/x/y:1.2.0", "ghcr.io/x/y:1.2.0-rc.1", False),  # a pre-release is older
        ("ghcr.io/x/y:1", "ghcr.io/x/y:2", True),  # 1 is 1.0.0
        ("ghcr.io/x/y:2.0.0", "ghcr.io/x/y:1.9.9", False),  # a downgrade is not an upgrade
        ("ghcr.io/x/y:1.0.0+a", "ghcr.io/x/y:1.0.0+b", False),  # build metadata ignored
        ("busybox:1.36", "docker.io/library/busybox:1.37", True),  # Docker Hub normalised
        ("ghcr.io/x/y:edge", "ghcr.io/x/y:edge", False),  # equal non-semver tags
        ("ghcr.io/x/y:latest", "ghcr.io/x/y:1.0.0", None),
        ("ghcr.io/x/y", "ghcr.io/x/y:1.0.0", None),  # no tag is latest
        ("ghcr.io/x/y:edge", "ghcr.io/x/y:nightly", None),
        ("ghcr.io/x/y:1.0.0", "ghcr.io/x/z:2.0.0", None),  # another repository
        ("ghcr.io/x/y@sha256:" + "a" * 64, "ghcr.io/x/y:2.0.0", None),  # a digest
    ],
)
def test_compare_images(current: str, candidate: str, newer: bool | None) -> None:
    result, reason = compare_images(current, candidate)
    assert result is newer
    assert bool(reason) is (newer is None)


def reg_with(image: str, **package: Any) -> Any:
    meta = {
        "io.modelcontextprotocol.registry/publisher-provided": {
            "io.github.stacklok": {
                image: {"permissions": {"name": "none", "network": {"outbound": {}, "inbound": {}}}}
            }
        }
    }
    env = [
        {"name": "TOKEN", "isRequired": True, "isSecret": True, "default": "s3cret"},
        {"name": "MODE", "description": "how", "default": "fast"},
        {"name": "HAVE"},
    ]  # fmt: skip
    pkg = {"registryType": "oci", "identifier": image, "environmentVariables": env,
           "transport": {"type": "sse"}, **package}  # fmt: skip
    doc = {"data": {"servers": [
        {"name": "io.x/srv", "packages": [pkg], "_meta": meta},
        {"name": "io.x/remote", "remotes": [{"type": "sse", "url": "https://r/sse"}]},
    ]}}  # fmt: skip
    return parse(json.dumps(doc).encode(), "mem")


def rc(**extra: Any) -> dict[str, Any]:
    base = {
        "name": "w", "image": "ghcr.io/x/srv:1.0.0", "registry_server_name": "io.x/srv",
        "transport": "stdio", "permission_profile_name_or_path": "network",
        "env_vars": {"HAVE": "1"}, "secrets": [],
    }  # fmt: skip
    return {**base, **extra}


def test_check_statuses_and_json_shape() -> None:
    registry = reg_with("ghcr.io/x/srv:1.1.0")
    available = check(rc(), registry)
    assert available.status == AVAILABLE
    doc = available.to_dict()
    assert list(doc)[:5] == [
        "workload_name", "registry_server", "status", "current_image", "candidate_image",
    ]  # fmt: skip
    added = doc["env_var_drift"]["added"]
    assert [a["name"] for a in added] == ["TOKEN", "MODE"]  # HAVE is set
    assert "default" not in added[0] and added[0]["secret"] is True  # secret default blanked
    assert added[1] == {"name": "MODE", "description": "how", "required": False, "default": "fast"}
    assert doc["config_drift"] == {
        "transport": {"from": "stdio", "to": "sse"},
        "permission_profile": {"from": "network", "to": "none"},
    }
    with_secret = check(
        rc(secrets=["tok,target=TOKEN"], env_vars={"MODE": "x", "HAVE": ""}), registry
    )
    assert with_secret.env_var_drift is None
    assert check(rc(image="ghcr.io/x/srv:1.1.0"), registry).to_dict() == {
        "workload_name": "w", "registry_server": "io.x/srv", "status": UP_TO_DATE,
        "current_image": "ghcr.io/x/srv:1.1.0", "candidate_image": "ghcr.io/x/srv:1.1.0",
    }  # fmt: skip
    assert check(rc(registry_server_name=""), registry).to_dict() == {
        "workload_name": "w", "status": NOT_REGISTRY, "current_image": "ghcr.io/x/srv:1.0.0",
    }  # fmt: skip
    assert check(rc(registry_server_name="io.x/gone"), registry).status == NOT_FOUND
    remote = check(rc(registry_server_name="io.x/remote"), registry)
    assert remote.status == UNKNOWN and "not a container image" in remote.reason
    failed = check(rc(), None, error="cannot read the registry r.json: file not found")
    assert (failed.status, failed.reason) == (
        UNKNOWN,
        "cannot read the registry r.json: file not found",
    )
    latest = check(rc(), reg_with("ghcr.io/x/srv:latest"))
    assert latest.status == UNKNOWN and "latest" in latest.reason


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "state", tmp_path / "data", tmp_path / "cache")


def test_spec_from_runconfig_round_trips(tmp_path: Path, paths: Paths) -> None:
    (tmp_path / "token").write_text("t0k\n")
    (tmp_path / "w.yaml").write_text(
        "version: 1\nproject: p\nservers:\n  s1:\n    server: echo\n    port: 18999\n"
        "    env: {A: b}\n    labels: {team: x}\n    volumes: ['./d:/d:ro']\n"
        "    secrets: {TOKEN: {file: ./token}}\n    args: [--x]\n"
    )
    spec = load([tmp_path / "w.yaml"], environ={}, paths=paths, registry=str(EXAMPLE)).server("s1")
    canon = {**canonical(spec), "target_port": 8080}
    stored = build_runconfig(
        spec, port=18999, target_port=8080, project="p", canon=canon, config_hash="h"
    )
    again = spec_from_runconfig(stored, {})
    assert again == replace(spec, target_port=8080)
    assert canonical_from_runconfig(stored) == canonical(again)
    assert config_hash(canonical(again)) == config_hash(canon)


def store_with(paths: Paths, *, project: str = "", image: str = "thc-test/mcp-py:1") -> Store:
    spec = load([ROOT / "examples" / "minimal.yaml"], environ={}, paths=paths).servers[0]
    spec = replace(
        spec, name="w", image=image, registry_url=str(EXAMPLE),
        registry_server_name="io.github.toolhive-compose/echo", transport="streamable-http",
    )  # fmt: skip
    store = Store(paths)
    canon = canonical(spec, port=12345)
    rc_doc = build_runconfig(
        spec, port=12345, target_port=None, project=project, canon=canon, config_hash="h"
    )
    store.runconfigs.write("w", rc_doc)
    return store


def test_upgrade_check_cli(
    paths: Paths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_with(Paths.from_env())
    with pytest.raises(SystemExit) as exit_info:
        main(["upgrade", "check", "--format", "json"])
    assert exit_info.value.code == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["status"] == AVAILABLE  # recorded registry: thc-test/mcp-py:1 -> :2
    assert result["candidate_image"] == "thc-test/mcp-py:2"
    with pytest.raises(SystemExit):
        main(["upgrade", "check", "w"])
    out = capsys.readouterr().out
    assert "Status:    upgrade-available" in out and "Candidate: thc-test/mcp-py:2" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["upgrade", "check", "nope"])
    assert exit_info.value.code == 1
    assert "workload nope not found" in capsys.readouterr().err


class FakeRuntime:
    endpoint = "fake"

    def list_containers(self, **_: Any) -> list[Any]:
        return []


def test_compose_owned_workloads_need_force(paths: Paths) -> None:
    store = store_with(paths, project="team")
    with pytest.raises(ThvError) as info:
        prepare("w", store, FakeRuntime(), Registries(None, {}))  # type: ignore[arg-type]
    assert "belongs to project team" in info.value.message
    assert "--force" in (info.value.hint or "")
    prepared = prepare("w", store, FakeRuntime(), Registries(None, {}), force=True)  # type: ignore[arg-type]
    assert prepared.spec.image == "thc-test/mcp-py:2"  # type: ignore[union-attr]
    assert prepared.canon["image"] == "thc-test/mcp-py:2"  # type: ignore[union-attr]
    assert prepared.project == "team"  # type: ignore[union-attr]


def test_prepare_refuses_missing_required_env(tmp_path: Path, paths: Paths) -> None:
    registry = json.loads(EXAMPLE.read_text())
    echo = registry["data"]["servers"][0]["packages"][0]
    echo["environmentVariables"].append({"name": "NEW_KEY", "isRequired": True})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(registry))
    store = store_with(paths)
    with pytest.raises(ThvError, match=r"requires environment variable.*NEW_KEY"):
        prepare("w", store, FakeRuntime(), Registries(str(path), {}))  # type: ignore[arg-type]
    prepared = prepare(
        "w",
        store,
        FakeRuntime(),  # type: ignore[arg-type]
        Registries(str(path), {}),
        env={"NEW_KEY": "v"},
    )
    assert ("NEW_KEY", "v") in prepared.spec.env  # type: ignore[union-attr]


def test_up_to_date_is_no_upgrade(paths: Paths) -> None:
    store = store_with(paths, image="thc-test/mcp-py:2")
    result = prepare("w", store, FakeRuntime(), Registries(None, {}))  # type: ignore[arg-type]
    assert getattr(result, "status", "") == UP_TO_DATE


def test_plan_shows_image_ids_of_an_upgrade(paths: Paths) -> None:
    spec = load([ROOT / "examples" / "minimal.yaml"], environ={}, paths=paths).servers[0]
    old = canonical(replace(spec, image="thc-test/mcp-py:1"), port=1234)
    observed = ObservedState(
        workloads=(
            ObservedWorkload(
                name=spec.name, container_id="c1", container_state="running",
                image="thc-test/mcp-py:1", image_id="sha256:" + "1" * 64, project="p",
                config_hash=config_hash(old), spec=old,
            ),
        )
    )  # fmt: skip
    desired = DesiredState(project="p", servers=(replace(spec, image="thc-test/mcp-py:2"),))
    (action,) = make_plan(desired, observed).actions
    assert action.kind == "upgrade"
    assert action.to_dict()["image"] == {
        "before": "thc-test/mcp-py:1", "after": "thc-test/mcp-py:2",
        "before_digest": "sha256:" + "1" * 64,
    }  # fmt: skip


def test_example_registry_pins_behind(paths: Paths) -> None:
    from toolhive_compose.cli.tables import render_pinned
    from toolhive_compose.plan.actions import Plan
    from toolhive_compose.upgrade.check import plan_upgrades

    state = load([ROOT / "examples" / "full.yaml"], environ={}, paths=paths)
    _, behind = plan_upgrades(Plan(project=state.project), state)
    assert [(r.workload_name, r.current_image, r.candidate_image) for r in behind] == [
        ("echo", "thc-test/mcp-py:1", "thc-test/mcp-py:2")
    ]
    assert "1 registry server(s) pinned behind" in render_pinned(behind)
    assert load_registry(str(EXAMPLE)).lookup("echo").image == "thc-test/mcp-py:2"


def test_plan_check_upgrades_in_markdown_lists_them(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan --check-upgrades --format markdown`` (a CI job summary) lists the pinned servers
    as the text does, rather than dropping them."""
    from tests.support.cli import thv
    from tests.support.fake_engine import FakeRuntime, install

    install(monkeypatch, FakeRuntime())
    monkeypatch.setenv("THC_ENV", "dev")
    file = str(ROOT / "examples" / "full.yaml")
    result = thv(capsys, "plan", "-f", file, "--check-upgrades", "--format", "markdown")
    assert result.code == 0, result.err
    assert result.out.endswith(
        "**Upgrades**: 1 registry server pinned behind its registry.\n\n"
        "| server | pinned | registry | entry |\n"
        "| --- | --- | --- | --- |\n"
        "| `echo` | `thc-test/mcp-py:1` | `thc-test/mcp-py:2` "
        "| `io.github.toolhive-compose/echo` |\n\n"
        "Bump `image:` in the workloads file (or drop it to follow `server:`), then `thv apply`.\n"
    )
