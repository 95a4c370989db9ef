"""Run configs and groups on disk, in ToolHive's layout and encoding."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ..errors import DamagedFile, StateError
from ..paths import Paths
from .atomic import atomic_create, atomic_write, read_bytes, remove
from .ownership import Owner, Ownership
from .runconfig import encode, normalize_on_read, type_problem
from .status import StatusStore, WorkloadStatus, needs_pid_migration

# Where older releases kept a group's owner, inside the group file (ToolHive drops it on
# its next write): read, and moved to the ownership file, but no longer written.
GROUP_EXTENSION_KEY = "toolhive_compose"
CORRUPTED_SUFFIX = ".corrupted"


class JsonDir:
    """A directory of ``<name>.json`` documents (ToolHive's LocalStore)."""

    kind = "state file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        """``<dir>/<name>.json``; a name that would leave the directory is refused."""
        if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise StateError(f"invalid state name {name!r}")
        return self.directory / f"{name}.json"

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem
            for p in self.directory.glob("*.json")
            if not p.name.startswith(".") and p.is_file()
        )

    def read(self, name: str) -> dict[str, Any] | None:
        """The document, None when there is none; :class:`DamagedFile` when it is not one."""
        raw = read_bytes(self.path(name))
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise self._damaged(name, f"not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise self._damaged(name, "not a JSON object")
        problem = self.shape_problem(doc)
        if problem:
            raise self._damaged(name, problem)
        return doc

    def shape_problem(self, doc: dict[str, Any]) -> str | None:
        """What Go's decoder would refuse in ``doc`` (a field of the wrong type), or None."""
        return None

    def _damaged(self, name: str, reason: str) -> DamagedFile:
        return DamagedFile(self.kind, self.path(name), reason, hint=self.damage_hint(name))

    def damage_hint(self, name: str) -> str | None:
        return None

    def write(self, name: str, doc: dict[str, Any]) -> None:
        atomic_write(self.path(name), encode(doc))

    def keep_copy(self, name: str) -> Path | None:
        """Before a damaged file is replaced: its bytes to ``<name>.json.corrupted``."""
        path = self.path(name)
        raw = read_bytes(path)
        if raw is None:
            return None
        backup = path.with_name(path.name + CORRUPTED_SUFFIX)
        atomic_write(backup, raw)
        return backup

    def create(self, name: str, doc: dict[str, Any]) -> bool:
        return atomic_create(self.path(name), encode(doc))

    def delete(self, name: str) -> None:
        remove(self.path(name))


class RunConfigStore(JsonDir):
    kind = "run config"

    def read(self, name: str) -> dict[str, Any] | None:
        doc = super().read(name)
        return normalize_on_read(doc) if doc is not None else None

    def shape_problem(self, doc: dict[str, Any]) -> str | None:
        return type_problem(doc)

    def damage_hint(self, name: str) -> str | None:
        return f"thv rm {name} removes the workload and this file; or repair the file"

    def read_or_none(self, name: str) -> dict[str, Any] | None:
        """For callers that only need what a readable run config says (a port, a group)."""
        try:
            return self.read(name)
        except DamagedFile:
            return None


class GroupStore(JsonDir):
    """``groups/<name>.json`` = ``{"name", "registered_clients"}`` (+ ``skills``, ``plugins``)."""

    kind = "group file"

    def ensure_default(self) -> None:
        if not self.path("default").exists():
            self.create("default", group_document("default"))

    def shape_problem(self, doc: dict[str, Any]) -> str | None:
        if doc.get("name") is not None and not isinstance(doc["name"], str):
            return "'name' is not a string"
        for key in ("registered_clients", "skills", "plugins"):
            value = doc.get(key)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                return f"'{key}' is not a list of strings"
        return None

    def damage_hint(self, name: str) -> str | None:
        return f"thv group rm {name} removes it; or repair the file"


def group_document(name: str) -> dict[str, Any]:
    """A new group file, as ToolHive writes one."""
    return {"name": name, "registered_clients": []}


def legacy_group_owner(doc: dict[str, Any]) -> Owner | None:
    """The owner an older release wrote into the group file itself, if any."""
    ext = doc.get(GROUP_EXTENSION_KEY)
    if not isinstance(ext, dict) or not isinstance(ext.get("project"), str) or not ext["project"]:
        return None
    return Owner(ext["project"], str(ext.get("description") or ""))


class Store:
    """All of ToolHive's local state this tool reads and writes."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.runconfigs = RunConfigStore(paths.runconfigs)
        self.groups = GroupStore(paths.groups)
        self.statuses = StatusStore(paths.statuses)
        self.ownership = Ownership(paths.ours)

    @classmethod
    def from_env(cls) -> Store:
        return cls(Paths.from_env())

    def workload_status(self, name: str) -> WorkloadStatus | None:
        """A workload's status file as ToolHive reads it: a ``running`` status without a PID
        first takes the PID of a legacy PID file, if there is one (then the file is gone)."""
        status = self.statuses.get(name)
        if needs_pid_migration(status):
            status = self.statuses.migrate_legacy_pid(name, self.paths.legacy_pids)
        return status

    def group_owners(self) -> dict[str, Owner]:
        """Every group's owner: the ownership file, then (for groups of older releases) the
        key in the group file itself, which is moved to the ownership file on the way (when
        the state directory can be written; the key keeps answering until then)."""
        owners = self.ownership.groups()
        for name in self.groups.names():
            if name in owners:
                continue
            try:
                legacy = legacy_group_owner(self.groups.read(name) or {})
            except DamagedFile:
                continue
            if legacy is not None:
                owners[name] = legacy
                with contextlib.suppress(StateError):
                    self.ownership.set_group(name, legacy.project, legacy.description)
        return owners
