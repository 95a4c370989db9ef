"""Run configs and groups on disk, in ToolHive's layout and encoding."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ..cancel import checkpoint
from ..errors import StateError
from ..paths import Paths
from .atomic import atomic_create, atomic_write
from .runconfig import encode, normalize_on_read
from .status import StatusStore, WorkloadStatus, needs_pid_migration

GROUP_EXTENSION_KEY = "toolhive_compose"


class JsonDir:
    """A directory of ``<name>.json`` documents (ToolHive's LocalStore)."""

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
        path = self.path(name)
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise StateError(f"cannot read {path}: not a JSON object")
        return doc

    def write(self, name: str, doc: dict[str, Any]) -> None:
        atomic_write(self.path(name), encode(doc))

    def create(self, name: str, doc: dict[str, Any]) -> bool:
        return atomic_create(self.path(name), encode(doc))

    def delete(self, name: str) -> None:
        checkpoint()
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()


class RunConfigStore(JsonDir):
    def read(self, name: str) -> dict[str, Any] | None:
        doc = super().read(name)
        return normalize_on_read(doc) if doc is not None else None


class GroupStore(JsonDir):
    """``groups/<name>.json`` = ``{"name", "registered_clients"}`` (+ our extension key)."""

    def ensure_default(self) -> None:
        if not self.path("default").exists():
            self.create("default", group_document("default"))


def group_document(name: str, *, project: str = "", description: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "registered_clients": []}
    if project:
        doc[GROUP_EXTENSION_KEY] = {"project": project, "description": description}
    return doc


class Store:
    """All of ToolHive's local state this tool reads and writes."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.runconfigs = RunConfigStore(paths.runconfigs)
        self.groups = GroupStore(paths.groups)
        self.statuses = StatusStore(paths.statuses)

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
