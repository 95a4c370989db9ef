"""A dependency-aware parallel runner, independent of what the items are.

Items whose dependencies all succeeded run concurrently, at most ``parallelism`` at a time,
each in a thread of its own under a cancellation token (:mod:`toolhive_compose.cancel`).  A
failure never stops independent items; the items that depend on it, directly or not, are
skipped.

Timeouts bound the work without ever oversubscribing ``parallelism``: an item running past
``timeout`` is *cancelled* — it stops at its next engine call or state write, which raises,
so a late result cannot change anything — and keeps its slot until its thread has really
ended.  Then it is reported: failed (timed out) if the cancellation stopped it, done (with
``late`` set) if it finished anyway.

An :class:`Interrupt` (Ctrl-C) stops the run: no new item starts (they are reported
``not started``), running ones get ``grace`` seconds to finish and are then cancelled; a
second request stops waiting at once (those still running are reported ``interrupted``;
being cancelled, they can no longer change anything).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .. import cancel
from ..errors import Cancelled

K = TypeVar("K", bound=Hashable)

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
NOT_STARTED, INTERRUPTED = "not started", "interrupted"
POLL = 0.25  # seconds between looks at an interrupt while waiting
GRACE = 30.0  # seconds running items get after an interrupt before they are cancelled


@dataclass(frozen=True, slots=True)
class Outcome(Generic[K]):
    key: K
    state: str  # done | failed | skipped | not started | interrupted
    error: BaseException | None = None
    seconds: float = 0.0
    late: bool = False  # done, but only after its timeout had passed


class Interrupt:
    """A request to stop a run, safe to make from a signal handler."""

    def __init__(self, grace: float = GRACE) -> None:
        self.grace = grace
        self.count = 0
        self.at = 0.0  # time.monotonic() of the first request
        self._wake: queue.SimpleQueue[object] | None = None

    def request(self) -> None:
        """First call: stop starting items; second: stop waiting for the running ones."""
        self.count += 1
        if self.count == 1:
            self.at = time.monotonic()
        if self._wake is not None:
            self._wake.put(None)  # SimpleQueue.put may be called from a signal handler

    @property
    def requested(self) -> bool:
        return self.count > 0


def run_graph(
    keys: Sequence[K],
    deps: Mapping[K, Sequence[K]],
    func: Callable[[K], None],
    *,
    parallelism: int = 8,
    timeout: float | None = None,
    on_start: Callable[[K], None] | None = None,
    on_outcome: Callable[[Outcome[K]], None] | None = None,
    interrupt: Interrupt | None = None,
) -> dict[K, Outcome[K]]:
    """Run ``func(key)`` for every key after its deps; returns every key's outcome."""
    runner: _Runner[K] = _Runner(keys, deps, func, max(1, parallelism), timeout)
    runner.on_start, runner.on_outcome = on_start, on_outcome
    return runner.run(interrupt or Interrupt())


@dataclass
class _Running:
    started: float
    token: cancel.Token
    timed_out: bool = False


