"""The proxy against the official MCP SDK clients, with local servers (no Docker).

The test MCP server (``tests/support/mcp_server.py``) runs as a local process: over pipes
behind the stdio bridge, or over HTTP behind the reverse proxy.  The last tests go through
the whole detached-process path with remote workloads (which have no container).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_helpers import TOOLS, free_port, mcp_round_trip, wait_port, wait_until
from toolhive_compose.errors import EngineError
from toolhive_compose.fingerprint import canonical
from toolhive_compose.model import ServerSpec
from toolhive_compose.ports import is_available
from toolhive_compose.proxy.http.server import serve_connection
from toolhive_compose.proxy.processes.control import Launcher, proxy_command, stop_proxy
from toolhive_compose.proxy.processes.procfs import cmdline, is_proxy_for, pid_alive
from toolhive_compose.proxy.transports.bridge import Bridge, LineSplitter
from toolhive_compose.proxy.transports.reverse import ReverseProxy, Upstream
from toolhive_compose.proxy.transports.stdio import StdioApp
from toolhive_compose.proxy.transports.toolsurface import SurfaceGuard
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

SERVER = Path(__file__).parent / "support" / "mcp_server.py"


BACKGROUND: list[asyncio.Future[Any]] = []  # tasks of the loop thread, kept referenced


class LoopThread:
    """An asyncio loop on its own thread, for proxy apps served in this process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        BACKGROUND.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


async def serve_stdio_app(
    port: int,
    *,
    sse: bool,
    server: Path = SERVER,
    env: dict[str, str] | None = None,
    guard: SurfaceGuard | None = None,
) -> None:
    """The stdio bridge in front of a local server process talking over pipes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(server), "--transport", "stdio",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    bridge = Bridge(proc.stdin.write, proc.stdin.drain, guard)
    app = StdioApp(bridge, sse=sse)
    stdout = proc.stdout

    async def pump() -> None:
        try:
            lines = LineSplitter()
            while data := await stdout.read(65536):
                for line in lines.feed(data):
                    bridge.on_line(line)
        finally:  # cancelled when the test ends
            proc.kill()
            await proc.wait()

    BACKGROUND.append(asyncio.ensure_future(pump()))
    await serve(app.handle, port)


@contextlib.contextmanager
def local_servers() -> Iterator[Callable[..., int]]:
    """start(transport, server=, env=) -> the port of a local FastMCP server over HTTP; the
    servers end with the block."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(transport: str, *, server: Path = SERVER, env: dict[str, str] | None = None) -> int:
        port = free_port()
        command = [sys.executable, str(server), "--transport", transport, "--port", str(port)]
        quiet = subprocess.DEVNULL
        procs.append(subprocess.Popen(command, stdout=quiet, stderr=quiet, env=env))
        wait_port(port)
        return port

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(5)


@pytest.fixture
def http_server() -> Iterator[Callable[..., int]]:
    """http_server(transport) -> port of a local FastMCP server."""
    with local_servers() as start:
        yield start


# -- stdio bridge ------------------------------------------------------------------------------
def test_stdio_bridge_streamable_http(loop_thread: LoopThread) -> None:
    port = free_port()
    loop_thread.run(serve_stdio_app(port, sse=False))
    assert asyncio.run(mcp_round_trip(f"http://127.0.0.1:{port}/mcp")) == (TOOLS, "hello")


def test_stdio_bridge_legacy_sse(loop_thread: LoopThread) -> None:
    port = free_port()
    loop_thread.run(serve_stdio_app(port, sse=True))
    url = f"http://127.0.0.1:{port}/sse"
    assert asyncio.run(mcp_round_trip(url, sse=True, text="via sse")) == (TOOLS, "via sse")


def test_stdio_bridge_keeps_concurrent_clients_apart(loop_thread: LoopThread) -> None:
    """Every client numbers its requests from 0: answers must still reach the right one."""
    port = free_port()
    loop_thread.run(serve_stdio_app(port, sse=True))

    async def many() -> list[tuple[list[str], str]]:
        calls = [
            mcp_round_trip(f"http://127.0.0.1:{port}/mcp", text=f"streamable-{i}") for i in range(4)
        ]
        calls += [
            mcp_round_trip(f"http://127.0.0.1:{port}/sse", sse=True, text=f"sse-{i}")
            for i in range(3)
        ]
        return await asyncio.gather(*calls)

    results = asyncio.run(many())
    expected = [f"streamable-{i}" for i in range(4)] + [f"sse-{i}" for i in range(3)]
    assert [text for _, text in results] == expected


