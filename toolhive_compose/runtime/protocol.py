"""The container runtime protocol and the data it speaks: types only, no engine types."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerParams:
    """Everything needed to create one workload container."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()  # "host:container:ro|rw"
    network_mode: str = "bridge"
    publish: tuple[tuple[int, int], ...] = ()  # (container port, host port on 127.0.0.1)
    stdin_open: bool = False
    privileged: bool = False


class Runtime(Protocol):
    """What the lifecycle needs from a container engine."""

    endpoint: str  # where the engine is, for messages

    def list_containers(
        self, *, labels: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[Container]:
        """All containers (running or not) matching every label filter and any name."""
        ...

    def image_present(self, image: str) -> bool: ...

    def pull(self, image: str) -> None: ...

    def image_id(self, image: str) -> str:
        """The local image's id (``sha256:…``, as containers report it); "" if absent."""
        ...

    def started_at(self, container_id: str) -> str:
        """When the container last started (RFC 3339, as the engine says); "" if unknown."""
        ...

    def create(self, params: ContainerParams) -> str: ...

    def start(self, container_id: str) -> None: ...

    def stop(self, container_id: str, timeout: int = 10) -> None: ...

    def remove(self, container_id: str) -> None:
        """Force-remove; a container that is already gone is not an error."""
        ...

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]: ...
