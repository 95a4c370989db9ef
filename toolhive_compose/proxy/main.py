"""The detached proxy process: ``thv start <name> --foreground``.

Reads the workload's run config, finds its container, attaches (stdio) or targets its
published port (sse / streamable-http; for a ToolHive workload with network isolation, the
port its ``<container>-ingress`` sidecar publishes on 127.0.0.1, as ToolHive's proxy does)
or the remote URL, binds ``127.0.0.1:<port>``, and
only then records ``running`` with its own PID in the status file (ToolHive's semantics: a
running workload carries the live proxy PID) — unless the workload was stopped or removed
meanwhile (its status no longer says starting), in which case it exits.  SIGTERM/SIGINT
end it cleanly; the PID is then cleared if it is still ours.  When the container goes away
the status becomes ``unhealthy`` (unless the workload is being stopped or removed) and the
exit code is 1.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from ..runtime.endpoint import engine_host
from ..state.store import Store
from .engine_async import (
    STDERR,
    Demuxer,
    EngineFailure,
    attach,
    find_container,
    published_port,
    wait_stopped,
)
from .http.guard import guarded
from .http.server import log, serve_connection
from .http.wire import Conn, Request
from .transports.bridge import Bridge, LineSplitter
from .transports.reverse import ReverseProxy, Upstream
from .transports.stdio import StdioApp
from .transports.toolsurface import SurfaceGuard

CONTAINER_WAIT = 15.0  # seconds to wait for the container to be running
SERVING_STATES = ("running", "starting", "unhealthy")


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
    try:
        return asyncio.run(Proxy(name, rc, store).run())
    except KeyboardInterrupt:
        return 0


class Proxy:
    """One workload's proxy: set up, serve until a signal or the container's end."""

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
            app, watch = await self._application()
            handler = guarded(app, bind_host)
            server = await asyncio.start_server(
                lambda r, w: serve_connection(r, w, handler), bind_host, port
            )
        except (EngineFailure, OSError, ValueError) as exc:
            return 0 if self.stop.is_set() else self._failed(f"proxy failed to start: {exc}")
        if self.stop.is_set() or not self.store.statuses.set_running(
            self.name, os.getpid(), only_from=SERVING_STATES
        ):  # stopped or removed while it started: it has nothing to serve
            server.close()
            return 0
        if self.guard.active:
            self.guard.write_report()
        log(f"proxy for {self.name} serving on http://{bind_host}:{port} (pid {os.getpid()})")
        code = await self._serve_until_done(watch)
        server.close()
        self.store.statuses.reset_pid_if_match(self.name, os.getpid())
        log(f"proxy for {self.name} stopped")
        return code

    async def _serve_until_done(self, watch: asyncio.Future[str]) -> int:
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({stopper, watch}, return_when=asyncio.FIRST_COMPLETED)
        if self.stop.is_set():
            watch.cancel()
            return 0
        stopper.cancel()
        try:
            reason = watch.result()
        except (EngineFailure, OSError) as exc:
            reason = f"lost the container: {exc}"
        if self.store.statuses.transition(
            self.name, "unhealthy", reason, only_from=SERVING_STATES, pid=os.getpid()
        ):
            log(f"error: {reason}")
            return 1
        log(f"{reason} (the workload is being stopped or removed)")
        return 0

    def _failed(self, reason: str) -> int:
        log(f"error: {reason}")
        self.store.statuses.transition(self.name, "error", reason, only_from=SERVING_STATES)
        return 1

    async def _application(
        self,
    ) -> tuple[Callable[[Request, Conn], Awaitable[bool]], asyncio.Future[str]]:
        """The request handler and a future that completes when the server is gone."""
        rc = self.rc
        if rc.get("remote_url"):
            proxy = ReverseProxy(Upstream.from_url(str(rc["remote_url"])), self.guard)
            return proxy.handle, asyncio.get_running_loop().create_future()
        container_id = await self._container_id()
        if str(rc.get("transport") or "stdio") == "stdio":
            return await self._stdio(container_id)
        port = int(rc["target_port"])
        if rc.get("isolate_network"):  # ToolHive's ingress sidecar stands in front of it
            port = await self._ingress_port()
        target = f"http://{rc.get('target_host') or '127.0.0.1'}:{port}"
        watch = asyncio.ensure_future(self._wait_stopped(container_id))
        return ReverseProxy(Upstream.from_url(target), self.guard).handle, watch

    async def _stdio(
        self, container_id: str
    ) -> tuple[Callable[[Request, Conn], Awaitable[bool]], asyncio.Future[str]]:
        conn, multiplexed = await attach(self.host, container_id)
        bridge = Bridge(conn.writer.write, conn.writer.drain, self.guard)
        app = StdioApp(bridge, sse=self.rc.get("proxy_mode") == "sse")
        self._tasks.append(asyncio.ensure_future(app.janitor()))
        return app.handle, asyncio.ensure_future(pump_attach(conn, bridge, multiplexed))

    async def _container_id(self) -> str:
        deadline = asyncio.get_running_loop().time() + CONTAINER_WAIT
        while True:
            found = await find_container(self.host, self.name)
            if found is None:
                raise EngineFailure(f"workload {self.name} has no container")
            if found.get("State") == "running":
                return str(found["Id"])
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

    async def _wait_stopped(self, container_id: str) -> str:
        await wait_stopped(self.host, container_id)
        return f"container {container_id[:12]} is not running"


async def pump_attach(conn: Conn, bridge: Bridge, multiplexed: bool) -> str:
    """Feed the server's stdout to the bridge and its stderr to the log, until EOF."""
    demux, out, err = Demuxer(), LineSplitter(), LineSplitter()
    try:
        while data := await conn.read_some():
            frames = demux.feed(data) if multiplexed else [(1, data)]
            for stream, payload in frames:
                if stream == STDERR:
                    for line in err.feed(payload):
                        log(f"server: {line.decode(errors='replace').rstrip()}")
                else:
                    for line in out.feed(payload):
                        bridge.on_line(line)
    except (ConnectionError, OSError) as exc:
        return f"the container's stdio stream failed: {exc}"
    return "the container exited (its stdio stream closed)"
