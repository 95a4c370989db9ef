"""A killed apply's engine operations still under way are waited out or adopted by the next
apply, which converges in one go (issue 10: "removal of container … is already in progress").

The engine is made slow on purpose (``tests/support/slow_engine.py``): the killed apply's
create or remove is held back until the next apply sends its own, then both reach the engine
together — the timing a loaded engine produces now and then, made certain.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import ensure_busybox_image
from tests.support.slow_engine import Rule, SlowEngine, slow_engine
from tests.support.thv_project import ThvProject

pytestmark = pytest.mark.docker
HOLD = 60.0  # the killed apply's request waits (at most) this long for the next one's


@pytest.fixture
def project(test_project: str, tmp_path: Path, docker_client: Any) -> Iterator[ThvProject]:
    p = ThvProject(test_project, tmp_path, docker_client, ensure_busybox_image(), servers=1)
    yield p
    p.thv("down", "--yes", timeout=60)


class Race:
    """The first request matching ``pattern`` is held; the killed apply sent it.  The second
    (the next apply's) releases it and follows 50 ms behind."""

    def __init__(self, pattern: str) -> None:
        self.gate = threading.Event()
        self.first = threading.Event()
        self.rule = Rule(pattern, HOLD, self.gate)
        self.seen = 0

    def __call__(self, method: str, path: str) -> float | None:
        self.seen += 1
        if self.seen == 1:
            self.first.set()
            return None  # held on the gate
        self.gate.set()
        return 0.05


def _kill_when_held(p: ThvProject, engine: SlowEngine, race: Race) -> None:
    proc = p.start("apply", "--yes", DOCKER_HOST=engine.host)
    assert race.first.wait(60), p.log.read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_a_create_left_in_flight_is_adopted(project: ThvProject) -> None:
    p = project
    p.write("1")
    race = Race(r"^POST /containers/create")
    with slow_engine(race.rule, on_request=race) as engine:
        _kill_when_held(p, engine, race)
        assert p.containers() == []  # the create has not reached the engine yet
        result = p.apply(DOCKER_HOST=engine.host)  # its create meets the killed one's
        assert result.returncode == 0, result.stdout + result.stderr
        # 2: the next apply's create met the killed one's container and adopted it; 3 when,
        # on a loaded machine, it met the name still reserved by the create under way (no
        # container to inspect yet) and made it again — converged in one apply either way
        assert race.seen in (2, 3)
        assert p.problems("1") == [] and len(p.containers()) == 1


def test_a_removal_left_in_flight_is_waited_out(project: ThvProject) -> None:
    p = project
    p.write("1")
    assert p.apply().returncode == 0
    old = {c.id for c in p.containers()}
    p.write("2")  # a recreate: remove, then create
    race = Race(r"^DELETE /containers/")
    with slow_engine(race.rule, on_request=race) as engine:
        _kill_when_held(p, engine, race)
        began = time.monotonic()
        result = p.apply(DOCKER_HOST=engine.host)  # its remove meets the killed one's
        assert result.returncode == 0, result.stdout + result.stderr
        assert time.monotonic() - began < HOLD
        assert race.seen == 2
        assert p.problems("2") == []
    assert not old & {c.id for c in p.containers()}
