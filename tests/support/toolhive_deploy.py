"""ToolHive's Docker deployment, transcribed as data: the container ``thv start`` wants for a
run config, and the checks that decide whether it keeps an existing container or re-creates it.

Source: stacklok/toolhive @ e25de16, as read in /work/notes/toolhive-runtime-facts.md
(§2.1 the re-create check, §2.2–2.4 the container's settings, §1 network isolation, §3
secrets) and in the code it cites:

- ``pkg/runtime/setup.go`` ``Setup``: ``MCP_TRANSPORT``; for sse/streamable-http ``MCP_PORT``
  and ``FASTMCP_PORT`` = target port, ``MCP_HOST`` = ``target_host``; the target port exposed
  and bound on ``host``; stdio attaches its streams.
- ``pkg/container/docker/client.go``: ``getPermissionConfigFromProfile`` (``NetworkMode`` =
  the profile's ``network.mode``, ``CapDrop ALL``, ``CapAdd []``, ``label:disable``),
  ``addReadOnlyMounts``/``addReadWriteMounts``, ``createMcpContainer`` (``unless-stopped``,
  endpoints), ``DeployWorkload`` (isolation only in bridge mode, the
  ``toolhive-network-isolation`` label, the egress proxy variables), and the re-create check
  ``compareContainerConfig`` = ``compareBasicConfig`` + ``compareHostConfig`` +
  ``compareMounts`` + ``comparePortConfig`` (≈l.915–1121).

This is the test oracle: it is written from ToolHive, never from our own code, so that a test
can make our container and ask "would ToolHive's ``thv start`` keep it?" (:func:`differences`),
and can make a container exactly as ToolHive would (:func:`create_as_toolhive`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

BRIDGE_MODES = ("", "bridge", "default")  # networking.IsBridgeMode
EXTERNAL = "toolhive-external"


# -- the desired container (Setup + DeployWorkload + createMcpContainer) ----------------------
def desired_container(
    rc: Mapping[str, Any], secrets: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``{"Config", "HostConfig", "Endpoints"}`` that ToolHive creates for run config ``rc``.

    ``secrets`` are the resolved ``secrets`` entries, target → value (ToolHive's provider
    resolves them; they override same-named ``env_vars``).  An isolated workload gets the
    egress sidecar's proxy variables (``addEgressEnvVars``)."""
    transport = str(rc.get("transport") or "stdio")
    profile = rc.get("permission_profile") or {}
    mode = str((profile.get("network") or {}).get("mode") or "")
    isolated = bool(rc.get("isolate_network")) and mode in BRIDGE_MODES
    env = {str(k): str(v) for k, v in (rc.get("env_vars") or {}).items()}
    env.update(secrets or {})
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    if transport == "stdio":
        env["MCP_TRANSPORT"] = "stdio"
    else:
        port = int(rc.get("target_port") or 0)
        env.update(
            MCP_TRANSPORT=transport,
            MCP_PORT=str(port),
            FASTMCP_PORT=str(port),
            MCP_HOST=str(rc.get("target_host") or "127.0.0.1"),
        )
        exposed[f"{port}/tcp"] = {}
        bindings[f"{port}/tcp"] = [
            {"HostIp": str(rc.get("host") or "127.0.0.1"), "HostPort": str(port)}
        ]
    name = str(rc.get("container_name") or rc.get("name"))
    if isolated:
        proxy = f"http://{name}-egress:3128"
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env[key] = proxy
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
    labels = {str(k): str(v) for k, v in (rc.get("container_labels") or {}).items()}
    labels["toolhive-network-isolation"] = "true" if isolated else "false"
    attach = transport == "stdio"
    if mode not in BRIDGE_MODES:
        endpoints: dict[str, Any] = {}
    elif isolated:
        endpoints = {f"toolhive-{name}-internal": {"NetworkID": f"toolhive-{name}-internal"}}
    else:
        endpoints = {EXTERNAL: {"NetworkID": EXTERNAL}}
    return {
        "Config": {
            "Image": rc.get("image"),
            "Cmd": list(rc.get("cmd_args") or []) or None,
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Labels": labels,
            "AttachStdin": attach,
            "AttachStdout": attach,
            "AttachStderr": attach,
            "OpenStdin": attach,
            "Tty": False,
            "ExposedPorts": exposed or None,
        },
        "HostConfig": {
            "Mounts": toolhive_mounts(profile),
            "NetworkMode": mode,
            "CapAdd": [],
            "CapDrop": ["ALL"],
            "SecurityOpt": ["label:disable"],
            "Privileged": bool(profile.get("privileged")),
            "RestartPolicy": {"Name": "unless-stopped"},
            "PortBindings": bindings or None,
        },
        "Endpoints": endpoints,
    }


