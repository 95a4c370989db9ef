"""The local implementations of the :mod:`.protocols`: Docker plus ToolHive's files.

Each class is small and built from the pieces the declarative path uses too —
:class:`~toolhive_compose.workloads.lifecycle.Lifecycle` for every change,
:mod:`toolhive_compose.workloads.queries` for every query, the
:class:`~toolhive_compose.state.Store` for groups — so ``thv stop`` and a planned ``stop`` run
the same code.

Every change takes the state lock (:func:`~toolhive_compose.state.state_lock`: one command
that changes workloads at a time; re-entered freely within a process), and every name is
checked by :mod:`toolhive_compose.spec.names` before anything is touched.  A workload whose
state files are damaged can still be stopped and deleted; a damaged group file can still be
deleted.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..errors import DamagedFile, NotFound, ThvError
from ..fingerprint import canonical
from ..model import DEFAULT_GROUP, ServerSpec
from ..runtime import Runtime
from ..spec.names import check_group_name, check_workload_name
from ..state import Store, group_document, state_lock
from ..workloads.lifecycle import Lifecycle
from ..workloads.queries import Workload, get_workload, list_workloads
from .protocols import Group

HIDDEN_GROUPS = frozenset({"__mcp-optimizer__"})
_CHUNK = 65536


def changing(store: Store, what: str) -> contextlib.AbstractContextManager[None]:
    """The state lock, for one change made through the library (``thv run`` names itself
    ``thv run``; another program ``<program> (library: run)``)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    operation = f"thv {what}" if program == "thv" else f"{program} (library: {what})"
    return state_lock(store.paths.ours, operation=operation)


class LocalWorkloads:
    """:class:`~.protocols.WorkloadQueries` over the engine's list call and ToolHive's state."""

    def __init__(self, runtime: Runtime, store: Store) -> None:
        self.runtime = runtime
        self.store = store

    def get(self, name: str) -> Workload:
        check_workload_name(name, existing=True)
        return get_workload(self.runtime, self.store, name)

    def list(
        self,
        *,
        all: bool = False,
        labels: Mapping[str, str] | None = None,
        group: str | None = None,
    ) -> builtins.list[Workload]:
        wanted = dict(labels or {})
        return list_workloads(self.runtime, self.store, all=all, labels=wanted, group=group)

    def list_in_group(self, group: str) -> builtins.list[Workload]:
        return self.list(all=True, group=group)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except NotFound:
            return False
        return True


class LocalLifecycle:
    """:class:`~.protocols.WorkloadLifecycle` by name, over
    :class:`~toolhive_compose.workloads.lifecycle.Lifecycle`."""

    def __init__(self, core: Lifecycle, queries: LocalWorkloads) -> None:
        self.core = core
        self.queries = queries

    def run(self, spec: ServerSpec, *, project: str = "") -> Workload:
        check_workload_name(spec.name, container=not spec.remote)
        with changing(self.core.store, "run"):
            self._preflight(spec)
            self.core.create(spec, canonical(spec), project=project)
        return self.queries.get(spec.name)

    def start(self, name: str) -> bool:
        with changing(self.core.store, "start"):
            w = self.queries.get(name)
            if w.status == "running":
                return False
            self.core.start(name, w.container_id)
            return True

    def stop(self, name: str) -> None:
        with changing(self.core.store, "stop"):
            self.core.stop(name, self.queries.get(name).container_id)

    def delete(self, name: str) -> None:
        with changing(self.core.store, "delete"):
            self.core.delete(name, self.queries.get(name).container_id)

    def update(self, spec: ServerSpec, *, project: str | None = None) -> Workload:
        with changing(self.core.store, "update"):
            current = self.queries.get(spec.name)
            project = current.project if project is None else project
            rc = self.core.store.runconfigs.read_or_none(spec.name) or {}
            canon = canonical(spec, port=int(rc.get("port") or 0) or None)
            if canon["target_port"] is None and rc.get("target_port"):
                canon["target_port"] = int(rc["target_port"])
            self.core.replace(spec, canon, project=project, container_id=current.container_id)
        return self.queries.get(spec.name)

    def _preflight(self, spec: ServerSpec) -> None:
        """ToolHive's checks before a run: the group exists, the name is free (a workload
        whose status is ``error`` may be run over)."""
        store = self.core.store
        if spec.group != DEFAULT_GROUP and store.groups.read(spec.group) is None:
            raise ThvError(
                f"group {spec.group!r} does not exist", hint=f"thv group create {spec.group}"
            )
        hint = f"choose another --name, or remove it with thv rm {spec.name}"
        try:
            status = store.statuses.get(spec.name)
            exists = store.runconfigs.read(spec.name) is not None
        except DamagedFile as exc:
            raise ThvError(
                f"workload {spec.name} already exists ({exc.message})", hint=hint
            ) from None
        if exists and (status is None or status.status != "error"):
            raise ThvError(f"workload {spec.name} already exists", hint=hint)


