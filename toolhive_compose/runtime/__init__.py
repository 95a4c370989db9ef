"""The container runtime behind a small protocol (:mod:`.protocol`); no engine types cross it.

:func:`get_runtime` makes the one implementation, :class:`~.docker.DockerRuntime` (Docker, or
Podman's Docker-compatible API), for the engine :mod:`.endpoint` finds.  Its hot-path calls go
through the lean blocking client :mod:`.engine_sync`, which shares :mod:`.engine_http` with the
proxy's asyncio client.
"""

from __future__ import annotations

from .protocol import (
    Conflict,
    Container,
    ContainerParams,
    ImageInfo,
    Mount,
    NameInUse,
    PullProgress,
    Runtime,
)


def get_runtime() -> Runtime:
    """The runtime for this machine: Docker (or Podman's Docker-compatible socket)."""
    from .docker import DockerRuntime

    return DockerRuntime.from_env()


__all__ = [
    "Conflict",
    "Container",
    "ContainerParams",
    "ImageInfo",
    "Mount",
    "NameInUse",
    "PullProgress",
    "Runtime",
    "get_runtime",
]
