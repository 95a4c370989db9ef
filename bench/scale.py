"""The fleet rows at scale: 200 running stdio servers, 100 idle proxies, 2,000 stopped workloads.

    python bench/scale.py [--fleet-n 200] [--idle-n 100] [--big-n 2000] [--repeat 3]
                          [--runs 5] [--engine auto|shared|private] [--json FILE]

Each round, baseline and ours back to back (whole processes, wall clock; which goes first
alternates from round to round):

1. cold fleet of ``--fleet-n`` busybox stdio MCP servers: the raw floor
   (``bench/raw_fleet.py``: create + start + attach + MCP ``initialize`` and ``tools/list``
   per container over its stdio, 16 in parallel, one process), then ``thv apply`` of the same
   servers (containers, a proxy each, MCP readiness through every proxy), then ``thv down``;
2. ``--idle-n`` running workloads: after ``thv apply``, every proxy's unique memory
   (``/proc/<pid>/smaps_rollup`` Private_Clean + Private_Dirty; Pss beside it); ``thv down``;
3. ``--big-n`` workloads with ``state: stopped``: raw SDK create p16 (``raw_sdk.py create
   --no-start``: containers created, not started, as ``thv`` leaves a stopped workload) and
   remove p16, then ``thv apply`` (cold), the no-op ``thv plan`` (median of ``--runs`` after a
   warm-up), ``thv down``.

Sizes of 0 skip a step. The rows are the median of the rounds' ratios and their range;
``--json`` keeps every sample. A round at the default sizes takes ~2–3 minutes here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    CommandFailed,
    EngineHung,
    clean_stale_runs,
    docker,
    ensure_image,
    log,
    median_of,
    proxies_of,
    remove_labelled,
    run_timed,
)
from rawio import private_kib
from session import Session

TARGETS = {"fleet_apply": 1.1, "idle_private_mib": 3.0, "noop_plan_s": 0.5,
           "big_apply": 1.2, "big_down": 1.2}  # fmt: skip


SETTLE_S = 3.0


def settle() -> None:
    """Before every timed step: the page cache written back, then a pause.  A mass create
    or remove leaves the engine and the file system writing for seconds afterwards, and the
    next step (whichever side it is) paid for it: with no settling, the step that came first
    in a round was 1.5x slower than the same step second."""
    os.sync()
    time.sleep(SETTLE_S)


# ext4 without a journal does not reuse an inode freed less than 60 s ago (RECENTCY_MIN in
# fs/ext4/ialloc.c): every file created meanwhile scans past the inodes freed, in the kernel
# time of the process creating it.  After 2,000 containers removed (and 4,000 state files),
# the next mass create paid ~1-2 s more in 1 run of 2, whichever side it was.
RECENTCY_S = 61.0


def unjournaled_ext4(path: Path) -> bool:
    """Whether ``path`` is on an ext4 file system mounted without a journal."""
    try:
        dev = os.stat(path).st_dev
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split(" - ")
            head, tail = fields[0].split(), fields[1].split() if len(fields) > 1 else []
            if head[2] == f"{os.major(dev)}:{os.minor(dev)}" and tail and tail[0] == "ext4":
                name = Path(tail[1]).name
                return Path("/proc/fs/ext4", name).is_dir() and not any(
                    Path("/proc/fs/jbd2").glob(f"{name}-*")
                )
    except (OSError, IndexError):
        pass
    return False


UNJOURNALED: list[str] = []  # the state or engine directories on such a file system


def settle_after_removal() -> None:
    """Before a mass create that follows a mass removal: on ext4 without a journal, wait
    until the freed inodes may be reused (see RECENTCY_S) — the file system's cost, not the
    tool's, and not on a journaled file system."""
    if UNJOURNALED:
        log(f"ext4 without a journal: waiting {RECENTCY_S:.0f}s for freed inodes to age")
        time.sleep(RECENTCY_S)


def raw(session: Session, script: str, *argv: str, n: int) -> float:
    settle()
    result = run_timed([session.python, str(BENCH / script), *argv], session.env,
                       timeout=120 + 2 * n)  # fmt: skip
    return result.seconds


