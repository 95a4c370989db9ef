"""Plans without the machine, engine-free: ``thv state export`` on the machine, ``thv plan
--observed`` in a checkout elsewhere with no engine and no secrets — the same plan as the
machine makes — and the saved plan from there applied on the machine."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose.review import files

from .test_saved_plan import SECRET, WORKLOADS, edit, make_project, ok, refused

REPO = Path(__file__).resolve().parent.parent
OUTSIDE_PROFILE = {"network": {"outbound": {"allow_host": ["db.internal"]}}}


class NoEngine:
    """A runtime that fails the test when anything asks it."""

    endpoint = "none://"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was asked for {name} while planning from a file")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    outside = tmp_path / "etc-profile.json"  # a profile outside the project directory
    outside.write_text(json.dumps(OUTSIDE_PROFILE))
    extra = f"  gamma:\n    image: img:1\n    state: stopped\n    permission_profile: {outside}\n"
    return make_project(tmp_path / "srv" / "mcp", WORKLOADS + extra, monkeypatch)


@pytest.fixture
def checkout(tmp_path: Path, machine: Path) -> Path:
    """The repository as CI checks it out: elsewhere, the outside profile and .env absent."""
    root = tmp_path / "ci" / "work" / "repo"
    root.mkdir(parents=True)
    for name in ("workloads.yaml", "profile.json"):
        shutil.copy(machine / name, root / name)
    return root


def exported(machine: Path, engine: FakeRuntime, capsys: Any) -> Path:
    ok(thv(capsys, "apply", "--yes"))
    ok(thv(capsys, "state", "export", "-o", "observed.json"))
    return machine / "observed.json"


def in_ci(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No engine, and the profile outside the project is not there (only the machine has it)."""
    monkeypatch.chdir(checkout)
    install(monkeypatch, NoEngine())  # type: ignore[arg-type]
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    outside = checkout.parents[2] / "etc-profile.json"
    outside.rename(outside.with_suffix(".absent-in-ci"))


