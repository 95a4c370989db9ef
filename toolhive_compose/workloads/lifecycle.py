"""Workload lifecycle operations: create, start, stop, delete, move between groups.

The declarative executor and the imperative commands both call these.  Each operation
writes ToolHive's state in the order ToolHive does (run config saved before the container
is made; status ``starting``/``stopping``/``removing`` before the engine call, the final
status after; the proxy's PID as soon as it is spawned), so an interruption at any point
leaves state the next ``apply`` converges from.

A run config is rewritten, never replaced: the keys this tool does not write (ToolHive's
``oidc_config``, ``middleware_configs``, a future key) survive a recreate or an upgrade.  A
damaged one is copied to ``<name>.json.corrupted`` before it is written over; stopping or
removing a workload never needs it.  Owners of groups and adopted workloads are recorded in
the ownership file (:mod:`toolhive_compose.state.ownership`), which ToolHive never rewrites.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import Cancelled, DamagedFile, EngineError
from ..fingerprint import config_hash
from ..model import ServerSpec
from ..ports import PortAllocator, is_available
from ..proxy.processes.procfs import pid_alive
from ..runtime import Runtime
from ..secrets import resolve_secret_value
from ..state import Store, group_document
from ..state.runconfig import HTTP_TRANSPORTS, build_runconfig, merge_runconfig
from ..state.surfaces import delete_report
from . import isolation
from .containers import container_params
from .inflight import ContainerGone, create_container, start_container
from .queries import mcp_endpoint

if TYPE_CHECKING:
    from ..proxy.processes.control import Launcher, ProxyProcess

READY_TIMEOUT = 60.0  # seconds for a new proxy's MCP round trip to succeed
REMOTE_READY_TIMEOUT = 10.0
PROXY_START_TIMEOUT = 30.0  # the proxy waits up to 15 s for its container to run


class Lifecycle:
    def __init__(
        self,
        runtime: Runtime,
        store: Store,
        *,
        environ: Mapping[str, str] | None = None,
        ready_timeout: float = READY_TIMEOUT,
        launcher: Launcher | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.environ = environ
        self.ready_timeout = ready_timeout  # seconds; 0 = do not wait for readiness
        self.ports = PortAllocator(self._ports_in_state)
        self._launcher = launcher  # started by the caller, who ends it

    # -- proxies -------------------------------------------------------------------------
    @contextlib.contextmanager
    def launching_proxies(self) -> Iterator[None]:
        """Proxies are about to start (several, or on the critical path): fork them from one
        pre-loaded launcher, started now so that its start-up overlaps the engine work, and
        ended on leaving (the proxies it started keep running)."""
        from ..proxy.processes.control import Launcher

        if self._launcher is not None:
            yield
            return
        self._launcher = Launcher(self.store.paths)
        try:
            yield
        finally:
            launcher, self._launcher = self._launcher, None
            launcher.close()

    def _spawn_proxy(self, name: str) -> ProxyProcess:
        from ..proxy.processes.control import spawn_proxy

        launcher = self._launcher
        started = launcher.spawn(name) if launcher is not None else None
        return started if started is not None else spawn_proxy(self.store.paths, name)

    # -- workloads -----------------------------------------------------------------------
    def create(self, spec: ServerSpec, canon: dict[str, Any], *, project: str) -> dict[str, Any]:
        """Save state, make the container, start it when wanted.  Returns the final spec."""
        canon = self._with_ports(spec, canon)
        rc = build_runconfig(
            spec,
            port=canon["port"],
            target_port=canon["target_port"],
            project=project,
            canon=canon,
            config_hash=config_hash(canon),
            image_cmd=self._image_cmd(spec),
        )
        rc = self._save_runconfig(spec.name, rc, canon)
        starting = spec.state == "running"
        # A workload made stopped never starts, so its status says stopped from the outset:
        # a crash before its container exists leaves a stopped workload without one, which
        # the next apply creates.  (One status write per workload, not two: 2,000 of them
        # are ~2 s of CPU, on the cores the engine needs for the creates.)
        self.store.statuses.set_status(spec.name, "starting" if starting else "stopped")
        if spec.remote:  # no container: the proxy is the workload
            if starting:
                self._finish_start(spec.name)
            return canon
        params = container_params(rc, self._secret_env(spec))
        try:
            container_id = create_container(self.runtime, params)
            if starting:
                try:
                    start_container(self.runtime, container_id)
                except ContainerGone:  # removed under us, or lost by a crashed engine: again
                    start_container(self.runtime, create_container(self.runtime, params))
        except Exception as exc:
            self._record_error(spec.name, exc)
            raise
        if starting:
            self._finish_start(spec.name)
        return canon

    def replace(
        self, spec: ServerSpec, canon: dict[str, Any], *, project: str, container_id: str
    ) -> dict[str, Any]:
        """Recreate: the old container goes, then the new one is made (ToolHive's update)."""
        self.store.statuses.set_status(spec.name, "stopping")
        self._take_down(spec.name, container_id)
        return self.create(spec, canon, project=project)

    def start(self, name: str, container_id: str) -> None:
        """Start the container (an isolated workload's sidecars first), then its proxy.
        :class:`~.inflight.ContainerGone` when the container went away meanwhile; a damaged
        run config (the proxy needs it) fails here, named."""
        rc = self.store.runconfigs.read(name)
        self.store.statuses.set_status(name, "starting")
        try:
            if container_id:
                isolated = isolation.has_isolation(rc)
                cname = isolation.container_name(name, rc)
                if isolated:
                    isolation.start_sidecars(self.runtime, cname, isolation.BEFORE_SERVER)
                start_container(self.runtime, container_id)
                if isolated:
                    isolation.start_sidecars(self.runtime, cname, isolation.AFTER_SERVER)
        except Exception as exc:
            self._record_error(name, exc)
            raise
        self._finish_start(name)

    def stop(self, name: str, container_id: str) -> None:
        """The proxy, the container, then an isolated workload's sidecars."""
        self.store.statuses.set_status(name, "stopping")
        self._stop_proxy(name)
        if container_id:
            self.runtime.stop(container_id)
        rc = self.store.runconfigs.read_or_none(name)  # None: unreadable, so maybe isolated
        if rc is None or isolation.has_isolation(rc):
            isolation.stop_sidecars(self.runtime, isolation.container_name(name, rc))
        self.store.statuses.set_status(name, "stopped")

    def delete(self, name: str, container_id: str) -> None:
        """Container, proxy, run config and status go — whatever state their files are in."""
        self.store.statuses.set_status(name, "removing")
        self._take_down(name, container_id)
        self.store.runconfigs.delete(name)
        self.store.statuses.delete(name)
        delete_report(self.store.paths, name)
        with contextlib.suppress(DamagedFile):  # a stale record names nobody (see ownership)
            self.store.ownership.drop_workload(name)

    def _take_down(self, name: str, container_id: str) -> None:
        """Remove the container while its proxy stops: SIGTERM first, then the engine call,
        then the wait for the proxy's exit (usually over by then).

        The status already says stopping/removing, which a dying proxy never overwrites."""
        from ..proxy.processes.control import begin_stop_proxy

        rc = self.store.runconfigs.read_or_none(name)  # None: unreadable, so maybe isolated
        stopping = begin_stop_proxy(self.store, name, int((rc or {}).get("port") or 0))
        try:
            if container_id:
                self.runtime.remove(container_id)
            if rc is None or isolation.has_isolation(rc):
                isolation.remove_sidecars(self.runtime, isolation.container_name(name, rc))
        finally:
            stopping.finish()

    def move_group(self, name: str, group: str) -> None:
        """Rewrite the run config's group only: no restart (ToolHive's MoveToGroup)."""
        rc = self.store.runconfigs.read(name)
        if rc is None:
            raise EngineError(f"workload {name} has no run config to move")
        rc["group"] = group
        self.store.runconfigs.write(name, rc)

    def reconfigure(self, name: str, canon: dict[str, Any]) -> None:
        """Rewrite the run config's tool settings (ToolHive's ``tools_filter`` and
        ``tools_override``, our pins) and make a serving proxy follow them without touching
        the container: ours re-reads them on the next ``tools/*`` message, which one MCP round
        trip through it provokes and its report confirms; any other (ToolHive's) is restarted."""
        from ..state.runconfig_spec import tool_config, with_tool_settings

        rc = self.store.runconfigs.read(name)
        if rc is None:
            raise EngineError(f"workload {name} has no run config to reconfigure")
        rc = with_tool_settings(rc, canon)
        self.store.runconfigs.write(name, rc)
        status = self.store.statuses.get(name)
        if status is None or status.status != "running" or not pid_alive(status.process_id):
            return  # no proxy: the next one reads the new settings
        if not self._proxy_follows(name, rc, status.process_id, tool_config(rc).digest()):
            self._finish_start(name)

    def _proxy_follows(self, name: str, rc: dict[str, Any], pid: int, digest: str) -> bool:
        from ..proxy.processes.readiness import NotReady, wait_ready
        from ..state.surfaces import read_report

        url, sse = mcp_endpoint(name, rc)
        try:
            wait_ready(url, sse=sse, timeout=min(self.ready_timeout, REMOTE_READY_TIMEOUT) or 5)
        except NotReady:
            return False
        report = read_report(self.store.paths, name)
        return report.get("pid") == pid and report.get("tool_config") == digest

    def adopt(self, name: str, canon: dict[str, Any], *, project: str) -> None:
        """Take an unmanaged workload under ``project`` without touching its container or
        proxy: ownership and spec go into its run config (``apply --adopt``)."""
        from ..state.runconfig import adopt_runconfig

        rc = self.store.runconfigs.read(name)
        if rc is None:
            raise EngineError(f"workload {name} has no run config to adopt")
        status = self.store.statuses.get(name)
        if status is not None:  # ToolHive's next rewrite of the run config drops our key
            self.store.ownership.set_workload(name, project, status.created_at)
        self.store.runconfigs.write(name, adopt_runconfig(rc, project=project, canon=canon))

    # -- groups --------------------------------------------------------------------------
    def group_create(self, name: str, *, project: str = "", description: str = "") -> None:
        """Create the group file as ToolHive does (an existing one is not touched: its
        ``registered_clients`` are ToolHive's); a project's ownership is recorded apart."""
        self.store.groups.create(name, group_document(name))
        if project:
            self.store.ownership.set_group(name, project, description)

    def group_delete(self, name: str) -> None:
        self.store.groups.delete(name)
        with contextlib.suppress(DamagedFile):
            self.store.ownership.drop_group(name)

    # -- helpers -------------------------------------------------------------------------
    def _finish_start(self, name: str) -> None:
        """Replace any stale proxy with a new one, wait until it serves (it records
        ``running`` and its PID itself), then until MCP answers through it.

        A server that never answers leaves the status ``unhealthy`` and fails the action.
        A remote server is only marked ``unhealthy`` (or ``unauthenticated``): it may well
        be unreachable from here, so it gets a shorter timeout and never fails the action.
        ``ready_timeout=0`` skips the MCP round trip, not the wait for the proxy.
        """
        from ..proxy.processes.control import ProxyNotServing, wait_serving
        from ..proxy.processes.readiness import NotReady, Unauthorized, wait_ready

        rc = self.store.runconfigs.read(name) or {}
        self._stop_proxy(name)
        try:
            proc = self._spawn_proxy(name)
            self.store.statuses.set_pid(name, proc.pid)  # ToolHive records it right away
            wait_serving(self.store, name, proc, PROXY_START_TIMEOUT)
        except (OSError, ProxyNotServing) as exc:
            self._proxy_failed(name, exc)
        if self.ready_timeout <= 0:
            return
        remote = bool(rc.get("remote_url"))
        timeout = min(self.ready_timeout, REMOTE_READY_TIMEOUT) if remote else self.ready_timeout
        url, sse = mcp_endpoint(name, rc)
        try:
            wait_ready(url, sse=sse, timeout=timeout, alive=proc.running)
        except Unauthorized as exc:
            self.store.statuses.set_status(name, "unauthenticated", str(exc))
        except NotReady as exc:
            if not remote:  # an engine that died meanwhile is the reason to report
                self.runtime.list_containers(names=[name])
            self.store.statuses.set_status(name, "unhealthy", f"no MCP answer: {exc}")
            if not remote:
                raise EngineError(
                    f"server {name} did not answer MCP initialize within {timeout:g}s",
                    hint=f"thv logs {name}",
                ) from None

    def _record_error(self, name: str, exc: BaseException) -> None:
        """Status ``error`` with the reason; a cancelled action records nothing (it is
        fenced: the next apply converges from the status it left)."""
        if not isinstance(exc, Cancelled):
            self.store.statuses.set_status(name, "error", str(exc))

    def _proxy_failed(self, name: str, exc: BaseException) -> NoReturn:
        """The proxy could not start: say why (its log's last line when it exited)."""
        from ..proxy.processes.control import ProxyNotServing, log_path, stop_proxy

        if isinstance(exc, ProxyNotServing) and exc.exited:
            why = _last_line(log_path(self.store.paths, name))  # the proxy wrote `error`
        else:
            why = str(exc)
            stop_proxy(self.store, name, self._proxy_port(name))
            self.store.statuses.set_status(name, "error", f"the proxy did not start: {why}")
        raise EngineError(
            f"the proxy of {name} did not start: {why}", hint=f"thv logs {name} --proxy"
        ) from None

    def _stop_proxy(self, name: str) -> None:
        from ..proxy.processes.control import stop_proxy

        stop_proxy(self.store, name, self._proxy_port(name))

    def _proxy_port(self, name: str) -> int:
        """The proxy's port, for the port-fallback stop (0 when the run config is unusable)."""
        rc = self.store.runconfigs.read_or_none(name) or {}
        return int(rc.get("port") or 0)

    def _save_runconfig(
        self, name: str, rc: dict[str, Any], canon: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``rc`` over the current run config, keeping the keys it does not set (a
        kept middleware chain's tool-filter entries follow the new tool settings); the run
        config as written, which the container is made from."""
        from ..state.runconfig_spec import with_tool_settings

        try:
            current = self.store.runconfigs.read(name)
        except DamagedFile:
            self.store.runconfigs.keep_copy(name)
            current = None
        merged = with_tool_settings(merge_runconfig(current, rc), canon)
        self.store.runconfigs.write(name, merged)
        return merged

    def _with_ports(self, spec: ServerSpec, canon: dict[str, Any]) -> dict[str, Any]:
        canon = dict(canon)
        canon["port"] = self._port(spec.name, canon.get("port"), "port")
        http = spec.transport in HTTP_TRANSPORTS and not spec.remote
        canon["target_port"] = (
            self._port(spec.name, canon.get("target_port"), "target_port") if http else None
        )
        return canon

    def _port(self, name: str, port: int | None, what: str) -> int:
        if not port:
            return self.ports.allocate()
        if not is_available(port):
            raise EngineError(
                f"cannot create {name}: {what} {port} is already in use on 127.0.0.1",
                hint="free the port, or choose another one in the workloads file",
            )
        self.ports.claim(port)
        return port

    def _ports_in_state(self) -> set[int]:
        taken: set[int] = set()
        for name in self.store.runconfigs.names():
            rc = self.store.runconfigs.read_or_none(name) or {}
            taken.update(int(rc[k]) for k in ("port", "target_port") if rc.get(k))
        return taken

    def _secret_env(self, spec: ServerSpec) -> dict[str, str]:
        return {s.target: resolve_secret_value(s, self.environ) for s in spec.secrets}

    def _image_cmd(self, spec: ServerSpec) -> tuple[str, ...]:
        """The image's ``CMD``, which the container runs (and the engine records) when the
        spec gives no args; the run config records it for ToolHive's re-create check."""
        if spec.remote or spec.args:
            return ()
        cmd = self.runtime.image_config(spec.image_ref or spec.image).get("Cmd")
        return tuple(str(a) for a in cmd) if isinstance(cmd, list) else ()


def _last_line(path: Path) -> str:
    """The proxy log's last line: why it exited."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no proxy log"
    return lines[-1] if lines else "empty proxy log"
