"""One apply at a time per state directory: an flock that names its holder."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockHeld

DEFAULT_WAIT = 5.0


@contextlib.contextmanager
def state_lock(
    directory: Path, *, wait: float = DEFAULT_WAIT, operation: str = "apply"
) -> Iterator[None]:
    """Hold ``<directory>/apply.lock``; after ``wait`` seconds fail naming the holder."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "apply.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        _acquire(fd, path, wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {operation}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise LockHeld(
                    _holder_message(path), hint="wait for it to finish, or stop it"
                ) from None
            time.sleep(0.1)


def _holder_message(path: Path) -> str:
    try:
        pid, host, operation = ([*path.read_text().split(), "?", "?", "?"])[:3]
    except OSError:
        pid, host, operation = "?", "?", "?"
    return f"another {operation} (PID {pid} on {host}) holds the state lock {path}"
