"""Which project owns a group or an adopted workload: ``<ours>/ownership.json``.

ToolHive rewrites a group file as ``{name, registered_clients, skills, plugins}`` and a run
config as its own struct, dropping any other key.  A container this tool made carries its
project in a label, which nothing rewrites; a group, an adopted container (whose labels cannot
change) and an adopted remote workload have no such place, so their owner is recorded here::

    {"version": 1,
     "groups": {"dev": {"project": "team", "description": "Tools for development"}},
     "workloads": {"fetch": {"project": "team", "created_at": "2026-08-21T10:15:02.1+02:00"}}}

A workload's record holds its status file's ``created_at`` when it was adopted: ToolHive keeps
it across restarts and updates of the status, and a workload removed and made again gets a new
one — so a record never passes to a different workload of the same name.

Updates are read-modify-write under ``ownership.lock`` (an flock, never deleted), written
atomically; the file is small and changes only when ownership does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DamagedFile, StateError
from ..gojson import dumps
from .atomic import atomic_write, read_bytes

FILE = "ownership.json"
LOCK = "ownership.lock"
VERSION = 1
_HINT = (
    "it records which project owns each group and adopted workload; repair it, or delete it "
    "(those groups and workloads then read as unmanaged: thv apply --adopt takes them back)"
)


@dataclass(frozen=True, slots=True)
class Owner:
    project: str
    description: str = ""  # groups: the description the project declared
    created_at: str = ""  # workloads: the status file's created_at when adopted


class Ownership:
    """The ownership records of one state directory."""

    def __init__(self, ours: Path) -> None:
        self.path = ours / FILE
        self._lock_path = ours / LOCK

    # -- reading ----------------------------------------------------------------------------
    def groups(self) -> dict[str, Owner]:
        return self._section("groups")

    def workloads(self) -> dict[str, Owner]:
        return self._section("workloads")

    def _section(self, section: str) -> dict[str, Owner]:
        return {name: _owner(entry) for name, entry in self._load()[section].items()}

    def _load(self) -> dict[str, Any]:
        raw = read_bytes(self.path)
        if raw is None:
            return _empty()
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise DamagedFile(
                "ownership file", self.path, f"not JSON ({exc})", hint=_HINT
            ) from None
        problem = _shape_problem(doc)
        if problem:
            raise DamagedFile("ownership file", self.path, problem, hint=_HINT)
        return {**_empty(), **doc}

    # -- writing ----------------------------------------------------------------------------
    def set_group(self, name: str, project: str, description: str = "") -> None:
        with self._update() as doc:
            doc["groups"][name] = {"project": project, "description": description}

    def drop_group(self, name: str) -> None:
        with self._update() as doc:
            doc["groups"].pop(name, None)

    def set_workload(self, name: str, project: str, created_at: str) -> None:
        with self._update() as doc:
            doc["workloads"][name] = {"project": project, "created_at": created_at}

    def drop_workload(self, name: str) -> None:
        # Every delete calls this, nearly always for a workload no record names: a look
        # without the lock (the file is replaced atomically) spares the deletes of a large
        # `thv down` from queueing one by one on the lock.  A record added meanwhile is for a
        # workload being adopted, which this delete is not.
        if name not in self._load()["workloads"]:
            return
        with self._update() as doc:
            doc["workloads"].pop(name, None)

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Read, change, write back — only when something changed, under the lock."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise StateError(f"cannot lock {self._lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            doc = self._load()
            before = json.dumps(doc, sort_keys=True)
            yield doc
            if json.dumps(doc, sort_keys=True) != before:
                atomic_write(self.path, (dumps(doc) + "\n").encode(), dir_mode=0o700)
        finally:
            os.close(fd)


def adopted_by(records: dict[str, Owner], name: str, created_at: str | None) -> str:
    """The project that adopted ``name``, if its record is for the workload there now (its
    status file's ``created_at``, None when it has none); "" otherwise."""
    record = records.get(name)
    if record is None or created_at is None or record.created_at != created_at:
        return ""
    return record.project


def _empty() -> dict[str, Any]:
    return {"version": VERSION, "groups": {}, "workloads": {}}


def _owner(entry: dict[str, Any]) -> Owner:
    return Owner(
        project=str(entry.get("project") or ""),
        description=str(entry.get("description") or ""),
        created_at=str(entry.get("created_at") or ""),
    )


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "not a JSON object"
    for section in ("groups", "workloads"):
        entries = doc.get(section, {})
        if not isinstance(entries, dict):
            return f"'{section}' is not an object"
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("project"), str):
                return f"'{section}.{name}' is not an object with a 'project' string"
    return None
