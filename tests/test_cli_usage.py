"""Mistyped commands are one ``error:`` line and a hint, exit 1 — never a traceback
(whichever click typer raises from: its own copy since typer 0.28)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["plan", "--bogus"], "No such option: --bogus"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["status"], "Missing argument 'name'"),
        (["apply", "--parallelism", "x"], "Invalid value for '--parallelism'"),
    ],
    ids=["option", "command", "argument", "value"],
)
def test_usage_errors_are_one_sentence(args: list[str], says: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and says in lines[0]
    assert lines[1:] == ["hint: run 'thv --help' for usage"]


@pytest.mark.parametrize(
    ("args", "ours"),
    [(["apply", "-auto-approve"], "--yes (-y)"), (["plan", "-var-file=x"], "--env-file")],
)
def test_terraforms_options_point_to_ours(args: list[str], ours: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.startswith("error: No such option")
    theirs = args[1].split("=")[0]
    assert result.stderr.splitlines()[1] == f"hint: thv takes {ours} where Terraform takes {theirs}"


def test_a_run_registers_only_the_commands_it_needs() -> None:
    """typer builds every registered command on each run: ``thv schema`` imports none of the
    other command modules; help (and an unknown command) lists them all."""
    code = (
        "import sys\n"
        "from toolhive_compose.cli import COMMAND_MODULES, main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted({m for m in COMMAND_MODULES.values()"
        " if 'toolhive_compose.cli.' + m in sys.modules})\n"
        "print('LOADED', ','.join(loaded), file=sys.stderr)\n"
    )

    def loaded(*args: str) -> tuple[str, str]:
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
        )
        line = [x for x in out.stderr.splitlines() if x.startswith("LOADED")][-1]
        return line.removeprefix("LOADED").strip(), out.stdout

    assert loaded("schema")[0] == ""
    assert loaded("status", "--help")[0] == "workloads"
    assert loaded("group", "--help")[0] == "groups"
    assert loaded("state", "--help")[0] == "review"
    every, help_text = loaded("--help")
    assert every == "clients,groups,importing,review,run,service,surface,targets,upgrade,workloads"
    assert loaded("render", "--help")[0] == "targets"
    assert loaded("client", "list", "--help")[0] == "clients"
    assert loaded("service", "--help")[0] == "service"
    commands = ("plan", "apply", "down", "list", "run", "group", "upgrade", "import", "rm", "show")
    for command in (*commands, "render", "export", "client", "state", "service"):
        assert f"  {command} " in help_text


@pytest.mark.parametrize("args", [[], ["client"], ["group"], ["state"]], ids=str)
def test_a_command_group_without_its_command_prints_its_help(args: list[str]) -> None:
    """As ``docker``, ``kubectl`` and ToolHive's ``thv``: the help on stdout, exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"Usage: thv {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "Commands" in result.stdout


@pytest.mark.parametrize("args", [["schema"], ["client", "list"]], ids=" ".join)
def test_a_reader_that_goes_away_is_no_error_message(args: list[str]) -> None:
    """``thv schema | head -1``: the reader closed the pipe before the output was written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolhive_compose", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 1
    assert err == ""
