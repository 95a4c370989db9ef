"""``examples/ci/verify-tools.yml``: every ``run:`` step, run as GitHub Actions runs it.

The example's files are copied with server names of this run (runs may share an engine), the
steps run with ``bash --noprofile --norc -eo pipefail`` and the job's env, and the job
summary is a file.  ``pip install .`` is the one step not run: this checkout is installed in
the test's virtualenv already (``scripts/setup.sh``).  A lock edited to disagree with the
servers makes the verify step fail, as the job would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.images import REPO_ROOT

pytestmark = pytest.mark.docker

EXAMPLE = REPO_ROOT / "examples" / "ci"
WORKFLOW = EXAMPLE / "verify-tools.yml"


def _step(run: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", run],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_ci_workflow_runs_as_written(tmp_path: Path, test_project: str) -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["verify-tools"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[0] == "pip install ."
    assert [r.split()[:2] for r in runs[1:]] == [
        ["bash", "scripts/build-images.sh"], ["thv", "apply"], ["thv", "verify"], ["thv", "down"],
    ]  # fmt: skip
    copy = tmp_path / "examples" / "ci" / "tools"
    copy.mkdir(parents=True)
    for name in ("workloads.yaml", "workloads.lock"):
        text = (EXAMPLE / "tools" / name).read_text()
        (copy / name).write_text(text.replace('"ci-', f'"{test_project}-').replace(
            "  ci-", f"  {test_project}-"))  # fmt: skip
    summary = tmp_path / "summary.md"
    env = {
        **os.environ, **job["env"], "CI_PROJECT": test_project,
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    build, apply, verify, down = runs[1:]
    assert _step(build, REPO_ROOT, env).returncode == 0
    try:
        applied = _step(apply, tmp_path, env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        checked = _step(verify, tmp_path, env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "2 of 2 server(s) match" in summary.read_text()

        lock = json.loads((copy / "workloads.lock").read_text())
        lock["servers"][f"{test_project}-math"]["tools"]["say"]["sha256"] = "sha256:" + "0" * 64
        (copy / "workloads.lock").write_text(json.dumps(lock))
        failed = _step(verify, tmp_path, env)
        assert failed.returncode == 1 and "❌ changed" in failed.stdout
    finally:
        taken = _step(down, tmp_path, env)
        assert taken.returncode == 0, taken.stdout + taken.stderr
    shutil.rmtree(copy)
