"""The container runtime protocol and the data it speaks: types only, no engine types."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import EngineError


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """A container as one list call reports it."""

    id: str
    name: str
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    labels: dict[str, str] = field(default_factory=dict)
    created: int = 0  # unix seconds
    image_id: str = ""  # the engine's id of the image the container runs (sha256:…)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A local image: its id (``sha256:…``) and the registry digests it is known by
    (``repo@sha256:…``; none for an image built or loaded here)."""

    id: str
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount, as ToolHive makes them (``HostConfig.Mounts``, never ``Binds``)."""

    source: str  # absolute host path
    target: str  # absolute container path
    read_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerParams:
    """Everything needed to create one workload container."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    network_mode: str = "bridge"
    publish: tuple[tuple[int, int], ...] = ()  # (container port, host port on 127.0.0.1)
    attach_stdio: bool = False  # stdio server: Attach{Stdin,Stdout,Stderr} and OpenStdin
    privileged: bool = False


@dataclass(frozen=True, slots=True)
class PullProgress:
    """Where a pull stands: bytes of the layers downloading (0 when unknown)."""

    image: str
    done: int = 0
    total: int = 0
    status: str = ""


class NameInUse(EngineError):
    """A create found its name taken; ``container_id`` holds it (may be "" if not said)."""

    def __init__(self, message: str, container_id: str) -> None:
        super().__init__(message)
        self.container_id = container_id


class Conflict(EngineError):
    """The engine refused because of the container's state (HTTP 409): being removed, dead,
    and the like."""


class Runtime(Protocol):
    """What the lifecycle needs from a container engine."""

    endpoint: str  # where the engine is, for messages

    def list_containers(
        self, *, labels: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[Container]:
        """All containers (running or not) matching every label filter and any name."""
        ...

    def image_present(self, image: str) -> bool: ...

    def pull(
        self,
        image: str,
        *,
        timeout: float | None = None,
        progress: Callable[[PullProgress], None] | None = None,
    ) -> None:
        """Pull ``image``; past ``timeout`` seconds an :class:`EngineError` says so."""
        ...

    def image_config(self, image: str) -> dict[str, Any]:
        """The local image's ``Config`` (``Cmd``, ``Entrypoint``, ``ExposedPorts``…);
        {} when the image is not here."""
        ...

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        """The engine's inspect document of a container (id or name); None if there is none."""
        ...

    def image_id(self, image: str) -> str:
        """The local image's id (``sha256:…``, as containers report it); "" if absent."""
        ...

    def image_info(self, image: str) -> ImageInfo | None:
        """The local image's id and registry digests; None if absent."""
        ...

    def create(self, params: ContainerParams) -> str:
        """The new container's id; :class:`NameInUse` when the name is taken."""
        ...

    def start(self, container_id: str) -> None:
        """Start; :class:`Conflict` when the container is being removed or is dead."""
        ...

    def stop(self, container_id: str, timeout: int = 10) -> None: ...

    def remove(self, container_id: str) -> None:
        """Force-remove; a container that is already gone is not an error, nor one the engine
        is already removing (the call waits until it is gone)."""
        ...

    def remove_network(self, name: str) -> None:
        """Remove a network; one that is already gone is not an error."""
        ...

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]: ...
