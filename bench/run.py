"""toolhive-compose benchmark: whole processes, wall clock, against raw SDK and docker-compose.

    python bench/run.py [--n 50] [--noop-n 500] [--skip-compose] [--runs 5] [--repeat 3]
                        [--engine auto|shared|private] [--network none|bridge]
                        [--server mcp-sh|sleep] [--noop-running] [--profile]

See bench/README.md for what each number means.  Everything this run creates carries the
label ``thc-bench.run=<run id>`` and is removed at the end (and stale leftovers of dead runs at
the start); ToolHive state goes to a temporary XDG_STATE_HOME/XDG_DATA_HOME/XDG_CACHE_HOME.

This module drives the run: baselines and ours take turns, ``--repeat`` rounds, then the large
no-op plan and the startup baselines.  Each scenario is a module of ``bench/scenarios/``; the
table and ``bench/results/latest.json`` are ``bench/report.py``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from harness import SERVERS, EngineHung, clean_stale_runs, docker, ensure_image, log
from report import Results, report, table_rows
from scenarios import (
    baseline_compose,
    baseline_raw_sdk,
    cold_apply,
    down,
    noop_plan,
    one_change,
    preflight,
    startup,
    where_time_goes,
)
from session import Session


def run(session: Session) -> int:
    """The whole bench; 0 when every target passes and nothing went wrong."""
    t_start = time.perf_counter()
    a = session.args
    log(f"run {session.run_id}; state in {session.tmp}; thv = {shlex.join(session.thv)}")
    session.choose_engine()
    log(f"engine: {session.engine}; network: {session.network}; server: {a.server}")
    clean_stale_runs()
    ensure_image(shared=session.private is None)
    baseline_compose.setup(session)
    log(f"compose: {session.compose_note}")
    others = len(docker("ps", "-q").stdout.split())
    if others:
        log(f"note: {others} other running container(s) share this engine")
    session.extra["other_containers"] = others
    session.extra["loadavg_start"] = os.getloadavg()

    # Baselines and ours take turns, --repeat times; single-shot numbers are medians.
    results = Results()
    samples = results.samples
    ours: dict[str, Any] = {}
    ready: bool | None = None

    def keep(prefix: str, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                samples.setdefault(f"{prefix}{key}", []).append(float(value))

    for rep in range(a.repeat):
        log(f"round {rep + 1} of {a.repeat}")
        for p in (8, 16) if rep == 0 else (8,):  # p16 is for reference: once
            session.check_engine(f"raw SDK p{p}")
            created, removed = baseline_raw_sdk.run(session, a.n, p)
            keep("raw.", {f"create_p{p}": created, f"remove_p{p}": removed})
        session.check_engine("docker-compose")
        keep("compose.", baseline_compose.run(session, a.n, grace_step=rep == 0))
        session.check_engine("thv")
        if ready is None:
            ready = preflight.run(session)
        if ready:
            result = ours_at_n(session, a.n, first=rep == 0)
            if rep == 0:
                ours = result
            keep("ours.", {k: result.get(k) for k in ("apply", "change", "down")})

    def median(key: str) -> float | None:
        values = samples.get(key)
        return statistics.median(values) if values else None

    for p in (8, 16):
        results.sdk[f"create_p{p}"] = median(f"raw.create_p{p}")
        results.sdk[f"remove_p{p}"] = median(f"raw.remove_p{p}")
    results.compose = {
        k: median(f"compose.{k}") for k in ("up", "change", "change_default_grace", "down")
    }
    for key in ("apply", "change", "down"):
        ours[key] = median(f"ours.{key}")
    results.ours_small = ours
    if a.noop_n:
        session.check_engine(f"thv x{a.noop_n}")
        results.ours_large = noop_plan.large_fleet(session, a.noop_n)
    results.startup = startup.run(session)
    rows = table_rows(a, results)
    total = time.perf_counter() - t_start
    session.extra["loadavg_end"] = os.getloadavg()
    report(session, rows, results, total)
    ok = all(r.verdict in ("PASS", "info") for r in rows) and not session.errors
    return 0 if ok else 1


def ours_at_n(session: Session, n: int, first: bool = True) -> dict[str, Any]:
    """Ours on N workloads, one fleet through its life: cold apply; (first round only) the
    no-op plan, its phases and imports; one change; down."""
    fleet = session.fleet("t", n)
    base = session.write("workloads.yaml", fleet.workloads_yaml())
    changed = session.write("workloads-changed.yaml", fleet.workloads_yaml(changed=True))
    out: dict[str, Any] = {}
    try:
        cold_apply.run(session, fleet, base, out, f"thv apply x{n} (cold)")
        if out.get("apply") is not None and first:
            out["plan"] = noop_plan.median(session, base, n, "thv plan (no-op)")
            out["phases"] = session.attempt("phases", where_time_goes.phases, session, base)
            session.extra["importtime"] = session.attempt(
                "importtime", where_time_goes.importtime, session, base
            )
            if session.args.profile:
                session.extra["cprofile_plan"] = session.attempt(
                    "cProfile", where_time_goes.cprofile, session, base
                )
        if out.get("apply") is not None:
            one_change.run(session, changed, out)
        down.run(session, fleet, changed, out, f"thv down x{n}", checked_as="thv down")
    finally:
        session.cleanup_fleet(fleet)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="containers for apply/change/down")
    parser.add_argument(
        "--noop-n", type=int, default=500, help="containers for the large no-op plan (0 skips it)"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per median (after 1 warm-up)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of raw SDK / compose / thv at N, taking turns (medians are reported)",
    )
    parser.add_argument(
        "--skip-compose", action="store_true", help="do not install or run docker-compose 1.29.2"
    )
    parser.add_argument(
        "--engine",
        choices=["auto", "shared", "private"],
        default="auto",
        help="auto: DOCKER_HOST (or the default socket) if it answers, else a "
        "private dockerd started for this run",
    )
    parser.add_argument(
        "--network",
        choices=["none", "bridge"],
        default="none",
        help="container network (bridge: see README about moby#46661)",
    )
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="mcp-sh",
        help="what the busybox containers run (mcp-sh answers MCP readiness)",
    )
    parser.add_argument(
        "--noop-running",
        action="store_true",
        help="start the --noop-n fleet too (default: created, state: stopped)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the no-op plan"
    )
    args = parser.parse_args(argv)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    session = Session(args)
    try:
        return run(session)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except EngineHung as exc:
        log(f"ERROR {exc}")
        return 1
    finally:
        session.cleanup()


if __name__ == "__main__":
    sys.exit(main())
