"""JSON as Go's ``encoding/json`` sees it, for files and output ToolHive also writes.

Go's encoder keeps non-ASCII characters as UTF-8 and escapes ``<``, ``>``, ``&``, U+2028 and
U+2029 (``\\u003c``…) unless told otherwise — ToolHive never tells it otherwise, so its run
configs, status files, ``thv list --format json`` and ``thv status --format json`` look so.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """``value`` encoded as ``json.MarshalIndent(value, "", "  ")`` encodes it (no newline)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    # The characters only ever occur inside strings (JSON syntax uses none of them).
    return text.translate(_GO_ESCAPES)


def kind(value: Any) -> str:
    """A decoded JSON value's type in words, as a decoding error names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer" if -(2**63) <= value < 2**63 else "an integer out of range"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    if isinstance(value, str):
        return f"the string {value[:30]!r}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return "an object"
