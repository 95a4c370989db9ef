"""A Docker engine of a test's own, which the test may kill and restart.

The shared engine (``/var/run/docker.sock``) serves every other test, and other people's work,
so a test that takes an engine down starts its own ``dockerd``: its own socket, data root, exec
root, pid file and bridge, under ``/var/tmp/thc-engine-<id>`` (short: a unix socket path is
limited to 108 bytes). Its bridge is made here (``ip link add … type bridge``) and handed to
dockerd with ``--bridge``; a dockerd started with ``--bridge=none`` would delete the host's
``docker0`` and break the shared engine. No iptables rules are written: ports are published by
docker's userland proxy on 127.0.0.1, which is all the proxies need.

Images come from the shared engine (``docker save | docker load``), since no registry is
reachable. Needs root; :func:`private_engine_available` says why not otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path("/var/tmp")


def private_engine_available() -> str:
    """Why a private engine cannot run here ("" when it can)."""
    if os.geteuid() != 0:
        return "a private dockerd needs root"
    for tool in ("dockerd", "docker", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


class EngineError(RuntimeError):
    """The private engine did not start or stop as asked."""


class PrivateEngine:
    """One private dockerd. ``start()``, then ``kill()``/``stop()``/``start()`` at will;
    ``close()`` removes everything it made (containers, data, bridge)."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.dir = ROOT / f"thc-engine-{self.id}"
        self.host = f"unix://{self.dir}/docker.sock"
        self.bridge = f"thc{self.id}"  # ≤ 15 characters, an interface name's limit
        self.pid: int | None = None
        self._made_bridge = False

    # -- environment -----------------------------------------------------------------------
    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: ``os.environ``) with ``DOCKER_HOST`` pointing here."""
        return {**(os.environ if base is None else base), "DOCKER_HOST": self.host}

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run the docker CLI against this engine; its stdout."""
        done = subprocess.run(
            ["docker", *args], env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise EngineError(f"docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start dockerd (again) and wait until it answers."""
        if self.alive():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ensure_bridge()
        self._forget_dead_containerd()
        log = open(self.dir / "dockerd.log", "ab")  # noqa: SIM115 (dockerd keeps it)
        with log:
            proc = subprocess.Popen(
                [
                    "dockerd",
                    "--data-root", str(self.dir / "data"),
                    "--exec-root", str(self.dir / "exec"),
                    "--pidfile", str(self.dir / "docker.pid"),
                    "-H", self.host,
                    "--bridge", self.bridge,
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EngineError(f"private dockerd exited at start (log: {self.log_path})")
            if self.answers():
                return
            time.sleep(0.3)
        raise EngineError(f"private dockerd did not answer within {timeout:g}s")

    def answers(self, timeout: float = 5) -> bool:
        try:
            done = subprocess.run(
                ["docker", "version", "--format", "{{.Server.Version}}"],
                env=self.env(), capture_output=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def alive(self) -> bool:
        return self.pid is not None and _running(self.pid)

    def kill(self) -> None:
        """SIGKILL dockerd, as a crash would (its containerd and containers may live on)."""
        self._signal(signal.SIGKILL, wait=10)

    def stop(self, wait: float = 60) -> None:
        """SIGTERM dockerd and wait for it to exit (it stops its containers first)."""
        self._signal(signal.SIGTERM, wait=wait)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Remove every container, stop dockerd, delete its files and its bridge."""
        if self.alive() or self._start_quietly():
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq").split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False)
            self.stop()
        self._reap_containerd()
        _unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._made_bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
            self._made_bridge = False

    @property
    def log_path(self) -> Path:
        return self.dir / "dockerd.log"

    # -- images ------------------------------------------------------------------------------
    def load_image(self, tag: str) -> None:
        """Copy an image from the shared engine into this one."""
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "load", "-q"], stdin=save.stdout, env=self.env(),
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        if save.stdout:
            save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise EngineError(f"cannot copy image {tag} into the private engine: {load.stderr!r}")

    # -- internals ---------------------------------------------------------------------------
    def _signal(self, sig: signal.Signals, *, wait: float) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + wait
        while _running(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _running(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        _reap(self.pid)
        self.pid = None

    def _forget_dead_containerd(self) -> None:
        """A killed dockerd's containerd dies with it, but its pid file stays; a new dockerd
        that finds the file waits for that containerd's socket until it gives up."""
        pidfile = self.dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip() or 0)
        except (OSError, ValueError):
            return
        if not pid or not _running(pid):
            pidfile.unlink(missing_ok=True)

    def _start_quietly(self) -> bool:
        try:
            self.start(timeout=30)
        except EngineError:
            return False
        return True

    def _ensure_bridge(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            return
        subnet = _free_subnet()
        for cmd in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise EngineError(f"{' '.join(cmd)}: {done.stderr.strip()}")
        self._made_bridge = True

    def _reap_containerd(self) -> None:
        """A killed dockerd leaves its containerd (and shims) running: stop those of ours."""
        marker = str(self.dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"containerd" in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)


def _reap(pid: int, wait: float = 10.0) -> None:
    """Collect the exit of our child ``pid``.  A multi-threaded process shows as a zombie as
    soon as its main thread is gone, before its other threads are; until then it cannot be
    reaped, and a dockerd started meanwhile refuses to run while the old PID is in /proc
    ("pid file found, ensure docker is not running")."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not ours, or reaped already
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no interface of this host uses."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for third in range(256):
        net = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if f" {net[1]}/" not in used and f"10.213.{third}." not in used:
            return net
    raise EngineError("no free /24 in 10.213.0.0/16 for a private engine's bridge")


def _unmount_below(path: Path) -> None:
    """Unmount what dockerd left mounted under ``path`` (deepest first)."""
    prefix = str(path) + "/"
    with contextlib.suppress(OSError):
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@contextlib.contextmanager
def running_private_engine(*images: str) -> Iterator[PrivateEngine]:
    """A started private engine holding ``images``; closed afterwards, whatever happens."""
    engine = PrivateEngine()
    try:
        engine.start()
        for tag in images:
            engine.load_image(tag)
        yield engine
    finally:
        engine.close()
