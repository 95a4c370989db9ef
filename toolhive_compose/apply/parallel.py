"""A dependency-aware parallel runner, independent of what the items are.

Items whose dependencies all succeeded run concurrently, at most ``parallelism`` at a time.
A failure (an exception, or running past ``timeout``) never stops independent items; the
items that depend on it, directly or not, are skipped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True, slots=True)
class Outcome(Generic[K]):
    key: K
    state: str  # done | failed | skipped
    error: BaseException | None = None
    seconds: float = 0.0


def run_graph(
    keys: Sequence[K],
    deps: Mapping[K, Sequence[K]],
    func: Callable[[K], None],
    *,
    parallelism: int = 8,
    timeout: float | None = None,
    on_start: Callable[[K], None] | None = None,
    on_outcome: Callable[[Outcome[K]], None] | None = None,
) -> dict[K, Outcome[K]]:
    """Run ``func(key)`` for every key after its deps; returns every key's outcome."""
    runner: _Runner[K] = _Runner(
        keys, deps, func, max(1, parallelism), timeout, on_start, on_outcome
    )
    return runner.run()


class _Runner(Generic[K]):
    """One daemon thread per started item; results come back through a queue.

    Not a thread pool: a timed-out item cannot be killed, and a pool would both lend its
    worker to it for good (starving later items) and join it at interpreter exit (keeping
    ``thv apply --timeout`` from ending).  A daemon thread does neither.
    """

    def __init__(self, keys, deps, func, parallelism, timeout, on_start, on_outcome) -> None:  # type: ignore[no-untyped-def]
        self.order = list(keys)
        self.deps = {k: [d for d in deps.get(k, ()) if d in set(keys)] for k in keys}
        self.func = func
        self.parallelism = parallelism
        self.timeout = timeout
        self.on_start = on_start
        self.on_outcome = on_outcome
        self.outcomes: dict[K, Outcome[K]] = {}
        self.running: dict[K, float] = {}  # started, not finished nor timed out: start time
        self.results: queue.SimpleQueue[tuple[K, BaseException | None]] = queue.SimpleQueue()

    def run(self) -> dict[K, Outcome[K]]:
        while len(self.outcomes) < len(self.order):
            self._skip_blocked()
            self._submit_ready()
            if not self.running:
                if len(self.outcomes) < len(self.order):
                    self._skip_blocked(force=True)
                continue
            try:
                self._collect(*self.results.get(timeout=self._wait_time()))
                while True:  # everything else that finished meanwhile
                    self._collect(*self.results.get_nowait())
            except queue.Empty:
                pass
            self._expire()
        return self.outcomes

    def _ready(self, key: K) -> bool:
        if key in self.outcomes or key in self.running:
            return False
        return all(self.outcomes.get(d) and self.outcomes[d].state == DONE for d in self.deps[key])

    def _submit_ready(self) -> None:
        for key in self.order:
            if len(self.running) >= self.parallelism:
                return
            if self._ready(key):
                if self.on_start:
                    self.on_start(key)
                self.running[key] = time.monotonic()
                thread = threading.Thread(
                    target=self._work, args=(key,), name=f"run-graph-{key}", daemon=True
                )
                thread.start()

    def _work(self, key: K) -> None:
        try:
            self.func(key)
        except BaseException as exc:  # reported as this item's failure
            self.results.put((key, exc))
        else:
            self.results.put((key, None))

    def _skip_blocked(self, force: bool = False) -> None:
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

    def _collect(self, key: K, error: BaseException | None) -> None:
        started = self.running.pop(key, None)
        if started is None:  # it had timed out already: its late result is dropped
            return
        state = FAILED if error else DONE
        self._finish(Outcome(key, state, error, time.monotonic() - started))

    def _expire(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        for key, started in list(self.running.items()):
            if now - started >= self.timeout:
                del self.running[key]
                error = TimeoutError(f"timed out after {self.timeout:g}s")
                self._finish(Outcome(key, FAILED, error, now - started))

    def _wait_time(self) -> float | None:
        if self.timeout is None:
            return None
        oldest = min(self.running.values())
        return max(0.01, self.timeout - (time.monotonic() - oldest))

    def _finish(self, outcome: Outcome[K]) -> None:
        self.outcomes[outcome.key] = outcome
        if self.on_outcome:
            self.on_outcome(outcome)