def toolhive_mounts(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``addReadOnlyMounts`` then ``addReadWriteMounts``: a ``write`` entry whose target is
    already mounted flips that mount to read-write (keeping its source)."""
    mounts: list[dict[str, Any]] = []
    for read_only, key in ((True, "read"), (False, "write")):
        for decl in profile.get(key) or []:
            if "://" in decl:  # resource URIs: skipped ("not yet supported")
                continue
            source, sep, target = str(decl).partition(":")
            target = target if sep else source
            same = [m for m in mounts if m["Target"] == target]
            if same and not read_only:
                same[0]["ReadOnly"] = False
                continue
            mounts.append(
                {"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only}
            )
    return mounts


# -- the re-create check (compareContainerConfig), one rule per compared setting --------------
@dataclass(frozen=True)
class Rule:
    setting: str
    source: str  # ToolHive's function
    keeps: Callable[[Any, Any], bool]  # (existing value, desired value) -> same enough


def _slices(existing: Any, desired: Any) -> bool:
    """``compareStringSlices`` / the Cmd loop: same length, element by element (nil == [])."""
    return list(existing or []) == list(desired or [])


def _env_subset(existing: Any, desired: Any) -> bool:
    def as_map(env: Any) -> dict[str, str]:
        return dict(e.split("=", 1) for e in env or [] if "=" in e)

    have = as_map(existing)
    return all(have.get(k) == v for k, v in as_map(desired).items())


def _map_subset(existing: Any, desired: Any) -> bool:
    have = existing or {}
    return all(k in have and have[k] == v for k, v in (desired or {}).items())


def _mounts(existing: Any, desired: Any) -> bool:
    have, want = existing or [], desired or []
    if len(have) != len(want):
        return False
    by_target = {m.get("Target"): m for m in have}
    return all(
        m["Target"] in by_target
        and by_target[m["Target"]].get("Source") == m["Source"]
        and bool(by_target[m["Target"]].get("ReadOnly")) == m["ReadOnly"]
        for m in want
    )


def _exposed(existing: Any, desired: Any) -> bool:
    have, want = existing or {}, desired or {}
    return len(have) == len(want) and all(port in have for port in want)


def _bindings(existing: Any, desired: Any) -> bool:
    have, want = existing or {}, desired or {}
    if len(have) != len(want):
        return False
    for port, wanted in want.items():
        found = have.get(port)
        if found is None or len(found) != len(wanted):
            return False
        for got, exp in zip(found, wanted, strict=True):
            if (got.get("HostIp") or "") != exp["HostIp"] or got.get("HostPort") != exp["HostPort"]:
                return False
    return True


def _equal(existing: Any, desired: Any) -> bool:
    return bool(existing == desired)


RULES = (
    Rule("Config.Image", "compareBasicConfig", _equal),
    Rule("Config.Cmd", "compareBasicConfig", _slices),
    Rule("Config.Env", "compareEnvVars (subset)", _env_subset),
    Rule("Config.Labels", "compareLabels (subset)", _map_subset),
    Rule("Config.AttachStdin", "compareBasicConfig", _equal),
    Rule("Config.AttachStdout", "compareBasicConfig", _equal),
    Rule("Config.AttachStderr", "compareBasicConfig", _equal),
    Rule("Config.OpenStdin", "compareBasicConfig", _equal),
    Rule("HostConfig.NetworkMode", "compareHostConfig", _equal),
    Rule("HostConfig.CapAdd", "compareHostConfig", _slices),
    Rule("HostConfig.CapDrop", "compareHostConfig", _slices),
    Rule("HostConfig.SecurityOpt", "compareHostConfig", _slices),
    Rule("HostConfig.Privileged", "compareHostConfig", _equal),
    Rule("HostConfig.RestartPolicy.Name", "compareHostConfig", _equal),
    Rule("HostConfig.Mounts", "compareMounts", _mounts),
    Rule("Config.ExposedPorts", "comparePortConfig", _exposed),
    Rule("HostConfig.PortBindings", "comparePortConfig", _bindings),
)


def _at(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = (value or {}).get(part)
    return value


def differences(inspect: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """The settings for which ToolHive's ``thv start`` would re-create the container
    ("setting: existing != desired"); [] means it keeps it."""
    found = []
    for rule in RULES:
        have, want = _at(inspect, rule.setting), _at(desired, rule.setting)
        if not rule.keeps(have, want):
            found.append(f"{rule.setting} ({rule.source}): {have!r} != {want!r}")
    return found


# -- making a container as ToolHive does ------------------------------------------------------
def ensure_network(client: Any, name: str, *, internal: bool = False) -> None:
    """``createNetwork``: bridge driver, ToolHive's labels; an existing one is kept."""
    if client.networks.list(names=[name]):
        return
    labels = {"toolhive": "true", "toolhive-name": name}
    try:
        client.networks.create(name, driver="bridge", internal=internal, labels=labels)
    except Exception as exc:  # a concurrent create: ToolHive treats a conflict as success
        if "already exists" not in str(exc):
            raise


def create_as_toolhive(
    client: Any,
    rc: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    *,
    dns: str = "",
) -> str:
    """Create and start the MCP container ToolHive's ``DeployWorkload`` makes for ``rc``
    (bridge mode: on ``toolhive-external``; isolated: on its internal network only, with
    ``dns`` as its resolver); the container id."""
    want = desired_container(rc, secrets)
    if EXTERNAL in want["Endpoints"]:
        ensure_network(client, EXTERNAL)
    host = {k: v for k, v in want["HostConfig"].items() if v is not None}
    if dns:
        host["Dns"] = [dns]
    config = {k: v for k, v in want["Config"].items() if v is not None}
    return create_raw(
        str(rc.get("container_name") or rc.get("name")),
        {**config, "HostConfig": host},
        want["Endpoints"],
    )


def create_raw(name: str, config: Mapping[str, Any], endpoints: Mapping[str, Any]) -> str:
    """POST ``/containers/create`` with exactly ``config`` and these network endpoints (the
    docker SDK would rewrite the request), then start it; the container id."""
    from toolhive_compose.runtime import engine_sync
    from toolhive_compose.runtime.endpoint import engine_host

    host = engine_host()
    body = {**config, "NetworkingConfig": {"EndpointsConfig": dict(endpoints)}}
    made = engine_sync.call(host, "POST", "/containers/create", {"name": name}, body)
    cid = str(made["Id"])
    engine_sync.call(host, "POST", f"/containers/{cid}/start")
    return cid
