"""``server: NAME`` entries of a workloads document, resolved against the registry.

Each such server becomes an ordinary ``image:`` (or ``url:``) server before validation, so
every rule of the file applies to what the registry supplies.  From the entry come the image
(unless the file's ``image:`` pins one), the transport, the container and proxy ports (http
transports), the permission profile and the args — each only where the file says nothing.
Non-secret defaults of the entry's env vars are added when the file does not set them; the
required ones that are still missing are one problem per server, listing them all.

What was resolved is returned beside the document: the builder records it in the spec
(``registry_server_name``, ``registry_url``), never in the config hash.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..model import DesiredState
from ..registry.client import choose, load
from ..registry.types import Entry, EnvVar, Registry, RegistryError
from .field_values import HTTP_TRANSPORTS, Context
from .source import Origins

NO_REGISTRY = (
    "needs a registry: pass --registry PATH|URL, set 'registry:' in the file or $THV_REGISTRY, "
    "or set local_registry_path in ToolHive's config"
)
Resolved = dict[str, tuple[str, str]]  # workload name → (registry entry name, registry location)


def expand(
    document: dict[str, Any], origins: Origins, ctx: Context, explicit: str | None
) -> tuple[dict[str, Any], list[Problem], Resolved]:
    """The document with registry servers filled in, the problems found, and what resolved."""
    servers = document.get("servers")
    if not isinstance(servers, dict):
        return document, [], {}
    wanted = {
        name: raw
        for name, raw in servers.items()
        if isinstance(raw, dict) and isinstance(raw.get("server"), str)
    }
    if not wanted:
        return document, [], {}
    file_value = document.get("registry") if isinstance(document.get("registry"), str) else None
    where = ("registry",) if file_value and not explicit else _at(next(iter(wanted)))
    try:
        location = choose(explicit, file_value, ctx.base_dir, ctx.environ)
        if location is None:
            return document, [origins.problem(f"'server:' {NO_REGISTRY}", where)], {}
        registry = load(location)
    except RegistryError as exc:
        return document, [origins.problem(_sentence(exc), where)], {}
    expanded, problems, resolved = dict(servers), [], {}
    for name, raw in wanted.items():
        merged, problem = _resolve(name, raw, registry)
        if problem:
            problems.append(origins.problem(problem, _at(name)))
            continue
        expanded[name] = merged
        resolved[name] = (registry.lookup(raw["server"]).name, registry.location)
    return {**document, "servers": expanded}, problems, resolved


def run_target_entry(
    target: str, explicit: str | None, environ: Mapping[str, str] | None = None
) -> Entry | None:
    """``thv run TARGET``: the registry entry TARGET names, or None (then it is an image).

    A target with a tag or digest is an image without asking; otherwise the registry in force
    (if any) is asked first, as ToolHive does.
    """
    if ":" in target or "@" in target:
        return None
    location = choose(explicit, None, Path.cwd(), environ)
    return load(location).find(target) if location else None


def registry_name(target: str) -> str:
    """The default workload name for a registry entry: '.' and '/' become '-'."""
    return target.replace(".", "-").replace("/", "-")


def record(state: DesiredState, resolved: Resolved) -> DesiredState:
    """The desired state with each resolved server's registry name and location recorded."""
    if not resolved:
        return state
    specs = tuple(
        replace(s, registry_server_name=resolved[s.name][0], registry_url=resolved[s.name][1])
        if s.name in resolved
        else s
        for s in state.servers
    )
    return replace(state, servers=specs)


def _at(name: str) -> tuple[str, ...]:
    return ("servers", name, "server")


def _sentence(exc: RegistryError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


def _resolve(name: str, raw: dict[str, Any], registry: Registry) -> tuple[dict[str, Any], str]:
    """The server mapping the entry makes, or a problem sentence."""
    if "url" in raw:
        return {}, "'server' and 'url' exclude each other: the registry entry says what runs"
    try:
        entry = registry.lookup(raw["server"])
    except RegistryError as exc:
        return {}, _sentence(exc)
    if entry.problem:
        return {}, f"registry entry {entry.name} cannot be run: {entry.problem}"
    if entry.remote and "image" in raw:
        return {}, f"registry entry {entry.name} is a remote server: 'image' cannot override it"
    merged = _merged(raw, entry)
    missing = _missing(merged, entry.env_vars)
    if missing:
        listed = ", ".join(f"{v.name}{' (secret)' if v.secret else ''}" for v in missing)
        return {}, (
            f"registry entry {entry.name} requires {len(missing)} environment variable(s) "
            f"this server does not set: {listed}; add them under env: or secrets:"
        )
    return merged, ""


def _merged(raw: dict[str, Any], entry: Entry) -> dict[str, Any]:
    out = dict(raw)
    if entry.remote:
        out["url"] = entry.url
        out.setdefault("transport", entry.transport)
        return out
    out.setdefault("image", entry.image)
    out.setdefault("transport", entry.transport)
    if out["transport"] in HTTP_TRANSPORTS:
        if entry.target_port and "target_port" not in raw:
            out["target_port"] = entry.target_port
        if entry.proxy_port and "port" not in raw:
            out["port"] = entry.proxy_port
    if entry.permissions is not None:
        out.setdefault("permission_profile", copy.deepcopy(entry.permissions))
    if entry.args:
        out.setdefault("args", list(entry.args))
    return out


def _missing(server: dict[str, Any], declared: tuple[EnvVar, ...]) -> list[EnvVar]:
    """Add the non-secret defaults the server lacks; return the required vars still missing."""
    env = server.get("env")
    secrets = server.get("secrets")
    supplied = set(env if isinstance(env, Mapping) else ()) | set(
        secrets if isinstance(secrets, Mapping) else ()
    )
    defaults = {
        v.name: v.default for v in declared if v.name not in supplied and v.default and not v.secret
    }
    if defaults and (env is None or isinstance(env, dict)):
        server["env"] = {**defaults, **(env or {})}
        supplied |= set(defaults)
    return [v for v in declared if v.required and v.name not in supplied]
