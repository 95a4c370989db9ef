"""The review loop on a real engine, running the commands of ``examples/ci/review.yml``.

A "machine" directory (the MCP host's checkout) runs one MCP server; a "CI" directory elsewhere
is the pull request's checkout, with no engine and no secrets.  A pull request changes the
server: the host exports its observed state, CI validates and plans against it (Markdown in the
job summary, the widening gate), the host applies the saved plan — refused while something
moved on the host in between, applied once the loop runs again — and the official MCP SDK
client sees the change through the proxy.  The plan made in CI is the machine's own plan.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.images import ensure_mcp_image

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "examples" / "ci" / "review.yml"
SETUP_LINES = ('pip install "toolhive-compose==0.1.0"',)  # what a test cannot run: installing
FILE = """\
version: 1
project: {project}
servers:
  {project}-svc:
    image: {image}
    env: {{SERVER_ID: v1}}
    secrets: {{API_TOKEN: {{env: SVC_TOKEN}}}}
    volumes: ["./data:/data:ro"]
"""
TOKEN = "review-loop-token-7f3a"


def workflow_commands() -> dict[str, list[str]]:
    """Each job's ``thv`` lines, in order; every other ``run:`` line must be a setup line."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    commands: dict[str, list[str]] = {}
    for job, body in jobs.items():
        for step in body["steps"]:
            for line in str(step.get("run") or "").splitlines():
                if line.startswith("thv "):
                    commands.setdefault(job, []).append(line)
                else:
                    assert not line.strip() or line in SETUP_LINES, f"{job}: {line!r} is not run"
    return commands


def test_the_workflow_runs_only_thv_and_setup() -> None:
    assert workflow_commands() == {
        "observe": ["thv state export -o observed.json"],
        "plan": [
            "thv validate --observed observed.json",
            "thv plan --observed observed.json -o plan.json --format markdown"
            ' >> "$GITHUB_STEP_SUMMARY"',
            "thv show plan.json --deny privilege-widening",
        ],
        "apply": ["thv apply plan.json --allow privilege-widening"],
    }


