"""Processes as ToolHive sees them: liveness, who listens on a port, is it our proxy.

Linux ``/proc`` only (no psutil): the owner of a listening TCP port is found through the
socket inode in ``/proc/net/tcp{,6}`` and a scan of ``/proc/*/fd``.  The recogniser is
ToolHive's ``IsToolHiveProxyForWorkload`` (``pkg/process/toolhive_proxy.go``).
:func:`proxy_processes` finds every proxy of this machine with the log it writes, which
names its state directory (orphan proxies: :mod:`toolhive_compose.workloads.orphans`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DETACHED_ENV = b"TOOLHIVE_DETACHED=1"
BINARY = "thv"
TCP_LISTEN = "0A"
PROC = Path("/proc")
LAUNCHER_MODULE = "toolhive_compose.proxy.processes.launcher"  # a child not yet titled
PROXY_FLAGS = frozenset({"--foreground", "-f", "--debug"})


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie is not; neither is pid 0)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return False
    state = stat.rpartition(b")")[2].split()[:1]
    return state in ([b"Z"], [b"X"])


def contains_thv_binary(text: str) -> bool:
    """``text`` names the thv binary (``/usr/bin/thv``, ``thv start``), not ``toolhive``."""
    s = text.lower()
    b = BINARY
    return (
        f"{b}.exe" in s
        or s.endswith(b)
        or f"/{b}" in s
        or f"\\{b}" in s
        or s.startswith(f"{b} ")
        or f" {b} " in s
        or s.endswith(f" {b}")
    )


def cmdline_contains_workload(cmdline: str, name: str) -> bool:
    """``cmdline`` has `` start <name>`` followed by a space, ``-`` or its end."""
    if not name:
        return False
    pattern = f" start {name}"
    idx = cmdline.find(pattern)
    if idx < 0:
        return False
    end = idx + len(pattern)
    return end >= len(cmdline) or cmdline[end] in " -"


def cmdline(pid: int) -> str | None:
    """The command line joined by spaces, as gopsutil returns it; None if unreadable."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))


def _has_detached_env(pid: int) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return DETACHED_ENV in environ.split(b"\0")


def _exe(pid: int) -> str:
    try:
        return os.readlink(PROC / str(pid) / "exe")
    except OSError:
        return ""


def is_proxy_for(pid: int, name: str) -> bool:
    """ToolHive's check before killing a port holder: a ToolHive process (detached env, or
    the thv binary in its exe or command line) whose command line is ``… start <name>``."""
    if pid <= 0 or not pid_alive(pid):
        return False
    line = cmdline(pid)
    if line is None:
        return False
    toolhive = _has_detached_env(pid) or contains_thv_binary(_exe(pid)) or contains_thv_binary(line)
    return toolhive and cmdline_contains_workload(line, name)


def is_thv_process(pid: int) -> bool:
    """A ToolHive or toolhive-compose process of any kind (a proxy, ``thv run
    --foreground``, a proxy just forked by the launcher): not "another program"."""
    line = cmdline(pid)
    if line is None:
        return False
    return (
        _has_detached_env(pid)
        or contains_thv_binary(_exe(pid))
        or contains_thv_binary(line)
        or LAUNCHER_MODULE in line
    )


@dataclass(frozen=True, slots=True)
class RunningProxy:
    """A running proxy: ``thv start <name> --foreground``."""

    pid: int
    name: str
    log: str  # where its stderr goes: ``<data home>/toolhive/logs/<name>.log`` when detached
    age: float  # seconds since it started


def proxy_processes() -> Iterator[RunningProxy]:
    """Every proxy process this user can see, ToolHive's and ours."""
    uptime = _uptime()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        line = cmdline(pid)
        name = _proxy_name(line or "")
        if name is None or not is_proxy_for(pid, name):
            continue
        try:
            log = os.readlink(entry / "fd" / "2")
        except OSError:
            log = ""
        yield RunningProxy(pid, name, log, max(0.0, uptime - _start_seconds(pid)))


def _proxy_name(line: str) -> str | None:
    """The workload of a ``… start <name> [--foreground]`` command line."""
    words = line.split()
    for i, word in enumerate(words[:-1]):
        name = words[i + 1]
        if word == "start" and not name.startswith("-") and set(words[i + 2 :]) <= PROXY_FLAGS:
            return name
    return None


def _uptime() -> float:
    try:
        return float((PROC / "uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def _start_seconds(pid: int) -> float:
    """When ``pid`` started, in seconds since boot."""
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
        ticks = int(stat.rpartition(b")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def listening_inodes(port: int) -> set[int]:
    """Socket inodes LISTENing on TCP ``port`` (any address, IPv4 or IPv6)."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            if int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(int(fields[9]))
    inodes.discard(0)
    return inodes


def port_owner(port: int) -> int | None:
    """The PID of a process holding a socket LISTENing on TCP ``port``, if one is visible."""
    inodes = listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(entry / "fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in wanted:
                        return int(entry.name)
    return None
