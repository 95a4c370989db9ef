"""A dependency-aware parallel runner, independent of what the items are.

Items whose dependencies all succeeded run concurrently, at most ``parallelism`` at a time.
A failure (an exception, or running past ``timeout``) never stops independent items; the
items that depend on it, directly or not, are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    runner = _Runner(keys, deps, func, max(1, parallelism), timeout, on_start, on_outcome)
    return runner.run()


class _Runner(Generic[K]):
    def __init__(self, keys, deps, func, parallelism, timeout, on_start, on_outcome) -> None:  # type: ignore[no-untyped-def]
        self.order = list(keys)
        self.deps = {k: [d for d in deps.get(k, ()) if d in set(keys)] for k in keys}
        self.func = func
        self.parallelism = parallelism
        self.timeout = timeout
        self.on_start = on_start
        self.on_outcome = on_outcome
        self.outcomes: dict[K, Outcome[K]] = {}
        self.running: dict[Future[None], tuple[K, float]] = {}

    def run(self) -> dict[K, Outcome[K]]:
        # Timed-out threads cannot be killed; extra workers keep the pool from starving.
        pool = ThreadPoolExecutor(max_workers=self.parallelism * 2)
        try:
            while len(self.outcomes) < len(self.order):
                self._skip_blocked()
                self._submit_ready(pool)
                if not self.running:
                    if len(self.outcomes) < len(self.order):
                        self._skip_blocked(force=True)
                    continue
                done = wait(self.running, timeout=self._wait_time(), return_when=FIRST_COMPLETED)
                self._collect(done.done)
                self._expire()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return self.outcomes

    def _ready(self, key: K) -> bool:
        if key in self.outcomes or any(key == k for k, _ in self.running.values()):
            return False
        return all(self.outcomes.get(d) and self.outcomes[d].state == DONE for d in self.deps[key])

    def _submit_ready(self, pool: ThreadPoolExecutor) -> None:
        for key in self.order:
            if len(self.running) >= self.parallelism:
                return
            if self._ready(key):
                if self.on_start:
                    self.on_start(key)
                self.running[pool.submit(self.func, key)] = (key, time.monotonic())

    def _skip_blocked(self, force: bool = False) -> None:
        changed = True
        while changed:
            changed = False
            for key in self.order:
                if key in self.outcomes:
                    continue
                states = [self.outcomes[d].state for d in self.deps[key] if d in self.outcomes]
                if any(s != DONE for s in states) or (force and not self._in_flight(key)):
                    self._finish(Outcome(key, SKIPPED))
                    changed = True

    def _in_flight(self, key: K) -> bool:
        return any(key == k for k, _ in self.running.values())

    def _collect(self, finished: set[Future[None]]) -> None:
        for future in finished:
            key, started = self.running.pop(future)
            error = future.exception()
            state = FAILED if error else DONE
            self._finish(Outcome(key, state, error, time.monotonic() - started))

    def _expire(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        for future, (key, started) in list(self.running.items()):
            if now - started >= self.timeout:
                del self.running[future]
                error = TimeoutError(f"timed out after {self.timeout:g}s")
                self._finish(Outcome(key, FAILED, error, now - started))

    def _wait_time(self) -> float | None:
        if self.timeout is None:
            return None
        oldest = min(started for _, started in self.running.values())
        return max(0.01, self.timeout - (time.monotonic() - oldest))

    def _finish(self, outcome: Outcome[K]) -> None:
        self.outcomes[outcome.key] = outcome
        if self.on_outcome:
            self.on_outcome(outcome)
