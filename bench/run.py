"""toolhive-compose benchmark: whole processes, wall clock, against raw SDK and docker-compose.

    python bench/run.py [--n 50] [--noop-n 500] [--skip-compose] [--runs 5] [--repeat 3]
                        [--engine auto|shared|private] [--network none|bridge]
                        [--server mcp-sh|sleep] [--noop-running] [--profile]

See bench/README.md for what each number means.  Everything this run creates carries the
label ``thc-bench.run=<run id>`` and is removed at the end (and stale leftovers of dead runs at
the start); ToolHive state goes to a temporary XDG_STATE_HOME/XDG_DATA_HOME/XDG_CACHE_HOME.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
IMAGE = "thc-test/busybox:1"  # the project's test image (busybox-static rootfs)
MCP_IMAGE = "thc-bench/busybox-mcp:1"  # the same rootfs plus /bin/mcp-sh (below)
RUN_LABEL = "thc-bench.run"
PID_LABEL = "thc-bench.pid"
COMPOSE_VENV = BENCH / ".venv-compose"
SHARED_HOST = "unix:///var/run/docker.sock"
PRIVATE_DIR = Path("/var/tmp/thc-bench-engine")  # the bench's own dockerd (--engine private)
HEALTH_TIMEOUT = 15.0

TARGETS = {
    "cold_apply_ratio": 1.25,  # ours (containers + proxies + MCP readiness) / raw SDK create+start
    "noop_plan_small": 0.35,  # seconds, at N=50
    "noop_plan_large": 0.8,  # seconds, at N=500
    "one_change_ratio": 0.4,  # ours / docker-compose
    "down_ratio": 1.15,  # ours / raw SDK parallel remove
}

# A stdio "MCP server" in busybox sh: answers every JSON-RPC request that has an id (initialize,
# tools/list, anything else with an empty result), ignores notifications, and otherwise idles
# in `read` like `sleep` would.  `thv apply` waits for an MCP initialize → tools/list round trip
# through each workload's proxy, which `sleep 3600` never gives.
MCP_SH = (
    "while read -r l; do "
    """case "$l" in *'"id"'*) ;; *) continue ;; esac; """
    r"""r=${l#*\"id\":}; id=${r%%[,\}]*}; """
    """case "$l" in """
    """*'"initialize"'*) echo "{\\"jsonrpc\\":\\"2.0\\",\\"id\\":$id,\\"result\\":"""
    """{\\"protocolVersion\\":\\"2025-06-18\\",\\"capabilities\\":{\\"tools\\":{}},"""
    """\\"serverInfo\\":{\\"name\\":\\"busybox-sh\\",\\"version\\":\\"1\\"}}}" ;; """
    """*'"tools/list"'*) echo "{\\"jsonrpc\\":\\"2.0\\",\\"id\\":$id,\\"result\\":"""
    """{\\"tools\\":[]}}" ;; """
    """*) echo "{\\"jsonrpc\\":\\"2.0\\",\\"id\\":$id,\\"result\\":{}}" ;; """
    "esac; done"
)
SERVERS = {  # --server: (image, command)
    "mcp-sh": (MCP_IMAGE, ["mcp-sh"]),
    "sleep": (IMAGE, ["sleep", "3600"]),
}


# -- small helpers ---------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CommandFailed(RuntimeError):
    pass


class EngineHung(RuntimeError):
    pass


@dataclass
class Timed:
    seconds: float
    cpu: float  # user+sys of the process (and the children it waited for)
    stdout: str
    stderr: str


def run_timed(
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 300,
) -> Timed:
    """Run one whole process; wall clock from fork to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{shlex.join(cmd)[:200]} timed out after {timeout:.0f}s") from None
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
        raise CommandFailed(
            f"{shlex.join(cmd)[:200]} exited {proc.returncode}: "
            + " | ".join(line[:300] for line in tail)
        )
    return Timed(seconds, cpu, proc.stdout, proc.stderr)


def median_of(cmd: Sequence[str], env: dict[str, str], runs: int, cwd: Path) -> dict:
    """Median wall time of ``runs`` runs (after one warm-up): hyperfine if present."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        out = cwd / f"hyperfine-{secrets.token_hex(4)}.json"
        try:
            run_timed(
                [
                    hyperfine,
                    "-N",
                    "--warmup",
                    "1",
                    "--runs",
                    str(runs),
                    "--style",
                    "none",
                    "--export-json",
                    str(out),
                    shlex.join(cmd),
                ],
                env,
                cwd=cwd,
                timeout=300,
            )
            data = json.loads(out.read_text())["results"][0]
            return {
                "median": data["median"],
                "min": data["min"],
                "max": data["max"],
                "times": data["times"],
                "tool": "hyperfine",
            }
        except (CommandFailed, KeyError, ValueError) as exc:
            log(f"hyperfine failed ({exc}); falling back to a perf_counter loop")
    run_timed(cmd, env, cwd=cwd)  # warm-up
    times = [run_timed(cmd, env, cwd=cwd).seconds for _ in range(runs)]
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "times": times,
        "tool": "perf_counter loop",
    }


