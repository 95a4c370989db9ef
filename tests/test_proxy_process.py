"""Proxy process management with real (dummy) processes; no Docker needed.

Dummy "proxies" are small Python processes with chosen command lines and environments,
some listening on a port, to exercise the recogniser, the /proc port-owner lookup and
``stop_proxy``'s PID and port fallbacks — including never killing an unrelated process.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolhive_compose.ports import is_available
from toolhive_compose.proxy.processes.control import proxy_command, spawn_proxy, stop_proxy
from toolhive_compose.proxy.processes.procfs import (
    contains_thv_binary,
    is_proxy_for,
    pid_alive,
    port_owner,
)
from toolhive_compose.state import Store

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")

# Listens on 127.0.0.1:<port> when one is given (0 = no socket), prints "ready", sleeps.
DUMMY = """
import socket, sys, time
port = int(sys.argv[1])
if port:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen()
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    """spawn(args_after_script, *, port=0, thv_name=False, detached_env=False) -> Popen."""
    procs: list[subprocess.Popen[str]] = []

    def start(
        args: list[str], *, port: int = 0, thv_name: bool = False, detached_env: bool = False
    ) -> subprocess.Popen[str]:
        script = tmp_path / ("thv" if thv_name else "dummy.py")
        script.write_text(DUMMY)
        env = {k: v for k, v in os.environ.items() if k != "TOOLHIVE_DETACHED"}
        if detached_env:
            env["TOOLHIVE_DETACHED"] = "1"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_recogniser_matches_by_thv_in_cmdline_or_detached_env(spawn) -> None:
    by_name = spawn(["start", "wl", "--foreground"], thv_name=True)
    by_env = spawn(["start", "wl", "--foreground"], detached_env=True)
    neither = spawn(["start", "wl", "--foreground"])
    assert is_proxy_for(by_name.pid, "wl") and is_proxy_for(by_env.pid, "wl")
    assert not is_proxy_for(neither.pid, "wl")
    for other in ("w", "wl2", "other"):
        assert not is_proxy_for(by_name.pid, other) and not is_proxy_for(by_env.pid, other)
    assert not is_proxy_for(0, "wl") and not is_proxy_for(-1, "wl")


def test_port_owner_finds_the_listening_process(spawn) -> None:
    port = free_port()
    proc = spawn([], port=port)
    assert port_owner(port) == proc.pid
    assert port_owner(free_port()) is None


def test_pid_alive_treats_zombies_as_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert pid_alive(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(proc.pid)  # a zombie until reaped, and already "not alive"
    proc.wait()
    assert not pid_alive(proc.pid) and not pid_alive(0)


def test_stop_proxy_uses_the_status_pid(spawn) -> None:
    store = Store.from_env()
    proc = spawn(["start", "wl", "--foreground"], thv_name=True)
    store.statuses.set_running("wl", proc.pid)
    assert stop_proxy(store, "wl", None) is True
    assert proc.wait(timeout=5) == -signal.SIGTERM
    status = store.statuses.get("wl")
    assert status is not None and status.process_id == 0 and status.status == "running"


def test_stop_proxy_frees_the_port_when_the_pid_record_is_lost(spawn) -> None:
    store = Store.from_env()
    port = free_port()
    proc = spawn(["start", "wl", "--foreground"], port=port, detached_env=True)
    store.statuses.set_running("wl", 0)
    legacy = store.paths.legacy_pids / "toolhive-wl.pid"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("0\n")
    assert stop_proxy(store, "wl", port) is True
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert is_available(port)
    assert not legacy.exists()


def test_stop_proxy_never_kills_an_unrelated_process(spawn) -> None:
    store = Store.from_env()
    port = free_port()
    plain = spawn([], port=port)  # just listens on the workload's port
    look_alike = spawn(["start", "wl", "--foreground"])  # right words, not a thv process
    other_proxy = spawn(["start", "wl2", "--foreground"], thv_name=True)  # another workload's
    store.statuses.set_running("wl", look_alike.pid)  # a stale PID, reused since
    assert stop_proxy(store, "wl", port) is False
    store.statuses.set_running("wl", other_proxy.pid)
    assert stop_proxy(store, "wl", port) is False
    time.sleep(0.2)
    assert all(p.poll() is None for p in (plain, look_alike, other_proxy))
    assert store.statuses.get("wl").process_id == 0  # type: ignore[union-attr]


def test_spawn_proxy_detaches_logs_and_is_recognised(tmp_path: Path) -> None:
    store = Store.from_env()
    cmd = proxy_command("nothing-here")
    assert "thv" in Path(cmd[1]).name or cmd[1:3] == ["-m", "toolhive_compose"]
    proc = spawn_proxy(store.paths, "nothing-here")  # no run config: logs why, exits 1
    deadline = time.monotonic() + 10
    while proc.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.popen is not None and proc.popen.returncode == 1
    assert proc.exit_note() == "the proxy exited with code 1"
    log = store.paths.logs / "nothing-here.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "no run config" in log.read_text()
    assert contains_thv_binary(" ".join(cmd)) or cmd[1] == "-m"