def thv(session: Session, *argv: str, n: int) -> float:
    settle()
    result = run_timed([*session.thv, *argv], session.env, cwd=session.tmp, check=False,
                       timeout=120 + 3 * n)  # fmt: skip
    if result.returncode != 0:  # say which workloads failed and why, not only the summary
        lines = [ln for ln in result.stderr.splitlines() if "fail" in ln.lower()]
        raise CommandFailed(f"thv {' '.join(argv[:1])} exited {result.returncode}: "
                            + " | ".join(ln[:300] for ln in lines[:6]))  # fmt: skip
    return result.seconds


def take_turns(swap: bool, baseline: Callable[[], None], ours: Callable[[], None]) -> None:
    """The baseline then ours, or (``swap``) the other way round."""
    for step in (ours, baseline) if swap else (baseline, ours):
        step()


def fleet_round(session: Session, n: int, out: dict[str, float], swap: bool) -> None:
    fleet = session.fleet("f", n)
    spec = session.write("fleet-raw.json", json.dumps(fleet.raw_specs()))
    path = session.write("fleet.yaml", fleet.workloads_yaml())

    def floor() -> None:
        try:
            out["fleet_raw"] = raw(session, "raw_fleet.py", "--spec", str(spec), n=n)
        finally:
            remove_labelled(session.label, session.python, session.rm_parallelism)

    def ours() -> None:
        try:
            out["fleet_thv"] = thv(session, "apply", "-f", str(path), "--yes", n=n)
            out["fleet_down"] = thv(session, "down", "-f", str(path), "--yes", n=n)
        finally:
            session.cleanup_fleet(fleet)

    take_turns(swap, floor, ours)
    out["fleet_apply"] = out["fleet_thv"] / out["fleet_raw"]
    log(f"fleet x{n}: raw floor {out['fleet_raw']:.2f}s, thv apply {out['fleet_thv']:.2f}s "
        f"({out['fleet_apply']:.2f}x), thv down {out['fleet_down']:.2f}s")  # fmt: skip


def idle_round(session: Session, n: int, out: dict[str, float]) -> None:
    fleet = session.fleet("i", n)
    path = session.write("idle.yaml", fleet.workloads_yaml())
    try:
        thv(session, "apply", "-f", str(path), "--yes", n=n)
        time.sleep(2)  # let every proxy settle into its idle loop
        pids = proxies_of(fleet.prefix)
        mems = [private_kib(pid) for pid in pids]
        if len(mems) != n:
            session.errors.append(f"idle x{n}: {len(mems)} proxies running")
        out["idle_private_mib"] = statistics.median(m["private"] for m in mems) / 1024
        out["idle_pss_mib"] = statistics.median(m["pss"] for m in mems) / 1024
        out["idle_total_pss_mib"] = sum(m["pss"] for m in mems) / 1024
        thv(session, "down", "-f", str(path), "--yes", n=n)
    finally:
        session.cleanup_fleet(fleet)
    log(
        f"idle x{n}: per proxy {out['idle_private_mib']:.2f} MiB private, "
        f"{out['idle_pss_mib']:.2f} MiB Pss; all proxies {out['idle_total_pss_mib']:.0f} MiB Pss"
    )


