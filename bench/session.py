"""One bench run's shared state: its id, temporary ToolHive state, engine, ``thv`` command and
errors, and the steps every scenario takes (run ``thv``, time it, check and clean up a fleet).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleet import Fleet
from harness import (
    HEALTH_TIMEOUT,
    RUN_LABEL,
    SERVERS,
    SHARED_HOST,
    CommandFailed,
    EngineHung,
    Timed,
    containers_with,
    end_processes,
    engine_answers,
    log,
    proxies_of,
    remove_labelled,
    run_timed,
    thv_command,
)
from private_engine import PrivateEngine


class Session:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = f"{time.strftime('%H%M%S')}{secrets.token_hex(2)}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"thc-bench-{self.run_id}-"))
        self.thv, self.python = thv_command()
        self.env = dict(os.environ)
        for var, sub in (
            ("XDG_STATE_HOME", "state"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
        ):
            (self.tmp / sub).mkdir()
            self.env[var] = str(self.tmp / sub)
        self.env["NO_COLOR"] = "1"
        # Measure what users get: an installed package has its bytecode cached.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.project = f"thcbench-{self.run_id}"
        self.label = f"{RUN_LABEL}={self.run_id}"
        self.errors: list[str] = []
        self.extra: dict[str, Any] = {}
        self.compose: list[str] | None = None
        self.compose_note = ""
        self.engine = ""
        self.private: PrivateEngine | None = None
        self.network = args.network

    @property
    def rm_parallelism(self) -> int:
        """Clean-up removals: parallel without a network, serial on a bridge (moby#46661)."""
        return 8 if self.network == "none" else 1

    # -- engine ----------------------------------------------------------------------------
    def choose_engine(self) -> None:
        want = self.args.engine
        host = os.environ.get("DOCKER_HOST", "").strip() or SHARED_HOST
        if want in ("auto", "shared"):
            os.environ["DOCKER_HOST"] = host
            if engine_answers():
                self.engine = f"shared ({host})"
            elif want == "shared":
                raise EngineHung(
                    f"the engine at {host} does not answer `docker info` within "
                    f"{HEALTH_TIMEOUT:.0f}s (hung? see bench/README.md); try "
                    "--engine private"
                )
            else:
                log(
                    f"the engine at {host} does not answer `docker info` within "
                    f"{HEALTH_TIMEOUT:.0f}s: using a private dockerd instead"
                )
        if not self.engine:
            self.private = PrivateEngine()
            os.environ["DOCKER_HOST"] = self.private.start()
            self.engine = f"private dockerd ({self.private.host}, a bridge of its own)"
        self.env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]

    def check_engine(self, before: str) -> None:
        if not engine_answers():
            raise EngineHung(
                f"the engine stopped answering (before {before}); if `docker info` "
                "hangs, dockerd is deadlocked (moby/moby#46661): restart it"
            )

    # -- steps -----------------------------------------------------------------------------
    # each kind of run gets its own container names, so nothing can collide
    def fleet(self, kind: str, n: int, state: str = "running") -> Fleet:
        image, command = SERVERS[self.args.server]
        return Fleet(
            prefix=f"thcb{self.run_id}{kind}",
            n=n,
            run_id=self.run_id,
            project=self.project,
            image=image,
            command=command,
            network=self.network,
            state=state,
        )

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def attempt(self, what: str, func: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        try:
            return func(*a, **kw)
        except (CommandFailed, subprocess.SubprocessError, OSError) as exc:
            msg = f"{what}: {exc}"
            log(f"ERROR {msg}")
            self.errors.append(msg)
            return None

    def thv_run(self, *argv: str, timeout: float = 300) -> Timed:
        return run_timed([*self.thv, *argv], self.env, cwd=self.tmp, timeout=timeout)

    def timed_step(
        self, key: str, out: dict[str, Any], what: str, *argv: str, timeout: float
    ) -> bool:
        result = self.attempt(what, self.thv_run, *argv, timeout=timeout)
        if result is None:
            out[key] = None
            return False
        out[key] = result.seconds
        out[f"{key}_cpu"] = result.cpu
        log(f"{what}: {result.seconds:.2f}s (cpu {result.cpu:.2f}s)")
        return True

    def check_converged(self, fleet: Fleet, path: Path) -> bool:
        """The no-op plan must really be a no-op, or its timing means nothing."""
        proc = subprocess.run(
            [*self.thv, "plan", "-f", str(path), "--detailed-exitcode"],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=self.tmp,
        )
        states = [c.get("State") for c in containers_with(self.label)]
        want = "running" if fleet.state == "running" else None
        good = sum(1 for s in states if (s == want if want else s != "running"))
        if proc.returncode != 0 or good != fleet.n:
            msg = (
                f"after apply of {fleet.n}: plan --detailed-exitcode={proc.returncode}, "
                f"{good}/{fleet.n} containers {fleet.state}: the no-op plan is NOT a no-op"
            )
            self.errors.append(msg)
            log(f"WARNING {msg}")
            return False
        return True

    def check_clean(self, fleet: Fleet, what: str) -> None:
        left = len(containers_with(self.label))
        proxies = proxies_of(fleet.prefix)
        if left or proxies:
            msg = f"{what} left {left} container(s) and {len(proxies)} proxy process(es) behind"
            self.errors.append(msg)
            log(f"WARNING {msg}")

    def cleanup_fleet(self, fleet: Fleet) -> None:
        end_processes(proxies_of(fleet.prefix))
        remove_labelled(self.label, self.python, self.rm_parallelism)

    def cleanup(self) -> None:
        try:
            end_processes(proxies_of(f"thcb{self.run_id}"))
            if os.environ.get("DOCKER_HOST") and engine_answers(5):
                remove_labelled(self.label, self.python, self.rm_parallelism)
                remove_labelled(f"com.docker.compose.project=thcbc{self.run_id}")
            elif self.engine:
                log(
                    f"engine not answering: containers labelled {self.label} may be left; "
                    f"remove them with: docker rm -f $(docker ps -aq --filter label={self.label})"
                )
        finally:
            if self.private:
                self.private.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
