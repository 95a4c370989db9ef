"""Orphans, each with its rule: found by ``list``, cleaned (or kept) by ``apply``/``down``.

- a proxy process whose workload no longer exists: stopped, if it logs into this state
  directory (another state directory's is left alone);
- a status file whose PID now belongs to another program: the workload reads unhealthy, the
  PID is cleared (and a ToolHive or thv process is never "another program");
- a container with ToolHive labels and no run config: marked and reported, never removed,
  ``thv rm NAME`` removes it.

The engine is the in-memory fake; the processes are real (``python -c`` sleeping under a
proxy's command line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.proxy_helpers import wait_until
from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose.proxy.processes.procfs import pid_alive
from toolhive_compose.state import Store
from toolhive_compose.workloads import orphans

SLEEP = "import time; time.sleep(120)"


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """start(*args, log=None, detached=False): a sleeping process with that command line."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, log: Path | None = None, detached: bool = False) -> subprocess.Popen:
        env = {**os.environ, **({"TOOLHIVE_DETACHED": "1"} if detached else {})}
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-c", SLEEP, *args], env=env, stderr=out)
        started.append(proc)
        # alive from the fork, but with the test's own command line until it has exec'd
        wanted = "\0".join(args).encode()
        wait_until(lambda: wanted in Path(f"/proc/{proc.pid}/cmdline").read_bytes())
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(orphans, "MIN_AGE", 0.0)
    store = Store.from_env()
    store.paths.logs.mkdir(parents=True, exist_ok=True)
    return store


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    return install(monkeypatch, FakeRuntime())


def test_a_proxy_without_a_workload_is_reported_then_stopped(
    store: Store, engine: FakeRuntime, processes, capsys, tmp_path: Path
) -> None:
    ghost = processes("start", "ghost", "--foreground", log=store.paths.logs / "ghost.log",
                      detached=True)  # fmt: skip
    elsewhere = processes("start", "other", "--foreground", log=tmp_path / "other.log",
                          detached=True)  # fmt: skip
    wait_until(lambda: any(o.pid == ghost.pid for o in orphans.orphan_proxies(store)))

    listed = thv(capsys, "list")
    assert listed.code == 0
    assert f"note: proxy process {ghost.pid} serves workload ghost, which no longer exists" in (
        listed.err
    )
    assert "other" not in listed.err, "another state directory's proxy is not ours to judge"

    assert [o.name for o in orphans.sweep(store, [])] == ["ghost"]
    wait_until(lambda: ghost.poll() is not None)
    assert elsewhere.poll() is None


def test_a_proxy_whose_workload_exists_is_no_orphan(store: Store, processes) -> None:
    store.statuses.set_status("alive", "running")
    proc = processes("start", "alive", "--foreground", log=store.paths.logs / "alive.log",
                     detached=True)  # fmt: skip
    wait_until(lambda: pid_alive(proc.pid))
    assert not [o for o in orphans.orphan_proxies(store) if o.name == "alive"]
    assert orphans.sweep(store, []) == [] and proc.poll() is None


def test_a_pid_of_another_program_reads_unhealthy_and_is_cleared(
    store: Store, engine: FakeRuntime, processes, capsys
) -> None:
    engine.add("reused", **toolhive_labels("reused", port=20001))
    other = processes()  # not a thv process: the PID the dead proxy had, reused
    store.statuses.set_running("reused", other.pid)

    listed = thv(capsys, "list", "--all", "--format", "json")
    assert listed.code == 0
    assert f"records PID {other.pid}, which is another program" in listed.err
    assert f"(PID {other.pid} belongs to another program)" in listed.out
    assert '"status": "unhealthy"' in listed.out

    assert [o.kind for o in orphans.sweep(store, [("reused", other.pid)])] == ["pid"]
    status = store.statuses.get("reused")
    assert status is not None and status.process_id == 0 and status.status == "running"
    assert other.poll() is None, "never signalled"


def test_a_thv_process_is_never_another_program(store: Store, processes) -> None:
    # e.g. ToolHive's `thv run --foreground`, whose own PID is the workload's
    proc = processes("thv", "run", "img", "--foreground", detached=True)
    assert orphans.foreign_pids([("fg", proc.pid)]) == []


def test_a_container_without_a_run_config_is_kept_and_thv_rm_removes_it(
    store: Store, engine: FakeRuntime, capsys
) -> None:
    stray = engine.add("stray", **toolhive_labels("stray", port=20002))
    listed = thv(capsys, "list", "--format", "json")
    assert "no run config in this state directory" in listed.out
    assert f"note: container stray ({stray.id[:12]}) has ToolHive labels but no run config" in (
        listed.err
    )
    assert "(thv rm stray removes it)" in listed.err
    assert ("remove", stray.id) not in engine.calls

    removed = thv(capsys, "rm", "stray")
    assert removed.code == 0, removed.err
    assert ("remove", stray.id) in engine.calls
    assert store.statuses.get("stray") is None
