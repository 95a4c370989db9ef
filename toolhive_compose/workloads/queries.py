"""Workload queries as ToolHive answers them: list, get, URLs.

A workload is a ToolHive container (by its labels) or a remote run config, merged with its
status file and run config.  Status is validated on read the way ToolHive does it — a file
that says ``running`` while the container is not, or whose proxy PID is dead or missing,
reads as ``unhealthy`` — but that verdict is not written back.  The one write a query makes
is ToolHive's own: a ``running`` status without a PID takes it from a legacy PID file.

``project`` is the owning toolhive-compose project: the container's project label, else
(for an adopted container, whose labels cannot change) the run config's.  Empty means the
workload is unmanaged: ToolHive (or ``thv run``) made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..clients.catalog import proxy_url
from ..errors import NotFound
from ..model import LABEL_PORT, LABEL_PROJECT, LABEL_TRANSPORT, TOOLHIVE_STANDARD_LABELS
from ..proxy.processes.procfs import pid_alive
from ..runtime import Container, Runtime
from ..state import Store
from ..state.runconfig import effective_proxy_mode, project_of
from ..state.status import WorkloadStatus
from .observe import by_workload
from .orphans import NO_RUN_CONFIG, foreign_pid

ENGINE_STATUS = {
    "running": "running", "created": "starting", "restarting": "starting",
    "paused": "stopped", "exited": "stopped", "dead": "stopped", "removing": "removing",
}  # fmt: skip
LISTED_BY_DEFAULT = frozenset({"running", "auth_retrying"})
# Recorded statuses of a workload that was meant to run when the machine went down.
RESUMABLE = frozenset({"running", "starting", "unhealthy"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """ToolHive's Workload (list/API) shape, plus the owning project."""

    name: str
    package: str
    url: str
    port: int
    transport_type: str
    proxy_mode: str
    status: str
    status_context: str = ""
    created_at: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    group: str = ""
    remote: bool = False
    project: str = ""
    container_id: str = ""
    proxy_pid: int = 0  # the status file's PID (not part of ToolHive's shape)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name, "package": self.package, "url": self.url, "port": self.port,
            "transport_type": self.transport_type,
        }  # fmt: skip
        if self.proxy_mode:
            doc["proxy_mode"] = self.proxy_mode
        doc["status"] = self.status
        if self.status_context:
            doc["status_context"] = self.status_context
        doc["created_at"] = self.created_at
        for key in ("labels", "group", "remote"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        return doc


def workload_url(
    port: int, transport: str, proxy_mode: str, name: str, remote_url: str = ""
) -> str:
    """ToolHive's GenerateMCPServerURL for list/status output (always 127.0.0.1)."""
    if not port:
        return ""
    return proxy_url(port, effective_proxy_mode(transport, proxy_mode), name, remote_url)


def list_workloads(
    runtime: Runtime,
    store: Store,
    *,
    all: bool = False,
    labels: dict[str, str] | None = None,
    group: str | None = None,
) -> list[Workload]:
    """Container workloads then remote ones, filtered as ``thv list`` filters, sorted by name."""
    containers = by_workload(runtime.list_containers(labels=["toolhive=true"]))
    names = set(containers) | {n for n in store.runconfigs.names()} | set(store.statuses.names())
    found = [w for n in names if (w := _workload(n, containers.get(n, []), store)) is not None]
    return sorted((w for w in found if _matches(w, all, labels or {}, group)), key=lambda w: w.name)


def list_recorded(
    store: Store,
    *,
    all: bool = False,
    labels: dict[str, str] | None = None,
    group: str | None = None,
) -> list[Workload]:
    """:func:`list_workloads` from the state files alone, for when the engine does not
    answer: statuses as last recorded (a ``running`` one whose proxy is gone reads
    ``unhealthy``), nothing from the engine."""
    names = set(store.runconfigs.names()) | set(store.statuses.names())
    found = [w for n in names if (w := _workload(n, [], store, engine=False)) is not None]
    return sorted((w for w in found if _matches(w, all, labels or {}, group)), key=lambda w: w.name)


def to_bring_back(store: Store, workloads: list[Workload], project: str | None) -> list[str]:
    """The workloads (of ``project``, when given) that were running when the machine went
    down: their status file still says running, starting or unhealthy.  One stopped on purpose
    says ``stopped``; one in ``error`` waits for a person."""
    found = []
    for w in workloads:
        if project is not None and w.project != project:
            continue
        recorded = store.statuses.get(w.name)
        if recorded is not None and recorded.status in RESUMABLE:
            found.append(w.name)
    return sorted(found)


def get_workload(runtime: Runtime, store: Store, name: str) -> Workload:
    containers = by_workload(
        runtime.list_containers(labels=["toolhive=true", f"toolhive-basename={name}"])
    )
    workload = _workload(name, containers.get(name, []), store)
    if workload is None:
        raise NotFound(f"workload {name} not found", hint="thv list --all shows every workload")
    return workload


def _matches(w: Workload, all: bool, labels: dict[str, str], group: str | None) -> bool:
    if not all and w.status not in LISTED_BY_DEFAULT:
        return False
    if group is not None and w.group != group:
        return False
    return all_labels_match(w.labels, labels)


def all_labels_match(have: dict[str, str], want: dict[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def _workload(
    name: str, containers: list[Container], store: Store, *, engine: bool = True
) -> Workload | None:
    found = store.runconfigs.read(name)
    status = store.workload_status(name)  # the one write: legacy PID migration
    ranked = sorted(containers, key=lambda c: (c.state != "running", -c.created))
    main = ranked[0] if ranked else None
    if main is None and found is None and status is None:
        return None
    rc = found or {}
    remote = bool(rc.get("remote_url"))
    labels = main.labels if main else dict(rc.get("container_labels") or {})
    transport = (main.labels.get(LABEL_TRANSPORT) if main else None) or str(
        rc.get("transport") or "stdio"
    )
    port = _int(labels.get(LABEL_PORT)) or _int(rc.get("port"))
    mode = effective_proxy_mode(transport, rc.get("proxy_mode"))
    state, context = _status(main, status, remote) if engine else _recorded(status)
    if main is not None and found is None and status is None:
        context = NO_RUN_CONFIG.format(name=name)
    return Workload(
        name=name,
        package="remote" if remote else (main.image if main else str(rc.get("image") or "")),
        url=workload_url(port, transport, mode, name, str(rc.get("remote_url") or "")),
        port=port,
        transport_type=transport,
        proxy_mode=mode,
        status=state,
        status_context=context,
        created_at=status.created_at if status else _ts(main.created if main else 0),
        labels={k: v for k, v in labels.items() if k not in TOOLHIVE_STANDARD_LABELS},
        group=str(rc.get("group") or ""),
        remote=remote,
        project=labels.get(LABEL_PROJECT, "") or (project_of(found) if found else ""),
        container_id=main.id if main else "",
        proxy_pid=status.process_id if status else 0,
    )


def _status(main: Container | None, status: WorkloadStatus | None, remote: bool) -> tuple[str, str]:
    engine = ENGINE_STATUS.get(main.state, "unknown") if main else ""
    if status is None:
        return (engine or "unknown"), ""
    if status.status != "running":
        if status.status == "stopped" and not main and not remote:
            return "unhealthy", "workload has no container"
        return status.status, status.status_context
    if not remote and engine != "running":
        return "unhealthy", f"status file says running, but the container is {engine or 'missing'}"
    return _proxy_check(status)


def _proxy_check(status: WorkloadStatus) -> tuple[str, str]:
    """A ``running`` status: still so only while its proxy lives."""
    pid = status.process_id
    if not pid_alive(pid):
        return "unhealthy", "proxy process not running"
    if foreign_pid(pid):
        return "unhealthy", f"proxy process not running (PID {pid} belongs to another program)"
    return "running", status.status_context


def _recorded(status: WorkloadStatus | None) -> tuple[str, str]:
    if status is None:
        return "unknown", ""
    if status.status != "running":
        return status.status, status.status_context
    return _proxy_check(status)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _ts(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else ""
