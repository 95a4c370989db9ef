"""An unreachable engine is one clear sentence with a hint, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolhive_compose.errors import EngineUnavailable
from toolhive_compose.runtime import ContainerParams, get_runtime

ROOT = Path(__file__).resolve().parent.parent
SOCKET = "unix:///nonexistent.sock"
WORKLOADS = """\
version: 1
project: engine-errors
servers:
  eng-err-a:
    image: thc-test/busybox:1
    args: ["sleep", "3600"]
"""


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOCKER_HOST", SOCKET)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return SOCKET


def _check(exc: EngineUnavailable, where: str) -> None:
    assert where in str(exc)
    assert "\n" not in str(exc)
    assert exc.hint and "DOCKER_HOST" in exc.hint
    assert "Traceback" not in str(exc)


def test_list_containers_names_the_socket(no_engine: str) -> None:
    runtime = get_runtime()
    assert runtime.endpoint == no_engine
    with pytest.raises(EngineUnavailable) as info:
        runtime.list_containers(labels=["toolhive=true"])
    _check(info.value, no_engine)
    assert "no such socket" in str(info.value)


def test_refused_tcp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    with pytest.raises(EngineUnavailable) as info:
        get_runtime().list_containers()
    _check(info.value, "tcp://127.0.0.1:1")


@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.image_present("thc-test/busybox:1"),
        lambda rt: rt.pull("thc-test/busybox:1"),
        lambda rt: rt.create(ContainerParams(name="x", image="thc-test/busybox:1")),
        lambda rt: rt.start("0123456789ab"),
        lambda rt: rt.remove("0123456789ab"),
    ],
    ids=["image_present", "pull", "create", "start", "remove"],
)
def test_sdk_operations_are_engine_unavailable_too(no_engine: str, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineUnavailable) as info:
        call(get_runtime())
    _check(info.value, no_engine)


def _thv(*args: str, tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    env.pop("DOCKER_TLS_VERIFY", None)
    return subprocess.run(
        [sys.executable, "-m", "toolhive_compose", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [["plan"], ["plan", "--format", "json"], ["apply", "--yes"], ["down", "--yes"]],
    ids=["plan", "plan-json", "apply", "down"],
)
def test_cli_reports_one_error_and_a_hint(tmp_path: Path, command: list[str]) -> None:
    workloads = tmp_path / "workloads.yaml"
    workloads.write_text(WORKLOADS)
    result = _thv(
        *command, "-f", str(workloads), tmp_path=tmp_path, env_extra={"DOCKER_HOST": SOCKET}
    )
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ") and SOCKET in lines[0]
    assert lines[1].startswith("hint: ") and "DOCKER_HOST" in lines[1]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
