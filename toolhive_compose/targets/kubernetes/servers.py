"""One server of the workloads file as the ``spec`` of an ``MCPServer`` or ``MCPRemoteProxy``.

Each field maps to the operator's (``toolhive.stacklok.dev/v1beta1``, operator 0.44) as
exactly as it can; what the cluster cannot mean the same way is a :class:`Findings` note
(one line on stderr, an error with ``--strict``), and what cannot be made valid at all is a
problem (an error, nothing rendered).  Both name the server and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import Problem
from ...model import BUILTIN_PROFILES, ServerSpec
from .remote_url import reach
from .secret_refs import SecretKey, Source, describe, source_of

PROFILE_KEY = "profile.json"  # the key of a permission profile in its ConfigMap


@dataclass
class Findings:
    """What rendering found: notes (not expressible) and problems (not renderable)."""

    notes: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def note(self, spec: ServerSpec, where: str, message: str) -> None:
        self.notes.append(Problem(message, path=field_path(spec.name, where)))

    def problem(self, spec: ServerSpec, where: str, message: str) -> None:
        self.problems.append(Problem(message, path=field_path(spec.name, where)))


@dataclass(frozen=True, slots=True)
class ServerNames:
    """The Kubernetes names one server's objects use or refer to."""

    server: str  # the MCPServer or MCPRemoteProxy
    group: str  # its MCPGroup
    profile: str = ""  # the ConfigMap of a custom permission profile
    tool_config: str = ""  # its MCPToolConfig, when it filters or overrides tools


def field_path(server: str, where: str) -> str:
    return f"servers.{server}.{where}" if where else f"servers.{server}"


def mcpserver_spec(
    spec: ServerSpec, names: ServerNames, keys: dict[Source, SecretKey], found: Findings
) -> dict[str, Any]:
    """The ``spec`` of the ``MCPServer`` for a container server."""
    out: dict[str, Any] = {"image": spec.image, "transport": spec.transport}
    if spec.transport == "stdio":
        out["proxyMode"] = spec.proxy_mode
    elif spec.target_port is not None:
        out["mcpPort"] = spec.target_port
    _common(spec, names, out, found)
    if spec.args:
        out["args"] = list(spec.args)
    if spec.env:
        out["env"] = _env(spec, found)
    if spec.secrets:
        out["secrets"] = _secrets(spec, keys, found)
    if spec.volumes:
        out["volumes"] = _volumes(spec, found)
    out["permissionProfile"] = _profile(spec, names, found)
    if spec.state == "stopped":
        out["replicas"] = out["backendReplicas"] = 0
        found.note(
            spec,
            "state",
            "stopped is rendered as replicas: 0 and backendReplicas: 0 "
            "(scaled to zero: the operator reports the server Stopped)",
        )
    return out


def remote_proxy_spec(spec: ServerSpec, names: ServerNames, found: Findings) -> dict[str, Any]:
    """The ``spec`` of the ``MCPRemoteProxy`` for a ``url:`` server."""
    out: dict[str, Any] = {"remoteUrl": spec.url, "transport": spec.transport}
    where = reach(spec.url)
    if where == "refused":
        found.problem(
            spec,
            "url",
            f"{spec.url} is a loopback, link-local or cluster-internal "
            "address, which the ToolHive operator refuses for a remote proxy; point it "
            "at an address the cluster can reach",
        )
    elif where == "private":  # the file asks for this endpoint: the operator needs it said
        out["allowPrivateEndpoint"] = True
    _common(spec, names, out, found)
    for what in ("env", "secrets"):
        if getattr(spec, what):
            found.note(
                spec, what, "a remote proxy has no environment in the operator; not rendered"
            )
    if spec.state == "stopped":
        out["replicas"] = 0
        found.note(spec, "state", "stopped is rendered as replicas: 0 (scaled to zero)")
    return out


def profile_document(spec: ServerSpec) -> str:
    """The ConfigMap text of a custom permission profile: ToolHive's JSON profile format."""
    profile = json.loads(spec.permission_profile_json or "{}")
    return json.dumps(profile, indent=2, sort_keys=True) + "\n"


