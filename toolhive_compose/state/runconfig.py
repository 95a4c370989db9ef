"""ToolHive's RunConfig as plain data (no I/O).

A run config built here is what ToolHive itself writes for the same workload (keys in
ToolHive's struct order, ``schema_version`` ``v0.1.0``), plus one extra key,
``toolhive_compose``, holding the owning project and the canonical spec that produced it.
ToolHive ignores unknown keys; when it drops ours,
:func:`~toolhive_compose.state.runconfig_spec.canonical_from_runconfig` rebuilds the spec from
ToolHive's own fields.

It also describes the container exactly, in the terms ToolHive's ``thv start`` reads (and
re-creates the container from, when its re-create check finds a difference): ``cmd_args`` is
the command the container runs (the file's args, else the image's own ``CMD``, which the
engine stores in the container), and ``permission_profile`` carries the mounts (the
``volumes`` folded into ``read``/``write``, as ToolHive's builder folds ``--volume``) and the
network mode made explicit (ToolHive reads ``bridge`` as its default, and the engine never
stores an empty mode).  The container itself is made from the run config
(:func:`toolhive_compose.workloads.containers.container_params`).

What a run config says, read back (the canonical spec, the tool surface), is
:mod:`.runconfig_spec`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..fingerprint import overrides_doc
from ..gojson import dumps
from ..gojson import kind as describe
from ..model import (
    LABEL_BASENAME,
    LABEL_CONFIG_HASH,
    LABEL_NAME,
    LABEL_NETWORK_ISOLATION,
    LABEL_PORT,
    LABEL_PROJECT,
    LABEL_TOOLHIVE,
    LABEL_TRANSPORT,
    ServerSpec,
)

SCHEMA_VERSION = "v0.1.0"
# ToolHive's RunConfig fields in struct order (= its JSON order) and the JSON kind Go's
# decoder accepts for each (null is always accepted: the zero value).
_S, _I, _B, _O, _LS, _MS, _LO, _MO = "str", "int", "bool", "obj", "[str]", "{str}", "[obj]", "{obj}"
TOOLHIVE_FIELDS = {
    "schema_version": _S, "mcpserver_generation": _I, "image": _S, "remote_url": _S,
    "registry_api_url": _S, "registry_url": _S, "registry_server_name": _S,
    "remote_auth_config": _O, "cmd_args": _LS, "name": _S, "container_name": _S,
    "base_name": _S, "transport": _S, "host": _S, "port": _I, "target_port": _I,
    "target_host": _S, "allowed_origins": _LS, "publish": _LS,
    "permission_profile_name_or_path": _S, "permission_profile": _O, "env_vars": _MS,
    "env_file_dir": _S, "debug": _B, "volumes": _LS, "container_labels": _MS,
    "oidc_config": _O, "token_exchange_config": _O, "upstream_swap_config": _O,
    "aws_sts_config": _O, "authz_config": _O, "authz_config_path": _S, "audit_config": _O,
    "audit_config_path": _S, "telemetry_config": _O, "rate_limit_config": _O,
    "rate_limit_namespace": _S, "secrets": _LS, "k8s_pod_template_patch": _S,
    "isolate_network": _B, "allow_docker_gateway": _B, "trust_proxy_headers": _B,
    "strict_protocol_validation": _B, "stateless": _B, "session_ttl": _S, "proxy_mode": _S,
    "thv_ca_bundle": _S, "jwks_auth_token_file": _S, "group": _S, "tools_filter": _LS,
    "tools_override": _MO, "ignore_config": _O, "middleware_configs": _LO,
    "additional_middleware_configs": _LO, "validating_webhooks": _LO, "mutating_webhooks": _LO,
    "endpoint_prefix": _S, "runtime_config": _O, "header_forward": _O,
    "embedded_auth_server_config": _O, "scaling_config": _O,
}  # fmt: skip
_KIND_NAMES = {
    _S: "a string", _I: "an integer", _B: "a boolean", _O: "an object",
    _LS: "a list of strings", _MS: "an object of strings", _LO: "a list of objects",
    _MO: "an object of objects",
}  # fmt: skip
ALWAYS_WRITTEN = frozenset(
    {"schema_version", "image", "name", "transport", "host", "port", "permission_profile"}
)
# The keys this tool writes (build_runconfig); any other key of a run config is kept as it is
# on every rewrite.  registry_api_url goes with the registry fields it would contradict, and
# isolate_network stays off: this tool makes no sidecars (workloads/isolation.py).
MODELED = frozenset(
    {
        "schema_version", "image", "remote_url", "registry_api_url", "registry_url",
        "registry_server_name", "cmd_args", "name", "container_name", "base_name", "transport",
        "host", "port", "target_port", "target_host", "permission_profile_name_or_path",
        "permission_profile", "env_vars", "volumes", "container_labels", "secrets",
        "proxy_mode", "group", "tools_filter", "tools_override", "isolate_network",
        "toolhive_compose",
    }
)  # fmt: skip
EXTENSION_KEY = "toolhive_compose"
INJECTED_ENV = frozenset({"MCP_TRANSPORT", "MCP_PORT", "FASTMCP_PORT", "MCP_HOST"})
HTTP_TRANSPORTS = frozenset({"sse", "streamable-http"})
TOOLHIVE_SECRET_PREFIX = "TOOLHIVE_SECRET_"  # ToolHive's environment provider's variables


def container_labels(
    spec: ServerSpec, *, port: int, project: str, config_hash: str
) -> dict[str, str]:
    """Every label the container (and the run config) carries."""
    labels = dict(spec.labels)
    labels.update(
        {
            LABEL_TOOLHIVE: "true",
            LABEL_NAME: spec.name,
            LABEL_BASENAME: spec.name,
            LABEL_TRANSPORT: spec.transport,
            LABEL_PORT: str(port),
            LABEL_NETWORK_ISOLATION: "false",
            LABEL_CONFIG_HASH: config_hash,
        }
    )
    if project:  # workloads from `thv run` belong to no project
        labels[LABEL_PROJECT] = project
    return labels


def injected_env(transport: str, target_port: int | None) -> dict[str, str]:
    """The env vars ToolHive's builder writes into ``env_vars`` for the server to find its
    transport and port (``MCP_HOST`` is added only when the container is made)."""
    env = {"MCP_TRANSPORT": transport}
    if transport in HTTP_TRANSPORTS and target_port:
        env.update({"MCP_PORT": str(target_port), "FASTMCP_PORT": str(target_port)})
    return env


def effective_profile(spec: ServerSpec) -> dict[str, Any] | None:
    """The permission profile the run config records for ``spec``'s container: the spec's
    own, its ``read``/``write`` lists replaced by the container's mounts (volumes win over the
    profile's own entries for the same container path; then ``read`` over ``write``, which
    flips a read mount to read-write as ToolHive does), and ``network.mode`` explicit."""
    profile = json.loads(spec.permission_profile_json or "null")
    if spec.url:  # no container
        return profile  # type: ignore[no-any-return]
    profile = dict(profile or {})
    mounts = _mounts(spec.volumes, profile)
    out = {k: v for k, v in profile.items() if k not in ("read", "write")}
    read = [f"{src}:{dst}" for dst, (src, ro) in mounts.items() if ro]
    write = [f"{src}:{dst}" for dst, (src, ro) in mounts.items() if not ro]
    read += [d for d in profile.get("read") or [] if "://" in str(d)]  # kept, not mounted
    write += [d for d in profile.get("write") or [] if "://" in str(d)]
    if read:
        out["read"] = read
    if write:
        out["write"] = write
    network = dict(profile.get("network") or {})
    network["mode"] = network_mode(profile, spec.transport in HTTP_TRANSPORTS)
    out["network"] = network
    return out


def _mounts(volumes: tuple[str, ...], profile: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path → (host path, read-only), in the order they are declared."""
    mounts: dict[str, tuple[str, bool]] = {}
    for volume in volumes:
        host, ctr, *mode = volume.split(":")
        mounts[ctr] = (host, bool(mode) and mode[0] == "ro")
    explicit = set(mounts)
    for decl in profile.get("read") or []:
        if "://" in str(decl):
            continue
        host, ctr = mount_declaration(str(decl))
        mounts.setdefault(ctr, (host, True))
    for decl in profile.get("write") or []:
        if "://" in str(decl):
            continue
        host, ctr = mount_declaration(str(decl))
        if ctr in mounts and ctr not in explicit:
            mounts[ctr] = (mounts[ctr][0], False)  # ToolHive keeps the read entry's source
        else:
            mounts.setdefault(ctr, (host, False))
    return mounts


