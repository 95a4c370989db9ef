"""What each proxy reports of its workload's tool surface: ``<ours>/surfaces/<name>.json``.

Written by the proxy (:mod:`toolhive_compose.proxy.transports.toolsurface`) when what it saw
changes: its PID, the digest of the tool settings it enforces, the server's own tool names,
each admitted tool's digest and description, and what it withholds and why.  Read by
``apply`` (did the proxy follow a reconfigure; what it withholds), ``thv tools``/``verify``
and the planner's warnings about tool names the server does not offer.  Ours, not ToolHive's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..paths import Paths
from .atomic import atomic_write


def report_path(paths: Paths, name: str) -> Path:
    return paths.surfaces / f"{name}.json"


def read_report(paths: Paths, name: str) -> dict[str, Any]:
    """A proxy's report (see above); {} when there is none or it cannot be read."""
    try:
        doc = json.loads(report_path(paths, name).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_report(paths: Paths, name: str, doc: dict[str, Any]) -> None:
    atomic_write(
        report_path(paths, name), (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    )


def delete_report(paths: Paths, name: str) -> None:
    report_path(paths, name).unlink(missing_ok=True)
