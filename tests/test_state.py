"""ToolHive's on-disk state: run configs, status files, groups, and the apply lock."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from toolhive_compose.errors import LockHeld, StateError
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import SecretRef, ServerSpec
from toolhive_compose.paths import Paths
from toolhive_compose.state import Store, group_document, state_lock
from toolhive_compose.state.atomic import atomic_create, atomic_write
from toolhive_compose.state.runconfig import TOOLHIVE_FIELDS, build_runconfig
from toolhive_compose.state.runconfig_spec import canonical_from_runconfig
from toolhive_compose.state.status import now_rfc3339, parse_rfc3339
from toolhive_compose.workloads.lifecycle import Lifecycle

ROOT = Path(__file__).resolve().parent.parent
RFC3339_NANO = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"
)  # Go's time.RFC3339Nano: trailing zeros of the fraction dropped


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = tmp_path / "xdg"
    return Store(Paths(root / "state", root / "data", root / "cache"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name or p.name.startswith("."))


def _runconfig(name: str = "fetch", **fields: object) -> dict:
    spec = ServerSpec(
        name=name,
        image="ghcr.io/example/fetch:1.2.0",
        transport="streamable-http",
        target_port=8080,
        args=("--verbose",),
        env=(("LOG_LEVEL", "debug"),),
        secrets=(SecretRef(target="TOKEN", source="env", ref="GH", digest="hmac-sha256:00"),),
        labels=(("team", "platform"),),
        group="dev",
        **fields,  # type: ignore[arg-type]
    )
    canon = canonical(spec, port=18080)
    return build_runconfig(
        spec,
        port=18080,
        target_port=8080,
        project="proj",
        canon=canon,
        config_hash=config_hash(canon),
    )


# -- run configs ---------------------------------------------------------------------------
def test_runconfig_file_format(store: Store) -> None:
    rc = _runconfig()
    store.runconfigs.write("fetch", rc)
    path = store.paths.runconfigs / "fetch.json"
    raw = path.read_text()
    assert raw == json.dumps(rc, indent=2, ensure_ascii=False) + "\n"
    assert raw.startswith(
        '{\n  "schema_version": "v0.1.0",\n  "image": "ghcr.io/example/fetch:1.2.0",'
    )
    assert raw.endswith("}\n") and not raw.endswith("\n\n")
    assert _mode(path) == 0o600
    assert _mode(store.paths.runconfigs) == 0o750
    assert _leftovers(store.paths.runconfigs) == []


def test_runconfig_key_order_follows_toolhive(store: Store) -> None:
    keys = list(_runconfig())
    assert keys[:2] == ["schema_version", "image"]
    toolhive_order = [
        "schema_version", "image", "cmd_args", "name", "container_name", "base_name",
        "transport", "host", "port", "target_port", "target_host",
        "permission_profile_name_or_path", "permission_profile", "env_vars",
        "container_labels", "secrets", "proxy_mode", "group",
    ]  # fmt: skip
    assert [k for k in keys if k in toolhive_order] == toolhive_order
    assert keys[-1] == "toolhive_compose"  # our extension key comes last


def test_runconfig_contents() -> None:
    rc = _runconfig()
    assert rc["name"] == rc["container_name"] == rc["base_name"] == "fetch"
    assert rc["host"] == "127.0.0.1" and rc["port"] == 18080 and rc["target_port"] == 8080
    assert rc["env_vars"]["LOG_LEVEL"] == "debug"
    assert rc["env_vars"]["MCP_TRANSPORT"] == "streamable-http"
    assert rc["env_vars"]["MCP_PORT"] == "8080"
    assert rc["secrets"] == ["GH,target=TOKEN"]
    labels = rc["container_labels"]
    assert labels["toolhive"] == "true"
    assert labels["toolhive-name"] == labels["toolhive-basename"] == "fetch"
    assert labels["toolhive-port"] == "18080"
    assert labels["toolhive-compose.project"] == "proj"
    assert labels["toolhive-compose.config-hash"].startswith("sha256:")
    assert labels["team"] == "platform"
    assert rc["toolhive_compose"]["project"] == "proj"
    assert "GH_TOKEN_VALUE" not in json.dumps(rc)


def test_unknown_keys_survive_read_modify_write(store: Store) -> None:
    rc = _runconfig()
    rc = {
        **dict(list(rc.items())[:3]),
        "audit_config": {"component": "x"},  # a ToolHive field we do not know, mid-document
        **dict(list(rc.items())[3:]),
        "future_field": [1, {"nested": True}],
    }
    rc["container_labels"]["someone.else/label"] = "kept"
    store.runconfigs.write("fetch", rc)
    Lifecycle(None, store).move_group("fetch", "ops")  # type: ignore[arg-type]
    after = json.loads((store.paths.runconfigs / "fetch.json").read_text())
    assert after["group"] == "ops"
    assert after["audit_config"] == {"component": "x"}
    assert after["future_field"] == [1, {"nested": True}]
    assert after["container_labels"]["someone.else/label"] == "kept"
    known = [k for k in after if k in TOOLHIVE_FIELDS]  # laid out as ToolHive's encoder does
    assert known == sorted(known, key=list(TOOLHIVE_FIELDS).index)
    assert list(after)[-2:] == ["future_field", "toolhive_compose"]
    for key, value in rc.items():  # every original key and value is still there
        assert after[key] == (value if key != "group" else "ops"), key
    assert canonical_from_runconfig(store.runconfigs.read("fetch") or {})["group"] == "ops"


def test_runconfig_read_applies_toolhive_defaults(store: Store) -> None:
    path = store.paths.runconfigs / "bare.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"image": "x:1", "name": "bare", "transport": "stdio", "extra": 1}\n')
    rc = store.runconfigs.read("bare")
    assert rc is not None
    assert rc["schema_version"] == "v0.1.0"
    assert rc["env_vars"] == {} and rc["container_labels"] == {}
    assert rc["cmd_args"] == [] and rc["volumes"] == [] and rc["secrets"] == []
    assert rc["proxy_mode"] == "streamable-http"
    assert rc["extra"] == 1


def test_runconfig_names_and_missing(store: Store) -> None:
    assert store.runconfigs.names() == []
    assert store.runconfigs.read("nope") is None
    store.runconfigs.write("b", _runconfig("b"))
    store.runconfigs.write("a", _runconfig("a"))
    assert store.runconfigs.names() == ["a", "b"]
    store.runconfigs.delete("a")
    store.runconfigs.delete("a")  # already gone: fine
    assert store.runconfigs.names() == ["b"]


def test_corrupt_runconfig_is_a_state_error(store: Store) -> None:
    path = store.paths.runconfigs / "bad.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(StateError, match=r"bad\.json"):
        store.runconfigs.read("bad")
    path.write_text("[1, 2]")
    with pytest.raises(StateError, match="not a JSON object"):
        store.runconfigs.read("bad")


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs"])
def test_state_names_cannot_escape_the_directory(store: Store, name: str) -> None:
    with pytest.raises(StateError, match="invalid state name"):
        store.runconfigs.write(name, {"name": name})


# -- atomic writes ---------------------------------------------------------------------------
def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "d" / "f.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two", mode=0o640)
    assert path.read_bytes() == b"two"
    assert _mode(path) == 0o640
    assert _mode(path.parent) == 0o750
    assert _leftovers(path.parent) == []


def test_atomic_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    assert atomic_create(path, b"first") is True
    assert atomic_create(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert _mode(path) == 0o600
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    atomic_write(path, b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


# -- status files ---------------------------------------------------------------------------
def _status_doc(store: Store, name: str) -> dict:
    return json.loads(store.statuses.path(name).read_text())


def _no_lock_files(store: Store) -> None:
    assert sorted(p.name for p in store.paths.statuses.glob("*.lock")) == []
    assert _leftovers(store.paths.statuses) == []


def test_status_file_keys_and_timestamps(store: Store) -> None:
    store.statuses.set_status("fetch", "starting")
    doc = _status_doc(store, "fetch")
    assert list(doc) == ["status", "created_at", "updated_at", "process_id"]
    assert doc["status"] == "starting" and doc["process_id"] == 0
    for key in ("created_at", "updated_at"):
        assert RFC3339_NANO.match(doc[key]), doc[key]
    assert _mode(store.statuses.path("fetch")) == 0o600
    _no_lock_files(store)

    store.statuses.set_status("fetch", "error", "image not found")
    doc = _status_doc(store, "fetch")
    assert list(doc) == ["status", "status_context", "created_at", "updated_at", "process_id"]
    assert doc["status_context"] == "image not found"
    _no_lock_files(store)


def test_created_at_is_kept_and_updated_at_moves(store: Store) -> None:
    store.statuses.set_status("fetch", "starting")
    first = _status_doc(store, "fetch")
    time.sleep(0.002)
    store.statuses.set_status("fetch", "running")
    store.statuses.set_pid("fetch", 4242)
    second = _status_doc(store, "fetch")
    assert second["created_at"] == first["created_at"]
    assert parse_rfc3339(second["updated_at"]) > parse_rfc3339(first["updated_at"])
    assert second["process_id"] == 4242
    store.statuses.set_status("fetch", "unhealthy")  # a status update keeps the PID
    assert _status_doc(store, "fetch")["process_id"] == 4242
    _no_lock_files(store)


def test_set_pid_on_a_missing_file_is_a_no_op(store: Store) -> None:
    store.statuses.set_pid("ghost", 123)
    assert not store.statuses.path("ghost").exists()
    assert store.statuses.get("ghost") is None
    _no_lock_files(store)


def test_reset_pid_only_when_it_matches(store: Store) -> None:
    assert store.statuses.reset_pid_if_match("ghost", 1) is False
    assert not store.statuses.path("ghost").exists()
    store.statuses.set_status("fetch", "running")
    store.statuses.set_pid("fetch", 100)
    assert store.statuses.reset_pid_if_match("fetch", 999) is False
    assert _status_doc(store, "fetch")["process_id"] == 100
    assert store.statuses.reset_pid_if_match("fetch", 100) is True
    doc = _status_doc(store, "fetch")
    assert doc["process_id"] == 0 and doc["status"] == "running"
    _no_lock_files(store)


def test_status_get_and_delete(store: Store) -> None:
    store.statuses.set_status("fetch", "stopped")
    status = store.statuses.get("fetch")
    assert status is not None and status.status == "stopped"
    assert store.statuses.names() == ["fetch"]
    store.statuses.delete("fetch")
    store.statuses.delete("fetch")
    assert store.statuses.get("fetch") is None
    assert store.statuses.names() == []
    _no_lock_files(store)


def test_status_written_by_toolhive_is_read(store: Store) -> None:
    path = store.statuses.path("thv-made")
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "status": "running",
                "status_context": "",
                "created_at": "2026-08-21T10:15:02.123456789+02:00",
                "updated_at": "2026-08-21T10:15:03Z",
                "process_id": 31337,
            }
        )
    )
    status = store.statuses.get("thv-made")
    assert status is not None
    assert (status.status, status.process_id) == ("running", 31337)
    store.statuses.set_status("thv-made", "stopping")
    doc = _status_doc(store, "thv-made")
    assert doc["created_at"] == "2026-08-21T10:15:02.123456789+02:00"  # byte for byte
    assert doc["process_id"] == 31337


def test_corrupt_status_file_is_a_state_error(store: Store) -> None:
    path = store.statuses.path("bad")
    path.parent.mkdir(parents=True)
    path.write_text('{"status": ""}')
    with pytest.raises(StateError, match="corrupt"):
        store.statuses.get("bad")
    _no_lock_files(store)


# -- timestamps ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2026-08-21T10:15:02.123456789+02:00",
            datetime(2026, 8, 21, 10, 15, 2, 123456, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2026-08-21T10:15:02.123456789Z", datetime(2026, 8, 21, 10, 15, 2, 123456, tzinfo=UTC)),
        ("2026-08-21T10:15:02Z", datetime(2026, 8, 21, 10, 15, 2, tzinfo=UTC)),
        (
            "2026-08-21T10:15:02.5-05:30",
            datetime(
                2026, 8, 21, 10, 15, 2, 500000, tzinfo=timezone(-timedelta(hours=5, minutes=30))
            ),
        ),
        ("2026-08-21T10:15:02.1z", datetime(2026, 8, 21, 10, 15, 2, 100000, tzinfo=UTC)),
    ],
)
def test_parse_toolhive_timestamps(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_now_is_rfc3339_nano_and_round_trips() -> None:
    before = datetime.now(UTC)
    text = now_rfc3339()
    after = datetime.now(UTC)
    assert RFC3339_NANO.match(text), text
    parsed = parse_rfc3339(text)
    assert parsed.tzinfo is not None
    assert before - timedelta(seconds=1) <= parsed <= after + timedelta(seconds=1)


def test_now_uses_the_local_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("no tzset")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        text = now_rfc3339()
    finally:
        monkeypatch.undo()
        time.tzset()
    if text.endswith("Z"):
        pytest.skip("no time zone database on this machine")
    assert text.endswith("+05:30"), text


# -- groups --------------------------------------------------------------------------------
def test_group_document_is_toolhives() -> None:
    assert group_document("dev") == {"name": "dev", "registered_clients": []}


def test_group_files(store: Store) -> None:
    life = Lifecycle(None, store)  # type: ignore[arg-type]
    store.groups.ensure_default()
    store.groups.ensure_default()
    life.group_create("dev", project="p", description="Tools")
    life.group_create("dev", project="p", description="Tools, updated")  # ours: recorded
    life.group_create("theirs")
    default = store.paths.groups / "default.json"
    assert default.read_text() == '{\n  "name": "default",\n  "registered_clients": []\n}\n'
    dev = json.loads((store.paths.groups / "dev.json").read_text())
    assert dev == {"name": "dev", "registered_clients": []}  # exactly ToolHive's shape
    owners = store.group_owners()
    assert owners["dev"].project == "p" and owners["dev"].description == "Tools, updated"
    assert "theirs" not in owners
    assert _mode(store.paths.groups / "dev.json") == 0o600
    assert _mode(store.paths.groups) == 0o750
    assert store.groups.names() == ["default", "dev", "theirs"]
    assert _leftovers(store.paths.groups) == []
    life.group_delete("dev")
    life.group_delete("dev")
    assert store.groups.names() == ["default", "theirs"]
    assert "dev" not in store.group_owners()


def test_group_create_keeps_registered_clients_of_an_existing_group(store: Store) -> None:
    path = store.paths.groups / "dev.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "dev", "registered_clients": ["claude-code"]}\n')
    Lifecycle(None, store).group_create("dev")  # type: ignore[arg-type]
    assert json.loads(path.read_text())["registered_clients"] == ["claude-code"]


def test_group_update_leaves_the_group_file_alone(store: Store) -> None:
    """A group-update (description changed) records the description apart: clients that
    ``thv client register`` added, and keys ToolHive may add later, are never rewritten."""
    life = Lifecycle(None, store)  # type: ignore[arg-type]
    life.group_create("dev", project="p", description="old")
    path = store.paths.groups / "dev.json"
    doc = json.loads(path.read_text())
    doc["registered_clients"] = ["claude-code", "cursor"]
    doc["future_key"] = {"x": 1}
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text)
    life.group_create("dev", project="p", description="new")  # what group-update runs
    assert path.read_text() == text
    assert store.group_owners()["dev"].description == "new"


# -- the apply lock --------------------------------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from toolhive_compose.state import state_lock
    with state_lock(Path(sys.argv[1]), operation="apply"):
        print("locked", flush=True)
        sys.stdin.read()  # hold until the test closes our stdin
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "lockdir")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_second_lock_waits_then_names_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    began = time.monotonic()
    with pytest.raises(LockHeld) as info, state_lock(tmp_path / "lockdir", wait=0.5):
        pytest.fail("acquired a lock another process holds")
    waited = time.monotonic() - began
    assert waited >= 0.5
    message = str(info.value)
    assert f"PID {holder.pid}" in message
    assert "apply" in message and "apply.lock" in message
    assert info.value.hint


def test_lock_is_acquired_once_the_holder_is_done(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()  # the holder releases and exits
    assert holder.wait(timeout=10) == 0
    with state_lock(tmp_path / "lockdir", wait=2):
        content = (tmp_path / "lockdir" / "apply.lock").read_text()
        assert content.split()[0] == str(os.getpid())
    assert (tmp_path / "lockdir" / "apply.lock").read_text() == ""  # cleared on release


def test_lock_released_when_the_holder_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.kill()
    holder.wait(timeout=10)
    with state_lock(tmp_path / "lockdir", wait=2):
        pass


def test_lock_waits_for_a_briefly_held_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    """The waiter polls: a holder that lets go within the wait is waited for."""
    import threading

    assert holder.stdin is not None
    timer = threading.Timer(0.3, holder.stdin.close)
    timer.start()
    try:
        with state_lock(tmp_path / "lockdir", wait=5):
            pass
    finally:
        timer.cancel()