# -- reverse proxy -----------------------------------------------------------------------------
@pytest.mark.parametrize(("transport", "path"), [("streamable-http", "/mcp"), ("sse", "/sse")])
def test_reverse_proxy(loop_thread: LoopThread, http_server, transport: str, path: str) -> None:
    upstream = http_server(transport)
    port = free_port()
    proxy = ReverseProxy(Upstream.from_url(f"http://127.0.0.1:{upstream}"))
    loop_thread.run(serve(proxy.handle, port))
    url = f"http://127.0.0.1:{port}{path}"
    assert asyncio.run(mcp_round_trip(url, sse=transport == "sse")) == (TOOLS, "hello")


# -- the detached proxy process, with remote workloads -----------------------------------------
async def serve(handler: Any, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, handler), "127.0.0.1", port
    )
    BACKGROUND.append(asyncio.ensure_future(server.serve_forever()))


def remote_spec(name: str, url: str) -> ServerSpec:
    return ServerSpec(name=name, url=url, transport="streamable-http", proxy_mode="streamable-http")


def test_remote_workload_proxy_process_heals_and_stops(http_server) -> None:
    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]  # remote: no runtime calls
    spec = remote_spec("rem", f"http://127.0.0.1:{upstream}/mcp")
    canon = lifecycle.create(spec, canonical(spec), project="p")
    url = f"http://127.0.0.1:{canon['port']}/mcp"
    try:
        status = store.statuses.get("rem")
        assert status is not None and status.status == "running" and pid_alive(status.process_id)
        assert asyncio.run(mcp_round_trip(url)) == (TOOLS, "hello")

        os.kill(status.process_id, signal.SIGKILL)  # the proxy dies: status is stale
        wait_until(lambda: not pid_alive(status.process_id))
        lifecycle.start("rem", "")
        healed = store.statuses.get("rem")
        assert healed is not None and healed.status == "running"
        assert healed.process_id != status.process_id and pid_alive(healed.process_id)
        assert asyncio.run(mcp_round_trip(url, text="again")) == (TOOLS, "again")

        store.statuses.set_pid("rem", 0)  # the PID record is lost while it runs
        assert stop_proxy(store, "rem", canon["port"]) is True
        wait_until(lambda: not pid_alive(healed.process_id))  # a loaded machine: its exit lags
        assert is_available(canon["port"])
    finally:
        lifecycle.delete("rem", "")
    assert store.statuses.get("rem") is None and store.runconfigs.read("rem") is None


def test_remote_workload_sse_mode(http_server) -> None:
    upstream = http_server("sse")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    spec = ServerSpec(name="rem-sse", url=f"http://127.0.0.1:{upstream}/sse", transport="sse",
                      proxy_mode="sse")  # fmt: skip
    canon = lifecycle.create(spec, canonical(spec), project="p")
    try:
        assert store.statuses.get("rem-sse").status == "running"  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{canon['port']}/sse"
        assert asyncio.run(mcp_round_trip(url, sse=True)) == (TOOLS, "hello")
    finally:
        lifecycle.delete("rem-sse", "")


def test_unreachable_remote_is_unhealthy_not_an_error() -> None:
    store = Store.from_env()
    lifecycle = Lifecycle(None, store, ready_timeout=1)  # type: ignore[arg-type]
    spec = remote_spec("gone", f"http://127.0.0.1:{free_port()}/mcp")
    lifecycle.create(spec, canonical(spec), project="p")
    try:
        status = store.statuses.get("gone")
        assert status is not None and status.status == "unhealthy"
        assert "502" in status.status_context and pid_alive(status.process_id)
    finally:
        lifecycle.delete("gone", "")


