"""Baseline: the raw docker SDK (``bench/raw_sdk.py``, a process of its own on the repo's
interpreter) creating and starting N containers, then removing them, with P workers."""

from __future__ import annotations

import json

from harness import BENCH, CommandFailed, log, remove_labelled, run_timed
from session import Session


def run(session: Session, n: int, parallelism: int) -> tuple[float | None, float | None]:
    """(create+start seconds, remove seconds); (None, None) when it failed."""
    fleet = session.fleet(f"r{parallelism}", n)
    spec = session.write(f"raw-{parallelism}.json", json.dumps(fleet.raw_specs()))
    script = str(BENCH / "raw_sdk.py")
    try:
        created = run_timed(
            [
                session.python,
                script,
                "create",
                "--spec",
                str(spec),
                "--parallelism",
                str(parallelism),
            ],
            session.env,
            timeout=60 + 3 * n,
        )
        log(
            f"raw SDK create+start x{n} p{parallelism}: {created.seconds:.2f}s "
            f"(cpu {created.cpu:.2f}s)"
        )
        # nothing else of this run exists while the raw baseline runs
        removed = run_timed(
            [
                session.python,
                script,
                "remove",
                "--label",
                session.label,
                "--parallelism",
                str(parallelism),
            ],
            session.env,
            timeout=60 + 2 * n,
        )
        log(f"raw SDK remove x{n} p{parallelism}: {removed.seconds:.2f}s (cpu {removed.cpu:.2f}s)")
        return created.seconds, removed.seconds
    except CommandFailed as exc:
        session.errors.append(f"raw SDK p{parallelism}: {exc}")
        log(f"ERROR raw SDK p{parallelism}: {exc}")
        return None, None
    finally:
        remove_labelled(session.label)
