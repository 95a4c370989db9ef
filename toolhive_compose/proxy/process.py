"""Start and stop detached proxy processes the way ToolHive does.

Spawn (``spawnDetached``): ``<python> <thv script> start <name> --foreground`` with
``TOOLHIVE_DETACHED=1``, output appended to ``$XDG_DATA_HOME/toolhive/logs/<name>.log``
(0600), stdin from /dev/null, in a new session.

Stop (``ensureProxyStopped``): SIGTERM to the PID in the status file, wait up to 5 s, clear
the PID, delete the legacy PID files.  Without a PID (or when that failed) and with the
proxy port still busy, the process LISTENing on the port is stopped — only if it is this
workload's proxy.  Unlike ToolHive, the recorded PID is checked with the same recogniser
before it is signalled (a stale PID may belong to an unrelated process by now), and a proxy
that ignores SIGTERM for 5 s gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..paths import Paths
from ..ports import is_available
from ..state.store import Store
from .procfs import is_proxy_for, pid_alive, port_owner

STOP_WAIT = 5.0
POLL = 0.05
SERVE_POLL = 0.02


def thv_script() -> str | None:
    """This installation's ``thv`` console script (never another program named thv)."""
    candidates = [Path(sys.executable).parent / "thv"]
    found = shutil.which("thv")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        with contextlib.suppress(OSError):
            head = path.read_bytes()[:1024]
            if head.startswith(b"#!") and b"toolhive_compose" in head:
                return str(path)
    return None


def proxy_command(name: str) -> list[str]:
    """The proxy's command line: it names ``thv`` and ``start <name>`` as ToolHive's does."""
    script = thv_script()
    if script is None:  # not installed as a package: recognised by TOOLHIVE_DETACHED=1
        return [sys.executable, "-m", "toolhive_compose", "start", name, "--foreground"]
    return [sys.executable, script, "start", name, "--foreground"]


def log_path(paths: Paths, name: str) -> Path:
    return paths.logs / f"{name}.log"


def spawn_proxy(paths: Paths, name: str) -> subprocess.Popen[bytes]:
    """Start the detached proxy for ``name``; it records its own PID once it serves."""
    log = log_path(paths, name)
    log.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            proxy_command(name),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            env={**os.environ, "TOOLHIVE_DETACHED": "1"},
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    # Reap it when it exits, so a long-lived parent keeps no zombie that looks alive.
    threading.Thread(target=proc.wait, name=f"reap-proxy-{name}", daemon=True).start()
    return proc


class ProxyNotServing(Exception):
    """The spawned proxy exited, or did not record itself as serving in time."""

    def __init__(self, message: str, *, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


def wait_serving(store: Store, name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Return once the proxy has bound its port and recorded ``running`` with its PID."""
    deadline = time.monotonic() + timeout
    while True:
        status = store.statuses.get(name)
        if status is not None and status.status == "running" and status.process_id == proc.pid:
            return
        if proc.poll() is not None:
            raise ProxyNotServing(f"the proxy exited with code {proc.returncode}", exited=True)
        if time.monotonic() >= deadline:
            raise ProxyNotServing(f"the proxy did not serve within {timeout:g}s", exited=False)
        time.sleep(SERVE_POLL)


def legacy_pid_files(paths: Paths, name: str) -> list[Path]:
    base = f"toolhive-{name}.pid"
    return [paths.legacy_pids / base, Path(tempfile.gettempdir()) / base]


def _legacy_pid(paths: Paths, name: str) -> int:
    for path in legacy_pid_files(paths, name):
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
    return 0


def stop_proxy(store: Store, name: str, port: int | None) -> bool:
    """Stop the workload's proxy; True if one was found and stopped."""
    status = store.statuses.get(name)
    pid = (status.process_id if status else 0) or _legacy_pid(store.paths, name)
    stopped = bool(pid) and is_proxy_for(pid, name) and terminate(pid)
    if pid:
        store.statuses.reset_pid_if_match(name, pid)
    for path in legacy_pid_files(store.paths, name):
        with contextlib.suppress(OSError):
            path.unlink()
    if not stopped and port and not is_available(port):
        stopped = free_port(name, port)
    return stopped


def free_port(name: str, port: int) -> bool:
    """Stop the process listening on ``port`` if it is ``name``'s proxy, and nothing else."""
    owner = port_owner(port)
    if owner is None or owner == os.getpid() or not is_proxy_for(owner, name):
        return False
    return terminate(owner)


def terminate(pid: int, wait: float = STOP_WAIT) -> bool:
    """SIGTERM, wait for the exit, SIGKILL if it does not come; True once it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_exit(pid, wait):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return wait_exit(pid, 1.0)


def wait_exit(pid: int, timeout: float) -> bool:
    """Poll every 50 ms until ``pid`` is gone; False on timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True
