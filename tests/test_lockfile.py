"""``workloads.lock`` without containers: its format, damage, the pins it gives a desired
state (tools, and images against a fake engine), and the CLI's errors about it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime
from toolhive_compose.errors import SpecError
from toolhive_compose.model import DesiredState, Lock, LockedServer, ServerSpec
from toolhive_compose.runtime import ImageInfo
from toolhive_compose.tools import ToolView
from toolhive_compose.workloads.lockfile import (
    lock_path,
    parse_lock,
    read_lock,
    render_lock,
    write_lock,
)
from toolhive_compose.workloads.pins import recorded_digest, repository_of, with_lock

A, B, C = ("sha256:" + c * 64 for c in "abc")
LOCK = Lock(
    path="/p/workloads.lock",
    servers={
        "echo": LockedServer(
            image="thc/echo:1",
            image_digest=A,
            tools={"add": ToolView(B, "Add."), "echo": ToolView(C, 'Say "it".\nTwice.')},
        ),
        "docs": LockedServer(url="https://docs.example/mcp", tools={}),
    },
)


def test_one_line_per_tool_keys_sorted_and_it_reads_back() -> None:
    text = render_lock(LOCK)
    lines = text.splitlines()
    assert lines[:3] == ["{", '  "version": 1,', '  "servers": {']
    assert '        "add": {"description": "Add.", "sha256": "' + B + '"},' in lines
    assert (
        '        "echo": {"description": "Say \\"it\\".\\nTwice.", "sha256": "' + C + '"}' in lines
    )
    assert text.index('"docs"') < text.index('"echo"') and text.endswith("}\n")
    assert parse_lock(text, LOCK.path) == LOCK
    assert json.loads(text)["servers"]["docs"] == {"url": "https://docs.example/mcp", "tools": {}}


def test_written_atomically_as_a_file_to_commit(tmp_path: Path) -> None:
    path = tmp_path / "workloads.lock"
    write_lock(Lock(path=str(path), servers=LOCK.servers))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_lock(path) == Lock(path=str(path), servers=LOCK.servers)
    assert read_lock(tmp_path / "none.lock") == Lock(path=str(tmp_path / "none.lock"), exists=False)
    assert lock_path([str(tmp_path / "a" / "workloads.yaml")]) == tmp_path / "a" / "workloads.lock"


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda t: t[:40], "/p/workloads.lock:"),
        (lambda t: t.replace('"version": 1', '"version": 9'), "2: version: unsupported version 9"),
        (lambda t: t.replace(B, "sha256:zz"), "servers.echo.tools.add.sha256: must be 'sha256:'"),
        (lambda t: t.replace('"image_digest"', '"digest"'), "servers.echo.digest: unknown key"),
        (
            lambda t: t.replace('"tools": {}', '"tools": []'),
            "servers.docs.tools: must be a mapping",
        ),
        (lambda t: "[]", "must be a JSON object"),
    ],
    ids=["truncated", "version", "digest", "unknown-key", "tools", "not-object"],
)
def test_a_damaged_or_hand_edited_lock_is_an_error_naming_the_file(edit, says: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_lock(edit(render_lock(LOCK)), LOCK.path)
    assert says in str(info.value) and LOCK.path in str(info.value)
    assert "version control" in (info.value.hint or "")


def test_plan_with_a_damaged_lock_fails_with_one_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "workloads.yaml").write_text(
        "version: 1\nproject: p\nservers: {aa: {image: i:1}}\n"
    )
    (tmp_path / "workloads.lock").write_text(
        '{"version": 1, "servers": {"aa": {"image": 5, "tools": {}}}}\n'
    )
    result = thv(capsys, "validate", "-f", str(tmp_path / "workloads.yaml"))
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith(
        f"error: {tmp_path / 'workloads.lock'}:1: servers.aa: needs 'image'"
    )
    assert "hint: restore workloads.lock from version control" in result.err


# -- pins ---------------------------------------------------------------------------------------
def desired(*specs: ServerSpec) -> DesiredState:
    return DesiredState(project="p", servers=specs, files=("/p/workloads.yaml",))


def test_tool_pins_for_locked_servers_and_stale_entries_said() -> None:
    out, notes = with_lock(desired(ServerSpec(name="echo", image="thc/echo:1")), LOCK, None)
    assert out.server("echo").tool_pins == (("add", B), ("echo", C))
    assert out.lock is LOCK
    assert notes == [
        "/p/workloads.lock names server(s) no longer in the workloads file: docs (kept; thv "
        "lock --prune removes them)"
    ]
    fresh, _ = with_lock(desired(ServerSpec(name="new", image="x:1")), LOCK, None)
    assert fresh.server("new").tool_pins is None  # recorded after its first start


def test_the_lock_wins_over_a_moved_tag_unless_updated() -> None:
    engine = FakeRuntime()
    spec = ServerSpec(name="echo", image="thc/echo:1")
    engine.images["thc/echo:1"] = ImageInfo(A)  # the tag still names the pinned image
    same, notes = with_lock(desired(spec), LOCK, engine)
    assert (same.server("echo").image_ref, same.server("echo").image_pin, notes[:-1]) == ("", A, [])

    engine.images["thc/echo:1"] = ImageInfo(B)  # the tag moved; the pinned image is still here
    engine.images[A] = ImageInfo(A)
    moved, notes = with_lock(desired(spec), LOCK, engine)
    assert (moved.server("echo").image_ref, moved.server("echo").image_pin) == (A, A)
    assert "image thc/echo:1 now resolves to sha256:bbbbbbbbbbbb; workloads.lock pins" in notes[0]
    assert "the lock wins (--update-lock takes the tag's image)" in notes[0]

    updated, notes = with_lock(desired(spec), LOCK, engine, update_images=True)
    assert (updated.server("echo").image_ref, updated.server("echo").image_pin) == ("", B)

    del engine.images[A]  # an image id that is gone cannot be pulled: the tag decides
    gone, notes = with_lock(desired(spec), LOCK, engine)
    assert (gone.server("echo").image_ref, gone.server("echo").image_pin) == ("", "")
    assert "which is gone (an image id cannot be pulled)" in notes[0]

    bumped = ServerSpec(name="echo", image="thc/echo:2")  # the file names another image
    other, _ = with_lock(desired(bumped), LOCK, engine)
    assert (other.server("echo").image_ref, other.server("echo").image_pin) == ("", "")


def test_repo_digests_are_recorded_for_registry_images() -> None:
    info = ImageInfo(A, ("other/x@" + B, "127.0.0.1:5000/thc/echo@" + C))
    assert recorded_digest("127.0.0.1:5000/thc/echo:1.0.0", info) == "127.0.0.1:5000/thc/echo@" + C
    assert recorded_digest("thc/local:1", ImageInfo(A)) == A
    assert repository_of("host:5000/a/b:tag") == "host:5000/a/b"
    assert repository_of("a/b@sha256:00") == "a/b" and repository_of("host:5000/a") == "host:5000/a"
