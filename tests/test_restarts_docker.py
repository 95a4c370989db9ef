"""Surviving restarts on a real engine of the tests' own, which they stop, kill and restart.

One private ``dockerd`` (:mod:`tests.support.private_engine`) serves the whole module; the
shared engine is never touched.  With no command run in between:

- stdio and streamable-http workloads answer the official MCP SDK client again after a
  graceful engine restart (the engine restarts the containers, the proxies re-attach) and
  after an engine crash (the engine leaves them ``Exited``, the proxies start them); during the
  outage the workloads read ``unhealthy`` saying why, HTTP clients get 503 with
  ``Retry-After``, and ``thv list`` still answers; a workload stopped with ``thv stop`` stays
  stopped through both;
- a crash-looping server ends in ``error`` with its exit code and last log line, after a
  bounded number of restarts, and stays stopped;
- an engine that never comes back: the proxy gives up, says so and names the last error;
  ``thv list`` answers without it, also when it hangs instead of refusing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.proxy_helpers import TOOLS, mcp_round_trip, wait_until
from tests.support.cli import thv
from tests.support.images import ensure_busybox_image, ensure_mcp_image
from tests.support.private_engine import (
    PrivateEngine,
    private_engine_available,
    running_private_engine,
)
from toolhive_compose.fingerprint import canonical
from toolhive_compose.model import ServerSpec
from toolhive_compose.proxy.processes.procfs import pid_alive
from toolhive_compose.runtime import engine_sync, get_runtime
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

pytestmark = [pytest.mark.docker, pytest.mark.slow]
NETWORK = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'
BACK = 30.0  # seconds for the workloads to serve again once the engine answers

# A stdio MCP server in busybox sh that serves once: initialize and tools/list are answered,
# a tools/call makes it exit 3, and every later run of the container exits 3 at once.
_INIT = (
    '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18",'
    '"capabilities":{"tools":{}},"serverInfo":{"name":"bb","version":"1"}}}'
)
_TOOLS = '{"jsonrpc":"2.0","id":%s,"result":{"tools":[]}}'
_ID = """sed -n -e 's/.*"id": *\\([0-9][0-9]*\\).*/\\1/p' | head -n 1"""
CRASHER = "\n".join(
    [
        'if [ -e /tmp/ran ]; then echo "fatal: the configuration is broken" >&2; exit 3; fi',
        "touch /tmp/ran",
        "while IFS= read -r line; do",
        f"  id=$(printf '%s' \"$line\" | {_ID})",
        '  case "$line" in',
        f"    *'\"initialize\"'*) printf '{_INIT}\\n' \"$id\" ;;",
        f"    *'\"tools/list\"'*) printf '{_TOOLS}\\n' \"$id\" ;;",
        "    *'\"tools/call\"'*) exit 3 ;;",
        "  esac",
        "done",
    ]
)


@pytest.fixture(scope="module")
def engine() -> Iterator[PrivateEngine]:
    why = private_engine_available()
    if why:
        pytest.skip(why)
    with running_private_engine(ensure_mcp_image(), ensure_busybox_image()) as private:
        yield private


class Rig:
    """Workloads on the private engine, made the way ``thv apply`` makes them."""

    def __init__(self, engine: PrivateEngine) -> None:
        self.engine = engine
        self.store = Store.from_env()
        self.lifecycle = Lifecycle(get_runtime(), self.store)
        self.made: dict[str, dict[str, Any]] = {}

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("image", ensure_mcp_image())
        spec = ServerSpec(name=name, permission_profile_json=NETWORK, **fields)
        self.made[name] = self.lifecycle.create(spec, canonical(spec), project="restarts")
        return self.made[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.made[name]['port']}/mcp"

    def answers(self, name: str, text: str) -> bool:
        return asyncio.run(mcp_round_trip(self.url(name), text=text)) == (TOOLS, text)

    def status(self, name: str) -> tuple[str, str]:
        found = self.store.statuses.get(name)
        return (found.status, found.status_context) if found else ("", "")

    def pid(self, name: str) -> int:
        found = self.store.statuses.get(name)
        return found.process_id if found else 0

    def container(self, name: str) -> dict[str, Any]:
        return json.loads(self.engine.docker("inspect", name))[0]

    def log(self, name: str) -> str:
        return (self.store.paths.logs / f"{name}.log").read_text()

    def remove_all(self) -> None:
        if not self.engine.answers():
            self.engine.start()
        for name in self.made:
            found = get_runtime().list_containers(labels=[f"toolhive-basename={name}"])
            self.lifecycle.delete(name, found[0].id if found else "")


@pytest.fixture
def rig(engine: PrivateEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    made = Rig(engine)
    yield made
    made.remove_all()


def post(url: str, doc: Any) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_workloads_ride_out_an_engine_restart_and_an_engine_crash(rig: Rig, capsys) -> None:
    rig.create("rs-stdio")
    rig.create("rs-http", transport="streamable-http")
    rig.create("rs-held")
    rig.lifecycle.stop("rs-held", rig.container("rs-held")["Id"])  # thv stop
    serving = ("rs-stdio", "rs-http")
    pids = {name: rig.pid(name) for name in serving}
    held = rig.container("rs-held")["State"]

    for outage, down in (("restart", rig.engine.stop), ("crash", rig.engine.kill)):
        assert all(rig.answers(name, f"before the {outage}") for name in serving)
        down()
        wait_until(lambda: all("engine is unreachable" in rig.status(n)[1] for n in serving))
        assert {rig.status(n)[0] for n in serving} == {"unhealthy"}
        code, headers, body = post(rig.url("rs-http"), {"jsonrpc": "2.0", "id": 9,
                                                         "method": "ping"})  # fmt: skip
        assert code == 503 and int(headers["Retry-After"]) >= 1
        assert body["id"] == 9 and "engine is unreachable" in body["error"]["message"]
        listed = thv(capsys, "list", "--all")
        assert listed.code == 0 and "showing the workloads as last recorded" in listed.err
        assert "rs-stdio" in listed.out and "unhealthy" in listed.out

        rig.engine.start()
        wait_until(lambda: all(rig.status(n) == ("running", "") for n in serving), BACK)
        assert all(rig.answers(name, f"after the {outage}") for name in serving)
        assert {name: rig.pid(name) for name in serving} == pids, "the same proxies serve"
        assert rig.container("rs-held")["State"]["StartedAt"] == held["StartedAt"]
        assert (
            rig.status("rs-held")[0] == "stopped"
            and not rig.container("rs-held")["State"]["Running"]
        )
    log = rig.log("rs-stdio")
    assert "serving again (a new server process: client sessions were ended)" in log
    assert "starting it again (the engine left it stopped after its outage)" in log
    assert "crash loop" not in log


def test_a_crash_looping_server_ends_in_error_after_bounded_restarts(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLHIVE_COMPOSE_RESTART_LIMIT", "3")  # read by the proxy it spawns
    rig.create("rs-crash", image=ensure_busybox_image(), args=("sh", "-c", CRASHER))
    pid = rig.pid("rs-crash")
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    _, headers, _ = post(rig.url("rs-crash"), init)
    session = {"Mcp-Session-Id": headers.get("mcp-session-id") or headers["Mcp-Session-Id"]}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "boom"}}
    request = urllib.request.Request(
        rig.url("rs-crash"), data=json.dumps(call).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json", **session},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        lost = json.loads(answer.read())
    assert lost["id"] == 2 and "went away before answering" in lost["error"]["message"]

    wait_until(lambda: rig.status("rs-crash")[0] == "error", 60)
    context = rig.status("rs-crash")[1]
    assert context.startswith("crash loop: the container exited")
    assert "(last exit code 3)" in context
    assert "fatal: the configuration is broken" in context
    wait_until(lambda: not pid_alive(pid))
    state = rig.container("rs-crash")
    assert not state["State"]["Running"] and not state["State"]["Restarting"]
    time.sleep(3)  # longer than the supervisor's grace: nobody starts it again
    again = rig.container("rs-crash")
    assert again["State"]["StartedAt"] == state["State"]["StartedAt"]
    restarts = rig.log("rs-crash").count("the container runs again (restart ")
    assert 1 <= restarts <= 3 and state["RestartCount"] <= 4, (restarts, state["RestartCount"])


def test_an_engine_that_never_comes_back(rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TOOLHIVE_COMPOSE_ENGINE_TIMEOUT", "3")
    rig.create("rs-alone")
    pid = rig.pid("rs-alone")
    rig.engine.kill()
    wait_until(lambda: rig.status("rs-alone")[0] == "error", 30)
    context = rig.status("rs-alone")[1]
    assert context.startswith("the container engine did not come back within 3s")
    assert "thv start rs-alone once it is back" in context
    wait_until(lambda: not pid_alive(pid))
    assert "error: giving up: the container engine did not come back: cannot reach" in rig.log(
        "rs-alone"
    )
    started = time.monotonic()
    listed = thv(capsys, "list", "--all")
    assert listed.code == 0 and "error" in listed.out and time.monotonic() - started < 10
    shown = thv(capsys, "status", "rs-alone")
    assert shown.code == 0 and "did not come back within 3s" in shown.out
    assert "showing the status as last recorded" in shown.err

    rig.engine.start()
    monkeypatch.setattr(engine_sync, "LIST_TIMEOUT", 2.0)
    assert rig.engine.pid is not None
    os.kill(rig.engine.pid, signal.SIGSTOP)  # a wedged engine: connects, never answers
    try:
        started = time.monotonic()
        listed = thv(capsys, "list", "--all")
        took = time.monotonic() - started
    finally:
        os.kill(rig.engine.pid, signal.SIGCONT)
    assert listed.code == 0 and took < 10, (took, listed.err)
    assert "did not answer within 2s" in listed.err and "rs-alone" in listed.out
