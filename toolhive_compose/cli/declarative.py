"""The declarative commands: ``plan``, ``apply``, ``down``, ``validate``, ``config``, ``schema``.

Options in, calls out, text rendered (:mod:`.text`); no logic of their own.  A file is loaded
(:mod:`toolhive_compose.spec`), observed and planned (:mod:`toolhive_compose.plan`), and the
plan confirmed once, then carried out exactly (:mod:`toolhive_compose.apply`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import (
    Adopt,
    EnvFiles,
    Execution,
    Files,
    RegistryOpt,
    Source,
    Strict,
    app,
    confirm,
    option_groups,
)

if TYPE_CHECKING:
    from ..apply.executor import Event
    from ..model import DesiredState, ObservedState
    from ..plan.actions import Plan
    from ..proxy.processes.control import Launcher
    from ..runtime import Runtime
    from ..state import Store


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


class ConfigFormat(StrEnum):
    yaml = "yaml"
    json = "json"


# -- declarative commands ---------------------------------------------------------------------
@app.command()
@option_groups
def plan(
    source: Source,
    output: Annotated[PlanFormat, typer.Option("--format", help="text or json.")] = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error.")
    ] = False,
    registry: RegistryOpt = None,
    check_upgrades: Annotated[
        bool,
        typer.Option("--check-upgrades", help="Also list registry servers pinned behind it."),
    ] = False,
    adopt: Adopt = False,
    strict: Strict = False,
) -> None:
    """Show the actions that would bring the machine to the workloads file."""
    desired = _load(source.files, source.env_file, source.project, registry)
    the_plan = _make_plan(desired, adopt=adopt, strict=strict)
    upgrades = None
    if check_upgrades:
        from ..upgrade.check import plan_upgrades

        the_plan, upgrades = plan_upgrades(the_plan, desired)
    if output is PlanFormat.json:
        if upgrades is None:
            sys.stdout.write(the_plan.to_json() + "\n")
        else:
            import json

            doc = {**the_plan.to_dict(), "upgrades": [u.to_dict() for u in upgrades]}
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from .text import render_plan

        sys.stdout.write(render_plan(the_plan, colour=_colour()))
        if upgrades is not None:
            from .tables import render_pinned

            sys.stdout.write(render_pinned(upgrades))
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


@app.command()
@option_groups
def apply(
    source: Source,
    execution: Execution,
    registry: RegistryOpt = None,
    adopt: Adopt = False,
    strict: Strict = False,
) -> None:
    """Plan, confirm, then carry out exactly that plan."""
    from ..paths import Paths
    from ..proxy.processes.control import Launcher

    # Started before anything else: its imports run on another core while this process loads
    # and plans (an apply that starts no proxy ends it unused, at ~0.1 s of that core's time).
    launcher = Launcher(Paths.from_env())
    try:
        desired = _load(source.files, source.env_file, source.project, registry)
        _reconcile(desired, execution, adopt=adopt, strict=strict, launcher=launcher)
    finally:
        launcher.close()


@app.command()
@option_groups
def down(source: Source, execution: Execution, registry: RegistryOpt = None) -> None:
    """Remove every workload and group the project owns, and the client entries it wrote."""
    from ..model import DesiredState

    name = source.project or _load(source.files, source.env_file, None, registry).project
    _reconcile(DesiredState(project=name), execution, command="thv down")


@app.command()
@option_groups
def validate(source: Source, registry: RegistryOpt = None) -> None:
    """Check the workloads file; report every problem at once."""
    desired = _load(source.files, source.env_file, source.project, registry)
    typer.echo(
        f"The workloads file is valid: {len(desired.servers)} server(s), project {desired.project}."
    )


@app.command()
def config(
    files: Files = None,
    env_file: EnvFiles = None,
    output: Annotated[ConfigFormat, typer.Option("--format")] = ConfigFormat.yaml,
    registry: RegistryOpt = None,
) -> None:
    """Print the resolved document: files merged, variables interpolated."""
    from ..spec.loader import resolve_document

    doc = resolve_document(files or [], env_files=env_file or [], registry=registry)
    if output is ConfigFormat.json:
        import json

        typer.echo(json.dumps(doc, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the workloads file."""
    from ..spec.schema import schema_text

    typer.echo(schema_text(), nl=False)


# -- shared steps ---------------------------------------------------------------------------
def _load(
    files: Sequence[Path] | None,
    env_files: Sequence[Path] | None,
    project: str | None,
    registry: str | None = None,
) -> DesiredState:
    from ..spec.loader import load

    return load(files or [], env_files=env_files or [], project=project, registry=registry)


def _make_plan(desired: DesiredState, *, adopt: bool = False, strict: bool = False) -> Plan:
    from ..plan.planner import make_plan
    from ..runtime import get_runtime
    from ..state import Store

    return make_plan(
        desired, _observe(desired, get_runtime(), Store.from_env()), adopt=adopt, strict=strict
    )


def _observe(desired: DesiredState, runtime: Runtime, store: Store) -> ObservedState:
    """What exists: workloads and groups, and the MCP client files the plan needs."""
    from ..clients.observe import with_clients
    from ..workloads.observe import observe

    observed = observe(runtime, store, desired_names=[s.name for s in desired.servers])
    return with_clients(observed, desired, store.paths)


def _reconcile(
    desired: DesiredState,
    execution: Execution,
    *,
    adopt: bool = False,
    strict: bool = False,
    launcher: Launcher | None = None,
    command: str = "thv apply",
) -> None:
    from ..apply.executor import apply_plan
    from ..plan.planner import make_plan
    from ..runtime import get_runtime
    from ..state import Store, state_lock
    from ..workloads.lifecycle import Lifecycle
    from .text import render_plan, render_result

    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours, operation=command):
        observed = _observe(desired, runtime, store)
        the_plan = make_plan(desired, observed, adopt=adopt, strict=strict)
        typer.echo(render_plan(the_plan, colour=_colour()), nl=False)
        if not the_plan.has_changes:
            return
        confirm(
            "\nDo you want to perform these actions? Only 'yes' will be accepted: ",
            yes=execution.yes,
            refusal="refusing to apply without --yes: standard input is not a terminal",
            hint="review the plan above, then run again with --yes",
            cancelled="apply cancelled",
        )
        progress = Progress(_colour())
        result = apply_plan(
            the_plan,
            desired,
            Lifecycle(runtime, store, environ=desired.secret_env, launcher=launcher),
            parallelism=execution.parallelism,
            timeout=execution.timeout,
            on_event=progress,
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


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
