"""Cold apply: ``thv apply -f F --yes`` with nothing there yet (containers, proxies, MCP
readiness through every proxy), then a check that the machine converged: the no-op plan timed
next must really be a no-op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet import Fleet
from session import Session


def run(session: Session, fleet: Fleet, path: Path, out: dict[str, Any], what: str) -> bool:
    """Times the apply into ``out["apply"]`` (and ``apply_cpu``), then ``out["converged"]``;
    False when the apply failed."""
    if not session.timed_step(
        "apply", out, what, "apply", "-f", str(path), "--yes", timeout=120 + 3 * fleet.n
    ):
        return False
    out["converged"] = session.check_converged(fleet, path)
    return True
