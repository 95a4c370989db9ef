"""Damaged, full and read-only state; a canary secret; hostile input — against the real engine.

Rows (each trial is one ``thv`` session as a user would run it, as subprocesses):

- **damaged workload files**: for each kind (a status file with a stray brace, with
  ``"process_id": "x"``, not JSON; a run config not JSON, with ``"port": "abc"``, with
  ``"env_vars": []``; a legacy PID file of garbage) one server of a running project is
  damaged, then: ``list``, ``status``, ``stop`` and ``start`` of the other server work,
  ``plan`` names the damage, ``apply`` converges, ``rm`` of the damaged one works and the next
  ``apply`` brings it back — ending with an empty re-plan and every state file parsing;
- **damaged shared files**: a group file, the apply lock, the secret-digest key, the
  ownership file: ``list`` works and ``plan`` either works or says, in one line, which file;
- **read-only / full state directory** (root only: a tmpfs): one line naming the file,
  every state file as it was, then convergence once it is writable / has room;
- **canary secret**: a secret value searched in every output and every state file;
- **hostile names, paths and references**: refused with one line, nothing created.

Interface: ``run(ctx) -> list[Row]`` (``bench/chaos_cases/__init__.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bench.chaos_cases import Context, Row, timed
from tests.support import small_fs as small
from tests.support.images import ensure_mcp_image

PROJECT_LABEL = "toolhive-compose.project"
CANARY = "chaos-canary-5e1f0b7d"


def run(ctx: Context) -> list[Row]:
    image = ensure_mcp_image()
    with project(ctx, image) as p:
        rows = [
            _guarded("damaged workload files", lambda: damaged_workload_files(p)),
            _guarded("damaged shared files", lambda: damaged_shared_files(p)),
            _guarded("canary secret", lambda: canary(p)),
        ]
    for how in ("read-only", "full"):
        rows.append(_guarded(f"{how} state directory", partial(state_directory, ctx, image, how)))
    rows.append(_guarded("hostile input", lambda: hostile(ctx, image)))
    return rows


def _guarded(what: str, make: Callable[[], Row]) -> Row:
    """A row whose scenario broke is a lost row, not a lost run."""
    try:
        return make()
    except Exception as exc:
        return Row(f"{what}: the scenario itself failed", 1, 0, f"{type(exc).__name__}: {exc}")


# -- a project of two servers -----------------------------------------------------------------
class Project:
    def __init__(self, ctx: Context, image: str, name: str, **server: Any) -> None:
        self.ctx, self.image, self.name, self.server = ctx, image, name, server
        self.dir = ctx.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / "workloads.yaml"
        self.servers = [f"{name}-good", f"{name}-victim"]
        self.write()

    def write(self, **extra: Any) -> None:
        body = {"image": self.image, "group": "dmg", **self.server, **extra}
        servers = {s: dict(body) for s in self.servers}
        doc = {"version": 1, "project": self.name, "groups": {"dmg": {}}, "servers": servers}
        self.file.write_text(yaml.safe_dump(doc))

    def thv(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "toolhive_compose", *args], cwd=self.dir, env=os.environ,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def converged(self) -> list[str]:
        """An empty re-plan, a running container per server, every state file parses."""
        problems = []
        plan = self.thv("plan", "--detailed-exitcode")
        if plan.returncode != 0:
            problems.append(f"re-plan exited {plan.returncode}: {_tail(plan)}")
        if self.server.get("state") != "stopped":
            running = {
                c.name
                for c in self.ctx.docker.containers.list(filters={"label": _label(self.name)})
            }
            problems += [f"{s} is not running" for s in self.servers if s not in running]
        return problems + unparsable()


def _label(name: str) -> str:
    return f"{PROJECT_LABEL}={name}"


@contextlib.contextmanager
def project(ctx: Context, image: str, tag: str = "dmg", **server: Any) -> Iterator[Project]:
    p = Project(ctx, image, ctx.project_name(tag), **server)
    try:
        applied = p.thv("apply", "--yes")
        if applied.returncode != 0:
            raise RuntimeError(f"the first apply failed: {_tail(applied)}")
        yield p
    finally:
        p.thv("down", "--yes")
        for container in ctx.docker.containers.list(all=True, filters={"label": _label(p.name)}):
            with contextlib.suppress(Exception):
                container.remove(force=True)


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return " / ".join((result.stdout + result.stderr).strip().splitlines()[-2:])


def state_dirs() -> list[Path]:
    return [Path(os.environ["XDG_STATE_HOME"]), Path(os.environ["XDG_DATA_HOME"])]


def unparsable() -> list[str]:
    found = []
    for root in state_dirs():
        for path in root.rglob("*.json"):
            try:
                json.loads(path.read_bytes())
            except (OSError, ValueError):
                found.append(f"{path.name} does not parse")
    return found


def one_line(result: subprocess.CompletedProcess[str], says: str) -> list[str]:
    """Exit 1, one ``error:`` line (plus a hint at most) saying ``says``, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 1 or not lines or not lines[0].startswith("error: "):
        return [f"expected one error line, got {result.returncode}: {_tail(result)}"]
    if len(lines) > 2 or (len(lines) == 2 and not lines[1].startswith("hint: ")):
        return [f"more than an error and a hint: {lines}"]
    return [] if says in lines[0] else [f"{lines[0]!r} does not say {says!r}"]


