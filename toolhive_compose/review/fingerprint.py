"""The observed state a plan was made against, as a fingerprint, and what moved since.

Per workload of the project or named like one of the plan's servers: the container id, its
engine state, the config hash, ToolHive's status, whether its proxy runs, the owner and a
digest of its run-config spec.  The project's groups and the declared ones, who is in them
and which clients they register, containers not made by ToolHive that hold a server's name,
and the MCP client files the declared groups list (a digest of each server's entry there)
with this project's record of what it wrote.  Other workloads are left out: a
plan can only clash with them (a port), and a clash that appears since makes the plan made at
apply time fail, which :mod:`.stale` reports.  Pure: data in, data or sentences out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from ..model import ObservedState, ObservedWorkload

Fingerprint = dict[str, Any]


def fingerprint(
    observed: ObservedState,
    project: str,
    names: Collection[str],
    groups: Mapping[str, Mapping[str, Any]],
) -> Fingerprint:
    """``names``: the plan's servers; ``groups``: the groups it declares (with ``clients``)."""
    workloads = {
        w.name: _full(w) for w in observed.workloads if w.project == project or w.name in names
    }
    ours = {g.name: g for g in observed.groups if g.project == project or g.name in groups}
    foreign = dict(observed.foreign_containers)
    return {
        "workloads": workloads,
        "groups": {n: {"project": g.project, "description": g.description,
                       "registered_clients": list(g.registered_clients)}
                   for n, g in ours.items()},
        "memberships": {w: g for w, g in observed.memberships if w in workloads or g in ours},
        "foreign_containers": {n: foreign[n] for n in sorted(names) if n in foreign},
        "clients": _clients(observed, project, names, groups),
    }  # fmt: skip


def _clients(
    observed: ObservedState,
    project: str,
    names: Collection[str],
    groups: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    listed = {c for g in groups.values() for c in g.get("clients") or ()}
    files = {
        f.path: {
            "client": f.client, "installed": f.installed, "exists": f.exists,
            "problem": f.problem,
            "entries": {n: _digest(f.entries[n]) for n in sorted(names) if n in f.entries},
        }
        for f in observed.client_files
        if f.current and f.client in listed
    }  # fmt: skip
    records = sorted(
        f"{r.client} {r.path} {r.server} {r.group} {r.digest}"
        for r in observed.client_records
        if r.project == project
    )
    return {"files": files, "records": records}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _full(w: ObservedWorkload) -> dict[str, Any]:
    spec = json.dumps(w.spec, sort_keys=True, separators=(",", ":")) if w.spec else ""
    return {
        "project": w.project,
        "container_id": w.container_id,
        "container_state": w.container_state,
        "config_hash": w.config_hash,
        "status": w.status,
        "proxy_alive": w.proxy_alive,
        "remote": w.remote,
        "spec": "sha256:" + hashlib.sha256(spec.encode()).hexdigest() if spec else "",
    }


def moved(before: Fingerprint, after: Fingerprint) -> list[str]:
    """What changed between two fingerprints, one phrase each, in a stable order."""
    out: list[str] = []
    old, new = before.get("workloads", {}), after.get("workloads", {})
    for name in sorted(set(old) | set(new)):
        out += _workload(name, old.get(name), new.get(name))
    out += _groups(before.get("groups", {}), after.get("groups", {}))
    out += _memberships(before.get("memberships", {}), after.get("memberships", {}))
    out += _foreign(before.get("foreign_containers", {}), after.get("foreign_containers", {}))
    out += _client_files(before.get("clients", {}), after.get("clients", {}))
    return out


def _workload(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    if old == new:
        return []
    if old is None:
        return [f"workload {name} appeared"]
    if new is None:
        return [f"workload {name} was removed"]
    if old.get("project") != new.get("project"):
        return [f"workload {name} is now owned by {_owner(new)} (was {_owner(old)})"]
    return _container(name, old, new) or _state(name, old, new)


def _container(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = old.get("container_id"), new.get("container_id")
    if before == after:
        return []
    if before and after:
        return [f"the container of {name} was recreated"]
    return [f"the container of {name} was {'created' if after else 'removed'}"]


def _state(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    if old.get("container_state") != new.get("container_state"):
        out.append(
            f"the container of {name} is {new.get('container_state') or 'gone'} "
            f"(was {old.get('container_state') or 'absent'})"
        )
    if old.get("status") != new.get("status"):
        out.append(f"{name} is {new.get('status') or 'without status'} (was {old.get('status')})")
    if old.get("proxy_alive") != new.get("proxy_alive"):
        out.append(f"the proxy of {name} {'started' if new.get('proxy_alive') else 'stopped'}")
    if old.get("config_hash") != new.get("config_hash") or old.get("spec") != new.get("spec"):
        out.append(f"the run config of {name} changed")
    return out or [f"workload {name} changed"]


def _owner(entry: dict[str, Any]) -> str:
    return f"project {entry['project']}" if entry.get("project") else "no project"


def _groups(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            out.append(f"group {name} was removed")
        elif name not in old:
            out.append(f"group {name} was created")
        elif old[name] != new[name]:
            out.append(f"group {name} changed")
    return out


def _memberships(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return [
        f"{name} moved to group {new[name]} (was {old[name]})"
        for name in sorted(set(old) & set(new))
        if old[name] != new[name]
    ]


def _foreign(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            what = "appeared" if name in new else "was removed"
            out.append(f"a container named {name} that ToolHive does not manage {what}")
    return out


def _client_files(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    files, now = old.get("files", {}), new.get("files", {})
    for path in sorted(set(files) | set(now)):
        before, after = files.get(path), now.get(path)
        if before == after:
            continue
        if before is None or after is None or before["entries"] == after["entries"]:
            client = (after or before or {}).get("client")
            out.append(f"the {client} client's file {path} changed")
            continue
        for name in sorted(set(before["entries"]) | set(after["entries"])):
            if before["entries"].get(name) != after["entries"].get(name):
                out.append(f"the {after['client']} entry {name} in {path} changed")
    if old.get("records") != new.get("records"):
        out.append("the record of the client entries this project wrote changed")
    return out
