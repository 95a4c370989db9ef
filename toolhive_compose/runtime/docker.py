"""Docker (and Podman's Docker-compatible API) behind the :class:`Runtime` protocol.

The calls an apply makes per workload (list, image inspect, create, start, stop, remove) go
through the lean :mod:`.engine_sync` client on ``unix://`` and plain ``tcp://`` endpoints; pulls,
logs and TLS or ssh endpoints through the docker SDK, imported on first use.  Both send the
same container config.  Engine and SDK exceptions are translated here, and only here.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .. import cancel
from ..errors import EngineError, EngineUnavailable
from . import engine_sync
from .endpoint import engine_host
from .engine_http import lean_supported
from .protocol import Conflict, Container, ContainerParams, ImageInfo, NameInUse, PullProgress
from .pulls import pull_with_progress

GONE_WAIT = 60.0  # seconds to wait for a removal the engine is already carrying out
_IN_USE = re.compile(r'already in use by container "?([0-9a-f]{12,64})')


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
        info = self.image_info(image)
        return info.id if info else ""

    def image_info(self, image: str) -> ImageInfo | None:
        info = self._get(f"/images/{image}/json", f"inspect image {image}", "inspect_image", image)
        if not isinstance(info, dict) or not info.get("Id"):
            return None
        digests = tuple(str(d) for d in info.get("RepoDigests") or () if d)
        return ImageInfo(str(info["Id"]), digests)

    def image_config(self, image: str) -> dict[str, Any]:
        info = self._get(f"/images/{image}/json", f"inspect image {image}", "inspect_image", image)
        config = (info or {}).get("Config")
        return dict(config) if isinstance(config, dict) else {}

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        what = f"inspect container {container_id[:12]}"
        path = f"/containers/{container_id}/json"
        info = self._get(path, what, "inspect_container", container_id)
        return info if isinstance(info, dict) else None

    def _get(self, path: str, what: str, sdk_call: str, *args: str) -> Any:
        """GET ``path`` (lean) or the SDK's ``sdk_call``; None when the engine says 404."""
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                return engine_sync.call(self.endpoint, "GET", path, what=what, timeout=60.0)
            with self._errors(what):
                return getattr(self.client.api, sdk_call)(*args)
        return None

    # -- writes --------------------------------------------------------------------------
    def pull(
        self,
        image: str,
        *,
        timeout: float | None = None,
        progress: Callable[[PullProgress], None] | None = None,
    ) -> None:
        """Pull through the docker SDK (registry credentials, as ``docker pull``), at most
        ``timeout`` seconds; ``progress`` hears of every step."""
        import docker

        try:
            api = docker.APIClient(base_url=self.endpoint, timeout=300)
        except docker.errors.DockerException as exc:
            raise self._unavailable(exc) from None

        def stream() -> Iterator[dict[str, Any]]:
            repo, tag = _split_reference(image)
            yield from api.pull(repo, tag=tag, stream=True, decode=True)

        try:
            pull_with_progress(image, stream, timeout=timeout, progress=progress, abort=api.close)
        except docker.errors.APIError as exc:
            raise _pull_failed(image, _explain(exc)) from None
        except EngineError as exc:
            raise _pull_failed(image, exc.message, exc.hint) from None
        except (docker.errors.DockerException, OSError) as exc:
            raise self._unavailable(exc) from None
        except Exception as exc:  # requests' errors (a stalled or broken stream)
            why = f"the engine stopped answering ({type(exc).__name__})"
            raise _pull_failed(image, why) from None
        finally:
            api.close()

    def create(self, params: ContainerParams) -> str:
        config = create_config(params)
        what = f"create container {params.name}"
        try:
            if self.lean:
                query = {"name": params.name}
                path = "/containers/create"
                result = engine_sync.call(self.endpoint, "POST", path, query, config, what=what)
            else:
                with self._errors(what):
                    result = self.client.api.create_container_from_config(config, params.name)
        except Conflict as exc:
            found = _IN_USE.search(exc.message)
            raise NameInUse(exc.message, found.group(1) if found else "") from None
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
        """Force-remove.  A removal the engine is already carrying out (another process's,
        perhaps one that was killed since) is waited out; a removal the engine could not
        finish (a ``dead`` container) is tried again."""
        what = f"remove container {container_id[:12]}"
        for attempt in range(3):
            try:
                with contextlib.suppress(engine_sync.NotFound):
                    self._remove(container_id, what)
                return
            except Conflict as exc:
                if "already in progress" in exc.message:
                    self.wait_gone(container_id)
                    return
                if attempt == 2:
                    raise
                cancel.sleep(0.5 * (attempt + 1))

    def _remove(self, container_id: str, what: str) -> None:
        if self.lean:
            path = f"/containers/{container_id}"
            engine_sync.call(self.endpoint, "DELETE", path, {"force": "1"}, what=what)
            return
        with self._errors(what):
            self.client.api.remove_container(container_id, force=True)

    def wait_gone(self, container_id: str, timeout: float = GONE_WAIT) -> None:
        """Return once the container no longer exists (the engine is removing it)."""
        deadline = time.monotonic() + timeout
        while self.inspect(container_id) is not None:
            if time.monotonic() >= deadline:
                raise EngineError(
                    f"the engine has been removing container {container_id[:12]} for "
                    f"{timeout:g}s and it is still there",
                    hint="the engine may be overloaded; try again",
                )
            cancel.sleep(0.1)

    def remove_network(self, name: str) -> None:
        what = f"remove network {name}"
        with contextlib.suppress(engine_sync.NotFound):
            if self.lean:
                engine_sync.call(self.endpoint, "DELETE", f"/networks/{name}", what=what)
                return
            with self._errors(what):
                self.client.api.remove_network(name)

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
            if exc.status_code == 409:
                raise Conflict(f"cannot {what}: {_explain(exc)}") from None
            raise EngineError(f"cannot {what}: {_explain(exc)}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise self._unavailable(exc) from None
        except requests.exceptions.RequestException as exc:  # read timeouts and the like
            raise EngineError(
                f"cannot {what}: the engine did not answer ({exc.__class__.__name__})",
                hint="the engine may be overloaded; try again",
            ) from None


def create_config(params: ContainerParams) -> dict[str, Any]:
    """The Engine API's container config for a workload, setting by setting what ToolHive's
    ``createMcpContainer`` sends (the settings its re-create check compares, see
    ``tests/support/toolhive_deploy.py``): a stdio server has its three streams attached and
    stdin open (``StdinOnce`` false, so stdin outlives a proxy that detaches or dies and the
    next proxy attaches to the same server); bind mounts are ``Mounts``, never ``Binds``;
    ``CapAdd`` empty, ``CapDrop`` ``ALL``, ``label:disable``, ``unless-stopped``."""
    stdio = params.attach_stdio
    config: dict[str, Any] = {
        "Image": params.image,
        "Env": [f"{k}={v}" for k, v in params.env.items()],
        "Labels": dict(params.labels),
        "Tty": False,
        "OpenStdin": stdio,
        "StdinOnce": False,
        "AttachStdin": stdio,
        "AttachStdout": stdio,
        "AttachStderr": stdio,
        "HostConfig": {
            "Mounts": [
                {"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
                for m in params.mounts
            ],
            "PortBindings": {
                f"{c}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(h)}] for c, h in params.publish
            },
            "NetworkMode": params.network_mode,
            "CapAdd": [],
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


def _split_reference(image: str) -> tuple[str, str | None]:
    """``repo[:tag][@digest]`` → (repo, tag or digest) as the SDK's pull takes them."""
    if "@" in image:
        repo, _, digest = image.partition("@")
        return repo, digest
    repo, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return repo, tag
    return image, "latest"


def _pull_failed(image: str, why: str, hint: str | None = None) -> EngineError:
    return EngineError(
        f"image {image} is not available locally and pulling it failed: {why}",
        hint=hint or "build or load the image locally, or check the image name",
    )


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
