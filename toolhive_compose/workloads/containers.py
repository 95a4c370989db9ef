"""Map a server spec onto container parameters (pure).

Permission profiles map as ToolHive maps them: ``read`` → read-only binds, ``write`` →
read-write binds, all capabilities dropped, ``privileged`` as set.  Network: the profile's
explicit ``network.mode`` wins; a profile that allows no outbound traffic runs a stdio server
with no network at all; everything else runs on the default bridge.  (ToolHive's egress
sidecars are not run: ``toolhive-network-isolation`` is ``false`` on our containers.)
"""

from __future__ import annotations

import json
from typing import Any

from ..model import ServerSpec
from ..runtime import ContainerParams
from ..state.runconfig import HTTP_TRANSPORTS, injected_env


def container_params(
    spec: ServerSpec,
    *,
    target_port: int | None,
    labels: dict[str, str],
    secret_env: dict[str, str],
) -> ContainerParams:
    profile = json.loads(spec.permission_profile_json or "null") or {}
    env = dict(spec.env)
    env.update(injected_env(spec.transport, target_port))
    env.update(secret_env)
    http = spec.transport in HTTP_TRANSPORTS
    return ContainerParams(
        name=spec.name,
        image=spec.image_ref or spec.image,  # the lock's pinned image, when it wins
        command=spec.args,
        env=env,
        labels=labels,
        binds=tuple(_binds(spec.volumes, profile)),
        network_mode=_network_mode(profile, http),
        publish=((target_port, target_port),) if http and target_port else (),
        stdin_open=spec.transport == "stdio",
        privileged=bool(profile.get("privileged")),
    )


def _binds(volumes: tuple[str, ...], profile: dict[str, Any]) -> list[str]:
    binds: dict[str, str] = {}  # container path -> bind
    for volume in volumes:
        host, ctr, *mode = volume.split(":")
        binds[ctr] = f"{host}:{ctr}:{mode[0] if mode else 'rw'}"
    for access, key in (("ro", "read"), ("rw", "write")):
        for decl in profile.get(key) or []:
            host, _, ctr = str(decl).partition(":")
            ctr = ctr or host
            binds.setdefault(ctr, f"{host}:{ctr}:{access}")
    return [binds[c] for c in sorted(binds)]


def _network_mode(profile: dict[str, Any], http: bool) -> str:
    network = profile.get("network") or {}
    mode = str(network.get("mode") or "")
    if mode and mode != "default":
        return mode
    outbound = network.get("outbound") or {}
    closed = not outbound.get("insecure_allow_all") and not outbound.get("allow_host")
    return "none" if closed and not http else "bridge"
