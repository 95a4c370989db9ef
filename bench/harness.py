"""What every part of the bench shares: timing whole processes, the docker CLI, clean-up by
label, the benchmark images and the ``thv`` command.

Everything a bench run creates carries the label ``thc-bench.run=<run id>`` (and the PID of
the run, so that a later run can tell a dead run's leftovers from a live one's).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
IMAGE = "thc-test/busybox:1"  # the project's test image (busybox-static rootfs)
MCP_IMAGE = "thc-bench/busybox-mcp:1"  # the same rootfs plus /bin/mcp-sh (below)
RUN_LABEL = "thc-bench.run"
PID_LABEL = "thc-bench.pid"
SHARED_HOST = "unix:///var/run/docker.sock"
HEALTH_TIMEOUT = 15.0

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
    returncode: int = 0


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
    return Timed(seconds, cpu, proc.stdout, proc.stderr, proc.returncode)


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
        # a proxy forked by the launcher has its title in one string (setproctitle)
        args = b" ".join(argv).decode(errors="replace").split()
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
