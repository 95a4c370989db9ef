"""Ctrl-C during ``thv apply`` (a real subprocess, SIGINT at several points): no new action
starts, the running ones finish within the grace (or stop at a second Ctrl-C), a summary says
what was done and what was not, exit 130 — and the next apply converges from there."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import ensure_busybox_image
from tests.support.slow_engine import Rule, slow_engine
from tests.support.thv_project import ThvProject

pytestmark = pytest.mark.docker


@pytest.fixture
def project(test_project: str, tmp_path: Path, docker_client: Any) -> Iterator[ThvProject]:
    p = ThvProject(test_project, tmp_path, docker_client, ensure_busybox_image(), servers=4)
    yield p
    p.thv("down", "--yes", timeout=90)


def _interrupt(p: ThvProject, when: Callable[[], bool], *args: str, twice: bool = False) -> str:
    """Run apply; SIGINT it once ``when()`` (twice: again at once); its output."""
    p.log.write_text("")
    proc = p.start("apply", "--yes", *args)
    deadline = time.monotonic() + 60
    while not when():
        assert proc.poll() is None, f"apply ended before the interrupt: {p.log.read_text()}"
        assert time.monotonic() < deadline, p.log.read_text()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    if twice:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130, p.log.read_text()
    return p.log.read_text()


def test_ctrl_c_lets_the_running_action_finish_and_starts_nothing_more(
    project: ThvProject,
) -> None:
    p = project
    p.write("1")
    out = _interrupt(p, lambda: p.status_files() >= 1, "--parallelism", "1")
    assert "Interrupted: no new action will start" in out
    assert "Apply interrupted: 1 action(s) done, 0 interrupted, 3 not started" in out
    assert out.count(": not started") == 3  # each action that was not done is named
    assert len(p.containers()) == 1
    result = p.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert p.problems("1") == []


def test_a_second_ctrl_c_stops_waiting(project: ThvProject) -> None:
    p = project
    p.write("1")
    assert p.apply().returncode == 0
    p.write("2")  # recreates, two at a time
    # The engine holds each new container's create back: the running actions are certainly
    # still running when the second Ctrl-C comes, however fast the machine is.
    with slow_engine(Rule(r"^POST .*/containers/create", 10.0)) as engine:
        p.extra_env["DOCKER_HOST"] = engine.host
        out = _interrupt(p, lambda: engine.held >= 1, "--parallelism", "2", twice=True)
        p.extra_env.pop("DOCKER_HOST")
    assert "Interrupted again: not waiting any longer." in out
    assert "Apply interrupted:" in out and "not started" in out
    result = p.apply()
    assert result.returncode == 0, result.stdout + result.stderr
    assert p.problems("2") == []
