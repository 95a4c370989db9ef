"""The planner: ``make_plan(desired, observed) -> Plan``.  Pure: no I/O, no clock, no random.

Decisions per server (hashes decide, diffs only explain):

- nothing there, or state without a container → ``create``
- config hash differs → ``upgrade`` when only the image changed, else ``recreate``
- only the group differs → ``move-group`` (state rewrite, no restart)
- the tool filter, overrides or pins differ → ``reconfigure`` (run-config rewrite; the proxy
  follows it, the container stays)
- desired running but the container is not → ``start``; desired stopped but running → ``stop``
- owned by this project but no longer in the file → ``delete``
- with ``adopt``, an unmanaged workload (no project: made by ToolHive or ``thv run``) named
  like a server → ``adopt`` (our key written into its run config, no restart) when its spec
  matches, else its replacement with the reason ``adopted; …``.  Another project's workload
  is never adopted; without ``adopt`` any clash is a :class:`PlanError`.

Damaged state files (``ObservedWorkload.damage``) are named in the plan's warnings.  A
workload of this project whose run config is damaged is replaced (``recreate``, or ``create``
without a container) when the file still wants it, deleted when not; one whose status file
is damaged is planned from its container, as ToolHive reads it.  A damaged workload of no
project (or of another) named like a server is a :class:`PlanError` naming the file — there
is nothing to compare, so nothing to adopt — and any other is left alone.

MCP clients (:mod:`.clients`): entries written into, updated in or removed from the files of
the clients each group lists, after their server's actions; group files' ``registered_clients``.

Ordering: a dependency graph (group before its members, a workload freeing a port before the
one taking it, members out of a group before the group is deleted), walked topologically
with ties broken by phase (see :data:`.actions.PHASE`) then name (:mod:`.order`).  Output is
deterministic.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import PlanError
from ..fingerprint import TOOL_FIELDS, canonical, config_hash
from ..model import DEFAULT_GROUP, DesiredState, ObservedState, ObservedWorkload, ServerSpec
from .actions import ActionKind, ImageChange, Plan
from .clients import plan_clients
from .diff import field_changes
from .locking import image_drift, mark_checks, unknown_tool_names
from .order import HOST_PORT_FIELDS, Draft, link, order

# Statuses of a remote workload whose proxy runs (unhealthy: the remote does not answer).
REMOTE_SERVING = frozenset({"running", "starting", "unhealthy", "unauthenticated", "auth_retrying"})
# Statuses a running container keeps when an operation on it was interrupted: no proxy serves.
_INTERRUPTED = frozenset({"starting", "stopping", "stopped", "removing", "error"})


def make_plan(
    desired: DesiredState, observed: ObservedState, *, adopt: bool = False, strict: bool = False
) -> Plan:
    """The ordered actions that take ``observed`` to ``desired`` (``adopt``: see above;
    ``strict``: a client that is not installed is an error, see :mod:`.clients`)."""
    _check_conflicts(desired, observed, adopt=adopt)
    drafts: list[Draft] = []
    warnings: list[str] = []
    for spec in sorted(desired.servers, key=lambda s: s.name):  # warnings in a stable order
        obs = observed.workload(spec.name)
        if adopt and obs is not None and not obs.project:
            found, notes = _adopt_actions(desired.project, spec, obs)
            drafts.extend(found)
            warnings.extend(notes)
        else:
            drafts.extend(_server_actions(desired.project, spec, obs))
    wanted = {s.name for s in desired.servers}
    for obs in observed.workloads:
        if obs.project == desired.project and obs.name not in wanted:
            drafts.append(
                Draft(
                    ActionKind.DELETE,
                    obs.name,
                    "not in the workloads file",
                    before=obs.spec,
                    target=obs.container_id,
                )
            )
    group_drafts, group_warnings = _group_actions(desired, observed, drafts)
    drafts.extend(group_drafts)
    warnings.extend(group_warnings)
    warnings[:0] = _damage_warnings(desired, observed, wanted)
    _check_ports(desired, observed, drafts)
    client_drafts, client_warnings = plan_clients(desired, observed, drafts, strict=strict)
    drafts.extend(client_drafts)
    warnings.extend(client_warnings)
    mark_checks(desired, drafts)
    warnings.extend(unknown_tool_names(desired, observed))
    link(drafts, observed)
    return Plan(project=desired.project, actions=order(drafts), warnings=tuple(warnings))


# -- per server ---------------------------------------------------------------------------
def _server_actions(project: str, spec: ServerSpec, obs: ObservedWorkload | None) -> list[Draft]:
    prior = obs.spec if obs else None
    after = _after(spec, prior)
    if obs is None or (not obs.container_id and not obs.remote):
        reason = "not present" if obs is None else "container missing; state exists"
        if obs is not None and obs.runconfig_damaged:
            reason = "its run config is damaged; made anew"
        return [Draft(ActionKind.CREATE, spec.name, reason, before=prior, after=after)]
    if obs.runconfig_damaged or prior is None:  # no run config: the proxy could not start
        reason = f"its run config is {'damaged' if obs.runconfig_damaged else 'missing'}; made anew"
        return [Draft(ActionKind.RECREATE, spec.name, reason, after=after, target=obs.container_id)]
    current_hash = obs.config_hash or (config_hash(prior) if prior else "")
    if current_hash != config_hash(after):
        return [_replacement(spec, obs, after)]
    drift = image_drift(spec, obs, after)
    if drift is not None:
        return [drift]
    drafts = []
    if prior and prior.get("group") != spec.group:
        drafts.append(
            Draft(
                ActionKind.MOVE_GROUP,
                spec.name,
                f"group {prior.get('group')} → {spec.group}",
                before=prior,
                after=after,
            )
        )
    tools = _tool_changes(prior, after)
    if tools:
        reason = f"{', '.join(tools)} changed; the proxy follows, the container stays"
        draft = Draft(ActionKind.RECONFIGURE, spec.name, reason, before=prior, after=after)
        draft.deps.update(d.key for d in drafts)  # both rewrite the run config: one by one
        drafts.append(draft)
    for state_draft in _state_actions(spec, obs, prior, after):
        # a proxy starts with its new settings
        state_draft.deps.update(d.key for d in drafts if d.kind is ActionKind.RECONFIGURE)
        drafts.append(state_draft)
    return drafts


def _tool_changes(prior: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The tool fields (filter, overrides, pins) that differ; an absent field is empty."""
    empty: dict[str, Any] = {"tools": [], "tools_override": {}, "tool_pins": None}
    return [f for f in TOOL_FIELDS if (prior or {}).get(f, empty[f]) != after.get(f, empty[f])]


