"""One damaged state file never takes the others down (issue 10, deliverable 1).

Each kind of damage is put on one workload among healthy ones; then every command a user
would reach for is run: list (text and JSON), status, stop of another, import, plan --adopt,
apply, down, the library — all go on, the damaged workload is named with its file — and
``thv rm`` of the damaged workload always works.  The engine is the in-memory fake; the
state directory is real.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import Result, thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose import connect
from toolhive_compose.errors import PlanError
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store
from toolhive_compose.workloads.observe import observe

IMAGE = "ghcr.io/example/tool:1"
CREATED = "2026-08-21T10:15:02.123456789+02:00"


NETWORK = {"name": "network", "network": {"outbound": {"insecure_allow_all": True}}}


def toolhive_runconfig(name: str, port: int) -> dict[str, Any]:
    """What ToolHive's ``thv run --name NAME IMAGE`` writes (stdio)."""
    return {
        "schema_version": "v0.1.0", "image": IMAGE, "name": name, "container_name": name,
        "base_name": name, "transport": "stdio", "host": "127.0.0.1", "port": port,
        "permission_profile_name_or_path": "network",
        "permission_profile": NETWORK,
        "env_vars": {"MCP_TRANSPORT": "stdio"},
        "container_labels": toolhive_labels(name, port=port),
        "proxy_mode": "streamable-http", "group": "default",
    }  # fmt: skip


class World:
    """A fake engine; ToolHive-made workloads ``other`` and ``broken``; project ``team``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        self.tmp = tmp_path
        self.capsys = capsys
        self.engine = install(monkeypatch, FakeRuntime())
        self.store = Store.from_env()
        for name, port in (("other", 31001), ("broken", 31002)):
            self.store.runconfigs.write(name, toolhive_runconfig(name, port))
            self.store.statuses.set_status(name, "stopped")
            self.engine.add(name, image=IMAGE, state="exited", **toolhive_labels(name, port=port))

    def thv(self, *args: str) -> Result:
        return thv(self.capsys, *args)

    def file(self, servers: dict[str, Any], **top: Any) -> str:
        doc = {"version": 1, "project": "team", **top, "servers": servers}
        path = self.tmp / "workloads.yaml"
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    def rc_path(self, name: str) -> Path:
        return self.store.runconfigs.path(name)

    def status_path(self, name: str) -> Path:
        return self.store.statuses.path(name)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> World:
    return World(tmp_path, monkeypatch, capsys)


GOOD_STATUS = {"status": "stopped", "created_at": CREATED, "updated_at": CREATED, "process_id": 0}


def _damage(world: World, kind: str) -> tuple[Path, bool]:
    """Damage ``broken``; the damaged file and whether ToolHive's repair fixes it."""
    status, rc = world.status_path("broken"), world.rc_path("broken")
    text = json.dumps(GOOD_STATUS, indent=2)
    doc = toolhive_runconfig("broken", 31002)
    if kind == "status-stray-brace":  # what ToolHive repairs
        status.write_text(text + "}")
        return status, True
    if kind == "status-process-id-string":
        status.write_text(text.replace('"process_id": 0', '"process_id": "x"'))
        return status, False
    if kind == "status-not-json":
        status.write_text('{"status": "stopped", "created_at": ')
        return status, False
    if kind == "runconfig-not-json":
        rc.write_text('{"schema_version": "v0.1.0", "image": ')
    elif kind == "runconfig-port-string":
        rc.write_text(json.dumps({**doc, "port": "abc"}))
    elif kind == "runconfig-env-vars-list":
        rc.write_text(json.dumps({**doc, "env_vars": []}))
    elif kind == "runconfig-a-list":
        rc.write_text("[1, 2]")
    return rc, False


