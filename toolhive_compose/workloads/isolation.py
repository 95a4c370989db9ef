"""ToolHive's network-isolated workloads: their sidecars and networks.

``thv run`` isolates a workload's network by default (``isolate_network: true`` in its run
config): besides the MCP container ``<c>`` (its run config's ``container_name``, attached only
to the internal network ``toolhive-<c>-internal``) it makes the sidecars ``<c>-dns``,
``<c>-egress`` and, for sse and streamable-http, ``<c>-ingress`` (whose random port on
127.0.0.1 is where ToolHive's proxy sends requests), all labelled
``toolhive-auxiliary-workload=true``, on the internal network and the shared
``toolhive-external`` one.  This tool makes no isolated workloads (we have no egress proxy
image), but it manages those ToolHive made, with their sidecars, as ToolHive does
(``pkg/container/docker/client.go``; facts §1):

- they are never listed as workloads (the auxiliary label hides them everywhere);
- stop: after the MCP container, ``-egress``, ``-ingress``, ``-dns`` (ToolHive's order);
- start: ``-dns``, ``-egress``, the MCP container, ``-ingress`` — the order ToolHive makes
  them in, so that the engine gives each container the address it had on the internal
  network (the ingress's configuration names the server's address).  ToolHive's start
  re-creates the egress and ingress sidecars (new squid configs, a new ingress port); we start
  the existing ones, keeping the ingress port, which the proxy reads from the ingress
  container's port binding (:mod:`toolhive_compose.proxy.main`);
- delete (``rm``, ``down``, a recreate): the sidecars go after the MCP container, then the
  internal network, then ``toolhive-external`` once no ToolHive container is left at all.

Whether to look for sidecars: a run config with ``isolate_network`` true, or whose container
labels say ``toolhive-network-isolation=true``.  (ToolHive's ``HasNetworkIsolation`` reads an
absent label on the container as true, for workloads older than the label; those predate the
sidecars too, and their run configs say nothing of isolation.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..errors import EngineError
from ..model import LABEL_NETWORK_ISOLATION, LABEL_TOOLHIVE
from ..runtime import Container, Runtime

AUXILIARY_LABEL = "toolhive-auxiliary-workload"
EXTERNAL_NETWORK = "toolhive-external"
STOP_ORDER = ("egress", "ingress", "dns")  # ToolHive's StopWorkload / removeProxyContainers
BEFORE_SERVER = ("dns", "egress")  # DeployWorkload makes these, then the server,
AFTER_SERVER = ("ingress",)  # then this
STOP_TIMEOUT = 10


def internal_network(container_name: str) -> str:
    return f"toolhive-{container_name}-internal"


def container_name(name: str, rc: Mapping[str, Any] | None) -> str:
    """The workload's container name: its run config's ``container_name``, else its name."""
    return str((rc or {}).get("container_name") or name)


def has_isolation(rc: Mapping[str, Any] | None) -> bool:
    """Whether the workload may have sidecars (see the module's docstring)."""
    if rc and rc.get("isolate_network"):
        return True
    labels = (rc or {}).get("container_labels") or {}
    return str(labels.get(LABEL_NETWORK_ISOLATION, "false")).lower() == "true"


def sidecars(runtime: Runtime, name: str, order: tuple[str, ...] = STOP_ORDER) -> list[Container]:
    """The sidecars of container ``name`` that exist, in ``order``."""
    wanted = {f"{name}-{suffix}": i for i, suffix in enumerate(order)}
    found = [
        c
        for c in runtime.list_containers(labels=[f"{AUXILIARY_LABEL}=true"], names=list(wanted))
        if c.name in wanted
    ]
    return sorted(found, key=lambda c: wanted[c.name])


def ingress(runtime: Runtime, name: str) -> Container | None:
    found = sidecars(runtime, name, ("ingress",))
    return found[0] if found else None


def start_sidecars(runtime: Runtime, name: str, which: tuple[str, ...]) -> None:
    for sidecar in sidecars(runtime, name, which):
        if sidecar.state != "running":
            runtime.start(sidecar.id)


def stop_sidecars(runtime: Runtime, name: str) -> None:
    for sidecar in sidecars(runtime, name):
        if sidecar.state in ("running", "restarting", "paused"):
            runtime.stop(sidecar.id, STOP_TIMEOUT)


def remove_sidecars(runtime: Runtime, name: str) -> None:
    """The sidecars, the internal network, then ``toolhive-external`` if it is unused."""
    for sidecar in sidecars(runtime, name):
        runtime.remove(sidecar.id)
    with contextlib.suppress(EngineError):  # still in use by something else: ToolHive warns
        runtime.remove_network(internal_network(name))
    if not runtime.list_containers(labels=[f"{LABEL_TOOLHIVE}=true"]):
        with contextlib.suppress(EngineError):
            runtime.remove_network(EXTERNAL_NETWORK)
