"""The library surface: four small protocols and :func:`connect`.

The protocols (:mod:`.protocols`) split ToolHive's workload operations by what a caller needs:
:class:`WorkloadLifecycle` changes workloads, :class:`WorkloadQueries` reads them,
:class:`WorkloadLogs` shows what they print, :class:`GroupManager` manages groups.
:func:`connect` returns the local implementations (:mod:`.local`) for this machine's container
engine and ToolHive state, which is exactly what the ``thv`` commands use::

    from toolhive_compose import connect

    thv = connect()
    for w in thv.workloads.list_in_group("dev"):
        print(w.name, w.status, w.url)
    thv.groups.move(["fetch"], "dev", "default")   # no restart (ToolHive's MoveToGroup)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .protocols import (
    Connection,
    Group,
    GroupManager,
    WorkloadLifecycle,
    WorkloadLogs,
    WorkloadQueries,
)

if TYPE_CHECKING:
    from ..runtime import Runtime
    from ..state import Store

__all__ = [
    "Connection",
    "Group",
    "GroupManager",
    "WorkloadLifecycle",
    "WorkloadLogs",
    "WorkloadQueries",
    "connect",
]


def connect(
    runtime: Runtime | None = None,
    store: Store | None = None,
    *,
    ready_timeout: float | None = None,
) -> Connection:
    """The local implementations, for ``runtime`` (default: ``$DOCKER_HOST``, else the
    engine ToolHive would find) and ``store`` (default: ToolHive's XDG directories).
    ``ready_timeout`` bounds the wait for a started workload to answer MCP (seconds; 0 = do
    not wait; default: the lifecycle's)."""
    from ..runtime import get_runtime
    from ..state import Store
    from ..workloads.lifecycle import Lifecycle
    from .local import LocalGroups, LocalLifecycle, LocalLogs, LocalWorkloads

    runtime = runtime or get_runtime()
    store = store or Store.from_env()
    core = (
        Lifecycle(runtime, store)
        if ready_timeout is None
        else Lifecycle(runtime, store, ready_timeout=ready_timeout)
    )
    queries = LocalWorkloads(runtime, store)
    return Connection(
        lifecycle=LocalLifecycle(core, queries),
        workloads=queries,
        logs=LocalLogs(runtime, store, queries),
        groups=LocalGroups(store, core, queries),
    )
