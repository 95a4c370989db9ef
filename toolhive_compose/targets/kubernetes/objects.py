"""A whole project as the ToolHive operator's objects: the Kubernetes render.  Pure.

:func:`render` turns a :class:`~toolhive_compose.model.DesiredState` into plain objects (dicts
ready for YAML), in a stable order — ``MCPGroup``, ``ConfigMap``, ``MCPToolConfig``,
``MCPServer``, ``MCPRemoteProxy``, each by name, so what a server refers to comes before it —
with the notes of what the cluster cannot mean the same way.  When some object cannot be
made valid it raises one :class:`~toolhive_compose.errors.SpecError` naming every server and
field at fault, and returns nothing.

Every object carries ``app.kubernetes.io/managed-by: toolhive-compose``, the project label
(``toolhive-compose.project``, as on this machine's containers) and the file's labels (a
server's objects its server's labels).  An object whose name had to be mapped
(:mod:`.names`) keeps the file's name in the ``toolhive-compose.name`` annotation.  No
ApplySet label is written: ``kubectl apply --applyset`` adds ``applyset.kubernetes.io/part-of``
itself and refuses input that already has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import Problem, SpecError, ThvError
from ...fingerprint import overrides_doc
from ...model import LABEL_PROJECT, DesiredState, ServerSpec
from .names import (
    LABEL_LIMIT,
    REMOTE_LIMIT,
    SERVER_LIMIT,
    label_value_problem,
    namespace_problem,
    object_name,
)
from .secret_refs import SecretKey, Source, describe, secret_keys, source_of
from .servers import (
    PROFILE_KEY,
    Findings,
    ServerNames,
    has_custom_profile,
    mcpserver_spec,
    profile_document,
    remote_proxy_spec,
)

API_VERSION = "toolhive.stacklok.dev/v1beta1"
MANAGED_BY = "app.kubernetes.io/managed-by"
TOOL = "toolhive-compose"
NAME_ANNOTATION = "toolhive-compose.name"
KIND_ORDER = ("MCPGroup", "ConfigMap", "MCPToolConfig", "MCPServer", "MCPRemoteProxy")
PROFILE_SUFFIX = "-permission-profile"
TOOLS_SUFFIX = "-tools"  # a server's MCPToolConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    namespace: str | None = None  # metadata.namespace of every object; None: kubectl's -n


@dataclass(frozen=True, slots=True)
class Rendering:
    objects: tuple[dict[str, Any], ...]
    notes: tuple[Problem, ...]  # one per field the cluster cannot mean the same way


def render(desired: DesiredState, options: Options | None = None) -> Rendering:
    """The operator's objects for ``desired``; :class:`SpecError` names what cannot be made."""
    options = options or Options()
    if options.namespace is not None and namespace_problem(options.namespace):
        raise ThvError(str(namespace_problem(options.namespace)))
    found = Findings()
    made = _Render(desired, options, found)
    objects = made.groups() + [o for spec in desired.servers for o in made.server(spec)]
    if found.problems:
        raise SpecError(found.problems, hint="nothing was rendered; fix these for Kubernetes")
    return Rendering(tuple(sorted(objects, key=_order)), tuple(found.notes))


