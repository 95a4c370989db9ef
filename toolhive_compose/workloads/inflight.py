"""Engine operations another process left in flight: waited out or adopted, never collided with.

A ``thv apply`` killed part-way leaves requests the engine carries out after its death: a
create that lands after the next apply looked (its name is then taken), a force-remove still
under way (``removal of container … is already in progress``; the container is ``removing``,
or ``dead`` when the engine could not finish).  The next apply meets them here:

- a create whose name is taken: by a container being removed → wait until it is gone, then
  create; by a ``dead`` container, or one of this project whose config hash is not the one
  wanted (the leftover of an earlier spec) → remove it, then create; by one of this project
  with the wanted config hash (the killed apply's own create of the same spec) → adopt it;
  by anything else → an error naming it;
- a start of a container being removed or dead → :class:`ContainerGone` (the caller makes a
  new one); a remove of one being removed → waited out (:meth:`DockerRuntime.remove`);
- a start the engine refuses because its container runtime still has a task for the
  container (``task … already exists``: the engine was killed while it started it, and
  lost track of it) → the container is removed, :class:`ContainerGone`.
"""

from __future__ import annotations

from ..errors import EngineError, EngineUnavailable
from ..model import LABEL_CONFIG_HASH, LABEL_PROJECT
from ..runtime import Conflict, ContainerParams, NameInUse, Runtime
from ..runtime.engine_sync import NotFound

ATTEMPTS = 3


class ContainerGone(EngineError):
    """The container went away (or is going) under the operation: another process removed
    it, or a removal the engine was still carrying out finished."""


def create_container(runtime: Runtime, params: ContainerParams) -> str:
    """Create ``params``' container; the id of the one made (or adopted, see above)."""
    for _ in range(ATTEMPTS):
        try:
            return runtime.create(params)
        except NameInUse as exc:
            adopted = _clear_name(runtime, params, exc)
            if adopted:
                return adopted
    raise EngineError(
        f"cannot create container {params.name}: its name stayed taken after "
        f"{ATTEMPTS} attempts (another process keeps making it)",
        hint="is another thv apply or thv run working on the same workload?",
    )


def _clear_name(runtime: Runtime, params: ContainerParams, exc: NameInUse) -> str:
    """Free the name ``params.name`` (return "") or find it is ours to adopt (its id)."""
    info = runtime.inspect(exc.container_id or params.name)
    if info is None:  # gone meanwhile
        return ""
    cid = str(info.get("Id") or "")
    state = str((info.get("State") or {}).get("Status") or "")
    labels = (info.get("Config") or {}).get("Labels") or {}
    project = params.labels.get(LABEL_PROJECT)
    ours = bool(project) and labels.get(LABEL_PROJECT) == project
    if state == "removing":
        runtime.remove(cid)  # waits for the removal under way
        return ""
    if ours and labels.get(LABEL_CONFIG_HASH) == params.labels.get(LABEL_CONFIG_HASH):
        return cid
    if ours or state == "dead":
        runtime.remove(cid)
        return ""
    raise EngineError(
        f"cannot create container {params.name}: the name is taken by container {cid[:12]}, "
        "which this project did not make",
        hint=f"remove it (docker rm -f {params.name}) if it is not needed, then apply again",
    )


# What the engine says when its containerd still holds the task of a container from before
# the engine crashed ("already exists"; "id already in use" once the old shim outlived it).
STALE_TASK = ("already exists", "id already in use")


def start_container(runtime: Runtime, container_id: str) -> None:
    """Start; :class:`ContainerGone` when the container no longer exists or is going away
    (a ``dead`` one is removed first)."""
    try:
        runtime.start(container_id)
    except NotFound:
        raise ContainerGone(f"container {container_id[:12]} no longer exists") from None
    except Conflict:
        info = runtime.inspect(container_id)
        state = str(((info or {}).get("State") or {}).get("Status") or "")
        if info is not None and state not in ("removing", "dead"):
            raise
        runtime.remove(container_id)  # waits out a removal under way; removes a dead one
        raise ContainerGone(
            f"container {container_id[:12]} was being removed (state {state or 'gone'})"
        ) from None
    except EngineError as exc:
        if isinstance(exc, EngineUnavailable) or not any(s in exc.message for s in STALE_TASK):
            raise
        runtime.remove(container_id)
        raise ContainerGone(
            f"the engine lost track of container {container_id[:12]} (a crash?); it was removed"
        ) from None
