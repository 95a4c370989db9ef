"""The review loop: ``thv show``, ``thv state export``, and the saved-plan halves of ``plan``
and ``apply``.

``plan -o FILE`` saves what it planned with everything it was made from
(:mod:`toolhive_compose.review.saved`); ``plan --observed FILE`` plans against an exported
observed state, with no engine; ``apply FILE`` re-observes, refuses a stale plan with what
changed (:mod:`toolhive_compose.review.stale`), then carries out exactly the saved actions.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import PlanFileError, ThvError
from .app import Deny, FormatOpt, PlanFormat, RegistryOpt, Source, app, option_groups

if TYPE_CHECKING:
    from ..apply.lockcheck import LockPolicy
    from ..model import DesiredState, ObservedState
    from ..paths import Paths
    from ..plan.actions import Plan
    from ..proxy.processes.control import Launcher
    from ..review.saved import SavedPlan
    from ..review.snapshot import Snapshot
    from .app import Execution

state_app = typer.Typer(
    name="state", help="This machine's observed state, to plan against elsewhere.",
    no_args_is_help=True,
)  # fmt: skip
app.add_typer(state_app)
PlanFile = Annotated[Path, typer.Argument(help="A saved plan (thv plan -o FILE).")]


@app.command()
def show(
    plan_file: PlanFile,
    output: FormatOpt = PlanFormat.text,
    deny: Deny = None,
) -> None:
    """Print a saved plan (no engine needed); --deny gates it as plan does."""
    from ..review import saved as saved_plan
    from .running import deny_gate

    saved = saved_plan.read(plan_file)
    render(saved.plan, output, notes=[provenance(saved, plan_file)])
    deny_gate(saved.plan, deny or ())


@state_app.command("export")
@option_groups
def export(
    source: Source,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write to FILE (mode 0600), not stdout.")
    ] = None,
    registry: RegistryOpt = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt", help="Include unmanaged workloads in full, for plan --observed --adopt."
        ),
    ] = False,
) -> None:
    """Write this machine's observed state for the project, for thv plan --observed."""
    from ..model import LABEL_TOOLHIVE
    from ..paths import Paths
    from ..review import files, snapshot
    from ..runtime import get_runtime
    from ..state import Store
    from ..workloads.observe import observe

    desired = load(source, registry)
    if out is not None:
        not_an_input(out, desired)
    runtime, store = get_runtime(), Store.from_env()
    observed = with_every_client(observe(runtime, store), desired, store.paths)
    foreign = [c for c in runtime.list_containers() if c.labels.get(LABEL_TOOLHIVE) != "true"]
    home = os.environ.get("HOME") or os.path.expanduser("~")
    taken = snapshot.Snapshot(
        project=desired.project,
        created_at=now(),
        tool_version=files.tool_version(),
        state_directory=state_directory(Paths.from_env()),
        machine=snapshot.machine_view(desired, home),
        env_files=desired.env_files if source.env_file else None,
        adopt=adopt,
        observed=dataclasses.replace(
            observed, foreign_containers=tuple(sorted((c.name, c.id) for c in foreign))
        ),
    )
    if out is None:
        sys.stdout.buffer.write(
            files.render(files.SNAPSHOT_KIND, snapshot.VERSION, taken.to_body())
        )
        return
    snapshot.write(out, taken)
    ours = sum(1 for w in observed.workloads if w.project == desired.project)
    typer.echo(
        f"Wrote the observed state of project {desired.project} ({ours} workload(s)) to {out}.",
        err=True,
    )


# -- plan ------------------------------------------------------------------------------------------
def planning_inputs(
    source: Source, registry: str | None, observed_file: Path | None, *, adopt: bool = False
) -> tuple[DesiredState, ObservedState, Snapshot | None]:
    """What to plan: the workloads and the observed state, this machine's or an exported one."""
    if observed_file is None:
        from ..runtime import get_runtime
        from ..state import Store
        from ..workloads.observe import listing_started
        from .running import observe_for

        runtime = get_runtime()
        listing = listing_started(runtime)  # the engine lists while the files are parsed
        desired = load(source, registry)
        return desired, observe_for(desired, runtime, Store.from_env(), listing), None
    desired, taken = load_for_snapshot(source, registry, observed_file)
    if adopt and not taken.adopt:
        raise PlanFileError(
            f"{observed_file} holds no unmanaged workloads to adopt",
            hint="export it with thv state export --adopt",
        )
    return desired, taken.observed_for([s.name for s in desired.servers]), taken


def load_for_snapshot(
    source: Source, registry: str | None, observed_file: Path
) -> tuple[DesiredState, Snapshot]:
    """The workloads as the machine of an observed-state file resolves them (its paths, its
    secrets' digests; no secret is read here)."""
    from ..review import snapshot as snapshots

    taken = snapshots.read(observed_file)
    desired = load(source, registry, taken)
    if desired.project != taken.project:
        raise PlanFileError(
            f"{observed_file} is the observed state of project {taken.project}, "
            f"not of project {desired.project}",
            hint="export the project's own state (thv state export -p NAME), or pass -p",
        )
    return desired, taken


