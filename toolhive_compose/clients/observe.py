"""The client files a plan needs, read once: those of the clients the workloads file lists,
and those where this project has entries (see :mod:`.records`).

Each file comes back as an :class:`~toolhive_compose.model.ObservedClientFile`: whether the
client is installed here, its entries, or the one sentence saying why it cannot be used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..model import DesiredState, ObservedClientFile, ObservedState
from ..paths import Paths
from .catalog import CLIENTS, config_path, install_marker
from .files import ClientFileError, read_text
from .records import RecordStore


def platform() -> str:
    return "darwin" if sys.platform == "darwin" else "linux"


def home() -> str:
    return str(Path.home())


def with_clients(observed: ObservedState, desired: DesiredState, paths: Paths) -> ObservedState:
    """``observed`` plus the client files, records and registrations ``desired``'s plan needs."""
    notes = list(observed.notes)
    records = RecordStore(paths.ours).read_noting(notes)
    entries = records.entries()
    wanted = {c for g in desired.groups for c in g.clients}
    recorded = {(r.client, r.path) for r in entries if r.project == desired.project}
    if not wanted and not recorded:
        return replace(observed, client_registrations=records.registrations(), notes=tuple(notes))
    return replace(
        observed,
        notes=tuple(notes),
        client_files=observe_files(wanted, recorded),
        client_records=entries,
        client_registrations=records.registrations(),
    )


def observe_files(
    clients: Iterable[str], recorded: Iterable[tuple[str, str]] = ()
) -> tuple[ObservedClientFile, ...]:
    """The files of ``clients`` where they live here, and the ``(client, path)`` pairs
    recorded elsewhere (a home directory that moved)."""
    here, where = home(), platform()
    found: dict[str, ObservedClientFile] = {}
    for name in sorted(set(clients)):
        app = CLIENTS[name]
        path = config_path(app, here, where)
        installed = os.path.exists(install_marker(app, here, where))
        found[path] = read_file(name, path, installed=installed)
    for name, path in sorted(set(recorded)):
        if path not in found and name in CLIENTS:
            installed = os.path.isdir(os.path.dirname(path))
            found[path] = read_file(name, path, installed=installed, current=False)
    return tuple(found.values())


def read_file(
    client: str, path: str, *, installed: bool, current: bool = True
) -> ObservedClientFile:
    """One client file: its entries, or why it cannot be used."""
    from .documents import DocumentError, open_document

    observed = ObservedClientFile(client=client, path=path, installed=installed, current=current)
    try:
        text = read_text(Path(path))
    except ClientFileError as exc:
        return replace(observed, exists=True, problem=f"client {client}: {exc.message}")
    if text is None:
        return observed
    try:
        entries = open_document(CLIENTS[client], text).entries()
    except DocumentError as exc:
        return replace(observed, exists=True, problem=f"client {client}: {path} {exc}")
    return replace(observed, exists=True, entries=entries)
