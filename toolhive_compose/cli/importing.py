"""``thv import``: write a workloads file that reproduces existing unmanaged workloads.

Unmanaged means no toolhive-compose project owns it: ToolHive (or ``thv run``) made it.  By
default every unmanaged workload is written, running or not (a stopped one gets ``state:
stopped``); names or ``--group`` narrow that.  Another project's workloads are never
written: its own file already describes them, and ``--adopt`` would refuse them anyway.
Then ``thv apply --adopt -f FILE`` takes them under the project without recreating those
that match.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import NotFound, ThvError
from .app import NamesCommand, app

if TYPE_CHECKING:
    from ..model import ObservedWorkload
    from ..state import Store
    from ..workloads.importer import Imported

REMOTE_STOPPED = frozenset({"stopped", "error", "policy_stopped", "removing", ""})


@app.command("import", cls=NamesCommand)
def import_(
    names: Annotated[
        list[str] | None, typer.Argument(help="Workloads to import (default: all unmanaged).")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project name written into the file.")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Only the workloads of this group.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write here instead of standard output.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a workloads file that reproduces unmanaged workloads (for apply --adopt).

    It changes no workload, so it takes no lock (``-f`` writes the file given, nothing else)."""
    from ..runtime import get_runtime
    from ..spec.schema import schema_path
    from ..state import Store
    from ..workloads.importer import import_document
    from ..workloads.observe import observe

    store = Store.from_env()
    observed = observe(get_runtime(), store)
    chosen = _choose(list(observed.workloads), names or [], group)
    found, skipped = _imports(chosen)
    for w in skipped:
        why = f"skipped: {w.damage}" if w.damage else "has no run config to reproduce it from"
        typer.echo(f"warning: {w.name} {why}" + ("" if w.damage else "; skipped"), err=True)
    _warn_unexpressed(store, [w.name for w in found])
    if not found:
        raise ThvError(
            "there are no unmanaged workloads to import",
            hint="thv list --all shows every workload and the project owning it",
        )
    schema = str(schema_path())
    if output is not None:
        schema = os.path.relpath(schema, output.resolve().parent)
    text = import_document(found, project=project, schema=schema)
    if output is None:
        sys.stdout.write(text)
        return
    _write(output, text, force)
    typer.echo(f"Wrote {len(found)} workload(s) to {output}.", err=True)


def _choose(
    every: list[ObservedWorkload], names: list[str], group: str | None
) -> list[ObservedWorkload]:
    from ..spec.names import check_workload_name

    for name in names:
        check_workload_name(name, existing=True)
    by_name = {w.name: w for w in every}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise NotFound(f"workload(s) not found: {', '.join(missing)}", hint="thv list --all")
    owned = [f"{n} (project {by_name[n].project})" for n in names if by_name[n].project]
    if owned:
        raise ThvError(
            f"already managed, not imported: {', '.join(owned)}",
            hint="its project's workloads file already describes it",
        )
    chosen = [by_name[n] for n in names] if names else [w for w in every if not w.project]
    if group is not None:
        chosen = [w for w in chosen if (w.spec or {}).get("group", "default") == group]
    return chosen


def _imports(
    chosen: list[ObservedWorkload],
) -> tuple[list[Imported], list[ObservedWorkload]]:
    from ..workloads.importer import Imported

    found, skipped = [], []
    for w in chosen:
        if w.spec is None:
            skipped.append(w)
            continue
        running = w.status not in REMOTE_STOPPED if w.remote else w.container_state == "running"
        found.append(Imported(w.name, w.spec, running=running))
    return found, skipped


def _warn_unexpressed(store: Store, names: list[str]) -> None:
    from ..workloads.importer import unexpressed

    for name in names:
        left_out = unexpressed(store.runconfigs.read(name) or {})
        if left_out:
            typer.echo(
                f"warning: {name}: {', '.join(left_out)} cannot be written into a workloads file; "
                "adopting keeps them, a recreate drops them",
                err=True,
            )


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise ThvError(f"{path} already exists", hint="pass --force to overwrite it")
    try:
        path.write_text(text)
    except OSError as exc:
        raise ThvError(f"cannot write {path}: {exc.strerror or exc}") from None
