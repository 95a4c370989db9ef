"""``thv service``: a systemd unit that brings the workloads back at boot, and what it runs.

systemd does not run on the test machine, so: without it ``install`` is one sentence and
writes nothing; with a stand-in (a unit directory of the test's own and a recording
``systemctl``) the unit is written, enabled, listed and removed, and ``systemd-analyze
verify`` — the real one — passes on it, for a system unit and a user unit.  ``thv service
run`` is checked against the in-memory engine: it starts what was running and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import (
    FakeRuntime,
    install,
    this_process_is_a_proxy,
    toolhive_labels,
)
from toolhive_compose.errors import EngineUnavailable
from toolhive_compose.service import systemd as systemd_module
from toolhive_compose.service.systemd import Systemd
from toolhive_compose.service.units import Unit, quote, render
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

WORKLOADS = """\
version: 1
project: boot
servers:
  web:
    image: img:1
"""


class FakeSystemctl:
    """Records every ``systemctl`` call; ``fail`` makes the named verb fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = ""

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        verb = next(a for a in args[1:] if a != "--user")
        if verb == self.fail:
            return subprocess.CompletedProcess(args, 1, "", f"Failed to {verb} unit: Access denied")
        answer = {"is-enabled": "enabled\n", "is-active": "active\n"}.get(verb, "")
        return subprocess.CompletedProcess(args, 0, answer, "")

    def verbs(self) -> list[str]:
        return [" ".join(a for a in c[1:] if a != "--user") for c in self.calls]


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
    """systemd as root would find it: units in a directory of the test's own."""
    fake = FakeSystemctl()
    units = tmp_path / "etc-systemd-system"
    monkeypatch.setattr(
        Systemd, "for_this_machine", classmethod(lambda cls, *a, **k: cls(True, units, fake))
    )
    return fake


@pytest.fixture
def workloads_file(tmp_path: Path) -> Path:
    path = tmp_path / "proj dir" / "workloads.yaml"  # a space: the unit must quote it
    path.parent.mkdir()
    path.write_text(WORKLOADS)
    return path


