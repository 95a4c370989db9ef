"""The proxy's supervisor against a scripted engine: who restarts what, when it gives up.

The engine here is a small state machine (no Docker): the tests make the container exit,
the engine restart it or not, go away and come back, and check what the supervisor did —
the statuses it wrote, the starts it made, whether it ended sessions — with every delay
shrunk to milliseconds.  The real engine is in ``test_restarts_docker.py``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from toolhive_compose.proxy.engine_async import (
    ContainerMissing,
    ContainerState,
    EngineUnreachable,
)
from toolhive_compose.proxy.restart_policy import Policy
from toolhive_compose.proxy.supervisor import Supervisor

FAST = Policy(
    restart_limit=3,
    stable_run=0.5,
    engine_timeout=0.3,
    first_delay=0.01,
    max_delay=0.02,
    poll_first=0.01,
    poll_max=0.02,
    grace=0.02,
)


def _stamp(n: int) -> str:
    """Now, as the engine writes times (UTC, nanoseconds); ``n`` keeps stamps distinct."""
    ns = time.time_ns() + n
    clock = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{clock}.{ns % 1_000_000_000:09d}Z"


class FakeEngine:
    """One container.  ``exit()`` ends its run; with ``policy_restarts`` the engine starts it
    again by itself; ``reachable = False`` makes every call fail as a dead engine's would."""

    def __init__(self) -> None:
        self.clock = 0
        self.state = ContainerState("c1", "running", True, False, _stamp(0), "", 0, 0)
        self.changed = asyncio.Event()
        self.reachable = True
        self.removed = False
        self.policy_restarts = False
        self.on_start: Callable[[], object] = lambda: None
        self.starts = 0
        self.stops = 0
        self.logs = ["loading config", "fatal: no config"]

    def _tick(self) -> str:
        self.clock += 1
        return _stamp(self.clock)

    def exit(self, code: int = 1) -> None:
        s = self.state
        finished = self._tick()
        if self.policy_restarts:
            self.state = ContainerState(
                s.id, "running", True, False, self._tick(), finished, code, s.restart_count + 1
            )
        else:
            self.state = ContainerState(
                s.id, "exited", False, False, s.started_at, finished, code, s.restart_count
            )
        self.poke()

    def poke(self) -> None:
        """Wake the waiters (a dead engine breaks their connection)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def _check(self) -> None:
        if not self.reachable:
            raise EngineUnreachable("cannot reach the container engine (connection refused)")
        if self.removed:
            raise ContainerMissing("no such container")

    async def inspect(self, container_id: str) -> ContainerState:
        self._check()
        return self.state

    async def start(self, container_id: str) -> None:
        self._check()
        self.starts += 1
        s = self.state
        self.state = ContainerState(s.id, "running", True, False, self._tick(), s.finished_at, 0, 0)
        self.on_start()

    async def stop(self, container_id: str) -> None:
        self._check()
        self.stops += 1

    async def wait_stopped(self, container_id: str) -> int | None:
        self._check()
        started = self.state.started_at
        while self.state.running and self.state.started_at == started:
            changed = self.changed
            await changed.wait()
            self._check()
        return self.state.exit_code

    async def log_tail(self, container_id: str, lines: int) -> list[str]:
        return self.logs[-lines:]

    async def find(self) -> str | None:
        return None


class FakeTarget:
    def __init__(self) -> None:
        self.lost: asyncio.Future[str] | None = None
        self.connects: list[bool] = []
        self.downs: list[str] = []

    async def connect(self, container_id: str, *, new_process: bool) -> None:
        self.connects.append(new_process)

    def down(self, reason: str, retry_after: float) -> None:
        self.downs.append(reason)


class FakeReporter:
    def __init__(self) -> None:
        self.written: list[tuple[str, str]] = [("running", "")]
        self.intent = True

    def report(self, status: str, context: str) -> bool:
        if not self.intent:
            return False
        self.written.append((status, context))
        return True

    def serving(self) -> bool:
        return self.intent

    @property
    def status(self) -> tuple[str, str]:
        return self.written[-1]


class Rig:
    def __init__(self, policy: Policy = FAST) -> None:
        self.engine = FakeEngine()
        self.target = FakeTarget()
        self.reporter = FakeReporter()
        self.stop = asyncio.Event()
        self.lines: list[str] = []
        self.supervisor = Supervisor(
            "srv", self.engine, self.target, self.reporter, self.stop,
            policy=policy, log=self.lines.append,
        )  # fmt: skip
        self.task = asyncio.ensure_future(self.supervisor.watch(self.engine.state))

    async def until(self, predicate: Callable[[], object], timeout: float = 3.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            assert not self.task.done(), f"supervision ended: {self.reporter.written}"
            assert asyncio.get_running_loop().time() < deadline, self.reporter.written
            await asyncio.sleep(0.005)

    async def finish(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, 3)


def run(coro_fn: Callable[[Rig], Awaitable[None]], policy: Policy = FAST) -> None:
    async def main() -> None:
        rig = Rig(policy)
        await coro_fn(rig)
        if not rig.task.done():
            await rig.finish()

    asyncio.run(main())


def test_an_exit_the_engine_leaves_alone_is_restarted_by_the_supervisor() -> None:
    async def scenario(rig: Rig) -> None:
        await asyncio.sleep(0.01)
        rig.engine.exit(137)
        await rig.until(lambda: rig.reporter.status == ("running", "") and rig.engine.starts)
        assert rig.engine.starts == 1 and rig.target.connects == [True]
        contexts = [c for s, c in rig.reporter.written if s == "unhealthy"]
        assert "the container exited with code 137; starting it again (restart 1 of 3)" in contexts
        assert rig.supervisor.restarts == 1

    run(scenario)


def test_a_restart_by_the_engine_policy_is_only_followed() -> None:
    async def scenario(rig: Rig) -> None:
        rig.engine.policy_restarts = True
        await asyncio.sleep(0.01)
        rig.engine.exit(2)
        await rig.until(lambda: rig.target.connects == [True])
        assert rig.engine.starts == 0, "the engine restarted it: the proxy must not"
        assert rig.reporter.status == ("running", "")
        assert rig.supervisor.restarts == 1

    run(scenario)


def test_a_crash_loop_ends_in_error_with_the_exit_code_and_the_last_log_lines() -> None:
    async def scenario(rig: Rig) -> None:
        loop = asyncio.get_running_loop()
        rig.engine.on_start = lambda: loop.call_later(0.005, rig.engine.exit, 3)
        await asyncio.sleep(0.01)
        rig.engine.exit(3)
        assert await asyncio.wait_for(rig.task, 5) == 1
        status, context = rig.reporter.status
        assert status == "error"
        assert context.startswith("crash loop: the container exited 4 times without staying up")
        assert "(last exit code 3)" in context
        assert "Last log lines: loading config | fatal: no config" in context
        assert "thv start srv or thv apply" in context
        assert rig.engine.starts == 3, "bounded: restart_limit restarts, no more"
        assert rig.engine.stops == 1, "stopped, so that the engine's policy leaves it alone too"

    run(scenario)


def test_a_crash_loop_driven_by_the_engine_policy_is_stopped_too() -> None:
    async def scenario(rig: Rig) -> None:
        rig.engine.policy_restarts = True
        for _ in range(5):
            await asyncio.sleep(0.02)
            if rig.task.done():
                break
            rig.engine.exit(1)
        assert await asyncio.wait_for(rig.task, 5) == 1
        assert rig.reporter.status[0] == "error" and rig.engine.starts == 0
        assert rig.engine.stops == 1

    run(scenario)


def test_a_stable_run_starts_the_count_again() -> None:
    async def scenario(rig: Rig) -> None:
        rig.engine.policy_restarts = True
        for n in (1, 2):
            await asyncio.sleep(0.02)
            rig.engine.exit(1)
            await rig.until(functools.partial(_connected, rig, n))
        assert rig.supervisor.restarts == 2
        await asyncio.sleep(0.6)  # longer than stable_run
        rig.engine.exit(1)
        await rig.until(lambda: rig.target.connects == [True, True, True])
        assert rig.supervisor.restarts == 1

    run(scenario)


def test_an_engine_that_comes_back_with_the_same_process_keeps_the_sessions() -> None:
    async def scenario(rig: Rig) -> None:
        await asyncio.sleep(0.01)
        rig.engine.reachable = False
        rig.engine.poke()  # the wait call breaks
        await rig.until(lambda: "engine is unreachable" in rig.reporter.status[1])
        assert rig.target.downs, "clients get 503 meanwhile"
        rig.engine.reachable = True
        await rig.until(lambda: rig.target.connects == [False])
        assert rig.reporter.status == ("running", "") and rig.engine.starts == 0

    run(scenario, replace(FAST, engine_timeout=5.0))


def test_an_engine_that_never_comes_back_is_given_up_on() -> None:
    async def scenario(rig: Rig) -> None:
        await asyncio.sleep(0.01)
        rig.engine.reachable = False
        rig.engine.poke()
        assert await asyncio.wait_for(rig.task, 5) == 1
        status, context = rig.reporter.status
        assert status == "error"
        assert context.startswith("the container engine did not come back within 0s")
        assert "connection refused" in context and "thv start srv once it is back" in context
        assert any("giving up" in line for line in rig.lines)

    run(scenario)


def test_a_workload_stopped_on_purpose_is_never_restarted() -> None:
    async def scenario(rig: Rig) -> None:
        await asyncio.sleep(0.01)
        rig.reporter.intent = False  # thv stop wrote `stopping` before stopping the container
        rig.engine.exit(0)
        assert await asyncio.wait_for(rig.task, 5) == 0
        assert rig.engine.starts == 0 and rig.reporter.written == [("running", "")]

    run(scenario)


def test_a_removed_container_is_an_error() -> None:
    async def scenario(rig: Rig) -> None:
        await asyncio.sleep(0.01)
        rig.engine.removed = True
        rig.engine.poke()
        assert await asyncio.wait_for(rig.task, 5) == 1
        assert rig.reporter.status[0] == "error"
        assert "removed outside thv" in rig.reporter.status[1]

    run(scenario)


def _connected(rig: Rig, n: int) -> bool:
    return len(rig.target.connects) == n


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (10, 30.0, 300.0)),
        ({"TOOLHIVE_COMPOSE_RESTART_LIMIT": "3", "TOOLHIVE_COMPOSE_ENGINE_TIMEOUT": "20"},
         (3, 30.0, 20.0)),
        ({"TOOLHIVE_COMPOSE_RESTART_LIMIT": "x", "TOOLHIVE_COMPOSE_STABLE_RUN": "-1"},
         (10, 30.0, 300.0)),
    ],
)  # fmt: skip
def test_policy_from_the_environment(env: dict[str, str], expected: tuple) -> None:
    policy = Policy.from_env(env)
    assert (policy.restart_limit, policy.stable_run, policy.engine_timeout) == expected
    assert [policy.restart_delay(n) for n in range(6)] == [0, 5, 10, 20, 40, 60]
