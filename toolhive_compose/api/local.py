"""The local implementations of the :mod:`.protocols`: Docker plus ToolHive's files.

Each class is small and built from the pieces the declarative path uses too —
:class:`~toolhive_compose.workloads.lifecycle.Lifecycle` for every change,
:mod:`toolhive_compose.workloads.queries` for every query, the
:class:`~toolhive_compose.state.Store` for groups — so ``thv stop`` and a planned ``stop`` run
the same code.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Iterator, Mapping, Sequence

from ..errors import NotFound, ThvError
from ..fingerprint import canonical
from ..model import DEFAULT_GROUP, ServerSpec
from ..runtime import Runtime
from ..state import Store, group_document
from ..state.store import GROUP_EXTENSION_KEY
from ..workloads.lifecycle import Lifecycle
from ..workloads.queries import Workload, get_workload, list_workloads
from .protocols import Group

HIDDEN_GROUPS = frozenset({"__mcp-optimizer__"})
_GROUP_NAME = re.compile(r"^[a-z0-9_\-\s]+$")
_CHUNK = 65536


def group_name_problem(name: str) -> str | None:
    """ToolHive's group-name validation, as a sentence (or None when valid)."""
    if not name.strip():
        return "group name cannot be empty"
    if name != name.strip() or "  " in name or "\x00" in name:
        return f"invalid group name {name!r}: no leading, trailing or double spaces"
    if name != name.lower() or not _GROUP_NAME.match(name):
        return f"invalid group name {name!r}: lowercase letters, digits, '_', '-' and spaces only"
    return None


class LocalWorkloads:
    """:class:`~.protocols.WorkloadQueries` over the engine's list call and ToolHive's state."""

    def __init__(self, runtime: Runtime, store: Store) -> None:
        self.runtime = runtime
        self.store = store

    def get(self, name: str) -> Workload:
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
        self._preflight(spec)
        self.core.create(spec, canonical(spec), project=project)
        return self.queries.get(spec.name)

    def start(self, name: str) -> bool:
        w = self.queries.get(name)
        if w.status == "running":
            return False
        self.core.start(name, w.container_id)
        return True

    def stop(self, name: str) -> None:
        self.core.stop(name, self.queries.get(name).container_id)

    def delete(self, name: str) -> None:
        self.core.delete(name, self.queries.get(name).container_id)

    def update(self, spec: ServerSpec, *, project: str | None = None) -> Workload:
        current = self.queries.get(spec.name)
        project = current.project if project is None else project
        rc = self.core.store.runconfigs.read(spec.name) or {}
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
        status = store.statuses.get(spec.name)
        if store.runconfigs.read(spec.name) is not None and (
            status is None or status.status != "error"
        ):
            raise ThvError(
                f"workload {spec.name} already exists",
                hint=f"choose another --name, or remove it with thv rm {spec.name}",
            )


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
        problem = group_name_problem(name)
        if problem:
            raise ThvError(problem)
        if not self.store.groups.create(name, group_document(name)):
            raise ThvError(f"group {name!r} already exists")
        return self.get(name)

    def get(self, name: str) -> Group:
        doc = self.store.groups.read(name)
        if doc is None:
            raise NotFound(f"group {name!r} does not exist", hint="thv group list")
        ext = doc.get(GROUP_EXTENSION_KEY)
        clients = doc.get("registered_clients")
        return Group(
            name=str(doc.get("name") or name),
            registered_clients=tuple(map(str, clients)) if isinstance(clients, list) else (),
            project=str(ext.get("project") or "") if isinstance(ext, dict) else "",
        )

    def list(self) -> builtins.list[Group]:
        self.store.groups.ensure_default()
        names = [n for n in self.store.groups.names() if n not in HIDDEN_GROUPS]
        return [self.get(n) for n in sorted(names)]

    def exists(self, name: str) -> bool:
        return self.store.groups.read(name) is not None

    def delete(self, name: str, *, with_workloads: bool = False) -> builtins.list[str]:
        if name.strip().lower() == DEFAULT_GROUP:
            raise ThvError("the default group cannot be removed")
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
        if to_group != DEFAULT_GROUP and not self.exists(to_group):
            raise NotFound(
                f"group {to_group!r} does not exist", hint=f"thv group create {to_group}"
            )
        moved = []
        for name in names:
            rc = self.store.runconfigs.read(name)
            if rc is None or str(rc.get("group") or DEFAULT_GROUP) != from_group:
                continue
            self.core.move_group(name, to_group)
            moved.append(name)
        return moved
