"""Tool surfaces against ``workloads.lock`` during an apply: checked, recorded, or refused.

The plan marks the actions (:mod:`toolhive_compose.plan.locking`); for each one,
:class:`LockKeeper`:

- **before a replace** (``recreate``/``upgrade``) of a locked server: reads the new
  configuration's surface in a throwaway container (:mod:`~toolhive_compose.workloads.probe`)
  and refuses a changed one there — the old workload is never taken down for a new one that
  fails, and keeps serving on its ports;
- **once the server is ready**: reads its surface live through its proxy
  (:mod:`~toolhive_compose.workloads.surface`; the tools the proxy withholds count too) and
  compares it with the lock.  Tools added, removed or changed fail the action, and a server
  that was (re)started is stopped again; a ``reconfigure`` leaves it running, since its proxy
  withholds what does not match.  With ``--accept-tool-changes`` the new surface is recorded
  instead, and so is the surface of a server the lock does not name yet.

Recording rewrites the lock (one server at a time, atomically; actions run in parallel) and
hands the new pins to the proxy (a run-config rewrite it follows).  The image is recorded
with the surface, and again when the file names another image or ``--update-lock`` moved it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ThvError
from ..model import DesiredState, Lock, LockedServer, ServerSpec
from ..plan.actions import Action, ActionKind
from ..plan.locking import CHECK, RECORD
from ..secrets import resolve_secret_value
from ..tools import SurfaceDiff, ToolView, compare
from ..workloads.lifecycle import Lifecycle
from ..workloads.lockfile import write_lock
from ..workloads.probe import probe_surface
from ..workloads.surface import read_surface
from ..workloads.verify import running_digest

STARTS = frozenset({ActionKind.CREATE, ActionKind.RECREATE, ActionKind.UPGRADE, ActionKind.START})


@dataclass(frozen=True, slots=True)
class LockPolicy:
    accept_tool_changes: bool = False  # record changed surfaces instead of failing
    update_images: bool = False  # record the images the tags resolve to now


class SurfaceChanged(ThvError):
    """A server's tools differ from ``workloads.lock``."""

    def __init__(self, name: str, diff: SurfaceDiff, outcome: str) -> None:
        lines = "".join(f"\n  {line}" for line in diff.lines())
        super().__init__(
            f"the tools of {name} differ from workloads.lock ({diff.summary()}); {outcome}{lines}",
            hint=f"review the change, then thv apply --accept-tool-changes (or thv lock --update "
            f"{name})",
        )


class LockKeeper:
    """See the module docstring; one per apply, shared by its parallel actions."""

    def __init__(self, desired: DesiredState, lifecycle: Lifecycle, policy: LockPolicy) -> None:
        assert desired.lock is not None
        self.desired = desired
        self.lifecycle = lifecycle
        self.policy = policy
        self.path = desired.lock.path
        self.servers: dict[str, LockedServer] = dict(desired.lock.servers)
        self._mutex = threading.Lock()

    def before(self, action: Action) -> None:
        """A replace's new configuration, probed before the old workload goes."""
        if action.lock != CHECK or action.kind not in (ActionKind.RECREATE, ActionKind.UPGRADE):
            return
        spec = self.desired.server(action.name)
        entry = self.servers.get(spec.name)
        if entry is None or self.policy.accept_tool_changes:
            return
        views = probe_surface(
            self.lifecycle.runtime,
            spec,
            project=self.desired.project,
            target_port=(action.after or {}).get("target_port"),
            secret_env={
                s.target: resolve_secret_value(s, self.lifecycle.environ) for s in spec.secrets
            },
        )
        if views is None:
            return  # on the host's network: checked after the start instead
        diff = compare(entry.tools, views, frozenset(spec.tools))
        if not diff.clean:
            raise SurfaceChanged(
                spec.name, diff, "nothing was replaced: the old workload serves on"
            )

    def after(self, action: Action) -> str:
        """Once the server is ready: the check (or the record); a note for the apply output."""
        if action.lock not in (CHECK, RECORD):
            return ""
        spec = self.desired.server(action.name)
        try:
            surface = read_surface(self.lifecycle.store, spec.name)
        except ThvError as exc:
            if not spec.remote:
                raise
            return f"workloads.lock: not checked ({exc})"  # a remote may not answer from here
        entry = self.servers.get(spec.name)
        if entry is None:
            self._record(spec, action, surface.views)
            return f"workloads.lock: recorded {len(surface.views)} tool(s)"
        diff = compare(entry.tools, surface.views, frozenset(spec.tools))
        if diff.clean:
            if entry.image != (spec.url or spec.image) or self.policy.update_images:
                self._record(spec, action, entry.tools, pins=False)
                return "workloads.lock: image recorded"
            return ""
        if self.policy.accept_tool_changes:
            self._record(spec, action, surface.views)
            return f"workloads.lock: accepted ({diff.summary()})"
        if action.kind in STARTS:
            self._stop(spec)
            raise SurfaceChanged(spec.name, diff, "the workload was stopped")
        raise SurfaceChanged(spec.name, diff, "its proxy withholds what does not match")

    def _record(
        self, spec: ServerSpec, action: Action, tools: Mapping[str, ToolView], *, pins: bool = True
    ) -> None:
        entry = LockedServer(
            image="" if spec.remote else spec.image,
            url=spec.url,
            image_digest=running_digest(self.lifecycle.runtime, spec),
            tools=dict(sorted(tools.items())),
        )
        with self._mutex:
            self.servers[spec.name] = entry
            write_lock(Lock(path=self.path, servers=dict(sorted(self.servers.items()))))
        if pins:  # the proxy takes the recorded surface as its pins
            canon = dict(action.after or {})
            canon["tool_pins"] = {n: v.digest for n, v in sorted(entry.tools.items())}
            self.lifecycle.reconfigure(spec.name, canon)

    def _stop(self, spec: ServerSpec) -> None:
        found = self.lifecycle.runtime.list_containers(labels=[f"toolhive-basename={spec.name}"])
        self.lifecycle.stop(spec.name, found[0].id if found and not spec.remote else "")


def keeper_for(
    desired: DesiredState, lifecycle: Lifecycle, policy: LockPolicy | None
) -> LockKeeper | None:
    """A keeper when the project has a lock."""
    if desired.lock is None or not desired.lock.exists:
        return None
    return LockKeeper(desired, lifecycle, policy or LockPolicy())
