"""What toolhive-compose wrote into client files, so that ``down`` removes exactly that.

One JSON file of our own, ``<state>/toolhive-compose/clients.json``::

    {"version": 1,
     "files": {"/home/u/.cursor/mcp.json": {
         "client": "cursor",
         "created": "",          # "file": we made the file; "key": we added its servers key
         "entries": {"fetch": {"project": "team", "group": "dev", "digest": "sha256:…"}}}},
     "registrations": [{"group": "dev", "client": "cursor", "project": "team"}]}

``digest`` is the entry as written: an entry whose digest no longer matches was edited by
hand.  ``registrations`` are the clients we added to a group file's ``registered_clients``.
Written atomically under a lock; keys this version does not know survive every rewrite.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DamagedFile, StateError
from ..model import ClientEntryRecord, ClientRegistration
from ..state.atomic import atomic_write
from .files import ClientFileError, locked

FILE_NAME = "clients.json"
VERSION = 1
KIND = "client record file"
HINT = (
    "restore it, or move it away: toolhive-compose then forgets which client entries it "
    "wrote, and down leaves them in place"
)
_THREAD_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Records:
    """The file's content, read once."""

    doc: dict[str, Any]

    @property
    def files(self) -> dict[str, Any]:
        files = self.doc.get("files")
        return files if isinstance(files, dict) else {}

    def entries(self) -> tuple[ClientEntryRecord, ...]:
        found = []
        for path, meta in sorted(self.files.items()):
            if not isinstance(meta, dict) or not isinstance(meta.get("entries"), dict):
                continue
            for server, rec in sorted(meta["entries"].items()):
                if isinstance(rec, dict):
                    found.append(
                        ClientEntryRecord(
                            client=str(meta.get("client") or ""), path=path, server=server,
                            project=str(rec.get("project") or ""),
                            group=str(rec.get("group") or ""), digest=str(rec.get("digest") or ""),
                        )
                    )  # fmt: skip
        return tuple(found)

    def registrations(self) -> tuple[ClientRegistration, ...]:
        raw = self.doc.get("registrations")
        return tuple(
            ClientRegistration(
                group=str(r.get("group")), client=str(r.get("client")),
                project=str(r.get("project") or ""),
            )
            for r in (raw if isinstance(raw, list) else [])
            if isinstance(r, dict) and r.get("group") and r.get("client")
        )  # fmt: skip

    def created(self, path: str) -> str:
        meta = self.files.get(path)
        return str(meta.get("created") or "") if isinstance(meta, dict) else ""


class RecordStore:
    """``clients.json`` in our state directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME

    def read(self) -> Records:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Records({"version": VERSION})
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise DamagedFile(KIND, self.path, f"not JSON ({exc})", hint=HINT) from None
        if not isinstance(doc, dict):
            raise DamagedFile(KIND, self.path, "not a JSON object", hint=HINT)
        return Records(doc)

    def read_noting(self, notes: list[str]) -> Records:
        """The records for a plan: a damaged file reads as none, with a note saying so (the
        plan goes on; an action that would rewrite the file refuses until it is repaired)."""
        try:
            return self.read()
        except DamagedFile as exc:
            notes.append(f"{exc.message}; the client entries it records read as none")
            return Records({"version": VERSION})

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        with _THREAD_LOCK:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                with locked(self.path):
                    yield
            except ClientFileError as exc:
                raise StateError(exc.message, hint=exc.hint) from None

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, ``change`` the document in place, write it back: one step under the lock."""
        with self._held():
            doc = self.read().doc
            change(doc)
            doc["version"] = VERSION
            text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
            atomic_write(self.path, text.encode(), mode=0o600, dir_mode=0o700)


# -- changes (each one a callable for RecordStore.update) -----------------------------------
def _file(doc: dict[str, Any], path: str, client: str) -> dict[str, Any]:
    files = doc.setdefault("files", {})
    meta = files.setdefault(path, {})
    meta.setdefault("client", client)
    meta.setdefault("created", "")
    meta.setdefault("entries", {})
    return meta  # type: ignore[no-any-return]


def set_entry(path: str, client: str, server: str, fields: dict[str, str], created: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        meta = _file(doc, path, client)
        if created and not meta["entries"]:
            meta["created"] = created
        meta["entries"][server] = {**meta["entries"].get(server, {}), **fields}

    return change


def drop_entry(path: str, server: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        files = doc.get("files") or {}
        meta = files.get(path)
        if not isinstance(meta, dict):
            return
        (meta.get("entries") or {}).pop(server, None)
        if not meta.get("entries"):
            del files[path]

    return change


def set_registrations(group: str, project: str, added: list[str], removed: list[str]) -> Any:
    def change(doc: dict[str, Any]) -> None:
        current = [r for r in doc.get("registrations") or [] if isinstance(r, dict)]
        kept = [
            r for r in current
            if not (r.get("group") == group and r.get("project") == project
                    and r.get("client") in set(removed) | set(added))
        ]  # fmt: skip
        kept += [{"group": group, "client": c, "project": project} for c in added]
        doc["registrations"] = kept

    return change


def drop_group(group: str, project: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["registrations"] = [
            r for r in doc.get("registrations") or []
            if not (isinstance(r, dict) and r.get("group") == group
                    and r.get("project") == project)
        ]  # fmt: skip

    return change
