"""What every way of carrying out a plan shares: observing for it, the risk gates, and running
it with progress.

The gates: ``--deny CLASS`` refuses a plan with any action of that class (the CI policy gate);
a privilege-widening action needs a second, explicit answer on a terminal, or ``--allow
privilege-widening`` (with ``--yes``) off one.  Both ask through the one confirmation prompt
(:func:`.app.confirm`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING

import typer

from ..errors import RiskDenied
from .app import Execution, confirm

if TYPE_CHECKING:
    from ..apply.executor import Event
    from ..model import DesiredState, ObservedState
    from ..plan.actions import Plan
    from ..proxy.processes.control import Launcher
    from ..runtime import Runtime
    from ..state import Store

WIDENING = "privilege-widening"


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


def observe_for(desired: DesiredState, runtime: Runtime, store: Store) -> ObservedState:
    """What exists: workloads and groups, and the MCP client files ``desired``'s plan needs."""
    from ..clients.observe import with_clients
    from ..workloads.observe import observe

    observed = observe(runtime, store, desired_names=[s.name for s in desired.servers])
    return with_clients(observed, desired, store.paths)


def run_plan(
    plan: Plan,
    desired: DesiredState,
    execution: Execution,
    runtime: Runtime,
    store: Store,
    launcher: Launcher | None,
) -> None:
    """Carry out ``plan`` exactly, with progress lines; exit 1 when any action failed."""
    from ..apply.executor import apply_plan
    from ..workloads.lifecycle import Lifecycle
    from .text import render_result

    result = apply_plan(
        plan,
        desired,
        Lifecycle(runtime, store, environ=desired.secret_env, launcher=launcher),
        parallelism=execution.parallelism,
        timeout=execution.timeout,
        on_event=Progress(colour()),
    )
    typer.echo(render_result(result))
    if not result.ok:
        raise typer.Exit(1)


class Progress:
    """Apply events as lines: every event off a TTY, finished actions only on a TTY."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self.tty = sys.stdout.isatty()

    def __call__(self, event: Event) -> None:
        from .text import render_event

        if self.tty and event.state == "started":
            return
        typer.echo(render_event(event, colour=self.colour))


def colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
