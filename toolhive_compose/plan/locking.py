"""What ``workloads.lock`` adds to a plan (pure): image pins, the checks apply will run, and
tool names the server does not offer.

- A server whose container runs another image than the lock pins (``ServerSpec.image_pin``,
  resolved by :mod:`toolhive_compose.workloads.pins`) gets an ``upgrade`` to the pinned image,
  though its spec did not change.
- With a lock, every action that (re)starts a server or changes what its proxy shows is
  marked with the check apply runs once the server is ready: ``check`` (its surface against
  the lock) or ``record`` (a server the lock does not name yet: its surface is written in).
- Names in ``tools`` / ``tools_override`` that the server does not offer, once its proxy has
  seen its tools (``ObservedWorkload.server_tools``), are warnings: ToolHive is silent about
  them, we say it.
"""

from __future__ import annotations

from typing import Any

from ..model import DesiredState, ObservedState, ObservedWorkload, ServerSpec
from .actions import ActionKind, ImageChange
from .order import Draft

CHECKED = frozenset(
    {
        ActionKind.CREATE,
        ActionKind.RECREATE,
        ActionKind.UPGRADE,
        ActionKind.START,
        ActionKind.RECONFIGURE,
    }
)
CHECK, RECORD = "check", "record"


def image_drift(spec: ServerSpec, obs: ObservedWorkload, after: dict[str, Any]) -> Draft | None:
    """An ``upgrade`` to the lock's image when the container runs another one."""
    if obs.remote or not obs.container_id:
        return None
    if spec.image_pin and obs.image_id and obs.image_id != spec.image_pin:
        reason = (
            f"image {spec.image} is pinned to {_short(spec.image_pin)} (workloads.lock); "
            f"the container runs {_short(obs.image_id)}"
        )
    elif spec.image_ref and not spec.image_pin:
        reason = f"workloads.lock pins image {spec.image_ref}, which is not here yet"
    else:
        return None
    draft = Draft(
        ActionKind.UPGRADE, spec.name, reason, before=obs.spec, after=after, target=obs.container_id
    )
    old = str((obs.spec or {}).get("image") or obs.image)
    draft.image = ImageChange(
        old, spec.image_ref or spec.image, before_digest=obs.image_id, after_digest=spec.image_pin
    )
    return draft


def mark_checks(desired: DesiredState, drafts: list[Draft]) -> None:
    """With a lock, the check each action gets once its server is ready."""
    if desired.lock is None or not desired.lock.exists:
        return
    specs = {s.name: s for s in desired.servers}
    for d in drafts:
        spec = specs.get(d.name)
        running = (d.after or {}).get("state", "running") == "running"
        if d.kind in CHECKED and spec is not None and running:
            d.lock = CHECK if spec.tool_pins is not None else RECORD


def unknown_tool_names(desired: DesiredState, observed: ObservedState) -> list[str]:
    """Warnings for filter and override names the server does not offer."""
    warnings = []
    for spec in desired.servers:
        obs = observed.workload(spec.name)
        offered = obs.server_tools if obs is not None else None
        if offered is None or not (spec.tools or spec.tools_override):
            continue
        renamed = {actual: name for actual, name, _ in spec.tools_override if name}
        visible = {renamed.get(name, name) for name in offered}
        overrides = sorted({actual for actual, _, _ in spec.tools_override} - set(offered))
        filtered = sorted(set(spec.tools) - visible)
        known = ", ".join(sorted(offered)) or "no tools"
        seen = ", ".join(sorted(visible)) or "no tools"
        if overrides:
            warnings.append(
                f"server {spec.name}: tools_override names {', '.join(overrides)}, which the "
                f"server does not offer (it offers {known})"
            )
        if filtered:
            warnings.append(
                f"server {spec.name}: tools names {', '.join(filtered)}, which clients will not "
                f"see: the server does not offer them (after overrides: {seen})"
            )
    return warnings


def _short(digest: str) -> str:
    value = digest.rpartition("@")[2]
    return value[:19] if value.startswith("sha256:") else value