def builtin_profile(spec: ServerSpec) -> str | None:
    """``none`` or ``network`` when the server's profile is (or equals) that built-in one."""
    if spec.permission_profile in ("none", "network"):
        return spec.permission_profile
    profile = json.loads(spec.permission_profile_json or "null")
    for name in ("network", "none"):
        if profile == BUILTIN_PROFILES[name][1]:
            return name
    return None


def has_custom_profile(spec: ServerSpec) -> bool:
    return not spec.remote and builtin_profile(spec) is None


def _common(spec: ServerSpec, names: ServerNames, out: dict[str, Any], found: Findings) -> None:
    """The fields both kinds share: the proxy port, the group and the tool configuration."""
    if spec.port is not None:
        out["proxyPort"] = spec.port
        found.note(
            spec,
            "port",
            f"{spec.port} is a host port of one machine; in the cluster it "
            "is the port of the proxy's Service (proxyPort)",
        )
    out["groupRef"] = {"name": names.group}
    if names.tool_config:
        out["toolConfigRef"] = {"name": names.tool_config}


def _env(spec: ServerSpec, found: Findings) -> list[dict[str, str]]:
    for name, value in spec.env:
        if "\n" in value or "\r" in value:
            found.problem(
                spec,
                f"env.{name}",
                "holds a line break, which the ToolHive operator refuses in an environment value",
            )
    return [{"name": name, "value": value} for name, value in spec.env]


def _secrets(
    spec: ServerSpec, keys: dict[Source, SecretKey], found: Findings
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    users: dict[str, str] = {}
    for ref in spec.secrets:
        key = keys[source_of(ref)]
        if key.name in users:  # the operator keys a server's secrets by the Secret's name
            found.problem(
                spec,
                f"secrets.{ref.target}",
                f"takes its value from "
                f"{describe(source_of(ref))}, as secrets.{users[key.name]} does; the "
                f"operator lets one Secret ({key.name}) feed only one variable of a "
                "server: give one of them its own source",
            )
            continue
        users[key.name] = ref.target
        out.append({"key": key.key, "name": key.name, "targetEnvName": ref.target})
    return out


def _volumes(spec: ServerSpec, found: Findings) -> list[dict[str, Any]]:
    out = []
    for index, text in enumerate(spec.volumes):
        host, container, *mode = text.split(":")
        if not host.startswith("/"):
            why = (
                "in this machine's home directory"
                if host.startswith("~")
                else ("relative to the workloads file")
            )
            found.problem(
                spec,
                f"volumes[{index}]",
                f"the host path {host} is {why}, which a "
                "Kubernetes node does not have: write the node's absolute path (an "
                "override file, -f workloads.yaml -f cluster.yaml, can set it for the "
                "cluster only)",
            )
        out.append(
            {
                "hostPath": host,
                "mountPath": container,
                "name": f"volume-{index}",
                "readOnly": mode == ["ro"],
            }
        )
    found.note(
        spec,
        "volumes",
        "are rendered as hostPath volumes, which the ToolHive operator "
        "(0.44) mounts into the proxy's pod, not the MCP server's: mount them into the "
        "server's container (mcp) through podTemplateSpec",
    )
    return out


def _profile(spec: ServerSpec, names: ServerNames, found: Findings) -> dict[str, str]:
    builtin = builtin_profile(spec)
    if builtin == "network":  # allows what a pod may do anyway: nothing lost
        return {"name": "network", "type": "builtin"}
    if builtin == "none":
        rendered, ref = "as builtin none", {"name": "none", "type": "builtin"}
    else:
        rendered = f"in the ConfigMap {names.profile}"
        ref = {"key": PROFILE_KEY, "name": names.profile, "type": "configmap"}
    found.note(
        spec,
        "permission_profile",
        f"is rendered {rendered}, but the ToolHive operator "
        "(0.44) does not enforce permission profiles on Kubernetes: limit the pod's "
        "network with a NetworkPolicy",
    )
    return ref
