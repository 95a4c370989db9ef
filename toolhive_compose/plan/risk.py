"""Risk classes of planned actions: a pure function of the action's kind and its before/after
canonical specs (:func:`toolhive_compose.fingerprint.canonical`).

Every action carries one or more classes:

- ``disruptive``: the server restarts or goes away (stop, delete, recreate, upgrade), or an MCP
  client loses it (a ``client-unregister`` that removes the entry from the client's file);
- ``privilege-widening``: the server is granted more than before (:func:`widening` lists how);
- ``new-server``: a server that does not exist in any form is created;
- ``benign``: none of the above (writing a server's entry into a client's file grants the server
  nothing: it is the group's ``clients:`` list, shown in the plan, that says which clients).

What a server is granted is read as ToolHive enforces it (toolhive-core
``permissions/profile.go``; the egress rules of ``pkg/container/docker/squid.go``):

- **mounts**: ``volumes`` (``:ro`` read-only, else writable) together with the profile's
  ``read`` and ``write`` mount declarations (``path``, ``host:container``, ``scheme://res:ctr``).
  A host path is covered by an earlier mount of itself or of a directory above it, with at least
  the same access; anything not covered widens.
- **outbound network**: no ``network`` object, or ``insecure_allow_all``, allows everything;
  otherwise ``allow_host`` (a leading ``.`` admits the domain and its subdomains) and
  ``allow_port`` are AND-ed, an empty list meaning "any", and both empty meaning nothing.  The
  new set must lie inside the old one.
- **inbound network**: ``inbound.allow_host``, or (empty) the server's own name and localhost.
- **network mode**: ``none`` < bridge (``""``, ``bridge``, ``default``) < a custom network <
  ``host``; moving up (or onto another custom network) widens.
- **privileged**: false → true widens.
- **secrets**: a new secret target, or an existing target fed from another source, hands the
  server a credential it did not have (a rotated value from the same source does not).
- **network isolation** (``isolate_network``): true → anything else widens.
- **the tool filter** (``tools``, an allow-list of the names clients see, empty = every tool,
  after the renames of ``tools_override``): removing it, or admitting a tool it did not admit
  (a name added, or a tool renamed into the list), widens.

A remote server (``url``) runs nothing here: it is granted nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any

from .actions import RISK_CLASSES, ActionKind


class Risk(StrEnum):
    DISRUPTIVE = "disruptive"
    PRIVILEGE_WIDENING = "privilege-widening"
    NEW_SERVER = "new-server"
    BENIGN = "benign"


# The classes every action of a kind has.  A kind missing here fails tests/test_risk.py: whoever
# adds a kind classifies it.
KIND_RISKS: dict[ActionKind, frozenset[Risk]] = {
    ActionKind.GROUP_CREATE: frozenset(),
    ActionKind.GROUP_UPDATE: frozenset(),
    ActionKind.STOP: frozenset({Risk.DISRUPTIVE}),
    ActionKind.DELETE: frozenset({Risk.DISRUPTIVE}),
    ActionKind.MOVE_GROUP: frozenset(),
    ActionKind.ADOPT: frozenset(),
    ActionKind.RECONFIGURE: frozenset(),  # the proxy follows a new tool filter: no restart
    ActionKind.UPGRADE: frozenset({Risk.DISRUPTIVE}),
    ActionKind.RECREATE: frozenset({Risk.DISRUPTIVE}),
    ActionKind.CREATE: frozenset(),
    ActionKind.START: frozenset(),
    ActionKind.CLIENT_REGISTER: frozenset(),
    ActionKind.CLIENT_UPDATE: frozenset(),
    ActionKind.CLIENT_UNREGISTER: frozenset(),  # disruptive when it removes the entry (below)
    ActionKind.GROUP_DELETE: frozenset(),
}
# Kinds whose after-spec may grant more than the before-spec did.
SPEC_CHANGING = frozenset(
    {
        ActionKind.CREATE, ActionKind.RECREATE, ActionKind.UPGRADE, ActionKind.ADOPT,
        ActionKind.RECONFIGURE,
    }
)  # fmt: skip
ORDER = tuple(Risk(r) for r in RISK_CLASSES)


def classify(
    kind: ActionKind, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[tuple[Risk, ...], tuple[str, ...]]:
    """The action's classes (in :data:`ORDER`) and, when it widens privileges, how."""
    found = set(KIND_RISKS[kind])
    if kind is ActionKind.CLIENT_UNREGISTER and before is not None and after is None:
        found.add(Risk.DISRUPTIVE)  # the client loses the server (not a record-only forget)
    reasons: tuple[str, ...] = ()
    if kind in SPEC_CHANGING and after is not None:
        if before is None:
            if kind is ActionKind.CREATE:
                found.add(Risk.NEW_SERVER)
        else:
            reasons = tuple(widening(before, after))
    if reasons:
        found.add(Risk.PRIVILEGE_WIDENING)
    if not found:
        found.add(Risk.BENIGN)
    return tuple(r for r in ORDER if r in found), reasons


