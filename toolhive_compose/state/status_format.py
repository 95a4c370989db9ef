"""The status file's format: decoding as ToolHive's Go code decodes it, and its repairs (no I/O).

ToolHive's ``readStatusFile`` (``pkg/workloads/statuses/file_status.go``) unmarshals into
``{status, status_context, created_at, updated_at, process_id}`` with Go's rules — keys
matched case-insensitively, a later duplicate winning, ``null`` meaning the zero value,
unknown keys ignored (kept here, so that a rewrite loses nothing) — then requires a
non-empty ``status`` and a non-zero ``created_at``.  An empty file, or valid JSON with a
field of the wrong type, is an error as it stands.  Invalid JSON gets three repairs, in
order, each kept only if it then decodes with a status and a creation time:

1. more ``}`` than ``{``: every trailing ``}`` cut, then one ``}`` per ``{`` appended;
2. fewer ``}`` than ``{``: the missing ``}`` appended;
3. whitespace trimmed, control characters other than ``\\n``, ``\\r``, ``\\t`` removed.

:func:`decode` returns the status and whether it was repaired, or raises :class:`Damage`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..gojson import dumps, kind

STATUSES = (
    "running", "stopped", "error", "starting", "stopping", "unhealthy", "removing", "unknown",
    "unauthenticated", "auth_retrying", "policy_stopped",
)  # fmt: skip
FIELDS = ("status", "status_context", "created_at", "updated_at", "process_id")
ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_INT64 = range(-(2**63), 2**63)


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object's members in order, as read (so duplicates and case can be judged)."""


class Damage(Exception):
    """Why a status file cannot be used; ``repairable`` when ToolHive would have tried."""

    def __init__(self, reason: str, *, repairable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.repairable = repairable


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    status: str
    created_at: str
    updated_at: str
    process_id: int = 0
    status_context: str = ""
    # keys ToolHive's struct does not have (another tool's, a future version's): kept as read
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> bytes:
        """ToolHive's encoding: MarshalIndent, two spaces, no trailing newline."""
        doc: dict[str, Any] = {"status": self.status}
        if self.status_context:
            doc["status_context"] = self.status_context
        doc.update(
            created_at=self.created_at, updated_at=self.updated_at, process_id=self.process_id
        )
        doc.update((k, v) for k, v in self.extra.items() if k not in doc)
        return dumps(doc).encode()

    def updated(self, **changes: Any) -> WorkloadStatus:
        return replace(self, updated_at=now_rfc3339(), **changes)


def now_rfc3339() -> str:
    """Current time as Go's time.Time marshals it: nanoseconds and local offset."""
    ns = time.time_ns()
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = local.strftime("%z")
    offset = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + offset


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 with up to nanosecond precision (Python keeps microseconds)."""
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tz = rest[:digits], rest[digits:]
        value = f"{head}.{(frac + '000000')[:6]}{tz}"
    return datetime.fromisoformat(value)


_ZERO = re.compile(r"^0001-01-01T00:00:00(\.0+)?([Zz]|[+-]00:00)$")


def is_zero_time(text: str) -> bool:
    """Go's ``time.Time.IsZero`` for an RFC 3339 text ("" counts as zero)."""
    return not text or bool(_ZERO.match(text))


# -- decoding ---------------------------------------------------------------------------------
def decode(raw: bytes) -> tuple[WorkloadStatus, bool]:
    """The status in ``raw`` and whether it had to be repaired; :class:`Damage` otherwise."""
    if not raw:
        raise Damage("the file is empty")
    text = raw.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text, object_pairs_hook=_Pairs)
    except ValueError as exc:
        return _recover(text, _json_error(exc)), True
    return _from_pairs(doc), False


def _recover(text: str, error: str) -> WorkloadStatus:
    opened, closed = text.count("{"), text.count("}")
    attempts = []
    if closed > opened:
        attempts.append(text.rstrip("}") + "}" * opened)
    elif closed < opened:
        attempts.append(text + "}" * (opened - closed))
    attempts.append(_CONTROL.sub("", text.strip()))
    for attempt in attempts:
        try:
            return _from_pairs(json.loads(attempt, object_pairs_hook=_Pairs))
        except (ValueError, Damage):
            continue
    raise Damage(f"not JSON ({error}) and not repairable", repairable=True)


def _json_error(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _from_pairs(doc: Any) -> WorkloadStatus:
    """Go's Unmarshal into ToolHive's struct, then its two required fields."""
    if doc is None:
        doc = _Pairs()
    if not isinstance(doc, _Pairs):
        raise Damage(f"the file holds {kind(_plain(doc))}, not a JSON object")
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in doc:
        name = _field(key)
        if name is None:
            extra[key] = _plain(value)
        else:
            values[name] = _typed(name, value)
    status = values.get("status") or ""
    if not status:
        raise Damage("the required 'status' field is missing or empty")
    created = values.get("created_at") or ""
    if is_zero_time(created):
        raise Damage("the 'created_at' field is missing or the zero time")
    return WorkloadStatus(
        status=status,
        created_at=created,
        updated_at=values.get("updated_at") or created,
        process_id=values.get("process_id") or 0,
        status_context=values.get("status_context") or "",
        extra=extra,
    )


def _field(key: str) -> str | None:
    """The struct field ``key`` decodes into: exact, else case-insensitive (Go's rule)."""
    if key in FIELDS:
        return key
    folded = key.casefold()
    return next((f for f in FIELDS if f == folded), None)


def _typed(name: str, value: Any) -> Any:
    if value is None:  # null leaves the zero value
        return None
    if name == "process_id":
        if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
            raise Damage(f"'process_id' is {kind(value)}, not an integer")
        return value
    if not isinstance(value, str):
        raise Damage(f"'{name}' is {kind(value)}, not a string")
    if name in ("created_at", "updated_at") and not _is_time(value):
        raise Damage(f"'{name}' is not an RFC 3339 time: {value[:40]!r}")
    return value


def _is_time(text: str) -> bool:
    if not _RFC3339.match(text):
        return False
    try:
        parse_rfc3339(text)
    except ValueError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A pairs list (from ``object_pairs_hook``) back to dicts, later duplicates winning."""
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
