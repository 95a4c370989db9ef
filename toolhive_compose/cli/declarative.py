"""The declarative commands: ``plan``, ``apply``, ``down``, ``validate``, ``config``, ``schema``.

Options in, calls out, text rendered (:mod:`.text`, :mod:`.markdown`); no logic of their own.
A file is loaded (:mod:`toolhive_compose.spec`), observed and planned
(:mod:`toolhive_compose.plan`), and the plan confirmed once, then carried out exactly
(:mod:`toolhive_compose.apply`).  Saved plans and plans against an exported observed state are
:mod:`.review`; the risk gates and the run itself :mod:`.running`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ThvError
from .app import (
    Adopt,
    Allow,
    Deny,
    EnvFiles,
    Execution,
    Files,
    FormatOpt,
    PlanFormat,
    RegistryOpt,
    Source,
    Strict,
    app,
    confirm,
    option_groups,
)

if TYPE_CHECKING:
    from ..apply.lockcheck import LockPolicy
    from ..model import DesiredState, ObservedState
    from ..proxy.processes.control import Launcher
    from ..runtime import Runtime
    from ..state import Store

UpdateLock = Annotated[
    bool,
    typer.Option(
        "--update-lock",
        help="Run the images the tags name now, not workloads.lock's (and record them).",
    ),
]
AcceptToolChanges = Annotated[
    bool,
    typer.Option(
        "--accept-tool-changes",
        help="Record tools that differ from workloads.lock instead of failing on them.",
    ),
]


class ConfigFormat(StrEnum):
    yaml = "yaml"
    json = "json"


# -- declarative commands ---------------------------------------------------------------------
@app.command()
@option_groups
def plan(
    source: Source,
    output: FormatOpt = PlanFormat.text,
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
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Also save the plan to FILE, for thv apply FILE."),
    ] = None,
    observed: Annotated[
        Path | None,
        typer.Option(
            "--observed", help="Plan against an exported observed state (no engine needed)."
        ),
    ] = None,
    deny: Deny = None,
    update_lock: UpdateLock = False,
) -> None:
    """Show the actions that would bring the machine to the workloads file."""
    from ..plan.planner import make_plan
    from .locks import locked, noted
    from .review import planning_inputs, render, save
    from .running import deny_gate

    if out is not None and str(out).startswith("ut="):  # Terraform's -out=FILE, as -o ut=FILE
        name = str(out)[3:]
        raise ThvError(
            f"-out={name} reads as -o {out} (Terraform's spelling)",
            hint=f"write -o {name} or --out={name}",
        )
    if observed is not None and check_upgrades:
        raise ThvError("--check-upgrades cannot go with --observed: it asks this machine's engine")
    if observed is not None and out is not None and out.resolve() == observed.resolve():
        raise ThvError(f"refusing to write the plan over {out}: this command reads it")
    if update_lock and (out is not None or observed is not None):
        raise ThvError(
            "--update-lock resolves tags on this machine's engine: it cannot go with -o or "
            "--observed; apply it directly"
        )
    planned = planning_inputs(source, registry, observed, adopt=adopt)
    desired, notes = locked(planned[0], None if observed else _engine(), update_lock)
    planned = (desired, *planned[1:])
    the_plan = noted(make_plan(desired, planned[1], adopt=adopt, strict=strict), notes)
    upgrades = None
    if check_upgrades:
        from ..upgrade.check import plan_upgrades

        the_plan, upgrades = plan_upgrades(the_plan, planned[0])
    if output is PlanFormat.json and upgrades is not None:
        import json

        doc = {**the_plan.to_dict(), "upgrades": [u.to_dict() for u in upgrades]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        render(the_plan, output)
    if upgrades is not None and output is PlanFormat.text:
        from .tables import render_pinned

        sys.stdout.write(render_pinned(upgrades))
    elif upgrades is not None and output is PlanFormat.markdown:
        from .markdown import render_pinned_markdown

        sys.stdout.write(render_pinned_markdown(upgrades))
    if out is not None:
        save(out, the_plan, planned, source, registry=registry, adopt=adopt, strict=strict)
    deny_gate(the_plan, deny or ())
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


@app.command()
@option_groups
def apply(
    source: Source,
    execution: Execution,
    plan_file: Annotated[
        Path | None,
        typer.Argument(help="A saved plan (thv plan -o FILE): carry out exactly it."),
    ] = None,
    registry: RegistryOpt = None,
    adopt: Adopt = False,
    strict: Strict = False,
    allow: Allow = None,
    deny: Deny = None,
    update_lock: UpdateLock = False,
    accept_tool_changes: AcceptToolChanges = False,
) -> None:
    """Plan, confirm, then carry out exactly that plan (or exactly a saved plan)."""
    from ..apply.lockcheck import LockPolicy
    from ..paths import Paths
    from ..proxy.processes.control import Launcher

    if plan_file is not None and (registry or adopt or strict or update_lock):
        flag = (
            "--registry" if registry else "--adopt" if adopt else "--strict" if strict
            else "--update-lock"
        )  # fmt: skip
        raise ThvError(f"{flag} cannot go with a saved plan: it keeps the {flag} it was made with")
    policy = LockPolicy(accept_tool_changes=accept_tool_changes, update_images=update_lock)
    # Started as soon as proxies are in sight (a server the file wants running, a saved plan
    # that starts one): its imports run on another core while this process observes and
    # plans.  An apply of stopped servers only does not pay for it (~0.15 s of that core).
    launcher = Launcher(Paths.from_env(), start=False)
    gates = {"allow": [str(a) for a in allow or ()], "deny": [str(d) for d in deny or ()]}
    try:
        if plan_file is not None:
            from .review import apply_saved

            apply_saved(plan_file, source, execution, launcher=launcher, lock=policy, **gates)
            return
        desired = _load(source.files, source.env_file, source.project, registry)
        if any(spec.state == "running" for spec in desired.servers):
            launcher.start()
        _reconcile(
            desired, execution, adopt=adopt, strict=strict, launcher=launcher, lock=policy,
            allow=gates["allow"], deny=gates["deny"],
        )  # fmt: skip
    finally:
        launcher.close()


@app.command()
@option_groups
def down(source: Source, execution: Execution, registry: RegistryOpt = None) -> None:
    """Remove every workload and group the project owns, and the client entries it wrote."""
    from ..model import DesiredState
    from ..spec.loader import load

    # Only the project's name is needed: no secret value is read (as for thv render).
    name = (
        source.project
        or load(
            source.files or [], env_files=source.env_file or [], registry=registry, portable=True
        ).project
    )
    _reconcile(DesiredState(project=name), execution, command="thv down")


@app.command()
@option_groups
def validate(
    source: Source,
    registry: RegistryOpt = None,
    observed: Annotated[
        Path | None,
        typer.Option(
            "--observed",
            help="Check it for the machine of an exported observed state (its secrets are "
            "not read here).",
        ),
    ] = None,
) -> None:
    """Check the workloads file (and workloads.lock beside it); report every problem at once."""
    if observed is not None:
        from .review import load_for_snapshot

        desired, _ = load_for_snapshot(source, registry, observed)
    else:
        desired = _load(source.files, source.env_file, source.project, registry)
    from .locks import locked

    for note in locked(desired, None, False)[1]:
        typer.echo(f"warning: {note}", err=True)
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


def _reconcile(
    desired: DesiredState,
    execution: Execution,
    *,
    adopt: bool = False,
    strict: bool = False,
    launcher: Launcher | None = None,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    lock: LockPolicy | None = None,
    command: str = "thv apply",
) -> None:
    """Plan under the state lock, confirm, apply; ``lock``: workloads.lock is in force."""
    from ..plan.planner import make_plan
    from ..runtime import get_runtime
    from ..state import Store, state_lock
    from .locks import locked, noted
    from .running import colour, deny_gate, observe_for, run_plan, widening_gate
    from .text import render_plan

    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours, operation=command):
        notes: list[str] = []
        if lock is not None:
            desired, notes = locked(desired, runtime, lock.update_images)
        observed = observe_for(desired, runtime, store)
        if _sweep_orphans(store, observed):  # a PID cleared: observe what is now true
            observed = observe_for(desired, runtime, store)
        _note_strays(observed, desired.project)
        the_plan = noted(make_plan(desired, observed, adopt=adopt, strict=strict), notes)
        typer.echo(render_plan(the_plan, colour=colour()), nl=False)
        if not the_plan.has_changes:
            return
        deny_gate(the_plan, deny)
        confirm(
            "\nDo you want to perform these actions? Only 'yes' will be accepted: ",
            yes=execution.yes,
            refusal="refusing to apply without --yes: standard input is not a terminal",
            hint="review the plan above, then run again with --yes",
            cancelled="apply cancelled",
        )
        widening_gate(the_plan, allow=allow)
        run_plan(the_plan, desired, execution, runtime, store, launcher, lock_policy=lock)


def _engine() -> Runtime:
    from ..runtime import get_runtime

    return get_runtime()


def _sweep_orphans(store: Store, observed: ObservedState) -> bool:
    """Orphan proxies stopped, foreign PIDs cleared (:mod:`toolhive_compose.workloads.orphans`);
    whether a status file changed."""
    from ..workloads.orphans import sweep

    recorded = [(w.name, w.proxy_pid) for w in observed.workloads if w.proxy_pid]
    done = sweep(store, recorded)
    for orphan in done:
        typer.echo(f"note: {orphan.describe()}: {orphan.outcome()}", err=True)
    return any(o.kind == "pid" for o in done)


def _note_strays(observed: ObservedState, project: str) -> None:
    """The project's containers without a run config here: reported, never removed."""
    from ..workloads.orphans import Orphan

    for w in observed.workloads:
        if w.project == project and w.container_id and w.spec is None and not w.remote:
            orphan = Orphan("container", w.name, container_id=w.container_id)
            typer.echo(f"note: {orphan.describe()} ({orphan.remedy()})", err=True)
