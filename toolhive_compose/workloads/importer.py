"""Existing workloads → a workloads file that reproduces them (``thv import``).  Pure.

Input is each workload's canonical spec
(:func:`~toolhive_compose.state.runconfig_spec.canonical_from_runconfig` rebuilds it from ToolHive's
run config fields when our key is absent) and whether it runs.
The file keeps what adoption compares — image or URL, transport, ports (the same proxy port,
so nothing moves), proxy mode, args, env (without the ``MCP_*`` variables ToolHive injects),
secrets, volumes, labels (without ToolHive's and ours), group, permission profile, the tool
filter and overrides (``tools``, ``tools_override``) — so that
``thv plan --adopt`` on it shows ``adopt`` and no recreate for every workload it describes.

Secrets: a ToolHive secret reference ``NAME,target=ENV`` becomes
``{env: TOOLHIVE_SECRET_NAME}`` with a comment saying the value must be provided (ToolHive's
secrets provider keeps it, not us).  That is the variable ToolHive's environment provider
reads for ``NAME``, and the run config we write for ``{env: TOOLHIVE_SECRET_NAME}`` names the
secret ``NAME`` again (:func:`~toolhive_compose.state.runconfig.toolhive_secret_name`): one
variable serves both tools, and the reference survives a recreate.  A name that cannot
follow the prefix in a variable name becomes an upper-case variable name instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..model import DEFAULT_GROUP
from ..spec.field_values import BUILTIN_PROFILES
from ..state.runconfig import TOOLHIVE_SECRET_PREFIX

HTTP = ("sse", "streamable-http")
# Run-config settings a workloads file cannot express: adoption keeps them (the run config is
# rewritten, not rebuilt), a recreate drops them.
UNEXPRESSED = (
    "remote_auth_config", "header_forward", "oidc_config", "authz_config", "authz_config_path",
    "audit_config", "audit_config_path", "isolate_network",
)  # fmt: skip
_PLACEHOLDER = "THV_IMPORT_SECRET_{}_"
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")  # the schema's envName


@dataclass(frozen=True, slots=True)
class Imported:
    """One workload to write: its name, canonical spec and whether it is running."""

    name: str
    spec: dict[str, Any]
    running: bool = True


def import_document(
    workloads: Sequence[Imported], *, project: str | None = None, schema: str = ""
) -> str:
    """The YAML text of a workloads file for ``workloads`` (sorted by name).

    ``schema`` (a path or URL) goes into the yaml-language-server comment on the first line.
    """
    notes: list[tuple[str, str]] = []  # (placeholder, "NAME  # comment")
    servers = {w.name: _server(w, notes) for w in sorted(workloads, key=lambda w: w.name)}
    doc: dict[str, Any] = {"version": 1}
    if project:
        doc["project"] = project
    groups = sorted({s["group"] for s in servers.values() if "group" in s})
    if groups:
        doc["groups"] = {g: {} for g in groups}
    doc["servers"] = servers
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)
    for placeholder, text in notes:
        body = body.replace(placeholder, text, 1)
    return _header(schema, len(servers)) + body


def unexpressed(runconfig: dict[str, Any]) -> list[str]:
    """The settings of ``runconfig`` that the imported file leaves out (see UNEXPRESSED)."""
    return [key for key in UNEXPRESSED if runconfig.get(key)]


def _header(schema: str, count: int) -> str:
    lines = [
        f"# yaml-language-server: $schema={schema or 'workloads.schema.json'}",
        f"# Written by `thv import` from {count} existing workload(s).",
        "# `thv plan --adopt -f FILE` shows what taking them under the project would change;",
        "# `thv apply --adopt -f FILE` does it (workloads that match are not recreated).",
    ]
    return "\n".join(lines) + "\n"


def _server(w: Imported, notes: list[tuple[str, str]]) -> dict[str, Any]:
    spec = w.spec
    remote = bool(spec.get("url"))
    transport = str(spec.get("transport") or "stdio")
    out: dict[str, Any] = {"url": spec["url"]} if remote else {"image": spec.get("image", "")}
    if transport != ("streamable-http" if remote else "stdio"):
        out["transport"] = transport
    if not remote and transport in HTTP and spec.get("target_port"):
        out["target_port"] = int(spec["target_port"])
    if spec.get("port"):
        out["port"] = int(spec["port"])
    if transport == "stdio" and spec.get("proxy_mode") == "sse":
        out["proxy_mode"] = "sse"
    _copy(out, "args", list(spec.get("args") or []), remote)
    _copy(out, "env", dict(sorted((spec.get("env") or {}).items())), False)
    secrets = _secrets(spec.get("secrets") or {}, notes)
    _copy(out, "secrets", secrets, False)
    _copy(out, "volumes", list(spec.get("volumes") or []), remote)
    labels = {k: v for k, v in (spec.get("labels") or {}).items() if not _reserved(k)}
    _copy(out, "labels", dict(sorted(labels.items())), False)
    if (spec.get("group") or DEFAULT_GROUP) != DEFAULT_GROUP:
        out["group"] = spec["group"]
    profile = None if remote else _profile(spec.get("permission_profile") or {})
    if profile is not None:
        out["permission_profile"] = profile
    _copy(out, "tools", list(spec.get("tools") or []), False)
    _copy(out, "tools_override", dict(spec.get("tools_override") or {}), False)
    if not w.running:
        out["state"] = "stopped"
    return out


def _copy(out: dict[str, Any], key: str, value: Any, skip: bool) -> None:
    if value and not skip:
        out[key] = value


def _reserved(key: str) -> bool:
    """Label keys a workloads file may not set (ToolHive's and ours)."""
    key = key.lower()
    return key == "toolhive" or key.startswith(("toolhive-", "toolhive-compose."))


def _secrets(secrets: dict[str, Any], notes: list[tuple[str, str]]) -> dict[str, Any]:
    """Canonical ``{"from": "env:X" | "file:P" | "toolhive:NAME"}`` → the file's form."""
    out: dict[str, Any] = {}
    for target in sorted(secrets):
        source, _, ref = str(secrets[target].get("from") or "").partition(":")
        if source == "file":
            out[target] = {"file": ref}
        elif source == "env":
            out[target] = {"env": ref}
        else:  # a ToolHive secret: its value stays in ToolHive's provider
            name = ref or target
            var = TOOLHIVE_SECRET_PREFIX + name
            if not _VARIABLE.match(var):
                var = env_var_name(name)
            placeholder = _PLACEHOLDER.format(len(notes))
            out[target] = {"env": placeholder}
            comment = f"ToolHive secret {name}: set {var}=<its value> (environment or .env)"
            notes.append((placeholder, f"{_scalar(var)}  # {comment}"))
    return out


def env_var_name(secret: str) -> str:
    """A shell variable name for a ToolHive secret name (``github-token`` → ``GITHUB_TOKEN``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", secret).upper() or "SECRET"
    return f"_{name}" if name[0].isdigit() else name


def _profile(value: dict[str, Any]) -> Any:
    """A built-in profile by name (``network``, the default, left out); anything else —
    a file's or ToolHive's own resolved profile — inline, exactly as it is."""
    source, profile = value.get("source"), value.get("profile")
    if profile is None:
        return None
    for name in (source, "network", "none"):
        builtin = BUILTIN_PROFILES.get(str(name))
        if builtin is not None and _same(builtin[1], profile):
            return None if builtin[0] == "network" else builtin[0]
    return profile


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _scalar(value: str) -> str:
    """``value`` as a YAML plain or quoted scalar."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16)
    return text.removesuffix("\n").removesuffix("\n...").strip()
