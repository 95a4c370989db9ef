"""Reading and writing a client's configuration file without ever losing it.

- Reading names the file in one sentence when it cannot be used: a directory, unreadable,
  not UTF-8.
- Every edit holds ToolHive's lock, an ``flock`` on ``<file>.lock`` (retried every 100 ms for
  5 s, the file removed after unlocking, as ToolHive does), so ``thv client register`` and an
  apply never interleave their writes.
- A write is atomic (temporary file, fsync, rename) and keeps the file's mode and owner; a
  symlinked file is written through its link.  The first write of a run keeps the previous
  version beside it as ``<file>.toolhive-compose.bak``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ThvError
from ..state.atomic import atomic_write

LOCK_TIMEOUT = 5.0
LOCK_RETRY = 0.1
BACKUP_SUFFIX = ".toolhive-compose.bak"
NEW_FILE_MODE = 0o600  # what ToolHive creates client files with


class ClientFileError(ThvError):
    """A client's file cannot be read, locked or written (the sentence names it)."""


def read_text(path: Path) -> str | None:
    """The file's text; None when it does not exist.  :class:`ClientFileError` otherwise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ClientFileError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise ClientFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientFileError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


@contextlib.contextmanager
def locked(path: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold ToolHive's lock on ``path`` (``<path>.lock``), waiting up to ``timeout`` seconds
    (default :data:`LOCK_TIMEOUT`)."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    lock_path = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        fd = _open_lock(lock_path)
        try:
            if _try_lock(fd) and _same_file(fd, lock_path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # not ours, or a holder removed the file under us: try again
        if time.monotonic() >= deadline:
            raise ClientFileError(
                f"cannot lock {path}: another program holds {lock_path} "
                f"(gave up after {timeout:g}s)",
                hint="wait for it to finish (thv client register?), then apply again",
            )
        time.sleep(LOCK_RETRY)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        with contextlib.suppress(OSError):
            lock_path.unlink()


def _open_lock(lock_path: Path) -> int:
    try:
        return os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise ClientFileError(f"cannot create the lock {lock_path}: {exc.strerror}") from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _same_file(fd: int, lock_path: Path) -> bool:
    """The locked descriptor is still the file at ``lock_path`` (not one a holder removed)."""
    try:
        on_disk = lock_path.stat()
    except FileNotFoundError:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    mine = os.fstat(fd)
    if (mine.st_dev, mine.st_ino) != (on_disk.st_dev, on_disk.st_ino):
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    return True


def write_text(path: Path, text: str, *, backup: bool) -> None:
    """Replace ``path``'s content atomically, keeping its mode and owner (a new file gets
    0600); with ``backup``, first keep the current version beside it."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        info = None
    mode = (info.st_mode & 0o7777) if info else NEW_FILE_MODE
    try:
        if backup and info is not None:
            backup_path = target.with_name(target.name + BACKUP_SUFFIX)
            atomic_write(backup_path, target.read_bytes(), mode=mode)
            _keep_owner(backup_path, info)
        atomic_write(target, text.encode("utf-8"), mode=mode)
        if info is not None:
            _keep_owner(target, info)
    except OSError as exc:
        raise ClientFileError(f"cannot write {target}: {exc.strerror or exc}") from None


def remove_file(path: Path) -> None:
    """Delete a file this tool created (once it holds nothing of anyone's)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ClientFileError(f"cannot remove {path}: {exc.strerror or exc}") from None


def _keep_owner(path: Path, info: os.stat_result) -> None:
    """As root, give the rewritten file back to its owner (a rename makes it root's)."""
    if os.geteuid() == 0 and (info.st_uid, info.st_gid) != (0, 0):
        with contextlib.suppress(OSError):
            os.chown(path, info.st_uid, info.st_gid)
