"""Cooperative cancellation of work running in a thread: a timed-out or interrupted action
stops at its next engine call or state write, and its late result cannot change anything.

A thread cannot be killed, so an action that runs past its timeout (or is interrupted with
Ctrl-C) is *cancelled*: its :class:`Token` is set, and every point where the action would
touch the world checks it (:func:`checkpoint`): the engine clients before each request, the
atomic state writes and deletes, the waits for a proxy and for MCP readiness.  The first such
point raises :class:`~toolhive_compose.errors.Cancelled`, so nothing the action does after the
cancellation reaches the engine or the state directory.  A request already sent cannot be
recalled; its socket timeout is bounded by the token's deadline (:func:`io_timeout`), so the
thread ends soon after.  The runner (:mod:`toolhive_compose.apply.parallel`) holds the action's
parallelism slot until the thread has really ended.

The token is per thread (a context variable set by :func:`scope`); code running outside any
scope (the proxy process, a plain command) is never cancelled.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator

from .errors import Cancelled

GRACE = 15.0  # seconds an engine call already under way may still take once the deadline passed


class Token:
    """Cancellation for one piece of work: :meth:`cancel` once, checked anywhere."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline  # time.monotonic() after which the work is cancelled
        self.reason = ""
        self._event = threading.Event()

    def cancel(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work was cancelled."""
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")

    def remaining(self) -> float | None:
        """Seconds to the deadline (never negative); None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until cancelled; True if cancelled."""
        return self._event.wait(seconds)


_current: contextvars.ContextVar[Token | None] = contextvars.ContextVar("thc_cancel", default=None)


@contextlib.contextmanager
def scope(token: Token) -> Iterator[Token]:
    """Run the body under ``token`` (this thread only)."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def current() -> Token | None:
    return _current.get()


def checkpoint() -> None:
    """Raise :class:`Cancelled` when the current work was cancelled; otherwise nothing."""
    token = _current.get()
    if token is not None:
        token.check()


def io_timeout(default: float) -> float:
    """A socket timeout for an engine call starting now: ``default``, but never past the
    current work's deadline by more than :data:`GRACE`."""
    token = _current.get()
    remaining = token.remaining() if token is not None else None
    if remaining is None:
        return default
    return max(1.0, min(default, remaining + GRACE))


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends at once (raising :class:`Cancelled`) when cancelled."""
    token = _current.get()
    if token is None:
        time.sleep(seconds)
    elif token.wait(seconds):
        token.check()
