"""Rendered Kubernetes objects checked against our schema of the operator's CRDs.

``schemas/operator-v1beta1.schema.json`` (written by hand from the CRD definitions; see its
description) has one definition per kind.  Besides JSON Schema, the validator enforces the
CRDs' ``x-kubernetes-list-map-keys`` (no two items of a map-type list share their keys, as
the API server refuses) and, across objects, what the operator resolves by name: a
``groupRef`` names an ``MCPGroup``, a ``toolConfigRef`` an ``MCPToolConfig``, and a
``configmap`` permission profile a ``ConfigMap`` holding that key — all among the objects
rendered together, in the same namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

SCHEMA_PATH = Path(__file__).parent / "schemas" / "operator-v1beta1.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
KINDS = ("MCPGroup", "ConfigMap", "MCPToolConfig", "MCPServer", "MCPRemoteProxy")


def _list_map_keys(
    validator: Any, keys: Sequence[str], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    seen: dict[tuple[Any, ...], int] = {}
    for index, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        key = tuple(item.get(k) for k in keys)
        if key in seen:
            shared = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))
            yield ValidationError(f"items {seen[key]} and {index} share the map key {shared}")
        seen.setdefault(key, index)


Validator = validators.extend(Draft202012Validator, {"x-kubernetes-list-map-keys": _list_map_keys})
Validator.check_schema(SCHEMA)
_BY_KIND = {
    kind: Validator({"$ref": f"#/$defs/{kind}", "$defs": SCHEMA["$defs"]}) for kind in KINDS
}


def object_problems(obj: Any) -> list[str]:
    """Why one object does not validate (empty when it does)."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in _BY_KIND:
        return [f"not a kind the render emits: {kind!r}"]
    name = (obj.get("metadata") or {}).get("name")
    return [
        f"{kind} {name}: {'/'.join(map(str, error.absolute_path)) or '(object)'}: {error.message}"
        for error in _BY_KIND[kind].iter_errors(obj)
    ]


def reference_problems(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names unique per kind and namespace, and every reference resolved among ``objects``."""
    found: list[str] = []
    index: dict[tuple[str, str | None, str], Mapping[str, Any]] = {}
    for obj in objects:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace"), meta["name"])
        if key in index:
            found.append(f"two objects are {key}")
        index[key] = obj
    for obj in objects:
        spec, namespace = obj.get("spec") or {}, obj["metadata"].get("namespace")
        where = f"{obj['kind']} {obj['metadata']['name']}"
        for field, kind in (("groupRef", "MCPGroup"), ("toolConfigRef", "MCPToolConfig")):
            if field in spec and (kind, namespace, spec[field]["name"]) not in index:
                found.append(f"{where}: {field} names no {kind} {spec[field]['name']!r}")
        profile = spec.get("permissionProfile") or {}
        if profile.get("type") == "configmap":
            config_map = index.get(("ConfigMap", namespace, profile["name"]))
            if config_map is None or profile.get("key") not in config_map["data"]:
                found.append(f"{where}: no ConfigMap {profile['name']!r} with {profile.get('key')}")
    return found


def problems(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Everything wrong with a render's objects."""
    return [p for obj in objects for p in object_problems(obj)] + reference_problems(objects)
