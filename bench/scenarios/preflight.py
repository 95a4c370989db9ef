"""Preflight: ``thv apply`` of ONE workload first.  When even that cannot come up (readiness
never answers, say), the N-sized scenarios are skipped with the reason, instead of each wave
of actions sitting out the readiness timeout."""

from __future__ import annotations

from harness import CommandFailed, log
from session import Session


def run(session: Session) -> bool:
    fleet = session.fleet("p", 1)
    path = session.write("preflight.yaml", fleet.workloads_yaml())
    try:
        took = session.thv_run("apply", "-f", str(path), "--yes", timeout=150)
        log(f"preflight: thv apply of one workload: {took.seconds:.2f}s")
        return True
    except CommandFailed as exc:
        msg = (
            f"preflight: thv apply of ONE {session.args.server} workload failed, so the "
            f"x{session.args.n} scenarios are skipped: {exc}"
        )
        session.errors.append(msg)
        log(f"ERROR {msg}")
        return False
    finally:
        session.attempt(
            "preflight down", session.thv_run, "down", "-f", str(path), "--yes", timeout=120
        )
        session.cleanup_fleet(fleet)
