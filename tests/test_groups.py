"""Groups: ``thv group create|list|rm``, ToolHive's files and name rules, ``--group`` on the
batch commands, and moving a workload between groups without a restart (end to end on
Docker at the bottom)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose import connect
from toolhive_compose.errors import NotFound
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    return install(monkeypatch, FakeRuntime())


@pytest.fixture
def store() -> Store:
    return Store.from_env()


def workload(engine: FakeRuntime, store: Store, name: str, group: str) -> str:
    """A ToolHive-made running workload in ``group``; returns its container id."""
    port = 32000 + sum(map(ord, name))
    store.runconfigs.write(
        name, {"name": name, "image": "img:1", "transport": "stdio", "port": port, "group": group}
    )
    store.statuses.set_status(name, "running")
    return engine.add(name, **toolhive_labels(name, port=port)).id


def test_create_writes_toolhive_group_file(store: Store, capsys: Any) -> None:
    assert thv(capsys, "group", "create", "dev tools").code == 0
    path = store.paths.groups / "dev tools.json"
    assert path.read_text() == '{\n  "name": "dev tools",\n  "registered_clients": []\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = thv(capsys, "group", "create", "dev tools")
    assert again.code == 1 and "already exists" in again.err


@pytest.mark.parametrize("name", ["Dev", "two  spaces", " lead", "trail ", "a/b", "dots.no"])
def test_group_names_are_validated_as_toolhive_does(name: str, store: Store, capsys: Any) -> None:
    result = thv(capsys, "group", "create", name)
    assert result.code == 1 and result.err.startswith("error: ")
    assert store.groups.names() == []


def test_default_group_always_exists_and_stays(store: Store, capsys: Any) -> None:
    assert thv(capsys, "group", "list").out.split() == ["NAME", "default"]
    for spelling in ("default", "DEFAULT"):
        result = thv(capsys, "group", "rm", spelling)
        assert result.code == 1 and "cannot be removed" in result.err
    assert (store.paths.groups / "default.json").exists()
    missing = thv(capsys, "group", "rm", "nope")
    assert missing.code == 1 and "does not exist" in missing.err


def test_rm_moves_members_to_default_without_touching_them(
    engine: FakeRuntime, store: Store, capsys: Any
) -> None:
    connect().groups.create("dev")
    workload(engine, store, "a", "dev")
    workload(engine, store, "b", "default")
    refused = thv(capsys, "group", "rm", "dev")  # has members, no TTY, no --yes
    assert refused.code == 1 and "--yes" in refused.err
    result = thv(capsys, "group", "rm", "dev", "--yes")
    assert result.code == 0 and "1 workload(s) moved to 'default'" in result.out
    assert (store.runconfigs.read("a") or {})["group"] == "default"
    assert engine.calls == [] and len(engine.containers) == 2
    assert "dev" not in store.groups.names()


def test_rm_with_workloads_deletes_them(engine: FakeRuntime, store: Store, capsys: Any) -> None:
    connect().groups.create("dev")
    doomed = workload(engine, store, "a", "dev")
    workload(engine, store, "b", "default")
    result = thv(capsys, "group", "rm", "dev", "--with-workloads", "--yes")
    assert result.code == 0, result.err
    assert ("remove", doomed) in engine.calls
    assert store.runconfigs.read("a") is None and store.statuses.get("a") is None
    assert store.runconfigs.read("b") is not None


def test_group_flag_on_batch_commands(
    engine: FakeRuntime, store: Store, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect().groups.create("dev")
    ids = {n: workload(engine, store, n, g) for n, g in (("a", "dev"), ("b", "dev"), ("c", "x"))}
    listed = thv(capsys, "list", "--all", "--group", "dev", "--format", "json")
    assert [w["name"] for w in json.loads(listed.out)] == ["a", "b"]
    assert thv(capsys, "stop", "--group", "dev").code == 0
    assert sorted(c for c in engine.calls if c[0] == "stop") == [
        ("stop", ids["a"]),
        ("stop", ids["b"]),
    ]
    statuses = [s.status for n in "abc" if (s := store.statuses.get(n)) is not None]
    assert statuses == ["stopped", "stopped", "running"]
    started: list[str] = []
    monkeypatch.setattr(Lifecycle, "_finish_start", lambda self, name: started.append(name))
    assert thv(capsys, "start", "--group", "dev").code == 0
    assert sorted(started) == ["a", "b"]
    assert thv(capsys, "rm", "--group", "dev").code == 0
    assert sorted(engine.containers) == [ids["c"]]


def test_group_manager_api(engine: FakeRuntime, store: Store) -> None:
    groups = connect().groups
    created = groups.create("ops")
    assert created.name == "ops" and created.registered_clients == ()
    assert [g.name for g in groups.list()] == ["default", "ops"]
    workload(engine, store, "a", "default")
    with pytest.raises(NotFound):
        groups.move(["a"], "default", "missing")
    assert groups.move(["a"], "default", "ops") == ["a"]
    assert [w.name for w in connect().workloads.list_in_group("ops")] == ["a"]
    assert groups.delete("ops") == ["a"]
    assert (store.runconfigs.read("a") or {})["group"] == "default"


# -- end to end on Docker ----------------------------------------------------------------------
@pytest.mark.docker
def test_move_group_keeps_the_container(
    test_project: str, docker_client: Any, tmp_path: Path, capsys: Any
) -> None:
    """apply → change the group in the file → the plan is one move-group (plus the group) →
    apply → the same container runs on; then --group on list/stop/rm reaches it."""
    from tests.support.images import ensure_mcp_image

    image, name = ensure_mcp_image(), f"{test_project}-mv"
    file = tmp_path / "workloads.yaml"

    def write(group: str, tier: str = "core") -> None:
        server = f"  {name}:\n    image: {image}\n    labels: {{tier: {tier}}}\n"
        groups = "groups: {dev: {}}\n" if group != "default" else ""
        file.write_text(
            f"version: 1\nproject: {test_project}\n{groups}servers:\n{server}    group: {group}\n"
        )

    try:
        write("default")
        assert thv(capsys, "apply", "-f", str(file), "--yes").code == 0
        before = docker_client.containers.get(name)
        assert {"toolhive", "toolhive-name", "toolhive-port", "toolhive-transport"} <= set(
            before.labels
        )
        assert before.labels["tier"] == "core"
        assert before.labels["toolhive-compose.project"] == test_project
        write("dev")
        plan = json.loads(thv(capsys, "plan", "-f", str(file), "--format", "json").out)
        assert [(a["kind"], a["name"]) for a in plan["actions"]] == [
            ("group-create", "dev"),
            ("move-group", name),
        ]
        assert thv(capsys, "apply", "-f", str(file), "--yes").code == 0
        assert docker_client.containers.get(name).id == before.id  # no restart
        assert thv(capsys, "plan", "-f", str(file), "--detailed-exitcode").code == 0
        listed = json.loads(thv(capsys, "list", "--group", "dev", "--format", "json").out)
        assert [w["name"] for w in listed] == [name]
        write("dev", tier="edge")  # labels are immutable: a recreate, and the plan says why
        plan = json.loads(thv(capsys, "plan", "-f", str(file), "--format", "json").out)
        assert [a["kind"] for a in plan["actions"]] == ["recreate"]
        assert "container labels are immutable" in plan["actions"][0]["reason"]
        assert thv(capsys, "stop", "--group", "dev").code == 0
        assert docker_client.containers.get(name).status == "exited"
        assert thv(capsys, "rm", "--group", "dev").code == 0
        assert not docker_client.containers.list(all=True, filters={"name": f"^/{name}$"})
    finally:
        thv(capsys, "down", "-f", str(file), "--yes")