def big_round(session: Session, n: int, out: dict[str, float], runs: int, swap: bool) -> None:
    fleet = session.fleet("b", n, state="stopped")
    spec = session.write("big-raw.json", json.dumps(fleet.raw_specs()))
    path = session.write("big.yaml", fleet.workloads_yaml())

    def baseline() -> None:
        try:
            settle_after_removal()
            out["big_raw_create"] = raw(session, "raw_sdk.py", "create", "--spec", str(spec),
                                        "--parallelism", "16", "--no-start", n=n)  # fmt: skip
            out["big_raw_remove"] = raw(session, "raw_sdk.py", "remove", "--label",
                                        session.label, "--parallelism", "16", n=n)  # fmt: skip
        finally:
            remove_labelled(session.label, session.python, session.rm_parallelism)

    def ours() -> None:
        try:
            settle_after_removal()
            out["big_thv_apply"] = thv(session, "apply", "-f", str(path), "--yes", n=n)
            if session.check_converged(fleet, path):
                plan = median_of([*session.thv, "plan", "-f", str(path)], session.env, runs,
                                 session.tmp)  # fmt: skip
                out["noop_plan_s"] = plan["median"]
            out["big_thv_down"] = thv(session, "down", "-f", str(path), "--yes", n=n)
        finally:
            session.cleanup_fleet(fleet)

    take_turns(swap, baseline, ours)
    out["big_apply"] = out["big_thv_apply"] / out["big_raw_create"]
    out["big_down"] = out["big_thv_down"] / out["big_raw_remove"]
    log(
        f"x{n} stopped: raw create p16 {out['big_raw_create']:.2f}s, thv apply "
        f"{out['big_thv_apply']:.2f}s ({out['big_apply']:.2f}x); raw remove p16 "
        f"{out['big_raw_remove']:.2f}s, thv down {out['big_thv_down']:.2f}s "
        f"({out['big_down']:.2f}x); no-op plan {out.get('noop_plan_s', float('nan')):.3f}s"
    )


def summary(rounds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = {k for r in rounds for k in r}
    return {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
        for k in sorted(keys)
        if (v := [r[k] for r in rounds if k in r])
    }


def print_rows(rows: dict[str, dict[str, float]]) -> bool:
    met = True
    print(f"{'row':<20}{'median':>9}{'min':>9}{'max':>9}  target")
    for key, row in rows.items():
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            ok = row["median"] <= target
            met &= ok
            verdict = f"<= {target:g} {'met' if ok else 'NOT met'}"
        print(f"{key:<20}{row['median']:>9.3f}{row['min']:>9.3f}{row['max']:>9.3f}  {verdict}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fleet-n", type=int, default=200)
    parser.add_argument("--idle-n", type=int, default=100)
    parser.add_argument("--big-n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds")
    parser.add_argument("--runs", type=int, default=5, help="no-op plan runs per median")
    parser.add_argument("--engine", choices=["auto", "shared", "private"], default="auto")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    args.network, args.server, args.noop_running = "none", "mcp-sh", False

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    session = Session(args)
    rounds: list[dict[str, float]] = []
    try:
        session.choose_engine()
        clean_stale_runs()
        ensure_image(shared=session.private is None)
        load = os.getloadavg()
        log(f"engine {session.engine}; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        root = docker("info", "--format", "{{.DockerRootDir}}", check=False).stdout.strip()
        UNJOURNALED[:] = [str(p) for p in (session.tmp, Path(root or "/nonexistent"))
                          if p.exists() and unjournaled_ext4(p)]  # fmt: skip
        if UNJOURNALED and args.big_n:
            log(f"ext4 without a journal under {', '.join(UNJOURNALED)}: each mass create "
                f"of the {args.big_n}-workload round waits {RECENTCY_S:.0f}s after the removal "
                "before it")  # fmt: skip
        for i in range(args.repeat):
            out: dict[str, float] = {}
            rounds.append(out)
            log(f"round {i + 1} of {args.repeat}")
            if args.fleet_n:
                session.attempt("fleet", fleet_round, session, args.fleet_n, out, i % 2 == 1)
            if args.idle_n:
                session.attempt("idle", idle_round, session, args.idle_n, out)
            if args.big_n:
                session.attempt("big", big_round, session, args.big_n, out, args.runs, i % 2 == 1)
        rows = summary(rounds)
        met = print_rows(rows)
        end = os.getloadavg()
        log(f"load at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}; errors: {session.errors}")
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "load": [load, end], "rounds": rounds,
                                             "rows": rows, "errors": session.errors},
                                            indent=1))  # fmt: skip
        return 0 if met and not session.errors else 1
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except (EngineHung, CommandFailed) as exc:
        log(f"ERROR {exc}")
        return 1
    finally:
        session.cleanup()


if __name__ == "__main__":
    sys.exit(main())
