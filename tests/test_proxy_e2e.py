"""Workloads in real containers, through their proxy, with the official MCP SDK clients.

Each workload is made with ``Lifecycle.create`` (the path ``thv apply`` takes) from the
``thc-test/mcp-py:1`` image, which serves ``echo``/``add``/``whoami`` over the transport in
``MCP_TRANSPORT``.  Also: healing a killed proxy, freeing a port whose PID record was lost,
a server that never answers, and a container killed under its proxy (started again).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.proxy_helpers import TOOLS, mcp_round_trip, wait_until
from tests.support.images import BUSYBOX_IMAGE, ensure_busybox_image, ensure_mcp_image
from toolhive_compose.errors import EngineError
from toolhive_compose.fingerprint import canonical
from toolhive_compose.model import ServerSpec
from toolhive_compose.ports import is_available
from toolhive_compose.proxy.processes.control import stop_proxy
from toolhive_compose.proxy.processes.procfs import pid_alive
from toolhive_compose.runtime import get_runtime
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.queries import get_workload

pytestmark = pytest.mark.docker
# Names unique to this run: other runs on the same engine make these workloads too.
PX = f"px{uuid.uuid4().hex[:6]}"
NETWORK = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'


class Workloads:
    """Creates workloads for one test and deletes whatever is left of them afterwards."""

    def __init__(self, project: str, ready_timeout: float = 60.0) -> None:
        self.project = project
        self.runtime = get_runtime()
        self.store = Store.from_env()
        self.lifecycle = Lifecycle(self.runtime, self.store, ready_timeout=ready_timeout)
        self.names: list[str] = []

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("image", ensure_mcp_image())
        spec = ServerSpec(name=name, permission_profile_json=NETWORK, **fields)
        self.names.append(name)
        return self.lifecycle.create(spec, canonical(spec), project=self.project)

    def container_id(self, name: str) -> str:
        found = self.runtime.list_containers(labels=[f"toolhive-basename={name}"])
        return found[0].id if found else ""

    def pid(self, name: str) -> int:
        status = self.store.statuses.get(name)
        return status.process_id if status else 0

    def delete_all(self) -> None:
        for name in self.names:
            self.lifecycle.delete(name, self.container_id(name))


@pytest.fixture
def workloads(test_project: str) -> Iterator[Callable[..., Workloads]]:
    made: list[Workloads] = []

    def make(**kwargs: Any) -> Workloads:
        made.append(Workloads(test_project, **kwargs))
        return made[-1]

    yield make
    for w in made:
        w.delete_all()


def url(canon: dict[str, Any], sse: bool) -> str:
    return f"http://127.0.0.1:{canon['port']}/{'sse' if sse else 'mcp'}"


@pytest.mark.parametrize(
    ("transport", "proxy_mode"),
    [
        ("stdio", "streamable-http"),
        ("stdio", "sse"),
        ("sse", "sse"),
        ("streamable-http", "streamable-http"),
    ],
)
def test_sdk_client_through_the_proxy(workloads, transport: str, proxy_mode: str) -> None:
    w = workloads()
    name = f"{PX}-{transport}-{proxy_mode}"[:40]
    canon = w.create(name, transport=transport, proxy_mode=proxy_mode)
    status = w.store.statuses.get(name)
    assert status is not None and status.status == "running" and pid_alive(status.process_id)
    assert get_workload(w.runtime, w.store, name).status == "running"
    sse = proxy_mode == "sse"
    assert asyncio.run(mcp_round_trip(url(canon, sse), sse=sse)) == (TOOLS, "hello")

    w.lifecycle.delete(name, w.container_id(name))
    assert not w.container_id(name) and w.store.statuses.get(name) is None
    wait_until(lambda: not pid_alive(status.process_id))
    assert is_available(canon["port"])


def test_start_heals_a_killed_proxy(workloads) -> None:
    w = workloads()
    canon = w.create(f"{PX}-heal")
    container, old = w.container_id(f"{PX}-heal"), w.pid(f"{PX}-heal")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old))
    stale = get_workload(w.runtime, w.store, f"{PX}-heal")
    assert stale.status == "unhealthy" and "proxy" in stale.status_context

    w.lifecycle.start(f"{PX}-heal", container)
    new = w.pid(f"{PX}-heal")
    assert new != old and pid_alive(new) and w.container_id(f"{PX}-heal") == container
    assert get_workload(w.runtime, w.store, f"{PX}-heal").status == "running"
    assert asyncio.run(mcp_round_trip(url(canon, False), text="healed")) == (TOOLS, "healed")


def test_stop_proxy_frees_the_port_when_the_pid_record_is_lost(workloads) -> None:
    w = workloads()
    canon = w.create(f"{PX}-lost")
    pid = w.pid(f"{PX}-lost")
    w.store.statuses.set_pid(f"{PX}-lost", 0)
    assert not is_available(canon["port"])
    assert stop_proxy(w.store, f"{PX}-lost", canon["port"]) is True
    assert not pid_alive(pid) and is_available(canon["port"])


def test_stop_then_start_keeps_the_container(workloads) -> None:
    w = workloads()
    canon = w.create(f"{PX}-cycle")
    container, pid = w.container_id(f"{PX}-cycle"), w.pid(f"{PX}-cycle")
    w.lifecycle.stop(f"{PX}-cycle", container)
    status = w.store.statuses.get(f"{PX}-cycle")
    assert status is not None and (status.status, status.process_id) == ("stopped", 0)
    assert not pid_alive(pid) and is_available(canon["port"])
    w.lifecycle.start(f"{PX}-cycle", container)
    assert w.container_id(f"{PX}-cycle") == container and pid_alive(w.pid(f"{PX}-cycle"))
    assert asyncio.run(mcp_round_trip(url(canon, False))) == (TOOLS, "hello")


def test_a_server_that_never_answers_fails_the_start(workloads) -> None:
    w = workloads(ready_timeout=2)
    ensure_busybox_image()
    with pytest.raises(EngineError, match="did not answer MCP initialize within 2s") as info:
        w.create(f"{PX}-mute", image=BUSYBOX_IMAGE)  # sleeps forever, reads nothing
    assert info.value.hint == f"thv logs {PX}-mute"
    status = w.store.statuses.get(f"{PX}-mute")
    assert status is not None and status.status == "unhealthy"
    assert pid_alive(status.process_id)  # the proxy stays; the server may still come up


def test_a_container_killed_from_outside_is_started_again(workloads, docker_client) -> None:
    """``docker kill`` counts as a stop by hand for the engine, which then leaves the container
    alone; the proxy starts it again and serves on, and the new process ends old sessions."""
    w = workloads()
    name = f"{PX}-dies"
    canon = w.create(name)
    pid, container = w.pid(name), w.container_id(name)
    before = docker_client.containers.get(container).attrs["State"]["StartedAt"]
    docker_client.containers.get(container).kill()

    def restarted() -> bool:
        state = docker_client.containers.get(container).attrs["State"]
        status = w.store.statuses.get(name)
        return state["StartedAt"] != before and status is not None and status.status == "running"

    wait_until(restarted, timeout=30)
    assert w.pid(name) == pid and pid_alive(pid), "the same proxy serves on"
    assert asyncio.run(mcp_round_trip(url(canon, False), text="back")) == (TOOLS, "back")
    log = (w.store.paths.logs / f"{name}.log").read_text()
    assert "the container exited with code 137; starting it again (restart 1 of 10)" in log
    assert "serving again (a new server process: client sessions were ended)" in log
