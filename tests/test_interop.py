"""State written by ToolHive loads, lists and round-trips.

The fixtures (``tests/fixtures/toolhive/``) are written from the formats in the ToolHive
reference (§1 run configs, §2 status files, §3 legacy PID files, §5 groups): unknown keys,
``ignore_config`` with Go field names, ``middleware_configs``, RFC 3339 times with
nanoseconds and offsets.  The engine is an in-memory fake holding containers that carry
ToolHive's labels only.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose import connect
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import build_runconfig
from toolhive_compose.state.status import parse_rfc3339
from toolhive_compose.workloads.importer import Imported, import_document, unexpressed
from toolhive_compose.workloads.observe import observe

FIXTURES = Path(__file__).parent / "fixtures" / "toolhive"
RUNCONFIGS = FIXTURES / "state" / "toolhive" / "runconfigs"
WORKLOAD_KEYS = {
    "name", "package", "url", "port", "transport_type", "proxy_mode", "status",
    "status_context", "created_at", "labels", "group", "tools", "remote", "started_at",
}  # fmt: skip


@pytest.fixture
def tmpdir_legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$TMPDIR for the legacy PID lookups, isolated from the real /tmp."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def store(isolated_home: Path, tmpdir_legacy: Path) -> Store:
    shutil.copytree(FIXTURES / "state", os.environ["XDG_STATE_HOME"], dirs_exist_ok=True)
    shutil.copytree(FIXTURES / "data", os.environ["XDG_DATA_HOME"], dirs_exist_ok=True)
    return Store.from_env()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    fake.add(
        "fetch",
        image="ghcr.io/stackloklabs/gofetch/server:1.0.1",
        **toolhive_labels("fetch", port=23456, transport="streamable-http", team="platform"),
    )
    fake.add("github", image="ghcr.io/github/github-mcp-server:v0.5.0", **toolhive_labels(
        "github", port=34567, **{"toolhive-network-isolation": "false"}
    ))  # fmt: skip
    return install(monkeypatch, fake)


def _raw(store: Store, name: str) -> dict:
    return json.loads(store.runconfigs.path(name).read_text())


# -- run configs -------------------------------------------------------------------------
def test_runconfig_round_trip_keeps_every_toolhive_key(store: Store) -> None:
    before = json.loads((RUNCONFIGS / "fetch.json").read_text())
    store.runconfigs.write("fetch", store.runconfigs.read("fetch") or {})
    after = _raw(store, "fetch")
    assert {k: after[k] for k in before} == before
    assert after["ignore_config"] == {"LoadGlobal": True, "PrintOverlays": False}
    assert after["future_setting"] == {"kept": [1, 2, 3]}
    assert list(after)[: len(before)] == list(before)  # ToolHive's order is kept
    text = store.runconfigs.path("fetch").read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "schema_version"')
    assert stat.S_IMODE(store.runconfigs.path("fetch").stat().st_mode) == 0o600


def test_runconfig_read_defaults_and_any_schema_version(store: Store) -> None:
    minimal = store.runconfigs.read("minimal") or {}
    assert minimal["env_vars"] == {} and minimal["container_labels"] == {}
    assert minimal["cmd_args"] == [] and minimal["volumes"] == [] and minimal["secrets"] == []
    assert minimal["proxy_mode"] == "streamable-http"  # normalised (stdio, empty)
    github = store.runconfigs.read("github") or {}
    assert github["schema_version"] == "v1"
    assert github["proxy_mode"] == "streamable-http"


def test_move_group_rewrites_the_run_config_only(store: Store, engine: FakeRuntime) -> None:
    before = _raw(store, "fetch")
    moved = connect().groups.move(["fetch", "github"], "default", "dev")
    assert moved == ["fetch"]  # github is in dev already: skipped, as MoveToGroup does
    after = _raw(store, "fetch")
    assert after["group"] == "dev"
    assert {k: v for k, v in after.items() if k != "group" and k in before} == {
        k: v for k, v in before.items() if k != "group"
    }
    assert engine.calls == []  # no container touched


# -- status files ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "offset", "micro"),
    [
        ("2026-08-21T10:15:02.123456789+02:00", timedelta(hours=2), 123456),
        ("2026-08-20T23:59:59.5-07:00", timedelta(hours=-7), 500000),
        ("2026-08-21T08:00:00.000000001Z", timedelta(0), 0),
        ("2026-08-21T07:00:00Z", timedelta(0), 0),
    ],
)
def test_rfc3339_with_nanoseconds_and_offsets(text: str, offset: timedelta, micro: int) -> None:
    parsed = parse_rfc3339(text)
    assert parsed.utcoffset() == offset
    assert parsed.microsecond == micro


def test_status_files_read_and_update_keep_created_at(store: Store) -> None:
    status = store.statuses.get("fetch")
    assert status is not None and status.process_id == 48213
    store.statuses.set_status("fetch", "stopping")
    doc = json.loads(store.statuses.path("fetch").read_text())
    assert doc["created_at"] == "2026-08-21T10:15:02.123456789+02:00"  # byte for byte
    assert doc["process_id"] == 48213 and doc["status"] == "stopping"
    parse_rfc3339(doc["updated_at"])
    docs = store.statuses.get("docs")
    assert docs is not None and docs.status_context.startswith("health check failed")


# -- legacy PID files (§3.1) ---------------------------------------------------------------
def test_legacy_pid_file_is_migrated_when_read(store: Store, engine: FakeRuntime) -> None:
    pid_file = store.paths.legacy_pids / "toolhive-github.pid"
    assert pid_file.exists()
    connect().workloads.get("github")
    status = store.statuses.get("github")
    assert status is not None and status.process_id == 4242
    assert status.created_at == "2026-08-20T23:59:59.5-07:00"
    assert not pid_file.exists()


def test_legacy_pid_falls_back_to_tmpdir(
    store: Store, engine: FakeRuntime, tmpdir_legacy: Path
) -> None:
    (store.paths.legacy_pids / "toolhive-github.pid").unlink()
    tmp_file = tmpdir_legacy / "toolhive-github.pid"
    tmp_file.write_text(" 5151 \n")
    observe(engine, store)
    status = store.statuses.get("github")
    assert status is not None and status.process_id == 5151
    assert not tmp_file.exists()


def test_legacy_pid_left_alone_unless_running_without_pid(store: Store) -> None:
    for name in ("docs", "fetch"):  # unhealthy with pid 0; running with a pid
        (store.paths.legacy_pids / f"toolhive-{name}.pid").write_text("999\n")
    before = {n: store.statuses.path(n).read_bytes() for n in ("docs", "fetch")}
    for name in ("docs", "fetch"):
        store.workload_status(name)
        assert store.statuses.path(name).read_bytes() == before[name]
        assert (store.paths.legacy_pids / f"toolhive-{name}.pid").exists()


# -- listing -------------------------------------------------------------------------------
def test_list_merges_container_and_remote_workloads(store: Store, engine: FakeRuntime) -> None:
    found = {w.name: w for w in connect().workloads.list(all=True)}
    fetch, docs, github = found["fetch"], found["docs"], found["github"]
    assert fetch.package == "ghcr.io/stackloklabs/gofetch/server:1.0.1"
    assert fetch.url == "http://127.0.0.1:23456/mcp" and fetch.port == 23456
    assert fetch.transport_type == "streamable-http" and fetch.group == "default"
    assert fetch.labels == {"team": "platform"}
    assert fetch.created_at == "2026-08-21T10:15:02.123456789+02:00"
    assert docs.remote and docs.package == "remote" and not docs.container_id
    assert docs.url == "http://127.0.0.1:45678/v1/mcp"  # remote path kept, query dropped
    assert docs.status == "unhealthy" and docs.group == "dev"
    assert github.group == "dev" and github.url == "http://127.0.0.1:34567/mcp"
    assert all(not w.project for w in found.values())  # ToolHive made them: unmanaged
    assert [w.name for w in connect().workloads.list_in_group("dev")] == ["docs", "github"]


def test_list_json_is_toolhive_workload_shape(store: Store, engine: FakeRuntime, capsys) -> None:
    result = thv(capsys, "list", "--all", "--format", "json")
    assert result.code == 0, result.err
    items = json.loads(result.out)
    assert [i["name"] for i in items] == sorted(i["name"] for i in items)
    for item in items:
        assert set(item) <= WORKLOAD_KEYS, set(item) - WORKLOAD_KEYS
    docs = next(i for i in items if i["name"] == "docs")
    assert docs["remote"] is True and docs["package"] == "remote"


def test_list_text_marks_unmanaged_workloads(store: Store, engine: FakeRuntime, capsys) -> None:
    result = thv(capsys, "list", "--all")
    header, *rows = result.out.splitlines()
    assert header.split()[-1] == "PROJECT"
    fetch = next(r for r in rows if r.startswith("fetch "))
    assert fetch.split()[-1] == "-"


def test_observe_rebuilds_the_spec_from_toolhive_fields(store: Store, engine: FakeRuntime) -> None:
    observed = observe(engine, store)
    fetch = observed.workload("fetch")
    assert fetch is not None and fetch.project == "" and fetch.config_hash == ""
    spec = fetch.spec or {}
    assert spec["env"] == {"LOG_LEVEL": "debug"}  # MCP_* injected by ToolHive left out
    assert spec["labels"] == {"team": "platform"}
    assert spec["secrets"] == {"GITHUB_TOKEN": {"from": "toolhive:github-token", "digest": ""}}
    assert spec["port"] == 23456 and spec["target_port"] == 8080
    docs = observed.workload("docs")
    assert docs is not None and docs.remote and not docs.container_id


# -- groups (§5) ------------------------------------------------------------------------------
def test_toolhive_groups_list_and_keep_their_keys(store: Store, capsys) -> None:
    result = thv(capsys, "group", "list")
    assert result.out.split() == ["NAME", "default", "dev"]  # __mcp-optimizer__ hidden
    dev = connect().groups.get("dev")
    assert dev.registered_clients == ("vscode", "claude-code") and dev.project == ""


# -- import + adopt, without an engine ---------------------------------------------------
def test_import_reproduces_toolhive_workloads(
    store: Store, engine: FakeRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    observed = observe(engine, store)
    chosen = [observed.workload(n) for n in ("fetch", "github")]
    text = import_document(
        [Imported(w.name, w.spec or {}) for w in chosen if w], project="adopted", schema="s.json"
    )
    assert text.splitlines()[0] == "# yaml-language-server: $schema=s.json"
    # the ToolHive secret: ToolHive's environment provider reads the same variable
    assert "set TOOLHIVE_SECRET_github-token=<its value>" in text
    doc = yaml.safe_load(text)
    fetch = doc["servers"]["fetch"]
    assert fetch["env"] == {"LOG_LEVEL": "debug"} and fetch["port"] == 23456
    assert fetch["secrets"] == {"GITHUB_TOKEN": {"env": "TOOLHIVE_SECRET_github-token"}}
    assert fetch["permission_profile"]["read"] == ["/srv/fetch-data:/data"]  # inline: exact
    assert fetch["tools"] == ["fetch"]  # ToolHive's tool filter, from its middleware chain
    assert doc["servers"]["github"]["permission_profile"] == "none"
    assert doc["groups"] == {"dev": {}}
    file = tmp_path / "workloads.yaml"
    file.write_text(text)
    monkeypatch.setenv("TOOLHIVE_SECRET_github-token", "anything")
    desired = load([file], environ=dict(os.environ))
    # a recreate from this file names the secret as ToolHive did: the round trip holds
    spec = desired.server("fetch")
    rc = build_runconfig(spec, port=1, target_port=2, project="p", canon={}, config_hash="h")
    assert rc["secrets"] == ["github-token,target=GITHUB_TOKEN"]
    plan = make_plan(desired, observe(engine, store, desired_names=["fetch", "github"]), adopt=True)
    # The fixtures' proxy PIDs are not live processes here: adopted, then their proxies start.
    assert [(a.kind, a.name) for a in plan.actions] == [
        ("adopt", "fetch"),
        ("adopt", "github"),
        ("start", "fetch"),
        ("start", "github"),
    ]
    assert any("GITHUB_TOKEN" in w for w in plan.warnings)  # value not comparable


def test_import_names_what_a_workloads_file_cannot_hold(store: Store) -> None:
    assert unexpressed(store.runconfigs.read("fetch") or {}) == ["isolate_network"]
    assert unexpressed(store.runconfigs.read("docs") or {}) == ["remote_auth_config"]
    assert unexpressed(store.runconfigs.read("github") or {}) == []
