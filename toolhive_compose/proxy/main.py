"""The detached proxy process: ``thv start <name> --foreground``.

Reads the workload's run config, finds its container, attaches (stdio) or targets its
published port (sse / streamable-http; for a ToolHive workload with network isolation, the
port its ``<container>-ingress`` sidecar publishes on 127.0.0.1, as ToolHive's proxy does)
or the remote URL, binds ``127.0.0.1:<port>``, and
only then records ``running`` with its own PID in the status file (ToolHive's semantics: a
running workload carries the live proxy PID) — unless the workload was stopped or removed
meanwhile (its status no longer says starting), in which case it exits.  From then on it
supervises its container (:mod:`.supervisor`): it rides out engine restarts, restarts a
container that stopped when nobody asked, and gives up (status ``error``, exit code 1) on a
crash loop or an engine that does not come back.  SIGTERM/SIGINT end it cleanly; the PID is
then cleared if it is still ours.  A workload being stopped or removed (status
``stopping``/``removing``) is never restarted: the proxy exits with code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import FileBusy, StateError
from ..runtime.endpoint import engine_host
from ..state.store import Store
from . import engine_async
from .engine_async import ContainerState, EngineFailure, find_container, published_port
from .http.guard import guarded
from .http.outage import Gate
from .http.server import log, serve_connection
from .http.wire import Conn, Request
from .links import HttpLink, StdioLink
from .restart_policy import Policy
from .supervisor import Supervisor, Target
from .transports.bridge import Bridge
from .transports.reverse import ReverseProxy, Upstream
from .transports.stdio import StdioApp
from .transports.toolsurface import SurfaceGuard

CONTAINER_WAIT = 15.0  # seconds to wait for the container to be running
MARK_RUNNING_WAIT = 15.0  # seconds to keep trying to take the status file's lock
SERVING_STATES = ("running", "starting", "unhealthy")

App = Callable[[Request, Conn], Awaitable[bool]]


def run(name: str) -> int:
    """Run the proxy for workload ``name`` until stopped; the process exit code."""
    store = Store.from_env()
    try:
        rc = store.runconfigs.read(name)
    except Exception as exc:  # a StateError, or a broken file
        log(f"error: cannot read the run config of {name}: {exc}")
        return 1
    if rc is None:
        log(f"error: workload {name} has no run config")
        return 1
    gc.freeze()  # the imports' objects: collections no longer walk them (forked: no-op)
    try:
        return asyncio.run(Proxy(name, rc, store).run())
    except KeyboardInterrupt:
        return 0


class Proxy:
    """One workload's proxy: set up, serve and supervise until a signal or the end."""

    def __init__(self, name: str, rc: dict[str, Any], store: Store) -> None:
        self.name = name
        self.rc = rc
        self.store = store
        self.host = engine_host()
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Future[Any]] = []  # background tasks, kept referenced
        self.guard = SurfaceGuard(name, store, rc)  # the tool surface: filter, overrides, pins

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        bind_host, port = str(self.rc.get("host") or "127.0.0.1"), int(self.rc.get("port") or 0)
        try:
            app, supervise = await self._application()
            handler = guarded(app, bind_host)
            server = await asyncio.start_server(
                lambda r, w: serve_connection(r, w, handler), bind_host, port
            )
        except (EngineFailure, OSError, ValueError) as exc:
            return 0 if self.stop.is_set() else self._failed(f"proxy failed to start: {exc}")
        try:
            serving = not self.stop.is_set() and await self._mark_running()
        except StateError as exc:  # the status file stays locked, or cannot be written
            server.close()
            return self._failed(f"cannot record that the proxy serves: {exc.message}")
        if not serving:  # stopped or removed while it started: it has nothing to serve
            server.close()
            return 0
        if self.guard.active:
            self.guard.write_report()
        log(f"proxy for {self.name} serving on http://{bind_host}:{port} (pid {os.getpid()})")
        code = await supervise()
        server.close()
        self.store.statuses.reset_pid_if_match(self.name, os.getpid())
        log(f"proxy for {self.name} stopped")
        return code

    async def _mark_running(self) -> bool:
        """``running`` with this PID, unless a stop came first.  ToolHive's 1 s wait for the
        status file's lock is short on a loaded machine (a thv command polling the file, others
        writing it); a proxy that serves already has nothing better to do than wait longer."""
        deadline = time.monotonic() + MARK_RUNNING_WAIT
        while True:
            try:
                return self.store.statuses.set_running(
                    self.name, os.getpid(), only_from=SERVING_STATES
                )
            except FileBusy:
                if time.monotonic() >= deadline or self.stop.is_set():
                    raise
                await asyncio.sleep(0.05)

    def _failed(self, reason: str) -> int:
        log(f"error: {reason}")
        with contextlib.suppress(StateError):  # a damaged status file: the log says it
            self.store.statuses.transition(self.name, "error", reason, only_from=SERVING_STATES)
        return 1

    async def _application(self) -> tuple[App, Callable[[], Awaitable[int]]]:
        """The request handler, and what runs while it serves (returns the exit code)."""
        rc = self.rc
        if rc.get("remote_url"):
            proxy = ReverseProxy(Upstream.from_url(str(rc["remote_url"])), self.guard)
            return proxy.handle, self.stop_wait
        state = await self._running_container()
        target: Target
        handle: App
        if str(rc.get("transport") or "stdio") == "stdio":
            bridge = Bridge(_unattached, _nothing, self.guard)
            link = StdioLink(self.host, bridge)
            await link.connect(state.id, new_process=True)
            app = StdioApp(bridge, sse=rc.get("proxy_mode") == "sse")
            self._tasks.append(asyncio.ensure_future(app.janitor()))
            handle, target = app.handle, link
        else:
            port = int(rc["target_port"])
            if rc.get("isolate_network"):  # ToolHive's ingress sidecar stands in front of it
                port = await self._ingress_port()
            upstream = Upstream.from_url(f"http://{rc.get('target_host') or '127.0.0.1'}:{port}")
            gate = Gate()
            proxy = ReverseProxy(upstream, self.guard, gate)
            handle, target = proxy.handle, HttpLink(upstream, gate)
        supervisor = Supervisor(
            self.name,
            DockerEngine(self.host, self.name),
            target,
            StatusReporter(self.store, self.name, os.getpid()),
            self.stop,
            policy=Policy.from_env(),
            log=log,
        )
        return handle, lambda: supervisor.watch(state)

    async def stop_wait(self) -> int:
        await self.stop.wait()
        return 0

    async def _running_container(self) -> ContainerState:
        deadline = asyncio.get_running_loop().time() + CONTAINER_WAIT
        while True:
            found = await find_container(self.host, self.name)
            if found is None:
                raise EngineFailure(f"workload {self.name} has no container")
            if found.get("State") == "running":
                state = await engine_async.inspect(self.host, str(found["Id"]))
                if state.running:
                    return state
            if asyncio.get_running_loop().time() > deadline or self.stop.is_set():
                raise EngineFailure(f"the container of {self.name} is {found.get('State')}")
            await asyncio.sleep(0.2)

    async def _ingress_port(self) -> int:
        """The host port of the running ``<container>-ingress`` sidecar (it is not in the
        run config: ToolHive picks it at random each time it makes the sidecar)."""
        name = f"{self.rc.get('container_name') or self.name}-ingress"
        deadline = asyncio.get_running_loop().time() + CONTAINER_WAIT
        while True:
            port = await published_port(self.host, name)
            if port:
                return port
            if asyncio.get_running_loop().time() > deadline or self.stop.is_set():
                raise EngineFailure(f"the ingress sidecar {name} is not running")
            await asyncio.sleep(0.2)