@dataclass
class _Runner(Generic[K]):
    """Up to ``parallelism`` daemon worker threads, each running one item at a time; items
    go to them and results come back through queues.

    A worker is started only when every existing one is busy, and is reused for the next
    item: a thread per item cost its start (~0.1 ms of the main thread, holding the GIL the
    workers need) and a thread-local engine connection per item.  Daemon threads and no pool
    object: a timed-out item cannot be killed, and :mod:`concurrent.futures` would join it at
    interpreter exit.  Workers leave once the run ends (one that is still busy, after its item).
    """

    order: Sequence[K]
    raw_deps: Mapping[K, Sequence[K]]
    func: Callable[[K], None]
    parallelism: int
    timeout: float | None
    on_start: Callable[[K], None] | None = None
    on_outcome: Callable[[Outcome[K]], None] | None = None
    outcomes: dict[K, Outcome[K]] = field(default_factory=dict)
    running: dict[K, _Running] = field(default_factory=dict)
    results: queue.SimpleQueue[object] = field(default_factory=queue.SimpleQueue)
    jobs: queue.SimpleQueue[tuple[K, cancel.Token] | None] = field(
        default_factory=queue.SimpleQueue
    )
    workers: int = 0  # worker threads started
    idle: int = 0  # of them, those waiting for an item (counted by the main thread)

    def __post_init__(self) -> None:
        known = set(self.order)
        self.deps = {k: [d for d in self.raw_deps.get(k, ()) if d in known] for k in self.order}
        # Each wake-up looks only at what can change: the items not started yet (in order),
        # and blocked items only after an item ended otherwise than done.  Scanning every
        # item on every wake-up was quadratic (~1 s of the main thread at 2,000 items).
        self._waiting: list[K] = list(self.order)
        self._unsettled = False  # an item ended not done since the last _skip_blocked

    def run(self, interrupt: Interrupt) -> dict[K, Outcome[K]]:
        interrupt._wake = self.results
        try:
            while len(self.outcomes) < len(self.order):
                if interrupt.requested:
                    self._stop_starting(interrupt)
                    if interrupt.count > 1 or not self.running:
                        self._abandon()
                        break
                else:
                    self._skip_blocked()
                    self._submit_ready()
                if not self.running:
                    self._skip_blocked(force=True)
                    continue
                self._wait()
                self._expire()
        finally:
            interrupt._wake = None
            for _ in range(self.workers):
                self.jobs.put(None)  # each worker leaves when it gets one
        return self.outcomes

    # -- starting ------------------------------------------------------------------------
    def _ready(self, key: K) -> bool:
        if key in self.outcomes or key in self.running:
            return False
        return all(self.outcomes.get(d) and self.outcomes[d].state == DONE for d in self.deps[key])

    def _submit_ready(self) -> None:
        waiting = self._waiting
        kept: list[K] = []
        for i, key in enumerate(waiting):
            if key in self.outcomes or key in self.running:
                continue  # started or ended: never looked at again
            if len(self.running) >= self.parallelism:
                kept.extend(waiting[i:])
                break
            if self._ready(key):
                self._start(key)
            else:
                kept.append(key)
        self._waiting = kept

    def _start(self, key: K) -> None:
        if self.on_start:
            self.on_start(key)
        now = time.monotonic()
        deadline = None if self.timeout is None else now + self.timeout
        token = cancel.Token(deadline)
        self.running[key] = _Running(now, token)
        if self.idle:
            self.idle -= 1
        else:
            self.workers += 1
            name = f"run-graph-{self.workers}"
            threading.Thread(target=self._worker, name=name, daemon=True).start()
        self.jobs.put((key, token))

    def _worker(self) -> None:
        while (job := self.jobs.get()) is not None:
            key, token = job
            try:
                with cancel.scope(token):
                    self.func(key)
            except BaseException as exc:  # reported as this item's failure
                self.results.put((key, exc))
            else:
                self.results.put((key, None))

    # -- waiting -------------------------------------------------------------------------
    def _wait(self) -> None:
        try:
            self._collect(self.results.get(timeout=self._wait_time()))
            while True:  # everything else that finished meanwhile
                self._collect(self.results.get_nowait())
        except queue.Empty:
            pass

    def _wait_time(self) -> float:
        waits = [POLL]
        if self.timeout is not None:
            pending = [r.started for r in self.running.values() if not r.timed_out]
            if pending:
                waits.append(self.timeout - (time.monotonic() - min(pending)))
        return max(0.01, min(waits))

    def _collect(self, item: object) -> None:
        if item is None:  # an interrupt's wake-up
            return
        key: K
        error: BaseException | None
        key, error = item  # type: ignore[misc]
        run = self.running.pop(key, None)
        if run is None:  # abandoned already
            return
        self.idle += 1  # its worker takes the next item
        seconds = time.monotonic() - run.started
        if error is None:
            self._finish(Outcome(key, DONE, None, seconds, late=run.timed_out))
        elif isinstance(error, Cancelled) and run.timed_out:
            reason = f"timed out after {self.timeout:g}s (stopped before it finished)"
            self._finish(Outcome(key, FAILED, TimeoutError(reason), seconds))
        elif isinstance(error, Cancelled):
            self._finish(Outcome(key, INTERRUPTED, error, seconds))
        else:
            self._finish(Outcome(key, FAILED, error, seconds))

    def _expire(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        for run in self.running.values():
            if not run.timed_out and now - run.started >= self.timeout:
                run.timed_out = True
                run.token.cancel(f"timed out after {self.timeout:g}s")

    # -- stopping ------------------------------------------------------------------------
    def _stop_starting(self, interrupt: Interrupt) -> None:
        for key in self.order:
            if key not in self.outcomes and key not in self.running:
                self._finish(Outcome(key, NOT_STARTED))
        if time.monotonic() - interrupt.at >= interrupt.grace:
            for run in self.running.values():
                run.token.cancel("interrupted")

    def _abandon(self) -> None:
        """Stop waiting: whatever still runs is cancelled and reported interrupted."""
        now = time.monotonic()
        for key, run in list(self.running.items()):
            run.token.cancel("interrupted")
            del self.running[key]
            self._finish(Outcome(key, INTERRUPTED, Cancelled("interrupted"), now - run.started))

    def _skip_blocked(self, force: bool = False) -> None:
        if not (force or self._unsettled):
            return  # nothing ended otherwise than done: nothing new is blocked
        self._unsettled = False
        changed = True
        while changed:
            changed = False
            for key in self.order:
                if key in self.outcomes:
                    continue
                states = [self.outcomes[d].state for d in self.deps[key] if d in self.outcomes]
                if any(s != DONE for s in states) or (force and key not in self.running):
                    self._finish(Outcome(key, SKIPPED))
                    changed = True

    def _finish(self, outcome: Outcome[K]) -> None:
        self.outcomes[outcome.key] = outcome
        if outcome.state != DONE:
            self._unsettled = True
        if self.on_outcome:
            self.on_outcome(outcome)
