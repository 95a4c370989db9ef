"""The engine SIGKILLed in the middle of an apply, then started again (a private engine,
``tests/support/private_engine.py``; never the shared one).

The apply must end with one clear sentence per failed action (``cannot reach the container
engine …``), exit 1, no traceback; once the engine is back (its containers ``Exited (137)``,
not restarted), one ``thv apply`` converges.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import docker

from bench.chaos_cases import Context, Row, timed
from bench.chaos_cases.kill_apply import converge_check
from tests.support.private_engine import (
    EngineError,
    PrivateEngine,
    private_engine_available,
    running_private_engine,
)
from tests.support.thv_project import ThvProject

SCENARIO = "engine SIGKILLed mid-apply, restarted: clear error, then convergence"


def run(ctx: Context) -> list[Row]:
    trials = max(1, ctx.trials // 6)
    why = private_engine_available() if ctx.private_engine else "private engines disabled"
    if why:
        return [Row(SCENARIO, detail=f"not run: {why}")]
    row = Row(SCENARIO)
    with timed(row), running_private_engine(ctx.image) as engine:
        client = docker.DockerClient(base_url=engine.host)
        directory = ctx.workdir / "engine-kill"
        directory.mkdir(parents=True, exist_ok=True)
        servers = min(ctx.servers, 6)
        p = ThvProject(ctx.project_name("engine"), directory, client, ctx.image, servers=servers)
        p.extra_env = {"DOCKER_HOST": engine.host}
        try:
            p.write("0")
            p.apply()
            for version in range(1, trials + 1):
                p.write(str(version))
                row.record(_trial(ctx, p, engine, str(version)))
                ctx.log(f"  engine-kill trial {version}: {row.failures[-1:] or 'converged'}")
        finally:
            if engine.alive():
                p.thv("down", "--yes", timeout=300)
            client.close()
    return [row]


def _trial(ctx: Context, p: ThvProject, engine: PrivateEngine, version: str) -> list[str]:
    old = {c.id for c in p.containers()}
    proc = p.start("apply", "--yes")
    deadline = time.monotonic() + 60
    while proc.poll() is None and not old - {c.id for c in p.containers()}:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    time.sleep(ctx.rng.uniform(0.0, 0.5))
    engine.kill()
    try:
        code = proc.wait(180)
    except subprocess.TimeoutExpired:
        proc.kill()
        return ["the apply did not end once the engine was gone"]
    out = p.log.read_text()
    problems = []
    if code not in (0, 1):
        problems.append(f"apply exited {code}")
    if "Traceback" in out:
        problems.append("a traceback was printed")
    if code == 1 and "cannot reach the container engine" not in out:
        failed = [ln for ln in out.splitlines() if " failed" in ln][:2]
        problems.append(f"no clear engine error: {failed}")
    with contextlib.suppress(OSError):
        p.log.write_text("")
    try:
        restart(engine)
    except EngineError as exc:
        return [*problems, f"the private engine did not start again: {exc}"]
    return problems + converge_check(p, version)


def restart(engine: PrivateEngine) -> None:
    """Start the killed engine again; a second try when dockerd gives up at once (it may
    still find the dead one's containerd socket), with its log's last line if it fails."""
    for attempt in range(2):
        try:
            engine.start()
            return
        except EngineError:
            if attempt:
                tail = engine.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise EngineError(f"{tail}") from None
            time.sleep(2)
