"""The dependency-aware parallel runner, with plain strings as items.

Concurrency is shown with events and barriers, not sleeps: an item that must run alongside
another waits for it, and would time out (failing the test) if the runner serialised them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from toolhive_compose import cancel
from toolhive_compose.apply.parallel import (
    DONE,
    FAILED,
    INTERRUPTED,
    NOT_STARTED,
    SKIPPED,
    Interrupt,
    Outcome,
    run_graph,
)
from toolhive_compose.errors import Cancelled
from toolhive_compose.state.atomic import atomic_write

WAIT = 5.0  # generous bound for anything that should happen at once


class Recorder:
    """Wraps a per-key function; records start/end order and the peak concurrency."""

    def __init__(self, work: Callable[[str], object] | None = None) -> None:
        self.work = work or (lambda key: None)
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.finished: list[str] = []
        self.active = 0
        self.peak = 0

    def __call__(self, key: str) -> None:
        with self.lock:
            self.started.append(key)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.work(key)
        finally:
            with self.lock:
                self.active -= 1
                self.finished.append(key)


def states(outcomes: dict[str, Outcome[str]]) -> dict[str, str]:
    return {k: o.state for k, o in outcomes.items()}


def test_order_respects_dependencies() -> None:
    deps = {"b": ["a"], "c": ["b"], "d": ["a", "c"], "e": []}
    rec = Recorder()
    outcomes = run_graph(["a", "b", "c", "d", "e"], deps, rec, parallelism=4)
    assert states(outcomes) == dict.fromkeys("abcde", DONE)
    for key, before in deps.items():
        for dep in before:
            assert rec.finished.index(dep) < rec.started.index(key), (dep, key)


def test_keys_listed_before_their_dependencies_still_wait() -> None:
    rec = Recorder()
    outcomes = run_graph(["c", "b", "a"], {"c": ["b"], "b": ["a"]}, rec, parallelism=3)
    assert rec.started == ["a", "b", "c"]
    assert states(outcomes) == dict.fromkeys("abc", DONE)


def test_independent_items_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=WAIT)
    rec = Recorder(lambda key: barrier.wait())
    outcomes = run_graph(["x", "y", "z"], {}, rec, parallelism=3)
    assert states(outcomes) == dict.fromkeys("xyz", DONE)  # a BrokenBarrierError would fail one
    assert rec.peak == 3


def test_dependants_start_as_soon_as_their_own_deps_finish() -> None:
    """b (needs a) runs while the slow, unrelated s is still running."""
    release_s = threading.Event()
    b_ran = threading.Event()

    def work(key: str) -> None:
        if key == "s":
            assert release_s.wait(WAIT)
        if key == "b":
            b_ran.set()
            release_s.set()

    outcomes = run_graph(["a", "s", "b"], {"b": ["a"]}, work, parallelism=4)
    assert b_ran.is_set()
    assert states(outcomes) == {"a": DONE, "s": DONE, "b": DONE}


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_parallelism_limit_is_honoured(limit: int) -> None:
    """Items meet at a barrier of ``limit`` parties: fewer at once would break it (a failed
    item), more at once would show in the peak."""
    barrier = threading.Barrier(limit, timeout=WAIT)
    rec = Recorder(lambda key: barrier.wait())
    keys = [f"k{i}" for i in range(limit * 3)]
    outcomes = run_graph(keys, {}, rec, parallelism=limit)
    assert states(outcomes) == dict.fromkeys(keys, DONE)
    assert rec.peak == limit


def test_workers_are_reused_and_leave_when_the_run_ends() -> None:
    """At most ``parallelism`` threads run 60 items (a thread per item cost its start in the
    main thread, and its own engine connection); none of them is left once the run is over."""
    rec = Recorder()
    seen: set[int] = set()

    def work(key: str) -> None:
        seen.add(threading.get_ident())
        rec(key)

    keys = [f"k{i}" for i in range(60)]
    outcomes = run_graph(keys, {}, work, parallelism=3)
    assert states(outcomes) == dict.fromkeys(keys, DONE)
    assert 1 <= len(seen) <= 3
    deadline = time.monotonic() + WAIT
    while any(t.name.startswith("run-graph-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "worker threads outlived the run"
        time.sleep(0.01)


def test_a_worker_whose_item_timed_out_is_not_counted_free() -> None:
    """The timed-out item's worker is still busy: the items after it run on the other worker
    at once, not queued behind the stuck one (which ends only when the last of them ran)."""
    release = threading.Event()
    threads: dict[str, int] = {}
    quick = [f"q{i}" for i in range(10)]

    def work(key: str) -> None:
        threads[key] = threading.get_ident()
        if key == "stuck":
            release.wait(WAIT)  # ignores its cancellation, as a blocked engine call would
            return
        time.sleep(0.05)
        if key == quick[-1]:
            release.set()

    began = time.monotonic()
    outcomes = run_graph(["stuck", *quick], {}, work, parallelism=2, timeout=0.3)
    assert time.monotonic() - began < WAIT / 2, "an item waited for the stuck one's worker"
    assert states(outcomes) == dict.fromkeys(["stuck", *quick], DONE)
    assert outcomes["stuck"].late
    assert {threads[k] for k in quick} == {threads[quick[0]]} != {threads["stuck"]}


def test_parallelism_below_one_means_one() -> None:
    rec = Recorder()
    run_graph(["a", "b", "c"], {}, rec, parallelism=0)
    assert rec.peak == 1


def test_failure_skips_dependants_transitively_but_not_independents() -> None:
    def work(key: str) -> None:
        if key == "a":
            raise RuntimeError("a broke")

    deps = {"b": ["a"], "c": ["b"], "d": ["c", "x"], "y": ["x"]}
    rec = Recorder(work)
    outcomes = run_graph(["a", "b", "c", "d", "x", "y", "z"], deps, rec, parallelism=2)
    assert states(outcomes) == {
        "a": FAILED,
        "b": SKIPPED,
        "c": SKIPPED,
        "d": SKIPPED,
        "x": DONE,
        "y": DONE,
        "z": DONE,
    }
    assert isinstance(outcomes["a"].error, RuntimeError)
    assert str(outcomes["a"].error) == "a broke"
    assert outcomes["b"].error is None
    assert not {"b", "c", "d"} & set(rec.started)


def test_timeout_cancels_the_item_and_moves_on() -> None:
    def work(key: str) -> None:
        if key == "hang":
            cancel.sleep(WAIT)  # stops at once when cancelled, as engine calls do

    rec = Recorder(work)
    began = time.monotonic()
    outcomes = run_graph(
        ["hang", "after-hang", "other"], {"after-hang": ["hang"]}, rec, parallelism=2, timeout=0.3
    )
    elapsed = time.monotonic() - began
    assert states(outcomes) == {"hang": FAILED, "after-hang": SKIPPED, "other": DONE}
    assert isinstance(outcomes["hang"].error, TimeoutError)
    assert "timed out after 0.3s" in str(outcomes["hang"].error)
    assert outcomes["hang"].seconds >= 0.3
    assert elapsed < WAIT - 1, "the runner waited for the hung item instead of cancelling it"


def test_a_timed_out_item_keeps_its_slot_until_it_has_stopped() -> None:
    """With parallelism 1, nothing else runs while a timed-out item is still running."""

    def work(key: str) -> None:
        if key == "slow":
            time.sleep(0.6)  # ignores the cancellation (no engine call, no write)

    rec = Recorder(work)
    outcomes = run_graph(["slow", "b", "c"], {}, rec, parallelism=1, timeout=0.2)
    assert rec.peak == 1
    assert rec.finished.index("slow") < rec.started.index("b")
    assert states(outcomes) == {"slow": DONE, "b": DONE, "c": DONE}


def test_a_late_success_is_done_not_failed() -> None:
    outcomes = run_graph(["slow"], {}, lambda key: time.sleep(0.5), timeout=0.1)
    assert outcomes["slow"].state == DONE and outcomes["slow"].late
    assert outcomes["slow"].seconds >= 0.5


def test_a_timed_out_item_cannot_write_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "state.json"
    target.write_bytes(b"before")

    def work(key: str) -> None:
        time.sleep(0.5)  # past the timeout
        atomic_write(target, b"late result")

    outcomes = run_graph(["w"], {}, work, timeout=0.1)
    assert outcomes["w"].state == FAILED and isinstance(outcomes["w"].error, TimeoutError)
    assert target.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left


def test_interrupt_starts_nothing_more_and_lets_running_items_finish() -> None:
    interrupt = Interrupt(grace=WAIT)

    def work(key: str) -> None:
        if key == "a":
            interrupt.request()  # Ctrl-C while a and b run
            time.sleep(0.2)

    rec = Recorder(work)
    barrier_keys = ["a", "b", "c", "d"]
    outcomes = run_graph(barrier_keys, {"d": ["a"]}, rec, parallelism=2, interrupt=interrupt)
    assert states(outcomes) == {"a": DONE, "b": DONE, "c": NOT_STARTED, "d": NOT_STARTED}
    assert sorted(rec.started) == ["a", "b"]


def test_interrupt_cancels_running_items_after_the_grace() -> None:
    interrupt = Interrupt(grace=0.2)

    def work(key: str) -> None:
        interrupt.request()
        cancel.sleep(WAIT)

    began = time.monotonic()
    outcomes = run_graph(["a", "b"], {}, work, parallelism=1, interrupt=interrupt)
    assert states(outcomes) == {"a": INTERRUPTED, "b": NOT_STARTED}
    assert isinstance(outcomes["a"].error, Cancelled)
    assert time.monotonic() - began < WAIT - 1


def test_a_second_interrupt_stops_waiting() -> None:
    interrupt = Interrupt(grace=WAIT)
    release = threading.Event()

    def work(key: str) -> None:
        interrupt.request()
        interrupt.request()
        release.wait(WAIT)  # does not even look at the cancellation

    began = time.monotonic()
    try:
        outcomes = run_graph(["a"], {}, work, interrupt=interrupt)
    finally:
        release.set()
    assert states(outcomes) == {"a": INTERRUPTED}
    assert time.monotonic() - began < WAIT - 1


def test_outcome_for_every_key_and_callbacks() -> None:
    started: list[str] = []
    reported: list[Outcome[str]] = []
    lock = threading.Lock()

    def on_start(key: str) -> None:
        with lock:
            started.append(key)

    def on_outcome(outcome: Outcome[str]) -> None:
        with lock:
            reported.append(outcome)

    def work(key: str) -> None:
        if key == "bad":
            raise ValueError("nope")

    keys = ["ok1", "bad", "dep", "ok2"]
    outcomes = run_graph(
        keys, {"dep": ["bad"]}, work, parallelism=2, on_start=on_start, on_outcome=on_outcome
    )
    assert set(outcomes) == set(keys)
    assert all(o.key == k for k, o in outcomes.items())
    assert sorted(started) == ["bad", "ok1", "ok2"]  # a skipped item never starts
    assert sorted(o.key for o in reported) == sorted(keys)  # each reported exactly once
    assert {o.key: o.state for o in reported} == states(outcomes)
    assert all(o.seconds >= 0 for o in outcomes.values())


def test_unknown_and_missing_dependencies_are_ignored() -> None:
    outcomes = run_graph(["a", "b"], {"a": ["not-a-key"], "zzz": ["a"]}, Recorder())
    assert states(outcomes) == {"a": DONE, "b": DONE}


def test_empty_graph() -> None:
    assert run_graph([], {}, Recorder()) == {}


def test_dependency_cycle_is_skipped_not_hung() -> None:
    outcomes = run_graph(["a", "b", "c"], {"a": ["b"], "b": ["a"]}, Recorder())
    assert states(outcomes) == {"a": SKIPPED, "b": SKIPPED, "c": DONE}


def test_a_base_exception_in_an_item_is_a_failure() -> None:
    def work(key: str) -> None:
        raise KeyboardInterrupt  # a BaseException: still just this item's failure

    outcomes = run_graph(["a", "b"], {"b": ["a"]}, work)
    assert states(outcomes) == {"a": FAILED, "b": SKIPPED}


def test_more_hung_items_than_workers_do_not_fail_the_rest() -> None:
    """Timed-out items are cancelled one after the other; items after them still really run."""

    def work(key: str) -> None:
        if key.startswith("hang"):
            cancel.sleep(WAIT)

    rec = Recorder(work)
    keys = ["hang1", "hang2", "hang3", "hang4", "ok1", "ok2"]
    outcomes = run_graph(keys, {}, rec, parallelism=1, timeout=0.2)
    assert states(outcomes) == {
        "hang1": FAILED,
        "hang2": FAILED,
        "hang3": FAILED,
        "hang4": FAILED,
        "ok1": DONE,
        "ok2": DONE,
    }
    assert {"ok1", "ok2"} <= set(rec.finished)
    assert rec.peak == 1


def test_a_timed_out_item_does_not_keep_the_process_alive() -> None:
    """`thv apply --timeout` bounds the command: a stuck engine call is cancelled."""
    import subprocess
    import sys

    code = (
        "from toolhive_compose import cancel\n"
        "from toolhive_compose.apply.parallel import run_graph\n"
        "def work(key):\n"
        "    if key == 'hang':\n"
        "        cancel.sleep(60)\n"
        "out = run_graph(['hang', 'ok'], {}, work, parallelism=2, timeout=0.2)\n"
        "print(sorted((k, o.state) for k, o in out.items()))\n"
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, check=True
    )
    assert result.stdout.strip() == "[('hang', 'failed'), ('ok', 'done')]"
    assert time.monotonic() - began < 20, "the process waited for the timed-out item"
