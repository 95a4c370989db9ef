"""Canonical form of a server spec and its config hash.

The canonical form is a plain JSON-safe dict.  It is what plans show as before/after, what
the run config keeps (so the next plan can explain a change), and what the config-hash
label is computed from.  Secret values never enter it: only keyed digests
(:func:`toolhive_compose.secrets.secret_digest`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .model import ServerSpec

# Fields that never force a container change: group moves rewrite state only (ToolHive's
# MoveToGroup); running/stopped is a start or a stop; the tool surface (filter, overrides,
# pins) is the proxy's business: the run config is rewritten and the proxy follows it.
TOOL_FIELDS = ("tools", "tools_override", "tool_pins")
HASH_EXCLUDED = frozenset({"group", "state", *TOOL_FIELDS})
SENSITIVE_FIELDS = frozenset({"secrets"})


def canonical(spec: ServerSpec, *, port: int | None = None) -> dict[str, Any]:
    """The spec as plain data; ``port`` overrides an unset ``spec.port``."""
    return {
        "image": spec.image,
        "url": spec.url,
        "transport": spec.transport,
        "target_port": spec.target_port,
        "port": spec.port if spec.port is not None else port,
        "proxy_mode": spec.proxy_mode,
        "args": list(spec.args),
        "env": dict(spec.env),
        "secrets": {
            s.target: {"from": f"{s.source}:{s.ref}", "digest": s.digest} for s in spec.secrets
        },
        "volumes": list(spec.volumes),
        "labels": dict(spec.labels),
        "permission_profile": {
            "source": spec.permission_profile,
            "profile": json.loads(spec.permission_profile_json or "null"),
        },
        "group": spec.group,
        "state": spec.state,
        "tools": list(spec.tools),
        "tools_override": overrides_doc(spec.tools_override),
        "tool_pins": dict(spec.tool_pins) if spec.tool_pins is not None else None,
    }


def overrides_doc(overrides: tuple[tuple[str, str, str], ...]) -> dict[str, dict[str, str]]:
    """ToolHive's ``tools_override`` shape: ``{actual: {name, description}}``, empty ones left
    out (Go's ``omitempty``)."""
    doc = {}
    for actual, name, description in overrides:
        entry = {"name": name} if name else {}
        if description:
            entry["description"] = description
        doc[actual] = entry
    return doc


def config_hash(canon: dict[str, Any]) -> str:
    """sha256 of the fields that define the container (secrets by digest only)."""
    material = {k: v for k, v in canon.items() if k not in HASH_EXCLUDED}
    material["secrets"] = {
        target: value.get("digest", "") for target, value in canon.get("secrets", {}).items()
    }
    material["permission_profile"] = canon.get("permission_profile", {}).get("profile")
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
