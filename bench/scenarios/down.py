"""Down: ``thv down --yes`` of the whole fleet, then a check that nothing is left (containers,
proxy processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet import Fleet
from session import Session


def run(
    session: Session,
    fleet: Fleet,
    path: Path,
    out: dict[str, Any],
    what: str,
    *,
    checked_as: str | None = None,
) -> None:
    """Times it into ``out["down"]`` (and ``down_cpu``); what is left behind is an error
    naming ``checked_as`` (default: ``what``)."""
    session.timed_step(
        "down", out, what, "down", "-f", str(path), "--yes", timeout=120 + 2 * fleet.n
    )
    session.check_clean(fleet, checked_as or what)
