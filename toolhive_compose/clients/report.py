"""What ``thv client list`` (and ToolHive's ``status`` / ``list-registered``) show: every
supported client with its file here, whether it is installed and in which groups it is
registered; and every entry toolhive-compose wrote, with whether it drifted.

Registered means what it means to ToolHive: listed in a group file's ``registered_clients``,
or in ``clients.registered_clients`` of ToolHive's ``config.yaml`` (its pre-groups global
list).  Entries drift when edited or removed by hand since they were written.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..model import ClientEntryRecord
from ..state import Store
from .catalog import CLIENTS, config_path, entry_digest, install_marker
from .observe import home, platform, read_file
from .records import RecordStore

GLOBAL = "(global)"  # ToolHive's config.yaml list, not a group
IN_SYNC, EDITED, REMOVED = "in sync", "edited by hand", "removed by hand"


@dataclass(frozen=True, slots=True)
class ClientStatus:
    name: str
    description: str
    file: str
    installed: bool
    groups: tuple[str, ...]  # groups whose registered_clients list it (GLOBAL: config.yaml)
    deprecated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.name, "description": self.description, "file": self.file,
            "installed": self.installed, "registered": bool(self.groups),
            "groups": list(self.groups), "deprecated": self.deprecated,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class EntryStatus:
    record: ClientEntryRecord
    state: str  # IN_SYNC | EDITED | REMOVED | why the file cannot be read

    @property
    def drifted(self) -> bool:
        return self.state != IN_SYNC

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {"client": r.client, "server": r.server, "file": r.path, "project": r.project,
                "group": r.group, "state": self.state}  # fmt: skip


def clients(store: Store) -> list[ClientStatus]:
    """Every supported client, sorted by name."""
    groups = registered_groups(store)
    here, where = home(), platform()
    return [
        ClientStatus(
            name=name, description=app.description, file=config_path(app, here, where),
            installed=os.path.exists(install_marker(app, here, where)),
            groups=tuple(groups.get(name, ())), deprecated=bool(app.deprecated),
        )
        for name, app in sorted(CLIENTS.items())
    ]  # fmt: skip


def entries(store: Store) -> list[EntryStatus]:
    """Every entry on record, with its state in the file now."""
    records = RecordStore(store.paths.ours).read().entries()
    files = {}
    for rec in records:
        if rec.path not in files and rec.client in CLIENTS:
            files[rec.path] = read_file(rec.client, rec.path, installed=True, current=False)
    found = []
    for rec in records:
        observed = files.get(rec.path)
        if observed is None:
            continue
        current = observed.entries.get(rec.server)
        if observed.problem:
            state = observed.problem
        elif current is None:
            state = REMOVED
        else:
            state = IN_SYNC if entry_digest(current) == rec.digest else EDITED
        found.append(EntryStatus(rec, state))
    return sorted(found, key=lambda e: (e.record.client, e.record.server, e.record.path))


def registered_groups(store: Store) -> dict[str, list[str]]:
    """Client → the groups that register it (sorted), as ToolHive's ListClients sees it."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in store.groups.names():
        try:
            doc = store.groups.read(name) or {}
        except StateError:
            continue  # a damaged group file registers nothing (ToolHive skips it too)
        listed = doc.get("registered_clients")
        for client in listed if isinstance(listed, list) else []:
            if str(name) not in groups[str(client)]:
                groups[str(client)].append(str(name))
    for client in _global_clients():
        groups[client].append(GLOBAL)
    return {c: sorted(g) for c, g in groups.items()}


def _global_clients() -> list[str]:
    """``clients.registered_clients`` of ToolHive's ``$XDG_CONFIG_HOME/toolhive/config.yaml``."""
    import yaml

    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home(), ".config")
    path = Path(config_home) / "toolhive" / "config.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # missing or unreadable: none there
        return []
    section = doc.get("clients") if isinstance(doc, dict) else None
    listed = section.get("registered_clients") if isinstance(section, dict) else None
    return [str(c) for c in listed] if isinstance(listed, list) else []
