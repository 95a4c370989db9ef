"""Start and stop detached proxy processes the way ToolHive does.

Spawn (``spawnDetached``): ``<python> <thv script> start <name> --foreground`` with
``TOOLHIVE_DETACHED=1``, output appended to ``$XDG_DATA_HOME/toolhive/logs/<name>.log``
(0600), stdin from /dev/null, in a new session.

Stop (``ensureProxyStopped``): SIGTERM to the PID in the status file, wait up to 5 s, clear
the PID, delete the legacy PID files (:func:`begin_stop_proxy` splits the signal from the
wait, so that the container can be removed meanwhile).  Without a PID (or when that failed)
and with the proxy port still busy, the process LISTENing on the port is stopped — only if it
is this workload's proxy.  Unlike ToolHive, the recorded PID is checked with the same recogniser
before it is signalled (a stale PID may belong to an unrelated process by now), and a proxy
that ignores SIGTERM for 5 s gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ... import cancel
from ...errors import FileBusy
from ...paths import Paths
from ...ports import is_available
from ...state.store import Store
from .procfs import is_proxy_for, pid_alive, port_owner

STOP_WAIT = 5.0
POLL = 0.01
SERVE_POLL = 0.005


@functools.cache
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


def thv_command() -> list[str]:
    """How to run this installation's ``thv``: its console script (through this
    interpreter), else ``python -m toolhive_compose``."""
    script = thv_script()
    return (
        [sys.executable, "-m", "toolhive_compose"] if script is None else [sys.executable, script]
    )


def proxy_command(name: str) -> list[str]:
    """The proxy's command line: it names ``thv`` and ``start <name>`` as ToolHive's does
    (without the script, a proxy is recognised by TOOLHIVE_DETACHED=1)."""
    return [*thv_command(), "start", name, "--foreground"]


def log_path(paths: Paths, name: str) -> Path:
    return paths.logs / f"{name}.log"


class ProxyProcess:
    """A started proxy: its PID, and (when this process spawned it) its Popen."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def exit_note(self) -> str:
        code = self.popen.returncode if self.popen is not None else None
        return "the proxy exited" + ("" if code is None else f" with code {code}")


def spawn_proxy(paths: Paths, name: str) -> ProxyProcess:
    """Start the detached proxy for ``name``; it records its own PID once it serves."""
    log = open_log(paths, name)
    try:
        proc = subprocess.Popen(
            proxy_command(name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, "TOOLHIVE_DETACHED": "1"},
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(log)
    # Reap it when it exits, so a long-lived parent keeps no zombie that looks alive.
    threading.Thread(target=proc.wait, name=f"reap-proxy-{name}", daemon=True).start()
    return ProxyProcess(proc.pid, proc)


def open_log(paths: Paths, name: str) -> int:
    """The proxy log, opened for appending (0600)."""
    return os.open(log_ready(paths, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def log_ready(paths: Paths, name: str) -> Path:
    """The proxy log's path, its directory made when missing."""
    log = log_path(paths, name)
    log.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    return log


class Launcher:
    """Forks proxies from one pre-loaded process (:mod:`.launcher`), the client side.

    Requests may come from several threads at once; answers are matched by name.  When the
    launcher cannot start or dies, :meth:`spawn` returns None and the caller starts the
    proxy as a process of its own instead — slower, never different.

    Only with the ``thv`` console script installed: a forked proxy is recognised by its
    command line naming that script (``setproctitle`` reuses the environment's memory for
    the title, so ``/proc/<pid>/environ`` no longer shows ``TOOLHIVE_DETACHED=1``); without
    it (``python -m toolhive_compose``) proxies are spawned, recognised by that variable.
    """

    REPLY_TIMEOUT = 30.0  # it may still be importing, on a machine busy starting containers

    def __init__(self, paths: Paths, *, start: bool = True) -> None:
        """``start=False``: the process starts with :meth:`start`, or with the first
        :meth:`spawn`."""
        self.paths = paths
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Event, list[str]]] = {}
        self._dead = False
        self._starting = threading.Lock()  # held while the process starts: spawns wait
        self._started = False
        self._proc: subprocess.Popen[str] | None = None
        if start:
            self.start()

    def start(self) -> None:
        """Start the launcher process, once (it imports the proxy while the caller goes on);
        not after :meth:`close`."""
        with self._starting:
            if not self._started and not self._dead:
                self._started = True
                self._popen()

    def _popen(self) -> None:
        if thv_script() is None:  # (see above) nothing would recognise the forked proxies
            self._dead = True
            return
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "toolhive_compose.proxy.processes.launcher"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "TOOLHIVE_DETACHED": "1"},
                start_new_session=True,
                close_fds=True,
                text=True,
                bufsize=1,
            )
        except OSError:
            self._proc, self._dead = None, True
            return
        threading.Thread(target=self._read, name="proxy-launcher", daemon=True).start()

    def spawn(self, name: str) -> ProxyProcess | None:
        """Fork the proxy of ``name``; None when the launcher is not there to do it."""
        self.start()
        log = log_ready(self.paths, name)
        waiter: tuple[threading.Event, list[str]] = (threading.Event(), [])
        with self._lock:
            if self._dead or self._proc is None or self._proc.stdin is None:
                return None
            self._pending[name] = waiter
            try:
                self._proc.stdin.write(f"{name}\t{log}\t{' '.join(proxy_command(name))}\n")
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._pending.pop(name, None)
                self._dead = True
                return None
        if not waiter[0].wait(self.REPLY_TIMEOUT):
            self._kill()
            return None
        answer = waiter[1]
        if not answer or answer[0] == "-" or not answer[0].isdigit():
            return None
        return ProxyProcess(int(answer[0]))

    def close(self) -> None:
        """End the launcher (end of input; it exits on its own, reaped in the background);
        the proxies it forked keep running; one never started will not start."""
        with self._starting:
            proc = self._proc
            self._dead = True
        if proc is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._dead = True
            if proc.stdin is not None:
                proc.stdin.close()
        threading.Thread(target=proc.wait, name="reap-proxy-launcher", daemon=True).start()

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            name, _, rest = line.rstrip("\n").partition("\t")
            with self._lock:
                waiter = self._pending.pop(name, None)
            if waiter is not None:
                waiter[1].extend(rest.split("\t"))
                waiter[0].set()
        with self._lock:  # end of output: the launcher is gone
            self._dead = True
            pending, self._pending = self._pending, {}
        for event, _ in pending.values():
            event.set()

    def _kill(self) -> None:
        with self._lock:
            self._dead = True
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)


