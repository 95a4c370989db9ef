"""The proxy's PID is in the status file from the moment it is spawned (ToolHive's
RunWorkloadDetached writes it right after spawning), so a stop during a start finds it.

The proxy here is a stand-in that never serves (a sleeping process with the proxy's command
line and ``TOOLHIVE_DETACHED=1``, as spawned): the start waits for it, and meanwhile the
status already names it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from tests.support.fake_engine import FakeRuntime
from toolhive_compose.errors import EngineError
from toolhive_compose.model import ServerSpec
from toolhive_compose.proxy.processes import control
from toolhive_compose.proxy.processes.procfs import is_proxy_for, pid_alive
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle


@pytest.fixture
def life(monkeypatch: pytest.MonkeyPatch) -> Lifecycle:
    def never_serving(name: str) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)", "start", name, "--foreground"]

    monkeypatch.setattr(control, "proxy_command", never_serving)
    store = Store.from_env()
    runtime = FakeRuntime()
    life = Lifecycle(runtime, store, ready_timeout=0)
    spec = ServerSpec(name="slow", image="thc-test/busybox:1", state="stopped")
    from toolhive_compose.fingerprint import canonical

    life.create(spec, canonical(spec), project="")
    return life


def _starting_with_pid(store: Store, name: str) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = store.statuses.get(name)
        if status is not None and status.process_id:
            assert status.status == "starting"  # not serving yet: only spawned
            return status.process_id
        time.sleep(0.01)
    raise AssertionError("the spawned proxy's PID never reached the status file")


def _start_in_background(life: Lifecycle, failures: list[BaseException]) -> threading.Thread:
    container = next(iter(life.runtime.containers))  # type: ignore[attr-defined]

    def start() -> None:
        try:
            life.start("slow", container)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    return thread


@pytest.mark.parametrize("stopper", ["thv-stop", "toolhive-stop"])
def test_a_stop_during_start_finds_the_proxy(life: Lifecycle, stopper: str) -> None:
    failures: list[BaseException] = []
    thread = _start_in_background(life, failures)
    pid = _starting_with_pid(life.store, "slow")
    assert is_proxy_for(pid, "slow")  # ToolHive's recogniser agrees it is slow's proxy
    if stopper == "thv-stop":
        life.stop("slow", "")
    else:  # ToolHive's stopProcess: GetWorkloadPID, SIGTERM, then ResetWorkloadPID
        os.kill(pid, signal.SIGTERM)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not pid_alive(pid)
    assert len(failures) == 1 and isinstance(failures[0], EngineError)
    assert "did not start" in failures[0].message
    if stopper == "thv-stop":
        status = life.store.statuses.get("slow")
        assert status is not None and (status.status, status.process_id) == ("stopped", 0)