class _Render:
    """The names and labels one render shares across its objects."""

    def __init__(self, desired: DesiredState, options: Options, found: Findings) -> None:
        self.desired = desired
        self.namespace = options.namespace
        self.found = found
        self.ours = self._our_labels()
        self.server_names = _unique(
            {
                s.name: object_name(s.name, REMOTE_LIMIT if s.remote else SERVER_LIMIT)
                for s in desired.servers
            },
            "servers",
            "server",
            found,
        )
        used = {g.name for g in desired.groups} | {s.group for s in desired.servers}
        self.group_names = _unique(
            {g: object_name(g, LABEL_LIMIT) for g in sorted(used)}, "groups", "group", found
        )
        self.keys: dict[Source, SecretKey] = secret_keys(
            ref for spec in desired.servers for ref in spec.secrets
        )
        self._check_secret_names()

    def _our_labels(self) -> dict[str, str]:
        labels = {MANAGED_BY: TOOL}
        project = self.desired.project
        if project:
            problem = label_value_problem(project)
            if problem:
                self.found.problems.append(Problem(f"{project!r} {problem}", path="project"))
            labels[LABEL_PROJECT] = project
        return labels

    def _check_secret_names(self) -> None:
        """Two sources never share a Secret (only names written like a hash suffix could)."""
        users: dict[Source, str] = {}
        for spec in self.desired.servers:
            for ref in spec.secrets:
                users.setdefault(source_of(ref), f"servers.{spec.name}.secrets.{ref.target}")
        owners: dict[str, Source] = {}
        for source, key in sorted(self.keys.items()):
            other = owners.setdefault(key.name, source)
            if other != source:
                message = (
                    f"{describe(source)} would use the Secret {key.name!r}, as {describe(other)} "
                    "does: rename one of them"
                )
                self.found.problems.append(Problem(message, path=users[source]))

    def groups(self) -> list[dict[str, Any]]:
        described = {g.name: g.description for g in self.desired.groups}
        labels = {**dict(self.desired.labels), **self.ours}
        return [
            self._object(
                "MCPGroup",
                name,
                group,
                labels,
                {"description": described[group]} if described.get(group) else {},
            )
            for group, name in sorted(self.group_names.items())
        ]

    def server(self, spec: ServerSpec) -> list[dict[str, Any]]:
        name = self.server_names[spec.name]
        profile = name + PROFILE_SUFFIX if has_custom_profile(spec) else ""
        tools = name + TOOLS_SUFFIX if spec.tools or spec.tools_override else ""
        group = self.group_names[spec.group]
        names = ServerNames(server=name, group=group, profile=profile, tool_config=tools)
        labels = {**dict(spec.labels), **self.ours}
        objects = []
        if tools:
            objects.append(self._object("MCPToolConfig", tools, tools, labels, tool_config(spec)))
        if spec.remote:
            body = remote_proxy_spec(spec, names, self.found)
            return [*objects, self._object("MCPRemoteProxy", name, spec.name, labels, body)]
        objects += [
            self._object(
                "MCPServer",
                name,
                spec.name,
                labels,
                mcpserver_spec(spec, names, self.keys, self.found),
            )
        ]
        if profile:
            data = {PROFILE_KEY: profile_document(spec)}
            objects.append(self._object("ConfigMap", profile, profile, labels, data))
        return objects

    def _object(
        self, kind: str, name: str, original: str, labels: Mapping[str, str], body: Any
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"labels": dict(sorted(labels.items())), "name": name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        if original != name:
            metadata["annotations"] = {NAME_ANNOTATION: original}
        if kind == "ConfigMap":
            return {"apiVersion": "v1", "data": body, "kind": kind, "metadata": metadata}
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": body}


def tool_config(spec: ServerSpec) -> dict[str, Any]:
    """The ``MCPToolConfig`` spec: ToolHive's ``tools_filter`` / ``tools_override``."""
    out: dict[str, Any] = {}
    if spec.tools:
        out["toolsFilter"] = list(spec.tools)
    if spec.tools_override:
        out["toolsOverride"] = overrides_doc(spec.tools_override)
    return out


def _unique(names: dict[str, str], section: str, what: str, found: Findings) -> dict[str, str]:
    """``names`` (file name → object name) when no two meet; else a problem for each clash."""
    owners: dict[str, str] = {}
    for original, name in sorted(names.items()):
        if name in owners:
            message = (
                f"renders to the Kubernetes name {name!r}, as {what} {owners[name]!r} does: "
                "rename one of them"
            )
            found.problems.append(Problem(message, path=f"{section}.{original}"))
        owners.setdefault(name, original)
    return names


def _order(obj: Mapping[str, Any]) -> tuple[int, str]:
    return KIND_ORDER.index(obj["kind"]), obj["metadata"]["name"]
