"""A tiny file system of a test's own (a tmpfs), to fill up or make read-only.

Root only: :func:`mount` says why not when it cannot.  Used by tests/test_state_dirs.py and
the reliability suite (bench/chaos_cases/state_damage.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path


def mount(path: Path, size: str = "256k") -> str | None:
    """Mount a tmpfs of ``size`` on ``path``; None when done, else why it was not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.strip()}"


def remount(path: Path, mode: str) -> None:
    """``mode``: ``ro`` or ``rw``."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Take every free byte of the file system holding ``path`` (a new file there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 4096)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")
    os.close(fd)
    return path
