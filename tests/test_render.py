"""Human text: Terraform-style plans, apply progress lines and the final summary."""

from __future__ import annotations

import re

import pytest

from toolhive_compose.apply.executor import ApplyResult, Event
from toolhive_compose.cli.text import render_event, render_plan, render_result, summary_line
from toolhive_compose.plan.actions import Action, ActionKind, ClientTarget, FieldChange, Plan

from .test_plan_json import representative_plan

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _block(text: str, header: str) -> list[str]:
    """The lines of one action block: its '#' header line up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if header in line)
    end = lines.index("", start)
    return lines[start:end]


@pytest.fixture(scope="module")
def text() -> str:
    return render_plan(representative_plan(), colour=False)


def test_header_and_footer(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "toolhive-compose will perform these actions (project demo):"
    assert lines[-1] == (
        "Plan: 1 to create, 1 to recreate, 1 to delete, 1 to upgrade, 1 to start, 1 to stop, "
        "1 to move, 1 to reconfigure, 1 group(s) to create, 1 group(s) to delete, "
        "1 client entr(ies) to register, 1 client entr(ies) to update, "
        "1 client entr(ies) to remove."
    )
    assert text.endswith(".\n")


@pytest.mark.parametrize(
    ("header", "symbol_line"),
    [
        ("# group dev will be created", "  + group 'dev'"),
        ("# server fetch will be created", "  + server 'fetch'"),
        ("# server old will be stopped and deleted", "  - server 'old'"),
        ("# group legacy will be deleted", "  - group 'legacy'"),
        ("# server notes must be replaced", "-/+ server 'notes'"),
        ("# server search will be upgraded", "-/+ server 'search'"),
        ("# server paused will be stopped", "  ~ server 'paused'"),
        ("# server worker will be started", "  ~ server 'worker'"),
        ("# server tools will move to another group (no restart)", "  ~ server 'tools'"),
        ("# server tools will be reconfigured (no restart)", "  ~ server 'tools'"),
        (
            "# client cursor: server fetch will be registered",
            "  + client cursor 'fetch' in /home/dev/.cursor/mcp.json",
        ),
        (
            "# client cursor: server tools will be updated",
            "  ~ client cursor 'tools' in /home/dev/.cursor/mcp.json",
        ),
        (
            "# client cursor: server old will be removed",
            "  - client cursor 'old' in /home/dev/.cursor/mcp.json",
        ),
    ],
)
def test_terraform_symbols(text: str, header: str, symbol_line: str) -> None:
    block = _block(text, header)
    assert block[1] == symbol_line


def test_reasons_and_dependencies_in_headers(text: str) -> None:
    assert "  # server notes must be replaced: env, secrets changed" in text
    assert "  # server fetch will be created: not present (after #0, #2)" in text
    assert "  # group legacy will be deleted: not in the workloads file (after #2)" in text


def test_change_lines(text: str) -> None:
    notes = _block(text, "# server notes")
    assert notes[2:] == [
        '      ~ env.LOG_LEVEL   = "debug" -> "info"',
        "      ~ secrets.API_KEY = (sensitive) -> (sensitive)",
    ]
    fetch = _block(text, "# server fetch")
    assert '      + image                     = "ghcr.io/example/fetch:1.2.0"' in fetch
    assert "      + port                      = 18080" in fetch
    assert "      + secrets.TOKEN             = (sensitive)" in fetch
    search = _block(text, "# server search")
    assert (
        search[2] == '      ~ image = "ghcr.io/example/search:1.0" -> "ghcr.io/example/search:1.1"'
    )
    assert re.fullmatch(r"      ~ digest +=.*-> \(known after pull\)", search[3])
    tools = _block(text, "# server tools will move")
    assert tools[2:] == ['      ~ group = "default" -> "dev"']
    assert _block(text, "# server tools will be reconfigured")[2:] == [
        '      ~ tools                    = [] -> ["list", "read"]',
        '      + tools_override.read_file = {"name": "read"}',
    ]


def test_removed_value_line() -> None:
    action = Action(
        id=0,
        kind=ActionKind.RECREATE,
        name="a",
        reason="env changed",
        changes=(FieldChange("env.OLD", "o", None), FieldChange("env.NEW", None, "n")),
    )
    text = render_plan(Plan(project="p", actions=(action,)))
    assert '      - env.OLD = "o"' in text
    assert '      + env.NEW = "n"' in text
    assert text.splitlines()[-1] == "Plan: 0 to create, 1 to recreate, 0 to delete."


def test_secret_digests_never_rendered(text: str) -> None:
    assert "hmac-sha256" not in text
    assert "(sensitive)" in text
    assert "env:GH_TOKEN" in text  # where it comes from is fine to show


def test_warnings_before_the_footer(text: str) -> None:
    lines = text.splitlines()
    warning = lines.index("Warning: group shared is no longer declared but is kept: used by theirs")
    assert lines[warning + 1] == ""
    assert lines[warning + 2].startswith("Plan: ")


def test_no_ansi_without_colour(text: str) -> None:
    assert "\x1b" not in text


def test_colour_adds_only_ansi_codes(text: str) -> None:
    coloured = render_plan(representative_plan(), colour=True)
    assert "\x1b[32m" in coloured and "\x1b[31m" in coloured and "\x1b[35m" in coloured
    assert "\x1b[33m" in coloured
    assert ANSI.sub("", coloured) == text


def test_no_changes() -> None:
    text = render_plan(Plan(project="quiet"))
    assert text == "No changes. The machine matches the workloads file (project quiet).\n"
    assert "Plan:" not in text


def test_no_changes_with_warning() -> None:
    text = render_plan(Plan(project="quiet", warnings=("group g is kept",)))
    assert text.startswith("No changes.")
    assert "Warning: group g is kept" in text


def test_summary_line_minimal() -> None:
    assert summary_line(Plan(project="p")) == "Plan: 0 to create, 0 to recreate, 0 to delete."


def test_create_without_port_known_after_apply() -> None:
    action = Action(
        id=0,
        kind=ActionKind.CREATE,
        name="a",
        reason="not present",
        changes=(FieldChange("image", None, "img:1"),),
        after={"image": "img:1", "port": None},
    )
    text = render_plan(Plan(project="p", actions=(action,)))
    assert "      + port  = (known after apply)" in text


# -- apply progress --------------------------------------------------------------------------
def _action(kind: ActionKind = ActionKind.CREATE, name: str = "fetch") -> Action:
    return Action(id=0, kind=kind, name=name, reason="r")


def test_events() -> None:
    assert render_event(Event(_action(), "started")) == "fetch: create..."
    assert render_event(Event(_action(), "done", seconds=1.234)) == "fetch: created (1.2s)"
    group = _action(ActionKind.GROUP_DELETE, "dev")
    assert render_event(Event(group, "done", seconds=0)) == "group dev: deleted (0.0s)"
    skipped = render_event(Event(_action(ActionKind.RECREATE), "skipped"))
    assert skipped == "fetch: recreate skipped (an action it depends on failed)"
    failed = render_event(Event(_action(ActionKind.START), "failed", "boom"))
    assert failed == "fetch: start failed: boom"
    coloured = render_event(Event(_action(), "failed", "boom"), colour=True)
    assert "\x1b[31m" in coloured and ANSI.sub("", coloured) == "fetch: create failed: boom"


def test_result_lines() -> None:
    ok = ApplyResult((Event(_action(), "done"), Event(_action(name="b"), "done")))
    assert render_result(ok) == "Apply complete: 2 action(s) done."
    bad = ApplyResult(
        (
            Event(_action(), "failed", "x"),
            Event(_action(name="b"), "skipped"),
            Event(_action(name="c"), "done"),
        )
    )
    line = render_result(bad)
    assert line.startswith("Apply failed: 1 action(s) failed, 1 skipped, 1 done.")
    assert "thv apply converges" in line


def test_client_events_say_what_was_done_to_the_file() -> None:
    """An update that rewrites the entry is "updated"; only actions that leave the file as it
    is are "taken on record" or "forgotten"."""
    target = ClientTarget("cursor", "/home/dev/.cursor/mcp.json", "mcpServers.fetch", "dev")
    old = {"url": "http://127.0.0.1:1/mcp", "type": "http"}
    new = {"url": "http://127.0.0.1:2/mcp", "type": "http"}

    def done(kind: ActionKind, before: dict[str, str] | None, after: dict[str, str] | None) -> str:
        action = Action(
            id=0, kind=kind, name="fetch", reason="r", client=target, before=before, after=after
        )
        return render_event(Event(action, "done", seconds=0))

    assert done(ActionKind.CLIENT_UPDATE, old, new) == "client cursor: fetch: updated (0.0s)"
    assert done(ActionKind.CLIENT_REGISTER, None, new) == "client cursor: fetch: registered (0.0s)"
    assert done(ActionKind.CLIENT_REGISTER, new, new) == (
        "client cursor: fetch: taken on record (0.0s)"
    )
    assert done(ActionKind.CLIENT_UNREGISTER, old, None) == "client cursor: fetch: removed (0.0s)"
    assert done(ActionKind.CLIENT_UNREGISTER, old, old) == "client cursor: fetch: forgotten (0.0s)"


def test_interrupted_result_names_what_was_not_done() -> None:
    result = ApplyResult(
        (
            Event(_action(), "done"),
            Event(_action(ActionKind.RECREATE, name="b"), "interrupted"),
            Event(_action(name="c"), "not started"),
        )
    )
    assert result.interrupted and not result.ok
    text = render_result(result).splitlines()
    assert text[0] == (
        "Apply interrupted: 1 action(s) done, 1 interrupted, 1 not started, 0 failed, 0 skipped."
    )
    assert text[1:4] == ["Not done:", "  recreate b: interrupted", "  create c: not started"]
    assert "thv apply converges" in text[-1]
    cut = render_event(Event(_action(name="c"), "not started"))
    assert cut == "c: create not started (interrupted)"


def test_pull_lines() -> None:
    from toolhive_compose.cli.text import render_pull
    from toolhive_compose.runtime import PullProgress

    going = PullProgress(
        "img:1", done=3 * 1024 * 1024, total=12 * 1024 * 1024, status="Downloading"
    )
    assert render_pull(going, tty=True) == "pulling img:1: 3.0/12.0 MB"
    assert render_pull(going, tty=False) == "pulling img:1: downloading"
