"""Pulls with a timeout and progress (``runtime/pulls.py``), and engine operations a killed
run left in flight (``workloads/inflight.py``), on canned engine answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_engine import FakeRuntime
from toolhive_compose import cancel
from toolhive_compose.errors import Cancelled, EngineError
from toolhive_compose.runtime import Conflict, ContainerParams, NameInUse, PullProgress
from toolhive_compose.runtime.pulls import pull_with_progress
from toolhive_compose.workloads.inflight import ContainerGone, create_container, start_container

EVENTS: list[dict[str, Any]] = [
    {"status": "Pulling from thc/echo", "id": "1.0.0"},
    {"status": "Pulling fs layer", "id": "a"},
    {"status": "Pulling fs layer", "id": "b"},
    {"status": "Downloading", "id": "a", "progressDetail": {"current": 500, "total": 1000}},
    {"status": "Downloading", "id": "b", "progressDetail": {"current": 100, "total": 3000}},
    {"status": "Download complete", "id": "a"},
    {"status": "Pull complete", "id": "b"},
    {"status": "Status: Downloaded newer image for thc/echo:1.0.0"},
]


def test_pull_progress_sums_the_layers() -> None:
    seen: list[PullProgress] = []
    pull_with_progress("img", lambda: iter(EVENTS), timeout=5, progress=seen.append, abort=_no)
    assert (seen[4].done, seen[4].total) == (600, 4000)
    assert (seen[-1].done, seen[-1].total) == (4000, 4000)
    assert seen[-1].status.startswith("Status: Downloaded")


def test_pull_error_event_is_the_error() -> None:
    events = [{"status": "Pulling fs layer", "id": "a"}, {"error": "manifest unknown"}]
    with pytest.raises(EngineError, match=r"^manifest unknown$"):
        pull_with_progress("img", lambda: iter(events), timeout=5, progress=None, abort=_no)


def test_pull_times_out_and_aborts_the_stream() -> None:
    aborted = threading.Event()

    def stalled() -> Iterator[dict[str, Any]]:
        yield EVENTS[0]
        aborted.wait(10)  # the engine stops answering until the connection is closed
        raise OSError("connection closed")

    began = time.monotonic()
    with pytest.raises(EngineError, match=r"timed out after 0\.3s") as err:
        pull_with_progress("img", stalled, timeout=0.3, progress=None, abort=aborted.set)
    assert aborted.is_set() and time.monotonic() - began < 5
    assert err.value.hint and "docker pull img" in err.value.hint


def test_a_cancelled_pull_stops() -> None:
    token = cancel.Token()
    token.cancel("interrupted")
    aborted = threading.Event()

    def slow() -> Iterator[dict[str, Any]]:
        aborted.wait(10)
        yield from ()

    with cancel.scope(token), pytest.raises(Cancelled):
        pull_with_progress("img", slow, timeout=None, progress=None, abort=aborted.set)
    assert aborted.is_set()


def _no() -> None:
    pass


# -- in-flight engine work --------------------------------------------------------------------
class Racing(FakeRuntime):
    """A fake engine on which a name is taken once (another process's container)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken_by: str = ""
        self.start_error: Exception | None = None

    def create(self, params: ContainerParams) -> str:
        if self.taken_by and self.taken_by in self.containers:
            raise NameInUse(
                f'conflict: already in use by container "{self.taken_by}"', self.taken_by
            )
        return super().create(params)

    def start(self, container_id: str) -> None:
        if self.start_error is not None:
            error, self.start_error = self.start_error, None
            raise error
        super().start(container_id)


PARAMS = ContainerParams(
    name="w", image="img:1",
    labels={"toolhive-compose.project": "p", "toolhive-compose.config-hash": "sha256:new"},
)  # fmt: skip


def _taken(engine: Racing, state: str, **labels: str) -> str:
    cid = engine.add("w", state=state, **labels).id
    engine.taken_by = cid
    return cid


def test_the_killed_runs_create_of_the_same_spec_is_adopted() -> None:
    engine = Racing()
    cid = _taken(engine, "created", **PARAMS.labels)
    assert create_container(engine, PARAMS) == cid
    assert ("remove", cid) not in engine.calls


@pytest.mark.parametrize(
    ("state", "labels"),
    [
        ("exited", {"toolhive-compose.project": "p", "toolhive-compose.config-hash": "sha256:old"}),
        ("dead", {}),  # whoever made it, a dead container only holds the name
        ("removing", {}),  # its removal is waited out
    ],
)
def test_the_name_is_freed_then_the_container_made(state: str, labels: dict[str, str]) -> None:
    engine = Racing()
    cid = _taken(engine, state, **labels)
    made = create_container(engine, PARAMS)
    assert made != cid and ("remove", cid) in engine.calls
    assert engine.containers[made].labels == PARAMS.labels


def test_a_name_taken_by_someone_else_is_an_error_naming_it() -> None:
    engine = Racing()
    cid = _taken(engine, "running", **{"toolhive-compose.project": "other"})
    with pytest.raises(EngineError, match=f"taken by container {cid[:12]}"):
        create_container(engine, PARAMS)
    assert ("remove", cid) not in engine.calls


def test_starting_a_container_being_removed_says_it_is_gone() -> None:
    engine = Racing()
    cid = engine.add("w", state="removing").id
    engine.start_error = Conflict("cannot start: container is marked for removal")
    with pytest.raises(ContainerGone):
        start_container(engine, cid)
    assert cid not in engine.containers


@pytest.mark.parametrize(
    "says",
    ["task {cid}: already exists", "id already in use"],  # the second: the old shim lives on
)
def test_a_task_the_crashed_engine_left_makes_the_container_gone(says: str) -> None:
    engine = Racing()
    cid = engine.add("w", state="exited").id
    engine.start_error = EngineError(f"cannot start container {cid[:12]}: {says.format(cid=cid)}")
    with pytest.raises(ContainerGone, match="lost track"):
        start_container(engine, cid)
    assert cid not in engine.containers


def test_other_conflicts_on_start_stay_errors() -> None:
    engine = Racing()
    cid = engine.add("w", state="paused").id
    engine.start_error = Conflict("cannot start a paused container, try unpause instead")
    with pytest.raises(Conflict):
        start_container(engine, cid)
    assert engine.containers[cid].state == "paused"
