"""ToolHive's per-file lock: ``flock`` on a ``<name>.lock`` file that is deleted after each use.

As ToolHive (``pkg/lockfile``, gofrs/flock): the lock file is opened ``O_CREAT|O_RDONLY``
(0600), locked shared or exclusive without blocking, retried every 100 ms for up to 1 s;
on release it is unlocked, then deleted.

Deleting a lock file others may be waiting on needs care to keep ONE holder.  Here:

- a holder checks, once it has the lock, that the path still names the file it locked
  (same device and inode); when it does not (the file was deleted or replaced meanwhile), it
  has locked a file nobody else will look at, so it lets go and starts over;
- on release, the holder unlocks, then deletes the file only if it can take the lock again
  at once and the path still names that file: so a waiter that got the lock in between keeps
  it and its file, and nobody can hold the deleted file's lock while believing it current.

ToolHive unlocks then deletes without either check (and its timed-out waiters delete too), so
with a ToolHive process in the race a lock file can still vanish under a holder; nothing here
depends on it not vanishing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import FileBusy, StateError

RETRY = 0.1
TIMEOUT = 1.0


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, timeout: float = TIMEOUT) -> Iterator[None]:
    """Hold ``path`` locked (``shared`` or exclusive) for the ``with`` block.

    A reader in a directory it cannot write (a read-only state directory) reads unlocked:
    nobody who could race it can write there either."""
    fd = _acquire(path, shared, timeout)
    if fd < 0:
        yield
        return
    try:
        yield
    finally:
        _release(fd, path)


def _acquire(path: Path, shared: bool, timeout: float) -> int:
    flag = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = _open(path)
        except _Unwritable:
            if shared:
                return -1
            raise
        if _try(fd, flag):
            if _names(path, fd):
                return fd
            fcntl.flock(fd, fcntl.LOCK_UN)  # locked a file already deleted: start over
            os.close(fd)
            continue
        os.close(fd)
        if time.monotonic() >= deadline:
            raise FileBusy(
                f"could not lock {path}: another process held it for {timeout:g}s",
                hint="another thv (or ToolHive) command is updating this workload; try again",
            )
        time.sleep(RETRY)


def _release(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
        if _try(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):  # nobody took it meanwhile
            if _names(path, fd):
                with contextlib.suppress(OSError):
                    path.unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _Unwritable(StateError):
    """The lock file cannot be created: the directory is read-only or not ours."""


def _open(path: Path) -> int:
    try:
        try:
            return os.open(path, os.O_CREAT | os.O_RDONLY, 0o600)
        except FileNotFoundError:  # the directory first (rarely: once per state directory)
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            return os.open(path, os.O_CREAT | os.O_RDONLY, 0o600)
    except OSError as exc:
        error = _Unwritable if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else StateError
        raise error(f"cannot lock {path}: {exc.strerror or exc}") from None


def _try(fd: int, flag: int) -> bool:
    try:
        fcntl.flock(fd, flag)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise StateError(f"cannot lock: {exc.strerror or exc}") from None
    return True


def _names(path: Path, fd: int) -> bool:
    """True when ``path`` is (still) the file open as ``fd``."""
    try:
        here = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)