def verify(unit_file: Path, *, user: bool, tmp_path: Path) -> None:
    """The real ``systemd-analyze verify``: no complaint at all, not only exit code 0."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (scripts/test.sh installs it)")
    env = dict(os.environ)
    args = [tool, "verify", str(unit_file)]
    if user:  # the user manager needs a runtime directory
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        args.insert(1, "--user")
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), unit_file.read_text()


# -- without systemd -----------------------------------------------------------------------
def test_without_systemd_install_is_one_sentence_and_writes_nothing(
    capsys, workloads_file: Path, isolated_home: Path
) -> None:
    before = sorted(Path("/etc/systemd/system").glob("toolhive-compose*"))
    result = thv(capsys, "service", "install", "-f", str(workloads_file))
    assert result.code == 1
    assert result.err.startswith("error: systemd is not running on this machine")
    assert "(nothing was written)" in result.err and "hint: " in result.err
    assert len(result.err.strip().splitlines()) == 2 and "Traceback" not in result.err
    assert sorted(Path("/etc/systemd/system").glob("toolhive-compose*")) == before
    assert not list(isolated_home.rglob("*.service"))


def test_systemd_that_is_not_running_is_no_systemd(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="systemd is not running"):
        Systemd.for_this_machine(root=tmp_path)
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    found = Systemd.for_this_machine(environ={"PATH": os.environ["PATH"]}, root=tmp_path)
    assert found.system == (os.geteuid() == 0)


# -- with systemd ---------------------------------------------------------------------------
def test_install_status_uninstall_for_a_workloads_file(
    capsys, systemctl: FakeSystemctl, workloads_file: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    monkeypatch.setenv("SOME_TOKEN", "s3cret-value")  # never carried into the unit
    result = thv(capsys, "service", "install", "-f", str(workloads_file))
    assert result.code == 0, result.err
    unit_file = tmp_path / "etc-systemd-system" / "toolhive-compose-boot.service"
    assert f"Installed and enabled toolhive-compose-boot.service ({unit_file})" in result.out
    text = unit_file.read_text()
    assert f'-f "{workloads_file}"' in text and "service run" in text
    assert f"WorkingDirectory={workloads_file.parent}\n" in text
    assert "Environment=DOCKER_HOST=unix:///run/user/1000/docker.sock" in text
    assert f"Environment=XDG_STATE_HOME={os.environ['XDG_STATE_HOME']}" in text
    assert "s3cret" not in text and "SOME_TOKEN" not in text
    assert "After=network-online.target docker.service" in text
    assert systemctl.verbs() == ["daemon-reload", "enable toolhive-compose-boot.service"]
    verify(unit_file, user=False, tmp_path=tmp_path)

    listed = thv(capsys, "service", "status")
    assert listed.code == 0
    row = [line for line in listed.out.splitlines() if line.startswith("toolhive-compose-boot")]
    assert row and "enabled" in row[0] and "active" in row[0] and "service run -f" in row[0]

    removed = thv(capsys, "service", "uninstall", "-f", str(workloads_file))
    assert removed.code == 0, removed.err
    assert not unit_file.exists()
    assert systemctl.verbs()[-2:] == ["disable toolhive-compose-boot.service", "daemon-reload"]
    again = thv(capsys, "service", "uninstall", "--project", "boot")
    assert again.code == 1 and "no unit toolhive-compose-boot.service is installed" in again.err


def test_a_user_unit_for_every_workload_verifies_too(tmp_path: Path) -> None:
    unit = Unit(
        name="toolhive-compose.service",
        description="toolhive-compose: bring the workloads that were running back at boot",
        command=(sys.executable, "/opt/my tools/thv", "service", "run"),
        environment=(("XDG_DATA_HOME", "/home/u/.local/share"), ("X", "100% $HOME")),
    )
    path = tmp_path / unit.name
    path.write_text(render(unit))
    assert "WantedBy=default.target" in path.read_text() and "docker.service" not in (
        path.read_text()
    )
    assert 'Environment="X=100%% $$HOME"' in path.read_text()
    verify(path, user=True, tmp_path=tmp_path)


def test_a_failed_enable_leaves_no_unit_behind(
    capsys, systemctl: FakeSystemctl, tmp_path: Path
) -> None:
    systemctl.fail = "enable"
    result = thv(capsys, "service", "install", "--project", "boot")
    assert result.code == 1
    assert "error: systemctl enable toolhive-compose-boot.service failed: Failed to enable" in (
        result.err
    )
    assert not list((tmp_path / "etc-systemd-system").glob("*.service"))


def test_a_bad_project_name_is_refused(capsys, systemctl: FakeSystemctl) -> None:
    result = thv(capsys, "service", "install", "--project", "Bad Name")
    assert result.code == 1 and "invalid project name 'Bad Name'" in result.err


def test_quoting_follows_systemd() -> None:
    assert quote("/usr/bin/python3") == "/usr/bin/python3"
    assert quote("/a b/c") == '"/a b/c"'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("50%") == "50%%"


# -- what the unit runs ---------------------------------------------------------------------
@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeRuntime, list[str]]:
    """After a reboot: containers back, proxies gone.  Starts are recorded."""
    engine = install(monkeypatch, FakeRuntime())
    started: list[str] = []
    pid = this_process_is_a_proxy(monkeypatch)

    def finish(self: Lifecycle, name: str) -> None:
        started.append(name)
        self.store.statuses.set_running(name, pid)

    monkeypatch.setattr(Lifecycle, "_finish_start", finish)
    store = Store.from_env()
    for name, status, project in (
        ("api", "running", "boot"),
        ("cache", "unhealthy", "boot"),
        ("held", "stopped", "boot"),  # thv stop: stays stopped
        ("broken", "error", "boot"),  # a crash loop: waits for a person
        ("other", "running", "else"),
    ):
        labels: dict[str, Any] = toolhive_labels(name, port=20000 + len(started))
        labels["toolhive-compose.project"] = project
        engine.add(name, state="exited" if status == "stopped" else "running", **labels)
        store.statuses.set_status(name, status)
        store.runconfigs.write(name, {"name": name, "container_labels": labels})
    return engine, started


def test_service_run_starts_what_was_running_and_nothing_else(capsys, machine) -> None:
    _, started = machine
    result = thv(capsys, "service", "run", "--project", "boot")
    assert result.code == 0, result.err
    assert sorted(started) == ["api", "cache"]
    started.clear()
    assert thv(capsys, "service", "run").code == 0
    assert started == ["other"], "api and cache serve already"


def test_service_run_waits_for_the_engine(capsys, machine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, started = machine
    real = engine.list_containers
    refusals = iter([EngineUnavailable("cannot reach the container engine (no such socket)")] * 2)

    def list_containers(**kwargs: Any) -> Any:
        for exc in refusals:
            raise exc
        return real(**kwargs)

    monkeypatch.setattr(engine, "list_containers", list_containers)
    monkeypatch.setattr("toolhive_compose.cli.service.ENGINE_POLL", 0.01)
    result = thv(capsys, "service", "run", "--project", "boot")
    assert result.code == 0, result.err
    assert "Waiting up to 120s for the container engine" in result.err
    assert sorted(started) == ["api", "cache"]


def test_service_run_gives_up_on_an_engine_that_does_not_answer(
    capsys, machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, started = machine

    def refuse(**kwargs: Any) -> Any:
        raise EngineUnavailable("cannot reach the container engine (connection refused)")

    monkeypatch.setattr(engine, "list_containers", refuse)
    result = thv(capsys, "service", "run", "--wait", "0")
    assert result.code == 1 and not started
    assert "error: the container engine did not answer within 0s" in result.err


def test_the_module_names_systemd_without_importing_it_at_thv_start() -> None:
    assert systemd_module.NO_SYSTEMD_HINT.startswith("start the workloads at boot")


def test_service_run_with_a_file_applies_it(capsys, machine, tmp_path: Path) -> None:
    engine, started = machine
    workloads_file = tmp_path / "fresh.yaml"
    workloads_file.write_text(WORKLOADS.replace("project: boot", "project: fresh"))
    result = thv(capsys, "service", "run", "-f", str(workloads_file))
    assert result.code == 0, result.err
    assert "web: created" in result.out and "Apply complete: 1 action(s) done." in result.out
    assert ("create", "web") in engine.calls and started == ["web"]
    again = thv(capsys, "service", "run", "-f", str(workloads_file))
    assert again.code == 0 and "No changes." in again.out
