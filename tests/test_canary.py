"""A canary secret value is never found (issue 10, deliverable 10): not in any output (plan
text and JSON, apply, list, status, logs, config, import, errors, a bug's one line and debug
log) nor in any file under the state directories.  It reaches the container only.

The engine is the in-memory fake (its containers are in this process's memory only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose.paths import Paths

CANARY = "canary-9c1e55d0-never-print-me"
FILE_CANARY = "file-canary-4b7a2e"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeRuntime, Path]:
    engine = install(monkeypatch, FakeRuntime())
    monkeypatch.setenv("TOK", CANARY)
    (tmp_path / "key").write_text(FILE_CANARY + "\n")
    servers = {
        "fetch": {
            "image": "img:1", "state": "stopped",
            "secrets": {"TOKEN": {"env": "TOK"}, "KEY": {"file": "./key"}},
        },
        "other": {"image": "img:1", "state": "stopped"},
    }  # fmt: skip
    path = tmp_path / "workloads.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "project": "team", "servers": servers}))
    monkeypatch.chdir(tmp_path)
    return engine, path


def _clean(text: str) -> None:
    assert CANARY not in text and FILE_CANARY not in text


def test_the_canary_is_never_printed_nor_stored(
    world: tuple[FakeRuntime, Path], capsys: Any
) -> None:
    engine, path = world
    outputs = []
    for args in (
        ["validate"], ["config"], ["config", "--format", "json"], ["plan"],
        ["plan", "--format", "json"], ["apply", "--yes"], ["list", "-a"],
        ["list", "-a", "--format", "json"], ["list", "-a", "--format", "mcpservers"],
        ["status", "fetch"], ["status", "fetch", "--format", "json"], ["logs", "fetch"],
        ["import", "--project", "x"],
    ):  # fmt: skip
        result = thv(capsys, *args)
        outputs.append(result.out + result.err)
    (path.parent / "key").write_text("rotated\n")  # a change: the plan shows (sensitive)
    os.environ["TOK"] = CANARY + "-2"
    for args in (["plan"], ["plan", "--format", "json"], ["apply", "--yes"]):
        result = thv(capsys, *args)
        assert result.code == 0, result
        outputs.append(result.out + result.err)
    _no_file_holds_it(at_least=6)  # run configs, statuses, the key, the validation cache, …
    down = thv(capsys, "down", "--yes")
    outputs.append(down.out + down.err)
    assert "(sensitive)" in "".join(outputs)
    for text in outputs:
        _clean(text)
    assert engine.created["fetch"].env["TOKEN"] == CANARY + "-2"  # the container has it
    _no_file_holds_it()


def test_errors_and_a_bug_never_show_it(
    world: tuple[FakeRuntime, Path], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = world
    clash = yaml.safe_load(path.read_text())
    clash["servers"]["fetch"]["port"] = clash["servers"]["other"]["port"] = 31001  # (no create)
    path.write_text(yaml.safe_dump(clash))
    error = thv(capsys, "plan")
    assert error.code == 1 and "port 31001" in error.err
    _clean(error.out + error.err)

    import toolhive_compose.plan.planner as planner

    def buggy(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"planner bug near {os.environ['TOK']} and {FILE_CANARY}")

    monkeypatch.setattr(planner, "make_plan", buggy)
    del clash["servers"]["other"]["port"]
    path.write_text(yaml.safe_dump(clash))
    for args in (["plan"], ["--debug", "plan"]):
        bug = thv(capsys, *args)
        assert bug.code == 1 and "RuntimeError: planner bug near (sensitive)" in bug.err
        _clean(bug.out + bug.err)
    (log,) = (Paths.from_env().ours / "debug").glob("thv-*.log")
    assert "Traceback" in log.read_text()
    _no_file_holds_it()


def _no_file_holds_it(at_least: int = 1) -> None:
    paths = Paths.from_env()
    roots = [
        paths.state_home,
        paths.data_home,
        paths.cache_home,
        Path(os.environ["XDG_CONFIG_HOME"]),
    ]
    checked = 0
    for root in roots:
        for file in root.rglob("*"):
            if file.is_file():
                data = file.read_bytes()
                assert CANARY.encode() not in data and FILE_CANARY.encode() not in data, file
                checked += 1
    assert checked >= at_least