# -- damaged workload files -------------------------------------------------------------------
def _status(p: Project) -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "toolhive" / "statuses" / f"{p.servers[1]}.json"


def _runconfig(p: Project) -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "toolhive" / "runconfigs" / f"{p.servers[1]}.json"


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


WORKLOAD_DAMAGE: dict[str, Callable[[Project], Path]] = {
    "status file, stray brace": lambda p: _append(_status(p), "}"),
    'status file, "process_id": "x"': lambda p: _edit_to(_status(p), "process_id", "x"),
    "status file, not JSON": lambda p: _write(_status(p), '{"status": "running", "created_'),
    "run config, not JSON": lambda p: _write(_runconfig(p), '{"schema_version": '),
    'run config, "port": "abc"': lambda p: _edit_to(_runconfig(p), "port", "abc"),
    'run config, "env_vars": []': lambda p: _edit_to(_runconfig(p), "env_vars", []),
    "legacy PID file, garbage": lambda p: _write(
        Path(os.environ["XDG_DATA_HOME"]) / "toolhive" / "pids" / f"toolhive-{p.servers[1]}.pid",
        "-1 not a pid",
    ),
}


def _append(path: Path, text: str) -> Path:
    path.write_text(path.read_text() + text)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _edit_to(path: Path, key: str, value: Any) -> Path:
    _edit(path, lambda doc: doc.__setitem__(key, value))
    return path


def damaged_workload_files(p: Project) -> Row:
    row = Row(f"damaged workload files ({len(WORKLOAD_DAMAGE)} kinds): others usable, rm works")
    with timed(row):
        good, victim = p.servers
        for kind, damage in WORKLOAD_DAMAGE.items():
            damage(p)
            problems = []
            steps = [("list", "-a"), ("status", good), ("stop", good), ("start", good), ("plan",)]
            for args in steps:
                result = p.thv(*args)
                if result.returncode != 0:
                    problems.append(f"{kind}: thv {' '.join(args)} exited {result.returncode}")
            applied = p.thv("apply", "--yes")
            if applied.returncode != 0:
                problems.append(f"{kind}: apply exited {applied.returncode}: {_tail(applied)}")
            damage(p)  # again, for rm
            removed = p.thv("rm", victim)
            if removed.returncode != 0 or p.ctx.docker.containers.list(
                all=True, filters={"name": f"^/{victim}$"}
            ):
                problems.append(f"{kind}: rm of the damaged workload failed: {_tail(removed)}")
            if p.thv("apply", "--yes").returncode != 0:
                problems.append(f"{kind}: the apply after rm failed")
            row.record(problems + [f"{kind}: {x}" for x in p.converged()])
    return row


# -- damaged shared files ---------------------------------------------------------------------
def damaged_shared_files(p: Project) -> Row:
    ours = Path(os.environ["XDG_STATE_HOME"]) / "toolhive-compose"
    groups = Path(os.environ["XDG_STATE_HOME"]) / "toolhive" / "groups"
    cases: list[tuple[str, Path, str, str]] = [  # (kind, file, content, what plan says)
        ("group file a list", groups / "dmg.json", "[1]", "damaged group file"),
        ("apply lock garbage", ours / "apply.lock", "\x00\xff garbage", ""),
        ("secret-digest key short", ours / "secret.key", "short", "secret-digest key"),
        ("ownership file wrong shape", ours / "ownership.json", '{"groups": []}', "ownership"),
    ]
    row = Row(f"damaged shared files ({len(cases)} kinds): named in one line or a warning")
    with timed(row):
        for kind, path, content, says in cases:
            saved = path.read_bytes() if path.exists() else None
            path.write_text(content)
            problems = []
            if p.thv("list", "-a").returncode != 0:
                problems.append(f"{kind}: list failed")
            if kind.startswith("secret"):  # only a file with secrets reads the key
                p.write(secrets={"TOKEN": {"env": "CHAOS_TOKEN"}})
                os.environ["CHAOS_TOKEN"] = "x"
            plan = p.thv("plan")
            if says and plan.returncode == 0 and says not in plan.stdout:
                problems.append(f"{kind}: plan did not name it")
            elif says and plan.returncode != 0:
                problems += [f"{kind}: {x}" for x in one_line(plan, says)]
            elif not says and plan.returncode != 0:
                problems.append(f"{kind}: plan exited {plan.returncode}")
            p.write()
            os.environ.pop("CHAOS_TOKEN", None)
            if saved is None:
                path.unlink()
            else:
                path.write_bytes(saved)
            row.record(problems)
        row.record(p.converged())
    return row


