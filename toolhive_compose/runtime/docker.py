"""Docker (and Podman's Docker-compatible API) behind the :class:`Runtime` protocol.

The calls an apply makes per workload (list, image inspect, create, start, stop, remove) go
through the lean :mod:`.engine_sync` client on ``unix://`` and plain ``tcp://`` endpoints; pulls,
logs and TLS or ssh endpoints through the docker SDK, imported on first use.  Both send the
same container config.  Engine and SDK exceptions are translated here, and only here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import EngineError, EngineUnavailable
from . import engine_sync
from .endpoint import engine_host
from .engine_http import lean_supported
from .protocol import Container, ContainerParams


class DockerRuntime:
    def __init__(self, host: str) -> None:
        self.endpoint = host
        self.lean = lean_supported(host)
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_env(cls) -> DockerRuntime:
        return cls(engine_host())

    # -- reads ---------------------------------------------------------------------------
    def list_containers(
        self, *, labels: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[Container]:
        filters: dict[str, list[str]] = {}
        if labels:
            filters["label"] = list(labels)
        if names:
            filters["name"] = [f"^/{n}$" for n in names]
        if self.lean:
            raw = engine_sync.list_containers(self.endpoint, filters)
        else:
            with self._errors("list containers"):
                raw = self.client.api.containers(all=True, filters=filters)
        return [_container(item) for item in raw]

    def image_present(self, image: str) -> bool:
        return bool(self.image_id(image))

    def image_id(self, image: str) -> str:
        what = f"inspect image {image}"
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                info = engine_sync.call(self.endpoint, "GET", f"/images/{image}/json", what=what)
            else:
                with self._errors(what):
                    info = self.client.api.inspect_image(image)
            return str((info or {}).get("Id") or "")
        return ""

    def started_at(self, container_id: str) -> str:
        what = f"inspect container {container_id[:12]}"
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                info = engine_sync.call(
                    self.endpoint, "GET", f"/containers/{container_id}/json", what=what
                )
            else:
                with self._errors(what):
                    info = self.client.api.inspect_container(container_id)
            started = str(((info or {}).get("State") or {}).get("StartedAt") or "")
            return "" if started.startswith("0001-01-01") else started
        return ""

    # -- writes --------------------------------------------------------------------------
    def pull(self, image: str) -> None:
        import docker.errors

        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise EngineError(
                f"image {image} is not available locally and pulling it failed: {_explain(exc)}",
                hint="build or load the image locally, or check the image name",
            ) from None
        except Exception as exc:  # requests / socket errors
            raise self._unavailable(exc) from None

    def create(self, params: ContainerParams) -> str:
        config = create_config(params)
        what = f"create container {params.name}"
        if self.lean:
            query = {"name": params.name}
            path = "/containers/create"
            result = engine_sync.call(self.endpoint, "POST", path, query, config, what=what)
        else:
            with self._errors(what):
                result = self.client.api.create_container_from_config(config, params.name)
        return str(result["Id"])

    def start(self, container_id: str) -> None:
        what = f"start container {container_id[:12]}"
        if self.lean:
            engine_sync.call(self.endpoint, "POST", f"/containers/{container_id}/start", what=what)
            return
        with self._errors(what):
            self.client.api.start(container_id)

    def stop(self, container_id: str, timeout: int = 10) -> None:
        what = f"stop container {container_id[:12]}"
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                path, query = f"/containers/{container_id}/stop", {"t": str(timeout)}
                engine_sync.call(
                    self.endpoint, "POST", path, query, what=what, timeout=timeout + 300.0
                )
                return
            with self._errors(what):
                self.client.api.stop(container_id, timeout=timeout)

    def remove(self, container_id: str) -> None:
        what = f"remove container {container_id[:12]}"
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                path = f"/containers/{container_id}"
                engine_sync.call(self.endpoint, "DELETE", path, {"force": "1"}, what=what)
                return
            with self._errors(what):
                self.client.api.remove_container(container_id, force=True)

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> Iterator[bytes]:
        with self._errors(f"read logs of {container_id[:12]}"):
            stream = self.client.api.logs(
                container_id, stream=True, follow=follow, tail=tail if tail is not None else "all"
            )
        yield from stream

    # -- plumbing ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        import docker

        try:
            return docker.DockerClient(base_url=self.endpoint, timeout=300, max_pool_size=32)
        except docker.errors.DockerException as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> EngineUnavailable:
        reason = str(exc).split("(", 1)[0].strip() or type(exc).__name__
        return EngineUnavailable(
            f"cannot reach the container engine at {self.endpoint} ({reason})",
            hint=engine_sync.HINT,
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import docker.errors
        import requests.exceptions

        try:
            yield
        except docker.errors.NotFound as exc:  # ImageNotFound too
            raise engine_sync.NotFound(f"cannot {what}: {_explain(exc)}") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot {what}: {_explain(exc)}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise self._unavailable(exc) from None
        except requests.exceptions.RequestException as exc:  # read timeouts and the like
            raise EngineError(
                f"cannot {what}: the engine did not answer ({exc.__class__.__name__})",
                hint="the engine may be overloaded; try again",
            ) from None


def create_config(params: ContainerParams) -> dict[str, Any]:
    """The Engine API's container config for a workload (what ``docker create`` sends).

    Detached: nothing attached at create; ``OpenStdin`` for stdio servers with ``StdinOnce``
    false (as ToolHive), so stdin outlives a proxy that detaches or dies and the next proxy
    can attach to the same server."""
    config: dict[str, Any] = {
        "Image": params.image,
        "Env": [f"{k}={v}" for k, v in params.env.items()],
        "Labels": dict(params.labels),
        "Tty": False,
        "OpenStdin": params.stdin_open,
        "StdinOnce": False,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "HostConfig": {
            "Binds": list(params.binds),
            "PortBindings": {
                f"{c}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(h)}] for c, h in params.publish
            },
            "NetworkMode": params.network_mode,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["label:disable"],
            "RestartPolicy": {"Name": "unless-stopped"},
            "Privileged": params.privileged,
        },
    }
    if params.command:
        config["Cmd"] = list(params.command)
    if params.publish:
        config["ExposedPorts"] = {f"{c}/tcp": {} for c, _ in params.publish}
    return config


def _explain(exc: Any) -> str:
    text = str(getattr(exc, "explanation", "") or exc).strip()
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _container(item: dict[str, Any]) -> Container:
    names = item.get("Names") or [""]
    return Container(
        id=str(item.get("Id", "")),
        name=str(names[0]).lstrip("/"),
        image=str(item.get("Image", "")),
        state=str(item.get("State", "")),
        labels=dict(item.get("Labels") or {}),
        created=int(item.get("Created") or 0),
        image_id=str(item.get("ImageID") or ""),
    )
