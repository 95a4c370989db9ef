"""An in-memory container engine behind the :class:`~toolhive_compose.runtime.Runtime`
protocol, for tests of queries and commands that need no real engine.

``FakeRuntime.add(...)`` puts a container in place; mutations are recorded in ``calls``.
``install(monkeypatch, fake)`` makes ``get_runtime()`` (and so every ``thv`` command and
``connect()``) use it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from toolhive_compose.runtime import Container, ContainerParams, ImageInfo, PullProgress

STARTED_AT = "2026-08-21T08:00:00.123456789Z"  # when a running fake container started
TOOLHIVE_LABELS = ("toolhive", "toolhive-name", "toolhive-basename", "toolhive-transport")


def toolhive_labels(name: str, *, port: int, transport: str = "stdio", **extra: str) -> dict:
    """The labels ToolHive itself puts on a workload container (and nothing of ours)."""
    labels = {
        "toolhive": "true",
        "toolhive-name": name,
        "toolhive-basename": name,
        "toolhive-transport": transport,
        "toolhive-port": str(port),
    }
    labels.update(extra)
    return labels


class FakeRuntime:
    endpoint = "fake://engine"

    def __init__(self) -> None:
        self.containers: dict[str, Container] = {}
        self.calls: list[tuple[str, Any]] = []
        self.images: dict[str, ImageInfo] = {}  # reference -> what image_info answers
        self.created: dict[str, ContainerParams] = {}  # the last create of each name
        self.log_bytes: dict[str, bytes] = {}
        self.image_configs: dict[str, dict[str, Any]] = {}  # image -> its Config
        self.networks: set[str] = set()
        self._ids = itertools.count(1)

    def add(
        self, name: str, *, image: str = "img:1", state: str = "running", **labels: str
    ) -> Container:
        cid = f"c{next(self._ids):063d}"
        container = Container(
            id=cid, name=name, image=image, state=state, labels=dict(labels), created=1_700_000_000
        )
        self.containers[cid] = container
        return container

    # -- reads ---------------------------------------------------------------------------
    def list_containers(
        self, *, labels: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[Container]:
        found = []
        for c in self.containers.values():
            if all(_has(c.labels, want) for want in labels) and (not names or c.name in names):
                found.append(c)
        return found

    def image_present(self, image: str) -> bool:
        return True

    def image_id(self, image: str) -> str:
        return ""

    def image_info(self, image: str) -> ImageInfo | None:
        return self.images.get(image)

    def pull(
        self,
        image: str,
        *,
        timeout: float | None = None,
        progress: Callable[[PullProgress], None] | None = None,
    ) -> None:
        self.calls.append(("pull", image))

    def image_config(self, image: str) -> dict[str, Any]:
        return dict(self.image_configs.get(image, {}))

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        found = self.containers.get(container_id) or next(
            (c for c in self.containers.values() if c.name == container_id), None
        )
        if found is None:
            return None
        return {
            "Id": found.id,
            "Name": f"/{found.name}",
            "State": {
                "Status": found.state,
                "Running": found.state == "running",
                "StartedAt": STARTED_AT if found.state == "running" else "0001-01-01T00:00:00Z",
            },
            "Config": {"Image": found.image, "Labels": dict(found.labels)},
        }

    def remove_network(self, name: str) -> None:
        self.calls.append(("remove_network", name))
        self.networks.discard(name)

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]:
        yield self.log_bytes.get(container_id, b"")

    # -- writes --------------------------------------------------------------------------
    def create(self, params: ContainerParams) -> str:
        c = self.add(params.name, image=params.image, state="created", **params.labels)
        self.calls.append(("create", params.name))
        self.created[params.name] = params
        return c.id

    def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))
        self._set(container_id, "running")

    def stop(self, container_id: str, timeout: int = 10) -> None:
        self.calls.append(("stop", container_id))
        self._set(container_id, "exited")

    def remove(self, container_id: str) -> None:
        self.calls.append(("remove", container_id))
        self.containers.pop(container_id, None)

    def _set(self, container_id: str, state: str) -> None:
        if container_id in self.containers:
            self.containers[container_id] = replace(self.containers[container_id], state=state)


def _has(labels: dict[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def install(monkeypatch: Any, fake: FakeRuntime) -> FakeRuntime:
    """Route ``get_runtime()`` to ``fake`` for the rest of the test."""
    import toolhive_compose.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "get_runtime", lambda: fake)
    return fake


def this_process_is_a_proxy(monkeypatch: Any) -> int:
    """Let this test process stand in for a workload's proxy (its PID in a status file reads
    as a live proxy, not as another program); its PID."""
    import os

    from toolhive_compose.workloads import orphans

    monkeypatch.setattr(orphans, "is_thv_process", lambda pid: pid == os.getpid())
    return os.getpid()
