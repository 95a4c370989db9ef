"""The upstream MCP registry format → :class:`~.types.Entry`, as ToolHive converts it.

An image entry is a server with exactly one OCI package: its ``identifier`` is the image, its
``transport.type`` the transport and the port of ``transport.url`` the container port; env vars
come from ``environmentVariables`` and from ``-e``/``--env`` runtime arguments; args from
``packageArguments``, else from the publisher-provided extras.  A remote entry is a server with
``remotes``.  Anything else is kept, marked with why it cannot be run.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from ..model import TRANSPORTS
from .types import (
    LEGACY_HINT,
    LEGACY_MESSAGE,
    PUBLISHER_KEY,
    STACKLOK_KEY,
    Entry,
    EnvVar,
    Registry,
    RegistryError,
    is_url,
)


def parse_registry(data: bytes, location: str) -> Registry:
    """A registry document → :class:`Registry`; anything malformed is a :class:`RegistryError`."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RegistryError(f"the registry {location} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"the registry {location} must hold a JSON object")
    body = doc.get("data")
    if not isinstance(body, dict):
        if "$schema" not in doc and any(k in doc for k in ("servers", "remote_servers", "groups")):
            raise RegistryError(f"{location}: {LEGACY_MESSAGE}", hint=LEGACY_HINT)
        raise RegistryError(
            f"the registry {location} has no 'data' object (expected the upstream MCP registry "
            'format: {"data": {"servers": [...]}})'
        )
    servers = body.get("servers")
    servers = [] if servers is None else servers
    if not isinstance(servers, list):
        raise RegistryError(f"the registry {location}: data.servers must be a list")
    entries: dict[str, Entry] = {}
    for index, raw in enumerate(servers):
        entry = _entry(raw, f"{location}: data.servers[{index}]")
        if entry.name in entries:
            raise RegistryError(f"the registry {location} lists the server {entry.name!r} twice")
        entries[entry.name] = entry
    return Registry(location, entries)


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise RegistryError(f"{where} must be an object with a 'name'")
    name = raw["name"]
    packages = [p for p in _list(raw.get("packages")) if isinstance(p, dict)]
    oci = [p for p in packages if p.get("registryType") == "oci"]
    remotes = [r for r in _list(raw.get("remotes")) if isinstance(r, dict)]
    try:
        if len(oci) == 1:
            return _image_entry(name, raw, oci[0])
        if len(oci) > 1:
            return Entry(name=name, problem=f"it has {len(oci)} OCI packages, expected exactly 1")
        if remotes:
            return _remote_entry(name, raw, remotes[0])
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{where} ({name}): {exc}") from None
    kinds = sorted({str(p.get("registryType")) for p in packages})
    found = f" (found: {', '.join(kinds)})" if kinds else ""
    return Entry(name=name, problem=f"it has no OCI package and no remote{found}")


def _image_entry(name: str, raw: dict[str, Any], pkg: dict[str, Any]) -> Entry:
    image = pkg.get("identifier")
    if not isinstance(image, str) or not image:
        raise ValueError("its OCI package has no 'identifier' (the image)")
    transport = _dict(pkg.get("transport"))
    ext = _extensions(raw, image)
    args = _flatten(_list(pkg.get("packageArguments"))) or tuple(
        str(a) for a in _list(ext.get("args"))
    )
    env_vars = _env_vars(_list(pkg.get("environmentVariables")))
    env_vars += _runtime_env(_list(pkg.get("runtimeArguments")))
    return Entry(
        name=name,
        image=image,
        transport=_transport(transport.get("type"), "stdio"),
        target_port=_url_port(transport.get("url")),
        proxy_port=_port(ext.get("proxy_port")),
        args=args,
        env_vars=env_vars,
        permissions=ext["permissions"] if isinstance(ext.get("permissions"), dict) else None,
    )


def _remote_entry(name: str, raw: dict[str, Any], remote: dict[str, Any]) -> Entry:
    url = remote.get("url")
    if not isinstance(url, str) or not is_url(url):
        raise ValueError("its remote has no http(s) 'url'")
    ext = _extensions(raw, url)
    env_vars = tuple(
        EnvVar(
            name=str(v["name"]),
            description=str(v.get("description") or ""),
            required=bool(v.get("required")),
            secret=bool(v.get("secret")),
            default=str(v.get("default") or ""),
        )
        for v in _list(ext.get("env_vars"))
        if isinstance(v, dict) and v.get("name")
    )
    transport = _transport(remote.get("type"), "streamable-http")
    return Entry(name=name, url=url, transport=transport, env_vars=env_vars)


def _extensions(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """ToolHive's publisher-provided extras: those keyed by ``key``, else the first ones."""
    stacklok = _dict(_dict(_dict(raw.get("_meta")).get(PUBLISHER_KEY)).get(STACKLOK_KEY))
    if isinstance(stacklok.get(key), dict):
        return dict(stacklok[key])
    return next((dict(v) for v in stacklok.values() if isinstance(v, dict)), {})


def _env_vars(items: list[Any]) -> tuple[EnvVar, ...]:
    return tuple(
        EnvVar(
            name=str(v["name"]),
            description=str(v.get("description") or ""),
            required=bool(v.get("isRequired")),
            secret=bool(v.get("isSecret")),
            default=str(v.get("default") or ""),
        )
        for v in items
        if isinstance(v, dict) and v.get("name")
    )


def _runtime_env(items: list[Any]) -> tuple[EnvVar, ...]:
    """``-e KEY=value`` / ``--env KEY={var}`` runtime arguments, as ToolHive reads them."""
    found = []
    for arg in items:
        if not isinstance(arg, dict) or arg.get("type") != "named":
            continue
        if arg.get("name") not in ("-e", "--env") or "=" not in str(arg.get("value") or ""):
            continue
        key, _, value = str(arg["value"]).partition("=")
        var = _dict(_dict(arg.get("variables")).get(value[1:-1])) if value[:1] == "{" else {}
        found.append(
            EnvVar(
                name=key,
                description=str(arg.get("description") or ""),
                required=bool(arg.get("isRequired")) or bool(var.get("isRequired")),
                secret=bool(var.get("isSecret")),
                default=str(var.get("default") or "") if var else value,
            )
        )
    return tuple(found)


def _flatten(arguments: list[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for arg in arguments:
        if isinstance(arg, dict):
            out += [str(arg[k]) for k in ("name", "value") if arg.get(k)]
    return tuple(out)


def _transport(value: Any, default: str) -> str:
    if value in (None, ""):
        return default
    if value not in TRANSPORTS:
        raise ValueError(f"unsupported transport {value!r} (use {', '.join(TRANSPORTS)})")
    return str(value)


def _url_port(url: Any) -> int | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        return urlparse(url).port or None
    except ValueError:  # a template such as http://localhost:{port}
        return None


def _port(value: Any) -> int | None:
    if value in (None, 0, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"proxy_port must be a TCP port, not {value!r}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
