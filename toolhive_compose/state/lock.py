"""One command that changes workloads at a time per state directory: an flock naming its holder.

Every command that changes workloads (``apply``, ``down``, ``run``, ``start``, ``restart``,
``stop``, ``rm``, ``group create|rm``, ``upgrade apply``) and every change made through the
library takes ``<ours>/apply.lock``; a second one waits up to :data:`DEFAULT_WAIT` seconds
(``$THV_LOCK_TIMEOUT`` to change it), then fails with one sentence naming the holder's PID,
host and command.  Read-only commands never take it.

The lock is held per process and re-entered freely: ``apply`` holds it while its actions
(in several threads) start proxies and call the lifecycle, and ``thv stop`` holds it while the
library call it makes takes it again — neither waits on itself.  It is released when the
outermost holder leaves (or the process dies: the kernel drops an flock with its file).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import LockHeld, StateError

DEFAULT_WAIT = 5.0
LOCK_FILE = "apply.lock"
WAIT_ENV = "THV_LOCK_TIMEOUT"


@dataclass
class _Held:
    fd: int
    count: int = 1


_held: dict[str, _Held] = {}
_guard = threading.Lock()  # held while this process acquires: other threads then re-enter


@contextlib.contextmanager
def state_lock(
    directory: Path, *, wait: float | None = None, operation: str = "apply"
) -> Iterator[None]:
    """Hold ``<directory>/apply.lock``; after ``wait`` seconds fail naming the holder."""
    key = os.path.abspath(directory)
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
        else:
            held = _held[key] = _Held(_acquire(directory, _wait(wait), operation))
    try:
        yield
    finally:
        with _guard:
            held.count -= 1
            if held.count == 0:
                del _held[key]
                _release(held.fd)


def _wait(wait: float | None) -> float:
    if wait is not None:
        return wait
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, "")))
    except ValueError:
        return DEFAULT_WAIT


def _acquire(directory: Path, wait: float, operation: str) -> int:
    path = directory / LOCK_FILE
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StateError(
            f"cannot open the state lock {path}: {exc.strerror or exc}",
            hint=f"{directory} must be a writable directory",
        ) from None
    try:
        _wait_for(fd, path, wait)
        with contextlib.suppress(OSError):  # the holder's line is for messages only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {operation}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int) -> None:
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _wait_for(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StateError(f"cannot lock {path}: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"{_holder(path)} holds the state lock {path} (waited {wait:g}s)",
                    hint=f"wait for it to finish, or stop it; ${WAIT_ENV} sets the wait",
                ) from None
            time.sleep(0.1)


def _holder(path: Path) -> str:
    """``another command (thv apply, PID 123 on host)`` from the lock file's line."""
    try:
        text = path.read_bytes()[:512].decode("utf-8", errors="replace")
    except OSError:
        text = ""
    pid, _, rest = text.strip().partition(" ")
    host, _, operation = rest.partition(" ")
    if not pid.isdigit():
        return "another process (it left no readable note)"
    return f"another command ({operation or 'unknown'}, PID {pid} on {host or 'this host'})"