def mount_declaration(decl: str) -> tuple[str, str]:
    """A profile's ``read``/``write`` entry: ``path`` or ``host:container`` → (host, container)."""
    host, sep, ctr = decl.partition(":")
    return (host, ctr) if sep else (decl, decl)


def network_mode(profile: dict[str, Any], http: bool) -> str:
    """The container's network: the profile's explicit mode wins (``default`` is bridge); a
    profile allowing no outbound traffic runs a stdio server with no network at all; anything
    else runs on the default bridge."""
    network = profile.get("network") or {}
    mode = str(network.get("mode") or "")
    if mode and mode != "default":
        return mode
    outbound = network.get("outbound") or {}
    closed = not outbound.get("insecure_allow_all") and not outbound.get("allow_host")
    return "none" if closed and not http else "bridge"


def build_runconfig(
    spec: ServerSpec,
    *,
    port: int,
    target_port: int | None,
    project: str,
    canon: dict[str, Any],
    config_hash: str,
    image_cmd: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The run config ToolHive would write for ``spec``, in ToolHive's key order.

    ``image_cmd`` is the image's ``CMD``: without args, the container runs (and the engine
    stores) that, so ``cmd_args`` records it."""
    # the image the container runs: the lock's pinned one when it wins over the tag
    rc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "image": spec.image_ref or spec.image}
    if spec.url:
        rc["remote_url"] = spec.url
    if spec.registry_url:
        rc["registry_url"] = spec.registry_url
    if spec.registry_server_name:
        rc["registry_server_name"] = spec.registry_server_name
    command = spec.args or (() if spec.url else image_cmd)
    if command:
        rc["cmd_args"] = list(command)
    rc.update(name=spec.name, container_name=spec.name, base_name=spec.name)
    rc.update(transport=spec.transport, host="127.0.0.1", port=port)
    if target_port and spec.transport in HTTP_TRANSPORTS and not spec.url:
        rc.update(target_port=target_port, target_host="127.0.0.1")
    if spec.permission_profile != "inline":
        rc["permission_profile_name_or_path"] = spec.permission_profile
    rc["permission_profile"] = effective_profile(spec)
    env = dict(spec.env)
    if not spec.url:
        env.update(injected_env(spec.transport, target_port))
    rc["env_vars"] = env
    if spec.volumes:
        rc["volumes"] = list(spec.volumes)
    rc["container_labels"] = container_labels(
        spec, port=port, project=project, config_hash=config_hash
    )
    if spec.secrets:
        rc["secrets"] = [
            f"{toolhive_secret_name(spec.name, s.source, s.ref, s.target)},target={s.target}"
            for s in spec.secrets
        ]
    rc["proxy_mode"] = spec.proxy_mode
    rc["group"] = spec.group
    if spec.tools:
        rc["tools_filter"] = list(spec.tools)
    if spec.tools_override:
        rc["tools_override"] = overrides_doc(spec.tools_override)
    rc[EXTENSION_KEY] = {"project": project, "spec": canon}
    return rc


def toolhive_secret_name(server: str, source: str, ref: str, target: str) -> str:
    """The name under which ToolHive's ``thv start`` looks a secret up (its secrets provider,
    then the variable ``TOOLHIVE_SECRET_<name>``):

    - ``{env: TOOLHIVE_SECRET_<N>}`` → ``<N>``: both tools read the same variable;
    - ``{env: VAR}`` → ``VAR``;
    - ``{file: PATH}`` → ``<server>_<TARGET>``, characters other than letters, digits and
      ``_`` made ``_`` (a shell can export ``TOOLHIVE_SECRET_<that>``).
    """
    if source == "env":
        return ref.removeprefix(TOOLHIVE_SECRET_PREFIX) or ref
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{server}_{target}")


def type_problem(rc: dict[str, Any]) -> str | None:
    """The first field Go's decoder would refuse (``"port": "abc"``, ``"env_vars": []``)."""
    # The common case, no problem, looks only at the keys the document has (a no-op plan
    # reads every run config); a problem is then named in the fields' order, as always.
    fields = TOOLHIVE_FIELDS
    if all(
        value is None or key not in fields or _is_kind(value, fields[key])
        for key, value in rc.items()
    ):
        return None
    for key, kind in fields.items():
        value = rc.get(key)
        if value is not None and not _is_kind(value, kind):
            return f"'{key}' is {describe(value)}, not {_KIND_NAMES[kind]}"
    return None


