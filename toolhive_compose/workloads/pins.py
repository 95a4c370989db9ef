"""``workloads.lock`` applied to a desired state: tool pins, and images resolved against it.

Every server the lock names gets its tools' digests as pins (``ServerSpec.tool_pins``): they
go to the proxy in the run config, and a server absent from the lock has none (its surface is
recorded after its first start).

Images: a lock entry recorded for the image reference the file still names pins that image
(its repo digest, or its id for an image built here).  When the tag now resolves to another
image locally, **the lock wins**: the container runs the pinned image (``image_ref``) and the
plan says so; ``--update-lock`` takes the tag's current image instead (the lock is rewritten
after the apply).  ``image_pin`` is the pinned image's local id, which the planner compares
with the running container's.  An image id can be neither pulled nor checked elsewhere: a
pinned local image that is gone leaves the tag to decide (and the plan says that too).
"""

from __future__ import annotations

from dataclasses import replace

from ..model import DesiredState, Lock, LockedServer, ServerSpec
from ..runtime import ImageInfo, Runtime
from .lockfile import lock_path, read_lock

LOCK_WINS = "the lock wins (--update-lock takes the tag's image)"


def attach_lock(
    desired: DesiredState, runtime: Runtime | None, *, update_images: bool = False
) -> tuple[DesiredState, list[str]]:
    """``desired`` with the lock beside its first file (:func:`with_lock`), if there is one."""
    lock = read_lock(lock_path(desired.files))
    if not lock.exists:
        return replace(desired, lock=lock), []
    return with_lock(desired, lock, runtime, update_images=update_images)


def with_lock(
    desired: DesiredState, lock: Lock, runtime: Runtime | None, *, update_images: bool = False
) -> tuple[DesiredState, list[str]]:
    """``desired`` with the lock's pins (images only with a ``runtime``), and the notes to
    show: moved tags, servers the lock names that the file no longer has."""
    notes: list[str] = []
    specs = []
    for spec in desired.servers:
        entry = lock.servers.get(spec.name)
        if entry is not None:
            pins = tuple(sorted((n, v.digest) for n, v in entry.tools.items()))
            spec = replace(spec, tool_pins=pins)
            if runtime is not None and _pins_image(spec, entry):
                spec = _image(runtime, spec, entry, update_images, notes)
        specs.append(spec)
    stale = sorted(set(lock.servers) - {s.name for s in desired.servers})
    if stale:
        notes.append(
            f"{lock.path} names server(s) no longer in the workloads file: {', '.join(stale)} "
            "(kept; thv lock --prune removes them)"
        )
    return replace(desired, servers=tuple(specs), lock=lock), notes


def _pins_image(spec: ServerSpec, entry: LockedServer) -> bool:
    return not spec.remote and bool(entry.image_digest) and entry.image == spec.image


def _image(
    runtime: Runtime, spec: ServerSpec, entry: LockedServer, update: bool, notes: list[str]
) -> ServerSpec:
    current = runtime.image_info(spec.image)
    locked = entry.image_digest
    if update or (current is not None and matches(locked, current)):
        return replace(spec, image_pin=current.id if current else "")
    pinned = runtime.image_info(locked)
    now = f"now resolves to {short(current.id)}" if current else "is not present here"
    if pinned is None and not is_repo_digest(locked):
        notes.append(
            f"server {spec.name}: image {spec.image} {now}; workloads.lock pins the local "
            f"image {short(locked)}, which is gone (an image id cannot be pulled): the tag "
            "decides, and its image is checked against the lock after it starts"
        )
        return spec
    notes.append(
        f"server {spec.name}: image {spec.image} {now}; workloads.lock pins "
        f"{short(locked)}: {LOCK_WINS}"
    )
    return replace(spec, image_ref=locked, image_pin=pinned.id if pinned else "")


def matches(locked: str, info: ImageInfo) -> bool:
    return locked == info.id or locked in info.repo_digests


def is_repo_digest(digest: str) -> bool:
    return "@" in digest


def recorded_digest(reference: str, info: ImageInfo) -> str:
    """What the lock records of an image: the repo digest of ``reference``'s repository when
    it came from a registry, else the image id."""
    repository = repository_of(reference)
    for digest in info.repo_digests:
        if digest.partition("@")[0] == repository:
            return digest
    return info.repo_digests[0] if info.repo_digests else info.id


def repository_of(reference: str) -> str:
    """``host:5000/a/b:tag`` or ``a/b@sha256:…`` → ``host:5000/a/b``."""
    name = reference.partition("@")[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def short(digest: str) -> str:
    """``repo@sha256:0123…`` or ``sha256:0123…`` → ``sha256:`` and 12 hex digits."""
    value = digest.rpartition("@")[2]
    return value[:19] if value.startswith("sha256:") else value
