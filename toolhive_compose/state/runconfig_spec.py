"""What a run config says, read back: the canonical spec (see :mod:`~toolhive_compose.fingerprint`)
and the tool surface, as ToolHive (or a hand) may have rewritten it (no I/O).

The group and the tool settings are read from ToolHive's keys, which ToolHive rewrites: its
``tools_filter`` and ``tools_override`` (what its proxy and ours enforce; :func:`tool_settings`
reads them as ToolHive's runner does, from its tool-filter middleware entry when the run
config has a middleware chain), and our pins (``toolhive_compose.spec.tool_pins``, from
workloads.lock), which only our proxy enforces.  :func:`with_tool_settings` writes them back,
every other key kept.  When ToolHive dropped our own key, :func:`canonical_from_runconfig`
rebuilds the spec from ToolHive's fields.
"""

from __future__ import annotations

from typing import Any

from ..fingerprint import TOOL_FIELDS, overrides_doc
from ..model import OUR_LABELS, TOOLHIVE_STANDARD_LABELS
from ..tools import Override, ToolConfig
from .runconfig import EXTENSION_KEY, INJECTED_ENV, effective_proxy_mode


def canonical_from_runconfig(rc: dict[str, Any]) -> dict[str, Any]:
    """The canonical spec (see :mod:`fingerprint`) this run config describes.  The group and
    the tool settings are read from ToolHive's keys, which ToolHive (or a hand) may rewrite."""
    ext = rc.get(EXTENSION_KEY)
    if isinstance(ext, dict) and isinstance(ext.get("spec"), dict):
        canon = dict(ext["spec"])
        canon["group"] = rc.get("group") or "default"  # ToolHive moves groups by rewriting this
        canon["tool_pins"] = _pins(canon.get("tool_pins"))
    else:
        canon = _rebuild_canonical(rc)
    filter_, overrides = tool_settings(rc)
    canon["tools"] = sorted(filter_)
    canon["tools_override"] = {a: _omit_empty(o) for a, o in sorted(overrides.items())}
    return canon


def tool_settings(rc: dict[str, Any]) -> tuple[frozenset[str], dict[str, Override]]:
    """The filter and overrides ToolHive's proxy enforces for ``rc``: from its tool-filter
    middleware entry when the run config has a middleware chain (ToolHive then ignores the
    plain fields), else from ``tools_filter`` / ``tools_override``."""
    chain = rc.get("middleware_configs")
    if isinstance(chain, list) and chain:
        entry = next((m for m in chain if isinstance(m, dict) and m.get("type") == TOOL_MW), {})
        params = entry.get("parameters")
        params = params if isinstance(params, dict) else {}
        return _names(params.get("filter_tools")), _overrides(params.get("tools_override"))
    return _names(rc.get("tools_filter")), _overrides(rc.get("tools_override"))


def tool_config(rc: dict[str, Any]) -> ToolConfig:
    """Everything our proxy enforces: ToolHive's settings plus our pins."""
    filter_, overrides = tool_settings(rc)
    ext = rc.get(EXTENSION_KEY)
    spec = ext.get("spec") if isinstance(ext, dict) else None
    pins = _pins(spec.get("tool_pins")) if isinstance(spec, dict) else None
    return ToolConfig(filter=filter_, overrides=overrides, pins=pins)


def with_tool_settings(rc: dict[str, Any], canon: dict[str, Any]) -> dict[str, Any]:
    """``rc`` with the tool settings and pins of ``canon``: ToolHive's keys (and any
    tool-filter middleware entries, so ToolHive's proxy agrees), and our spec.  Every other
    key is kept."""
    out = dict(rc)
    filter_, overrides = list(canon.get("tools") or []), dict(canon.get("tools_override") or {})
    for key, value in (("tools_filter", filter_), ("tools_override", overrides)):
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    chain = out.get("middleware_configs")
    if isinstance(chain, list):
        params = {"filter_tools": filter_, "tools_override": _full(overrides)}
        out["middleware_configs"] = [
            {**m, "parameters": params} if _is_tool_mw(m) else m for m in chain
        ]
    ext = dict(out.get(EXTENSION_KEY) or {})
    if isinstance(ext.get("spec"), dict):
        ext["spec"] = {**ext["spec"], **{k: canon.get(k) for k in TOOL_FIELDS}}
        out[EXTENSION_KEY] = ext
    return out


TOOL_MW = "tool-filter"
_TOOL_MWS = (TOOL_MW, "tool-call-filter")


def _is_tool_mw(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("type") in _TOOL_MWS


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str) and v)


def _overrides(value: Any) -> dict[str, Override]:
    if not isinstance(value, dict):
        return {}
    out = {}
    for actual, body in value.items():
        if isinstance(actual, str) and actual and isinstance(body, dict):
            name, description = body.get("name"), body.get("description")
            out[actual] = Override(
                name if isinstance(name, str) else "",
                description if isinstance(description, str) else "",
            )
    return {a: o for a, o in out.items() if o.name or o.description}


def _omit_empty(o: Override) -> dict[str, str]:
    return overrides_doc(((" ", o.name, o.description),))[" "]


def _full(overrides: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The middleware parameters' override shape (no omitempty)."""
    return {
        a: {"name": str(o.get("name") or ""), "description": str(o.get("description") or "")}
        for a, o in overrides.items()
    }


def _pins(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _rebuild_canonical(rc: dict[str, Any]) -> dict[str, Any]:
    labels = {
        k: v
        for k, v in (rc.get("container_labels") or {}).items()
        if k not in TOOLHIVE_STANDARD_LABELS and k not in OUR_LABELS
    }
    env = {k: v for k, v in (rc.get("env_vars") or {}).items() if k not in INJECTED_ENV}
    secrets = {}
    for entry in rc.get("secrets") or []:
        name, _, target = str(entry).partition(",target=")
        secrets[target or name] = {"from": f"toolhive:{name}", "digest": ""}
    source = rc.get("permission_profile_name_or_path") or "inline"
    profile = rc.get("permission_profile")
    if rc.get("remote_url"):  # no container: a profile means nothing (the loader uses none)
        source, profile = "network", None
    transport = str(rc.get("transport") or "stdio")
    return {
        "image": rc.get("image") or "",
        "url": rc.get("remote_url") or "",
        "transport": transport,
        "target_port": rc.get("target_port") or None,
        "port": rc.get("port") or None,
        "proxy_mode": effective_proxy_mode(transport, rc.get("proxy_mode")),
        "args": list(rc.get("cmd_args") or []),
        "env": env,
        "secrets": secrets,
        "volumes": list(rc.get("volumes") or []),
        "labels": labels,
        "permission_profile": {"source": source, "profile": profile},
        "group": rc.get("group") or "default",
        "state": "running",
        "tool_pins": None,
    }
