"""MCP clients in the plan, without an engine: real-shaped files of every supported client in
a temporary HOME (other servers and settings, comments where the format has them), servers
running in sync on a fake engine, and the real ``thv`` commands.

What a user sees: apply registers, a second plan is a no-op, hand edits are drift, down gives
back every file byte for byte, a damaged file is an error that writes nothing, an entry
changed between plan and apply is stale, and every write keeps the file's mode and a backup.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import Machine, on_disk
from toolhive_compose.apply.executor import apply_plan
from toolhive_compose.clients.catalog import CLIENT_NAMES
from toolhive_compose.clients.files import BACKUP_SUFFIX
from toolhive_compose.clients.observe import with_clients
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.loader import load
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.observe import observe

FETCH = "http://127.0.0.1:18080/mcp"  # a stdio server, streamable HTTP through its proxy
DOCS = "http://127.0.0.1:18081/sse#docs"  # a stdio server behind an SSE proxy
HTTP = ({"url": FETCH, "type": "http"}, {"url": DOCS, "type": "sse"})
BARE = ({"url": FETCH}, {"url": DOCS})
# Per client, from ToolHive's client table: the servers key, then fetch's and docs' entries.
EXPECTED: dict[str, tuple[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    "amp-cli": ("amp.mcpServers", HTTP),
    "antigravity": ("mcpServers", ({"serverUrl": FETCH}, {"serverUrl": DOCS})),
    "claude-code": ("mcpServers", HTTP),
    "cline": ("mcpServers", ({"url": FETCH, "type": "streamableHttp"}, HTTP[1])),
    "codex": ("mcp_servers", BARE),
    "continue": ("mcpServers", (
        {"name": "fetch", "url": FETCH, "type": "streamable-http"},
        {"name": "docs", "url": DOCS, "type": "sse"},
    )),
    "copilot-cli": ("mcpServers", HTTP),
    "cursor": ("mcpServers", HTTP),
    "factory": ("mcpServers", HTTP),
    "gemini-cli": ("mcpServers", ({"httpUrl": FETCH}, {"url": DOCS})),
    "goose": ("extensions", (
        {"name": "fetch", "uri": FETCH, "type": "streamable_http", "enabled": True,
         "timeout": 60, "description": ""},
        {"name": "docs", "uri": DOCS, "type": "sse", "enabled": True, "timeout": 60,
         "description": ""},
    )),
    "kimi-cli": ("mcpServers", BARE),
    "kiro": ("mcpServers", BARE),
    "lm-studio": ("mcpServers", HTTP),
    "mistral-vibe": ("mcp_servers", (
        {"name": "fetch", "url": FETCH, "transport": "streamable-http"},
        {"name": "docs", "url": DOCS, "transport": "http"},
    )),
    "opencode": ("mcp", ({"url": FETCH, "type": "remote"}, {"url": DOCS, "type": "remote"})),
    "qoder": ("mcpServers", HTTP),
    "roo-code": ("mcpServers", ({"url": FETCH, "type": "streamable-http"}, HTTP[1])),
    "trae": ("mcpServers", BARE),
    "vscode": ("servers", HTTP),
    "vscode-insider": ("servers", HTTP),
    "vscode-server": ("servers", BARE),
    "windsurf": ("mcpServers", ({"serverUrl": FETCH, "type": "http"},
                                {"serverUrl": DOCS, "type": "sse"})),
    "windsurf-jetbrains": ("mcpServers", ({"serverUrl": FETCH, "type": "http"},
                                          {"serverUrl": DOCS, "type": "sse"})),
    "zed": ("context_servers", BARE),
}  # fmt: skip


def workloads(*clients: str, project: str = "team") -> dict[str, Any]:
    return {
        "version": 1,
        "project": project,
        "groups": {"dev": {"clients": list(clients)}},
        "servers": {
            "fetch": {"image": "example/fetch:1", "port": 18080, "group": "dev"},
            "docs": {"image": "example/docs:1", "port": 18081, "proxy_mode": "sse", "group": "dev"},
        },
    }


@pytest.fixture
def machine(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Machine:
    return Machine(isolated_home, tmp_path, monkeypatch, capsys)


def served(machine: Machine, *clients: str, project: str = "team") -> None:
    machine.write(workloads(*clients, project=project))
    machine.serve(project)


# -- the whole round ------------------------------------------------------------------------
def test_every_client_registered_then_down_gives_every_file_back(machine: Machine) -> None:
    before = machine.install()
    os.chmod(machine.path("cursor"), 0o640)
    served(machine, *CLIENT_NAMES)

    planned = machine.thv("plan", "--format", "json")
    assert planned.code == 0, planned.err
    doc = json.loads(planned.out)
    assert doc["summary"]["client-register"] == 2 * len(CLIENT_NAMES), doc["warnings"]
    assert doc["summary"]["total"] == 2 * len(CLIENT_NAMES) + 1  # + the group's registrations

    applied = machine.thv("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    for client, (key, (fetch, docs)) in EXPECTED.items():
        servers = on_disk(machine.path(client), key)
        assert servers["fetch"] == fetch, client
        assert servers["docs"] == docs, client
        original = before[client]
        if original is not None:  # the user's servers are all still there, unchanged
            theirs = on_disk_text(original, machine.path(client), key)
            assert {k: v for k, v in servers.items() if k not in ("fetch", "docs")} == theirs
            backup = machine.path(client).with_name(machine.path(client).name + BACKUP_SUFFIX)
            assert backup.read_bytes() == original, client
    assert stat.S_IMODE(machine.path("cursor").stat().st_mode) == 0o640
    assert "// Perplexity, over stdio" in machine.path("vscode").read_text()
    assert "# my memory extension" in machine.path("goose").read_text()
    group = machine.store.groups.read("dev") or {}
    assert group["registered_clients"] == list(CLIENT_NAMES)

    replanned = machine.thv("plan", "--detailed-exitcode")
    assert replanned.code == 0, replanned.out

    down = machine.thv("down", "--yes")
    assert down.code == 0, down.out + down.err
    for client, original in before.items():
        path = machine.path(client)
        if original is None:  # we made it: gone again, with its backup
            assert not path.exists(), client
            assert not path.with_name(path.name + BACKUP_SUFFIX).exists(), client
        else:
            assert path.read_bytes() == original, client
    assert machine.store.groups.read("dev") is None
    assert json.loads((machine.store.paths.ours / "clients.json").read_text())["files"] == {}


def on_disk_text(original: bytes, path: Path, key: str) -> dict[str, Any]:
    copy = path.with_name("original" + path.suffix)
    copy.write_bytes(original)
    try:
        return on_disk(copy, key)
    finally:
        copy.unlink()


def test_registered_clients_kept_as_toolhive_keeps_them(machine: Machine) -> None:
    machine.install("cursor", "vscode", "zed")
    machine.write(workloads("cursor", "vscode"))
    machine.serve()
    group = machine.store.groups.read("dev") or {}
    machine.store.groups.write("dev", {**group, "registered_clients": ["zed", "cursor"]})
    assert machine.thv("apply", "--yes").code == 0
    assert (machine.store.groups.read("dev") or {})["registered_clients"] == [
        "zed", "cursor", "vscode"
    ]  # fmt: skip
    listed = machine.thv("client", "list-registered")
    assert listed.out.split() == ["CLIENT", "TYPE", "GROUPS", "cursor", "dev", "vscode", "dev",
                                  "zed", "dev"]  # fmt: skip

    machine.write(workloads("vscode"))  # cursor was there before us: it stays registered
    planned = machine.thv("plan")
    assert "~ registered_clients" not in planned.out
    assert "client cursor: server fetch will be removed" in planned.out
    machine.write(workloads())
    planned = machine.thv("plan")
    assert '~ registered_clients = ["zed", "cursor", "vscode"] -> ["zed", "cursor"]' in planned.out


def test_the_default_group_registers_too(machine: Machine) -> None:
    machine.install("cursor")
    machine.write({
        "version": 1, "project": "team", "groups": {"default": {"clients": ["cursor"]}},
        "servers": {"fetch": {"image": "example/fetch:1", "port": 18080}},
    })  # fmt: skip
    machine.serve()
    assert machine.thv("apply", "--yes").code == 0
    assert machine.entries("cursor")["fetch"] == HTTP[0]
    assert (machine.store.groups.read("default") or {})["registered_clients"] == ["cursor"]
    assert "toolhive_compose" not in (machine.store.groups.read("default") or {})
    assert machine.thv("down", "--yes").code == 0
    assert (machine.store.groups.read("default") or {})["registered_clients"] == []


# -- drift ----------------------------------------------------------------------------------
def test_hand_edits_show_as_drift_and_are_never_overwritten(machine: Machine) -> None:
    machine.install("cursor", "goose")
    served(machine, "cursor", "goose")
    assert machine.thv("apply", "--yes").code == 0
    cursor = machine.path("cursor")
    cursor.write_text(cursor.read_text().replace(FETCH, "http://127.0.0.1:9999/mcp"))
    goose = machine.path("goose")
    text = goose.read_text()
    start = text.index("  docs:\n")
    end = text.index("description: ''", start) + len("description: ''\n")
    goose.write_text(text[:start] + text[end:])  # removed by hand

    planned = machine.thv("plan")
    assert (
        f"Warning: client cursor: the entry fetch in {cursor} was edited by hand since "
        "toolhive-compose wrote it; left as is (delete it to have it written again)"
    ) in planned.out
    assert (
        "# client goose: server docs will be registered: removed by hand since it was "
        "written; written again" in planned.out
    )
    listed = json.loads(machine.thv("client", "list", "--format", "json").out)
    states = {(e["client"], e["server"]): e["state"] for e in listed["entries"]}
    assert states == {
        ("cursor", "docs"): "in sync", ("cursor", "fetch"): "edited by hand",
        ("goose", "docs"): "removed by hand", ("goose", "fetch"): "in sync",
    }  # fmt: skip
    text_list = machine.thv("client", "list").out
    assert "edited by hand" in text_list and "Drifted entries are left as they are" in text_list

    assert machine.thv("apply", "--yes").code == 0
    assert machine.entries("cursor")["fetch"]["url"] == "http://127.0.0.1:9999/mcp"
    assert machine.entries("goose")["docs"]["uri"] == DOCS

    down = machine.thv("down", "--yes")
    assert down.code == 0
    assert "will be forgotten (the file is left as it is)" in down.out
    assert machine.entries("cursor") == {
        "linear": {"url": "https://mcp.linear.app/sse"},
        "postgres": machine.entries("cursor")["postgres"],
        "fetch": {"url": "http://127.0.0.1:9999/mcp", "type": "http"},
    }
    assert "fetch" not in machine.entries("goose") and "docs" not in machine.entries("goose")


def test_an_entry_someone_else_wrote_is_left_alone_unless_it_is_ours_already(
    machine: Machine,
) -> None:
    machine.install("cursor", "vscode")
    served(machine, "cursor", "vscode")
    cursor, vscode = machine.path("cursor"), machine.path("vscode")
    cursor.write_text('{"mcpServers": {"fetch": {"command": "my-own-fetch"}}}\n')
    vscode.write_text(json.dumps({"servers": {"fetch": HTTP[0]}}))  # as ToolHive writes it

    planned = machine.thv("plan")
    assert (
        f"client cursor: {cursor} already has an entry fetch that toolhive-compose did not "
        "write; left as is"
    ) in planned.out
    assert "server fetch will be taken on record (the file is left as it is)" in planned.out
    assert machine.thv("apply", "--yes").code == 0
    assert machine.entries("cursor")["fetch"] == {"command": "my-own-fetch"}
    assert json.loads(vscode.read_text())["servers"]["fetch"] == HTTP[0]
    machine.thv("down", "--yes")
    assert "fetch" not in machine.entries("vscode")  # taken on record, so ours to remove
    assert machine.entries("cursor")["fetch"] == {"command": "my-own-fetch"}


# -- bad input and accidents ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("broken", "is not valid JSON: line 3, column 1: expected ',' or '}'"),
        ("directory", "is a directory, not a file"),
        ("latin-1", "is not UTF-8 text (byte 0xe9 at offset 10)"),
        ("not-an-object", "has 'mcpServers' that is not an object"),
    ],
)
def test_a_damaged_file_is_an_error_that_writes_nothing(
    machine: Machine, damage: str, says: str
) -> None:
    machine.install("cursor", "vscode")
    served(machine, "cursor", "vscode")
    cursor = machine.path("cursor")
    if damage == "directory":
        cursor.unlink()
        cursor.mkdir()
    else:
        cursor.write_bytes({
            "broken": b'{"mcpServers": {\n  "a": {}\n',
            "latin-1": b'{"x": "caf\xe9"}',
            "not-an-object": b'{"mcpServers": []}',
        }[damage])  # fmt: skip
    vscode_before = machine.path("vscode").read_bytes()
    for command in (("plan",), ("apply", "--yes")):
        result = machine.thv(*command)
        assert result.code == 1
        assert result.err.startswith(f"error: client cursor: {cursor} {says}; nothing is written")
        assert "hint: fix or move the file it names" in result.err
        assert "Traceback" not in result.err
    assert machine.path("vscode").read_bytes() == vscode_before
    assert not (machine.store.paths.ours / "clients.json").exists()
    assert (machine.store.groups.read("dev") or {})["registered_clients"] == []


def test_an_unreadable_file_is_named(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolhive_compose.clients.files import ClientFileError, read_text

    path = machine.tmp_path / "mcp.json"
    path.write_text("{}")
    os.chmod(path, 0)

    def refused(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refused)  # root reads a mode-0 file anyway
    with pytest.raises(ClientFileError) as caught:
        read_text(path)
    assert str(caught.value) == f"cannot read {path}: Permission denied"


def test_an_entry_changed_between_plan_and_apply_is_stale(machine: Machine) -> None:
    machine.install("cursor", "vscode")
    served(machine, "cursor", "vscode")
    desired = load([machine.file])
    assert machine.thv("apply", "--yes").code == 0
    machine.write({**workloads("cursor", "vscode"), "servers": {
        "fetch": {"image": "example/fetch:1", "port": 18080, "group": "dev"}}})  # fmt: skip
    desired = load([machine.file])
    observed = with_clients(observe(machine.engine, machine.store), desired, machine.store.paths)
    plan = make_plan(desired, observed)
    assert sorted(a.client.name for a in plan.actions if a.client) == ["cursor", "vscode"]

    cursor, vscode = machine.path("cursor"), machine.path("vscode")
    cursor.write_text(cursor.read_text().replace(DOCS, "http://127.0.0.1:9/sse#docs"))
    vscode.write_text(vscode.read_text().replace('"Perplexity API Key"', '"Perplexity key"'))
    result = apply_plan(plan, desired, Lifecycle(machine.engine, machine.store))

    outcome = {e.action.client.name: e for e in result.events if e.action.client}
    assert outcome["cursor"].state == "failed"
    assert outcome["cursor"].message == (
        f"client cursor: the entry docs in {cursor} changed since the plan was made; it was "
        "left as it is now"
    )
    assert machine.entries("cursor")["docs"]["url"] == "http://127.0.0.1:9/sse#docs"
    assert outcome["vscode"].state == "done"  # another change elsewhere in the file is fine
    assert "docs" not in machine.entries("vscode")
    assert '"Perplexity key"' in vscode.read_text()


def test_a_file_locked_by_another_program_waits_then_fails(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toolhive_compose.clients.files as files

    monkeypatch.setattr(files, "LOCK_TIMEOUT", 0.3)
    machine.install("cursor")
    served(machine, "cursor")
    lock = machine.path("cursor").with_name("mcp.json.lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as ToolHive's thv client register would
        result = machine.thv("apply", "--yes")
    assert result.code == 1
    assert f"failed: cannot lock {machine.path('cursor')}: another program holds {lock}" in (
        result.out
    )
    assert machine.thv("apply", "--yes").code == 0  # and once it is free
    assert not lock.exists()  # removed after use, as ToolHive does


def test_a_symlinked_file_is_written_through_its_link(machine: Machine) -> None:
    machine.install("cursor")
    dotfiles = machine.tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "cursor-mcp.json"
    real.write_bytes(machine.path("cursor").read_bytes())
    machine.path("cursor").unlink()
    machine.path("cursor").symlink_to(real)
    served(machine, "cursor")
    assert machine.thv("apply", "--yes").code == 0
    assert machine.path("cursor").is_symlink()
    assert "fetch" in json.loads(real.read_text())["mcpServers"]


def test_two_projects_cannot_own_one_entry(machine: Machine) -> None:
    machine.install("cursor")
    served(machine, "cursor", project="alpha")
    assert machine.thv("apply", "--yes").code == 0
    for name in ("fetch", "docs"):  # alpha's servers go; its entries stay (thv rm, say)
        machine.store.runconfigs.delete(name)
        machine.engine.containers.clear()
    machine.write(workloads("cursor", project="beta"))
    machine.serve("beta")
    result = machine.thv("plan")
    assert result.code == 1
    assert result.err.splitlines()[0] == "error: 2 problems with MCP clients:"
    assert (
        f"client cursor: the entry docs in {machine.path('cursor')} belongs to project alpha"
        in result.err
    )


def test_a_client_not_installed_is_skipped_or_with_strict_an_error(machine: Machine) -> None:
    machine.install("cursor")
    served(machine, "cursor", "windsurf")
    planned = machine.thv("plan")
    marker = machine.home / ".codeium" / "windsurf"
    assert (
        f"Warning: client windsurf is not installed here ({marker} does not exist); skipped"
    ) in planned.out
    strict = machine.thv("plan", "--strict")
    assert strict.code == 1
    assert strict.err.startswith(
        f"error: client windsurf is not installed here ({marker} does not exist)"
    )
    assert machine.thv("apply", "--yes").code == 0
    assert not marker.exists()  # nothing made for it


def test_a_stopped_server_leaves_its_clients(machine: Machine) -> None:
    machine.install("cursor")
    served(machine, "cursor")
    assert machine.thv("apply", "--yes").code == 0
    doc = workloads("cursor")
    doc["servers"]["docs"]["state"] = "stopped"
    machine.write(doc)
    planned = machine.thv("plan")
    assert "# client cursor: server docs will be removed: server is stopped" in planned.out


def test_damaged_records_are_noted_and_never_written_over(machine: Machine) -> None:
    """A damaged ``clients.json`` is shared by every project: plans go on without its records
    (a warning names it); only a change that must rewrite it fails, and its bytes stay."""
    machine.install("cursor")
    served(machine, "cursor")
    records = machine.store.paths.ours / "clients.json"
    records.parent.mkdir(parents=True, exist_ok=True)
    records.write_text("{not json")
    damaged = f"damaged client record file {records}: not JSON ("
    planned = machine.thv("plan")
    assert planned.code == 0 and "Traceback" not in planned.err
    assert damaged in planned.out and "the client entries it records read as none" in planned.out
    applied = machine.thv("apply", "--yes")
    assert applied.code == 1 and "Traceback" not in applied.err
    assert damaged in applied.out + applied.err
    assert records.read_text() == "{not json"
    solo = {"version": 1, "project": "solo", "servers": {"solo": {"image": "example/solo:1"}}}
    machine.write(solo)  # another project, no clients
    assert machine.thv("plan").code == 0


def test_an_entry_already_gone_is_forgotten_by_down(machine: Machine) -> None:
    """Also what a kill between removing an entry and dropping its record leaves behind."""
    machine.install("cursor")
    before = machine.path("cursor").read_bytes()
    served(machine, "cursor")
    assert machine.thv("apply", "--yes").code == 0
    doc = json.loads(machine.path("cursor").read_text())
    del doc["mcpServers"]["docs"]
    machine.path("cursor").write_text(json.dumps(doc))
    down = machine.thv("down", "--yes")
    assert "# client cursor: server docs will be forgotten (the file is left as it is): already " \
        "gone from the file; forgotten" in down.out  # fmt: skip
    assert "client cursor: docs: forgotten" in down.out
    assert json.loads(machine.path("cursor").read_bytes()) == json.loads(before)
    assert json.loads((machine.store.paths.ours / "clients.json").read_text())["files"] == {}
