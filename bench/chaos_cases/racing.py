"""``thv stop``, ``thv rm`` and ``thv run`` racing an apply.

While an apply recreates a project's servers, ``thv stop`` one of them, ``thv rm`` another and
``thv run`` a new unmanaged workload.  Each racer either does its job or fails with one clear
line (never a traceback); the unmanaged workload, when ``thv run`` succeeded, is listed and
running; and one more apply converges the project (the stopped server started again, the
removed one made again).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.chaos_cases import Context, Row, timed
from bench.chaos_cases.kill_apply import converge_check, project
from tests.support.busybox_mcp import MCP_SH
from tests.support.thv_project import ROOT, ThvProject


def run(ctx: Context) -> list[Row]:
    trials = max(1, ctx.trials // 4)
    row = Row("thv stop / rm / run racing an apply")
    with timed(row), project(ctx, "race", max(3, ctx.servers // 2)) as p:
        p.write("0")
        p.apply()
        for version in range(1, trials + 1):
            p.write(str(version))
            apply = p.start("apply", "--yes")
            time.sleep(ctx.rng.uniform(0.2, 1.5))
            extra = f"{p.name}-run{version}"
            racers = [
                _thv(p, "stop", p.servers()[0]),
                _thv(p, "rm", p.servers()[1]),
                _thv(p, "run", ctx.image, "--name", extra, "--", "sh", "-c", MCP_SH),
            ]
            problems = _racers(racers)
            apply.wait(600)
            problems += _unmanaged(p, extra, racers[2].returncode == 0)
            problems += converge_check(p, str(version))
            _thv(p, "rm", extra)
            row.record(problems)
    return [row]


def _thv(p: ThvProject, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args], capture_output=True, text=True,
        cwd=ROOT, timeout=300, stdin=subprocess.DEVNULL, env=p.env(), check=False,
    )  # fmt: skip


def _racers(results: list[subprocess.CompletedProcess[str]]) -> list[str]:
    problems = []
    for result in results:
        out = result.stdout + result.stderr
        if "Traceback" in out:
            problems.append(f"{result.args[3]}: a traceback")
        elif result.returncode not in (0, 1):
            problems.append(f"{result.args[3]} exited {result.returncode}")
    return problems


def _unmanaged(p: ThvProject, name: str, ran: bool) -> list[str]:
    if not ran:
        return []
    listed = json.loads(_thv(p, "list", "--all", "--format", "json").stdout or "[]")
    found = [w for w in listed if w["name"] == name]
    if not found or found[0]["status"] != "running":
        return [f"thv run said it made {name}, but it is {found[0]['status'] if found else 'gone'}"]
    return []
