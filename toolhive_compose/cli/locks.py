"""workloads.lock for the commands that plan: the lock attached to what they load, and what
their plans say about it (no commands here: importing this module registers none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import DesiredState
    from ..plan.actions import Plan
    from ..runtime import Runtime


def locked(
    desired: DesiredState, runtime: Runtime | None, update: bool
) -> tuple[DesiredState, list[str]]:
    """``desired`` with workloads.lock's pins (images only with a ``runtime``), and what the
    plan should say about the lock."""
    from ..workloads.pins import attach_lock

    desired, notes = attach_lock(desired, runtime, update_images=update)
    if update and desired.lock is not None and not desired.lock.exists:
        notes.append(f"--update-lock: there is no {desired.lock.path} to update")
    return desired, notes


def noted(plan: Plan, notes: list[str]) -> Plan:
    """``plan`` with ``notes`` first among its warnings."""
    import dataclasses

    return dataclasses.replace(plan, warnings=(*notes, *plan.warnings)) if notes else plan
