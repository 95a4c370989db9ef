"""A full or read-only state directory: one clear error, nothing half-written, and every
read still works (issue 10, deliverable 10).

``$XDG_STATE_HOME`` and ``$XDG_DATA_HOME`` live on a tiny tmpfs mounted for the test (root
only: skipped elsewhere), filled up or remounted read-only.  The engine is the in-memory fake.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import small_fs as small
from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose import connect
from toolhive_compose.paths import Paths


@pytest.fixture
def small_fs(isolated_home: Path) -> Iterator[Path]:
    """``~/.local`` (state and data homes) on a 256 KiB tmpfs of its own."""
    local = isolated_home / ".local"
    why_not = small.mount(local)
    if why_not:
        pytest.skip(why_not)
    try:
        (local / "state").mkdir()
        (local / "share").mkdir()
        yield local
    finally:
        small.unmount(local)


@pytest.fixture
def project(small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Path:
    """Project ``team`` applied: group ``dev`` and a stopped workload ``fetch``."""
    install(monkeypatch, FakeRuntime())
    path = _file(tmp_path, "1")
    result = thv(capsys, "apply", "-f", str(path), "--yes")
    assert result.code == 0, result
    return path


def _file(tmp_path: Path, level: str) -> Path:
    server = {"image": "img:1", "state": "stopped", "group": "dev", "env": {"LEVEL": level}}
    doc = {"version": 1, "project": "team", "groups": {"dev": {}}, "servers": {"fetch": server}}
    path = tmp_path / f"workloads-{level}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _no_temp_files(root: Path) -> None:
    assert [p.name for p in root.rglob(".*.tmp-*")] == []


def test_a_full_state_directory(project: Path, small_fs: Path, tmp_path: Path, capsys: Any) -> None:
    before = _snapshot(small_fs)
    filler = small.fill(small_fs / "filler")
    created = thv(capsys, "group", "create", "ops")
    assert created.code == 1
    assert created.err.splitlines()[0].startswith("error: cannot write ")
    assert "ops.json: No space left on device; it was left as it was" in created.err
    assert "hint: free some space on that file system" in created.err

    changed = thv(capsys, "apply", "-f", str(_file(tmp_path, "2")), "--yes")
    assert changed.code == 1
    assert "No space left on device" in changed.out  # the action's failure, in the summary
    assert "Traceback" not in changed.out + changed.err

    listed = thv(capsys, "list", "-a", "--format", "json")  # reads go on
    assert listed.code == 0 and [w["name"] for w in json.loads(listed.out)] == ["fetch"]
    _no_temp_files(small_fs)
    after = _snapshot(small_fs)
    state_files = [n for n in before if n.endswith(".json")]
    assert state_files and all(after[n] == before[n] for n in state_files)  # all as they were
    assert json.loads(after["state/toolhive/runconfigs/fetch.json"])["env_vars"]["LEVEL"] == "1"

    filler.unlink()
    again = thv(capsys, "apply", "-f", str(_file(tmp_path, "2")), "--yes")
    assert again.code == 0, again  # converges once there is room
    assert thv(capsys, "plan", "-f", str(_file(tmp_path, "2")), "--detailed-exitcode").code == 0


def test_a_read_only_state_directory(
    project: Path, small_fs: Path, tmp_path: Path, capsys: Any
) -> None:
    small.remount(small_fs, "ro")
    before = _snapshot(small_fs)
    for args in (["list", "-a"], ["status", "fetch"], ["plan", "-f", str(project)]):
        result = thv(capsys, *args)
        assert result.code == 0, (args, result)
    assert [w.name for w in connect().workloads.list(all=True)] == ["fetch"]
    lock = Paths.from_env().ours / "apply.lock"
    for args in (["stop", "fetch"], ["apply", "-f", str(_file(tmp_path, "2")), "--yes"]):
        result = thv(capsys, *args)
        assert result.code == 1
        assert result.err.splitlines() == [
            f"error: cannot open the state lock {lock}: Read-only file system",
            f"hint: {lock.parent} must be a writable directory",
        ]
    assert _snapshot(small_fs) == before


def test_write_errors_name_the_file(tmp_path: Path) -> None:
    from toolhive_compose.errors import StateError
    from toolhive_compose.state.atomic import write_error

    error = write_error(tmp_path / "x.json", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert isinstance(error, StateError)
    assert (
        error.message
        == f"cannot write {tmp_path / 'x.json'}: Disk quota exceeded; it was left as it was"
    )
