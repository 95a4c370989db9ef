"""Rendered objects as text: one multi-document YAML stream, or one file per object.

Keys are sorted (as ``kubectl get -o yaml`` prints them), every document starts with
``---``, multi-line strings (a permission profile's JSON) are block literals, and strings a
YAML 1.1 reader (kubectl's) would take for something else (``yes``, ``0755``) are quoted —
so parsing the text gives back exactly the objects, and dumping those the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

FILE_HEADER = "# Written by `thv render`: edits are lost when it runs again.\n"
_UNICODE_BREAKS = "\x85\u2028\u2029"  # line breaks to YAML besides \n and \r


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with multi-line strings as ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(ch in value for ch in _UNICODE_BREAKS):  # PyYAML would write them unescaped
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj: Mapping[str, Any]) -> str:
    """One object as a YAML document (without the ``---``)."""
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )


def stream(objects: Iterable[Mapping[str, Any]]) -> str:
    """Every object, each document introduced by ``---``."""
    return "".join(f"---\n{dump(obj)}" for obj in objects)


def file_name(obj: Mapping[str, Any]) -> str:
    """The file of ``obj`` in an output directory: ``<kind>-<name>.yaml``, lowercase."""
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


def file_text(obj: Mapping[str, Any]) -> str:
    """The content of ``obj``'s file: the header that marks it as ours, then the document."""
    return f"{FILE_HEADER}---\n{dump(obj)}"


def parse(text: str) -> list[Any]:
    """The objects of a YAML stream (empty documents left out)."""
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