@pytest.mark.parametrize("launched", [False, True], ids=["spawned", "launched"])
def test_proxy_that_cannot_bind_fails_the_start(http_server, launched: bool) -> None:
    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    spec = remote_spec("busy", f"http://127.0.0.1:{upstream}/mcp")
    port = lifecycle.create(spec, canonical(spec), project="p")["port"]
    lifecycle.stop("busy", "")
    try:
        with socket.socket() as squatter:  # something else takes the port meanwhile
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with (
                lifecycle.launching_proxies() if launched else contextlib.nullcontext(),
                pytest.raises(EngineError, match=r"did not start: .*in use"),
            ):
                lifecycle.start("busy", "")
        status = store.statuses.get("busy")
        assert status is not None and status.status == "error"
        assert "in use" in status.status_context
    finally:
        lifecycle.delete("busy", "")


# -- the proxy launcher ----------------------------------------------------------------------
def _ignored_signals(pid: int) -> set[int]:
    """The signals ``pid`` ignores (``SigIgn`` in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {sig for sig in range(1, 65) if mask & (1 << (sig - 1))}
    return set()


def test_launched_proxies_are_ordinary_detached_proxies(http_server) -> None:
    """Forked by the launcher, each proxy is what ``thv start <name> --foreground`` would be:
    that command line (ToolHive's recogniser accepts it), a session of its own, its log,
    ``running`` with its PID; it outlives the launcher, serves MCP, and stops by PID."""
    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    specs = [remote_spec(f"forked-{i}", f"http://127.0.0.1:{upstream}/mcp") for i in range(3)]
    try:
        with lifecycle.launching_proxies():
            launcher = lifecycle._launcher
            assert launcher is not None and launcher._proc is not None
            launcher_pid = launcher._proc.pid
            canons = [lifecycle.create(s, canonical(s), project="p") for s in specs]
        wait_until(lambda: not pid_alive(launcher_pid))  # ends on leaving; the proxies live on
        plain = remote_spec("spawned-0", f"http://127.0.0.1:{upstream}/mcp")
        lifecycle.create(plain, canonical(plain), project="p")  # no launcher: a fresh process
        spawned_pid = store.statuses.get("spawned-0").process_id  # type: ignore[union-attr]
        assert signal.SIGPIPE in _ignored_signals(spawned_pid)
        for spec, canon in zip(specs, canons, strict=True):
            status = store.statuses.get(spec.name)
            assert status is not None and status.status == "running"
            pid = status.process_id
            assert pid_alive(pid) and pid != launcher_pid and os.getsid(pid) == pid
            assert cmdline(pid) == " ".join(proxy_command(spec.name))
            assert is_proxy_for(pid, spec.name) and not is_proxy_for(pid, "forked-x")
            assert (os.readlink(f"/proc/{pid}/fd/0")) == os.devnull
            assert _ignored_signals(pid) == _ignored_signals(spawned_pid)  # SIGPIPE among them
            log = store.paths.logs / f"{spec.name}.log"
            assert f"(pid {pid})" in log.read_text()
            url = f"http://127.0.0.1:{canon['port']}/mcp"
            assert asyncio.run(mcp_round_trip(url, text=spec.name)) == (TOOLS, spec.name)
        lifecycle.stop(specs[0].name, "")
        status = store.statuses.get(specs[0].name)
        assert status is not None
        assert not pid_alive(status_pid := status.process_id or 0)
        assert status_pid == 0 and is_available(canons[0]["port"])
    finally:
        for name in [s.name for s in specs] + ["spawned-0"]:
            if store.runconfigs.read_or_none(name) is not None:  # made before a failure
                lifecycle.delete(name, "")
    logs = [(store.paths.logs / f"{s.name}.log").read_text() for s in specs]
    assert not any("Traceback" in text for text in logs)


def test_without_a_launcher_proxies_start_as_processes_of_their_own(http_server) -> None:
    """A launcher that died (or never started) is not an error: the proxy is spawned."""
    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    spec = remote_spec("fallback", f"http://127.0.0.1:{upstream}/mcp")
    try:
        with lifecycle.launching_proxies():
            launcher = lifecycle._launcher
            assert launcher is not None and launcher._proc is not None
            launcher._proc.kill()
            launcher._proc.wait(5)
            assert launcher.spawn("fallback") is None
            canon = lifecycle.create(spec, canonical(spec), project="p")
        status = store.statuses.get("fallback")
        assert status is not None and status.status == "running" and pid_alive(status.process_id)
        url = f"http://127.0.0.1:{canon['port']}/mcp"
        assert asyncio.run(mcp_round_trip(url)) == (TOOLS, "hello")
    finally:
        lifecycle.delete("fallback", "")


def test_no_launcher_without_the_thv_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as ``python -m toolhive_compose``, a forked proxy's title would not name ``thv``
    and nothing could recognise it: proxies are then spawned (recognised by their env)."""
    import toolhive_compose.proxy.processes.control as process

    monkeypatch.setattr(process, "thv_script", lambda: None)
    launcher = Launcher(Store.from_env().paths)
    assert launcher.spawn("anything") is None
    launcher.close()


def test_a_launcher_started_later_starts_with_its_first_spawn() -> None:
    """``start=False``: no process until :meth:`Launcher.start` or the first spawn, which
    then forks as usual; one closed before it started never starts."""
    store = Store.from_env()
    launcher = Launcher(store.paths, start=False)
    try:
        assert launcher._proc is None
        forked = launcher.spawn("nothing-here")  # no run config: it forks, the child exits
        assert forked is not None and launcher._proc is not None
        wait_until(lambda: not forked.running())
    finally:
        launcher.close()
    closed = Launcher(store.paths, start=False)
    closed.close()
    closed.start()
    assert closed._proc is None and closed.spawn("nothing-here") is None


def test_apply_starts_the_launcher_only_when_proxies_are_in_sight(
    http_server, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``thv apply`` of servers that stay stopped starts no launcher (its imports would take
    CPU from the engine for nothing); one that wants a server running starts it before it
    observes and plans, and its proxy is forked from it."""
    from tests.support.cli import thv

    upstream = http_server("streamable-http")
    started: list[bool] = []
    real_start = Launcher.start

    def start(self: Launcher) -> None:
        started.append(self._proc is None)
        real_start(self)

    monkeypatch.setattr(Launcher, "start", start)
    path = tmp_path / "workloads.yaml"
    url = f"http://127.0.0.1:{upstream}/mcp"
    body = f"version: 1\nproject: headstart\nservers:\n  hs-remote:\n    url: {url}\n"
    path.write_text(body + "    state: stopped\n")
    try:
        result = thv(capsys, "apply", "-f", str(path), "--yes")
        assert result.code == 0, result.err
        assert "hs-remote" in result.out and started == []
        path.write_text(body)
        result = thv(capsys, "apply", "-f", str(path), "--yes")
        assert result.code == 0, result.err
        assert started and started[0] is True  # the first start made the process
        status = Store.from_env().statuses.get("hs-remote")
        assert status is not None and status.status == "running"
        assert is_proxy_for(status.process_id, "hs-remote")
    finally:
        assert thv(capsys, "down", "-f", str(path), "--yes").code == 0


def test_launcher_reports_a_proxy_that_cannot_run() -> None:
    """No run config: the forked child logs why and exits; the launcher carries on."""
    store = Store.from_env()
    launcher = Launcher(store.paths)
    try:
        first = launcher.spawn("nothing-here")
        assert first is not None
        wait_until(lambda: not first.running())
        assert first.exit_note() == "the proxy exited"
        assert "no run config" in (store.paths.logs / "nothing-here.log").read_text()
        second = launcher.spawn("nothing-either")
        assert second is not None and second.pid != first.pid
    finally:
        launcher.close()


def _gone(pid: int) -> bool:
    return not pid_alive(pid)


def test_start_all_forks_the_proxies_it_brings_back(
    http_server, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a reboot every proxy is gone: ``thv start`` of them all brings them back, forked
    from one launcher (one fresh interpreter per proxy would cost ~0.1 s of CPU each).  (By
    name, not ``--all``: the engine is shared, and other runs' workloads are on it.)"""
    from tests.support.cli import thv

    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    specs = [remote_spec(f"boot-{i}", f"http://127.0.0.1:{upstream}/mcp") for i in range(3)]
    forked: list[str] = []
    real_spawn = Launcher.spawn

    def spawn(self: Launcher, name: str):  # type: ignore[no-untyped-def]
        started = real_spawn(self, name)
        if started is not None:
            forked.append(name)
        return started

    monkeypatch.setattr(Launcher, "spawn", spawn)
    try:
        canons = [lifecycle.create(s, canonical(s), project="p") for s in specs]
        for spec in specs:  # the "reboot": proxies killed, status files still say running
            pid = store.statuses.get(spec.name).process_id  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
            wait_until(functools.partial(_gone, pid))
        result = thv(capsys, "start", *(s.name for s in specs))
        assert result.code == 0, result.err
        assert sorted(forked) == [s.name for s in specs]
        for spec, canon in zip(specs, canons, strict=True):
            status = store.statuses.get(spec.name)
            assert status is not None and status.status == "running"
            assert is_proxy_for(status.process_id, spec.name)
            url = f"http://127.0.0.1:{canon['port']}/mcp"
            assert asyncio.run(mcp_round_trip(url, text=spec.name)) == (TOOLS, spec.name)
    finally:
        for spec in specs:
            lifecycle.delete(spec.name, "")


def test_proxy_refuses_rebound_hosts_and_foreign_origins(http_server) -> None:
    """DNS-rebinding protection on the real detached proxy: a page on another site (its
    Origin) or reached through a rebound name (its Host) gets 403; MCP clients pass."""
    import http.client

    upstream = http_server("streamable-http")
    store = Store.from_env()
    lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
    spec = remote_spec("guarded", f"http://127.0.0.1:{upstream}/mcp")
    port = lifecycle.create(spec, canonical(spec), project="p")["port"]
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def post(**extra: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/mcp", body=body, headers={**headers, **extra})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    try:
        assert post(Host=f"attacker.example:{port}") == 403
        assert post(Origin="https://attacker.example") == 403
        assert post(Origin="null") == 403
        assert post(Origin="http://localhost:6274") != 403  # the MCP Inspector
        assert asyncio.run(mcp_round_trip(f"http://127.0.0.1:{port}/mcp")) == (TOOLS, "hello")
        assert asyncio.run(mcp_round_trip(f"http://localhost:{port}/mcp")) == (TOOLS, "hello")
        log = (store.paths.logs / "guarded.log").read_text()
        assert "DNS rebinding protection" in log
    finally:
        lifecycle.delete("guarded", "")


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDONLY, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.parametrize("wait", [0.0, 15.0], ids=["without-waiting", "waiting"])
def test_a_proxy_waits_out_a_status_lock_held_longer_than_toolhives_wait(
    wait: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine another process may hold the status file's lock past ToolHive's 1 s
    wait; the proxy, already listening, keeps trying rather than exit."""
    from toolhive_compose.errors import FileBusy
    from toolhive_compose.proxy import main
    from toolhive_compose.proxy.main import Proxy

    monkeypatch.setattr(main, "MARK_RUNNING_WAIT", wait)

    store = Store.from_env()
    store.statuses.set_status("busy-lock", "starting")
    lock = store.statuses.path("busy-lock").with_suffix(".lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock), "2.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        proxy = Proxy("busy-lock", {"name": "busy-lock"}, store)
        if not wait:  # ToolHive's 1 s alone: the lock is still held
            with pytest.raises(FileBusy):
                asyncio.run(proxy._mark_running())
            return
        assert asyncio.run(proxy._mark_running())
    finally:
        holder.wait(10)
    status = store.statuses.get("busy-lock")
    assert status is not None and status.status == "running" and status.process_id == os.getpid()


def test_waiting_for_a_proxy_rides_out_a_busy_status_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command that started a proxy reads its status file until it says ``running``: a
    lock held past ToolHive's wait is a reason to look again, not a failed start."""
    from types import SimpleNamespace

    from toolhive_compose.errors import FileBusy
    from toolhive_compose.proxy.processes.control import wait_serving

    store = Store.from_env()
    store.statuses.set_status("busy-wait", "starting")
    assert store.statuses.set_running("busy-wait", os.getpid())
    real_get, busy = store.statuses.get, [2]

    def get(name: str) -> Any:
        if busy[0]:
            busy[0] -= 1
            raise FileBusy("could not lock …: another process held it for 1s")
        return real_get(name)

    monkeypatch.setattr(store.statuses, "get", get)
    proc = SimpleNamespace(pid=os.getpid(), running=lambda: True, exit_note=lambda: "")
    wait_serving(store, "busy-wait", proc, timeout=10)  # type: ignore[arg-type]
    assert busy == [0]