def save(
    out: Path,
    plan: Plan,
    planned: tuple[DesiredState, ObservedState, Snapshot | None],
    source: Source,
    *,
    registry: str | None,
    adopt: bool,
    strict: bool,
) -> None:
    """``plan -o``: the plan and what it was made from, to ``out`` (mode 0600)."""
    from ..paths import Paths
    from ..review import files, saved
    from ..review.fingerprint import fingerprint
    from ..review.inputs import inputs_of, project_dir

    desired, observed, taken = planned
    not_an_input(out, desired)
    local = project_dir(desired)
    base = taken.machine.base_dir if taken else local
    servers, groups = saved.desired_record(desired)
    names = sorted(servers)
    record = saved.SavedPlan(
        plan=plan,
        project=desired.project,
        created_at=now(),
        tool_version=files.tool_version(),
        state_directory=taken.state_directory if taken else state_directory(Paths.from_env()),
        base_dir=base,
        observed_from={"source": "snapshot", "created_at": taken.created_at}
        if taken
        else {"source": "engine"},
        options=saved.Options(
            files=tuple(files.relative(f, local) for f in desired.files),
            env_files=_env_files(desired, source, taken, local),
            registry=_registry(registry, local),
            project=source.project,
            adopt=adopt,
            strict=strict,
        ),
        inputs=tuple(inputs_of(desired, recorded_base=base if taken else None)),
        servers=servers,
        groups=groups,
        fingerprint=fingerprint(observed, desired.project, names, groups),
    )
    saved.write(out, record)
    command = f"thv apply {shlex.quote(str(out))}"
    typer.echo(f"Saved the plan to {out}. To carry out exactly these actions: {command}", err=True)


def _env_files(
    desired: DesiredState, source: Source, taken: Snapshot | None, local: str
) -> tuple[str, ...] | None:
    if taken is not None:
        return taken.env_files  # the machine's own
    if not source.env_file:
        return None
    from ..review.files import relative

    return tuple(relative(f, local) for f in desired.env_files)


def _registry(registry: str | None, local: str) -> str | None:
    if not registry or "://" in registry:
        return registry
    from ..review.files import relative

    return relative(os.path.abspath(registry), local)


# -- apply FILE -----------------------------------------------------------------------------------
def apply_saved(
    plan_file: Path,
    source: Source,
    execution: Execution,
    *,
    allow: Sequence[str],
    deny: Sequence[str],
    launcher: Launcher,
    lock: LockPolicy | None = None,
) -> None:
    """Re-observe, refuse when anything moved, then carry out exactly the saved actions
    (``lock``: how workloads.lock, one of the plan's inputs, is kept)."""
    from ..apply.executor import starts_proxy
    from ..errors import PlanError, SpecError
    from ..paths import Paths
    from ..plan.planner import make_plan
    from ..review import saved as saved_plan
    from ..review import stale
    from ..review.files import resolve
    from ..review.fingerprint import fingerprint
    from ..review.inputs import recheck
    from ..runtime import get_runtime
    from ..state import Store, state_lock
    from .locks import locked
    from .running import colour, deny_gate, observe_for, run_plan, widening_gate
    from .text import render_plan

    saved = saved_plan.read(plan_file)
    if any(starts_proxy(action) for action in saved.plan.actions):
        launcher.start()
    _same_target(saved, plan_file, source)
    _same_state_directory(saved, plan_file, Paths.from_env())
    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours, operation="thv apply (a saved plan)"):
        opts = saved.options
        again = Source(
            files=[Path(resolve(f, saved.base_dir)) for f in opts.files],
            env_file=[Path(resolve(f, saved.base_dir)) for f in opts.env_files or ()] or None,
            project=opts.project,
        )
        desired = load(again, _registry_at(opts.registry, saved.base_dir))
        try:  # the lock is one of the plan's inputs: a lock that changed is said stale first
            desired, damaged = locked(desired, runtime, False)[0], None
        except SpecError as exc:
            damaged = exc
        names = sorted(saved.servers)
        observed = observe_for(desired, runtime, store)
        replanned: Plan | PlanError
        try:
            replanned = make_plan(desired, observed, adopt=opts.adopt, strict=opts.strict)
        except PlanError as exc:
            replanned = exc
        present = stale.Present(
            inputs=recheck(list(saved.inputs), saved.base_dir),
            desired=desired,
            fingerprint=fingerprint(observed, saved.project, names, saved.groups),
            plan=replanned,
        )
        stale.check(saved, present)
        if damaged is not None:
            raise damaged
        plan = saved_plan.with_known_secrets(saved.plan, desired)
        typer.echo(f"{provenance(saved, plan_file)} Nothing has moved since.\n")
        typer.echo(render_plan(plan, colour=colour()), nl=False)
        if not plan.has_changes:
            return
        deny_gate(plan, deny)
        widening_gate(plan, allow=allow)
        run_plan(plan, desired, execution, runtime, store, launcher, lock_policy=lock)


