"""What every way of carrying out a plan shares: observing for it, the risk gates, and running
it with progress (pulls too), stopping cleanly on Ctrl-C.

The gates: ``--deny CLASS`` refuses a plan with any action of that class (the CI policy gate);
a privilege-widening action needs a second, explicit answer on a terminal, or ``--allow
privilege-widening`` (with ``--yes``) off one.  Both ask through the one confirmation prompt
(:func:`.app.confirm`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import typer

from ..errors import RiskDenied
from .app import Execution, confirm

if TYPE_CHECKING:
    from ..apply.executor import Event
    from ..apply.lockcheck import LockPolicy
    from ..apply.parallel import Interrupt
    from ..model import DesiredState, ObservedState
    from ..plan.actions import Plan
    from ..proxy.processes.control import Launcher
    from ..runtime import PullProgress, Runtime
    from ..state import Store
    from ..workloads.observe import Listing

WIDENING = "privilege-widening"
EXIT_INTERRUPTED = 130


def deny_gate(plan: Plan, deny: Collection[str]) -> None:
    """:class:`RiskDenied` when an action carries a class in ``deny``."""
    hits = [(a, risk) for a in plan.actions for risk in a.risks if risk in deny]
    if not hits:
        return
    listed = ", ".join(f"{a.kind} {a.name} ({risk})" for a, risk in hits)
    classes = " ".join(f"--deny {r}" for r in sorted({risk for _, risk in hits}))
    raise RiskDenied(
        f"the plan has {len(hits)} action(s) of a denied class: {listed}",
        hint=f"review them; the plan passes without {classes} (e.g. on a reviewer's override)",
    )


def widening_gate(plan: Plan, *, allow: Collection[str]) -> None:
    """The second question, before any privilege-widening action runs."""
    widening = plan.carrying(WIDENING)
    if not widening or WIDENING in allow:
        return
    names = ", ".join(f"{a.kind} {a.name}" for a in widening)
    confirm(
        f"\n{len(widening)} action(s) widen privileges: {names} (the '!' lines above).\n"
        "Grant them? Only 'yes' will be accepted: ",
        yes=False,
        refusal=f"refusing to widen privileges ({names}) without --allow {WIDENING}: "
        "standard input is not a terminal",
        hint=f"review the '!' lines above, then run again with --allow {WIDENING}",
        cancelled="apply cancelled: the privilege-widening actions were not granted",
    )


def observe_for(
    desired: DesiredState, runtime: Runtime, store: Store, listing: Listing | None = None
) -> ObservedState:
    """What exists: workloads and groups, and the MCP client files ``desired``'s plan needs
    (``listing``: the engine's list, started before ``desired`` was loaded)."""
    from ..clients.observe import with_clients
    from ..workloads.observe import observe

    names = [s.name for s in desired.servers]
    observed = observe(runtime, store, desired_names=names, listing=listing)
    return with_clients(observed, desired, store.paths)


def run_plan(
    plan: Plan,
    desired: DesiredState,
    execution: Execution,
    runtime: Runtime,
    store: Store,
    launcher: Launcher | None,
    *,
    lock_policy: LockPolicy | None = None,
) -> None:
    """Carry out ``plan`` exactly, with progress lines; exit 1 when any action failed, 130
    when Ctrl-C stopped it (:func:`interruptible`).  With workloads.lock, each server's tools
    are checked once it is ready (``lock_policy``: what may be recorded)."""
    from ..apply.executor import apply_plan
    from ..apply.parallel import Interrupt
    from ..workloads.lifecycle import Lifecycle
    from .text import render_result

    interrupt = Interrupt()
    with interruptible(interrupt):
        result = apply_plan(
            plan,
            desired,
            Lifecycle(runtime, store, environ=desired.secret_env, launcher=launcher),
            parallelism=execution.parallelism,
            timeout=execution.timeout,
            on_event=Progress(colour()),
            interrupt=interrupt,
            on_pull=PullDisplay(),
            lock_policy=lock_policy,
        )
    typer.echo(render_result(result))
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.ok:
        raise typer.Exit(1)


@contextlib.contextmanager
def interruptible(interrupt: Interrupt) -> Iterator[None]:
    """Ctrl-C (SIGINT, or SIGTERM) during an apply: the first stops new actions and gives the
    running ones ``interrupt.grace`` seconds, the second stops waiting.  Either way the apply
    then ends with its summary (exit 130), and the state is the next apply's to converge."""
    running = f"waiting up to {interrupt.grace:g}s for the running actions"

    def handler(signum: int, frame: Any) -> None:
        interrupt.request()
        if interrupt.count == 1:
            note = f"\nInterrupted: no new action will start; {running} (Ctrl-C again to stop)\n"
        else:
            note = "\nInterrupted again: not waiting any longer.\n"
        os.write(2, note.encode())  # not sys.stderr: the main thread may be inside a write

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Progress:
    """Apply events as lines: every event off a TTY, finished actions only on a TTY.

    Written straight to ``sys.stdout`` (a line, then a flush), not through ``typer.echo``:
    its per-call stream and ANSI checks were ~10 % of the main thread's time at 2,000
    actions, which hands out the work (colour is already off away from a terminal)."""

    def __init__(self, colour: bool) -> None:
        from .text import render_event

        self.colour = colour
        self.tty = sys.stdout.isatty()
        self.render = render_event

    def __call__(self, event: Event) -> None:
        if self.tty and event.state == "started":
            return
        out = sys.stdout
        out.write(self.render(event, colour=self.colour) + "\n")
        out.flush()


class PullDisplay:
    """Image pulls as they go: on a terminal one line updated in place (bytes so far, at most
    five times a second), off a terminal one line when a pull begins."""

    INTERVAL = 0.2

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.seen: set[str] = set()
        self.shown = 0.0
        self.lock = threading.Lock()

    def __call__(self, progress: PullProgress) -> None:
        from .text import render_pull

        with self.lock:
            first = progress.image not in self.seen
            self.seen.add(progress.image)
            if not self.tty:
                if first:
                    sys.stdout.write(render_pull(progress, tty=False) + "\n")
                    sys.stdout.flush()
                return
            final = progress.status.startswith("Status:")
            now = time.monotonic()
            if not (first or final or now - self.shown >= self.INTERVAL):
                return
            self.shown = now
            line = f"pulled {progress.image}" if final else render_pull(progress, tty=True)
            sys.stdout.write("\r\x1b[K" + line + ("\n" if final else ""))
            sys.stdout.flush()


def colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
