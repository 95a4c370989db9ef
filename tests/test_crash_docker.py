"""``thv apply`` killed with SIGKILL part-way converges on the next run.

Each scenario runs ``thv apply --yes --parallelism 2`` as a subprocess and kills it as soon
as it has made some progress (the Nth status file, the Nth container, the Nth old container
gone), several times in a row, then runs apply to completion and checks: the re-plan is
empty, exactly one container per server, no container of the project without a run
config, and every state file parses as JSON.

The servers are ``thc-test/busybox:1`` running a tiny shell MCP responder (``initialize`` and
``tools/list`` over stdio), so the readiness round trip of every create succeeds in well
under a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.busybox_mcp import workload_args
from tests.support.images import ensure_busybox_image
from toolhive_compose.fingerprint import config_hash
from toolhive_compose.paths import Paths
from toolhive_compose.state import Store

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SERVERS = 6


class Project:
    def __init__(self, name: str, directory: Path, docker: Any, image: str) -> None:
        self.name = name
        self.file = directory / "workloads.yaml"
        self.docker = docker
        self.image = image
        self.paths = Paths.from_env()
        self.log = directory / "apply.log"

    def servers(self) -> list[str]:
        return [f"{self.name}-s{i}" for i in range(SERVERS)]

    def write(self, version: str) -> None:
        servers = {
            name: {
                "image": self.image,
                "args": workload_args(),
                "env": {"VERSION": version},
                "group": "crash",
            }
            for name in self.servers()
        }
        doc = {"version": 1, "project": self.name, "groups": {"crash": {}}, "servers": servers}
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- running thv ----------------------------------------------------------------------
    def thv(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "toolhive_compose", *args, "-f", str(self.file)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def apply_killed_when(self, ready: Callable[[], bool], limit: float = 30) -> bool:
        """Start an apply; SIGKILL it once ``ready()``.  False if it finished first."""
        with self.log.open("a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "toolhive_compose", "apply", "-f", str(self.file),
                 "--yes", "--parallelism", "2"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + limit
        try:
            while proc.poll() is None:
                if ready():
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                    return True
                if time.monotonic() > deadline:
                    pytest.fail(f"apply made no progress in {limit}s; log: {self.log.read_text()}")
                time.sleep(0.01)
            return False
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def converge(self) -> None:
        result = self.thv("apply", "--yes", "--parallelism", "6")
        assert result.returncode == 0, result.stdout + result.stderr

    # -- what exists ------------------------------------------------------------------------
    def containers(self) -> list[Any]:
        return self.docker.containers.list(
            all=True,
            filters={"label": f"toolhive-compose.project={self.name}"},
            ignore_removed=True,  # an apply may remove one between the list and its inspect
        )

    def running(self) -> int:
        count = 0
        for path in self.paths.statuses.glob(f"{self.name}-*.json"):
            with contextlib.suppress(OSError, ValueError):
                count += json.loads(path.read_text())["status"] == "running"
        return count

    def status_files(self) -> int:
        return len(list(self.paths.statuses.glob(f"{self.name}-*.json")))

    def check_converged(self, version: str) -> None:
        plan = self.thv("plan", "--format", "json", "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert json.loads(plan.stdout)["actions"] == []
        containers = self.containers()
        names = sorted(c.name for c in containers)
        assert names == sorted(self.servers()), "exactly one container per server"
        runconfigs = set(self.paths.runconfigs.glob("*.json"))
        for container in containers:
            path = self.paths.runconfigs / f"{container.name}.json"
            assert path in runconfigs, f"container {container.name} has no run config"
            rc = json.loads(path.read_text())
            assert container.labels["toolhive-compose.config-hash"] == config_hash(
                rc["toolhive_compose"]["spec"]
            )
            assert rc["env_vars"]["VERSION"] == version
            env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
            assert env["VERSION"] == version
            assert container.status == "running"
        for directory in (self.paths.runconfigs, self.paths.statuses, self.paths.groups):
            for path in directory.iterdir():
                if path.suffix == ".json":
                    json.loads(path.read_text())  # every state file parses
        for name in self.servers():
            status = json.loads((self.paths.statuses / f"{name}.json").read_text())
            assert status["status"] == "running", (name, status)
        group = json.loads((self.paths.groups / "crash.json").read_text())
        assert group["name"] == "crash"
        assert Store(self.paths).group_owners()["crash"].project == self.name


def more(metric: Callable[[], int], n: int) -> Callable[[], bool]:
    """True once ``metric()`` has grown by ``n`` since now (progress made by this run)."""
    base = metric()
    return lambda: metric() >= base + n


@pytest.fixture
def project(test_project: str, tmp_path: Path, docker_client: Any) -> Iterator[Project]:
    p = Project(test_project, tmp_path, docker_client, ensure_busybox_image())
    yield p
    if p.file.exists():  # stops the proxies too; the fixture then removes any container left
        p.thv("down", "--yes", timeout=60)


def test_killed_create_and_recreate_converge(project: Project) -> None:
    p = project
    p.write("1")

    # creates: killed at the first status file, then each time once one more container
    # exists, then once one more workload is running
    assert p.apply_killed_when(lambda: p.status_files() >= 1), "finished before the kill"
    p.apply_killed_when(more(lambda: len(p.containers()), 1))
    p.apply_killed_when(more(lambda: len(p.containers()), 1))
    p.apply_killed_when(more(p.running, 1))
    p.converge()
    p.check_converged("1")

    # recreates: killed once one old container is gone, then once two more are
    old = {c.id for c in p.containers()}
    p.write("2")

    def gone(n: int) -> Callable[[], bool]:
        return lambda: len(old - {c.id for c in p.containers()}) >= n

    assert p.apply_killed_when(gone(1)), "the recreate finished before it could be killed"
    p.apply_killed_when(gone(3))
    p.apply_killed_when(more(p.running, 1))
    p.converge()
    p.check_converged("2")
    assert not old & {c.id for c in p.containers()}, "every container was recreated"

    down = p.thv("down", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert p.containers() == []
    assert not list(p.paths.runconfigs.glob(f"{p.name}-*.json"))
