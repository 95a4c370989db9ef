"""Workload lifecycle operations: create, start, stop, delete, move between groups.

The declarative executor and the imperative commands both call these.  Each operation
writes ToolHive's state in the order ToolHive does (run config saved before the container
is made; status ``starting``/``stopping``/``removing`` before the engine call, the final
status after), so an interruption at any point leaves state the next ``apply`` converges from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .containers import container_params
from .errors import EngineError
from .fingerprint import config_hash
from .model import ServerSpec
from .ports import PortAllocator, is_available
from .runtime import Runtime
from .state import Store, group_document
from .state.runconfig import HTTP_TRANSPORTS, build_runconfig, container_labels


class Lifecycle:
    def __init__(
        self, runtime: Runtime, store: Store, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.environ = environ
        self.ports = PortAllocator(self._ports_in_state)

    # -- workloads -----------------------------------------------------------------------
    def create(self, spec: ServerSpec, canon: dict[str, Any], *, project: str) -> dict[str, Any]:
        """Save state, make the container, start it when wanted.  Returns the final spec."""
        canon = self._with_ports(spec, canon)
        digest = config_hash(canon)
        port, target_port = canon["port"], canon["target_port"]
        rc = build_runconfig(
            spec,
            port=port,
            target_port=target_port,
            project=project,
            canon=canon,
            config_hash=digest,
        )
        self.store.runconfigs.write(spec.name, rc)
        self.store.statuses.set_status(spec.name, "starting")
        if spec.remote:
            self._finish_start(spec.name)
            return canon
        labels = container_labels(spec, port=port, project=project, config_hash=digest)
        params = container_params(
            spec, target_port=target_port, labels=labels, secret_env=self._secret_env(spec)
        )
        try:
            container_id = self.runtime.create(params)
            if spec.state == "running":
                self.runtime.start(container_id)
        except Exception as exc:
            self.store.statuses.set_status(spec.name, "error", str(exc))
            raise
        if spec.state == "running":
            self._finish_start(spec.name)
        else:
            self.store.statuses.set_status(spec.name, "stopped")
        return canon

    def replace(
        self, spec: ServerSpec, canon: dict[str, Any], *, project: str, container_id: str
    ) -> dict[str, Any]:
        """Recreate: the old container goes, then the new one is made (ToolHive's update)."""
        self.store.statuses.set_status(spec.name, "stopping")
        self._stop_proxy(spec.name)
        if container_id:
            self.runtime.remove(container_id)
        return self.create(spec, canon, project=project)

    def start(self, name: str, container_id: str) -> None:
        self.store.statuses.set_status(name, "starting")
        try:
            if container_id:
                self.runtime.start(container_id)
        except Exception as exc:
            self.store.statuses.set_status(name, "error", str(exc))
            raise
        self._finish_start(name)

    def stop(self, name: str, container_id: str) -> None:
        self.store.statuses.set_status(name, "stopping")
        self._stop_proxy(name)
        if container_id:
            self.runtime.stop(container_id)
        self.store.statuses.set_status(name, "stopped")

    def delete(self, name: str, container_id: str) -> None:
        self.store.statuses.set_status(name, "removing")
        if container_id:
            self.runtime.remove(container_id)
        self._stop_proxy(name)
        self.store.runconfigs.delete(name)
        self.store.statuses.delete(name)

    def move_group(self, name: str, group: str) -> None:
        """Rewrite the run config's group only: no restart (ToolHive's MoveToGroup)."""
        rc = self.store.runconfigs.read(name)
        if rc is None:
            raise EngineError(f"workload {name} has no run config to move")
        rc["group"] = group
        self.store.runconfigs.write(name, rc)

    # -- groups --------------------------------------------------------------------------
    def group_create(self, name: str, *, project: str = "", description: str = "") -> None:
        doc = group_document(name, project=project, description=description)
        if not self.store.groups.create(name, doc) and project:
            self.store.groups.write(name, doc)

    def group_delete(self, name: str) -> None:
        self.store.groups.delete(name)

    # -- helpers -------------------------------------------------------------------------
    def _finish_start(self, name: str) -> None:
        self.store.statuses.set_status(name, "running")

    def _stop_proxy(self, name: str) -> None:
        """No proxy process is started yet, so there is none to stop."""

    def _with_ports(self, spec: ServerSpec, canon: dict[str, Any]) -> dict[str, Any]:
        canon = dict(canon)
        canon["port"] = self._port(spec.name, canon.get("port"), "port")
        http = spec.transport in HTTP_TRANSPORTS and not spec.remote
        canon["target_port"] = (
            self._port(spec.name, canon.get("target_port"), "target_port") if http else None
        )
        return canon

    def _port(self, name: str, port: int | None, what: str) -> int:
        if not port:
            return self.ports.allocate()
        if not is_available(port):
            raise EngineError(
                f"cannot create {name}: {what} {port} is already in use on 127.0.0.1",
                hint="free the port, or choose another one in the workloads file",
            )
        self.ports.claim(port)
        return port

    def _ports_in_state(self) -> set[int]:
        taken: set[int] = set()
        for name in self.store.runconfigs.names():
            rc = self.store.runconfigs.read(name) or {}
            taken.update(int(rc[k]) for k in ("port", "target_port") if rc.get(k))
        return taken

    def _secret_env(self, spec: ServerSpec) -> dict[str, str]:
        from .loader import resolve_secret_value

        return {s.target: resolve_secret_value(s, self.environ) for s in spec.secrets}
