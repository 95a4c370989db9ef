"""One change: ``thv apply`` after one server's env changed (a recreate of that one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from session import Session


def run(session: Session, changed: Path, out: dict[str, Any]) -> None:
    """Times it into ``out["change"]`` (and ``change_cpu``)."""
    session.timed_step(
        "change",
        out,
        "thv apply (one env changed)",
        "apply",
        "-f",
        str(changed),
        "--yes",
        timeout=180,
    )
