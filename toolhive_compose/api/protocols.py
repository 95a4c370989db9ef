"""The library's four small protocols and the types they speak: types only.

ToolHive's reviewers turned down one ``Manager`` interface holding every workload
operation (stacklok/toolhive#2487: "until we figure out how to split up this interface").
Here the same operations are split by what a caller needs:

- :class:`WorkloadLifecycle` — run, start, stop, delete, update (changes things);
- :class:`WorkloadQueries` — get, list, list in a group, exists (reads only);
- :class:`WorkloadLogs` — a container's output, a proxy's log;
- :class:`GroupManager` — create, list, delete groups and move workloads between them.

A read-only tool takes a ``WorkloadQueries``; a dashboard adds ``WorkloadLogs``; nothing has
to fake the methods it does not use.  The implementations are :mod:`.local`; the package
(:mod:`toolhive_compose.api`) re-exports these names beside ``connect()``, which makes them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..model import ServerSpec
from ..workloads.queries import Workload


@dataclass(frozen=True, slots=True)
class Group:
    """A ToolHive group (``groups/<name>.json``); membership lives in each run config."""

    name: str
    registered_clients: tuple[str, ...] = ()
    project: str = ""  # the toolhive-compose project that declared it; "" = none
    damage: str = ""  # its file cannot be read: one sentence naming it ("" = readable)


@runtime_checkable
class WorkloadLifecycle(Protocol):
    """Operations that change workloads.  Each raises
    :class:`~toolhive_compose.errors.ThvError` on failure."""

    def run(self, spec: ServerSpec, *, project: str = "") -> Workload:
        """Create and start a new workload (``thv run``); an existing name is an error."""
        ...

    def start(self, name: str) -> bool:
        """Start the container and its proxy; False when it was already serving."""
        ...

    def stop(self, name: str) -> None:
        """Stop the proxy, then the container; state is kept."""
        ...

    def delete(self, name: str) -> None:
        """Remove the container, the proxy, the run config and the status file."""
        ...

    def update(self, spec: ServerSpec, *, project: str | None = None) -> Workload:
        """Replace a workload with a new spec (ToolHive's UpdateWorkload: stop → delete →
        save → start).  Its ports are kept unless the spec names others, and its owning
        project unless ``project`` names another ("" = none)."""
        ...


@runtime_checkable
class WorkloadQueries(Protocol):
    """Read-only questions about workloads, answered as ``thv list`` answers them."""

    def get(self, name: str) -> Workload:
        """One workload, in any state; :class:`~toolhive_compose.errors.NotFound` when there
        is none."""
        ...

    def list(
        self,
        *,
        all: bool = False,
        labels: Mapping[str, str] | None = None,
        group: str | None = None,
    ) -> builtins.list[Workload]:
        """Container and remote workloads sorted by name: running ones unless ``all``,
        filtered by every label (AND) and by group."""
        ...

    def list_in_group(self, group: str) -> builtins.list[Workload]:
        """Every workload of ``group``, running or not."""
        ...

    def exists(self, name: str) -> bool:
        """Whether a workload of that name exists (container, run config or status)."""
        ...


@runtime_checkable
class WorkloadLogs(Protocol):
    """What workloads print."""

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        """The container's output (a remote workload has none: an error)."""
        ...

    def proxy_logs(self, name: str, *, follow: bool = False) -> Iterator[bytes]:
        """The proxy's log file, ``$XDG_DATA_HOME/toolhive/logs/<name>.log``."""
        ...


@runtime_checkable
class GroupManager(Protocol):
    """ToolHive groups: ``default`` always exists and cannot be removed."""

    def create(self, name: str) -> Group:
        """A new, empty group; an invalid or existing name is an error."""
        ...

    def get(self, name: str) -> Group:
        """One group; :class:`~toolhive_compose.errors.NotFound` when it does not exist."""
        ...

    def list(self) -> builtins.list[Group]:
        """Every group, sorted by name (``default`` is created if missing)."""
        ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str, *, with_workloads: bool = False) -> builtins.list[str]:
        """Remove a group; its workloads move to ``default``, or are deleted with
        ``with_workloads``.  Returns the names of the workloads moved or deleted."""
        ...

    def move(self, names: Sequence[str], from_group: str, to_group: str) -> builtins.list[str]:
        """Move workloads by rewriting their run configs only — no restart (ToolHive's
        MoveToGroup).  Workloads not in ``from_group`` are skipped; returns those moved."""
        ...


@dataclass(frozen=True, slots=True)
class Connection:
    """The four interfaces for one engine and one state directory."""

    lifecycle: WorkloadLifecycle
    workloads: WorkloadQueries
    logs: WorkloadLogs
    groups: GroupManager