# -- a canary secret --------------------------------------------------------------------------
def canary(p: Project) -> Row:
    row = Row("canary secret: never in an output or a state file")
    with timed(row):
        os.environ["CHAOS_CANARY"] = CANARY
        p.write(secrets={"TOKEN": {"env": "CHAOS_CANARY"}})
        good = p.servers[0]
        applied = p.thv("apply", "--yes", "--allow", "privilege-widening")  # a new secret
        outputs = [applied]
        for args in (
            ("plan",), ("plan", "--format", "json"), ("list", "-a"),
            ("list", "-a", "--format", "json"), ("status", good),
            ("status", good, "--format", "json"), ("logs", good), ("logs", good, "--proxy"),
            ("config",), ("validate",),
        ):  # fmt: skip
            outputs.append(p.thv(*args))
        problems = [
            f"thv {' '.join(r.args[3:])} printed it"
            for r in outputs
            if CANARY in r.stdout + r.stderr
        ]
        for root in state_dirs():
            for path in root.rglob("*"):
                if path.is_file() and CANARY.encode() in path.read_bytes():
                    problems.append(f"{path.name} holds it")
        container = p.ctx.docker.containers.get(good)
        if applied.returncode != 0:
            problems.append(f"the apply failed: {_tail(applied)}")
        elif f"TOKEN={CANARY}" not in container.attrs["Config"]["Env"]:
            problems.append("the container did not get it")
        row.record(problems)
        p.write()
        p.thv("apply", "--yes")
        os.environ.pop("CHAOS_CANARY")
    return row


# -- read-only and full state directories ------------------------------------------------------
def state_directory(ctx: Context, image: str, how: str) -> Row:
    row = Row(f"{how} state directory: one line, nothing half-written, then convergence")
    local = ctx.workdir / f"home-{how}" / ".local"
    local.mkdir(parents=True)
    why_not = small.mount(local)
    if why_not:
        row.detail = f"skipped: {why_not}"
        return row
    saved = {k: os.environ[k] for k in ("XDG_STATE_HOME", "XDG_DATA_HOME")}
    try:
        os.environ["XDG_STATE_HOME"] = str(local / "state")
        os.environ["XDG_DATA_HOME"] = str(local / "share")
        with timed(row), project(ctx, image, tag=how[:4], state="stopped") as p:
            before = _snapshot(local)
            if how == "read-only":
                small.remount(local, "ro")
            else:
                small.fill(local / "filler")
            p.write(env={"CHANGED": "1"})
            says = "Read-only file system" if how == "read-only" else "No space left on device"
            applied = p.thv("apply", "--yes")
            problems = [] if says in applied.stdout + applied.stderr else [
                f"apply did not say {says!r}: {_tail(applied)}"
            ]  # fmt: skip
            problems += one_line(p.thv("group", "create", "more"), says)
            after = _snapshot(local)
            problems += [f"{n} changed" for n, data in before.items() if after.get(n) != data]
            problems += [f"{n} left behind" for n in after if ".tmp-" in n]
            if how == "read-only":
                small.remount(local, "rw")
            else:
                (local / "filler").unlink()
            again = p.thv("apply", "--yes")
            problems += [] if again.returncode == 0 else [f"no convergence: {_tail(again)}"]
            row.record(problems + p.converged())
    finally:
        os.environ.update(saved)
        small.unmount(local)
    return row


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.suffix == ".json"
    }


# -- hostile input ----------------------------------------------------------------------------
HOSTILE_NAMES = ["-rf", "../escape", "a;b", "$(id)", "a b", "x" * 101, "/abs", "`id`", "a|b"]
HOSTILE_IMAGES = ["x:1; rm -rf /", "Busybox", "busybox:", "team//fetch", "busybox@sha256:abc"]


def hostile(ctx: Context, image: str) -> Row:
    row = Row(
        f"hostile input ({len(HOSTILE_NAMES)} names, {len(HOSTILE_IMAGES)} images): one line,"
        " nothing created"
    )
    directory = ctx.workdir / "hostile"
    directory.mkdir()
    with timed(row):
        before = _everything()
        for name in HOSTILE_NAMES:
            for args in (["run", image, "--name", name], ["stop", name], ["rm", name],
                         ["logs", name, "--proxy"], ["status", name]):  # fmt: skip
                found = one_line(_thv(directory, args), "")
                row.record([f"thv {args[0]} {name!r}: {x}" for x in found])
            doc = {"version": 1, "project": "hostile", "servers": {name: {"image": image}}}
            (directory / "workloads.yaml").write_text(yaml.safe_dump(doc))
            row.record([f"plan {name!r}: {x}" for x in one_line(_thv(directory, ["plan"]), name)])
        for ref in HOSTILE_IMAGES:
            row.record([f"run {ref!r}: {x}" for x in one_line(_thv(directory, ["run", ref]), "")])
        created = sorted(set(_everything()) - set(before))
        row.record([f"created {', '.join(created)}"] if created else [])
    return row


def _thv(directory: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args], cwd=directory, env=os.environ,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _everything() -> list[str]:
    """Every state file: a workload made (even half) has a run config or a status first.
    (Containers are not compared: the engine is shared with other runs.)"""
    return sorted(str(p) for root in state_dirs() for p in root.rglob("*") if p.is_file())
