"""The engine restarted under running workloads: how long until every one answers MCP again.

A private engine (``tests/support/private_engine.py``; never the shared one) runs
``ctx.servers`` workloads (10 by default) made by ``thv apply``: stdio MCP servers written in
busybox sh (``ctx.image``), which answer as soon as their container runs, so the figure is the
time of the recovery itself rather than of servers booting on a busy machine.  Each trial
takes the engine down — a graceful restart (SIGTERM: the engine stops the containers, and
restarts them when it comes back, ``unless-stopped``), then a crash (SIGKILL: the containers
are found ``Exited`` and only the proxies' supervision starts them) — starts it again, and
measures the time from the engine answering to every workload completing an MCP
``initialize`` + ``tools/list`` through its unchanged proxy, with no command run.  A trial
passes when that takes at most :data:`TARGET` seconds; the row's detail gives the median,
the slowest and the machine's load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.chaos_cases import Context, Row, timed
from tests.support.busybox_mcp import MCP_SH
from tests.support.private_engine import (
    PrivateEngine,
    private_engine_available,
    running_private_engine,
)
from toolhive_compose.proxy.processes.readiness import NotReady, wait_ready
from toolhive_compose.runtime.endpoint import answers

ROOT = Path(__file__).resolve().parents[2]
TARGET = 10.0  # seconds from the engine being back to every workload answering
GIVE_UP = 120.0
SERVER = "trap 'exit 0' TERM\n" + MCP_SH  # SIGTERM ends it: a graceful engine stop is quick
RESTART = "engine restarted (SIGTERM, start): every workload answers MCP again, no command run"
CRASH = "engine crashed (SIGKILL, start): every workload answers MCP again, no command run"


def run(ctx: Context, trials: int | None = None) -> list[Row]:
    """``trials`` of each outage (default: ``ctx.trials``, at most 3)."""
    trials = trials or min(ctx.trials, 3)
    why = private_engine_available() if ctx.private_engine else "private engines disabled"
    if why:
        return [Row(RESTART, detail=f"not run: {why}"), Row(CRASH, detail=f"not run: {why}")]
    image = ctx.image
    rows = {RESTART: Row(RESTART), CRASH: Row(CRASH)}
    samples: dict[str, list[float]] = {RESTART: [], CRASH: []}
    directory = ctx.workdir / "engine-restart"
    directory.mkdir(parents=True, exist_ok=True)
    with running_private_engine(image) as engine:
        env = {**os.environ, "DOCKER_HOST": engine.host}
        project = ctx.project_name("restart")
        workloads = directory / "workloads.yaml"
        workloads.write_text(_document(project, image, ctx.servers))
        try:
            _thv(env, "apply", "-f", str(workloads), "--yes", "--parallelism", "8")
            urls = _urls(env, project)
            for trial in range(1, trials + 1):
                for scenario, down in ((RESTART, engine.stop), (CRASH, engine.kill)):
                    with timed(rows[scenario]):
                        took, problems = _trial(engine, down, urls)
                    if took is not None:
                        samples[scenario].append(took)
                    rows[scenario].record(problems)
                    ctx.log(f"  {scenario[:22]} trial {trial}: {problems or f'{took:.1f}s'}")
        finally:
            if not engine.answers():
                engine.start()
            _thv(env, "down", "-f", str(workloads), "--yes", check=False)
    for scenario, row in rows.items():
        figures = _figures(samples[scenario], ctx.servers)
        row.detail = f"{figures}; {row.detail}" if row.detail else figures
    return list(rows.values())


def _trial(
    engine: PrivateEngine, down: Callable[[], None], urls: list[str]
) -> tuple[float | None, list[str]]:
    down()
    watch = _BackAt(engine.host)
    engine.start()
    back = watch.wait()
    done: dict[str, float] = {}
    errors: dict[str, str] = {}

    def wait(url: str) -> None:
        try:
            wait_ready(url, sse=False, timeout=GIVE_UP)
            done[url] = time.monotonic() - back
        except NotReady as exc:
            errors[url] = str(exc)

    threads = [threading.Thread(target=wait, args=(u,)) for u in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GIVE_UP + 10)
    if errors or len(done) < len(urls):
        missing = len(urls) - len(done)
        return None, [f"{missing} workload(s) never answered: {next(iter(errors.values()), '')}"]
    slowest = max(done.values())
    if slowest > TARGET:
        return slowest, [f"all answered after {slowest:.1f}s (target ≤ {TARGET:g}s)"]
    return slowest, []


class _BackAt:
    """When the engine first answers ``/_ping`` (polled every 20 ms from a thread), which is
    sooner than :meth:`PrivateEngine.start` notices it through the docker CLI."""

    def __init__(self, host: str) -> None:
        self.path = host.removeprefix("unix://")
        self.at = 0.0
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        deadline = time.monotonic() + GIVE_UP
        while time.monotonic() < deadline:
            if answers(self.path, timeout=0.5):
                self.at = time.monotonic()
                return
            time.sleep(0.02)

    def wait(self) -> float:
        self.thread.join(GIVE_UP)
        return self.at or time.monotonic()


def _document(project: str, image: str, servers: int) -> str:
    args = json.dumps(["sh", "-c", SERVER.replace("$", "$$")])  # $$: no interpolation
    lines = ["version: 1", f"project: {project}", "servers:"]
    for i in range(servers):
        lines += [f"  s{i}-{project}:", f"    image: {image}", f"    args: {args}"]
    return "\n".join(lines) + "\n"


def _urls(env: dict[str, str], project: str) -> list[str]:
    found = json.loads(_thv(env, "list", "--format", "json"))
    return [w["url"] for w in found if w["name"].endswith(project)]


def _thv(env: dict[str, str], *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(f"thv {' '.join(args)} failed: {(done.stderr or done.stdout)[-500:]}")
    return done.stdout


def _figures(samples: list[float], servers: int) -> str:
    if not samples:
        return f"no trial measured ({servers} workloads)"
    median = statistics.median(samples)
    load = os.getloadavg()[0]
    return (
        f"engine back → all {servers} answering: median {median:.1f}s, max {max(samples):.1f}s "
        f"over {len(samples)} trial(s) (target ≤ {TARGET:g}s; load average {load:.1f} on "
        f"{os.cpu_count()} cores)"
    )