class ProxyNotServing(Exception):
    """The spawned proxy exited, or did not record itself as serving in time."""

    def __init__(self, message: str, *, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


def wait_serving(store: Store, name: str, proc: ProxyProcess, timeout: float) -> None:
    """Return once the proxy has bound its port and recorded ``running`` with its PID.

    Polls every 5 ms, reading the status file only when it has been replaced (atomic writes
    make a new inode) or touched since the last look."""
    deadline = time.monotonic() + timeout
    path, seen = store.statuses.path(name), None
    while True:
        try:
            st = path.stat()
            stamp: tuple[int, ...] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != seen:
            seen = stamp
            try:
                status = store.statuses.get(name)
            except FileBusy:  # held past ToolHive's 1 s on a loaded machine: look again
                status, seen = None, None
            if status is not None and status.status == "running" and status.process_id == proc.pid:
                return
        if not proc.running():
            raise ProxyNotServing(proc.exit_note(), exited=True)
        if time.monotonic() >= deadline:
            raise ProxyNotServing(f"the proxy did not serve within {timeout:g}s", exited=False)
        cancel.sleep(SERVE_POLL)


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
    return begin_stop_proxy(store, name, port).finish()


class ProxyStop:
    """A proxy stop under way: SIGTERM sent (when its PID was recognised); :meth:`finish`
    waits for the exit and tidies up.  In between, the caller removes the container."""

    def __init__(self, store: Store, name: str, port: int | None) -> None:
        self.store, self.name, self.port = store, name, port
        status = store.statuses.get(name)
        self.pid = (status.process_id if status else 0) or _legacy_pid(store.paths, name)
        self.signalled = bool(self.pid) and is_proxy_for(self.pid, name) and _sigterm(self.pid)

    def finish(self) -> bool:
        stopped = self.signalled and _gone(self.pid)
        if self.pid:
            self.store.statuses.reset_pid_if_match(self.name, self.pid)
        for path in legacy_pid_files(self.store.paths, self.name):
            with contextlib.suppress(OSError):
                path.unlink()
        if not stopped and self.port and not is_available(self.port):
            stopped = free_port(self.name, self.port)
        return stopped


def begin_stop_proxy(store: Store, name: str, port: int | None) -> ProxyStop:
    """Send the workload's proxy SIGTERM now; ``.finish()`` completes :func:`stop_proxy`."""
    return ProxyStop(store, name, port)


def free_port(name: str, port: int) -> bool:
    """Stop the process listening on ``port`` if it is ``name``'s proxy, and nothing else."""
    owner = port_owner(port)
    if owner is None or owner == os.getpid() or not is_proxy_for(owner, name):
        return False
    return terminate(owner)


def terminate(pid: int, wait: float = STOP_WAIT) -> bool:
    """SIGTERM, wait for the exit, SIGKILL if it does not come; True once it is gone."""
    return _sigterm(pid) and _gone(pid, wait)


def _sigterm(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, wait: float = STOP_WAIT) -> bool:
    """Wait for a signalled ``pid`` to exit, SIGKILL after ``wait``; True once it is gone."""
    if wait_exit(pid, wait):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return wait_exit(pid, 1.0)


def wait_exit(pid: int, timeout: float) -> bool:
    """Poll every 10 ms until ``pid`` is gone; False on timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True
