"""The proxy supervises its container: it rides out engine restarts and restarts crashes.

Every container workload has one proxy process, so that process is its supervisor (as
ToolHive's runner is).  While it serves, it waits for the container to stop and, for a stdio
server, for the attached stream to drop.  When either happens the workload reads
``unhealthy`` with a status context that says why, clients get 503 with ``Retry-After``
(:mod:`.http.outage`), and the supervisor works out what happened:

- **The engine does not answer** (restarting, crashed, upgraded): it is polled every few
  seconds (0.5 s growing to 2 s) for up to :attr:`Policy.engine_timeout` (5 minutes, ToolHive's
  re-attach budget); then the workload goes to ``error`` saying so and the proxy exits.
- **The container runs** (the engine restarted it, or only the stream dropped): the proxy
  re-attaches (stdio) or waits for the server to answer HTTP, and the workload reads
  ``running`` again.  A new server process cannot know the old MCP sessions, so they end.
- **The container is restarting**: the engine's own ``unless-stopped`` policy is at work; the
  supervisor only counts.
- **The container stopped and the engine will not restart it** (``docker kill``, a crashed
  engine, which leaves its containers ``Exited (137)``): after a short grace the supervisor
  starts it, with ToolHive's backoff (at once, then 5 s doubling to 60 s).

Restarts are counted from what the engine reports (a new ``StartedAt``, ``RestartCount``),
whoever made them — except those an engine outage caused — and the count starts again after
a run of at least :attr:`Policy.stable_run` (30 s).  Past :attr:`Policy.restart_limit` (10)
restarts the server is crash-looping: the supervisor stops the container (which also ends the
engine's policy restarts), writes ``error`` with the exit code and the last lines of its
log, and exits; the workload stays so until a command or ``apply`` acts.  So the engine
restarts what it can, the proxy what the engine will not, and neither loops for ever.

Intent comes from the status file: ``thv stop``/``rm``/``down`` and ``state: stopped`` write
``stopping``/``removing`` before the container stops, and a proxy whose status no longer
says it serves (or names another PID) never restarts anything; it just exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .engine_async import (
    ContainerMissing,
    ContainerState,
    EngineFailure,
    EngineUnreachable,
    epoch,
)
from .restart_policy import Policy

RESTARTING_POLL = 0.25
LOG_LINES = 5
CONTEXT_LOG_CHARS = 400


class Engine(Protocol):
    """The engine calls the supervisor makes (:mod:`.engine_async` for one container)."""

    async def inspect(self, container_id: str) -> ContainerState: ...
    async def start(self, container_id: str) -> None: ...
    async def stop(self, container_id: str) -> None: ...
    async def wait_stopped(self, container_id: str) -> int | None: ...
    async def log_tail(self, container_id: str, lines: int) -> list[str]: ...
    async def find(self) -> str | None: ...  # the workload's container id, if any


class Target(Protocol):
    """What serves the clients: the stdio bridge or the reverse proxy."""

    lost: asyncio.Future[str] | None  # completes when the connection to the server drops

    async def connect(self, container_id: str, *, new_process: bool) -> None: ...
    def down(self, reason: str, retry_after: float) -> None: ...


class Reporter(Protocol):
    """The status file, as this proxy may write it."""

    def report(self, status: str, context: str) -> bool: ...  # False: not ours to write
    def serving(self) -> bool: ...  # the status still says this proxy serves


@dataclass(frozen=True, slots=True)
class Run:
    """The run of the container the supervisor knows about."""

    container_id: str
    started_at: str
    restart_count: int
    exit_seen: str = ""  # the FinishedAt of its exit, once counted


class Done(Exception):
    """Supervision is over; ``code`` is the proxy's exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Supervisor:
    def __init__(
        self,
        name: str,
        engine: Engine,
        target: Target,
        reporter: Reporter,
        stop: asyncio.Event,
        *,
        policy: Policy | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.name = name
        self.engine = engine
        self.target = target
        self.reporter = reporter
        self.stop = stop
        self.policy = policy or Policy()
        self.log = log
        self.restarts = 0  # since the last stable run
        self._said: tuple[str, str] = ("", "")
        self._noted = ""
        self._poll = self.policy.poll_first

    async def watch(self, state: ContainerState) -> int:
        """Serve until stopped or given up; the exit code."""
        run = Run(state.id, state.started_at, state.restart_count)
        try:
            while True:
                reason = await self._serving(run)
                if reason is None:
                    return 0
                self.log(reason)
                self._say("unhealthy", reason)
                run, new_process = await self._recover(run)
                self._say("running", "")
                self.log(
                    "serving again"
                    + (" (a new server process: client sessions were ended)" if new_process else "")
                )
        except Done as done:
            return done.code

    # -- serving ---------------------------------------------------------------------------
    async def _serving(self, run: Run) -> str | None:
        """Wait for the container to stop or the stream to drop: why; None when asked to stop."""
        stopper = asyncio.ensure_future(self.stop.wait())
        waiter = asyncio.ensure_future(self.engine.wait_stopped(run.container_id))
        watched: set[asyncio.Future[Any]] = {stopper, waiter}
        lost = self.target.lost
        if lost is not None:
            watched.add(lost)
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopper, waiter):
                if not task.done():
                    task.cancel()
        if self.stop.is_set():
            return None
        if waiter.done() and not waiter.cancelled():
            exc = waiter.exception()
            if exc is None:
                code = waiter.result()
                return "the container stopped" + ("" if code is None else f" (exit code {code})")
            if isinstance(exc, EngineFailure):
                return f"lost the container engine ({exc})"
        if lost is not None and lost.done():
            return lost.result()
        return "lost the container"

    # -- recovering ------------------------------------------------------------------------
    async def _recover(self, run: Run) -> tuple[Run, bool]:
        """Until the server serves again: the run it serves from, and whether that is a new
        server process.  Raises :class:`Done` when supervision ends instead."""
        first = run.started_at
        unreachable_since: float | None = None
        engine_away = False  # an exit while the engine was away is not the server's failure
        exited_at: float | None = None
        while True:
            self._check_intent()
            try:
                state = await self.engine.inspect(run.container_id)
            except ContainerMissing:
                run = await self._replacement(run)
                continue
            except EngineUnreachable as exc:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                await self._engine_away(exc, now - unreachable_since)
                continue
            except EngineFailure as exc:
                await self._pause(self.policy.poll_max, f"inspect failed: {exc}")
                continue
            if unreachable_since is not None:
                self.log("the container engine answers again")
                unreachable_since, engine_away = None, True
                self._poll = self.policy.poll_first
            run = self._count(run, state, failure=not engine_away)
            limit = self.policy.restart_limit
            if self.restarts > limit or (self.restarts == limit and not state.running):
                await self._crash_loop(run, state)
            if state.running:
                try:
                    await self.target.connect(state.id, new_process=state.started_at != first)
                except (EngineFailure, OSError) as exc:
                    why = f"the container runs, but its server does not answer yet ({exc})"
                    self._say("unhealthy", why)
                    await self._pause(RESTARTING_POLL, why)
                    continue
                return run, state.started_at != first
            if state.restarting:  # the engine's restart policy is at work
                self._say("unhealthy", f"{_exited(state)}; the engine is restarting it")
                await self._pause(RESTARTING_POLL)
                continue
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at < self.policy.grace:
                await self._pause(RESTARTING_POLL)
                continue
            await self._restart(run, state, counted=not engine_away)
            exited_at = None

    async def _engine_away(self, exc: Exception, away: float) -> None:
        limit = self.policy.engine_timeout
        if away >= limit:
            self.log(f"error: giving up: the container engine did not come back: {exc}")
            self._say(
                "error",
                f"the container engine did not come back within {_duration(limit)} "
                f"(last error: {exc}); thv start {self.name} once it is back",
                final=True,
            )
            raise Done(1)
        self._say("unhealthy", f"the container engine is unreachable ({exc}); retrying")
        delay, self._poll = self._poll, min(self.policy.poll_max, self._poll * 1.5)
        await self._pause(delay * random.uniform(0.8, 1.2), f"waiting for the engine: {exc}")

    def _count(self, run: Run, state: ContainerState, *, failure: bool = True) -> Run:
        """Count the restarts made since ``run`` (by anyone), starting over after a stable
        run; the run known from now on.  Not a ``failure``: the engine itself went away
        meanwhile (restarted, crashed), which says nothing about the server."""
        if state.started_at != run.started_at:
            if state.restart_count > run.restart_count:
                made = state.restart_count - run.restart_count
            elif state.restart_count == run.restart_count:
                made = 1
            else:  # a start by hand (ours, or anyone's) resets the engine's count
                made = 1 + state.restart_count
            if made == 1 and run.exit_seen != state.finished_at:
                self._stable(run, state)
            if failure:
                self.restarts += made
                self.log(f"the container runs again (restart {self.restarts} since a stable run)")
            else:
                self.log("the container runs again (after the engine's own outage)")
            return Run(state.id, state.started_at, state.restart_count)
        if not state.running and state.finished_at != run.exit_seen:
            self._stable(run, state)
            return replace(run, exit_seen=state.finished_at)
        return run

    def _stable(self, run: Run, state: ContainerState) -> None:
        started = epoch(run.started_at) if run.started_at else 0.0
        if started and state.finished - started >= self.policy.stable_run:
            self.restarts = 0

    async def _restart(self, run: Run, state: ContainerState, *, counted: bool) -> None:
        """Start the container the engine left stopped, after the backoff pause."""
        delay = self.policy.restart_delay(self.restarts) if counted else 0.0
        attempt = (
            f"restart {self.restarts + 1} of {self.policy.restart_limit}"
            if counted
            else "the engine left it stopped after its outage"
        )
        when = f" in {delay:g}s" if delay else ""
        self._say("unhealthy", f"{_exited(state)}; starting it again{when} ({attempt})")
        self.log(f"{_exited(state)}; starting it again{when} ({attempt})")
        await self._pause(delay)
        self._check_intent()
        try:
            await self.engine.start(run.container_id)
        except EngineUnreachable:
            return  # the next inspect finds out
        except EngineFailure as exc:
            self.restarts += 1  # a start that fails counts as a failed run
            self.log(f"cannot start the container: {exc}")
            self._say("unhealthy", f"cannot start the container: {exc}")

    async def _crash_loop(self, run: Run, state: ContainerState) -> None:
        code = state.exit_code
        self.log(f"error: crash loop: {self.restarts} restarts; stopping the container")
        try:
            lines = await self.engine.log_tail(run.container_id, LOG_LINES)
        except EngineFailure:
            lines = []
        tail = " | ".join(lines)[-CONTEXT_LOG_CHARS:]
        context = (
            f"crash loop: the container exited {self.restarts + 1} times without staying up "
            f"{self.policy.stable_run:g}s (last exit code {code}); it was stopped. "
            f"Last log lines: {tail or '(none)'}. "
            f"Fix the server, then thv start {self.name} or thv apply"
        )
        self._say("error", context, final=True)
        try:  # stopped by hand, the engine's restart policy leaves it alone
            await self.engine.stop(run.container_id)
        except EngineFailure as exc:
            self.log(f"cannot stop the crash-looping container: {exc}")
        raise Done(1)

    async def _replacement(self, run: Run) -> Run:
        """The container is gone: supervise the workload's other one, if it has one."""
        other = await self._find()
        if other and other != run.container_id:
            self.log(f"the container was replaced by {other[:12]}; supervising that one")
            return Run(other, "", 0)
        self.log("error: the container was removed")
        self._say(
            "error",
            f"the container was removed outside thv; thv apply recreates it, "
            f"thv rm {self.name} removes the workload",
            final=True,
        )
        raise Done(1)

    async def _find(self) -> str | None:
        try:
            return await self.engine.find()
        except EngineFailure:
            return None

    # -- helpers ---------------------------------------------------------------------------
    def _check_intent(self) -> None:
        """Stop when asked to, or when the workload is being stopped or removed."""
        if self.stop.is_set():
            raise Done(0)
        if not self.reporter.serving():
            self.log("the workload is being stopped or removed: nothing to restart")
            raise Done(0)

    def _say(self, status: str, context: str, *, final: bool = False) -> None:
        """Write the status (once per change); stop supervising when it is not ours."""
        if (status, context) == self._said and not final:
            return
        if not self.reporter.report(status, context):
            self.log(f"{context or status} (the workload is being stopped or removed)")
            raise Done(0)
        self._said = (status, context)
        if status != "running":
            self.target.down(context, self.policy.grace)

    async def _pause(self, seconds: float, note: str = "") -> None:
        """Sleep, unless asked to stop meanwhile; ``note`` is logged when it is new."""
        if note and note != self._noted:
            self.log(note)
        self._noted = note
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), seconds)
        if self.stop.is_set():
            raise Done(0)


def _exited(state: ContainerState) -> str:
    why = " (out of memory)" if state.oom_killed else ""
    return f"the container exited with code {state.exit_code}{why}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