def on_machine(machine: Path, engine: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(machine)
    install(monkeypatch, engine)
    monkeypatch.delenv("DOCKER_HOST")
    outside = machine.parents[1] / "etc-profile.json"
    outside.with_suffix(".absent-in-ci").rename(outside)


def test_the_snapshot_holds_no_secret_and_what_planning_needs(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    engine.add("bystander", image="nginx:1")  # not ToolHive's: a name a server could clash with
    path = exported(machine, engine, capsys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert SECRET not in text
    key = (Path(os.environ["XDG_STATE_HOME"]) / "toolhive-compose" / "secret.key").read_bytes()
    assert key.hex() not in text
    doc = json.loads(text)
    assert doc["kind"] == "toolhive-compose observed state" and doc["project"] == "rev"
    view = doc["machine"]
    assert view["base_dir"] == str(machine) and view["home"] == os.environ["HOME"]
    assert list(view["secret_digests"]) == ["env:TOK"]
    assert view["secret_digests"]["env:TOK"].startswith("hmac-sha256:")
    assert list(view["profiles"]) == [str(machine.parent.parent / "etc-profile.json")]
    assert {w["name"] for w in doc["observed"]["workloads"]} == {"alpha", "beta", "gamma"}
    assert doc["observed"]["foreign_containers"] == {"bystander": engine_id(engine, "bystander")}
    to_stdout = json.loads(ok(thv(capsys, "state", "export")).out)
    assert to_stdout["kind"] == doc["kind"] and to_stdout["observed"] == doc["observed"]


def engine_id(engine: FakeRuntime, name: str) -> str:
    return next(c.id for c in engine.containers.values() if c.name == name)


def test_the_same_plan_as_on_the_machine(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    snapshot = exported(machine, engine, capsys)
    change = [("LOG: info", "LOG: debug"), ('"./data:/data:ro"', '"./data:/data"')]
    new = "  delta: {image: img:2, state: stopped, secrets: {TOKEN: {env: TOK}}}\n"
    for root in (machine, checkout):
        for old, replacement in change:
            edit(root / "workloads.yaml", old, replacement)
        with (root / "workloads.yaml").open("a") as handle:
            handle.write(new)
    on_machine = ok(thv(capsys, "plan", "--format", "json")).out
    in_ci(checkout, monkeypatch)
    from_file = ok(thv(capsys, "plan", "--observed", str(snapshot), "--format", "json")).out
    assert from_file == on_machine
    valid = ok(thv(capsys, "validate", "--observed", str(snapshot)))
    assert valid.out.startswith("The workloads file is valid: 4 server(s), project rev.")
    here = thv(capsys, "validate")  # without it: the host's secrets and profile are not here
    assert here.code == 1 and "environment variable TOK is not set" in here.err
    kinds = [(a["kind"], a["name"], a["risk"]) for a in json.loads(from_file)["actions"]]
    assert kinds == [
        ("recreate", "alpha", ["disruptive", "privilege-widening"]),
        ("create", "delta", ["new-server"]),
    ]


def test_a_plan_made_in_ci_applies_on_the_machine(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    snapshot = exported(machine, engine, capsys)
    # A new server fed by a secret source the machine had not reported: its digest is unknown
    # in CI, and read on the machine at apply time.
    new = "  delta: {image: img:2, state: stopped, secrets: {KEY: {env: NEW_KEY}}}\n"
    for root in (machine, checkout):
        edit(root / "workloads.yaml", "LOG: info", "LOG: debug")
        with (root / "workloads.yaml").open("a") as handle:
            handle.write(new)
    in_ci(checkout, monkeypatch)
    saved = ok(thv(capsys, "plan", "--observed", str(snapshot), "-o", "plan.json"))
    assert "+ server 'delta'" in saved.out
    assert "against the observed state exported 20" in ok(thv(capsys, "show", "plan.json")).out
    markdown = ok(thv(capsys, "show", "plan.json", "--format", "markdown")).out
    assert markdown.startswith("### toolhive-compose plan: project `rev`")

    on_machine(machine, engine, monkeypatch)
    shutil.copy(checkout / "plan.json", machine / "plan.json")
    (machine / ".env").write_text(f"TOK={SECRET}\nNEW_KEY=the-new-key\n")
    engine.calls.clear()
    applied = ok(thv(capsys, "apply", "plan.json"))
    assert "Apply complete: 2 action(s) done." in applied.out
    assert engine.created["delta"].env["KEY"] == "the-new-key"
    assert engine.created["alpha"].env["LOG"] == "debug"
    assert ok(thv(capsys, "plan", "--detailed-exitcode")).out.startswith("No changes.")


def test_a_ci_plan_goes_stale_when_the_machine_moves(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    snapshot = exported(machine, engine, capsys)
    in_ci(checkout, monkeypatch)
    edit(checkout / "workloads.yaml", "LOG: info", "LOG: debug")
    ok(thv(capsys, "plan", "--observed", str(snapshot), "-o", "plan.json"))
    on_machine(machine, engine, monkeypatch)
    shutil.copy(checkout / "plan.json", machine / "plan.json")
    line = refused(thv(capsys, "apply", "plan.json"))  # the machine's file was not updated
    assert line == "error: plan is stale: servers.alpha changed in workloads.yaml (env.LOG)"
    edit(machine / "workloads.yaml", "LOG: info", "LOG: debug")
    ok(thv(capsys, "stop", "beta"))  # and meanwhile someone touched the machine
    engine.calls.clear()
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line == "error: plan is stale: the container of beta is exited (was created)"
    assert not engine.calls


def test_bad_snapshots(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = install(monkeypatch, FakeRuntime())
    good = exported(machine, engine, capsys).read_text()
    in_ci(checkout, monkeypatch)
    bad = checkout / "observed.json"
    bad.write_text(good[:100])
    assert "observed.json is not a complete observed-state file" in refused(
        thv(capsys, "plan", "--observed", "observed.json")
    )
    bad.write_text(good.replace('"project": "rev"', '"project": "evil"', 1))
    assert "observed.json was changed after it was written" in refused(
        thv(capsys, "plan", "--observed", "observed.json")
    )
    doc = json.loads(good)
    doc.pop("digest")
    doc["format_version"] = "7"
    bad.write_bytes(files.render(doc.pop("kind"), doc.pop("format_version"), doc))
    assert "format version 7, newer than this thv reads (1)" in refused(
        thv(capsys, "plan", "--observed", "observed.json")
    )
    bad.write_text(good)
    assert "observed.json is the observed state of project rev, not of project other" in refused(
        thv(capsys, "plan", "--observed", "observed.json", "-p", "other")
    )
    assert "cannot go with --observed" in refused(
        thv(capsys, "plan", "--observed", "observed.json", "--check-upgrades")
    )


def test_plan_observed_needs_no_engine_process(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real process, DOCKER_HOST pointing nowhere, no socket to find."""
    engine = install(monkeypatch, FakeRuntime())
    snapshot = exported(machine, engine, capsys)
    expected = ok(thv(capsys, "plan", "--format", "json")).out
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", "plan", "--observed", str(snapshot),
         "--format", "json", "--detailed-exitcode"],
        cwd=checkout, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_adoption_from_a_snapshot_needs_an_adopt_export(
    machine: Path, checkout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unmanaged workloads are exported in full only on request: their env may hold what was
    typed on ToolHive's command line."""
    from tests.support.fake_engine import toolhive_labels
    from toolhive_compose.state import Store

    from .test_adopt import IMAGE, toolhive_runconfig

    engine = install(monkeypatch, FakeRuntime())
    env = {"MCP_TRANSPORT": "stdio", "LOG": "info", "PASSWORD": "typed-on-a-command-line"}
    store = Store.from_env()
    store.runconfigs.write("tool", toolhive_runconfig("tool", 31001, env_vars=env))
    store.statuses.set_status("tool", "stopped")
    engine.add("tool", image=IMAGE, state="exited", **toolhive_labels("tool", port=31001))
    snapshot = exported(machine, engine, capsys)
    assert "typed-on-a-command-line" not in snapshot.read_text()
    server = (
        f"  tool: {{image: {IMAGE}, args: [serve], port: 31001, state: stopped,"
        " env: {LOG: info, PASSWORD: typed-on-a-command-line}, labels: {tier: core}}\n"
    )
    for root in (machine, checkout):
        with (root / "workloads.yaml").open("a") as handle:
            handle.write(server)
    on_machine_plan = ok(thv(capsys, "plan", "--adopt", "--format", "json")).out
    assert '"kind": "adopt"' in on_machine_plan
    in_ci(checkout, monkeypatch)
    assert "observed.json holds no unmanaged workloads to adopt" in refused(
        thv(capsys, "plan", "--observed", str(snapshot), "--adopt"), "state export --adopt"
    )
    on_machine(machine, engine, monkeypatch)
    ok(thv(capsys, "state", "export", "--adopt", "-o", "observed.json"))
    in_ci(checkout, monkeypatch)
    from_file = thv(capsys, "plan", "--observed", str(snapshot), "--adopt", "--format", "json")
    assert ok(from_file).out == on_machine_plan
