"""Atomic file writes: temp file in the same directory, fsync, chmod, then rename or link.

A write that fails (a full disk, a read-only or foreign directory) leaves the old file as it
was and no temp file behind, and is a :class:`~toolhive_compose.errors.StateError` naming the
file and the reason.  A cancelled action (:mod:`toolhive_compose.cancel`) writes nothing: the
check comes right before the file is published (or deleted).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from ..cancel import checkpoint
from ..errors import StateError

_HINTS = {
    errno.ENOSPC: "free some space on that file system, then run the command again",
    errno.EDQUOT: "free some space (the disk quota is used up), then run the command again",
    errno.EFBIG: "the file size limit (ulimit -f) is too small for it",
    errno.EROFS: "the state directory is on a read-only file system",
    errno.EACCES: "the state directory must be writable by this user",
    errno.EPERM: "the state directory must be writable by this user",
}


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, dir_mode: int = 0o750) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new, never half."""
    tmp = _temp_copy(path, data, mode, dir_mode)
    try:
        checkpoint()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def atomic_create(path: Path, data: bytes, *, mode: int = 0o600, dir_mode: int = 0o750) -> bool:
    """Publish ``path`` only if it does not exist yet (temp file + hard link).

    Returns False when the file already existed.
    """
    tmp = _temp_copy(path, data, mode, dir_mode)
    try:
        checkpoint()
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _temp_copy(path: Path, data: bytes, mode: int, dir_mode: int) -> str:
    """``data`` written and fsynced to a dot-temp file beside ``path`` (ToolHive's naming)."""
    try:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
        except FileNotFoundError:  # the directory first (rarely: once per state directory)
            path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    return tmp


def write_error(path: Path, exc: OSError) -> StateError:
    """``cannot write <path>: <reason>``, with what to do about it when that is clear."""
    return StateError(
        f"cannot write {path}: {exc.strerror or exc}; it was left as it was",
        hint=_HINTS.get(exc.errno or 0),
    )


def remove(path: Path) -> None:
    """Delete ``path``; one already gone is fine, one that cannot go is a StateError."""
    checkpoint()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StateError(
            f"cannot delete {path}: {exc.strerror or exc}", hint=_HINTS.get(exc.errno or 0)
        ) from None


def read_bytes(path: Path) -> bytes | None:
    """``path``'s bytes; None when it does not exist; a StateError when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None
