"""scripts/ensure-docker.sh against stand-in ``docker`` and ``dockerd`` programs.

The script starts the engine on a fresh machine.  A machine restored from a snapshot has a cold
disk (dockerd may take seconds before its first log line) and may keep a stale pid file; the
script must wait for the process it started, not give up because the pid file is not written
yet, and report a real exit with the lines that start wrote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-docker.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script starts dockerd only as root")

# `docker info` answers once the stand-in engine has written its "up" file.
DOCKER = """\
#!/bin/sh
[ "$1" = info ] && [ -e "$FAKE_STATE/up" ]
"""

DOCKERD = {
    # Silent for 7 s (a cold start), then answers and keeps running.
    "slow": """\
        #!/bin/sh
        echo $$ > "$FAKE_STATE/pid"
        sleep 7
        echo 'level=info msg="API listen on /var/run/docker.sock"'
        touch "$FAKE_STATE/up"
        exec sleep 60
        """,
    # Refuses to start, as dockerd does when its pid file names a live process.
    "dies": """\
        #!/bin/sh
        echo $$ > "$FAKE_STATE/pid"
        if [ -e "$THC_DOCKERD_PIDFILE" ]; then
          echo 'failed to start daemon: pid file found, ensure docker is not running'
        else
          echo 'failed to start daemon: error initializing graphdriver'
        fi
        sleep 1
        exit 1
        """,
    # Starts only when no pid file is in its way, like dockerd.
    "pidfile": """\
        #!/bin/sh
        echo $$ > "$FAKE_STATE/pid"
        if [ -e "$THC_DOCKERD_PIDFILE" ]; then
          echo 'failed to start daemon: pid file found, ensure docker is not running'
          exit 1
        fi
        echo $$ > "$THC_DOCKERD_PIDFILE"
        touch "$FAKE_STATE/up"
        exec sleep 60
        """,
}


def _run(tmp_path: Path, kind: str, *, pidfile_pid: int | None = None, wait: int = 30):
    bindir = tmp_path / "bin"
    state = tmp_path / "state"
    bindir.mkdir()
    state.mkdir()
    for name, body in (("docker", DOCKER), ("dockerd", textwrap.dedent(DOCKERD[kind]))):
        program = bindir / name
        program.write_text(body)
        program.chmod(0o755)
    log = tmp_path / "dockerd.log"
    log.write_text("a line an earlier engine wrote\n")
    pidfile = tmp_path / "docker.pid"
    if pidfile_pid is not None:
        pidfile.write_text(f"{pidfile_pid}\n")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.update(
        PATH=f"{bindir}:{env['PATH']}",
        FAKE_STATE=str(state),
        THC_DOCKERD_LOG=str(log),
        THC_DOCKERD_PIDFILE=str(pidfile),
        THC_DOCKERD_WAIT=str(wait),
    )
    try:
        return subprocess.run(
            ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=wait + 30
        )
    finally:
        pid_file = state / "pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_dockerd_silent_for_seconds_is_waited_for(tmp_path: Path) -> None:
    done = _run(tmp_path, "slow")
    assert done.returncode == 0, done.stderr
    assert "the Docker engine answers" in done.stdout


def test_a_dockerd_that_exits_is_reported_with_the_lines_it_wrote(tmp_path: Path) -> None:
    done = _run(tmp_path, "dies")
    assert done.returncode == 1
    assert "dockerd exited while starting" in done.stderr
    assert "error initializing graphdriver" in done.stderr
    assert "an earlier engine" not in done.stderr


def test_a_stale_pid_file_is_cleared_before_dockerd_starts(tmp_path: Path) -> None:
    # The stale file names a live process that is not dockerd (this test's own).
    done = _run(tmp_path, "pidfile", pidfile_pid=os.getpid())
    assert done.returncode == 0, done.stderr
    assert "the Docker engine answers" in done.stdout
