"""Carrying out client actions: server entries written into, updated in and removed from MCP
clients' files, and clients added to or removed from group files' ``registered_clients``.

Each edit holds the file's lock, reads it afresh and checks that the entry is still what the
plan saw: if someone changed it in between, the action fails as stale and nothing is written
(changes elsewhere in the file are fine: the edit is spliced into the file as it is now).  The
entry written comes from the server's run config as it is after its own actions (so a port
chosen at create time is the one written).  What was written goes on record
(:mod:`.records`); removing the last entry from a file toolhive-compose created, or a servers
key it added, gives the file back as it was.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import ThvError
from ..state import Store
from ..state.runconfig import effective_proxy_mode
from .catalog import CLIENTS, SSE, STREAMABLE, ClientApp, entry, entry_digest, proxy_url
from .documents import Document, DocumentError, open_document
from .files import BACKUP_SUFFIX, ClientFileError, locked, read_text, remove_file, write_text
from .records import RecordStore, drop_entry, drop_group, set_entry, set_registrations

CREATED_FILE, CREATED_KEY, WAS_BLANK = "file", "key", "blank"


class StaleEntry(ThvError):
    """The entry changed between the plan and the apply; nothing was written."""


class ClientEditor:
    """The executor's hands for client actions (one per apply: each file is backed up once)."""

    def __init__(self, store: Store, records: RecordStore | None = None) -> None:
        self.store = store
        self.records = records or RecordStore(store.paths.ours)
        self._backed_up: set[str] = set()
        self._guard = threading.Lock()

    # -- entries -----------------------------------------------------------------------------
    def register(
        self, client: str, file: str, group: str, server: str, *, seen: Any, project: str,
        take_over: bool = False,
    ) -> None:  # fmt: skip
        """Write ``server``'s entry (from its run config as it is now), or with ``take_over``
        only take the entry already there on record; ``seen`` is the entry the plan saw."""
        app, path = CLIENTS[client], Path(file)
        with locked(path):
            text = read_text(path)
            doc = self._checked(app, path, text, server, seen)
            created = ""
            if not take_over:
                created = _created(text, doc.upsert(server, self._entry(app, server)))
                self._write(path, doc.text)
            fields = {"project": project, "group": group, "digest": entry_digest(doc.entry(server))}
            self.records.update(set_entry(file, client, server, fields, created))

    def unregister(self, client: str, file: str, server: str, *, seen: Any, keep: bool) -> None:
        """Remove ``server``'s entry (``seen`` by the plan; None: already gone), or with
        ``keep`` leave it in the file; either way it is no longer on record."""
        app, path = CLIENTS[client], Path(file)
        with locked(path):
            text = read_text(path)
            doc = self._checked(app, path, text, server, seen)
            if seen is not None and not keep:
                created = self.records.read().created(file)
                doc.remove(server, drop_key=bool(created))
                if created == CREATED_FILE and _empty(doc):  # as before: no file, no backup
                    remove_file(path)
                    if str(path) in self._backed_up:
                        remove_file(path.with_name(path.name + BACKUP_SUFFIX))
                elif created == WAS_BLANK and _empty(doc):
                    self._write(path, "")
                else:
                    self._write(path, doc.text)
            self.records.update(drop_entry(file, server))

    def _checked(
        self, app: ClientApp, path: Path, text: str | None, server: str, seen: Any
    ) -> Document:
        """The file as a document, its entry still the one the plan saw."""
        doc = _document(app, path, text)
        if doc.entry(server) != seen:
            raise StaleEntry(
                f"client {app.name}: the entry {server} in {path} changed since the plan was "
                "made; it was left as it is now",
                hint="run thv plan to see it, then apply again",
            )
        return doc

    def _entry(self, app: ClientApp, name: str) -> dict[str, Any]:
        """The entry for ``name`` as its run config now says: its proxy's port and mode."""
        rc = self.store.runconfigs.read(name) or {}
        port = rc.get("port")
        if not port:
            raise ThvError(f"server {name} has no proxy port; its client entries are not written")
        mode = effective_proxy_mode(str(rc.get("transport") or ""), rc.get("proxy_mode"))
        kind = SSE if mode == SSE else STREAMABLE
        return entry(
            app, name, proxy_url(int(port), kind, name, str(rc.get("remote_url") or "")), kind
        )

    def _write(self, path: Path, text: str) -> None:
        with self._guard:
            first = str(path) not in self._backed_up
            self._backed_up.add(str(path))
        write_text(path, text, backup=first)

    # -- group files ---------------------------------------------------------------------------
    def register_clients(
        self, group: str, before: list[str], after: list[str], project: str
    ) -> None:
        """Apply the plan's change of ``group``'s ``registered_clients`` to the file as it is
        now (ToolHive may have changed it meanwhile); record the clients this added."""
        added = [c for c in after if c not in before]
        removed = [c for c in before if c not in after]
        doc = self.store.groups.read(group)
        if doc is None:
            raise ThvError(f"group {group} does not exist; its clients cannot be registered")
        current = [str(c) for c in doc.get("registered_clients") or []]
        new = [c for c in current if c not in removed] + [c for c in added if c not in current]
        ours = [c for c in added if c not in current]
        # on record first: a crash in between leaves a record of a client not there, harmless
        self.records.update(set_registrations(group, project, ours, removed))
        if new != current or "registered_clients" not in doc:
            self.store.groups.write(group, {**doc, "registered_clients": new})

    def forget_group(self, group: str, project: str) -> None:
        """The group file is gone: so are the registrations on record for it."""
        self.records.update(drop_group(group, project))


def _document(app: ClientApp, path: Path, text: str | None) -> Document:
    try:
        return open_document(app, text or "")
    except DocumentError as exc:
        raise ClientFileError(f"client {app.name}: {path} {exc}; nothing was written") from None


def _created(text: str | None, created_key: bool) -> str:
    if text is None:
        return CREATED_FILE
    if not text.strip():
        return WAS_BLANK
    return CREATED_KEY if created_key else ""


def _empty(doc: Document) -> bool:
    """Nothing left but the skeleton this tool made (``{}`` or nothing)."""
    return doc.text.strip().lstrip("\ufeff") in ("", "{}")
