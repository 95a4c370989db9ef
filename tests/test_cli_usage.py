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
