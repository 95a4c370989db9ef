"""Explain a change between two canonical specs as plain path/before/after values.

Only explains: whether something changed is decided by the config hash.  deepdiff is
imported only when two specs really differ.  Lists are compared as whole values; secrets
show as ``(sensitive)`` and only their source reference is ever printed.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from .actions import SENSITIVE, FieldChange

IGNORED = frozenset({"state"})
BUILTIN_PROFILES = frozenset({"none", "network", "stdio"})
_STEP = re.compile(r"\[('(?:[^'\\]|\\.)*'|\d+)\]")


def flatten(spec: dict[str, Any] | None, *, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a canonical spec (lists are leaves; secrets masked)."""
    out: dict[str, Any] = {}
    for key, value in (spec or {}).items():
        if not prefix and key in IGNORED:
            continue
        path = f"{prefix}{key}"
        if path == "permission_profile" and isinstance(value, dict):
            out.update(_profile(value))
        elif path.startswith("secrets.") and isinstance(value, dict):
            out[f"{path}.from"] = value.get("from")
            out[path] = SENSITIVE
        elif isinstance(value, dict) and value:
            out.update(flatten(value, prefix=f"{path}."))
        elif value not in (None, "", [], {}):
            out[path] = value
    return out


def field_changes(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[FieldChange, ...]:
    """Every leaf that differs, sorted by path."""
    if not before or not after:
        return _one_sided(flatten(before), flatten(after))
    DeepDiff = _deepdiff()
    old = {k: v for k, v in before.items() if k not in IGNORED}
    new = {k: v for k, v in after.items() if k not in IGNORED}
    diff = DeepDiff(old, new, view="tree", ignore_order=False)
    paths = {tuple(_path(level.path())) for levels in diff.values() for level in levels}
    changes = {}
    for steps in paths:
        path = _collapse(list(steps))
        b, a = _get(old, path), _get(new, path)
        if path == "tool_pins" and (b is None or a is None):
            # pins that appear or go (None: not pinned), tool by tool
            for key in sorted(set(b or {}) | set(a or {})):
                changes[f"{path}.{key}"] = FieldChange(f"{path}.{key}", (b or {}).get(key),
                                                       (a or {}).get(key))  # fmt: skip
            continue
        changes[path] = _change(path, b, a)
    return tuple(changes[p] for p in sorted(changes))


def _deepdiff() -> Any:
    """``deepdiff.DeepDiff``, imported without pydantic.

    deepdiff probes for pydantic (to compare its models) when it is imported; where pydantic
    is installed (the MCP SDK brings it) that probe costs ~90 ms, more than the rest of a
    no-change ``thv apply``.  Specs are plain dicts, lists and scalars, so the probe is made
    to find nothing; a later ``import pydantic`` elsewhere is unaffected."""
    if "deepdiff" in sys.modules or "pydantic" in sys.modules:
        from deepdiff import DeepDiff

        return DeepDiff
    sys.modules["pydantic"] = None  # type: ignore[assignment]  # import pydantic -> ImportError
    try:
        from deepdiff import DeepDiff

        return DeepDiff
    except ImportError:  # a deepdiff that needs pydantic after all: forget the attempt
        for name in [m for m in sys.modules if m.partition(".")[0] == "deepdiff"]:
            del sys.modules[name]
    finally:
        del sys.modules["pydantic"]
    from deepdiff import DeepDiff

    return DeepDiff


def _profile(value: dict[str, Any]) -> dict[str, Any]:
    """A built-in profile shows by name; a file or inline profile shows its content too."""
    source = value.get("source")
    if source in BUILTIN_PROFILES:
        return {"permission_profile.source": source}
    return flatten(value, prefix="permission_profile.")


def _one_sided(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    keys = sorted(set(old) | set(new))
    return tuple(
        FieldChange(
            k, old.get(k), new.get(k), sensitive=old.get(k) == SENSITIVE or new.get(k) == SENSITIVE
        )
        for k in keys
    )


def _path(deep_path: str) -> list[str | int]:
    steps: list[str | int] = []
    for token in _STEP.findall(deep_path):
        steps.append(int(token) if token.isdigit() else token[1:-1].replace("\\'", "'"))
    return steps


def _collapse(steps: list[str | int]) -> str:
    """Stop at the first list index (lists are whole values) and at a secret's target."""
    kept: list[str] = []
    for step in steps:
        if isinstance(step, int):
            break
        kept.append(step)
        if len(kept) == 2 and kept[0] == "secrets":
            break
        if len(kept) >= 2 and kept[0] == "permission_profile" and kept[1] == "source":
            break
    return ".".join(kept)


def _get(doc: Any, path: str) -> Any:
    for step in path.split("."):
        if not isinstance(doc, dict) or step not in doc:
            return None
        doc = doc[step]
    return doc


def _change(path: str, before: Any, after: Any) -> FieldChange:
    if path.startswith("secrets."):
        b = SENSITIVE if before is not None else None
        a = SENSITIVE if after is not None else None
        return FieldChange(path, b, a, sensitive=True)
    return FieldChange(path, before, after)
