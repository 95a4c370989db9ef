"""Observed state: one engine list call plus ToolHive's state files.

This is the only place where what the engine reports and what is on disk meet.  Nothing is
inspected one by one: the list result carries every label needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..model import (
    LABEL_BASENAME,
    LABEL_CONFIG_HASH,
    LABEL_NAME,
    LABEL_PROJECT,
    LABEL_TOOLHIVE,
    ObservedGroup,
    ObservedState,
    ObservedWorkload,
)
from ..proxy.processes.procfs import pid_alive
from ..runtime import Container, Runtime
from ..state import Store
from ..state.runconfig import canonical_from_runconfig, project_of
from ..state.store import GROUP_EXTENSION_KEY
from .orphans import foreign_pid

AUXILIARY_LABEL = "toolhive-auxiliary-workload"


def observe(runtime: Runtime, store: Store, *, desired_names: Sequence[str] = ()) -> ObservedState:
    """Everything that exists: ToolHive containers, run configs, statuses and groups."""
    containers = by_workload(runtime.list_containers(labels=[f"{LABEL_TOOLHIVE}=true"]))
    runconfigs = {name: store.runconfigs.read(name) for name in store.runconfigs.names()}
    names = sorted(set(containers) | set(runconfigs))
    workloads = tuple(
        _workload(name, containers.get(name, []), runconfigs.get(name), store) for name in names
    )
    missing = [n for n in desired_names if n not in containers]
    foreign = runtime.list_containers(names=missing) if missing else []
    return ObservedState(
        workloads=workloads,
        groups=_groups(store),
        foreign_containers=tuple(
            sorted((c.name, c.id) for c in foreign if c.labels.get(LABEL_TOOLHIVE) != "true")
        ),
        memberships=tuple(
            sorted((n, str(rc.get("group") or "default")) for n, rc in runconfigs.items() if rc)
        ),
    )


def by_workload(containers: list[Container]) -> dict[str, list[Container]]:
    """ToolHive containers keyed by base name (sidecars and auxiliary workloads left out)."""
    grouped: dict[str, list[Container]] = defaultdict(list)
    for c in containers:
        if c.labels.get(AUXILIARY_LABEL) == "true":
            continue
        name = c.labels.get(LABEL_BASENAME) or c.labels.get(LABEL_NAME) or c.name
        grouped[name].append(c)
    return grouped


def _workload(
    name: str, containers: list[Container], rc: dict | None, store: Store
) -> ObservedWorkload:
    ranked = sorted(containers, key=lambda c: (c.state != "running", -c.created, c.id))
    main = ranked[0] if ranked else None
    status = store.workload_status(name)  # migrates a legacy PID file, as ToolHive does
    labels = main.labels if main else {}
    return ObservedWorkload(
        name=name,
        container_id=main.id if main else "",
        container_name=main.name if main else "",
        container_state=main.state if main else "",
        image=main.image if main else "",
        image_id=main.image_id if main else "",
        labels=tuple(sorted(labels.items())),
        project=labels.get(LABEL_PROJECT, "") or (project_of(rc) if rc else ""),
        config_hash=labels.get(LABEL_CONFIG_HASH, ""),
        spec=canonical_from_runconfig(rc) if rc else None,
        status=status.status if status else "",
        proxy_alive=bool(
            status and pid_alive(status.process_id) and not foreign_pid(status.process_id)
        ),
        proxy_pid=status.process_id if status else 0,
        remote=bool(rc and rc.get("remote_url")),
        extra_container_ids=tuple(c.id for c in ranked[1:]),
    )


def _groups(store: Store) -> tuple[ObservedGroup, ...]:
    groups = []
    for name in store.groups.names():
        doc = store.groups.read(name) or {}
        ext = doc.get(GROUP_EXTENSION_KEY)
        ext = ext if isinstance(ext, dict) else {}
        clients = doc.get("registered_clients")
        groups.append(
            ObservedGroup(
                name=str(doc.get("name") or name),
                project=str(ext.get("project") or ""),
                description=str(ext.get("description") or ""),
                registered_clients=tuple(map(str, clients if isinstance(clients, list) else [])),
            )
        )
    return tuple(groups)
