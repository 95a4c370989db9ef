"""A network-isolated workload made the way ToolHive's ``DeployWorkload`` makes one (facts §1),
from local images: busybox stands in for dnsmasq (``-dns``) and squid (``-egress``), and the
``-ingress`` sidecar is a small TCP forwarder in the Python image that really passes requests
on to the MCP container's address on the internal network, as ToolHive's squid ingress does.

Order, names, labels and networks are ToolHive's: ``toolhive-external`` (bridge) and
``toolhive-<c>-internal`` (internal bridge), both labelled ``toolhive=true`` and
``toolhive-name``; then ``<c>-dns``, ``<c>-egress`` (``CAP_SETUID``/``CAP_SETGID``), the MCP
container (internal network only, the dns sidecar as its resolver, the egress proxy
variables, ``toolhive-network-isolation=true``), then for HTTP ``<c>-ingress`` publishing a
random port on 127.0.0.1 under the same number.  Sidecars carry the standard labels
(transport ``stdio``, port ``80``) plus ``toolhive-auxiliary-workload=true``, attach their
streams when the workload is stdio, restart ``unless-stopped``, ``label:disable``.

One difference, the engine's: API 1.41 engines take a single network endpoint at create, so a
sidecar is created on the internal network and connected to ``toolhive-external`` right after.
"""

from __future__ import annotations

from typing import Any

from tests.support.images import ensure_busybox_image, ensure_mcp_image
from tests.support.toolhive_deploy import (
    EXTERNAL,
    create_as_toolhive,
    create_raw,
    ensure_network,
)
from toolhive_compose.ports import PortAllocator

AUXILIARY = "toolhive-auxiliary-workload"
FORWARDER = """
import asyncio, signal, sys
listen, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
async def handle(reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", listen)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def isolated_runconfig(name: str, *, transport: str, port: int, target_port: int = 0) -> dict:
    """The run config ``thv run`` writes (``isolate_network`` on, the builtin network profile)."""
    http = transport != "stdio"
    labels = {
        "toolhive": "true", "toolhive-name": name, "toolhive-basename": name,
        "toolhive-port": str(port), "toolhive-transport": transport,
    }  # fmt: skip
    rc: dict[str, Any] = {
        "schema_version": "v0.1.0",
        "image": ensure_mcp_image() if http else ensure_busybox_image(),
        "name": name,
        "container_name": name,
        "base_name": name,
        "transport": transport,
        "host": "127.0.0.1",
        "port": port,
    }
    if http:
        rc.update(target_port=target_port, target_host="127.0.0.1")
    rc.update(
        permission_profile_name_or_path="network",
        permission_profile={
            "name": "network",
            "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}},
        },
        env_vars={"MCP_TRANSPORT": transport}
        | ({"MCP_PORT": str(target_port), "FASTMCP_PORT": str(target_port)} if http else {}),
        container_labels=labels,
        isolate_network=True,
        proxy_mode="streamable-http",
        group="default",
    )
    return rc


def _sidecar_labels(name: str) -> dict[str, str]:
    return {
        "toolhive": "true", "toolhive-name": name, "toolhive-basename": name,
        "toolhive-transport": "stdio", "toolhive-port": "80", AUXILIARY: "true",
    }  # fmt: skip


def _sidecar(client: Any, name: str, internal: str, stdio: bool, config: dict[str, Any]) -> str:
    host = {
        "NetworkMode": "bridge",
        "SecurityOpt": ["label:disable"],
        "RestartPolicy": {"Name": "unless-stopped"},
        **config.pop("HostConfig", {}),
    }
    body = {
        "Labels": _sidecar_labels(name),
        "AttachStdin": stdio, "AttachStdout": stdio, "AttachStderr": stdio,
        "OpenStdin": stdio, "Tty": False,
        **config, "HostConfig": host,
    }  # fmt: skip
    cid = create_raw(name, body, {internal: {}})
    client.networks.get(EXTERNAL).connect(cid)
    return cid


def _ip(client: Any, cid: str, network: str) -> str:
    info = client.api.inspect_container(cid)
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


def make_isolated(client: Any, rc: dict[str, Any]) -> dict[str, str]:
    """Make the networks and containers of isolated workload ``rc``; their ids by name."""
    name = str(rc["container_name"])
    stdio = rc["transport"] == "stdio"
    internal = f"toolhive-{name}-internal"
    ensure_network(client, EXTERNAL)
    ensure_network(client, internal, internal=True)
    busybox = ensure_busybox_image()
    made = {f"{name}-dns": _sidecar(client, f"{name}-dns", internal, stdio, {"Image": busybox})}
    dns_ip = _ip(client, made[f"{name}-dns"], internal)
    made[f"{name}-egress"] = _sidecar(
        client, f"{name}-egress", internal, stdio,
        {"Image": busybox, "HostConfig": {"CapAdd": ["CAP_SETUID", "CAP_SETGID"]}},
    )  # fmt: skip
    made[name] = create_as_toolhive(client, rc, dns=dns_ip)
    if not stdio:
        port = PortAllocator(set).allocate()
        upstream = _ip(client, made[name], internal)
        made[f"{name}-ingress"] = _sidecar(
            client, f"{name}-ingress", internal, stdio,
            {
                "Image": ensure_mcp_image(),
                "Entrypoint": ["python3", "-c", FORWARDER],
                "Cmd": [str(port), upstream, str(rc["target_port"])],
                "ExposedPorts": {f"{port}/tcp": {}},
                "HostConfig": {
                    "CapAdd": ["CAP_SETUID", "CAP_SETGID"],
                    "PortBindings": {
                        f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
                    },
                },
            },
        )  # fmt: skip
    return made


def ingress_port(client: Any, name: str) -> int:
    info = client.api.inspect_container(f"{name}-ingress")
    bindings = info["HostConfig"]["PortBindings"]
    return int(next(iter(bindings.values()))[0]["HostPort"])
