"""Damaged status files, read as ToolHive's readStatusFile reads them, and the status lock's
single holder (ToolHive's pkg/workloads/statuses/file_status.go and pkg/lockfile; facts §4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from toolhive_compose.errors import DamagedFile
from toolhive_compose.paths import Paths
from toolhive_compose.state import Store

ROOT = Path(__file__).resolve().parent.parent
CREATED = "2026-08-21T10:15:02.123456789+02:00"
GOOD = (
    '{\n  "status": "running",\n  "created_at": "' + CREATED + '",\n'
    '  "updated_at": "2026-08-21T10:15:05Z",\n  "process_id": 4242\n}'
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Paths(tmp_path / "state", tmp_path / "data", tmp_path / "cache"))


def _put(store: Store, text: str | bytes, name: str = "w") -> Path:
    path = store.statuses.path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _copy(path: Path) -> Path:
    return path.with_name(path.name + ".corrupted")


@pytest.mark.parametrize(
    "damaged",
    [
        GOOD + "}",  # a stray closing brace: strategy 1
        GOOD + "}}}",
        GOOD[:-1],  # truncated after a complete value: strategy 2
        GOOD.replace('"running"', '"run\x01ning"').replace("4242", "42\x0242"),  # control chars
        "\n  " + GOOD.replace(",\n", ",\x07\n") + "\x00",
    ],
    ids=["extra-brace", "extra-braces", "missing-brace", "control-chars", "padding"],
)
def test_trivial_damage_is_repaired_and_written_back(store: Store, damaged: str) -> None:
    path = _put(store, damaged)
    status = store.statuses.get("w")
    assert status is not None and status.status == "running" and status.created_at == CREATED
    assert status.process_id in (4242, 424242)
    repaired = json.loads(path.read_text())  # now valid JSON, ToolHive's shape
    assert repaired["created_at"] == CREATED and repaired["updated_at"] == "2026-08-21T10:15:05Z"
    assert not _copy(path).exists()


def test_a_brace_followed_by_a_newline_is_not_repaired_but_copied(store: Store) -> None:
    """ToolHive's TrimRight only cuts braces at the very end: a trailing newline defeats it."""
    path = _put(store, GOOD + "}\n")
    with pytest.raises(DamagedFile) as info:
        store.statuses.get("w")
    assert str(path) in info.value.message and "w.json.corrupted" in info.value.message
    assert info.value.hint and "thv rm w" in info.value.hint
    assert _copy(path).read_bytes() == path.read_bytes() == (GOOD + "}\n").encode()  # copied


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ('{"status": "running", "created_at": "' + CREATED + '", "process_id": "x"}', "process_id"),
        ('{"status": "running", "created_at": "' + CREATED + '", "process_id": 1.5}', "process_id"),
        ('{"status": "running", "created_at": "yesterday"}', "created_at"),
        ('{"status": "running", "created_at": "2026-13-40T99:00:00Z"}', "created_at"),
        ('{"status": 3, "created_at": "' + CREATED + '"}', "'status'"),
        ('{"created_at": "' + CREATED + '"}', "'status' field"),
        ('{"status": "running"}', "'created_at'"),
        ('{"status": "running", "created_at": "0001-01-01T00:00:00Z"}', "'created_at'"),
        ('[{"status": "running"}]', "not a JSON object"),
        ("null", "'status' field"),
    ],
)
def test_wrong_types_and_missing_fields_are_damage_without_a_copy(
    store: Store, text: str, says: str
) -> None:
    """Valid JSON that does not decode (or lacks a field) is an error as it stands."""
    path = _put(store, text)
    with pytest.raises(DamagedFile, match=says):
        store.statuses.get("w")
    assert not _copy(path).exists() and path.read_text() == text


def test_go_decoding_rules(store: Store) -> None:
    """Keys match case-insensitively, a later duplicate wins, null is the zero value, unknown
    keys are kept on every update."""
    _put(
        store,
        '{"Status": "stopped", "status": "running", "CREATED_AT": "' + CREATED + '", '
        '"status_context": null, "process_id": 7, "future": {"a": [1, {}]}, "note": "x"}',
    )
    status = store.statuses.get("w")
    assert status is not None and (status.status, status.process_id) == ("running", 7)
    assert status.status_context == "" and status.created_at == CREATED
    store.statuses.set_status("w", "stopping", "bye")
    store.statuses.set_pid("w", 9)
    store.statuses.reset_pid_if_match("w", 9)
    doc = json.loads(store.statuses.path("w").read_text())
    assert doc["future"] == {"a": [1, {}]} and doc["note"] == "x"
    assert list(doc)[:5] == ["status", "status_context", "created_at", "updated_at", "process_id"]
    assert doc["created_at"] == CREATED and doc["status"] == "stopping"