def _is_kind(value: Any, kind: str) -> bool:
    if kind == _S:
        return isinstance(value, str)
    if kind == _I:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if kind == _B:
        return isinstance(value, bool)
    if kind == _O:
        return isinstance(value, dict)
    if kind in (_LS, _LO):
        item = str if kind == _LS else dict
        return isinstance(value, list) and all(v is None or isinstance(v, item) for v in value)
    item = str if kind == _MS else dict
    return isinstance(value, dict) and all(v is None or isinstance(v, item) for v in value.values())


def merge_runconfig(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` (what this tool writes) over ``old``: every key this tool does not write
    (``oidc_config``, ``middleware_configs``, a future key, …) is kept."""
    return {**{k: v for k, v in (old or {}).items() if k not in MODELED}, **new}


def toolhive_order(rc: dict[str, Any]) -> dict[str, Any]:
    """``rc`` as ToolHive's encoder lays it out: its fields in struct order, zero values of
    ``omitempty`` fields left out; then keys it does not know, as they were; ours last."""
    order = {key: index for index, key in enumerate(TOOLHIVE_FIELDS)}
    known = sorted((k for k in rc if k in order), key=order.__getitem__)
    known = [k for k in known if k in ALWAYS_WRITTEN or not _zero(rc[k])]
    rest = [k for k in rc if k not in order and k != EXTENSION_KEY]
    tail = [EXTENSION_KEY] if EXTENSION_KEY in rc else []
    return {k: rc[k] for k in [*known, *rest, *tail]}


def _zero(value: Any) -> bool:
    """Go's zero value (what ``omitempty`` leaves out)."""
    return value is None or value is False or value in ("", 0) or value in ([], {})


def normalize_on_read(rc: dict[str, Any]) -> dict[str, Any]:
    """Apply ToolHive's ReadJSON defaults; unknown keys are kept as they are."""
    for key in ("env_vars", "container_labels"):
        if not isinstance(rc.get(key), dict):
            rc[key] = {}
    for key in ("cmd_args", "volumes", "secrets"):
        if not isinstance(rc.get(key), list):
            rc[key] = []
    if not rc.get("schema_version"):
        rc["schema_version"] = SCHEMA_VERSION
    rc["proxy_mode"] = effective_proxy_mode(str(rc.get("transport") or ""), rc.get("proxy_mode"))
    return rc


def effective_proxy_mode(transport: str, mode: object) -> str:
    """ToolHive's EffectiveProxyMode: stdio uses its mode (default streamable-http)."""
    if transport == "stdio" or not transport:
        return mode if mode in ("sse", "streamable-http") else "streamable-http"  # type: ignore[return-value]
    return transport


def project_of(rc: dict[str, Any]) -> str:
    """The owning project recorded in a run config, or ''."""
    ext = rc.get(EXTENSION_KEY)
    if isinstance(ext, dict) and isinstance(ext.get("project"), str):
        return ext["project"]
    labels = rc.get("container_labels") or {}
    return str(labels.get(LABEL_PROJECT, "")) if isinstance(labels, dict) else ""


def adopt_runconfig(rc: dict[str, Any], *, project: str, canon: dict[str, Any]) -> dict[str, Any]:
    """``rc`` taken under ``project``: our key records the owner and the spec (an adopted
    container keeps its labels, which cannot change); the group follows the spec.  Every
    other key, known to us or not, is kept as it is."""
    adopted = dict(rc)
    adopted["group"] = canon.get("group") or rc.get("group") or "default"
    adopted[EXTENSION_KEY] = {"project": project, "spec": canon}
    return adopted


def encode(rc: dict[str, Any]) -> bytes:
    """ToolHive's encoding (json.Encoder): its layout, 2-space indent, a trailing newline."""
    return (dumps(toolhive_order(rc)) + "\n").encode()
