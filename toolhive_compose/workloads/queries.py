"""Workload queries as ToolHive answers them: list, get, URLs.

A workload is a ToolHive container (by its labels) or a remote run config, merged with its
status file and run config.  Status is validated on read the way ToolHive does it — a file
that says ``running`` while the container is not, or whose proxy PID is dead or missing,
reads as ``unhealthy`` — but that verdict is not written back.  The one write a query makes
is ToolHive's own: a ``running`` status without a PID takes it from a legacy PID file.

``project`` is the owning toolhive-compose project: the container's project label, else
(for an adopted container, whose labels cannot change) the run config's, else the ownership
file's record.  Empty means the workload is unmanaged: ToolHive (or ``thv run``) made it.

A damaged state file never hides a workload nor stops a list: the workload is read from what
is left (a damaged status file as none, as ToolHive reads it; a damaged run config as none),
``damage`` names the file and ``status_context`` says so too.

JSON (:meth:`Workload.to_dict`) is ToolHive's ``core.Workload``, field by field and in its
order: ``created_at`` is always a time (the zero time when nothing says when), ``started_at``
always present (the zero time on a list, as ToolHive's list call does not know it; the
container's start on a get), ``tools`` never (ToolHive's list never fills it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..clients.catalog import proxy_url
from ..errors import DamagedFile, NotFound, StateError
from ..model import LABEL_PORT, LABEL_PROJECT, LABEL_TRANSPORT, TOOLHIVE_STANDARD_LABELS
from ..proxy.processes.procfs import pid_alive
from ..runtime import Container, Runtime
from ..state import Store
from ..state.ownership import Owner, adopted_by
from ..state.runconfig import effective_proxy_mode, project_of
from ..state.status import WorkloadStatus
from ..state.status_format import ZERO_TIME, parse_rfc3339
from .observe import by_workload, read_runconfig, read_status
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
    created_at: str = ZERO_TIME
    labels: dict[str, str] = field(default_factory=dict)
    group: str = ""
    remote: bool = False
    started_at: str = ZERO_TIME  # when its container last started, if known
    # not in ToolHive's shape (never in JSON):
    project: str = ""
    container_id: str = ""
    damage: str = ""  # a damaged state file of this workload, one sentence naming it
    proxy_pid: int = 0  # the status file's PID (not part of ToolHive's shape)

    def to_dict(self) -> dict[str, Any]:
        """ToolHive's ``core.Workload`` JSON: its keys, order and omitempty rules."""
        doc: dict[str, Any] = {
            "name": self.name, "package": self.package, "url": self.url, "port": self.port,
            "transport_type": self.transport_type,
        }  # fmt: skip
        if self.proxy_mode:
            doc["proxy_mode"] = self.proxy_mode
        doc["status"] = self.status
        if self.status_context:
            doc["status_context"] = self.status_context
        doc["created_at"] = self.created_at or ZERO_TIME
        for key in ("labels", "group", "remote"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        doc["started_at"] = self.started_at or ZERO_TIME
        return doc

    def status_dict(self, uptime: str = "") -> dict[str, Any]:
        """``thv status --format json``: ToolHive's keys, ``health`` the status context."""
        doc: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.status_context:
            doc["health"] = self.status_context
        doc.update(
            package=self.package, url=self.url, port=self.port, transport=self.transport_type
        )
        for key, value in (("proxy_mode", self.proxy_mode), ("group", self.group)):
            if value:
                doc[key] = value
        if uptime:
            doc["uptime"] = uptime
        return doc


def workload_url(
    port: int, transport: str, proxy_mode: str, name: str, remote_url: str = ""
) -> str:
    """ToolHive's GenerateMCPServerURL for list/status output (always 127.0.0.1)."""
    if not port:
        return ""
    return proxy_url(port, effective_proxy_mode(transport, proxy_mode), name, remote_url)


def mcp_endpoint(name: str, rc: dict[str, Any]) -> tuple[str, bool]:
    """The workload's MCP URL through its proxy, and whether it speaks legacy SSE."""
    transport = str(rc.get("transport") or "stdio")
    mode = effective_proxy_mode(transport, rc.get("proxy_mode"))
    remote_url = str(rc.get("remote_url") or "")
    url = workload_url(int(rc.get("port") or 0), transport, mode, name, remote_url)
    return url.partition("#")[0], mode == "sse"


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
    adopted = _adopted(store)
    found = [
        w for n in names if (w := _workload(n, containers.get(n, []), store, adopted)) is not None
    ]
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
    adopted = _adopted(store)
    found = [w for n in names if (w := _workload(n, [], store, adopted, engine=False)) is not None]
    return sorted((w for w in found if _matches(w, all, labels or {}, group)), key=lambda w: w.name)


def to_bring_back(store: Store, workloads: list[Workload], project: str | None) -> list[str]:
    """The workloads (of ``project``, when given) that were running when the machine went
    down: their status file still says running, starting or unhealthy.  One stopped on purpose
    says ``stopped``; one in ``error`` waits for a person."""
    found = []
    for w in workloads:
        if project is not None and w.project != project:
            continue
        try:
            recorded = store.statuses.get(w.name)
        except StateError:  # damaged: nothing says it was running (its listing names it)
            continue
        if recorded is not None and recorded.status in RESUMABLE:
            found.append(w.name)
    return sorted(found)


def get_workload(runtime: Runtime, store: Store, name: str) -> Workload:
    """One workload (ToolHive's GetWorkload): as listed, plus when its container started."""
    containers = by_workload(
        runtime.list_containers(labels=["toolhive=true", f"toolhive-basename={name}"])
    )
    workload = _workload(name, containers.get(name, []), store, _adopted(store))
    if workload is None:
        raise NotFound(f"workload {name} not found", hint="thv list --all shows every workload")
    if workload.status == "running" and workload.container_id:
        info = runtime.inspect(workload.container_id) or {}
        started = str((info.get("State") or {}).get("StartedAt") or "")
        if started and not started.startswith("0001-01-01"):
            workload = replace(workload, started_at=started)
    return workload


def _adopted(store: Store) -> dict[str, Owner]:
    """The ownership file's workload records; none when it is damaged (a list goes on)."""
    try:
        return store.ownership.workloads()
    except DamagedFile:
        return {}


def _matches(w: Workload, all: bool, labels: dict[str, str], group: str | None) -> bool:
    if not all and w.status not in LISTED_BY_DEFAULT:
        return False
    if group is not None and w.group != group:
        return False
    return all_labels_match(w.labels, labels)


def all_labels_match(have: dict[str, str], want: dict[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def _workload(
    name: str,
    containers: list[Container],
    store: Store,
    adopted: dict[str, Owner],
    *,
    engine: bool = True,
) -> Workload | None:
    found, rc_damage = read_runconfig(store, name)
    status, status_damage = read_status(store, name)  # writes: legacy PID migration, repair
    damage = "; ".join(d for d in (rc_damage, status_damage) if d)
    ranked = sorted(containers, key=lambda c: (c.state != "running", -c.created))
    main = ranked[0] if ranked else None
    if main is None and found is None and status is None and not damage:
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
    if main is not None and found is None and status is None and not damage:
        context = NO_RUN_CONFIG.format(name=name)
    context = "; ".join(c for c in (context, damage) if c)
    created = status.created_at if status else _ts(main.created if main else 0)
    owner = adopted_by(adopted, name, status.created_at if status else None)
    return Workload(
        name=name,
        package="remote" if remote else (main.image if main else str(rc.get("image") or "")),
        url=workload_url(port, transport, mode, name, str(rc.get("remote_url") or "")),
        port=port,
        transport_type=transport,
        proxy_mode=mode,
        status=state,
        status_context=context,
        created_at=created,
        labels=dict(labels) if remote else _user_labels(labels),
        group=str(rc.get("group") or ""),
        remote=remote,
        project=labels.get(LABEL_PROJECT, "") or (project_of(found) if found else "") or owner,
        container_id=main.id if main else "",
        damage=damage,
        proxy_pid=status.process_id if status else 0,
    )


def _user_labels(labels: dict[str, str]) -> dict[str, str]:
    """A container's labels without ToolHive's standard ones (remote workloads keep all)."""
    return {k: v for k, v in labels.items() if k not in TOOLHIVE_STANDARD_LABELS}


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
    """A container's creation as ToolHive's list reports it: ``time.Unix(created, 0)``, whole
    seconds in the local offset (``Z`` when that is UTC); the zero time when unknown."""
    if not seconds:
        return ZERO_TIME
    local = datetime.fromtimestamp(seconds).astimezone()
    offset = local.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + zone


def uptime(started_at: str, now: datetime | None = None) -> str:
    """ToolHive's formatUptime: ``2d 3h 4m``, ``3h 4m`` or ``4m``; "" when not started."""
    if not started_at or started_at.startswith("0001-01-01"):
        return ""
    elapsed = (now or datetime.now(UTC)) - parse_rfc3339(started_at)
    minutes = max(0, int(elapsed.total_seconds() // 60))
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h {minutes}m"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
