"""ToolHive's workload status files: ``$XDG_DATA_HOME/toolhive/statuses/<name>.json``.

Same format, locking and semantics as ToolHive's file status manager: ``created_at`` is kept
across updates, a status update keeps the PID, ``reset_pid_if_match`` clears the PID only when
it is still the caller's, times are RFC 3339 with nanoseconds and the local offset.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..cancel import checkpoint
from ..errors import StateError
from .atomic import atomic_write

STATUSES = (
    "running", "stopped", "error", "starting", "stopping", "unhealthy", "removing", "unknown",
    "unauthenticated", "auth_retrying", "policy_stopped",
)  # fmt: skip
LOCK_RETRY = 0.1
LOCK_TIMEOUT = 1.0


def now_rfc3339() -> str:
    """Current time as Go's time.Time marshals it: nanoseconds and local offset."""
    ns = time.time_ns()
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = local.strftime("%z")
    offset = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + offset


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 with up to nanosecond precision (Python keeps microseconds)."""
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tz = rest[:digits], rest[digits:]
        value = f"{head}.{(frac + '000000')[:6]}{tz}"
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    status: str
    created_at: str
    updated_at: str
    process_id: int = 0
    status_context: str = ""

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"status": self.status}
        if self.status_context:
            doc["status_context"] = self.status_context
        doc.update(
            created_at=self.created_at, updated_at=self.updated_at, process_id=self.process_id
        )
        return json.dumps(doc, indent=2).encode()


class StatusStore:
    """Reads and writes status files under ToolHive's per-file lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name.replace('/', '-')}.json"

    def get(self, name: str) -> WorkloadStatus | None:
        with self._lock(name, shared=True):
            return self._read(name)

    def set_status(self, name: str, status: str, context: str = "") -> None:
        with self._lock(name):
            current = self._read(name)
            now = now_rfc3339()
            if current is None:
                new = WorkloadStatus(status, now, now, 0, context)
            else:
                new = replace(current, status=status, status_context=context, updated_at=now)
            atomic_write(self.path(name), new.to_json())

    def set_pid(self, name: str, pid: int) -> None:
        """Record the proxy PID; a missing file is left missing (ToolHive's SetWorkloadPID)."""
        with self._lock(name):
            current = self._read(name)
            if current is not None:
                new = replace(current, process_id=pid, updated_at=now_rfc3339())
                atomic_write(self.path(name), new.to_json())

    def set_running(self, name: str, pid: int) -> None:
        """Mark running with the serving proxy's PID in one write."""
        with self._lock(name):
            current = self._read(name)
            now = now_rfc3339()
            created = current.created_at if current else now
            atomic_write(self.path(name), WorkloadStatus("running", created, now, pid).to_json())

    def transition(
        self,
        name: str,
        status: str,
        context: str = "",
        *,
        only_from: tuple[str, ...],
        pid: int | None = None,
    ) -> bool:
        """Set ``status`` only if the file exists, says one of ``only_from`` and (when
        ``pid`` is given) still records that PID.  A proxy reporting its own failure uses
        this, so it never overwrites ``stopping``/``removing`` nor re-creates a deleted file."""
        with self._lock(name):
            current = self._read(name)
            if current is None or current.status not in only_from:
                return False
            if pid is not None and current.process_id != pid:
                return False
            new = replace(current, status=status, status_context=context, updated_at=now_rfc3339())
            atomic_write(self.path(name), new.to_json())
            return True

    def reset_pid_if_match(self, name: str, pid: int) -> bool:
        with self._lock(name):
            current = self._read(name)
            if current is None or current.process_id != pid:
                return False
            new = replace(current, process_id=0, updated_at=now_rfc3339())
            atomic_write(self.path(name), new.to_json())
            return True

    def delete(self, name: str) -> None:
        checkpoint()
        with self._lock(name), contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def migrate_legacy_pid(
        self, name: str, legacy_dir: Path, tmp_dir: Path | None = None
    ) -> WorkloadStatus | None:
        """ToolHive's PID migration (§3.1): a ``running`` status whose ``process_id`` is 0
        takes the PID from a legacy PID file, ``<legacy_dir>/toolhive-<name>.pid`` first, then
        ``$TMPDIR/toolhive-<name>.pid``; the legacy files are then deleted.

        Returns the status as it is afterwards.  Without a legacy file nothing is written and
        no exclusive lock is taken, so calling this on every read stays cheap.
        """
        files = [p for p in legacy_pid_paths(name, legacy_dir, tmp_dir) if p.is_file()]
        if not files:
            return self.get(name)
        with self._lock(name):
            current = self._read(name)
            if current is None or current.status != "running" or current.process_id:
                return current
            pid = next((p for p in map(_read_pid, files) if p > 0), 0)
            if not pid:
                return current
            new = replace(current, process_id=pid, updated_at=now_rfc3339())
            atomic_write(self.path(name), new.to_json())
        for path in files:
            with contextlib.suppress(OSError):
                path.unlink()
        return new

    def _read(self, name: str) -> WorkloadStatus | None:
        path = self.path(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read status file {path}: {exc.strerror}") from None
        return _decode(path, raw)

    @contextlib.contextmanager
    def _lock(self, name: str, *, shared: bool = False) -> Iterator[None]:
        self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        lock_path = self.directory / f"{name.replace('/', '-')}.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            _acquire(fd, shared, lock_path)
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    lock_path.unlink()
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _acquire(fd: int, shared: bool, path: Path) -> None:
    flag = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, flag)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise StateError(f"could not acquire lock {path}: timeout after 1s") from None
            time.sleep(LOCK_RETRY)


def _decode(path: Path, raw: bytes) -> WorkloadStatus:
    try:
        doc = json.loads(raw)
        status, created = doc["status"], doc["created_at"]
        if not status or not created:
            raise ValueError("status and created_at are required")
        return WorkloadStatus(
            status=str(status),
            created_at=str(created),
            updated_at=str(doc.get("updated_at") or created),
            process_id=int(doc.get("process_id") or 0),
            status_context=str(doc.get("status_context") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(f"status file {path} is corrupt: {exc}") from None


def legacy_pid_paths(name: str, legacy_dir: Path, tmp_dir: Path | None = None) -> list[Path]:
    """Where older ToolHive releases kept a workload's proxy PID, in lookup order."""
    base = f"toolhive-{name.replace('/', '-')}.pid"
    return [legacy_dir / base, (tmp_dir or Path(tempfile.gettempdir())) / base]


def needs_pid_migration(status: WorkloadStatus | None) -> bool:
    """True when ToolHive would look for a legacy PID file: ``running`` without a PID."""
    return status is not None and status.status == "running" and status.process_id == 0


def _read_pid(path: Path) -> int:
    """The decimal PID in a legacy PID file (whitespace trimmed); 0 when unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0