def _after(spec: ServerSpec, prior: dict[str, Any] | None) -> dict[str, Any]:
    """The desired canonical spec; ports left out of the file keep their current value."""
    after = canonical(spec, port=_kept(spec.port, prior, "port"))
    after["target_port"] = _kept(spec.target_port, prior, "target_port") if _http(spec) else None
    return after


def _replacement(spec: ServerSpec, obs: ObservedWorkload, after: dict[str, Any]) -> Draft:
    changes = field_changes(obs.spec, after)
    changed = {c.path.split(".", 1)[0] for c in changes} - {"group"}
    if changed == {"image"}:
        reason = "image changed"
        kind = ActionKind.UPGRADE
    else:
        kind = ActionKind.RECREATE
        fields = ", ".join(sorted(changed)) or "configuration"
        reason = f"{fields} changed"
        if "labels" in changed:
            reason += " (container labels are immutable)"
    draft = Draft(kind, spec.name, reason, before=obs.spec, after=after, target=obs.container_id)
    if kind is ActionKind.UPGRADE:
        old = str((obs.spec or {}).get("image") or obs.image)
        draft.image = ImageChange(old, spec.image, before_digest=obs.image_id)
    return draft


def _state_actions(
    spec: ServerSpec, obs: ObservedWorkload, prior: dict[str, Any] | None, after: dict[str, Any]
) -> list[Draft]:
    if obs.remote:  # no container: the proxy's status says whether it serves
        running = obs.status in REMOTE_SERVING
        now = f"proxy is {obs.status or 'not started'}"
        if running and spec.state == "running" and not obs.proxy_alive:
            running, now = False, "its proxy process is gone"
    else:
        running = obs.container_state == "running"
        now = f"container is {obs.container_state}"
        if running and spec.state == "running" and obs.status in _INTERRUPTED:
            # e.g. an apply killed after the container started, before its proxy did
            running, now = False, f"container is running but the workload is {obs.status}"
        elif running and spec.state == "running" and not obs.proxy_alive:
            # after a reboot or a crash: the container runs, its proxy does not (adoption)
            running, now = False, "container is running but its proxy is not"
    if spec.state == "running" and not running:
        return [
            Draft(
                ActionKind.START,
                spec.name,
                now,
                before=prior,
                after=after,
                target=obs.container_id,
            )
        ]
    if spec.state == "stopped" and running:
        return [
            Draft(
                ActionKind.STOP,
                spec.name,
                "state: stopped",
                before=prior,
                after=after,
                target=obs.container_id,
            )
        ]
    return []


def _kept(explicit: int | None, prior: dict[str, Any] | None, key: str) -> int | None:
    if explicit is not None:
        return explicit
    value = (prior or {}).get(key)
    return int(value) if value else None


def _http(spec: ServerSpec) -> bool:
    return not spec.url and spec.transport in ("sse", "streamable-http")


# -- adoption --------------------------------------------------------------------------------
_REPLACING = frozenset({ActionKind.CREATE, ActionKind.RECREATE, ActionKind.UPGRADE})


def _adopt_actions(
    project: str, spec: ServerSpec, obs: ObservedWorkload
) -> tuple[list[Draft], list[str]]:
    """An unmanaged workload taken under ``project``.  When it matches the file: one
    ``adopt`` (a run-config rewrite that also does any group move), then any start or stop.
    Otherwise its replacement, the reason prefixed ``adopted;``."""
    view, warnings = _secrets_taken_as_known(spec, obs)
    drafts = _server_actions(project, spec, view)
    if any(d.kind in _REPLACING for d in drafts):
        for d in drafts:
            d.reason = f"adopted; {d.reason}"
        return drafts, warnings
    reason = f"unmanaged workload matches the file; taken under project {project}"
    reason += "".join(f"; {d.reason}" for d in drafts if d.kind is ActionKind.MOVE_GROUP)
    adopt = Draft(
        ActionKind.ADOPT, spec.name, reason, before=obs.spec, after=_after(spec, obs.spec)
    )
    rest = [d for d in drafts if d.kind is not ActionKind.MOVE_GROUP]
    for d in rest:
        d.deps.add(adopt.key)
    return [adopt, *rest], warnings


def _secrets_taken_as_known(
    spec: ServerSpec, obs: ObservedWorkload
) -> tuple[ObservedWorkload, list[str]]:
    """A spec rebuilt from ToolHive's run config names its secrets but cannot know their
    values (ToolHive's secrets provider holds them).  For the comparison, such a secret
    counts as the file's when the target matches — with a warning saying so."""
    secrets = dict((obs.spec or {}).get("secrets") or {})
    digests = {s.target: s.digest for s in spec.secrets}
    unknown = sorted(t for t, v in secrets.items() if t in digests and not v.get("digest"))
    if not unknown:
        return obs, []
    for target in unknown:
        secrets[target] = {**secrets[target], "digest": digests[target]}
    view = replace(obs, spec={**(obs.spec or {}), "secrets": secrets})
    names = ", ".join(unknown)
    return view, [
        f"server {spec.name}: the value of secret(s) {names} cannot be compared (ToolHive keeps "
        f"it); adopting assumes it matches (if not: thv rm {spec.name}, then apply again)"
    ]


# -- groups ----------------------------------------------------------------------------------
def _group_actions(
    desired: DesiredState, observed: ObservedState, drafts: list[Draft]
) -> tuple[list[Draft], list[str]]:
    out, warnings = [], []
    existing = {g.name: g for g in observed.groups}
    declared = {g.name for g in desired.groups}
    for group in desired.groups:
        current = existing.get(group.name)
        if group.name == DEFAULT_GROUP:
            continue
        if current is None:
            out.append(
                Draft(
                    ActionKind.GROUP_CREATE,
                    group.name,
                    "not present",
                    after={"description": group.description},
                )
            )
        elif current.project == desired.project and current.description != group.description:
            out.append(
                Draft(
                    ActionKind.GROUP_UPDATE,
                    group.name,
                    "description changed",
                    before={"description": current.description},
                    after={"description": group.description},
                )
            )
    leaving = {d.name for d in drafts if d.kind is ActionKind.DELETE}
    members = _members_after(desired, observed, leaving)
    for ogroup in sorted(observed.groups, key=lambda g: g.name):
        if ogroup.project != desired.project or ogroup.name in declared:
            continue
        if ogroup.name == DEFAULT_GROUP:
            continue
        if members.get(ogroup.name):
            names = ", ".join(sorted(members[ogroup.name]))
            warnings.append(
                f"group {ogroup.name} is no longer declared but is kept: used by {names}"
            )
            continue
        out.append(
            Draft(
                ActionKind.GROUP_DELETE,
                ogroup.name,
                "not in the workloads file",
                before={"description": ogroup.description},
            )
        )
    return out, warnings


def _members_after(
    desired: DesiredState, observed: ObservedState, leaving: set[str]
) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    ours = {s.name: s.group for s in desired.servers}
    for name, group in observed.memberships:
        if name in leaving:
            continue
        groups.setdefault(ours.get(name, group), set()).add(name)
    for name, group in ours.items():
        groups.setdefault(group, set()).add(name)
    return groups


# -- damage ----------------------------------------------------------------------------------
def _damage_warnings(desired: DesiredState, observed: ObservedState, wanted: set[str]) -> list[str]:
    """The damaged state this plan meets: its own workloads and groups, and the notes."""
    found = list(observed.notes)
    for obs in observed.workloads:
        if obs.damage and (obs.project == desired.project or obs.name in wanted):
            found.append(f"workload {obs.name}: {obs.damage}")
    declared = {g.name for g in desired.groups}
    for group in observed.groups:
        if group.damage and (group.project == desired.project or group.name in declared):
            found.append(f"group {group.name}: {group.damage} (ToolHive cannot read it)")
    return found


# -- conflicts ---------------------------------------------------------------------------------
def _check_conflicts(desired: DesiredState, observed: ObservedState, *, adopt: bool) -> None:
    problems = []
    unmanaged = False
    foreign = dict(observed.foreign_containers)
    for spec in sorted(desired.servers, key=lambda s: s.name):
        obs = observed.workload(spec.name)
        if obs is not None and obs.runconfig_damaged and obs.project != desired.project:
            owner = f"of project {obs.project}" if obs.project else "of no project"
            problems.append(f"workload {spec.name} ({owner}) cannot be read: {obs.damage}")
            continue
        if obs is not None and not obs.project and adopt:
            continue
        if obs is not None and obs.project != desired.project:
            unmanaged = unmanaged or not obs.project
            owner = f"project {obs.project}" if obs.project else "ToolHive (not toolhive-compose)"
            problems.append(f"workload {spec.name} already exists and is managed by {owner}")
        elif spec.name in foreign:
            problems.append(
                f"a container named {spec.name} ({foreign[spec.name][:12]}) exists that ToolHive "
                "does not manage"
            )
    if problems:
        hint = (
            "rename the server in the file, or remove the existing workload "
            "(thv rm NAME / docker rm NAME) and plan again"
        )
        if unmanaged:
            hint = f"to take unmanaged workloads under this project, add --adopt; or {hint}"
        raise PlanError(_join(problems), hint=hint)


def _check_ports(desired: DesiredState, observed: ObservedState, drafts: list[Draft]) -> None:
    """Every host port the plan's outcome uses belongs to one workload only.

    A workload being deleted, recreated or upgraded frees its ports; every planned workload
    takes the ports of its new spec; every other workload keeps its own.  A port kept
    automatically is as taken as an explicit one.
    """
    moving = {
        d.name
        for d in drafts
        if d.kind in (ActionKind.DELETE, ActionKind.RECREATE, ActionKind.UPGRADE)
    }
    planned = {d.name for d in drafts if d.after and not d.is_group_kind()}
    held: dict[int, str] = {}
    for obs in sorted(observed.workloads, key=lambda w: w.name):
        if obs.name in moving or obs.name in planned:
            continue
        for key in HOST_PORT_FIELDS:
            if obs.spec and obs.spec.get(key):
                held.setdefault(int(obs.spec[key]), obs.name)
    for d in sorted(drafts, key=lambda d: (d.name, str(d.kind))):
        for key in HOST_PORT_FIELDS:
            if d.after and not d.is_group_kind() and d.after.get(key):
                held.setdefault(int(d.after[key]), d.name)
    problems = [
        f"server {d.name}: {key} {d.after[key]} is already used by workload {held[d.after[key]]}"
        for d in sorted(drafts, key=lambda d: (d.name, str(d.kind)))
        if d.after and not d.is_group_kind()
        for key in HOST_PORT_FIELDS
        if d.after.get(key) in held and held[d.after[key]] != d.name
    ]
    if problems:
        raise PlanError(
            _join(problems), hint="choose another port, or leave it out to get a free one"
        )


def _join(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} conflicts:\n" + "\n".join(f"  - {p}" for p in problems)
