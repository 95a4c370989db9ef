"""The servers of a workloads file against ``workloads.lock``, live on this machine.

:func:`verify` is ``thv verify``: for every server of the file, its surface read through its
proxy (:mod:`.surface`) against its lock entry, and its container's image against the pinned
one.  :func:`record` is ``thv lock``: it writes entries from the running servers, and refuses
to overwrite a locked server whose tools changed unless asked to (``--update``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import NotFound, ThvError
from ..model import DesiredState, Lock, LockedServer, ServerSpec
from ..runtime import Runtime
from ..state import Store
from ..tools import SurfaceDiff, compare
from .pins import is_repo_digest, matches, recorded_digest, short
from .surface import Surface, read_surface

MATCH, CHANGED, NOT_LOCKED, NOT_SERVING, SKIPPED = (
    "match", "changed", "not-locked", "not-serving", "skipped"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerCheck:
    """One server: its tools and image against the lock."""

    name: str
    status: str  # match | changed | not-locked | not-serving | skipped
    detail: str = ""
    diff: SurfaceDiff = field(default_factory=SurfaceDiff)
    image: str = ""  # "" (not pinned), match, or what differs
    image_ok: bool = True  # a differing repo digest fails; a local image id only informs

    @property
    def ok(self) -> bool:
        return self.status in (MATCH, SKIPPED) and self.image_ok

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "status": self.status, "ok": self.ok}
        if self.detail:
            doc["detail"] = self.detail
        if not self.diff.clean:
            doc["tools"] = self.diff.to_dict()
        if self.image:
            doc["image"] = self.image
            doc["image_ok"] = self.image_ok
        return doc


def verify(desired: DesiredState, store: Store, runtime: Runtime) -> list[ServerCheck]:
    lock = _lock(desired)
    return [_check(spec, lock, store, runtime) for spec in desired.servers]


def _check(spec: ServerSpec, lock: Lock, store: Store, runtime: Runtime) -> ServerCheck:
    if spec.state == "stopped":
        return ServerCheck(spec.name, SKIPPED, "state: stopped in the workloads file")
    entry = lock.servers.get(spec.name)
    if entry is None:
        return ServerCheck(spec.name, NOT_LOCKED, f"not in {lock.path} (thv lock {spec.name})")
    try:
        surface = read_surface(store, spec.name)
    except ThvError as exc:
        return ServerCheck(spec.name, NOT_SERVING, str(exc))
    diff = compare(entry.tools, surface.views, frozenset(spec.tools))
    status, detail = (MATCH, "") if diff.clean else (CHANGED, diff.summary())
    image, image_ok = _image_check(spec, entry, runtime)
    return ServerCheck(spec.name, status, detail, diff, image, image_ok)


def _image_check(spec: ServerSpec, entry: LockedServer, runtime: Runtime) -> tuple[str, bool]:
    """The running image against the pinned one.  A repo digest is the same everywhere: a
    mismatch fails.  An image id is only meaningful where the image was built: a mismatch
    (another machine, a rebuild) is said, and the tools decide."""
    if spec.remote or not entry.image_digest or entry.image != spec.image:
        return "", True
    running = container_image(runtime, spec.name)
    info = runtime.image_info(running) if running else None
    if info is None:
        return "unknown (no container)", not is_repo_digest(entry.image_digest)
    if matches(entry.image_digest, info):
        return MATCH, True
    differs = f"runs {short(info.id)}, the lock pins {short(entry.image_digest)}"
    if is_repo_digest(entry.image_digest):
        return differs, False
    return f"{differs} (a local image id: it differs on every machine that builds it)", True


def container_image(runtime: Runtime, name: str) -> str:
    """The id of the image the workload's container runs ("" without a container)."""
    found = runtime.list_containers(labels=[f"toolhive-basename={name}"])
    ranked = sorted(found, key=lambda c: (c.state != "running", -c.created))
    return ranked[0].image_id or ranked[0].image if ranked else ""


def running_digest(runtime: Runtime, spec: ServerSpec) -> str:
    """What the lock records of the image the server's container runs ("" for a remote)."""
    if spec.remote:
        return ""
    running = container_image(runtime, spec.name)
    info = runtime.image_info(running) if running else None
    return recorded_digest(spec.image_ref or spec.image, info) if info else ""


def entry_for(spec: ServerSpec, surface: Surface, runtime: Runtime) -> LockedServer:
    """A lock entry for ``spec`` as it runs: its surface, and its container's image."""
    return LockedServer(
        image="" if spec.remote else spec.image,
        url=spec.url,
        image_digest=running_digest(runtime, spec),
        tools=dict(sorted(surface.views.items())),
    )


def record(
    desired: DesiredState,
    store: Store,
    runtime: Runtime,
    names: Sequence[str],
    *,
    update: bool = False,
    prune: bool = False,
) -> tuple[Lock, list[str]]:
    """The lock with entries recorded from the running servers ``names`` (every server of the
    file when empty), and one line per server saying what happened.  A locked server whose
    tools changed is refused unless ``update``: nothing is written then."""
    lock = _lock(desired)
    chosen = _chosen(desired, names)
    servers = dict(lock.servers)
    said, refused = [], []
    for spec in chosen:
        surface = read_surface(store, spec.name)
        old = servers.get(spec.name)
        diff = compare(old.tools, surface.views, frozenset(spec.tools)) if old else None
        if old is not None and diff is not None and not diff.clean and not update:
            refused.append(f"{spec.name} ({diff.summary()})")
            continue
        new = entry_for(spec, surface, runtime)
        servers[spec.name] = new
        said.append(_said(spec.name, old, new, diff))
    if refused:
        raise ThvError(
            f"the tools of {', '.join(refused)} differ from {lock.path}; nothing was written",
            hint="review them (thv tools NAME), then thv lock --update NAME to record them",
        )
    stale = sorted(set(servers) - {s.name for s in desired.servers})
    for name in stale:
        if prune:
            del servers[name]
        said.append(f"{name}: {'removed' if prune else 'kept'} (no longer in the workloads file)")
    return replace(lock, servers=dict(sorted(servers.items())), exists=True), said


def _said(name: str, old: LockedServer | None, new: LockedServer, diff: SurfaceDiff | None) -> str:
    if old is None:
        return f"{name}: recorded {len(new.tools)} tool(s)"
    if diff is not None and not diff.clean:
        return f"{name}: updated ({diff.summary()})"
    if (old.image, old.image_digest) != (new.image, new.image_digest):
        return f"{name}: image recorded ({short(new.image_digest) or new.image})"
    return f"{name}: unchanged"


def _chosen(desired: DesiredState, names: Sequence[str]) -> list[ServerSpec]:
    known = {s.name: s for s in desired.servers}
    missing = [n for n in names if n not in known]
    if missing:
        raise NotFound(
            f"not a server of the workloads file: {', '.join(missing)}",
            hint="thv lock records the servers the file declares",
        )
    return [known[n] for n in dict.fromkeys(names)] if names else list(desired.servers)


def _lock(desired: DesiredState) -> Lock:
    if desired.lock is None:
        raise ThvError("the workloads lock was not read")  # a caller's bug, said plainly
    return desired.lock
