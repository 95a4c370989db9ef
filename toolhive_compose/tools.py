"""The tool surface as data (pure): ToolHive's tool filter and overrides, tool digests, pins,
and how two surfaces differ.

What an MCP server hands an agent is its tool surface: each tool's name, description and
schemas.  ToolHive's semantics (``pkg/mcp/tool_filter.go``), followed exactly:

- a ``tools/list`` answer is **renamed first, then filtered by the new name**, so ``tools``
  (``tools_filter``) lists the names clients see; an override's description replaces the
  server's only when it is not empty;
- a ``tools/call`` is checked against the filter by the name the client sent, then mapped
  back to the server's name when it is an override's new name.  With overrides and no filter,
  the server's own name still works (it passes through unchanged).

Ours on top: **pins** (a SHA-256 per tool, from ``workloads.lock``).  When a workload is
pinned, a tool whose digest differs from its pin, or that has no pin, is withheld from the
list and its calls are refused; :func:`screen` says which and why.

A tool's digest covers what the client sees of it besides its name: ``title``,
``description``, ``inputSchema``, ``outputSchema`` and ``annotations``, as canonical JSON
(keys sorted, no spaces, UTF-8).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DIGEST_FIELDS = ("title", "description", "inputSchema", "outputSchema", "annotations")
INVALID_PARAMS = -32602
NOT_FOUND_MESSAGE = "tool not found"  # ToolHive's answer for a filtered tool, kept exactly
CHANGED = "changed since workloads.lock pinned it"
UNPINNED = "not in workloads.lock"
DRIFT_CONTEXT = "tools withheld (drifted from workloads.lock): "  # status_context prefix


@dataclass(frozen=True, slots=True)
class Override:
    """ToolHive's ToolOverride: a new name and/or description (empty = keep the server's)."""

    name: str = ""
    description: str = ""


class Call(StrEnum):
    """What a proxy does with a ``tools/call``."""

    PASS = "pass"  # forward unchanged
    RENAME = "rename"  # forward with the server's name
    FILTERED = "filtered"  # answer ToolHive's "tool not found"
    WITHHELD = "withheld"  # answer an error naming the pin's reason
    BOGUS = "bogus"  # no usable name: ToolHive answers HTTP 400


@dataclass(frozen=True, slots=True)
class ToolView:
    """One tool as a lock records it: its digest, and the description a diff can show."""

    digest: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ToolConfig:
    """What a proxy enforces for one workload: filter, overrides, and pins (None = not pinned)."""

    filter: frozenset[str] = frozenset()
    overrides: Mapping[str, Override] = field(default_factory=dict)
    pins: Mapping[str, str] | None = None  # client-visible name -> digest

    @property
    def active(self) -> bool:
        return bool(self.filter or self.overrides or self.pins is not None)

    @property
    def actual_names(self) -> dict[str, str]:
        """Override name -> the server's name."""
        return {o.name: actual for actual, o in self.overrides.items() if o.name}

    def rename(self, tool: Mapping[str, Any]) -> dict[str, Any]:
        """The tool with its override applied (a copy; every other key is kept)."""
        out = dict(tool)
        override = self.overrides.get(str(tool.get("name")))
        if override is not None:
            if override.name:
                out["name"] = override.name
            if override.description:
                out["description"] = override.description
        return out

    def digest(self) -> str:
        """Names what a proxy enforces: equal digests, equal behaviour."""
        doc = {
            "filter": sorted(self.filter),
            "overrides": {a: [o.name, o.description] for a, o in sorted(self.overrides.items())},
            "pins": dict(sorted(self.pins.items())) if self.pins is not None else None,
        }
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def admits(self, name: str) -> bool:
        return not self.filter or name in self.filter

    def route(self, name: Any, withheld: Mapping[str, str] | None = None) -> tuple[Call, str]:
        """The decision for a ``tools/call`` of ``name`` and the name to forward (or the
        reason it is refused).  ``withheld``: the last verdicts of a pinned proxy."""
        if not isinstance(name, str) or not name:
            return Call.BOGUS, ""
        if not self.admits(name):
            return Call.FILTERED, NOT_FOUND_MESSAGE
        if self.pins is not None:
            reason = (withheld or {}).get(name) or ("" if name in self.pins else UNPINNED)
            if reason:
                return Call.WITHHELD, reason
        actual = self.actual_names.get(name)
        return (Call.RENAME, actual) if actual else (Call.PASS, name)


def refusal(request_id: Any, message: str) -> dict[str, Any]:
    """A JSON-RPC error answer for a refused ``tools/call`` (ToolHive's shape: no ``id`` key
    when the request had none)."""
    doc: dict[str, Any] = {"jsonrpc": "2.0", "error": {"code": INVALID_PARAMS, "message": message}}
    if request_id is not None:
        doc["id"] = request_id
    return doc


def withheld_message(name: str, reason: str) -> str:
    return f"tool {name} is withheld by the proxy: {reason}"


