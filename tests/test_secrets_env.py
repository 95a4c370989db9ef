"""``env:`` secrets come from the same variables as interpolation — the shell over ``.env`` —
as Compose's do; the container gets exactly the value whose digest the plan compared, and
the value shows nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose.spec.loader import load

WORKLOADS = """\
version: 1
project: sec
servers:
  gh:
    image: img:1
    state: stopped
    secrets: {GITHUB_TOKEN: {env: GH_TOKEN}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "workloads.yaml").write_text(WORKLOADS)
    (tmp_path / ".env").write_text("GH_TOKEN=from-dotenv-1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    return tmp_path


def test_loaded_from_dotenv_and_the_shell_wins(project: Path) -> None:
    state = load(environ={})
    assert state.secret_env == {"GH_TOKEN": "from-dotenv-1"}
    assert "from-dotenv-1" not in repr(state)
    shell = load(environ={"GH_TOKEN": "from-shell"})
    assert shell.secret_env == {"GH_TOKEN": "from-shell"}
    assert shell.server("gh").secrets[0].digest != state.server("gh").secrets[0].digest


def test_apply_gives_the_container_the_planned_value(
    project: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    first = thv(capsys, "apply", "--yes")
    assert first.code == 0, first.err
    assert engine.created["gh"].env["GITHUB_TOKEN"] == "from-dotenv-1"
    assert "from-dotenv-1" not in first.out + first.err
    assert thv(capsys, "plan", "--detailed-exitcode").code == 0

    (project / ".env").write_text("GH_TOKEN=from-dotenv-2\n")  # rotated in .env
    plan = thv(capsys, "plan", "--detailed-exitcode")
    assert plan.code == 2 and "(sensitive)" in plan.out and "from-dotenv" not in plan.out
    assert thv(capsys, "apply", "--yes").code == 0
    assert engine.created["gh"].env["GITHUB_TOKEN"] == "from-dotenv-2"

    monkeypatch.setenv("GH_TOKEN", "from-shell")  # the shell wins over .env
    assert thv(capsys, "apply", "--yes").code == 0
    assert engine.created["gh"].env["GITHUB_TOKEN"] == "from-shell"


def test_unset_everywhere_is_one_error(project: Path, capsys: Any) -> None:
    (project / ".env").write_text("OTHER=1\n")
    result = thv(capsys, "plan")
    assert result.code == 1
    assert "secret 'GITHUB_TOKEN': environment variable GH_TOKEN is not set" in result.err