class LocalLogs:
    """:class:`~.protocols.WorkloadLogs`: the engine's log stream and the proxy's log file."""

    def __init__(self, runtime: Runtime, store: Store, queries: LocalWorkloads) -> None:
        self.runtime = runtime
        self.store = store
        self.queries = queries

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        w = self.queries.get(name)
        if not w.container_id:
            raise ThvError(
                f"workload {name} has no container (remote workloads only have a proxy log)",
                hint=f"thv logs {name} --proxy",
            )
        return self.runtime.logs(w.container_id, follow=follow, tail=tail)

    def proxy_logs(self, name: str, *, follow: bool = False) -> Iterator[bytes]:
        path = self.store.paths.logs / f"{name}.log"
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise NotFound(f"no proxy log at {path}") from None
        return _stream(handle, follow)


def _stream(handle, follow: bool) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    with handle:
        while True:
            chunk = handle.read(_CHUNK)
            if chunk:
                yield chunk
            elif not follow:
                return
            else:
                time.sleep(0.25)


class LocalGroups:
    """:class:`~.protocols.GroupManager` over ``groups/<name>.json`` and the run configs."""

    def __init__(self, store: Store, core: Lifecycle, queries: LocalWorkloads) -> None:
        self.store = store
        self.core = core
        self.queries = queries

    def create(self, name: str) -> Group:
        check_group_name(name)
        with changing(self.store, "group create"):
            if not self.store.groups.create(name, group_document(name)):
                raise ThvError(f"group {name!r} already exists")
        return self.get(name)

    def get(self, name: str) -> Group:
        """The group; :class:`DamagedFile` (naming it) when its file cannot be read."""
        doc = self.store.groups.read(name)
        if doc is None:
            raise NotFound(f"group {name!r} does not exist", hint="thv group list")
        clients = doc.get("registered_clients") or []
        return Group(
            name=str(doc.get("name") or name),
            registered_clients=tuple(clients),
            project=self._owners().get(name, ""),
        )

    def list(self) -> builtins.list[Group]:
        """Every group, sorted; one whose file is damaged is listed with ``damage`` set."""
        self.store.groups.ensure_default()
        names = [n for n in self.store.groups.names() if n not in HIDDEN_GROUPS]
        found = []
        for name in sorted(names):
            try:
                found.append(self.get(name))
            except DamagedFile as exc:
                found.append(
                    Group(name=name, project=self._owners().get(name, ""), damage=exc.message)
                )
        return found

    def exists(self, name: str) -> bool:
        return self.store.groups.path(name).is_file()

    def delete(self, name: str, *, with_workloads: bool = False) -> builtins.list[str]:
        if name.strip().lower() == DEFAULT_GROUP:
            raise ThvError("the default group cannot be removed")
        with changing(self.store, "group rm"):
            if not self.exists(name):
                raise NotFound(f"group {name!r} does not exist", hint="thv group list")
            members = self.queries.list_in_group(name)
            if with_workloads:
                for w in members:
                    self.core.delete(w.name, w.container_id)
            else:
                self.move([w.name for w in members], name, DEFAULT_GROUP)
            self.core.group_delete(name)
        return [w.name for w in members]

    def move(self, names: Sequence[str], from_group: str, to_group: str) -> builtins.list[str]:
        with changing(self.store, "group move"):
            if to_group != DEFAULT_GROUP and not self.exists(to_group):
                raise NotFound(
                    f"group {to_group!r} does not exist", hint=f"thv group create {to_group}"
                )
            moved = []
            for name in names:
                rc = self.store.runconfigs.read_or_none(name)
                if rc is None or str(rc.get("group") or DEFAULT_GROUP) != from_group:
                    continue
                self.core.move_group(name, to_group)
                moved.append(name)
        return moved

    def _owners(self) -> dict[str, str]:
        try:
            return {name: owner.project for name, owner in self.store.group_owners().items()}
        except DamagedFile:
            return {}