def tool_digest(tool: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of what the client sees besides the name."""
    material = {key: tool[key] for key in DIGEST_FIELDS if tool.get(key) is not None}
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def view_of(tool: Mapping[str, Any]) -> ToolView:
    description = tool.get("description")
    return ToolView(tool_digest(tool), description if isinstance(description, str) else "")


@dataclass(frozen=True, slots=True)
class Screened:
    """A ``tools/list`` page after the filter, overrides and pins."""

    tools: list[dict[str, Any]]  # what the client gets
    views: dict[str, ToolView]  # every tool the filter admits (withheld ones too), by name
    withheld: dict[str, str]  # name -> why it is not in ``tools``
    server_names: tuple[str, ...]  # the names the server itself used


class Nameless(ValueError):
    """A tool without a usable name: the list is refused as a whole (ToolHive fails closed)."""


def screen(tools: Iterable[Any], config: ToolConfig) -> Screened:
    """Apply ``config`` to a page of tools; :class:`Nameless` when a tool has no name."""
    out: list[dict[str, Any]] = []
    views: dict[str, ToolView] = {}
    withheld: dict[str, str] = {}
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise Nameless("a tool in the server's tools/list answer has no name")
        names.append(tool["name"])
        seen = config.rename(tool)
        name = seen["name"]
        if not config.admits(name):
            continue
        view = views[name] = view_of(seen)
        reason = _pin_verdict(config.pins, name, view.digest)
        if reason:
            withheld[name] = reason
        else:
            out.append(seen)
    return Screened(out, views, withheld, tuple(names))


def _pin_verdict(pins: Mapping[str, str] | None, name: str, digest: str) -> str:
    if pins is None:
        return ""
    if name not in pins:
        return UNPINNED
    return "" if pins[name] == digest else CHANGED


# -- comparing surfaces -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SurfaceDiff:
    """How a live surface differs from the pinned one."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()  # (name, pinned description, live one)

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """``echo changed; extra added; old removed`` (empty when clean)."""
        parts = [f"{', '.join(c[0] for c in self.changed)} changed"] if self.changed else []
        parts += [f"{', '.join(self.added)} added"] if self.added else []
        parts += [f"{', '.join(self.removed)} removed"] if self.removed else []
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """One line per tool, a changed description as a short word diff."""
        out = [f"~ {name}: {description_diff(old, new)}" for name, old, new in self.changed]
        out += [f"+ {name}: new tool" for name in self.added]
        out += [f"- {name}: no longer offered" for name in self.removed]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [
                {"name": n, "description_diff": description_diff(old, new)}
                for n, old, new in self.changed
            ],
        }


def compare(
    pinned: Mapping[str, ToolView],
    live: Mapping[str, ToolView],
    admitted: frozenset[str] = frozenset(),
) -> SurfaceDiff:
    """``live`` against ``pinned``.  With ``admitted`` (a filter), pinned tools the filter
    now hides are not missing: they are simply not asked for."""
    wanted = {n: v for n, v in pinned.items() if not admitted or n in admitted}
    changed = tuple(
        (name, wanted[name].description, live[name].description)
        for name in sorted(set(wanted) & set(live))
        if wanted[name].digest != live[name].digest
    )
    return SurfaceDiff(
        added=tuple(sorted(set(live) - set(wanted))),
        removed=tuple(sorted(set(wanted) - set(live))),
        changed=changed,
    )


_WORDS = re.compile(r"\S+|\s+")
CONTEXT_WORDS = 4
MAX_DIFF = 240


def description_diff(old: str, new: str) -> str:
    """A one-line word diff: ``[-removed-]{+added+}`` between unchanged words, long unchanged
    runs shortened to ``…``; a schema-only change says so."""
    import difflib  # only when a description changed: it is slow to import

    if old == new:
        return "description unchanged (schema, title or annotations changed)"
    a, b = _WORDS.findall(" ".join(old.split())), _WORDS.findall(" ".join(new.split()))
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(_shorten(a[i1:i2], first=not parts, last=i2 == len(a)))
            continue
        if i2 > i1:
            parts.append(_marked("".join(a[i1:i2]), "[-", "-]"))
        if j2 > j1:
            parts.append(_marked("".join(b[j1:j2]), "{+", "+}"))
    text = "".join(parts).strip()
    return text if len(text) <= MAX_DIFF else text[: MAX_DIFF - 1] + "…"


def _marked(text: str, start: str, end: str) -> str:
    """``text`` between the markers, its outer spaces left outside them."""
    core = text.strip()
    before = text[: len(text) - len(text.lstrip())]
    after = text[len(text.rstrip()) :]
    return f"{before}{start}{core}{end}{after}" if core else text


def _shorten(words: list[str], *, first: bool, last: bool) -> str:
    """Unchanged words: a few next to each change, ``…`` for the rest."""
    keep = CONTEXT_WORDS * 2  # words and the spaces between them
    if len(words) <= keep * 2 + 1:
        return "".join(words)
    head = "" if first else "".join(words[:keep])
    tail = "" if last else "".join(words[-keep:])
    return f"{head}…{tail}"