KINDS = [
    "status-stray-brace", "status-process-id-string", "status-not-json", "runconfig-not-json",
    "runconfig-port-string", "runconfig-env-vars-list", "runconfig-a-list",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_one_damaged_workload_leaves_the_others_usable(world: World, kind: str) -> None:
    damaged, repaired = _damage(world, kind)
    mentions = str(damaged)

    listed = world.thv("list", "-a")
    assert listed.code == 0, listed
    assert "other" in listed.out and "broken" in listed.out
    assert (mentions in listed.err) is not repaired  # a warning names the file
    if repaired:
        assert json.loads(damaged.read_text())["status"] == "stopped"  # rewritten, as ToolHive
    as_json = world.thv("list", "-a", "--format", "json")
    assert as_json.code == 0
    broken = next(w for w in json.loads(as_json.out) if w["name"] == "broken")
    assert (mentions in broken.get("status_context", "")) is not repaired

    assert world.thv("status", "other").code == 0
    status = world.thv("status", "broken")
    assert status.code == 0, status

    stopped = world.thv("stop", "other")
    assert stopped.code == 0, stopped
    assert world.store.statuses.get("other").status == "stopped"  # type: ignore[union-attr]

    imported = world.thv("import", "-p", "team")
    assert imported.code == 0, imported
    assert "other:" in imported.out
    if not repaired and damaged == world.rc_path("broken"):
        assert f"broken skipped: damaged run config {damaged}" in imported.err

    adopt = world.file({"other": {"image": IMAGE, "port": 31001, "state": "stopped"}})
    planned = world.thv("plan", "-f", adopt, "--adopt")
    assert planned.code == 0, planned
    assert "adopt" in planned.out and "broken" not in planned.out  # not this project's concern

    api = connect()
    assert {w.name for w in api.workloads.list(all=True)} >= {"other", "broken"}
    api.lifecycle.stop("other")  # the library's changes go on too
    applied = world.thv("apply", "-f", adopt, "--adopt", "--yes")
    assert applied.code == 0, applied
    assert world.thv("down", "-p", "team", "--yes").code == 0
    assert "other" not in {w.name for w in api.workloads.list(all=True)}  # adopted, then down

    removed = world.thv("rm", "broken")
    assert removed.code == 0, removed
    assert not world.rc_path("broken").exists() and not world.status_path("broken").exists()
    assert not any(c.name == "broken" for c in world.engine.containers.values())
    assert world.thv("list", "-a").err == ""


def test_a_damaged_workload_named_like_a_server_is_refused_with_the_file(world: World) -> None:
    damaged, _ = _damage(world, "runconfig-port-string")
    path = world.file({"broken": {"image": IMAGE, "port": 31002}})
    for args in (["plan", "-f", path], ["plan", "-f", path, "--adopt"]):
        result = world.thv(*args)
        assert result.code == 1
        assert result.err.splitlines()[0] == (
            f"error: workload broken (of no project) cannot be read: damaged run config "
            f"{damaged}: 'port' is the string 'abc', not an integer"
        )


def test_a_damaged_status_file_does_not_stop_adoption(world: World) -> None:
    _damage(world, "status-process-id-string")
    path = world.file({"broken": {"image": IMAGE, "port": 31002, "state": "stopped"}})
    planned = world.thv("plan", "-f", path, "--adopt")
    assert planned.code == 0, planned
    assert "adopt" in planned.out and "damaged status file" in planned.out  # a warning


def test_the_projects_damaged_workload_is_made_anew_then_converges(world: World) -> None:
    path = world.file({"mine": {"image": IMAGE, "state": "stopped", "env": {"A": "1"}}})
    assert world.thv("apply", "-f", path, "--yes").code == 0
    rc = world.rc_path("mine")
    rc.write_text(rc.read_text().replace('"A": "1"', '"A": 1'))  # wrongly typed by hand
    planned = world.thv("plan", "-f", path, "--format", "json")
    doc = json.loads(planned.out)
    assert [(a["kind"], a["name"], a["reason"]) for a in doc["actions"]] == [
        ("recreate", "mine", "its run config is damaged; made anew")
    ]
    assert any(f"damaged run config {rc}" in w for w in doc["warnings"])
    damaged_text = rc.read_text()
    assert world.thv("apply", "-f", path, "--yes").code == 0
    assert json.loads(rc.read_text())["env_vars"]["A"] == "1"
    assert rc.with_name("mine.json.corrupted").read_text() == damaged_text  # nothing lost
    assert world.thv("plan", "-f", path, "--detailed-exitcode").code == 0  # converged
    rc.write_text("{")
    gone = world.file({"kept": {"image": IMAGE, "state": "stopped"}})
    planned = world.thv("plan", "-f", gone, "--format", "json")
    kinds = [(a["kind"], a["name"]) for a in json.loads(planned.out)["actions"]]
    assert ("delete", "mine") in kinds  # its container still says it is ours
    assert world.thv("apply", "-f", gone, "--yes").code == 0
    assert not rc.exists()


def test_the_projects_container_without_its_run_config_is_made_anew(world: World) -> None:
    """A run config deleted by hand: its container says it is the project's, but neither a
    start (the proxy reads the run config) nor a diff can work without it: it is replaced, and
    the next plan is empty."""
    path = world.file({"mine": {"image": IMAGE, "state": "stopped"}})
    assert world.thv("apply", "-f", path, "--yes").code == 0
    world.rc_path("mine").unlink()
    planned = world.thv("plan", "-f", path, "--format", "json")
    assert [(a["kind"], a["name"], a["reason"]) for a in json.loads(planned.out)["actions"]] == [
        ("recreate", "mine", "its run config is missing; made anew")
    ]
    assert world.thv("apply", "-f", path, "--yes").code == 0
    assert world.rc_path("mine").exists()
    assert world.thv("plan", "-f", path, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("content", ["[]", "{", '{"name": 1}', '{"registered_clients": "x"}'])
def test_a_damaged_group_file(world: World, content: str) -> None:
    path = world.store.paths.groups / "dev.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    world.store.groups.ensure_default()
    groups = world.thv("group", "list")
    assert groups.code == 0 and "dev" in groups.out.split()
    assert f"damaged group file {path}" in groups.err
    assert world.thv("list", "-a").code == 0
    plan_file = world.file({"mine": {"image": IMAGE, "group": "dev"}}, groups={"dev": {}})
    planned = world.thv("plan", "-f", plan_file)
    assert planned.code == 0 and f"group dev: damaged group file {path}" in planned.out
    assert world.thv("group", "rm", "dev").code == 0
    assert not path.exists()


def test_legacy_pid_files_with_garbage(world: World) -> None:
    legacy = world.store.paths.legacy_pids
    legacy.mkdir(parents=True)
    world.store.statuses.set_status("other", "running")  # running without a PID: migrates
    (legacy / "toolhive-other.pid").write_text("-1\n")  # a kill(-1) would be a disaster
    (legacy / "toolhive-broken.pid").write_bytes(b"\xff\xfe garbage")
    assert world.thv("list", "-a").code == 0
    assert world.store.statuses.get("other").process_id == 0  # type: ignore[union-attr]
    assert world.thv("stop", "other").code == 0
    assert world.thv("rm", "broken").code == 0
    assert not (legacy / "toolhive-other.pid").exists()  # stop removes legacy files


def test_the_apply_lock_file_damaged(world: World) -> None:
    lock = world.store.paths.ours / "apply.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(b"\x00\xff not a holder line")
    assert world.thv("stop", "other").code == 0  # rewritten by the next holder
    lock.unlink()
    lock.mkdir()
    stopped = world.thv("stop", "other")
    assert stopped.code == 1
    assert stopped.err.startswith(f"error: cannot open the state lock {lock}: Is a directory\n")
    assert world.thv("list", "-a").code == 0  # read-only commands never touch it


def test_the_secret_digest_key_damaged(world: World) -> None:
    key = world.store.paths.ours / "secret.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"short")
    path = world.file({"mine": {"image": IMAGE, "secrets": {"TOKEN": {"env": "TOK"}}}})
    os.environ["TOK"] = "value"
    try:
        planned = world.thv("plan", "-f", path)
    finally:
        del os.environ["TOK"]
    assert planned.code == 1
    assert planned.err.splitlines() == [
        f"error: the secret-digest key {key} is damaged (5 bytes, expected 32)",
        "hint: delete it; a new one is made on the next run (every secret then shows a change)",
    ]
    assert world.thv("list", "-a").code == 0


def test_the_ownership_file_damaged(world: World) -> None:
    path = world.file({"mine": {"image": IMAGE, "state": "stopped"}}, groups={"dev": {}})
    assert world.thv("apply", "-f", path, "--yes").code == 0
    ownership = world.store.paths.ours / "ownership.json"
    ownership.write_text('{"groups": []}')
    assert world.thv("list", "-a").code == 0
    planned = world.thv("plan", "-f", path)
    assert planned.code == 0 and f"damaged ownership file {ownership}" in planned.out
    plan = make_plan(load([path], paths=world.store.paths), observe(world.engine, world.store))
    assert not plan.has_changes and any("read as unmanaged" in w for w in plan.warnings)
    grown = world.file({"mine": {"image": IMAGE, "state": "stopped"}}, groups={"ops": {}})
    applied = world.thv("apply", "-f", grown, "--yes")
    assert applied.code == 1 and f"damaged ownership file {ownership}" in applied.out
    assert ownership.read_text() == '{"groups": []}'  # never written over


def test_a_clash_of_projects_stays_a_plan_error(world: World) -> None:
    """Damage never turns someone else's workload into ours."""
    _damage(world, "status-not-json")
    with pytest.raises(PlanError):
        desired = load([world.file({"other": {"image": IMAGE, "port": 31001}})])
        make_plan(desired, observe(world.engine, world.store, desired_names=["other"]))
