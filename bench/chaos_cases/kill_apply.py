"""``thv apply`` SIGKILLed at a random point, then ``thv apply`` again: it must succeed, and
then everything has converged (``ThvProject.problems``: an empty re-plan, one running
container per server with the run config's hash, no orphan container or proxy process,
every state file parses).

Two rows:

- a random point of an apply of ``ctx.servers`` servers with a change each time (every
  trial changes an env var, so every server is recreated; every third trial drops a server
  and the next brings it back): killed after a random delay up to the length of a whole
  apply, until ``ctx.trials`` applies were really killed part-way;
- the engine's work in flight: the killed apply talks to a slow engine (its creates and
  removes reach the engine 0.2–1.5 s late, ``tests/support/slow_engine.py``) and is killed
  the moment one of them is held back; the next apply meets them landing.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

from bench.chaos_cases import Context, Row, timed
from tests.support.slow_engine import Rule, slow_engine
from tests.support.thv_project import PROJECT_LABEL, ThvProject


def run(ctx: Context) -> list[Row]:
    return [random_kills(ctx), in_flight_kills(ctx, max(1, ctx.trials // 2))]


@contextlib.contextmanager
def project(ctx: Context, tag: str, servers: int) -> Iterator[ThvProject]:
    directory = ctx.workdir / tag
    directory.mkdir(parents=True, exist_ok=True)
    p = ThvProject(ctx.project_name(tag), directory, ctx.docker, ctx.image, servers=servers)
    try:
        yield p
    finally:
        p.thv("down", "--yes", timeout=300)
        for container in ctx.docker.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={p.name}"}
        ):
            with contextlib.suppress(Exception):
                container.remove(force=True)


def converge_check(p: ThvProject, version: str) -> list[str]:
    """The next apply succeeds, and then nothing is left to do or to clean."""
    result = p.apply()
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        return [f"the next apply exited {result.returncode}: {' / '.join(tail)}"]
    return p.problems(version)


def kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; False if it had finished by then."""
    try:
        proc.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        return True


def random_kills(ctx: Context) -> Row:
    row = Row(f"SIGKILL of thv apply at a random point ({ctx.servers} servers, changes)")
    with timed(row), project(ctx, "kill", ctx.servers) as p:
        p.write("0")
        began = time.monotonic()
        first = p.apply()
        whole = time.monotonic() - began
        if first.returncode != 0:
            row.record([f"the first apply failed: {first.stdout[-300:]}"])
            return row
        attempts, version = 0, 0
        while row.trials < ctx.trials and attempts < 3 * ctx.trials:
            attempts += 1
            version += 1
            servers = ctx.servers - (1 if version % 3 == 0 else 0)
            p.write(str(version), servers=servers)
            delay = ctx.rng.uniform(0.05, whole)
            if not kill_after(p.start("apply", "--yes"), delay):
                continue  # finished first: not a kill trial
            problems = converge_check(p, str(version))
            row.record(problems)
            ctx.log(f"  kill trial {row.trials}: after {delay:.2f}s -> {problems or 'converged'}")
            if problems:
                p.apply()  # start the next trial from a converged state
    row.detail = row.detail or f"{row.trials} applies killed part-way (of {attempts} started)"
    return row


def in_flight_kills(ctx: Context, trials: int) -> Row:
    row = Row("SIGKILL with creates/removes still in flight (slow engine)")
    servers = max(2, ctx.servers // 2)
    held = threading.Event()
    state = {"target": 1, "seen": 0}

    def seen(method: str, path: str) -> float | None:
        state["seen"] += 1
        if state["seen"] >= state["target"]:
            held.set()
        return ctx.rng.uniform(0.2, 1.5)  # how late the engine carries it out

    rule = Rule(r"^(POST /containers/create|DELETE /containers/)", 1.5)
    with (
        timed(row),
        project(ctx, "inflight", servers) as p,
        slow_engine(rule, on_request=seen) as engine,
    ):
        p.write("0")
        p.apply()
        for version in range(1, trials + 1):
            p.write(str(version))
            held.clear()
            state.update(target=ctx.rng.randint(1, servers), seen=0)
            proc = p.start("apply", "--yes", DOCKER_HOST=engine.host)
            if not held.wait(120):
                row.record(["no create or remove reached the slow engine"])
                proc.kill()
                continue
            time.sleep(ctx.rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            problems = converge_check(p, str(version))  # directly: the held work lands meanwhile
            row.record(problems)
            ctx.log(f"  in-flight trial {version}: {problems or 'converged'}")
            if problems:
                p.apply()
        p.apply()
    return row
