"""A run config → the container ToolHive would make from it (pure).

The container is made from the run config, not from the spec, in the terms of ToolHive's
``DeployWorkload`` (``pkg/runtime/setup.go``, ``pkg/container/docker/client.go``): so the
real ``thv start`` of the workload, which builds its desired container from the same run
config and re-creates the existing one when a compared setting differs, finds ours equal and
keeps it (and a container ToolHive does re-create is the same container, config-hash label
included).  Setting by setting:

- ``Cmd`` = ``cmd_args``; ``Env`` = ``env_vars``, then ``MCP_TRANSPORT`` and, for sse and
  streamable-http, ``MCP_PORT``/``FASTMCP_PORT`` = the target port and ``MCP_HOST`` = the
  ``target_host`` (127.0.0.1), then the secrets' values; ``Labels`` = ``container_labels``
  (``toolhive-network-isolation`` ``false``);
- stdio: ``AttachStdin``/``AttachStdout``/``AttachStderr`` and ``OpenStdin``;
- the profile's ``read`` entries are read-only bind ``Mounts``, ``write`` read-write ones
  (a ``write`` entry for a path already read flips it to read-write);
- ``NetworkMode`` = the profile's ``network.mode``; ``Privileged`` = its ``privileged``;
- sse and streamable-http: the target port exposed and published on ``host`` (127.0.0.1)
  under the same number.

ToolHive's network isolation (``isolate_network``: sidecars and an internal network) is not
something we make: our run configs leave it off, and :mod:`.isolation` handles the isolated
workloads ToolHive made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..runtime import ContainerParams, Mount
from ..state.runconfig import HTTP_TRANSPORTS, mount_declaration


def container_params(rc: Mapping[str, Any], secret_env: Mapping[str, str]) -> ContainerParams:
    """The container of run config ``rc``; ``secret_env`` maps a secret's target variable to
    its value (ToolHive resolves them through its secrets provider instead)."""
    transport = str(rc.get("transport") or "stdio")
    http = transport in HTTP_TRANSPORTS
    target_port = int(rc.get("target_port") or 0)
    env = {str(k): str(v) for k, v in (rc.get("env_vars") or {}).items()}
    env["MCP_TRANSPORT"] = transport
    if http:
        env.update(
            MCP_PORT=str(target_port),
            FASTMCP_PORT=str(target_port),
            MCP_HOST=str(rc.get("target_host") or "127.0.0.1"),
        )
    env.update(secret_env)
    profile = rc.get("permission_profile") or {}
    network = profile.get("network") or {}
    return ContainerParams(
        name=str(rc.get("container_name") or rc["name"]),
        image=str(rc["image"]),
        command=tuple(str(a) for a in rc.get("cmd_args") or ()),
        env=env,
        labels={str(k): str(v) for k, v in (rc.get("container_labels") or {}).items()},
        mounts=mounts(profile),
        network_mode=str(network.get("mode") or ""),
        publish=((target_port, target_port),) if http and target_port else (),
        attach_stdio=transport == "stdio",
        privileged=bool(profile.get("privileged")),
    )


def mounts(profile: Mapping[str, Any]) -> tuple[Mount, ...]:
    """ToolHive's mapping of a profile's mount declarations (``addReadOnlyMounts``, then
    ``addReadWriteMounts``); resource URIs (``volume://…``) are skipped, as ToolHive does."""
    made: list[Mount] = []
    for access, key in ((True, "read"), (False, "write")):
        for decl in profile.get(key) or []:
            if "://" in str(decl):
                continue
            host, target = mount_declaration(str(decl))
            at = next((i for i, m in enumerate(made) if m.target == target), None)
            if at is None:
                made.append(Mount(host, target, read_only=access))
            elif not access:
                made[at] = Mount(made[at].source, target, read_only=False)
    return tuple(made)
