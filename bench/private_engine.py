"""A dockerd of the bench's own, for when the shared engine is busy or hung (``--engine``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from harness import EngineHung

PRIVATE_DIR = Path("/var/tmp/thc-bench-engine")  # data, exec root and socket of that dockerd


class PrivateEngine:
    """A dockerd of the bench's own (data, exec root and socket under PRIVATE_DIR; no
    default bridge, no iptables), for when the shared engine is busy or hung.

    Side effect: a dockerd started with ``--bridge=none`` deletes the host's ``docker0``, so the
    shared engine must be restarted afterwards before it can run bridged containers again."""

    def __init__(self) -> None:
        self.dir = PRIVATE_DIR
        self.host = f"unix://{self.dir}/docker.sock"
        self.pid: int | None = None

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.dir / "docker.pid"
        env = dict(os.environ, DOCKER_HOST=self.host)
        with open(self.dir / "dockerd.log", "ab") as logf:
            if pidfile.exists():  # a leftover of a bench run that died: stop it first
                old = int(pidfile.read_text().strip() or 0)
                if (
                    old
                    and Path(f"/proc/{old}/comm").exists()
                    and Path(f"/proc/{old}/comm").read_text().strip() == "dockerd"
                ):
                    self._stop(old)
            proc = subprocess.Popen(
                [
                    "dockerd",
                    "--data-root",
                    str(self.dir / "data"),
                    "--exec-root",
                    str(self.dir / "exec"),
                    "--pidfile",
                    str(pidfile),
                    "-H",
                    self.host,
                    "--bridge=none",
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = proc.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EngineHung(f"private dockerd exited (log: {self.dir / 'dockerd.log'})")
            if subprocess.run(["docker", "version"], env=env, capture_output=True).returncode == 0:
                return self.host
            time.sleep(0.5)
        raise EngineHung("private dockerd did not answer within 60s")

    def stop(self) -> None:
        if self.pid:
            self._stop(self.pid)
            self.pid = None

    @staticmethod
    def _stop(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
            if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
                break
            time.sleep(0.2)
