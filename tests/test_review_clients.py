"""The review loop with MCP clients, engine-free: client actions travel in a saved plan and are
carried out from it; an exported observed state carries every client file, but of each only the
entries a plan compares (the user's own entries stay on the machine); a hand edit of a client
file between plan and apply makes the plan stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.clients import Machine
from tests.support.fake_engine import install
from tests.test_clients_apply import workloads
from tests.test_observed_plan import NoEngine
from tests.test_saved_plan import ok, refused


@pytest.fixture
def machine(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Machine:
    host = Machine(isolated_home, tmp_path, monkeypatch, capsys)
    host.install("cursor")
    monkeypatch.chdir(tmp_path)
    return host


def test_client_actions_from_a_ci_plan_applied_on_the_machine(
    machine: Machine, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.write(workloads())
    machine.serve()
    ok(machine.thv("state", "export", "-f", str(machine.file), "-o", "observed.json"))
    text = (tmp_path / "observed.json").read_text()
    assert "mcp.linear.app" not in text and "postgresql://" not in text  # the user's own
    cursor = json.loads(text)["observed"]["client_files"]
    assert any(f["client"] == "cursor" and f["exists"] for f in cursor)

    machine.write(workloads("cursor"))  # merged on the machine
    on_machine = ok(machine.thv("plan", "--format", "json")).out
    assert '"kind": "client-register"' in on_machine

    ci = tmp_path / "ci"
    ci.mkdir()
    shutil.copy(machine.file, ci / "workloads.yaml")
    monkeypatch.chdir(ci)
    engine = machine.engine
    install(monkeypatch, NoEngine())  # type: ignore[arg-type]
    snapshot = str(tmp_path / "observed.json")
    assert ok(thv(capsys, "plan", "--observed", snapshot, "--format", "json")).out == on_machine
    ok(thv(capsys, "plan", "--observed", snapshot, "-o", "plan.json"))

    monkeypatch.chdir(tmp_path)
    install(monkeypatch, engine)
    shutil.copy(ci / "plan.json", tmp_path / "plan.json")
    applied = ok(thv(capsys, "apply", "plan.json"))
    assert "Apply complete" in applied.out
    assert set(machine.entries("cursor")) >= {"fetch", "docs", "linear", "postgres"}
    assert ok(machine.thv("plan", "--detailed-exitcode")).out.startswith("No changes.")


def test_a_client_file_edited_between_plan_and_apply(
    machine: Machine, tmp_path: Path, capsys: Any
) -> None:
    machine.write(workloads("cursor"))
    machine.serve()
    ok(machine.thv("plan", "-o", "plan.json"))
    path = machine.path("cursor")
    doc = json.loads(path.read_text())
    doc["mcpServers"]["fetch"] = {"url": "http://127.0.0.1:9/mcp"}  # a hand edit meanwhile
    path.write_text(json.dumps(doc))
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line == f"error: plan is stale: the cursor entry fetch in {path} changed"
    assert json.loads(path.read_text())["mcpServers"]["fetch"] == {"url": "http://127.0.0.1:9/mcp"}
