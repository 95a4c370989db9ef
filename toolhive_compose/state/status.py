"""ToolHive's workload status files: ``$XDG_DATA_HOME/toolhive/statuses/<name>.json``.

Same format, locking and semantics as ToolHive's file status manager: ``created_at`` is kept
across updates, a status update keeps the PID, ``reset_pid_if_match`` clears the PID only when
it is still the caller's, times are RFC 3339 with nanoseconds and the local offset.  Each
write holds ``<name>.lock`` exclusively (:mod:`.filelock`).  A plain read takes no lock: every
writer, ToolHive's and ours, replaces the file atomically (temp file, fsync, rename), so a read
sees one whole version — the same one a read under the shared lock would have seen just before
or after the writer's turn.  A read that finds damage goes again under the shared lock, as
ToolHive's does, since what it does next (repair, keep a ``.corrupted`` copy) writes.  Not
locking spares each read a lock file's create and unlink: 2,000 of them were ~0.3 s of a
no-op ``thv plan``, and a plan never waits for a proxy's status update.

Damage is handled as ToolHive handles it (:mod:`.status_format`): a file its three repairs
fix is rewritten repaired; one they cannot fix is copied to ``<name>.json.corrupted`` (the
original stays); an empty file, or one with a wrongly typed field, is an error as it stands.
Reads then raise :class:`~toolhive_compose.errors.DamagedFile` naming the file.  Unlike
ToolHive (whose updates refuse a damaged file forever), :meth:`StatusStore.set_status` and
:meth:`StatusStore.set_running` — a workload's state being decided anew — replace a damaged
file once its bytes are safe in ``.corrupted``; the other updates leave it as it is.
Keys ToolHive's format does not have are kept on every rewrite.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import DamagedFile, StateError
from .atomic import atomic_write, read_bytes, remove
from .filelock import locked
from .status_format import (
    STATUSES,
    Damage,
    WorkloadStatus,
    decode,
    now_rfc3339,
    parse_rfc3339,
)

__all__ = [
    "STATUSES",
    "StatusStore",
    "WorkloadStatus",
    "legacy_pid_paths",
    "needs_pid_migration",
    "now_rfc3339",
    "parse_rfc3339",
]

CORRUPTED_SUFFIX = ".corrupted"
_HINT = "thv rm {name} removes the workload and this file; or repair the file"


class StatusStore:
    """Reads and writes status files under ToolHive's per-file lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name.replace('/', '-')}.json"

    def get(self, name: str) -> WorkloadStatus | None:
        """The status, repaired when ToolHive would repair it; :class:`DamagedFile` if not."""
        raw = read_bytes(self.path(name))
        if raw is None:
            return None
        with contextlib.suppress(Damage):
            status, repaired = decode(raw)
            if not repaired:
                return status
        with self._lock(name, shared=True):  # damage: read again, and repair, under the lock
            return self._read(name)

    def set_status(self, name: str, status: str, context: str = "") -> None:
        with self._lock(name):
            current = self._read_for_update(name)
            if current is None:
                now = now_rfc3339()
                new = WorkloadStatus(status, now, now, 0, context)
            else:
                new = current.updated(status=status, status_context=context)
            atomic_write(self.path(name), new.to_json())

    def set_pid(self, name: str, pid: int) -> None:
        """Record the proxy PID; a missing file is left missing (ToolHive's SetWorkloadPID)."""
        with self._lock(name):
            current = self._read_or_none(name)
            if current is not None:
                atomic_write(self.path(name), current.updated(process_id=pid).to_json())

    def set_running(self, name: str, pid: int, *, only_from: tuple[str, ...] = ()) -> bool:
        """Mark running with the serving proxy's PID in one write.  With ``only_from``, only
        when the file exists and says one of those (a stop that came first wins)."""
        with self._lock(name):
            current = self._read_for_update(name)
            if only_from and (current is None or current.status not in only_from):
                return False
            if current is None:
                now = now_rfc3339()
                new = WorkloadStatus("running", now, now, pid)
            else:
                new = current.updated(status="running", status_context="", process_id=pid)
            atomic_write(self.path(name), new.to_json())
            return True

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
        this, so it never overwrites ``stopping``/``removing`` nor re-creates a deleted file.
        A damaged file is :class:`DamagedFile` (its status is unknown: neither yes nor no)."""
        with self._lock(name):
            current = self._read(name)
            if current is None or current.status not in only_from:
                return False
            if pid is not None and current.process_id != pid:
                return False
            new = current.updated(status=status, status_context=context)
            atomic_write(self.path(name), new.to_json())
            return True

    def reset_pid_if_match(self, name: str, pid: int) -> bool:
        with self._lock(name):
            current = self._read_or_none(name)
            if current is None or current.process_id != pid:
                return False
            atomic_write(self.path(name), current.updated(process_id=0).to_json())
            return True

    def delete(self, name: str) -> None:
        """ToolHive's DeleteWorkloadStatus (a damaged file goes too; its copy stays)."""
        with self._lock(name):
            remove(self.path(name))

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
            new = current.updated(process_id=pid)
            atomic_write(self.path(name), new.to_json())
        for path in files:
            with contextlib.suppress(OSError):
                path.unlink()
        return new

    # -- reading ---------------------------------------------------------------------------
    def _read(self, name: str) -> WorkloadStatus | None:
        path = self.path(name)
        raw = read_bytes(path)
        if raw is None:
            return None
        try:
            status, repaired = decode(raw)
        except Damage as damage:
            raise self._damaged(name, path, raw, damage) from None
        if repaired:  # ToolHive writes the repair back; a failure to do so changes nothing
            with contextlib.suppress(StateError):
                atomic_write(path, status.to_json())
        return status

    def _damaged(self, name: str, path: Path, raw: bytes, damage: Damage) -> DamagedFile:
        reason = damage.reason
        if damage.repairable:  # ToolHive keeps a copy of what it could not repair
            backup = path.with_name(path.name + CORRUPTED_SUFFIX)
            with contextlib.suppress(StateError):
                atomic_write(backup, raw)
                reason += f" (a copy is kept as {backup.name})"
        return DamagedFile("status file", path, reason, hint=_HINT.format(name=name))

    def _read_or_none(self, name: str) -> WorkloadStatus | None:
        """For updates that only make sense on a readable file: damage reads as absent."""
        try:
            return self._read(name)
        except DamagedFile:
            return None

    def _read_for_update(self, name: str) -> WorkloadStatus | None:
        """For a status decided anew: a damaged file is copied to ``.corrupted`` (if it is
        not there yet) and then read as absent, so that the write replaces it."""
        try:
            return self._read(name)
        except DamagedFile:
            path = self.path(name)
            backup = path.with_name(path.name + CORRUPTED_SUFFIX)
            raw = read_bytes(path)
            if raw is not None and read_bytes(backup) != raw:
                atomic_write(backup, raw)
            return None

    @contextlib.contextmanager
    def _lock(self, name: str, *, shared: bool = False) -> Iterator[None]:
        with locked(self.directory / f"{name.replace('/', '-')}.lock", shared=shared):
            yield


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
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return 0
    return pid if pid > 0 else 0