def _same_target(saved: SavedPlan, plan_file: Path, source: Source) -> None:
    """``-p``/``-f`` beside a plan file only say which project it must be for."""
    if source.project and source.project != saved.project:
        raise PlanFileError(
            f"{plan_file} is a plan for project {saved.project}, not {source.project}"
        )
    if source.env_file:
        raise ThvError(f"{plan_file} reads the env files it was made with; drop --env-file")
    if source.files:
        from ..review.files import resolve

        given = sorted(os.path.realpath(f) for f in source.files)
        planned = sorted(os.path.realpath(resolve(f, saved.base_dir)) for f in saved.options.files)
        if given != planned:
            raise PlanFileError(
                f"{plan_file} was made from {', '.join(planned)}, not {', '.join(given)}"
            )


def _same_state_directory(saved: SavedPlan, plan_file: Path, paths: Paths) -> None:
    here = state_directory(paths)
    if saved.state_directory.get("id") == here["id"]:
        return
    where = saved.state_directory.get("path", "?")
    other = "" if where != here["path"] else " (same path, another key: another machine)"
    raise PlanFileError(
        f"{plan_file} was made for the state directory {where}{other}, not this one "
        f"({here['path']})",
        hint="apply it on the machine it was planned for; here, make a new plan",
    )


# -- shared -------------------------------------------------------------------------------------
def load(source: Source, registry: str | None, taken: Snapshot | None = None) -> DesiredState:
    from ..spec.loader import load as load_files

    return load_files(
        source.files or [],
        env_files=source.env_file or [],
        project=source.project,
        registry=registry,
        machine=taken.machine if taken else None,
    )


def with_every_client(
    observed: ObservedState, desired: DesiredState, paths: Paths
) -> ObservedState:
    """``observed`` with the file of every client this tool knows, whichever a pull request
    may list; of each file only the entries a plan can compare (the servers of ``desired``,
    and those on record as written by toolhive-compose): other entries are the user's own,
    and may carry tokens."""
    from ..clients.catalog import CLIENTS
    from ..clients.observe import observe_files
    from ..clients.records import RecordStore

    notes = list(observed.notes)
    records = RecordStore(paths.ours).read_noting(notes)
    entries = records.entries()
    names = {s.name for s in desired.servers} | {r.server for r in entries}
    files = tuple(
        dataclasses.replace(f, entries={k: v for k, v in f.entries.items() if k in names})
        for f in observe_files(CLIENTS, {(r.client, r.path) for r in entries})
    )
    return dataclasses.replace(
        observed,
        client_files=files,
        client_records=entries,
        client_registrations=records.registrations(),
        notes=tuple(notes),
    )


def not_an_input(out: Path, desired: DesiredState) -> None:
    """Refuse to write over a file the plan is made from."""
    from ..review.inputs import inputs_of, project_dir

    base = project_dir(desired)
    taken = {os.path.realpath(os.path.join(base, i.path)) for i in inputs_of(desired)}
    if os.path.realpath(out) in taken:
        raise ThvError(f"refusing to write over {out}: this command reads it")


def render(plan: Plan, output: PlanFormat, *, notes: Sequence[str] = ()) -> None:
    """The plan on stdout, in ``output``'s format."""
    if output is PlanFormat.json:
        sys.stdout.write(plan.to_json() + "\n")
    elif output is PlanFormat.markdown:
        from .markdown import render_markdown

        sys.stdout.write(render_markdown(plan, notes=notes))
    else:
        from .running import colour
        from .text import render_plan

        head = "".join(f"{note}\n" for note in notes) + ("\n" if notes else "")
        sys.stdout.write(head + render_plan(plan, colour=colour()))


def provenance(saved: SavedPlan, plan_file: Path) -> str:
    against = (
        f"the observed state exported {saved.observed_from.get('created_at')}"
        if saved.made_for_another_machine
        else "this machine's observed state"
    )
    return (
        f"Saved plan {plan_file.name}: project {saved.project}, made {saved.created_at} by "
        f"toolhive-compose {saved.tool_version} against {against}."
    )


def state_directory(paths: Paths) -> dict[str, str]:
    """This state directory's path and identity (a digest of its key; see secrets.key_id)."""
    from ..secrets import key_id, secret_key

    return {"path": str(paths.state_home), "id": key_id(secret_key(paths.ours))}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _registry_at(registry: str | None, base: str) -> str | None:
    """A saved ``--registry``: a URL as is, a path from the plan's project directory."""
    if not registry or "://" in registry:
        return registry
    from ..review.files import resolve

    return resolve(registry, base)
