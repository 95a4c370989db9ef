"""Observed state: one engine list call plus ToolHive's state files.

This is the only place where what the engine reports and what is on disk meet.  Nothing is
inspected one by one: the list result carries every label needed.  A command that reads its
files first can start that list beforehand (:func:`listing_started`): the engine answers on
one core while the files are parsed on the other.

A damaged state file never stops the observation: its workload (or group) is observed with
``damage`` naming the file — a damaged run config leaves no spec, a damaged status file reads
as none (ToolHive's reading) — and a damaged ownership file reads as no records, with a note.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DamagedFile, StateError
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
from ..state import Store, WorkloadStatus
from ..state.ownership import Owner, adopted_by
from ..state.runconfig import project_of
from ..state.runconfig_spec import canonical_from_runconfig
from ..state.surfaces import read_report
from .orphans import foreign_pid

AUXILIARY_LABEL = "toolhive-auxiliary-workload"


Listing = Callable[[], list[Container]]


def observe(
    runtime: Runtime,
    store: Store,
    *,
    desired_names: Sequence[str] = (),
    listing: Listing | None = None,
) -> ObservedState:
    """Everything that exists: ToolHive containers, run configs, statuses and groups
    (``listing``: the ToolHive containers, listed already by :func:`listing_started`)."""
    listed = listing() if listing is not None else _toolhive_containers(runtime)
    containers = by_workload(listed)
    runconfigs = {name: read_runconfig(store, name) for name in store.runconfigs.names()}
    notes: list[str] = []
    adopted = _records(lambda: store.ownership.workloads(), notes)
    names = sorted(set(containers) | set(runconfigs))
    workloads = tuple(
        _workload(name, containers.get(name, []), runconfigs.get(name, (None, "")), store, adopted)
        for name in names
    )
    missing = [n for n in desired_names if n not in containers]
    foreign = runtime.list_containers(names=missing) if missing else []
    return ObservedState(
        workloads=workloads,
        groups=_groups(store, _records(store.group_owners, notes)),
        foreign_containers=tuple(
            sorted((c.name, c.id) for c in foreign if c.labels.get(LABEL_TOOLHIVE) != "true")
        ),
        memberships=tuple(
            sorted(
                (n, str(rc.get("group") or "default")) for n, (rc, _) in runconfigs.items() if rc
            )
        ),
        notes=tuple(dict.fromkeys(notes)),
    )


def _toolhive_containers(runtime: Runtime) -> list[Container]:
    return runtime.list_containers(labels=[f"{LABEL_TOOLHIVE}=true"])


def listing_started(runtime: Runtime) -> Listing:
    """The ToolHive containers, listed from now on in a thread; the function returned waits
    for the list and returns it, or raises what the engine raised (it is called once)."""
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(_toolhive_containers(runtime))
        except BaseException as exc:  # handed to the caller, which reports it
            outcome.append(exc)

    # A daemon: a command that fails before it observes (a bad file) does not wait for it.
    thread = threading.Thread(target=work, name="thv-list", daemon=True)
    thread.start()

    def result() -> list[Container]:
        thread.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return list(outcome[0])

    return result


def read_runconfig(store: Store, name: str) -> tuple[dict | None, str]:
    """A run config and "", or None and the sentence naming its damage (or why it cannot
    be read: its permissions, a directory in its place)."""
    try:
        return store.runconfigs.read(name), ""
    except StateError as exc:
        return None, exc.message


def read_status(store: Store, name: str) -> tuple[WorkloadStatus | None, str]:
    """A status as ToolHive reads it (legacy PID migrated, trivial damage repaired) and "",
    or None and the sentence naming its damage (or why it, or its lock, cannot be read)."""
    try:
        return store.workload_status(name), ""
    except StateError as exc:
        return None, exc.message


def _records(read: Callable[[], dict[str, Owner]], notes: list[str]) -> dict[str, Owner]:
    try:
        return read()
    except DamagedFile as exc:
        notes.append(
            f"{exc.message}; the groups and adopted workloads it records read as unmanaged"
        )
        return {}


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
    name: str,
    containers: list[Container],
    found: tuple[dict | None, str],
    store: Store,
    adopted: dict[str, Owner],
) -> ObservedWorkload:
    ranked = sorted(containers, key=lambda c: (c.state != "running", -c.created, c.id))
    main = ranked[0] if ranked else None
    rc, rc_damage = found
    status, status_damage = read_status(store, name)  # migrates a legacy PID file, as ToolHive
    labels = main.labels if main else {}
    owner = adopted_by(adopted, name, status.created_at if status else None)
    spec = canonical_from_runconfig(rc) if rc else None
    return ObservedWorkload(
        name=name,
        container_id=main.id if main else "",
        container_name=main.name if main else "",
        container_state=main.state if main else "",
        image=main.image if main else "",
        image_id=main.image_id if main else "",
        labels=tuple(sorted(labels.items())),
        project=labels.get(LABEL_PROJECT, "") or (project_of(rc) if rc else "") or owner,
        config_hash=labels.get(LABEL_CONFIG_HASH, ""),
        spec=spec,
        status=status.status if status else "",
        proxy_alive=bool(
            status and pid_alive(status.process_id) and not foreign_pid(status.process_id)
        ),
        proxy_pid=status.process_id if status else 0,
        remote=bool(rc and rc.get("remote_url")),
        extra_container_ids=tuple(c.id for c in ranked[1:]),
        server_tools=_server_tools(store, name, spec),
        damage="; ".join(d for d in (rc_damage, status_damage) if d),
        runconfig_damaged=bool(rc_damage),
    )


def _server_tools(store: Store, name: str, spec: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The tool names the server offered its proxy, as the proxy reported them (only read for
    a workload with a filter or overrides: plan warns about names the server does not have)."""
    if not spec or not (spec.get("tools") or spec.get("tools_override")):
        return None
    names = read_report(store.paths, name).get("server_tools")
    return tuple(str(n) for n in names) if isinstance(names, list) else None


def _groups(store: Store, owners: dict[str, Owner]) -> tuple[ObservedGroup, ...]:
    groups = []
    for name in store.groups.names():
        owner = owners.get(name) or Owner("")
        try:
            doc, damage = store.groups.read(name) or {}, ""
        except DamagedFile as exc:
            doc, damage = {}, exc.message
        clients = doc.get("registered_clients")
        groups.append(
            ObservedGroup(
                name=str(doc.get("name") or name),
                project=owner.project,
                description=owner.description,
                registered_clients=tuple(map(str, clients if isinstance(clients, list) else [])),
                damage=damage,
            )
        )
    return tuple(groups)
