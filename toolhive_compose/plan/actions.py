"""A plan: ordered actions with reasons and field changes.  Plain, serialisable data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FORMAT_VERSION = "1"
SENSITIVE = "(sensitive)"
# The risk classes (:class:`.risk.Risk`), in their fixed order.
RISK_CLASSES = ("disruptive", "privilege-widening", "new-server", "benign")


class ActionKind(StrEnum):
    GROUP_CREATE = "group-create"
    GROUP_UPDATE = "group-update"
    STOP = "stop"
    DELETE = "delete"
    MOVE_GROUP = "move-group"
    ADOPT = "adopt"  # an unmanaged workload taken under the project (run config only)
    RECONFIGURE = "reconfigure"  # tool filter, overrides or pins: the proxy follows, no restart
    UPGRADE = "upgrade"
    RECREATE = "recreate"
    CREATE = "create"
    START = "start"
    CLIENT_REGISTER = "client-register"  # a server's entry written into an MCP client's file
    CLIENT_UPDATE = "client-update"
    CLIENT_UNREGISTER = "client-unregister"
    GROUP_DELETE = "group-delete"


# Execution phase of each kind: the tie-breaker of the topological order.
PHASE = {
    ActionKind.GROUP_CREATE: 0,
    ActionKind.GROUP_UPDATE: 0,
    ActionKind.STOP: 1,
    ActionKind.DELETE: 2,
    ActionKind.MOVE_GROUP: 3,
    ActionKind.ADOPT: 3,
    ActionKind.RECONFIGURE: 3,
    ActionKind.UPGRADE: 4,
    ActionKind.RECREATE: 4,
    ActionKind.CREATE: 5,
    ActionKind.START: 6,
    ActionKind.CLIENT_REGISTER: 7,
    ActionKind.CLIENT_UPDATE: 7,
    ActionKind.CLIENT_UNREGISTER: 7,
    ActionKind.GROUP_DELETE: 8,
}
CLIENT_KINDS = frozenset(
    {ActionKind.CLIENT_REGISTER, ActionKind.CLIENT_UPDATE, ActionKind.CLIENT_UNREGISTER}
)
KNOWN_AFTER_APPLY = "(known after apply)"
# Kinds that take a workload's container or proxy down, even briefly.
DESTRUCTIVE = frozenset(
    {ActionKind.STOP, ActionKind.DELETE, ActionKind.UPGRADE, ActionKind.RECREATE}
)


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    before: Any
    after: Any
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FieldChange:
        before, after = doc["before"], doc["after"]
        return cls(str(doc["path"]), before, after, SENSITIVE in (before, after))


@dataclass(frozen=True, slots=True)
class ImageChange:
    """An upgrade's image: old → new reference, and image ids (``sha256:…`` digests of the
    image config) where known: the running container's from the list call, the new image's
    once it is present locally."""

    before: str
    after: str
    before_digest: str = ""
    after_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        doc = {"before": self.before, "after": self.after}
        if self.before_digest:
            doc["before_digest"] = self.before_digest
        if self.after_digest:
            doc["after_digest"] = self.after_digest
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ImageChange:
        return cls(
            str(doc["before"]),
            str(doc["after"]),
            str(doc.get("before_digest", "")),
            str(doc.get("after_digest", "")),
        )


@dataclass(frozen=True, slots=True)
class ClientTarget:
    """The MCP client a client action edits: its file and where the entry sits there."""

    name: str  # the client (cursor, vscode, ...)
    file: str  # its configuration file, absolute
    location: str  # the entry in the file: ``mcpServers.fetch``, ``mcpServers[name=fetch]``
    group: str  # the group whose clients list brought it

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "location": self.location,
                "group": self.group}  # fmt: skip

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ClientTarget:
        return cls(str(doc["name"]), str(doc["file"]), str(doc["location"]), str(doc["group"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    id: int
    kind: ActionKind
    name: str  # workload or group name
    reason: str
    changes: tuple[FieldChange, ...] = ()
    depends_on: tuple[int, ...] = ()
    target: str = ""  # the container id acted on, if any
    image: ImageChange | None = None  # upgrades only
    client: ClientTarget | None = None  # client actions only
    risks: tuple[str, ...] = ()  # risk classes (:mod:`.risk`), in their fixed order
    widening: tuple[str, ...] = ()  # how a privilege-widening action grants more
    # With workloads.lock: once the server is ready, its tools are checked against the lock
    # ("check"), or recorded into it ("record": a server the lock does not name yet).
    lock: str = ""
    # Canonical specs (fingerprint.canonical); for a client action, the entry as the plan saw
    # it and as it will be.  Not serialised: specs carry secret digests.
    before: dict[str, Any] | None = field(default=None, compare=False)
    after: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def is_group(self) -> bool:
        return self.kind.startswith("group-")

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "id": self.id,
            "kind": str(self.kind),
            "name": self.name,
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
            "depends_on": list(self.depends_on),
        }
        if self.image is not None:
            doc["image"] = self.image.to_dict()
        if self.client is not None:
            doc["client"] = self.client.to_dict()
        doc["risk"] = list(self.risks)
        doc["widening"] = list(self.widening)
        if self.lock:
            doc["lock"] = self.lock
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Action:
        """The action :meth:`to_dict` wrote (without the canonical specs it leaves out)."""
        image, client = doc.get("image"), doc.get("client")
        return cls(
            id=int(doc["id"]),
            kind=ActionKind(doc["kind"]),
            name=str(doc["name"]),
            reason=str(doc["reason"]),
            changes=tuple(FieldChange.from_dict(c) for c in doc["changes"]),
            depends_on=tuple(int(d) for d in doc["depends_on"]),
            image=ImageChange.from_dict(image) if image is not None else None,
            client=ClientTarget.from_dict(client) if client is not None else None,
            risks=tuple(str(r) for r in doc.get("risk", ())),
            widening=tuple(str(w) for w in doc.get("widening", ())),
            lock=str(doc.get("lock", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    project: str
    actions: tuple[Action, ...] = ()  # in execution order
    warnings: tuple[str, ...] = ()
    format_version: str = FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def summary(self) -> dict[str, int]:
        counts = {str(kind): 0 for kind in ActionKind}
        for action in self.actions:
            counts[str(action.kind)] += 1
        counts["total"] = len(self.actions)
        return counts

    def risk_counts(self) -> dict[str, int]:
        """How many actions carry each risk class (every class, in its fixed order)."""
        counts = dict.fromkeys(RISK_CLASSES, 0)
        for action in self.actions:
            for risk in action.risks:
                counts[risk] = counts.get(risk, 0) + 1
        return counts

    def carrying(self, risk: str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if risk in a.risks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "project": self.project,
            "actions": [a.to_dict() for a in self.actions],
            "warnings": list(self.warnings),
            "summary": self.summary(),
            "risks": self.risk_counts(),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Plan:
        """The plan :meth:`to_dict` wrote; ``KeyError``/``ValueError``/``TypeError`` when the
        document is not one."""
        return cls(
            project=str(doc["project"]),
            actions=tuple(Action.from_dict(a) for a in doc["actions"]),
            warnings=tuple(str(w) for w in doc["warnings"]),
            format_version=str(doc["format_version"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
