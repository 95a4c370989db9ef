"""A throw-away project of busybox MCP servers, driven through ``thv`` as a subprocess.

Used by the crash, interrupt and in-flight tests (and ``bench/chaos_cases``): write the
workloads file (``write``), run ``thv`` to completion (``thv``) or start it and act on it
(``start``), and check that everything converged (``check_converged``): the re-plan is
empty, one running container per server carrying the run config's hash, no container of the
project without a run config, every state file parses, no proxy process of a workload that
is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.busybox_mcp import workload_args
from toolhive_compose.fingerprint import config_hash
from toolhive_compose.paths import Paths
from toolhive_compose.proxy.processes.procfs import cmdline, is_proxy_for, pid_alive

ROOT = Path(__file__).resolve().parents[2]
PROJECT_LABEL = "toolhive-compose.project"


class ThvProject:
    def __init__(
        self, name: str, directory: Path, docker: Any, image: str, servers: int = 3
    ) -> None:
        self.name = name
        self.file = directory / "workloads.yaml"
        self.docker = docker
        self.image = image
        self.count = servers
        self.paths = Paths.from_env()
        self.log = directory / "thv.log"
        self.extra_env: dict[str, str] = {}  # for every thv run (DOCKER_HOST of another engine)

    def servers(self) -> list[str]:
        return [f"{self.name}-s{i}" for i in range(self.count)]

    def write(self, version: str, *, servers: int | None = None) -> None:
        if servers is not None:
            self.count = servers
        doc = {
            "version": 1,
            "project": self.name,
            "servers": {
                name: {"image": self.image, "args": workload_args(), "env": {"VERSION": version}}
                for name in self.servers()
            },
        }
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- running thv ---------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env, **extra}

    def thv(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "toolhive_compose", *args, "-f", str(self.file)],
            capture_output=True, text=True, cwd=ROOT, timeout=timeout,
            stdin=subprocess.DEVNULL, env=self.env(**(env or {})), check=False,
        )  # fmt: skip

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """``thv ARGS -f FILE`` in the background, its output in ``self.log``."""
        with self.log.open("a") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "toolhive_compose", *args, "-f", str(self.file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                env=self.env(**env), text=True,
            )  # fmt: skip

    def apply(self, **env: str) -> subprocess.CompletedProcess[str]:
        return self.thv("apply", "--yes", env=env)

    # -- what exists ---------------------------------------------------------------------
    def containers(self) -> list[Any]:
        return self.docker.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={self.name}"}, ignore_removed=True
        )

    def status_files(self) -> int:
        return len(list(self.paths.statuses.glob(f"{self.name}-*.json")))

    def problems(self, version: str) -> list[str]:
        """Why the project has not converged to ``version`` (empty when it has)."""
        found: list[str] = []
        plan = self.thv("plan", "--format", "json", "--detailed-exitcode")
        if plan.returncode != 0:
            found.append(f"re-plan exit {plan.returncode}: {plan.stdout[-400:]}{plan.stderr}")
        containers = self.containers()
        names = sorted(c.name for c in containers)
        if names != sorted(self.servers()):
            found.append(f"containers {names} != servers {sorted(self.servers())}")
        for container in containers:
            found += self._container_problems(container, version)
        found += self._unparsable()
        found += self._orphan_proxies()
        return found

    def _container_problems(self, container: Any, version: str) -> list[str]:
        path = self.paths.runconfigs / f"{container.name}.json"
        try:
            rc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            return [f"container {container.name} has no readable run config ({exc})"]
        found = []
        if container.labels.get("toolhive-compose.config-hash") != config_hash(
            rc["toolhive_compose"]["spec"]
        ):
            found.append(f"{container.name}: its config hash is not the run config's")
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        if env.get("VERSION") != version or container.status != "running":
            found.append(f"{container.name}: VERSION {env.get('VERSION')}, {container.status}")
        return found

    def _unparsable(self) -> list[str]:
        found = []
        for directory in (self.paths.runconfigs, self.paths.statuses, self.paths.groups):
            for path in directory.glob("*.json"):
                try:
                    json.loads(path.read_text())
                except (OSError, ValueError) as exc:
                    found.append(f"{path} does not parse: {exc}")
        return found

    def _orphan_proxies(self) -> list[str]:
        """Proxy processes (``thv start NAME --foreground``) of a workload named like the
        project's other than the one its status file records (or with no status file)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            found_name = re.search(r" start (\S+) --foreground", cmdline(pid) or "")
            name = found_name.group(1) if found_name else ""
            if not name.startswith(f"{self.name}-") or not is_proxy_for(pid, name):
                continue
            if self._recorded_pid(name) != pid and pid_alive(pid):
                found.append(f"proxy {pid} of {name} is not the one recorded")
        return found

    def _recorded_pid(self, name: str) -> int:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            doc = json.loads((self.paths.statuses / f"{name}.json").read_text())
            return int(doc.get("process_id") or 0)
        return 0
