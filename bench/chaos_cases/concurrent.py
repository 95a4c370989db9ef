"""Two applies at once: of the same project, and of two projects sharing the state directory.

Each apply either succeeds, or fails with the one-line lock message naming the holder (one
apply at a time per state directory; the second waits a few seconds first).  Nothing else
may go wrong, and once they are over the state converges (for the lock's losers, after one
more apply).
"""

from __future__ import annotations

import subprocess

from bench.chaos_cases import Context, Row, timed
from bench.chaos_cases.kill_apply import converge_check, project

LOCKED = "holds the state lock"


def run(ctx: Context) -> list[Row]:
    trials = max(1, ctx.trials // 4)
    return [same_project(ctx, trials), two_projects(ctx, trials)]


def _outcome(proc: subprocess.Popen[str], log: str) -> list[str]:
    code = proc.wait(600)
    if code == 0:
        return []
    lines = [ln for ln in log.splitlines() if ln.startswith("error:")]
    if code == 1 and lines and LOCKED in lines[-1] and "Traceback" not in log:
        return []
    return [f"apply exited {code}: {(lines or log.strip().splitlines())[-1:]}"]


def same_project(ctx: Context, trials: int) -> Row:
    row = Row(f"two applies of one project at once ({ctx.servers} servers)")
    with timed(row), project(ctx, "twice", ctx.servers) as p:
        for version in range(1, trials + 1):
            p.write(str(version))
            p.log.write_text("")
            first, second = p.start("apply", "--yes"), p.start("apply", "--yes")
            first.wait(600)
            second.wait(600)
            log = p.log.read_text()  # both wrote there
            problems = _outcome(first, log) + _outcome(second, log)
            if "Traceback" in log:
                problems.append("a traceback was printed")
            if any(f"{LOCKED}" in ln for ln in log.splitlines()):
                p.apply()  # the loser's turn
            row.record(problems + p.problems(str(version)))
    return row


def two_projects(ctx: Context, trials: int) -> Row:
    row = Row("applies of two projects at once (one state directory)")
    servers = max(2, ctx.servers // 2)
    with timed(row), project(ctx, "left", servers) as a, project(ctx, "right", servers) as b:
        for version in range(1, trials + 1):
            for p in (a, b):
                p.write(str(version))
                p.log.write_text("")
            procs = [(p, p.start("apply", "--yes")) for p in (a, b)]
            problems: list[str] = []
            for p, proc in procs:
                proc.wait(600)
                problems += _outcome(proc, p.log.read_text())
            for p in (a, b):
                problems += converge_check(p, str(version))
            row.record(problems)
    return row
