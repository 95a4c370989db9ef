"""Checks the schema cannot express: names, labels, ports, volumes, secrets and profiles.

They run on the merged document even when the schema found problems, so they only look at
values of the expected type and leave the rest to the schema's messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import Problem
from ..model import DEFAULT_GROUP, TRANSPORTS
from ..secrets import Unavailable, read_secret
from . import labels as label_rules
from . import names
from .field_values import (
    BUILTIN_PROFILES,
    HTTP_TRANSPORTS,
    PROJECT_RE,
    Context,
    absolute,
    parse_volume,
    project_name,
    read_profile,
    scalar_text,
    transport_of,
)
from .schema import did_you_mean, validate
from .source import DocPath, Origins, dotted


def check(doc: Mapping[str, Any], origins: Origins, ctx: Context) -> list[Problem]:
    """Every problem the schema cannot see."""
    problems = list(_check_project(doc, origins, ctx))
    problems += _check_labels(doc.get("labels"), ("labels",), origins)
    problems += _check_group_names(doc.get("groups"), origins)
    servers = doc.get("servers")
    if isinstance(servers, dict):
        groups = _declared_groups(doc)
        for name, server in servers.items():
            # a local container's name (the engine's rules); a portable load is for elsewhere
            container = not ctx.portable and not (isinstance(server, dict) and "url" in server)
            problems += _check_name(name, ("servers", name), origins, container=container)
            if isinstance(server, dict):
                problems += _check_server(name, server, groups, origins, ctx)
        problems += _check_ports(servers, origins)
    return problems


def _check_project(doc: Mapping[str, Any], origins: Origins, ctx: Context) -> Iterator[Problem]:
    if ctx.project == "":  # a document built for `thv run`: the workload has no project
        return
    if ctx.project is not None and not PROJECT_RE.match(ctx.project):
        yield Problem(
            f"invalid project name {ctx.project!r}: use lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )
    elif ctx.project is None and "project" not in doc and not project_name(doc, ctx):
        message = (
            f"cannot derive a project name from the directory name {ctx.base_dir.name!r}; "
            "set 'project:' in the file"
        )
        yield origins.problem(message, ())


def _declared_groups(doc: Mapping[str, Any]) -> list[str]:
    groups = doc.get("groups")
    return [DEFAULT_GROUP, *groups] if isinstance(groups, dict) else [DEFAULT_GROUP]


def _check_server(
    name: str, server: dict[str, Any], groups: list[str], origins: Origins, ctx: Context
) -> list[Problem]:
    path: DocPath = ("servers", name)
    problems = _check_image(server.get("image"), (*path, "image"), origins)
    problems += _check_group(server.get("group"), groups, (*path, "group"), origins)
    problems += _check_transport(server, path, origins)
    problems += _check_labels(server.get("labels"), (*path, "labels"), origins)
    problems += _check_secrets(server, path, origins, ctx)
    problems += _check_tools(server, path, origins)
    if "url" not in server:  # for remote servers the schema forbids both
        problems += _check_volumes(server.get("volumes"), (*path, "volumes"), origins)
        problems += _check_profile(server.get("permission_profile"), path, origins, ctx)
    return problems


def _check_name(name: str, path: DocPath, origins: Origins, *, container: bool) -> list[Problem]:
    """The server name against :mod:`.names` (the schema's pattern is for editors only)."""
    problem = names.workload_name_problem(str(name), container=container)
    return [origins.problem(problem, path, at_key=True)] if problem else []


def _check_group_names(groups: Any, origins: Origins) -> list[Problem]:
    if not isinstance(groups, dict):
        return []
    found = ((name, names.group_name_problem(str(name))) for name in groups)
    return [origins.problem(p, ("groups", name), at_key=True) for name, p in found if p]


def _check_image(image: Any, path: DocPath, origins: Origins) -> list[Problem]:
    if not isinstance(image, str) or not image:
        return []  # the schema reports these
    problem = names.image_problem(image)
    return [origins.problem(problem, path)] if problem else []


def _check_group(group: Any, groups: list[str], path: DocPath, origins: Origins) -> list[Problem]:
    if not isinstance(group, str) or group in groups:
        return []
    declared = ", ".join(repr(g) for g in groups)
    message = f"unknown group '{group}'{did_you_mean(group, groups)}; declared: {declared}"
    return [origins.problem(message, path)]


def _check_transport(server: dict[str, Any], path: DocPath, origins: Origins) -> list[Problem]:
    transport = transport_of(server)
    if transport not in TRANSPORTS:
        return []
    problems = []
    if "target_port" in server and "url" not in server and transport not in HTTP_TRANSPORTS:
        message = f"only allowed with transport sse or streamable-http (this server is {transport})"
        problems.append(origins.problem(message, (*path, "target_port")))
    mode = server.get("proxy_mode")
    if transport in HTTP_TRANSPORTS and isinstance(mode, str) and mode != transport:
        message = f"must be {transport} (the transport) or left out; only stdio servers choose"
        problems.append(origins.problem(message, (*path, "proxy_mode")))
    return problems


def _check_tools(server: dict[str, Any], path: DocPath, origins: Origins) -> list[Problem]:
    """Overrides that rename two tools alike, and a filter naming a tool by the name an
    override takes away (ToolHive filters by the new name: that tool would be hidden yet
    callable by its old name)."""
    problems = []
    overrides = server.get("tools_override")
    overrides = overrides if isinstance(overrides, dict) else {}
    renamed: dict[str, str] = {}  # new name -> server's name
    for actual, body in overrides.items():
        new = body.get("name") if isinstance(body, dict) else None
        if not actual or not isinstance(new, str) or not new:
            continue
        if new in renamed:
            message = f"'{renamed[new]}' and '{actual}' are both renamed to '{new}'"
            problems.append(origins.problem(message, (*path, "tools_override", actual, "name")))
        renamed.setdefault(new, actual)
    filter_ = server.get("tools")
    old_names = {actual: new for new, actual in renamed.items()}
    listed: set[str] = set()
    for index, name in enumerate(filter_ if isinstance(filter_, list) else []):
        if not isinstance(name, str) or not name:
            continue  # the schema says what is wrong
        if name in listed:
            problems.append(origins.problem(f"'{name}' is listed twice", (*path, "tools", index)))
        listed.add(name)
        if name in old_names and name not in renamed:
            message = (
                f"'{name}' is renamed to '{old_names[name]}' by tools_override, and tools lists "
                f"the names clients see (ToolHive renames first, then filters): use "
                f"'{old_names[name]}'"
            )
            problems.append(origins.problem(message, (*path, "tools", index)))
    return problems


def _check_labels(labels: Any, path: DocPath, origins: Origins) -> list[Problem]:
    if not isinstance(labels, dict):
        return []
    problems = []
    for key, value in labels.items():
        key_error = _reserved(key) or label_rules.key_problem(key)
        if key_error:
            problems.append(origins.problem(key_error, (*path, key), at_key=True))
        if isinstance(value, str | int | float):
            value_error = label_rules.value_problem(scalar_text(value))
            if value_error:
                problems.append(origins.problem(value_error, (*path, key)))
    return problems


def _reserved(key: str) -> str | None:
    lowered = key.lower()
    if lowered == "toolhive" or lowered.startswith(("toolhive-", "toolhive-compose.")):
        return (
            f"label key {key!r} is reserved ('toolhive', 'toolhive-*' and 'toolhive-compose.*' "
            "belong to ToolHive and toolhive-compose)"
        )
    return None


def _check_volumes(volumes: Any, path: DocPath, origins: Origins) -> list[Problem]:
    if not isinstance(volumes, list):
        return []
    problems, seen = [], set()
    for index, text in enumerate(volumes):
        if not isinstance(text, str) or not text:
            continue  # the schema reports these
        try:
            _, container, _ = parse_volume(text)
        except ValueError as exc:
            problems.append(origins.problem(str(exc), (*path, index)))
            continue
        if container in seen:
            message = f"the container path {container} is mounted twice"
            problems.append(origins.problem(message, (*path, index)))
        seen.add(container)
    return problems


def _check_secrets(
    server: dict[str, Any], path: DocPath, origins: Origins, ctx: Context
) -> list[Problem]:
    secrets, env = server.get("secrets"), server.get("env")
    if not isinstance(secrets, dict):
        return []
    problems = []
    for target, secret in secrets.items():
        where = (*path, "secrets", target)
        if isinstance(env, dict) and target in env:
            message = f"'{target}' is also set under env; a variable is either plain or secret"
            problems.append(origins.problem(message, where, at_key=True))
        source = _secret_source(secret, ctx)
        if source is None or ctx.portable or ctx.machine is not None:  # read elsewhere
            continue
        try:
            read_secret(*source, ctx.environ)
        except Unavailable as exc:
            problems.append(origins.problem(f"secret '{target}': {exc}", where, at_key=True))
    return problems


def _secret_source(secret: Any, ctx: Context) -> tuple[str, str] | None:
    """(source, ref) of a well-formed secret mapping, else None (the schema complains)."""
    if not isinstance(secret, dict) or len(secret) != 1:
        return None
    source, ref = next(iter(secret.items()))
    if source not in ("env", "file") or not isinstance(ref, str) or not ref:
        return None
    return source, absolute(ref, ctx) if source == "file" else ref


def _check_profile(profile: Any, path: DocPath, origins: Origins, ctx: Context) -> list[Problem]:
    if not isinstance(profile, str) or not profile or profile in BUILTIN_PROFILES:
        return []
    where = (*path, "permission_profile")
    try:
        file, content = read_profile(profile, ctx)
    except Unavailable as exc:
        return [origins.problem(f"permission profile: {exc}", where)]
    issues = validate(content, cache_dir=ctx.cache_dir, definition="permissionProfile")
    return [
        origins.problem(f"permission profile {file}: {_in_file(issue.path)}{issue.message}", where)
        for issue in issues
    ]


def _in_file(path: DocPath) -> str:
    return f"{dotted(path)}: " if path else ""


def _check_ports(servers: dict[str, Any], origins: Origins) -> list[Problem]:
    owners: dict[int, str] = {}
    problems = []
    for name, server in servers.items():
        port = server.get("port") if isinstance(server, dict) else None
        if isinstance(port, float) and port.is_integer():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        if port in owners:
            message = f"port {port} is also the port of server '{owners[port]}'"
            problems.append(origins.problem(message, ("servers", name, "port")))
        owners.setdefault(port, name)
    return problems
