"""Saved plans, engine-free (an in-memory engine; servers ``state: stopped`` need no proxy):
``plan -o`` writes the plan and what it was made from, ``apply FILE`` carries out exactly it,
refuses it when anything moved (one sentence saying what), and refuses files that are not
its own: truncated, edited, another project's or state directory's, a newer format."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Result, thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose.review import files
from toolhive_compose.runtime import Mount

WORKLOADS = """\
version: 1
project: rev
servers:
  alpha:
    image: img:1
    state: stopped
    env: {LOG: info}
    secrets: {TOKEN: {env: TOK}}
    volumes: ["./data:/data:ro"]
  beta:
    image: img:1
    state: stopped
    permission_profile: ./profile.json
"""
PROFILE = {"network": {"outbound": {"allow_host": ["api.example.com"], "allow_port": [443]}}}
SECRET = "s3cret-value-1"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_project(tmp_path / "machine", WORKLOADS, monkeypatch)


def make_project(root: Path, workloads: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``root`` with the workloads file, its .env holding the secret, a data directory and a
    profile file; the current directory, with no secret in the shell."""
    (root / "data").mkdir(parents=True)
    (root / "workloads.yaml").write_text(workloads)
    (root / ".env").write_text(f"TOK={SECRET}\n")
    (root / "profile.json").write_text(json.dumps(PROFILE))
    monkeypatch.chdir(root)
    monkeypatch.delenv("TOK", raising=False)
    return root


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    return install(monkeypatch, FakeRuntime())


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def refused(result: Result, *needles: str) -> str:
    assert result.code == 1, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.err
    first = errors[0]
    for needle in needles:
        assert needle in result.err, result.err
    assert "Traceback" not in result.err
    return first


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_plan_o_saves_a_private_file_without_secret_values(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    result = ok(thv(capsys, "plan", "-o", "plan.json"))
    assert "Saved the plan to plan.json" in result.err
    assert "thv apply plan.json" in result.err
    saved = project / "plan.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    text = saved.read_text()
    assert SECRET not in text
    doc = json.loads(text)
    assert list(doc)[:2] == ["kind", "format_version"] and list(doc)[-1] == "digest"
    assert doc["kind"] == "toolhive-compose plan" and doc["format_version"] == "1"
    assert doc["project"] == "rev" and doc["tool_version"] and doc["created_at"].endswith("Z")
    assert doc["state_directory"]["id"] and doc["base_dir"] == str(project)
    roles = {i["path"]: i["role"] for i in doc["inputs"]}
    assert roles == {
        "workloads.yaml": "workloads",
        ".env": "env",
        "profile.json": "profile",
        "workloads.lock": "lock",
    }
    token = doc["desired"]["servers"]["alpha"]["secrets"]["TOKEN"]
    assert token["digest"].startswith("hmac-sha256:")
    assert [a["kind"] for a in doc["plan"]["actions"]] == ["create", "create"]
    shown = ok(thv(capsys, "show", "plan.json", "--format", "json"))
    assert json.loads(shown.out) == doc["plan"]
    assert not engine.calls  # planning changed nothing


def test_the_apply_command_it_suggests_can_be_pasted(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    """A file name with a space or a quote is shell-quoted in the suggested command, as
    Terraform quotes its ``terraform apply "tfplan"``."""
    result = ok(thv(capsys, "plan", "-o", "my plan's.json"))
    assert result.err.rstrip().endswith("""thv apply 'my plan'"'"'s.json'""")
    assert (project / "my plan's.json").exists()


def test_apply_of_the_file_does_exactly_that_then_nothing_is_left(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    ok(thv(capsys, "plan", "-o", "plan.json"))
    applied = ok(thv(capsys, "apply", "plan.json"))  # no question: the file is the approval
    assert "Nothing has moved since." in applied.out
    assert "Apply complete: 2 action(s) done." in applied.out
    assert sorted(engine.created) == ["alpha", "beta"]
    assert engine.created["alpha"].env["TOKEN"] == SECRET
    assert SECRET not in applied.out + applied.err
    assert ok(thv(capsys, "plan", "--detailed-exitcode")).out.startswith("No changes.")
    again = thv(capsys, "apply", "plan.json")  # the same file twice: the machine moved
    line = refused(again, "plan is stale: ")
    assert line.startswith("error: plan is stale: workload alpha appeared")


def _applied_then_saved(engine: FakeRuntime, capsys: Any, project: Path) -> None:
    ok(thv(capsys, "apply", "--yes"))
    edit(project / "workloads.yaml", "LOG: info", "LOG: debug")
    ok(thv(capsys, "plan", "-o", "plan.json"))
    engine.calls.clear()


def test_stale_when_the_workloads_file_changed(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    _applied_then_saved(engine, capsys, project)
    edit(project / "workloads.yaml", "LOG: debug", "LOG: trace")
    line = refused(thv(capsys, "apply", "plan.json"), "hint: nothing was done")
    assert line == "error: plan is stale: servers.alpha changed in workloads.yaml (env.LOG)"
    assert not engine.calls


def test_stale_when_a_secret_was_rotated(
    project: Path, engine: FakeRuntime, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _applied_then_saved(engine, capsys, project)
    monkeypatch.setenv("TOK", "rotated-in-the-shell")  # no file changed
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line == "error: plan is stale: secret TOKEN of alpha changed (a new value in env:TOK)"
    assert "rotated-in-the-shell" not in line
    assert not engine.calls


def test_stale_when_the_container_was_recreated(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    _applied_then_saved(engine, capsys, project)
    old = next(c for c in engine.containers.values() if c.name == "beta")
    del engine.containers[old.id]
    engine.add("beta", image=old.image, state=old.state, **old.labels)
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line == "error: plan is stale: the container of beta was recreated"
    assert not engine.calls


def test_stale_when_a_profile_changed_or_a_lock_appeared(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    _applied_then_saved(engine, capsys, project)
    (project / "workloads.lock").write_text("{}\n")
    assert refused(thv(capsys, "apply", "plan.json")) == (
        "error: plan is stale: workloads.lock appeared"
    )
    (project / "workloads.lock").unlink()
    (project / "profile.json").write_text(json.dumps({"network": {}}))
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line.startswith("error: plan is stale: profile.json changed; servers.beta changed (")
    assert not engine.calls


def test_stale_when_the_machine_would_plan_otherwise(
    project: Path, engine: FakeRuntime, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing the checks hold moved (another project is not fingerprinted), yet a plan made
    now differs: here it fails, as another project took the port meanwhile.  Refused too."""
    gamma = "  gamma: {image: img:1, port: 18050}"
    edit(project / "workloads.yaml", "servers:\n", f"servers:\n{gamma}\n")
    edit(
        project / "workloads.yaml",
        "  gamma: {image: img:1, port: 18050}",
        "  gamma: {image: img:1, port: 18050, state: stopped}",
    )
    ok(thv(capsys, "plan", "-o", "plan.json"))
    other = project.parent / "other"
    other.mkdir()
    (other / "workloads.yaml").write_text(
        "version: 1\nproject: other\nservers:\n"
        "  zeta: {image: img:1, port: 18050, state: stopped}\n"
    )
    monkeypatch.chdir(other)
    ok(thv(capsys, "apply", "--yes"))
    monkeypatch.chdir(project)
    engine.calls.clear()
    line = refused(thv(capsys, "apply", "plan.json"))
    assert line == (
        "error: plan is stale: a plan made now fails: "
        "server gamma: port 18050 is already used by workload zeta"
    )
    assert not engine.calls


def test_files_that_are_not_a_usable_plan(project: Path, engine: FakeRuntime, capsys: Any) -> None:
    ok(thv(capsys, "plan", "-o", "plan.json"))
    good = (project / "plan.json").read_text()
    bad = project / "bad.json"

    bad.write_text(good[: len(good) // 2])
    assert "bad.json is not a complete saved plan (it is truncated" in refused(
        thv(capsys, "apply", "bad.json")
    )
    bad.write_text(good.replace('"reason": "not present"', '"reason": "trust me"', 1))
    assert "bad.json was changed after it was written" in refused(thv(capsys, "apply", "bad.json"))
    doc = json.loads(good)
    doc["format_version"] = "2"
    bad.write_bytes(files.render(doc.pop("kind"), doc.pop("format_version"), _body(doc)))
    assert "bad.json has format version 2, newer than this thv reads (1)" in refused(
        thv(capsys, "show", "bad.json")
    )
    bad.write_text("[1, 2]")
    assert "bad.json is not a saved plan" in refused(thv(capsys, "apply", "bad.json"))
    assert "nope.json: file not found" in refused(thv(capsys, "apply", "nope.json"))
    ok(thv(capsys, "state", "export", "-o", "observed.json"))
    assert "observed.json is not a saved plan (it is an observed-state file)" in refused(
        thv(capsys, "apply", "observed.json")
    )
    assert "plan.json is not an observed-state file (it is a saved plan)" in refused(
        thv(capsys, "plan", "--observed", "plan.json")
    )
    assert not engine.calls


def test_a_workloads_file_given_as_the_plan_is_named_so(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    """``thv apply workloads.yaml`` (``-f`` forgotten) says what the file is and how to pass
    it, rather than calling it a truncated plan."""
    for command in (("apply", "workloads.yaml"), ("show", "workloads.yaml")):
        line = refused(thv(capsys, *command), "hint: a workloads file is given with -f")
        assert line == "error: workloads.yaml is a workloads file, not a saved plan"
    line = refused(thv(capsys, "plan", "--observed", "workloads.yaml"), "thv plan -f")
    assert line == "error: workloads.yaml is a workloads file, not an observed-state file"
    assert not engine.calls


def test_output_to_a_directory_is_refused_in_one_sentence(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    (project / "out").mkdir()
    for where in (".", "out"):
        for command in (("plan", "-o", where), ("state", "export", "-o", where)):
            line = refused(thv(capsys, *command))
            assert line == f"error: cannot write {where}: it is a directory", line
    assert list((project / "out").iterdir()) == []


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("digest", None)
    return doc


def test_another_project_or_state_directory_is_refused(
    project: Path, engine: FakeRuntime, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(thv(capsys, "plan", "-o", "plan.json"))
    assert "plan.json is a plan for project rev, not other" in refused(
        thv(capsys, "apply", "plan.json", "-p", "other")
    )
    (project / "other.yaml").write_text(WORKLOADS)
    assert "plan.json was made from" in refused(
        thv(capsys, "apply", "plan.json", "-f", "other.yaml")
    )
    elsewhere = project.parent / "elsewhere-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(elsewhere))
    line = refused(thv(capsys, "apply", "plan.json"), "hint: apply it on the machine")
    assert "plan.json was made for the state directory" in line
    assert not engine.calls


def test_deny_gate_and_unknown_classes(project: Path, engine: FakeRuntime, capsys: Any) -> None:
    gate = thv(capsys, "plan", "--deny", "new-server", "--deny", "disruptive", "-o", "p.json")
    assert refused(gate) == (
        "error: the plan has 2 action(s) of a denied class: create alpha (new-server), "
        "create beta (new-server)"
    )
    assert "+ server 'alpha'" in gate.out  # the plan is still shown, and saved
    assert (project / "p.json").exists()
    ok(thv(capsys, "show", "p.json", "--deny", "privilege-widening"))
    assert refused(thv(capsys, "show", "p.json", "--deny", "new-server"))
    usage = thv(capsys, "plan", "--deny", "risky")
    assert usage.code == 1
    for name in ("disruptive", "privilege-widening", "new-server", "benign"):
        assert name in usage.err
    assert not engine.calls


class _Terminal:
    """Standard input on a terminal, answering the prompts in turn."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answers.pop(0) + "\n"


def test_privilege_widening_asks_again(
    project: Path, engine: FakeRuntime, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(thv(capsys, "apply", "--yes"))
    edit(project / "workloads.yaml", '"./data:/data:ro"', '"./data:/data"')
    engine.calls.clear()
    plan = ok(thv(capsys, "plan"))
    assert "! privilege-widening: " + str(project / "data") + " becomes writable" in plan.out

    off = thv(capsys, "apply", "--yes")  # off a terminal, --yes alone is not enough
    assert refused(off, "--allow privilege-widening").startswith(
        "error: refusing to widen privileges (recreate alpha) without --allow privilege-widening"
    )
    monkeypatch.setattr("sys.stdin", _Terminal("yes", "no"))  # first yes, then refuse
    assert "the privilege-widening actions were not granted" in refused(thv(capsys, "apply"))
    assert not engine.calls
    monkeypatch.setattr("sys.stdin", _Terminal("no"))  # --yes skips only the first question
    assert "the privilege-widening actions were not granted" in refused(
        thv(capsys, "apply", "--yes")
    )
    assert "denied class: recreate alpha (disruptive)" in refused(
        thv(capsys, "apply", "--yes", "--allow", "privilege-widening", "--deny", "disruptive")
    )
    assert not engine.calls
    monkeypatch.setattr("sys.stdin", _Terminal("yes", "yes"))
    ok(thv(capsys, "apply"))
    mount = Mount(str(project / "data"), "/data", read_only=False)
    assert engine.created["alpha"].mounts == (mount,)


def test_saved_plan_widening_needs_allow_off_a_terminal(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    ok(thv(capsys, "apply", "--yes"))
    edit(project / "workloads.yaml", '"./data:/data:ro"', '"./data:/data"')
    ok(thv(capsys, "plan", "-o", "plan.json"))
    engine.calls.clear()
    assert refused(thv(capsys, "apply", "plan.json"), "--allow privilege-widening")
    assert not engine.calls
    ok(thv(capsys, "apply", "plan.json", "--allow", "privilege-widening"))
    assert ("create", "alpha") in engine.calls


def test_never_written_over_an_input(project: Path, engine: FakeRuntime, capsys: Any) -> None:
    before = (project / "workloads.yaml").read_text()
    for command in (("plan", "-o", "workloads.yaml"), ("state", "export", "-o", ".env")):
        assert "refusing to write over" in refused(thv(capsys, *command), "this command reads it")
    assert (project / "workloads.yaml").read_text() == before
    assert (project / ".env").read_text() == f"TOK={SECRET}\n"


def test_apply_file_rejects_flags_the_plan_owns(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    ok(thv(capsys, "plan", "-o", "plan.json"))
    assert refused(thv(capsys, "apply", "plan.json", "--adopt")) == (
        "error: --adopt cannot go with a saved plan: it keeps the --adopt it was made with"
    )
    assert refused(thv(capsys, "apply", "plan.json", "--env-file", ".env"), "drop --env-file")
    assert not engine.calls


def test_options_that_conflict_are_one_sentence(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    """Not typer's "Invalid value for --x: --x ...": the two options, and why."""
    ok(thv(capsys, "state", "export", "-o", "observed.json"))
    assert refused(thv(capsys, "plan", "--observed", "observed.json", "--check-upgrades")) == (
        "error: --check-upgrades cannot go with --observed: it asks this machine's engine"
    )
    assert refused(thv(capsys, "plan", "--observed", "observed.json", "-o", "observed.json")) == (
        "error: refusing to write the plan over observed.json: this command reads it"
    )
    assert refused(thv(capsys, "apply", "observed.json", "--registry", "r.json")) == (
        "error: --registry cannot go with a saved plan: it keeps the --registry it was made with"
    )


def test_output_to_a_device_or_through_a_symlink_keeps_it(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    """``-o /dev/null`` or ``-o /dev/stdout`` (a FIFO here, standing in for them) is written
    in place: an atomic rename would put a regular file where the device was (as root, in
    /dev).  A symlink is written through, as any editor does, and stays a symlink."""
    fifo = project / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ok(thv(capsys, "state", "export", "-o", "fifo"))
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received)["kind"] == "toolhive-compose observed state"

    (project / "shared").mkdir()
    (project / "shared" / "plan.json").write_text("old")
    (project / "plan.json").symlink_to("shared/plan.json")
    ok(thv(capsys, "plan", "-o", "plan.json"))
    assert (project / "plan.json").is_symlink()
    assert json.loads((project / "shared" / "plan.json").read_text())["kind"] == files.PLAN_KIND
    ok(thv(capsys, "show", "plan.json"))


def test_terraforms_out_flag_is_caught(project: Path, engine: FakeRuntime, capsys: Any) -> None:
    """Terraform's ``-out=plan.json`` reads here as ``-o ut=plan.json``: refused with the
    spelling to use, before anything is planned or written."""
    line = refused(thv(capsys, "plan", "-out=plan.json"), "hint: write -o plan.json")
    assert line == "error: -out=plan.json reads as -o ut=plan.json (Terraform's spelling)"
    assert not (project / "ut=plan.json").exists() and not (project / "plan.json").exists()


def test_a_plan_without_changes_saves_and_applies_to_nothing(
    project: Path, engine: FakeRuntime, capsys: Any
) -> None:
    ok(thv(capsys, "apply", "--yes"))
    ok(thv(capsys, "plan", "-o", "plan.json"))
    engine.calls.clear()
    result = ok(thv(capsys, "apply", "plan.json"))
    assert "No changes." in result.out and not engine.calls
    assert os.path.getsize(project / "plan.json") < 64 << 10


def test_down_reads_no_secret_value(project: Path, engine: FakeRuntime, capsys: Any) -> None:
    """``down`` needs only the project's name from the file: a secret whose variable is no
    longer set (a new shell, a rotated .env) does not keep the workloads up."""
    ok(thv(capsys, "apply", "--yes", "--allow", "privilege-widening"))
    (project / ".env").unlink()
    result = ok(thv(capsys, "down", "--yes"))
    assert "Apply complete" in result.out
    assert not [c for c in engine.containers.values() if c.labels.get("toolhive") == "true"]
