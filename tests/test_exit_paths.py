"""Every exit path is clean (issue 10, deliverable 7, part A): Ctrl-D or Ctrl-C at a prompt is
one line, exit 1 or 130, and nothing is done; an unexpected exception is one line plus the
path of a debug log holding its traceback — secret values replaced — or, with ``--debug``
(or ``THV_DEBUG=1``), the traceback itself.

Real ``thv`` processes on a real pseudo-terminal (Python's ``pty``): the prompt only shows on
a terminal, and Ctrl-C is the terminal's line discipline sending SIGINT.  Their container
engine is the in-memory fake (installed by a small driver), except in the one test marked
``docker`` that asks the real engine.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fake_engine import toolhive_labels
from toolhive_compose.paths import Paths
from toolhive_compose.state import Store

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-s3cr3t-7f1d2c"
# `thv ARGS` with the fake engine, holding the containers named in $THC_FAKE (name=state,…)
DRIVER = """
import os, sys
sys.path.insert(0, os.environ["THC_ROOT"])
from tests.support.fake_engine import FakeRuntime, toolhive_labels
import toolhive_compose.runtime as runtime
fake = FakeRuntime()
for item in filter(None, os.environ.get("THC_FAKE", "").split(",")):
    name, state = item.split("=")
    fake.add(name, state=state, **toolhive_labels(name, port=31000 + len(fake.containers)))
runtime.get_runtime = lambda: fake
if os.environ.get("THC_BUG"):  # a bug in a command, after a secret was read
    from toolhive_compose import api, secrets
    secrets.read_secret("env", "TOKEN", {"TOKEN": os.environ["THC_BUG"]})
    def connect(*args, **kwargs):
        raise RuntimeError("boom while holding " + os.environ["THC_BUG"])
    api.connect = connect
from toolhive_compose.__main__ import main
main(sys.argv[1:])
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "THC_ROOT": str(ROOT), "NO_COLOR": "1", **extra}


def on_a_terminal(
    args: list[str], *, key: bytes, prompt: bytes, env: dict[str, str] | None = None,
    driver: bool = True,
) -> tuple[int, str]:  # fmt: skip
    """Run ``thv ARGS`` on a pty, press ``key`` once ``prompt`` shows; (exit code, output)."""
    command = [sys.executable, "-c", DRIVER, *args] if driver else [
        sys.executable, "-m", "toolhive_compose", *args
    ]  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.chdir(ROOT)
        os.execve(sys.executable, command, env or _env())
    output = b""
    deadline = time.monotonic() + 60
    pressed = False
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no exit within 60 s: {output!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError as exc:  # EIO: the child is gone
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        output += chunk
        if not pressed and prompt in output:
            time.sleep(0.05)
            os.write(fd, key)
            pressed = True
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace").replace("\r", "")


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("error:", "hint:"))]


@pytest.fixture
def store() -> Store:
    return Store.from_env()


def _workloads_file(tmp_path: Path, servers: dict[str, Any]) -> Path:
    path = tmp_path / "workloads.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "project": "team", "servers": servers}))
    return path


KEYS = [(b"\x04", 1, "end of input"), (b"\x03", 130, "interrupted")]  # Ctrl-D, Ctrl-C


@pytest.mark.parametrize(("key", "code", "why"), KEYS, ids=["ctrl-d", "ctrl-c"])
def test_apply_prompt(tmp_path: Path, store: Store, key: bytes, code: int, why: str) -> None:
    path = _workloads_file(tmp_path, {"fetch": {"image": "thc-test/busybox:1"}})
    exit_code, out = on_a_terminal(["apply", "-f", str(path)], key=key, prompt=b"accepted: ")
    assert exit_code == code, out
    assert _errors(out) == [f"error: apply cancelled ({why})"]
    assert "Traceback" not in out
    assert store.runconfigs.names() == [] and store.statuses.names() == []


