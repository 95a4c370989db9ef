"""Baseline: docker-compose 1.29.2 on the equivalent compose file: ``up -d`` cold, one env
change (``-t 0``, and once with the default 10 s grace), ``down -t 0``."""

from __future__ import annotations

import subprocess

from harness import BENCH, CommandFailed, log, remove_labelled, run_timed
from session import Session

COMPOSE_VENV = BENCH / ".venv-compose"


def setup(session: Session) -> None:
    """Install docker-compose 1.29.2 in its own venv (``bench/setup_compose.sh``), unless
    ``--skip-compose``; ``session.compose`` is its command, ``compose_note`` what happened."""
    if session.args.skip_compose:
        session.compose_note = "skipped (--skip-compose)"
        return
    proc = subprocess.run(["bash", str(BENCH / "setup_compose.sh")], capture_output=True, text=True)
    exe = COMPOSE_VENV / "bin" / "docker-compose"
    if proc.returncode != 0 or not exe.exists():
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown"]
        session.compose_note = f"not installed ({reason[0]})"
        return
    session.compose = [str(exe)]
    session.compose_note = "docker-compose " + proc.stdout.strip().splitlines()[-1].split()[-1]


def run(session: Session, n: int, grace_step: bool = True) -> dict[str, float | None]:
    """Cold ``up -d``; one env change with ``-t 0``; the change back with compose's default
    10 s stop grace (info only); ``down -t 0``.  ``-t 0`` matches ours, which force-removes
    (SIGKILL) instead of stopping with a grace period; a shell as PID 1 ignores TERM."""
    out: dict[str, float | None] = {
        "up": None,
        "change": None,
        "change_default_grace": None,
        "down": None,
    }
    if not session.compose:
        return out
    fleet = session.fleet("c", n)
    base = session.write("compose.yaml", fleet.compose_yaml())
    changed = session.write("compose-changed.yaml", fleet.compose_yaml(changed=True))
    cmd = [*session.compose, "-p", f"thcbc{session.run_id}", "--ansi", "never", "-f"]
    env = dict(session.env, COMPOSE_INTERACTIVE_NO_CLI="1")
    steps = [
        ("up", [str(base), "up", "-d"], "up -d (cold)"),
        ("change", [str(changed), "up", "-d", "-t", "0"], "up -d -t 0 (one env changed)"),
        (
            "change_default_grace",
            [str(base), "up", "-d"],
            "up -d (one env changed back, default 10 s grace)",
        ),
        ("down", [str(base), "down", "-t", "0"], "down -t 0"),
    ]
    if not grace_step:  # ~10 s of waiting, not work: measured once
        steps = [step for step in steps if step[0] != "change_default_grace"]
    try:
        for key, argv, what in steps:
            result = run_timed([*cmd, *argv], env, timeout=60 + 3 * n)
            out[key] = result.seconds
            log(f"docker-compose {what} x{n}: {result.seconds:.2f}s (cpu {result.cpu:.2f}s)")
    except CommandFailed as exc:
        session.errors.append(f"docker-compose: {exc}")
        log(f"ERROR docker-compose: {exc}")
    finally:
        remove_labelled(session.label)
        remove_labelled(f"com.docker.compose.project=thcbc{session.run_id}")
    return out
