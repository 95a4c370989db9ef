"""Atomic file writes: temp file in the same directory, fsync, chmod, then rename or link.

A cancelled action (:mod:`toolhive_compose.cancel`) writes nothing: the check comes right
before the file is published."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..cancel import checkpoint


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, dir_mode: int = 0o750) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new, never half."""
    tmp = _temp_copy(path, data, mode, dir_mode)
    try:
        checkpoint()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
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
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _temp_copy(path: Path, data: bytes, mode: int, dir_mode: int) -> str:
    """``data`` written and fsynced to a dot-temp file beside ``path`` (ToolHive's naming)."""
    path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp
