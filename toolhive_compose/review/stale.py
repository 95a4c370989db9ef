"""Is a saved plan still the plan?  What changed since it was made, one phrase per change.

Checked in order, all of them, against the machine as it is now:

1. the input files (each one's digest);
2. the project, each server's resolved spec (a secret by its keyed digest, re-read from the
   same source: a rotated value is a change) and the declared groups;
3. the observed state's fingerprint (containers, statuses, proxies, groups, owners);
4. and, when nothing above moved, that a plan made now is the same plan — the backstop for
   anything the checks above cannot see.

Pure: the caller gathers the present (files re-read, workloads loaded, state observed, planned).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import PlanError, StalePlan
from ..model import DesiredState
from ..plan.actions import Action, Plan
from ..plan.diff import field_changes
from .fingerprint import Fingerprint, moved
from .inputs import Input, changed
from .saved import SavedPlan, desired_record

SHOWN = 3  # phrases in the message; the rest are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class Present:
    """The machine now, gathered for one saved plan."""

    inputs: list[Input]
    desired: DesiredState
    fingerprint: Fingerprint
    plan: Plan | PlanError  # a plan made now (or why none can be)


def check(saved: SavedPlan, now: Present) -> None:
    """Nothing when the plan still holds; else :class:`StalePlan` saying what changed."""
    found = reasons(saved, now)
    if not found:
        return
    shown = "; ".join(found[:SHOWN])
    more = f"; and {len(found) - SHOWN} more change(s)" if len(found) > SHOWN else ""
    raise StalePlan(
        f"plan is stale: {shown}{more}",
        hint="nothing was done; make a new plan (thv plan -o FILE), review it, apply that",
    )


def reasons(saved: SavedPlan, now: Present) -> list[str]:
    files = changed(list(saved.inputs), now.inputs)
    where = [i.path for i, _ in files if i.role == "workloads"]
    declared = list(_desired(saved, now.desired, where))
    # A changed workloads file is named by what changed in it, when that is known.
    found = [p for i, p in files if not (declared and i.role == "workloads")]
    found += declared
    found += moved(saved.fingerprint, now.fingerprint)
    if not found:
        found += _replanned(saved.plan, now.plan)
    return found


def _desired(saved: SavedPlan, desired: DesiredState, where: list[str]) -> Iterator[str]:
    in_files = f" in {', '.join(where)}" if where else ""
    if desired.project != saved.project:
        yield f"the project is now {desired.project} (was {saved.project})"
    servers, groups = desired_record(desired)
    for name in sorted(set(saved.servers) | set(servers)):
        before, after = saved.servers.get(name), servers.get(name)
        if before is None:
            yield f"servers.{name} was added{in_files}"
        elif after is None:
            yield f"servers.{name} was removed{in_files}"
        else:
            yield from _server(name, before, after, in_files)
    for name in sorted(set(saved.groups) | set(groups)):
        if saved.groups.get(name) != groups.get(name):
            yield f"groups.{name} changed{in_files}"


def _server(name: str, before: dict[str, Any], after: dict[str, Any], where: str) -> Iterator[str]:
    old, new = dict(before), dict(after)
    old_secrets, new_secrets = old.pop("secrets", {}) or {}, new.pop("secrets", {}) or {}
    rotated = []
    for target in sorted(set(old_secrets) & set(new_secrets)):
        o, n = old_secrets[target], new_secrets[target]
        if o.get("from") == n.get("from") and o.get("digest") and o["digest"] != n.get("digest"):
            rotated.append(target)
    for target in rotated:
        source = new_secrets[target].get("from")
        yield f"secret {target} of {name} changed (a new value in {source})"
    sources = {t: v.get("from") for t, v in old_secrets.items()}
    if sources != {t: v.get("from") for t, v in new_secrets.items()}:
        yield f"servers.{name}.secrets changed{where}"
    fields = sorted({c.path for c in field_changes(old, new)})
    if fields:
        yield f"servers.{name} changed{where} ({', '.join(fields)})"


def _replanned(saved: Plan, now: Plan | PlanError) -> list[str]:
    if isinstance(now, PlanError):
        return [f"a plan made now fails: {now.message.splitlines()[0]}"]
    old, new = [_key(a) for a in saved.actions], [_key(a) for a in now.actions]
    if old == new:
        return []
    for index, (a, b) in enumerate(zip(old, new, strict=False)):
        if a != b:
            return [f"a plan made now differs at action #{index} ({_said(b)}, not {_said(a)})"]
    extra = new[len(old) :] or old[len(new) :]
    what = "has" if len(new) > len(old) else "lacks"
    return [f"a plan made now {what} {len(extra)} more action(s) ({_said(extra[0])} first)"]


def _key(action: Action) -> tuple[Any, ...]:
    changes = tuple((c.path, repr(c.before), repr(c.after)) for c in action.changes)
    return (str(action.kind), action.name, action.reason, changes, action.depends_on, action.risks)


def _said(key: tuple[Any, ...]) -> str:
    return f"{key[0]} {key[1]}: {key[2]}"
