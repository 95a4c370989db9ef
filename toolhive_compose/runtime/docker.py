"""Docker (and Podman's Docker-compatible API) behind the :class:`Runtime` protocol.

Reads go through the lean :mod:`.engine` client; writes through the docker SDK, imported on
first use.  Engine and SDK exceptions are translated here, and only here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import EngineError, EngineUnavailable
from . import Container, ContainerParams, engine


class DockerRuntime:
    def __init__(self, host: str) -> None:
        self.endpoint = host
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_env(cls) -> DockerRuntime:
        return cls(engine.docker_host())

    # -- reads ---------------------------------------------------------------------------
    def list_containers(
        self, *, labels: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[Container]:
        filters: dict[str, list[str]] = {}
        if labels:
            filters["label"] = list(labels)
        if names:
            filters["name"] = [f"^/{n}$" for n in names]
        if engine.lean_supported(self.endpoint):
            raw = engine.list_containers(self.endpoint, filters)
        else:
            with self._errors("list containers"):
                raw = self.client.api.containers(all=True, filters=filters)
        return [_container(item) for item in raw]

    def image_present(self, image: str) -> bool:
        import docker.errors

        with self._errors(f"inspect image {image}"):
            try:
                self.client.api.inspect_image(image)
                return True
            except docker.errors.ImageNotFound:
                return False

    def image_id(self, image: str) -> str:
        import docker.errors

        with self._errors(f"inspect image {image}"):
            try:
                return str(self.client.api.inspect_image(image).get("Id") or "")
            except docker.errors.ImageNotFound:
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
        host_config = self.client.api.create_host_config(
            binds=list(params.binds),
            port_bindings={f"{c}/tcp": ("127.0.0.1", h) for c, h in params.publish},
            network_mode=params.network_mode,
            cap_drop=["ALL"],
            security_opt=["label:disable"],
            restart_policy={"Name": "unless-stopped"},
            privileged=params.privileged,
        )
        with self._errors(f"create container {params.name}"):
            result = self.client.api.create_container(
                image=params.image,
                command=list(params.command) or None,
                name=params.name,
                environment=params.env,
                labels=params.labels,
                host_config=host_config,
                ports=[c for c, _ in params.publish] or None,
                stdin_open=params.stdin_open,
                tty=False,
                # detach: StdinOnce stays false (as ToolHive), so stdin outlives a proxy
                # that detaches or dies and the next proxy can attach to the same server.
                detach=True,
            )
        return str(result["Id"])

    def start(self, container_id: str) -> None:
        with self._errors(f"start container {container_id[:12]}"):
            self.client.api.start(container_id)

    def stop(self, container_id: str, timeout: int = 10) -> None:
        import docker.errors

        with (
            self._errors(f"stop container {container_id[:12]}"),
            contextlib.suppress(docker.errors.NotFound),
        ):
            self.client.api.stop(container_id, timeout=timeout)

    def remove(self, container_id: str) -> None:
        import docker.errors

        with (
            self._errors(f"remove container {container_id[:12]}"),
            contextlib.suppress(docker.errors.NotFound),
        ):
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
            f"cannot reach the container engine at {self.endpoint} ({reason})", hint=engine.HINT
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import docker.errors
        import requests.exceptions

        try:
            yield
        except (docker.errors.NotFound, docker.errors.ImageNotFound):
            raise
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot {what}: {_explain(exc)}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise self._unavailable(exc) from None
        except requests.exceptions.RequestException as exc:  # read timeouts and the like
            raise EngineError(
                f"cannot {what}: the engine did not answer ({exc.__class__.__name__})",
                hint="the engine may be overloaded; try again",
            ) from None


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
