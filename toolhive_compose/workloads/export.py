"""An existing workload's run config as the desired state of one server (``thv export``).  Pure.

The run config's canonical spec (our key, else rebuilt from ToolHive's own fields by
:func:`~toolhive_compose.state.runconfig_spec.canonical_from_runconfig`) becomes a
:class:`~toolhive_compose.model.ServerSpec`, so that the Kubernetes render
(:mod:`toolhive_compose.targets.kubernetes`) exports it as it renders a workloads file:
secrets stay references (a ToolHive secret ``NAME,target=ENV`` is source ``toolhive``), the
permission profile is the one the workload runs with (a built-in one stays built-in when
ToolHive only added the volumes to it), and the workload's group and tool filter and
overrides come along.
An export describes how to run the workload: a stopped one exports as running, as
ToolHive's does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..model import BUILTIN_PROFILES, DEFAULT_GROUP, DesiredState, GroupSpec, SecretRef, ServerSpec
from ..state.runconfig import project_of
from ..state.runconfig_spec import canonical_from_runconfig


def desired_from_runconfig(rc: Mapping[str, Any], *, group_description: str = "") -> DesiredState:
    """The one-server desired state that ``rc`` describes."""
    canon = canonical_from_runconfig(dict(rc))
    name = str(rc.get("base_name") or rc.get("name") or "")
    source, profile_json = _profile(canon.get("permission_profile") or {})
    group = str(canon.get("group") or DEFAULT_GROUP)
    spec = ServerSpec(
        name=name,
        image=str(canon.get("image") or ""),
        url=str(canon.get("url") or ""),
        transport=str(canon.get("transport") or "stdio"),
        target_port=_port(canon.get("target_port")),
        port=_port(canon.get("port")),
        proxy_mode=str(canon.get("proxy_mode") or "streamable-http"),
        args=tuple(str(arg) for arg in canon.get("args") or ()),
        env=_pairs(canon.get("env") or {}),
        secrets=_secrets(canon.get("secrets") or {}),
        volumes=tuple(str(volume) for volume in canon.get("volumes") or ()),
        labels=_pairs(canon.get("labels") or {}),
        group=group,
        permission_profile=source,
        permission_profile_json=profile_json,
        tools=tuple(canon.get("tools") or ()),
        tools_override=tuple(
            (actual, str(o.get("name") or ""), str(o.get("description") or ""))
            for actual, o in sorted((canon.get("tools_override") or {}).items())
        ),
    )
    return DesiredState(
        project=project_of(dict(rc)),
        servers=(spec,),
        groups=(GroupSpec(name=group, description=group_description),),
    )


def _port(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value else None


def _pairs(mapping: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(key), str(value)) for key, value in mapping.items()))


def _secrets(secrets: Mapping[str, Any]) -> tuple[SecretRef, ...]:
    """Canonical ``{target: {"from": "env:X" | "file:P" | "toolhive:NAME"}}`` → references."""
    refs = []
    for target in sorted(secrets):
        source, _, ref = str((secrets[target] or {}).get("from") or "").partition(":")
        if source not in ("env", "file", "toolhive") or not ref:
            source, ref = "toolhive", target
        refs.append(SecretRef(target=target, source=source, ref=ref, digest=""))
    return tuple(refs)


def _profile(value: Mapping[str, Any]) -> tuple[str, str]:
    """(``none`` | ``network`` | where a custom profile came from, its canonical JSON)."""
    source, profile = str(value.get("source") or ""), value.get("profile")
    if source in BUILTIN_PROFILES and _mountless(profile) in (None, BUILTIN_PROFILES[source][1]):
        kind, builtin = BUILTIN_PROFILES[source]
        return kind, _canonical(builtin)
    if profile is None:  # nothing recorded: ToolHive's default
        return "network", _canonical(BUILTIN_PROFILES["network"][1])
    return "inline", _canonical(profile)  # a file's, or a built-in one changed (--network)


def _mountless(profile: Any) -> Any:
    """``profile`` without ``read``/``write`` (where ToolHive adds the workload's volumes)."""
    if not isinstance(profile, dict):
        return profile
    return {key: value for key, value in profile.items() if key not in ("read", "write")}


def _canonical(profile: Any) -> str:
    return json.dumps(profile, sort_keys=True, separators=(",", ":"))