def docker(
    *args: str, timeout: float = 120, check: bool = True, stdin: Any = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["docker", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            stdin=stdin,
        )
    except subprocess.TimeoutExpired:
        raise EngineHung(
            f"`docker {' '.join(args)[:80]}` did not answer in {timeout:.0f}s"
        ) from None


def engine_answers(timeout: float = HEALTH_TIMEOUT) -> bool:
    """`docker info` touches the daemon's network controller too, so it also notices a
    libnetwork deadlock (moby/moby#46661), which `docker version` does not."""
    try:
        return docker("info", "--format", "{{.ID}}", timeout=timeout, check=False).returncode == 0
    except EngineHung:
        return False


def containers_with(label: str) -> list[dict]:
    out = docker("ps", "-a", "--filter", f"label={label}", "--format", "{{json .}}").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def remove_labelled(label: str, python: str | None = None, parallelism: int = 8) -> int:
    """Force-remove every container with ``label`` (and compose networks with it): in
    parallel through the raw SDK script when ``python`` is given, stragglers one by one."""
    ids = [c["ID"] for c in containers_with(label)]
    if ids and python:
        run_timed(
            [
                python,
                str(BENCH / "raw_sdk.py"),
                "remove",
                "--label",
                label,
                "--parallelism",
                str(parallelism),
            ],
            check=False,
            timeout=600,
        )
        ids = [c["ID"] for c in containers_with(label)]
    for cid in ids:
        docker("rm", "-f", cid, check=False, timeout=120)
    nets = docker("network", "ls", "-q", "--filter", f"label={label}", check=False).stdout
    for net in nets.split():
        docker("network", "rm", net, check=False)
    return len(ids)


def proxies_of(prefix: str) -> list[int]:
    """PIDs of live `thv start <name> --foreground` proxies whose workload name has prefix."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        for i, arg in enumerate(args[:-1]):
            if arg == "start" and args[i + 1].startswith(prefix):
                pids.append(int(entry.name))
                break
    return pids


def end_processes(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def clean_stale_runs() -> None:
    """Remove containers of earlier bench runs whose process is gone."""
    stale = []
    for c in containers_with(RUN_LABEL):
        labels = dict(kv.split("=", 1) for kv in c.get("Labels", "").split(",") if "=" in kv)
        pid = labels.get(PID_LABEL, "")
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue
        stale.append(c["ID"])
    for cid in stale:  # one at a time: they may be bridged (see README, moby#46661)
        docker("rm", "-f", cid, check=False, timeout=120)
    if stale:
        log(f"removed {len(stale)} stale container(s) of earlier bench runs")


def ensure_image(shared: bool) -> None:
    """thc-test/busybox:1 (the project's script on the shared engine, else the same recipe
    inline) and thc-bench/busybox-mcp:1 (that rootfs plus /bin/mcp-sh, tagged by a hash of it)."""
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        script = REPO / "scripts" / "build-images.sh"
        built = False
        if shared and script.exists():
            log(f"{IMAGE} missing: running scripts/build-images.sh busybox")
            built = subprocess.run(["bash", str(script), "busybox"], timeout=600).returncode == 0
        if not built:
            log(f"{IMAGE} missing: importing a busybox-static rootfs")
            _import_rootfs(IMAGE, {})
    recipe = hashlib.sha256(MCP_SH.encode()).hexdigest()[:16]
    have = docker(
        "image",
        "inspect",
        "--format",
        '{{index .Config.Labels "thc-bench.recipe"}}',
        MCP_IMAGE,
        check=False,
    )
    if have.returncode != 0 or have.stdout.strip() != recipe:
        _import_rootfs(MCP_IMAGE, {"mcp-sh": "#!/bin/sh\n" + MCP_SH + "\n"}, recipe)


def _import_rootfs(tag: str, scripts: dict[str, str], recipe: str = "") -> None:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "busybox-static"], check=True, timeout=600
        )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in ("sh", "sleep", "cat", "echo"):
            (root / "bin" / applet).symlink_to("busybox")
        for name, text in scripts.items():
            (root / "bin" / name).write_text(text)
            (root / "bin" / name).chmod(0o755)
        change = ["--change", f"LABEL thc-bench.recipe={recipe}"] if recipe else []
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        docker("import", *change, "-", tag, stdin=tar.stdout)
        tar.wait()


def thv_command() -> tuple[list[str], str]:
    """(argv prefix for thv, the python interpreter it runs on)."""
    venv = REPO / ".venv" / "bin"
    if (venv / "thv").exists():
        return [str(venv / "thv")], str(venv / "python")
    return [sys.executable, "-m", "toolhive_compose"], sys.executable


class PrivateEngine:
    """A dockerd of the bench's own (data, exec root and socket under PRIVATE_DIR; no
    default bridge, no iptables), for when the shared engine is busy or hung.

    Side effect: a dockerd started with ``--bridge=none`` deletes the host's ``docker0``, so the
    shared engine must be restarted afterwards before it can run bridged containers again."""

    def __init__(self) -> None:
        self.dir = PRIVATE_DIR
        self.host = f"unix://{self.dir}/docker.sock"
        self.pid: int | None = None

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.dir / "docker.pid"
        env = dict(os.environ, DOCKER_HOST=self.host)
        with open(self.dir / "dockerd.log", "ab") as logf:
            if pidfile.exists():  # a leftover of a bench run that died: stop it first
                old = int(pidfile.read_text().strip() or 0)
                if (
                    old
                    and Path(f"/proc/{old}/comm").exists()
                    and Path(f"/proc/{old}/comm").read_text().strip() == "dockerd"
                ):
                    self._stop(old)
            proc = subprocess.Popen(
                [
                    "dockerd",
                    "--data-root",
                    str(self.dir / "data"),
                    "--exec-root",
                    str(self.dir / "exec"),
                    "--pidfile",
                    str(pidfile),
                    "-H",
                    self.host,
                    "--bridge=none",
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = proc.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EngineHung(f"private dockerd exited (log: {self.dir / 'dockerd.log'})")
            if subprocess.run(["docker", "version"], env=env, capture_output=True).returncode == 0:
                return self.host
            time.sleep(0.5)
        raise EngineHung("private dockerd did not answer within 60s")

    def stop(self) -> None:
        if self.pid:
            self._stop(self.pid)
            self.pid = None

    @staticmethod
    def _stop(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
            if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
                break
            time.sleep(0.2)


# -- inputs ----------------------------------------------------------------------------------
def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid double-quoted YAML scalar


@dataclass
class Fleet:
    """N identical servers, as a workloads file, a compose file and raw SDK specs."""

    prefix: str  # container name prefix, unique per run and per kind
    n: int
    run_id: str
    project: str
    image: str
    command: list[str]
    network: str  # none | bridge
    state: str = "running"

    def names(self) -> list[str]:
        return [f"{self.prefix}-s{i:03d}" for i in range(self.n)]

    def env_of(self, i: int, changed: bool) -> dict[str, str]:
        return {"X": "2" if changed and i == 0 else "1"}

    def run_labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, PID_LABEL: str(os.getpid())}

    def workloads_yaml(self, changed: bool = False) -> str:
        profile = "none" if self.network == "none" else "network"
        args = "[" + ", ".join(_q(a.replace("$", "$$")) for a in self.command) + "]"
        lines = [
            "version: 1",
            f"project: {self.project}",
            "labels: {" + ", ".join(f"{k}: {_q(v)}" for k, v in self.run_labels().items()) + "}",
            "servers:",
        ]
        for i, name in enumerate(self.names()):
            env = ", ".join(f"{k}: {_q(v)}" for k, v in self.env_of(i, changed).items())
            lines += [
                f"  {name}:",
                f"    image: {self.image}",
                f"    args: {args}",
                f"    env: {{{env}}}",
                f"    permission_profile: {profile}",
            ]
            if self.state != "running":
                lines.append(f"    state: {self.state}")
        return "\n".join(lines) + "\n"

    def thv_like_labels(self, name: str) -> dict[str, str]:
        """The labels thv puts on a stdio container (hash value is a stand-in of equal size)."""
        return {
            **self.run_labels(),
            "toolhive": "true",
            "toolhive-name": name,
            "toolhive-basename": name,
            "toolhive-transport": "stdio",
            "toolhive-port": "20000",
            "toolhive-network-isolation": "false",
            "toolhive-compose.project": self.project,
            "toolhive-compose.config-hash": "0" * 64,
        }

    def thv_like_env(self, i: int, changed: bool = False) -> dict[str, str]:
        return {**self.env_of(i, changed), "MCP_TRANSPORT": "stdio"}

    def raw_specs(self) -> list[dict]:
        return [
            {
                "name": name,
                "image": self.image,
                "command": self.command,
                "env": self.thv_like_env(i),
                "labels": self.thv_like_labels(name),
                "network_mode": self.network,
            }
            for i, name in enumerate(self.names())
        ]

    def compose_yaml(self, changed: bool = False) -> str:
        command = "[" + ", ".join(_q(a.replace("$", "$$")) for a in self.command) + "]"
        lines = ['version: "2.4"', "services:"]
        for i, name in enumerate(self.names()):
            lines += [
                f"  {name}:",
                f"    image: {self.image}",
                f"    container_name: {name}",
                f"    command: {command}",
                "    environment:",
            ]
            lines += [f"      {k}: {_q(v)}" for k, v in self.thv_like_env(i, changed).items()]
            lines += ["    labels:"]
            lines += [f"      {k}: {_q(v)}" for k, v in self.thv_like_labels(name).items()]
            lines += [
                "    stdin_open: true",
                f"    network_mode: {self.network}",
                "    cap_drop: [ALL]",
                '    security_opt: ["label:disable"]',
                "    restart: unless-stopped",
            ]
        return "\n".join(lines) + "\n"


# -- the run ---------------------------------------------------------------------------------
@dataclass
class Row:
    scenario: str
    ours: float | None
    baselines: dict[str, float | None] = field(default_factory=dict)
    ratio_to: str = ""  # which baseline the ratio is against
    target: str = ""  # e.g. "<= 0.35 s" or "<= 0.4x"
    limit: float | None = None
    kind: str = "info"  # seconds | ratio | info
    note: str = ""

    @property
    def ratio(self) -> float | None:
        base = self.baselines.get(self.ratio_to)
        if self.ours is None or not base:
            return None
        return self.ours / base

    @property
    def verdict(self) -> str:
        if self.kind == "info":
            return "info"
        value = self.ours if self.kind == "seconds" else self.ratio
        if value is None or self.limit is None:
            return "n/a"
        return "PASS" if value <= self.limit else "FAIL"


class Bench:
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
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.errors: list[str] = []
        self.extra: dict[str, Any] = {}
        self.compose: list[str] | None = None
        self.compose_note = ""
        self.engine = ""
        self.private: PrivateEngine | None = None
        self.network = args.network
        self.samples: dict[str, list[float]] = {}

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
            self.engine = f"private dockerd ({self.private.host}, no bridge)"
            if self.network != "none":
                log("the private engine has no bridge: using --network none")
                self.network = "none"
        self.env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]

    def check_engine(self, before: str) -> None:
        if not engine_answers():
            raise EngineHung(
                f"the engine stopped answering (before {before}); if `docker info` "
                "hangs, dockerd is deadlocked (moby/moby#46661): restart it"
            )

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

    def timed_step(self, key: str, out: dict, what: str, *argv: str, timeout: float) -> bool:
        result = self.attempt(what, self.thv_run, *argv, timeout=timeout)
        if result is None:
            out[key] = None
            return False
        out[key] = result.seconds
        out[f"{key}_cpu"] = result.cpu
        log(f"{what}: {result.seconds:.2f}s (cpu {result.cpu:.2f}s)")
        return True

    # -- baselines -------------------------------------------------------------------------
    def raw_sdk(self, n: int, parallelism: int) -> tuple[float | None, float | None]:
        fleet = self.fleet(f"r{parallelism}", n)
        spec = self.write(f"raw-{parallelism}.json", json.dumps(fleet.raw_specs()))
        script = str(BENCH / "raw_sdk.py")
        try:
            created = run_timed(
                [
                    self.python,
                    script,
                    "create",
                    "--spec",
                    str(spec),
                    "--parallelism",
                    str(parallelism),
                ],
                self.env,
                timeout=60 + 3 * n,
            )
            log(
                f"raw SDK create+start x{n} p{parallelism}: {created.seconds:.2f}s "
                f"(cpu {created.cpu:.2f}s)"
            )
            # nothing else of this run exists while the raw baseline runs
            removed = run_timed(
                [
                    self.python,
                    script,
                    "remove",
                    "--label",
                    self.label,
                    "--parallelism",
                    str(parallelism),
                ],
                self.env,
                timeout=60 + 2 * n,
            )
            log(
                f"raw SDK remove x{n} p{parallelism}: {removed.seconds:.2f}s "
                f"(cpu {removed.cpu:.2f}s)"
            )
            return created.seconds, removed.seconds
        except CommandFailed as exc:
            self.errors.append(f"raw SDK p{parallelism}: {exc}")
            log(f"ERROR raw SDK p{parallelism}: {exc}")
            return None, None
        finally:
            remove_labelled(self.label)

    def setup_compose(self) -> None:
        if self.args.skip_compose:
            self.compose_note = "skipped (--skip-compose)"
            return
        proc = subprocess.run(
            ["bash", str(BENCH / "setup_compose.sh")], capture_output=True, text=True
        )
        exe = COMPOSE_VENV / "bin" / "docker-compose"
        if proc.returncode != 0 or not exe.exists():
            reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown"]
            self.compose_note = f"not installed ({reason[0]})"
            return
        self.compose = [str(exe)]
        self.compose_note = "docker-compose " + proc.stdout.strip().splitlines()[-1].split()[-1]

    def compose_runs(self, n: int, grace_step: bool = True) -> dict[str, float | None]:
        """Cold ``up -d``; one env change with ``-t 0``; the change back with compose's default
        10 s stop grace (info only); ``down -t 0``.  ``-t 0`` matches ours, which force-removes
        (SIGKILL) instead of stopping with a grace period; a shell as PID 1 ignores TERM."""
        out: dict[str, float | None] = {
            "up": None,
            "change": None,
            "change_default_grace": None,
            "down": None,
        }
        if not self.compose:
            return out
        fleet = self.fleet("c", n)
        base = self.write("compose.yaml", fleet.compose_yaml())
        changed = self.write("compose-changed.yaml", fleet.compose_yaml(changed=True))
        cmd = [*self.compose, "-p", f"thcbc{self.run_id}", "--ansi", "never", "-f"]
        env = dict(self.env, COMPOSE_INTERACTIVE_NO_CLI="1")
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
            self.errors.append(f"docker-compose: {exc}")
            log(f"ERROR docker-compose: {exc}")
        finally:
            remove_labelled(self.label)
            remove_labelled(f"com.docker.compose.project=thcbc{self.run_id}")
        return out

    # -- ours ------------------------------------------------------------------------------
    def preflight(self) -> bool:
        """One workload first: when even that cannot come up (e.g. readiness never answers),
        the N-sized runs would only time out, one readiness timeout per wave of actions."""
        fleet = self.fleet("p", 1)
        path = self.write("preflight.yaml", fleet.workloads_yaml())
        try:
            took = self.thv_run("apply", "-f", str(path), "--yes", timeout=150)
            log(f"preflight: thv apply of one workload: {took.seconds:.2f}s")
            return True
        except CommandFailed as exc:
            msg = (
                f"preflight: thv apply of ONE {self.args.server} workload failed, so the "
                f"x{self.args.n} scenarios are skipped: {exc}"
            )
            self.errors.append(msg)
            log(f"ERROR {msg}")
            return False
        finally:
            self.attempt(
                "preflight down", self.thv_run, "down", "-f", str(path), "--yes", timeout=120
            )
            self.cleanup_fleet(fleet)

    def ours_small(self, n: int, first: bool = True) -> dict[str, Any]:
        """Cold apply, (first time only: no-op plan, phases, imports), one change, down."""
        fleet = self.fleet("t", n)
        base = self.write("workloads.yaml", fleet.workloads_yaml())
        changed = self.write("workloads-changed.yaml", fleet.workloads_yaml(changed=True))
        out: dict[str, Any] = {}
        try:
            if self.timed_step(
                "apply",
                out,
                f"thv apply x{n} (cold)",
                "apply",
                "-f",
                str(base),
                "--yes",
                timeout=120 + 3 * n,
            ):
                out["converged"] = self.check_converged(fleet, base)
            if out.get("apply") is not None and first:
                out["plan"] = self.attempt(
                    "thv plan (no-op)",
                    median_of,
                    [*self.thv, "plan", "-f", str(base)],
                    self.env,
                    self.args.runs,
                    self.tmp,
                )
                if out["plan"]:
                    log(f"thv plan no-op x{n}: median {out['plan']['median']:.3f}s")
                out["phases"] = self.attempt("phases", self.phases, base)
                self.extra["importtime"] = self.attempt("importtime", self.importtime, base)
                if self.args.profile:
                    self.extra["cprofile_plan"] = self.attempt("cProfile", self.cprofile, base)
            if out.get("apply") is not None:
                self.timed_step(
                    "change",
                    out,
                    "thv apply (one env changed)",
                    "apply",
                    "-f",
                    str(changed),
                    "--yes",
                    timeout=180,
                )
            self.timed_step(
                "down",
                out,
                f"thv down x{n}",
                "down",
                "-f",
                str(changed),
                "--yes",
                timeout=120 + 2 * n,
            )
            self.check_clean(fleet, "thv down")
        finally:
            self.cleanup_fleet(fleet)
        return out

    def ours_large(self, n: int) -> dict[str, Any]:
        state = "running" if self.args.noop_running else "stopped"
        fleet = self.fleet("L", n, state=state)
        path = self.write("workloads-large.yaml", fleet.workloads_yaml())
        out: dict[str, Any] = {"state": state}
        try:
            if self.timed_step(
                "apply",
                out,
                f"thv apply x{n} (cold, {state}: setup)",
                "apply",
                "-f",
                str(path),
                "--yes",
                timeout=120 + 3 * n,
            ):
                out["converged"] = self.check_converged(fleet, path)
                out["plan"] = self.attempt(
                    f"thv plan x{n} (no-op)",
                    median_of,
                    [*self.thv, "plan", "-f", str(path)],
                    self.env,
                    self.args.runs,
                    self.tmp,
                )
                if out["plan"]:
                    log(f"thv plan no-op x{n}: median {out['plan']['median']:.3f}s")
                out["phases"] = self.attempt("phases", self.phases, path)
            self.timed_step(
                "down", out, f"thv down x{n}", "down", "-f", str(path), "--yes", timeout=120 + 2 * n
            )
            self.check_clean(fleet, f"thv down x{n}")
        finally:
            self.cleanup_fleet(fleet)
        return out

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

    # -- where the time goes ---------------------------------------------------------------
    def phases(self, path: Path) -> dict:
        out = run_timed(
            [self.python, str(BENCH / "phases.py"), "-f", str(path)],
            self.env,
            cwd=self.tmp,
            timeout=120,
        )
        return json.loads(out.stdout)

    def thv_script(self) -> list[str]:
        return self.thv if self.thv[0].endswith("thv") else ["-m", "toolhive_compose"]

    def importtime(self, path: Path) -> dict:
        proc = subprocess.run(
            [self.python, "-X", "importtime", *self.thv_script(), "plan", "-f", str(path)],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=self.tmp,
            timeout=120,
        )
        rows: list[dict[str, Any]] = []
        for line in proc.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if m:
                rows.append(
                    {
                        "module": m.group(4),
                        "self_us": int(m.group(1)),
                        "cumulative_us": int(m.group(2)),
                        "depth": len(m.group(3)) // 2,
                    }
                )
        top = sorted(rows, key=lambda r: -r["cumulative_us"])[:10]
        top_level = sum(r["cumulative_us"] for r in rows if r["depth"] == 0)
        return {
            "top_cumulative": top,
            "total_us": top_level,
            "top_self": sorted(rows, key=lambda r: -r["self_us"])[:10],
        }

    def cprofile(self, path: Path) -> list[str]:
        prof = self.tmp / "plan.prof"
        subprocess.run(
            [
                self.python,
                "-m",
                "cProfile",
                "-o",
                str(prof),
                *self.thv_script(),
                "plan",
                "-f",
                str(path),
            ],
            env=self.env,
            capture_output=True,
            cwd=self.tmp,
            timeout=120,
        )
        code = (
            "import pstats,sys; s=pstats.Stats(sys.argv[1]); s.sort_stats('cumulative');"
            "s.print_stats(25)"
        )
        text = subprocess.run(
            [self.python, "-c", code, str(prof)], capture_output=True, text=True
        ).stdout
        return text.splitlines()

    def startup(self) -> dict[str, dict | None]:
        return {
            "python -c pass": self.attempt(
                "python startup",
                median_of,
                [self.python, "-c", "pass"],
                self.env,
                self.args.runs,
                self.tmp,
            ),
            "thv --help": self.attempt(
                "thv --help", median_of, [*self.thv, "--help"], self.env, self.args.runs, self.tmp
            ),
        }

    # -- orchestration ---------------------------------------------------------------------
    def run(self) -> int:
        t_start = time.perf_counter()
        a = self.args
        log(f"run {self.run_id}; state in {self.tmp}; thv = {shlex.join(self.thv)}")
        self.choose_engine()
        log(f"engine: {self.engine}; network: {self.network}; server: {a.server}")
        clean_stale_runs()
        ensure_image(shared=self.private is None)
        self.setup_compose()
        log(f"compose: {self.compose_note}")
        others = len(docker("ps", "-q").stdout.split())
        if others:
            log(f"note: {others} other running container(s) share this engine")
        self.extra["other_containers"] = others
        self.extra["loadavg_start"] = os.getloadavg()

        # Baselines and ours take turns, --repeat times; single-shot numbers are medians.
        samples: dict[str, list[float]] = {}
        comp: dict[str, Any] = {}
        ours: dict[str, Any] = {}
        ready: bool | None = None

        def keep(prefix: str, values: dict[str, Any]) -> None:
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    samples.setdefault(f"{prefix}{key}", []).append(float(value))

        for rep in range(a.repeat):
            log(f"round {rep + 1} of {a.repeat}")
            for p in (8, 16) if rep == 0 else (8,):  # p16 is for reference: once
                self.check_engine(f"raw SDK p{p}")
                created, removed = self.raw_sdk(a.n, p)
                keep("raw.", {f"create_p{p}": created, f"remove_p{p}": removed})
            self.check_engine("docker-compose")
            keep("compose.", self.compose_runs(a.n, grace_step=rep == 0))
            self.check_engine("thv")
            if ready is None:
                ready = self.preflight()
            if ready:
                result = self.ours_small(a.n, first=rep == 0)
                if rep == 0:
                    ours = result
                keep("ours.", {k: result.get(k) for k in ("apply", "change", "down")})

        def median(key: str) -> float | None:
            values = samples.get(key)
            return statistics.median(values) if values else None

        self.samples = samples
        for p in (8, 16):
            self.raw[f"create_p{p}"] = median(f"raw.create_p{p}")
            self.raw[f"remove_p{p}"] = median(f"raw.remove_p{p}")
        comp = {k: median(f"compose.{k}") for k in ("up", "change", "change_default_grace", "down")}
        for key in ("apply", "change", "down"):
            ours[key] = median(f"ours.{key}")
        large: dict[str, Any] = {}
        if a.noop_n:
            self.check_engine(f"thv x{a.noop_n}")
            large = self.ours_large(a.noop_n)
        start = self.startup()

        def med(x: Any) -> float | None:
            return x["median"] if isinstance(x, dict) else None

        py_start = med(start["python -c pass"])
        n, big = a.n, a.noop_n
        self.rows = [
            Row(
                f"cold apply x{n}",
                ours.get("apply"),
                {
                    "raw SDK p8": self.raw["create_p8"],
                    "raw SDK p16": self.raw["create_p16"],
                    "compose up": comp["up"],
                },
                ratio_to="raw SDK p8",
                target=f"<= {TARGETS['cold_apply_ratio']}x",
                limit=TARGETS["cold_apply_ratio"],
                kind="ratio",
            ),
            Row(
                f"no-op plan x{n} (median)",
                med(ours.get("plan")),
                {"python -c pass": py_start, "thv --help": med(start["thv --help"])},
                ratio_to="python -c pass",
                target=f"<= {TARGETS['noop_plan_small']} s",
                limit=TARGETS["noop_plan_small"],
                kind="seconds",
            ),
        ]
        if big:
            self.rows.append(
                Row(
                    f"no-op plan x{big} (median, {large.get('state')})",
                    med(large.get("plan")),
                    {"python -c pass": py_start},
                    ratio_to="python -c pass",
                    target=f"<= {TARGETS['noop_plan_large']} s",
                    limit=TARGETS["noop_plan_large"],
                    kind="seconds",
                )
            )
        self.rows += [
            Row(
                "one change (env of 1)",
                ours.get("change"),
                {
                    "compose up -t0": comp["change"],
                    "compose up (10s grace)": comp["change_default_grace"],
                },
                ratio_to="compose up -t0",
                target=f"<= {TARGETS['one_change_ratio']}x",
                limit=TARGETS["one_change_ratio"],
                kind="ratio",
            ),
            Row(
                f"down x{n}",
                ours.get("down"),
                {
                    "raw SDK rm p8": self.raw["remove_p8"],
                    "raw SDK rm p16": self.raw["remove_p16"],
                    "compose down -t0": comp["down"],
                },
                ratio_to="raw SDK rm p8",
                target=f"<= {TARGETS['down_ratio']}x",
                limit=TARGETS["down_ratio"],
                kind="ratio",
            ),
        ]
        if big:
            self.rows += [
                Row(
                    f"cold apply x{big} ({large.get('state')})",
                    large.get("apply"),
                    target="(setup)",
                ),
                Row(f"down x{big} ({large.get('state')})", large.get("down"), target="(cleanup)"),
            ]
        total = time.perf_counter() - t_start
        self.extra["loadavg_end"] = os.getloadavg()
        self.report(start, ours, large, comp, total)
        ok = all(r.verdict in ("PASS", "info") for r in self.rows) and not self.errors
        return 0 if ok else 1

    def report(self, start: dict, ours: dict, large: dict, comp: dict, total: float) -> None:
        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}s"

        header = ("scenario", "ours", "baseline(s)", "ratio", "target", "result")
        table = [header]
        for r in self.rows:
            bases = ", ".join(f"{k} {fmt(v)}" for k, v in r.baselines.items()) or "-"
            ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x {r.ratio_to}"
            table.append((r.scenario, fmt(r.ours), bases, ratio, r.target or "-", r.verdict))
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        print(
            f"\nthc bench {self.run_id}: engine {self.engine}, network {self.network}, "
            f"server {self.args.server}, {os.cpu_count()} cpus, "
            f"single-shot rows: median of {self.args.repeat} round(s), "
            f"{self.extra.get('other_containers', 0)} other running container(s), load average "
            f"{_load(self.extra.get('loadavg_start'))} at start, "
            f"{_load(self.extra.get('loadavg_end'))} at end\n"
        )
        for i, row in enumerate(table):
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print(f"\ncompose: {self.compose_note}")
        for label, data in ((f"x{self.args.n}", ours), (f"x{self.args.noop_n}", large)):
            phases = data.get("phases") if data else None
            if phases:
                parts = ", ".join(f"{k} {v}" for k, v in phases.items())
                print(f"no-op plan phases {label} (ms, one process): {parts}")
        imp = self.extra.get("importtime")
        if imp:
            print(
                f"\npython -X importtime, thv plan (top 10 cumulative; all top-level imports "
                f"{imp['total_us'] / 1e6:.3f}s):"
            )
            for r in imp["top_cumulative"]:
                print(
                    f"  {r['cumulative_us'] / 1e3:8.1f} ms cum  {r['self_us'] / 1e3:7.1f} ms "
                    f"self  {'  ' * r['depth']}{r['module']}"
                )
        prof = self.extra.get("cprofile_plan")
        if prof:
            print("\ncProfile, thv plan (top 25 cumulative):")
            print("\n".join(line for line in prof if line.strip()))
        for err in self.errors:
            print(f"ERROR: {err}")
        print(f"\nbench took {total:.0f}s; results in {RESULTS / 'latest.json'}")

        RESULTS.mkdir(exist_ok=True)
        doc = {
            "run_id": self.run_id,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": {
                "n": self.args.n,
                "noop_n": self.args.noop_n,
                "runs": self.args.runs,
                "engine": self.engine,
                "network": self.network,
                "server": self.args.server,
                "thv": self.thv,
                "python": self.python,
                "compose": self.compose_note,
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "docker": docker(
                    "version", "--format", "{{.Server.Version}}", check=False
                ).stdout.strip(),
                "timing": "hyperfine" if shutil.which("hyperfine") else "perf_counter",
                "other_containers": self.extra.get("other_containers"),
                "loadavg_start": self.extra.get("loadavg_start"),
                "loadavg_end": self.extra.get("loadavg_end"),
            },
            "targets": TARGETS,
            "rows": [{**asdict(r), "ratio": r.ratio, "verdict": r.verdict} for r in self.rows],
            "samples": self.samples,
            "raw": {
                "sdk": self.raw,
                "compose": comp,
                "ours_small": ours,
                "ours_large": large,
                "startup": start,
            },
            "importtime": self.extra.get("importtime"),
            "cprofile_plan": self.extra.get("cprofile_plan"),
            "errors": self.errors,
            "total_seconds": total,
        }
        (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")

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


def _load(avg: Any) -> str:
    return "/".join(f"{x:.1f}" for x in avg) if avg else "?"


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
    bench = Bench(args)
    try:
        return bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except EngineHung as exc:
        log(f"ERROR {exc}")
        return 1
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
