"""Startup baselines: ``python -c pass`` and ``thv --help`` on the same interpreter."""

from __future__ import annotations

from harness import median_of
from session import Session


def run(session: Session) -> dict[str, dict | None]:
    """Medians of ``python -c pass`` and ``thv --help`` on the same interpreter."""
    return {
        "python -c pass": session.attempt(
            "python startup",
            median_of,
            [session.python, "-c", "pass"],
            session.env,
            session.args.runs,
            session.tmp,
        ),
        "thv --help": session.attempt(
            "thv --help",
            median_of,
            [*session.thv, "--help"],
            session.env,
            session.args.runs,
            session.tmp,
        ),
    }
