"""One lock discipline (issue 10, deliverable 5): every command that changes workloads takes
the state lock, waits a bounded time, then says who holds it; read-only commands never wait;
the lock is re-entered within a process (apply's actions, the library under a command).

The holder is another process holding ``<ours>/apply.lock`` as ``thv apply`` does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose import connect
from toolhive_compose.errors import LockHeld
from toolhive_compose.paths import Paths
from toolhive_compose.state import Store, state_lock

ROOT = Path(__file__).resolve().parent.parent
HOLDER = textwrap.dedent(
    """
    import sys
    from toolhive_compose.paths import Paths
    from toolhive_compose.state import state_lock
    with state_lock(Paths.from_env().ours, operation="thv apply"):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process holding the state lock as ``thv apply`` (the isolated XDG dirs)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeRuntime:
    fake = install(monkeypatch, FakeRuntime())
    store = Store.from_env()
    for name, port in (("alpha", 31001), ("beta", 31002)):
        store.runconfigs.write(name, {
            "schema_version": "v0.1.0", "image": "img:1", "name": name, "base_name": name,
            "transport": "stdio", "host": "127.0.0.1", "port": port, "group": "dev",
            "permission_profile": None,
        })  # fmt: skip
        store.statuses.set_status(name, "stopped")
        fake.add(name, state="exited", **toolhive_labels(name, port=port))
    store.groups.create("dev", {"name": "dev", "registered_clients": []})
    workloads = {"version": 1, "project": "team", "servers": {"gamma": {"image": "img:1"}}}
    (tmp_path / "workloads.yaml").write_text(yaml.safe_dump(workloads))
    monkeypatch.chdir(tmp_path)
    return fake


CHANGING = [
    ["stop", "alpha"],
    ["rm", "alpha"],
    ["start", "alpha"],
    ["restart", "alpha"],
    ["run", "img:1", "--name", "delta"],
    ["group", "create", "ops"],
    ["group", "rm", "dev", "--yes"],
    ["apply", "--yes"],
    ["down", "-p", "team", "--yes"],
    ["upgrade", "apply", "alpha", "--yes"],
]


@pytest.mark.parametrize("args", CHANGING, ids=lambda a: " ".join(a[:2]))
def test_a_changing_command_waits_then_names_the_holder(
    engine: FakeRuntime, holder: subprocess.Popen[str], capsys: Any,
    monkeypatch: pytest.MonkeyPatch, args: list[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("THV_LOCK_TIMEOUT", "0.3")
    before = sorted(p.relative_to(Paths.from_env().state_home) for p in _files())
    result = thv(capsys, *args)
    assert result.code == 1, result
    line = result.err.splitlines()[0]
    assert (
        line.startswith("error: another command (thv apply, PID ") and f"PID {holder.pid} " in line
    )
    assert line.endswith("(waited 0.3s)") and "apply.lock" in line
    assert result.err.splitlines()[1].startswith("hint: wait for it to finish")
    assert engine.calls == []  # nothing was done
    assert sorted(p.relative_to(Paths.from_env().state_home) for p in _files()) == before


def _files() -> list[Path]:
    return [p for p in Paths.from_env().state_home.rglob("*.json") if p.is_file()]


READ_ONLY = [
    ["list", "-a"],
    ["status", "alpha"],
    ["plan"],
    ["validate"],
    ["config"],
    ["import", "-p", "team"],
    ["group", "list"],
    ["upgrade", "check"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_a_read_only_command_never_waits(
    engine: FakeRuntime, holder: subprocess.Popen[str], capsys: Any,
    monkeypatch: pytest.MonkeyPatch, args: list[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("THV_LOCK_TIMEOUT", "120")  # one that waited would hit pytest's timeout
    result = thv(capsys, *args)
    assert result.code == 0, result


def test_logs_never_wait(engine: FakeRuntime, holder: subprocess.Popen[str], capsys: Any) -> None:
    log = Paths.from_env().logs / "alpha.log"
    log.parent.mkdir(parents=True)
    log.write_text("proxy for alpha serving\n")
    assert thv(capsys, "logs", "alpha", "--proxy").out == "proxy for alpha serving\n"


def test_the_library_takes_the_lock_too(
    engine: FakeRuntime, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THV_LOCK_TIMEOUT", "0.2")
    api = connect()
    for change in (
        lambda: api.lifecycle.stop("alpha"),
        lambda: api.lifecycle.delete("alpha"),
        lambda: api.groups.create("ops"),
        lambda: api.groups.move(["alpha"], "dev", "default"),
        lambda: api.groups.delete("dev"),
    ):
        with pytest.raises(LockHeld, match=f"PID {holder.pid} "):
            change()
    assert [w.name for w in api.workloads.list(all=True)] == ["alpha", "beta"]  # reads go on
    assert engine.calls == []


def test_the_lock_is_re_entered_within_a_process(engine: FakeRuntime) -> None:
    """A command holding the lock calls the library (which takes it again), from several
    threads at once, as thv stop --all and apply's parallel actions do."""
    api = connect()
    ours = Paths.from_env().ours
    errors: list[BaseException] = []

    def stop(name: str) -> None:
        try:
            api.lifecycle.stop(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with state_lock(ours, wait=0, operation="thv stop"):
        threads = [threading.Thread(target=stop, args=(n,)) for n in ("alpha", "beta")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert (ours / "apply.lock").read_text().split()[2:] == ["thv", "stop"]
    assert errors == []
    assert [c[0] for c in engine.calls] == ["stop", "stop"]
    assert (ours / "apply.lock").read_text() == ""  # released with the outermost holder
    with state_lock(ours, wait=0):  # and free for the next one
        pass
