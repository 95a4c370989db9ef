"""No-op plan: ``thv plan -f F`` when the machine already matches the file, the median of
``--runs`` (``hyperfine -N`` when installed, else a ``perf_counter`` loop).

At N it is timed on the cold-apply fleet (see ``bench/run.py``); at ``--noop-n`` on a fleet of
its own, ``state: stopped`` by default (:func:`large_fleet`): the plan does the same work either
way (one list call, every run config and status file), without 500 proxies next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import log, median_of
from session import Session

from scenarios import cold_apply, down, where_time_goes


def median(session: Session, path: Path, n: int, what: str) -> dict | None:
    """The timing of the no-op plan of ``path`` (``median``, ``min``, ``max``, ``times``)."""
    result = session.attempt(
        what,
        median_of,
        [*session.thv, "plan", "-f", str(path)],
        session.env,
        session.args.runs,
        session.tmp,
    )
    if result:
        log(f"thv plan no-op x{n}: median {result['median']:.3f}s")
    return result


def large_fleet(session: Session, n: int) -> dict[str, Any]:
    """Apply ``n`` workloads (setup), time their no-op plan and its phases, ``thv down``."""
    state = "running" if session.args.noop_running else "stopped"
    fleet = session.fleet("L", n, state=state)
    path = session.write("workloads-large.yaml", fleet.workloads_yaml())
    out: dict[str, Any] = {"state": state}
    try:
        if cold_apply.run(session, fleet, path, out, f"thv apply x{n} (cold, {state}: setup)"):
            out["plan"] = median(session, path, n, f"thv plan x{n} (no-op)")
            out["phases"] = session.attempt("phases", where_time_goes.phases, session, path)
        down.run(session, fleet, path, out, f"thv down x{n}")
    finally:
        session.cleanup_fleet(fleet)
    return out
