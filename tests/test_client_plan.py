"""MCP clients as the loader and the pure planner see them: the client table (facts from
ToolHive), ``clients:`` in the workloads file, and client actions ordered after their server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import thv
from toolhive_compose.clients.catalog import (
    CLIENT_NAMES,
    CLIENTS,
    config_path,
    entry,
    entry_digest,
    install_marker,
    proxy_url,
)
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import (
    ClientEntryRecord,
    DesiredState,
    GroupSpec,
    ObservedClientFile,
    ObservedGroup,
    ObservedState,
    ObservedWorkload,
    ServerSpec,
)
from toolhive_compose.plan.actions import KNOWN_AFTER_APPLY, ActionKind
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.schema import schema
from toolhive_compose.workloads.queries import workload_url

# ToolHive's `thv client register --help` list (docs/cli/thv_client_register.md)
TOOLHIVE_CLIENTS = [
    "amp-cli", "antigravity", "claude-code", "cline", "codex", "continue", "copilot-cli",
    "cursor", "factory", "gemini-cli", "goose", "kimi-cli", "kiro", "lm-studio", "mistral-vibe",
    "opencode", "qoder", "roo-code", "trae", "vscode", "vscode-insider", "vscode-server",
    "windsurf", "windsurf-jetbrains", "zed",
]  # fmt: skip
CURSOR = "/home/dev/.cursor/mcp.json"


def test_the_supported_clients_are_toolhives() -> None:
    assert list(CLIENT_NAMES) == TOOLHIVE_CLIENTS
    assert schema()["$defs"]["clientName"]["enum"] == TOOLHIVE_CLIENTS


@pytest.mark.parametrize(
    ("client", "linux", "mac", "installed_if"),
    [
        ("cursor", ".cursor/mcp.json", ".cursor/mcp.json", ".cursor"),
        ("claude-code", ".claude.json", ".claude.json", ".claude.json"),
        ("vscode", ".config/Code/User/mcp.json",
         "Library/Application Support/Code/User/mcp.json", "Library/Application Support/Code/User"),
        ("goose", ".config/goose/config.yaml", ".config/goose/config.yaml", ".config/goose"),
        ("zed", ".config/zed/settings.json", ".config/zed/settings.json", ".config/zed"),
        ("opencode", ".config/opencode/opencode.json", ".config/opencode/opencode.json",
         ".config/opencode"),
        ("qoder", ".qoder/mcp.json", ".qoder/mcp.json", ".qoder"),
    ],
)  # fmt: skip
def test_paths_are_home_plus_a_literal_prefix(
    client: str, linux: str, mac: str, installed_if: str
) -> None:
    app = CLIENTS[client]
    assert config_path(app, "/home/u", "linux") == f"/home/u/{linux}"
    assert config_path(app, "/Users/u", "darwin") == f"/Users/u/{mac}"
    assert install_marker(app, "/Users/u", "darwin") == f"/Users/u/{installed_if}"


def test_the_url_is_toolhives() -> None:
    assert proxy_url(8080, "streamable-http", "fetch") == "http://127.0.0.1:8080/mcp"
    assert proxy_url(8080, "sse", "my fetch") == "http://127.0.0.1:8080/sse#my%20fetch"
    remote = "https://mcp.example.com/v1/mcp?key=x"
    assert proxy_url(8080, "streamable-http", "r", remote) == "http://127.0.0.1:8080/v1/mcp"
    assert proxy_url(8080, "sse", "r", "https://x.example/") == "http://127.0.0.1:8080/sse#r"
    assert workload_url(8080, "stdio", "sse", "a.b") == "http://127.0.0.1:8080/sse#a.b"
    assert workload_url(0, "stdio", "sse", "a") == ""


def test_entry_digest_ignores_key_order() -> None:
    one = entry(CLIENTS["goose"], "fetch", "http://x/mcp", "streamable-http")
    assert entry_digest(one) == entry_digest(dict(reversed(list(one.items()))))
    assert entry_digest(one) != entry_digest({**one, "timeout": 61})


# -- the workloads file ----------------------------------------------------------------------
def test_an_unknown_client_is_named_with_its_line(tmp_path: Path, capsys: object) -> None:
    file = tmp_path / "workloads.yaml"
    file.write_text(
        "version: 1\nproject: team\ngroups:\n  dev:\n    clients:\n      - cursor\n"
        "      - vscod\n      - cursor\n"
    )
    result = thv(capsys, "validate", "-f", str(file))
    assert result.code == 1
    assert f"{file}:7:9: groups.dev.clients[1]: unknown MCP client 'vscod' (did you mean " \
        "'vscode'?)" in result.err  # fmt: skip
    assert f"{file}:5:5: groups.dev.clients: lists 'cursor' more than once" in result.err


# -- planning ----------------------------------------------------------------------------------
def _spec(name: str, **kw: object) -> ServerSpec:
    return ServerSpec(name=name, image=f"example/{name}:1", group="dev", **kw)  # type: ignore[arg-type]


def _running(spec: ServerSpec) -> ObservedWorkload:
    canon = canonical(spec)
    return ObservedWorkload(
        name=spec.name, container_id=f"{spec.name}-id", container_state="running",
        image=spec.image, project="team", config_hash=config_hash(canon), spec=canon,
        status="running",
    )  # fmt: skip


def _state(
    servers: list[ServerSpec], observed: list[ServerSpec], entries: dict[str, object],
    records: tuple[ClientEntryRecord, ...] = (),
) -> tuple[DesiredState, ObservedState]:  # fmt: skip
    desired = DesiredState(
        project="team", servers=tuple(servers),
        groups=(GroupSpec(name="dev", clients=("cursor",)),),
    )  # fmt: skip
    state = ObservedState(
        workloads=tuple(_running(s) for s in observed),
        groups=(ObservedGroup(name="dev", project="team", registered_clients=("cursor",)),),
        memberships=tuple((s.name, s.group) for s in observed),
        client_files=(ObservedClientFile(client="cursor", path=CURSOR, installed=True,
                                         exists=True, entries=entries),),
        client_records=records,
    )  # fmt: skip
    return desired, state


def _record(server: str, value: dict[str, str], project: str = "team") -> ClientEntryRecord:
    return ClientEntryRecord(client="cursor", path=CURSOR, server=server, project=project,
                             group="dev", digest=entry_digest(value))  # fmt: skip


def test_a_port_change_updates_the_entry_in_the_same_apply() -> None:
    old = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}
    desired, observed = _state(
        [_spec("fetch", port=18090)],
        [_spec("fetch", port=18080)],
        {"fetch": old},
        (_record("fetch", old),),
    )
    plan = make_plan(desired, observed)
    kinds = [(str(a.kind), a.name) for a in plan.actions]
    assert kinds == [("recreate", "fetch"), ("client-update", "fetch")]
    update = plan.actions[1]
    assert update.depends_on == (0,)
    assert update.reason == "url changed"
    change = update.to_dict()["changes"]
    assert change == [{"path": "mcpServers.fetch.url", "before": old["url"],
                       "after": "http://127.0.0.1:18090/mcp"}]  # fmt: skip
    where = {"name": "cursor", "file": CURSOR, "location": "mcpServers.fetch", "group": "dev"}
    assert update.to_dict()["client"] == where


def test_a_new_server_is_registered_once_it_serves_and_nothing_waits_for_clients() -> None:
    desired, observed = _state([_spec("fetch"), _spec("docs", proxy_mode="sse")], [], {})
    plan = make_plan(desired, observed)
    ids = {(str(a.kind), a.name): a.id for a in plan.actions}
    register = next(a for a in plan.actions if a.kind is ActionKind.CLIENT_REGISTER)
    assert register.depends_on == (ids[("create", register.name)],)
    changes = {c.path: c.after for a in plan.actions for c in a.changes if a.client}
    assert changes == {
        "mcpServers.docs.url": KNOWN_AFTER_APPLY, "mcpServers.docs.type": "sse",
        "mcpServers.fetch.url": KNOWN_AFTER_APPLY, "mcpServers.fetch.type": "http",
    }  # fmt: skip
    client_ids = {a.id for a in plan.actions if a.client}
    assert not any(set(a.depends_on) & client_ids for a in plan.actions)


def test_in_sync_entries_plan_nothing() -> None:
    value = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}
    desired, observed = _state(
        [_spec("fetch", port=18080)],
        [_spec("fetch", port=18080)],
        {"fetch": value},
        (_record("fetch", value),),
    )
    assert make_plan(desired, observed).actions == ()


def test_a_remote_server_keeps_its_path() -> None:
    remote = ServerSpec(
        name="docs",
        url="https://mcp.example.com/api/mcp",
        port=18070,
        transport="streamable-http",
        proxy_mode="streamable-http",
        group="dev",
    )
    desired, observed = _state([remote], [], {})
    plan = make_plan(desired, observed)
    register = next(a for a in plan.actions if a.client)
    assert register.after == {"url": "http://127.0.0.1:18070/api/mcp", "type": "http"}


def test_a_plan_with_clients_is_deterministic() -> None:
    desired, observed = _state([_spec("b", port=1), _spec("a", port=2)], [], {})
    assert make_plan(desired, observed).to_json() == make_plan(desired, observed).to_json()
    doc = json.loads(make_plan(desired, observed).to_json())
    assert [a["name"] for a in doc["actions"] if a["kind"] == "client-register"] == ["a", "b"]


def test_a_damaged_file_is_one_problem_not_one_per_entry_on_record() -> None:
    """A file that cannot be read is named once, as the file the group's client needs; its
    entries on record are not also reported as removals nobody asked for.  When the client
    is no longer listed, removing those entries is what the plan wants, and it says so."""
    from dataclasses import replace

    from toolhive_compose.errors import PlanError

    value = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}
    desired, observed = _state(
        [_spec("fetch", port=18080), _spec("docs", port=18081)],
        [_spec("fetch", port=18080), _spec("docs", port=18081)],
        {},
        (_record("docs", value), _record("fetch", value)),
    )
    broken = f"client cursor: {CURSOR} is not valid JSON: line 2, column 1: unexpected end"
    damaged = replace(observed.client_files[0], problem=broken)
    observed = replace(observed, client_files=(damaged,))
    with pytest.raises(PlanError) as raised:
        make_plan(desired, observed)
    assert raised.value.message == f"{broken}; nothing is written for cursor"

    unlisted = replace(desired, groups=(GroupSpec(name="dev"),))
    with pytest.raises(PlanError) as raised:
        make_plan(unlisted, observed)
    assert raised.value.message.splitlines()[1:] == [
        f"  - {broken}; its entry docs cannot be removed",
        f"  - {broken}; its entry fetch cannot be removed",
    ]


def test_an_entry_of_a_client_this_version_does_not_know_is_left_with_a_warning() -> None:
    """A record written by another toolhive-compose version, for a client this one does not
    know (ToolHive adds and retires clients), cannot be edited here: the plan leaves it, says
    so, and goes on (no traceback, no action)."""
    from dataclasses import replace

    value = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}
    desired, observed = _state([_spec("fetch", port=18080)], [_spec("fetch", port=18080)],
                               {"fetch": value}, (_record("fetch", value),))  # fmt: skip
    future = replace(_record("fetch", value), client="newclient", path="/home/dev/.new/mcp.json")
    observed = replace(observed, client_records=(*observed.client_records, future))
    plan = make_plan(desired, observed)
    assert plan.actions == ()
    assert plan.warnings == (
        "client newclient: the entry fetch in /home/dev/.new/mcp.json was written by a "
        "toolhive-compose that knows this client and this one does not; left as it is",
    )