class Loop:
    """The two checkouts and the job runner."""

    def __init__(self, root: Path, project: str) -> None:
        self.project = project
        self.name = f"{project}-svc"
        self.machine = root / "host" / "actions-runner" / "_work" / "mcp"
        self.ci = root / "github" / "workspace" / "mcp"
        self.summary = root / "summary.md"
        for where in (self.machine, self.ci):
            (where / "data").mkdir(parents=True)
        (self.machine / ".env").write_text(f"SVC_TOKEN={TOKEN}\n")  # the host's secret
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        self.env.pop("SVC_TOKEN", None)

    def write(self, text: str) -> None:
        """A merged change: the same file in both checkouts."""
        for where in (self.machine, self.ci):
            (where / "workloads.yaml").write_text(text)

    def sh(self, line: str, where: Path, *, ci: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if ci:  # a hosted runner: no engine, no secrets
            env |= {
                "DOCKER_HOST": "unix:///nonexistent/docker.sock",
                "GITHUB_STEP_SUMMARY": str(self.summary),
            }
        return subprocess.run(
            ["bash", "-c", line], cwd=where, env=env, capture_output=True, text=True,
            timeout=240, check=False,
        )  # fmt: skip

    def ok(self, line: str, where: Path, *, ci: bool = False) -> str:
        result = self.sh(line, where, ci=ci)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        assert TOKEN not in result.stdout + result.stderr
        return result.stdout

    def job(self, name: str) -> list[subprocess.CompletedProcess[str]]:
        """One job of the workflow: its commands in order, artifacts carried over."""
        commands = workflow_commands()[name]
        if name == "observe":
            return [self.sh(line, self.machine) for line in commands]
        if name == "plan":
            shutil.copy(self.machine / "observed.json", self.ci / "observed.json")
            self.summary.write_text("")
            return [self.sh(line, self.ci, ci=True) for line in commands]
        shutil.copy(self.ci / "plan.json", self.machine / "plan.json")
        return [self.sh(line, self.machine) for line in commands]


@pytest.fixture
def loop(tmp_path: Path, test_project: str) -> Iterator[Loop]:
    looped = Loop(tmp_path, test_project)
    yield looped
    looped.sh("thv down --yes", looped.machine)


def _passed(results: list[subprocess.CompletedProcess[str]]) -> None:
    for r in results:
        assert r.returncode == 0, f"{r.args}\n{r.stdout}\n{r.stderr}"
        assert TOKEN not in r.stdout + r.stderr


async def _whoami(url: str) -> str:
    from mcp import ClientSession
    from mcp.client import streamable_http

    connect = getattr(streamable_http, "streamable_http_client", None)
    client = connect(url) if connect else streamable_http.streamablehttp_client(url)
    async with client as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        result = await session.call_tool("whoami", {})
        return str(result.content[0].text)  # type: ignore[union-attr]


def test_review_loop(loop: Loop) -> None:
    image = ensure_mcp_image()
    loop.write(FILE.format(project=loop.project, image=image))
    loop.ok("thv apply --yes", loop.machine)  # what runs on the host today

    # A pull request: the server's SERVER_ID changes.
    (loop.ci / "workloads.yaml").write_text(
        FILE.format(project=loop.project, image=image).replace("v1", "v2")
    )
    _passed(loop.job("observe"))
    assert TOKEN not in (loop.machine / "observed.json").read_text()
    _passed(loop.job("plan"))
    summary = loop.summary.read_text()
    assert summary.startswith(f"### toolhive-compose plan: project `{loop.project}`")
    assert f"| 0 | recreate | `{loop.name}` | env changed | **disruptive** |" in summary
    assert '+ env.SERVER_ID = "v2"' in summary and TOKEN not in summary
    assert TOKEN not in (loop.ci / "plan.json").read_text()

    # Merged: the host's checkout has the change.  The plan CI makes is the host's own plan.
    loop.write((loop.ci / "workloads.yaml").read_text())
    on_host = loop.ok("thv plan --format json", loop.machine)
    in_ci = loop.ok("thv plan --observed observed.json --format json", loop.ci, ci=True)
    assert json.loads(in_ci) == json.loads(on_host)

    # Something moves on the host between the plan and the apply: refused, nothing done.
    loop.ok(f"thv stop {loop.name}", loop.machine)
    (refusal,) = loop.job("apply")
    assert refusal.returncode == 1
    assert refusal.stderr.startswith(
        f"error: plan is stale: the container of {loop.name} is exited"
    )
    assert "hint: nothing was done" in refusal.stderr
    assert "(was running)" in refusal.stderr

    # The loop again, from a fresh observation: applied, and the client sees the change.
    _passed(loop.job("observe"))
    _passed(loop.job("plan"))
    (applied,) = loop.job("apply")
    _passed([applied])
    assert "Nothing has moved since." in applied.stdout
    assert "Apply complete" in applied.stdout
    assert loop.ok("thv plan --detailed-exitcode", loop.machine).startswith("No changes.")
    status = json.loads(loop.ok("thv list --format json", loop.machine))
    url = next(w["url"] for w in status if w["name"] == loop.name)
    assert asyncio.run(_whoami(url)) == "v2"

    # A pull request that makes the volume writable: the gate fails it, the plan says why.
    widening = (loop.ci / "workloads.yaml").read_text().replace('/data:ro"', '/data"')
    (loop.ci / "workloads.yaml").write_text(widening)
    _passed(loop.job("observe"))
    validate, plan, gate = loop.job("plan")
    _passed([validate, plan])
    assert gate.returncode == 1
    assert gate.stderr.startswith(
        f"error: the plan has 1 action(s) of a denied class: recreate {loop.name} "
        "(privilege-widening)"
    )
    assert (
        f"**privilege-widening**: {loop.machine / 'data'} becomes writable"
        in loop.summary.read_text()
    )