@pytest.mark.parametrize(("key", "code", "why"), KEYS, ids=["ctrl-d", "ctrl-c"])
def test_down_prompt(tmp_path: Path, store: Store, key: bytes, code: int, why: str) -> None:
    path = _workloads_file(tmp_path, {"fetch": {"image": "thc-test/busybox:1", "state": "stopped"}})
    setup = subprocess.run(
        [sys.executable, "-c", DRIVER, "apply", "-f", str(path), "--yes"],
        env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    exit_code, out = on_a_terminal(
        ["down", "-p", "team"], key=key, prompt=b"accepted: ", env=_env(THC_FAKE="fetch=exited")
    )
    assert exit_code == code, out
    assert _errors(out) == [f"error: apply cancelled ({why})"]
    assert store.runconfigs.names() == ["fetch"]  # nothing was removed


@pytest.mark.parametrize(("key", "code", "why"), KEYS, ids=["ctrl-d", "ctrl-c"])
def test_group_rm_prompt(store: Store, key: bytes, code: int, why: str) -> None:
    store.groups.create("dev", {"name": "dev", "registered_clients": []})
    rc = {"schema_version": "v0.1.0", "image": "img:1", "name": "member", "transport": "stdio",
          "host": "127.0.0.1", "port": 31000, "permission_profile": None, "group": "dev",
          "container_labels": toolhive_labels("member", port=31000)}  # fmt: skip
    store.runconfigs.write("member", rc)
    exit_code, out = on_a_terminal(
        ["group", "rm", "dev"], key=key, prompt=b"[y/N] ", env=_env(THC_FAKE="member=running")
    )
    assert exit_code == code, out
    assert _errors(out) == [f"error: cancelled ({why})"]
    assert store.groups.read("dev") is not None  # the group stays
    assert (store.runconfigs.read("member") or {})["group"] == "dev"  # its member was not moved


@pytest.mark.parametrize(("key", "code", "why"), KEYS, ids=["ctrl-d", "ctrl-c"])
def test_upgrade_apply_prompt(store: Store, key: bytes, code: int, why: str) -> None:
    example = ROOT / "examples" / "registry.json"
    rc = {"schema_version": "v0.1.0", "image": "thc-test/mcp-py:1",
          "registry_url": str(example), "registry_server_name": "io.github.toolhive-compose/echo",
          "name": "echo", "transport": "streamable-http", "host": "127.0.0.1", "port": 31010,
          "target_port": 8080, "permission_profile": None, "group": "default"}  # fmt: skip
    store.runconfigs.write("echo", rc)
    exit_code, out = on_a_terminal(["upgrade", "apply", "echo"], key=key, prompt=b"accepted: ")
    assert exit_code == code, out
    assert _errors(out) == [f"error: upgrade cancelled ({why})"]
    assert (store.runconfigs.read("echo") or {})["image"] == "thc-test/mcp-py:1"


def test_ctrl_c_while_a_command_runs(store: Store) -> None:
    log = Paths.from_env().logs / "fetch.log"
    log.parent.mkdir(parents=True)
    log.write_text("proxy for fetch serving\n")
    exit_code, out = on_a_terminal(
        ["logs", "fetch", "--proxy", "--follow"], key=b"\x03", prompt=b"serving"
    )
    assert exit_code == 130, out
    assert _errors(out) == ["error: interrupted"]


@pytest.mark.docker
def test_apply_prompt_on_the_real_engine(tmp_path: Path, store: Store, docker_client: Any) -> None:
    name = f"exit-{os.getpid()}"
    path = _workloads_file(tmp_path, {name: {"image": "thc-test/busybox:1"}})
    exit_code, out = on_a_terminal(
        ["apply", "-f", str(path)], key=b"\x04", prompt=b"accepted: ", driver=False
    )
    assert exit_code == 1, out
    assert _errors(out) == ["error: apply cancelled (end of input)"]
    assert docker_client.containers.list(all=True, filters={"name": f"^/{name}$"}) == []
    assert store.runconfigs.names() == []


# -- an unexpected exception ------------------------------------------------------------------
def _bug(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *args], env=_env(THC_BUG=CANARY, **env), cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_bug_is_one_line_and_a_debug_log_without_secrets() -> None:
    result = _bug("list")
    assert result.returncode == 1 and result.stdout == ""
    first, hint = result.stderr.splitlines()
    assert first == "error: unexpected error: RuntimeError: boom while holding (sensitive)"
    assert hint.startswith("hint: this is a bug; the traceback is in ")
    log = Path(hint.removeprefix("hint: this is a bug; the traceback is in ").split(" (")[0])
    assert log.parent == Paths.from_env().ours / "debug"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError" in text
    assert "command: thv list" in text
    assert CANARY not in text and CANARY not in result.stderr
    assert oct(log.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    ("args", "env"), [(["--debug", "list"], {}), (["list"], {"THV_DEBUG": "1"})]
)
def test_debug_prints_the_traceback(args: list[str], env: dict[str, str]) -> None:
    result = _bug(*args, **env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("RuntimeError: boom while holding (sensitive)")
    assert CANARY not in result.stderr
    assert not (Paths.from_env().ours / "debug").exists()


def test_debug_after_a_double_dash_goes_to_the_server() -> None:
    from toolhive_compose.cli import split_debug

    assert split_debug(["run", "img", "--debug", "--", "--debug"]) == (
        ["run", "img", "--", "--debug"], True
    )  # fmt: skip
    assert split_debug(["list"]) == (["list"], False)


def test_no_private_module_of_a_library_is_imported() -> None:
    """The reported Ctrl-D traceback came from ``typer._click``: no module of the package
    imports a private module (a ``_name`` part) of another distribution."""
    import ast

    found = []
    for path in (ROOT / "toolhive_compose").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top, *rest = name.split(".")
                if top != "toolhive_compose" and any(p.startswith("_") for p in rest):
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    assert [f for f in found if not f.endswith(("__future__", "__version__"))] == []


def test_end_of_input_without_a_terminal_refuses(tmp_path: Path, store: Store) -> None:
    path = _workloads_file(tmp_path, {"fetch": {"image": "thc-test/busybox:1"}})
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, "apply", "-f", str(path)], env=_env(), cwd=ROOT,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: refusing to apply without --yes: standard input is not a terminal",
        "hint: review the plan above, then run again with --yes",
    ]
    assert json.loads(json.dumps(store.runconfigs.names())) == []
