"""Drafted actions → an ordered plan: dependencies, then a deterministic topological walk.

Part of the planner (pure: no I/O).  Edges: a group is created before its members; a workload
freeing a host port goes before the one taking it; members leave a group before it is
deleted.  Ties are broken by phase (:data:`.actions.PHASE`), then name.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlanError
from ..fingerprint import TOOL_FIELDS
from ..model import ObservedState
from .actions import PHASE, Action, ActionKind, ClientTarget, FieldChange, ImageChange
from .diff import field_changes
from .risk import classify

HOST_PORT_FIELDS = ("port", "target_port")
Key = tuple[ActionKind, str, str]  # kind, workload or group, client
_NO_CHANGES = frozenset({ActionKind.START, ActionKind.STOP, ActionKind.DELETE})


@dataclass
class Draft:
    """An action before it has an id and its place in the order."""

    kind: ActionKind
    name: str
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    target: str = ""
    deps: set[Key] = field(default_factory=set)
    image: ImageChange | None = None
    client: ClientTarget | None = None
    changes: tuple[FieldChange, ...] | None = None  # worked out by the drafter
    lock: str = ""  # the check against workloads.lock once the server is ready (locking.py)

    @property
    def key(self) -> Key:
        return (self.kind, self.name, self.client.name if self.client else "")

    def is_group_kind(self) -> bool:
        return self.kind.startswith("group")

    def is_workload_kind(self) -> bool:
        return not self.is_group_kind() and self.client is None


def link(drafts: list[Draft], observed: ObservedState) -> None:
    creates_group = {
        d.name: d.key
        for d in drafts
        if d.kind in (ActionKind.GROUP_CREATE, ActionKind.GROUP_UPDATE)
    }
    freeing = _port_freers(drafts)
    for d in drafts:
        if d.after and d.is_workload_kind():
            group = d.after.get("group")
            if group in creates_group:
                d.deps.add(creates_group[group])
            for key in HOST_PORT_FIELDS:
                freer = freeing.get(d.after.get(key))
                if freer and freer[1] != d.name:
                    d.deps.add(freer)
    members = dict(observed.memberships)
    for d in drafts:
        if d.kind is ActionKind.GROUP_DELETE:
            d.deps.update(
                o.key
                for o in drafts
                if o.is_workload_kind() and members.get(o.name) == d.name and o.key != d.key
            )


def _port_freers(drafts: list[Draft]) -> dict[Any, Key]:
    freeing: dict[Any, Key] = {}
    for d in drafts:
        if d.kind in (ActionKind.DELETE, ActionKind.RECREATE, ActionKind.UPGRADE) and d.before:
            for key in HOST_PORT_FIELDS:
                if d.before.get(key):
                    freeing[d.before[key]] = d.key
    return freeing


def order(drafts: list[Draft]) -> tuple[Action, ...]:
    by_key = {d.key: d for d in drafts}
    pending = {d.key: {k for k in d.deps if k in by_key} for d in drafts}
    dependents: dict[Key, list[Key]] = {}
    for key, deps in pending.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(key)
    ready = [(PHASE[d.kind], d.name, d.key) for d in drafts if not pending[d.key]]
    heapq.heapify(ready)
    ids: dict[Key, int] = {}
    actions: list[Action] = []
    while ready:
        _, _, key = heapq.heappop(ready)
        d = by_key[key]
        ids[key] = len(actions)
        actions.append(_action(d, ids))
        for other in dependents.get(key, ()):
            deps = pending[other]
            deps.discard(key)
            if not deps and other not in ids:
                o = by_key[other]
                heapq.heappush(ready, (PHASE[o.kind], o.name, other))
    if len(actions) != len(drafts):
        stuck = sorted({n for (_, n, _) in set(pending) - set(ids)})
        raise PlanError(
            f"circular dependency between {', '.join(stuck)} (ports swapped?)",
            hint="apply the change in two steps",
        )
    return tuple(actions)


def _action(d: Draft, ids: dict[Key, int]) -> Action:
    if d.changes is not None:
        changes = d.changes
    else:
        changes = () if d.kind in _NO_CHANGES else field_changes(d.before, d.after)
    if d.kind is ActionKind.MOVE_GROUP:
        changes = tuple(c for c in changes if c.path == "group")
    elif d.kind is ActionKind.RECONFIGURE:
        changes = tuple(c for c in changes if c.path.split(".", 1)[0] in TOOL_FIELDS)
    risks, widening = classify(d.kind, d.before, d.after)
    return Action(
        id=ids[d.key],
        kind=d.kind,
        name=d.name,
        reason=d.reason,
        changes=changes,
        depends_on=tuple(sorted(ids[k] for k in d.deps if k in ids)),
        target=d.target,
        before=d.before,
        after=d.after,
        image=d.image,
        client=d.client,
        risks=tuple(str(r) for r in risks),
        widening=widening,
        lock=d.lock,
    )