def test_a_new_status_replaces_a_damaged_file_after_keeping_it(store: Store) -> None:
    """Unlike ToolHive (which refuses forever), a status decided anew replaces a damaged
    file, once its bytes are safe in .corrupted; other updates leave it alone."""
    bad = '{"status": "running", "created_at": "' + CREATED + '", "process_id": "x"}'
    path = _put(store, bad)
    store.statuses.set_pid("w", 5)
    assert store.statuses.reset_pid_if_match("w", 5) is False
    with pytest.raises(DamagedFile):  # its status is unknown: neither yes nor no
        store.statuses.transition("w", "unhealthy", only_from=("running",))
    assert path.read_text() == bad  # untouched by updates that need a readable file
    store.statuses.set_status("w", "stopping")
    assert _copy(path).read_text() == bad
    status = store.statuses.get("w")
    assert status is not None and status.status == "stopping"


def test_running_is_not_written_over_a_stop(store: Store) -> None:
    """A proxy that comes up after its workload was stopped does not mark it running."""
    store.statuses.set_status("w", "stopped")
    assert store.statuses.set_running("w", 123, only_from=("starting",)) is False
    store.statuses.set_status("w", "starting")
    assert store.statuses.set_running("w", 123, only_from=("starting",)) is True
    status = store.statuses.get("w")
    assert status is not None and (status.status, status.process_id) == ("running", 123)


def test_a_directory_in_place_of_the_lock_file_is_a_clear_error(store: Store) -> None:
    (store.paths.statuses / "w.lock").mkdir(parents=True)
    with pytest.raises(Exception, match=r"cannot lock .*w\.lock") as info:
        store.statuses.set_status("w", "stopped")
    assert type(info.value).__name__ == "StateError"


def test_a_read_takes_no_lock_unless_the_file_needs_repair(store: Store) -> None:
    """Writers replace status files atomically, so a plain read goes without the lock: it
    neither waits for a holder nor leaves a lock file behind.  A file that needs repair is
    read again under the lock (the repair writes), so then it waits as ToolHive does."""
    from toolhive_compose.errors import FileBusy
    from toolhive_compose.state.filelock import locked

    store.statuses.set_status("w", "running", "up")
    lock = store.paths.statuses / "w.lock"
    with locked(lock):  # another process's update in progress
        status = store.statuses.get("w")
        assert status is not None and status.status == "running"
        store.statuses.path("w").write_text(store.statuses.path("w").read_text() + "}")
        with pytest.raises(FileBusy):
            store.statuses.get("w")
    assert not lock.exists()
    repaired = store.statuses.get("w")
    assert repaired is not None and repaired.status == "running"
    assert not store.statuses.path("w").read_text().endswith("}}")
    assert not lock.exists()


# -- one holder at a time --------------------------------------------------------------------
CONTENDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from toolhive_compose.state.filelock import locked

    lock, inside, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    hold = float(sys.argv[4])
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for _ in range(rounds):
        with locked(lock, timeout=30):
            try:  # the critical section: exactly one holder may be inside
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                print("TWO HOLDERS", flush=True)
                sys.exit(3)
            os.close(fd)
            time.sleep(hold)
            os.unlink(inside)
    print("done", flush=True)
    """
)


def _contender(tmp_path: Path, rounds: int, hold: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTENDER, str(tmp_path / "w.lock"), str(tmp_path / "inside"),
         str(rounds), str(hold)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_the_status_lock_has_one_holder_with_a_waiter_and_a_newcomer(tmp_path: Path) -> None:
    """A holds; B waits; A releases (unlock, then delete) while C arrives: at no time are two
    inside.  Deleting the lock file before unlocking (or without checking it is still the
    file) lets the waiter and the newcomer both hold it."""
    holder = _contender(tmp_path, rounds=1, hold=0.4)  # A
    waiter = _contender(tmp_path, rounds=60, hold=0.002)  # B
    newcomer = _contender(tmp_path, rounds=60, hold=0.002)  # C
    assert holder.stdin and waiter.stdin and newcomer.stdin
    holder.stdin.write("go\n")
    holder.stdin.flush()
    time.sleep(0.1)  # A is inside
    waiter.stdin.write("go\n")
    waiter.stdin.flush()
    time.sleep(0.2)  # B is waiting on A's lock file
    newcomer.stdin.write("go\n")  # C arrives around A's release
    newcomer.stdin.flush()
    for proc in (holder, waiter, newcomer):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "done" in out, out
    assert not (tmp_path / "w.lock").exists()  # the last one out deleted it
    assert not (tmp_path / "inside").exists()


def test_a_timed_out_waiter_leaves_the_holders_lock_file(tmp_path: Path) -> None:
    """ToolHive's waiters delete the lock file even when they timed out; ours never do."""
    from toolhive_compose.errors import StateError
    from toolhive_compose.state.filelock import locked

    holder = _contender(tmp_path, rounds=1, hold=2.0)
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    time.sleep(0.3)
    inode = os.stat(tmp_path / "w.lock").st_ino
    with (
        pytest.raises(StateError, match="another process held it"),
        locked(tmp_path / "w.lock", timeout=0.3),
    ):
        pytest.fail("locked a file another process holds")
    assert os.stat(tmp_path / "w.lock").st_ino == inode
    holder.communicate(timeout=30)