class DockerEngine:
    """The supervisor's :class:`~.supervisor.Engine`: the Engine API for one workload."""

    def __init__(self, host: str, name: str) -> None:
        self.host = host
        self.name = name

    async def inspect(self, container_id: str) -> ContainerState:
        return await engine_async.inspect(self.host, container_id)

    async def start(self, container_id: str) -> None:
        await engine_async.start(self.host, container_id)

    async def stop(self, container_id: str) -> None:
        await engine_async.stop(self.host, container_id)

    async def wait_stopped(self, container_id: str) -> int | None:
        return await engine_async.wait_stopped(self.host, container_id)

    async def log_tail(self, container_id: str, lines: int) -> list[str]:
        return await engine_async.log_tail(self.host, container_id, lines)

    async def find(self) -> str | None:
        found = await find_container(self.host, self.name)
        return str(found["Id"]) if found else None


class StatusReporter:
    """The supervisor's :class:`~.supervisor.Reporter`: this proxy's status-file writes,
    which never overwrite ``stopping``/``removing`` nor another proxy's record."""

    def __init__(self, store: Store, name: str, pid: int) -> None:
        self.store = store
        self.name = name
        self.pid = pid

    def report(self, status: str, context: str) -> bool:
        try:
            return self.store.statuses.transition(
                self.name, status, context, only_from=SERVING_STATES, pid=self.pid
            )
        except StateError as exc:  # a damaged or locked file: keep serving, say so
            log(f"cannot record status {status}: {exc}")
            return True

    def serving(self) -> bool:
        try:
            current = self.store.statuses.get(self.name)
        except StateError as exc:
            log(f"cannot read the status: {exc}")
            return True
        return (
            current is not None
            and current.status in SERVING_STATES
            and current.process_id == self.pid
        )


def _unattached(data: bytes) -> None:
    """The bridge's writer before the first attach."""


async def _nothing() -> None:
    return None