def widening(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """How ``after`` grants more than ``before``: one sentence per widening, in a fixed order."""
    old, new = Grants(before), Grants(after)
    return [
        *_mounts(old, new),
        *_outbound(old, new),
        *_inbound(old, new),
        *_mode(old, new),
        *_privileged(old, new),
        *_secrets(before, after),
        *_isolation(before, after),
        *_tools(before, after),
    ]


class Grants:
    """What one canonical spec grants its container."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.local = not spec.get("url")
        profile_doc = spec.get("permission_profile") or {}
        profile = profile_doc.get("profile") if isinstance(profile_doc, Mapping) else None
        # A local server without a resolved profile runs with ToolHive's default, ``network``.
        self.profile: Mapping[str, Any] = profile if isinstance(profile, Mapping) else {}
        self.has_network = "network" in self.profile if profile is not None else False
        network = self.profile.get("network") if self.has_network else None
        self.network: Mapping[str, Any] = network if isinstance(network, Mapping) else {}
        self.mounts = dict(self._mounts(spec)) if self.local else {}

    def _mounts(self, spec: Mapping[str, Any]) -> Iterator[tuple[str, bool]]:
        """(host path, writable) of every mount; a path mounted twice takes the wider access."""
        pairs = [(_volume_host(v), not str(v).endswith(":ro")) for v in spec.get("volumes") or ()]
        pairs += [(_declaration_host(d), False) for d in _strings(self.profile.get("read"))]
        pairs += [(_declaration_host(d), True) for d in _strings(self.profile.get("write"))]
        merged: dict[str, bool] = {}
        for host, writable in pairs:
            merged[host] = merged.get(host, False) or writable
        yield from sorted(merged.items())

    def outbound(self) -> Outbound:
        """What the egress rules let out: everything (``ALL``), nothing (None), or the
        (hosts, ports) pair AND-ed, None in a place meaning "any"."""
        if not self.local:
            return None
        if not self.has_network:
            return ALL
        value = self.network.get("outbound")
        rules: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
        if rules.get("insecure_allow_all"):
            return ALL
        hosts = frozenset(_strings(rules.get("allow_host")))
        ports = frozenset(p for p in rules.get("allow_port") or () if isinstance(p, int))
        if not hosts and not ports:
            return None
        return (hosts or None, ports or None)

    def mode_rank(self) -> int:
        if not self.local:
            return -1
        return _MODE_RANK.get(self.mode, 2)

    @property
    def mode(self) -> str:
        return str(self.network.get("mode") or "")

    def inbound(self) -> frozenset[str]:
        """Who may call in: ``allow_host``, else the server's own name and localhost."""
        inbound = self.network.get("inbound")
        hosts = _strings(inbound.get("allow_host")) if isinstance(inbound, Mapping) else []
        return frozenset(hosts) or DEFAULT_INBOUND

    @property
    def privileged(self) -> bool:
        return self.local and bool(self.profile.get("privileged"))


ALL = "all"
DEFAULT_INBOUND = frozenset({"(its own name)", "localhost", "127.0.0.1"})
Outbound = tuple[frozenset[str] | None, frozenset[int] | None] | str | None
_MODE_RANK = {"none": 0, "": 1, "bridge": 1, "default": 1, "host": 3}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


# -- the rules ---------------------------------------------------------------------------------
def _mounts(old: Grants, new: Grants) -> Iterator[str]:
    for host, writable in new.mounts.items():
        if _covered(host, writable, old.mounts):
            continue
        if writable and _covered(host, False, old.mounts):
            yield f"{host} becomes writable (was read-only)"
        else:
            access = "writable" if writable else "read-only"
            yield f"mounts the host path {host} ({access})"


def _covered(host: str, writable: bool, mounts: Mapping[str, bool]) -> bool:
    return any(
        (ok or not writable) and (host == path or _under(host, path)) for path, ok in mounts.items()
    )


def _under(path: str, directory: str) -> bool:
    if "://" in path or "://" in directory:
        return False
    return path.startswith(directory.rstrip("/") + "/")


def _outbound(old: Grants, new: Grants) -> Iterator[str]:
    before, after = old.outbound(), new.outbound()
    if before == ALL or after is None or after == before:
        return
    if after == ALL:
        yield f"network.outbound allows every destination (was {_describe(before)})"
        return
    assert isinstance(after, tuple)
    if before is None:
        yield f"network.outbound allows {_describe(after)} (was nothing)"
        return
    assert isinstance(before, tuple)
    (hosts, ports), (old_hosts, old_ports) = after, before
    if old_hosts is not None:
        if hosts is None:
            yield f"network.outbound allows any host (was {', '.join(sorted(old_hosts))})"
        elif extra := sorted(h for h in hosts if not _host_covered(h, old_hosts)):
            yield f"network.outbound allows host(s) {', '.join(extra)}"
    if old_ports is not None:
        if ports is None:
            yield f"network.outbound allows any port (was {', '.join(map(str, sorted(old_ports)))})"
        elif extra_ports := sorted(ports - old_ports):
            yield f"network.outbound allows port(s) {', '.join(map(str, extra_ports))}"


def _describe(allowed: Outbound) -> str:
    if allowed is None:
        return "nothing"
    if allowed == ALL:
        return "everything"
    assert isinstance(allowed, tuple)
    hosts, ports = allowed
    where = f"host(s) {', '.join(sorted(hosts))}" if hosts is not None else "any host"
    on = f"port(s) {', '.join(map(str, sorted(ports)))}" if ports is not None else "any port"
    return f"{where} on {on}"


def _host_covered(host: str, allowed: Iterable[str]) -> bool:
    """Squid's ``dstdomain``: ``.example.com`` admits example.com and every subdomain."""
    for entry in allowed:
        if host == entry:
            return True
        if entry.startswith(".") and (host == entry[1:] or host.endswith(entry)):
            return True
    return False


def _inbound(old: Grants, new: Grants) -> Iterator[str]:
    if not (old.local and new.local):
        return
    before = old.inbound()
    if extra := sorted(h for h in new.inbound() if not _host_covered(h, before)):
        yield f"network.inbound admits host(s) {', '.join(extra)}"


def _mode(old: Grants, new: Grants) -> Iterator[str]:
    if not (old.local and new.local):
        if new.local and not old.local:
            yield "runs as a container on this machine (was a remote server)"
        return
    rank, old_rank = new.mode_rank(), old.mode_rank()
    if rank > old_rank or (rank == 2 and new.mode != old.mode):
        yield f"network mode {old.mode or 'bridge'} → {new.mode or 'bridge'}"


def _privileged(old: Grants, new: Grants) -> Iterator[str]:
    if new.privileged and not old.privileged:
        yield "runs privileged"


def _secrets(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[str]:
    old = before.get("secrets") or {}
    for target, value in sorted((after.get("secrets") or {}).items()):
        source = value.get("from") if isinstance(value, Mapping) else None
        if target not in old:
            yield f"secret {target} is handed to the server ({source})"
        elif isinstance(old[target], Mapping) and old[target].get("from") != source:
            yield f"secret {target} now comes from {source} (was {old[target].get('from')})"


def _isolation(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[str]:
    if before.get("isolate_network") is True and after.get("isolate_network") is not True:
        yield "network isolation is turned off"


def _tools(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[str]:
    """ToolHive renames first (``tools_override``), then filters by the new name (``tools``;
    empty: no filter).  A tool admitted now that was not before widens: found among the names
    the filter lists and the tools either side renames."""
    old_filter, new_filter = set(_strings(before.get("tools"))), set(_strings(after.get("tools")))
    if not old_filter:  # no filter: every tool was admitted already
        return
    if not new_filter:
        yield "the tool filter is removed (every tool is admitted)"
        return
    old_names, new_names = _renames(before), _renames(after)
    candidates = new_filter | set(old_names) | set(new_names)
    admitted = sorted(
        tool
        for tool in candidates
        if new_names.get(tool, tool) in new_filter and old_names.get(tool, tool) not in old_filter
    )
    if admitted:
        yield f"the tool filter admits {', '.join(admitted)}"


def _renames(spec: Mapping[str, Any]) -> dict[str, str]:
    """actual tool name → the name clients see (``tools_override``)."""
    overrides = spec.get("tools_override")
    if not isinstance(overrides, Mapping):
        return {}
    return {
        str(actual): str(entry["name"])
        for actual, entry in overrides.items()
        if isinstance(entry, Mapping) and entry.get("name")
    }


# -- reading mount declarations ----------------------------------------------------------------
def _volume_host(volume: Any) -> str:
    """``host:container[:ro]`` (host made absolute by the loader) → host."""
    text = str(volume)
    if _WINDOWS_DRIVE.match(text):
        return text[:2] + text[2:].split(":", 1)[0]
    return text.split(":", 1)[0]


def _declaration_host(declaration: str) -> str:
    """A profile mount declaration's host side: ``path``, ``host:container``, or
    ``scheme://resource:container`` (the resource, with its scheme)."""
    scheme, sep, rest = declaration.partition("://")
    if sep:
        return f"{scheme}://{rest.rsplit(':', 1)[0] if ':' in rest else rest}"
    if _WINDOWS_DRIVE.match(declaration):
        head, rest = declaration[:2], declaration[2:]
        return head + rest.split(":", 1)[0]
    return declaration.split(":", 1)[0]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list | tuple) else []
