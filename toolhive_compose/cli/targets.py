"""``thv render`` (a workloads file for another platform) and ``thv export`` (one workload).

``render`` loads the file portably (no secret value is read, host paths stay as written),
renders it (:mod:`toolhive_compose.targets.kubernetes`) and prints multi-document YAML, or
writes one file per object into ``-o DIR``.  Fields the platform cannot express the same
way are one ``warning:`` line each on stderr; ``--strict`` makes them an error.  Nothing is
printed or written when anything fails.

``export NAME [PATH]`` is ToolHive's: ``--format json`` writes the workload's run config,
``--format k8s`` the render of it (secrets as references, its real permission profile, its
group; a remote workload as an ``MCPRemoteProxy``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import NotFound, Problem, ThvError
from .app import RegistryOpt, Source, app, option_groups

if TYPE_CHECKING:
    from ..model import DesiredState

Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="metadata.namespace of every object (default: kubectl's -n)."
    ),
]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Fail on any field Kubernetes cannot express the same way."),
]


class ExportFormat(StrEnum):
    json = "json"
    k8s = "k8s"


@app.command()
@option_groups
def render(
    source: Source,
    target: Annotated[
        str, typer.Option("--target", "-t", help="Where the file is to run: kubernetes (k8s).")
    ],
    namespace: Namespace = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write one file per object into this directory."),
    ] = None,
    strict: Strict = False,
    registry: RegistryOpt = None,
) -> None:
    """Render the workloads file for another platform (the ToolHive operator's objects)."""
    from ..spec.loader import load

    _check_target(target)
    _check_namespace(namespace)
    desired = load(
        source.files or [],
        env_files=source.env_file or [],
        project=source.project,
        registry=registry,
        portable=True,
    )
    objects = _render(desired, namespace, strict)
    if output is None:
        _print(objects)
    else:
        _write_directory(output, objects)


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The workload.")],
    path: Annotated[
        Path | None, typer.Argument(help="File to write (default, or '-': standard output).")
    ] = None,
    output_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="json (its run config) or k8s (the operator's objects)."),
    ] = ExportFormat.json,
    namespace: Namespace = None,
    strict: Strict = False,
) -> None:
    """Export a workload: its run configuration, or its Kubernetes objects."""
    from ..state import Store
    from ..state.runconfig import encode

    _check_namespace(namespace)
    if path is not None and path.is_dir():
        raise ThvError(f"cannot write {path}: it is a directory", hint="PATH is a file name")
    store = Store.from_env()
    rc = store.runconfigs.read(name)
    if rc is None:
        raise NotFound(f"workload {name} not found", hint="thv list --all")
    if output_format is ExportFormat.json:
        text = encode(rc).decode()
    else:
        from ..targets.kubernetes.manifest import stream
        from ..workloads.export import desired_from_runconfig

        group = str(rc.get("group") or "default")
        desired = desired_from_runconfig(rc, group_description=_description(store, group))
        text = stream(_render(desired, namespace, strict, _left_out(rc)))
    if path is None or str(path) == "-":
        sys.stdout.write(text)
        return
    _write_file(path, text)
    typer.echo(f"Exported {name} ({output_format.value}) to {path}.", err=True)


# -- steps --------------------------------------------------------------------------------------
def _check_target(target: str) -> None:
    from ..targets import ALIASES, TARGETS, target_named

    if target_named(target) is None:
        aliases = {t: [a for a, of in ALIASES.items() if of == t] for t in TARGETS}
        known = ", ".join(t + "".join(f" (alias {a})" for a in aliases[t]) for t in TARGETS)
        raise typer.BadParameter(
            f"unknown target {target!r}; the targets are: {known}", param_hint="'--target'"
        )


def _check_namespace(namespace: str | None) -> None:
    from ..targets.kubernetes.names import namespace_problem

    problem = namespace_problem(namespace) if namespace is not None else None
    if problem:
        raise typer.BadParameter(problem, param_hint="'--namespace'")


def _render(
    desired: DesiredState, namespace: str | None, strict: bool, left_out: Sequence[Problem] = ()
) -> list[dict[str, Any]]:
    """The objects; notes as warnings (an error with ``strict``)."""
    from ..targets.kubernetes.objects import Options
    from ..targets.kubernetes.objects import render as render_objects

    rendering = render_objects(desired, Options(namespace=namespace))
    notes = [*left_out, *rendering.notes]
    if strict and notes:
        raise ThvError(
            _strict_message(notes),
            hint="without --strict these are warnings and the objects are rendered",
        )
    for note in notes:
        typer.echo(f"warning: {note}", err=True)
    return list(rendering.objects)


def _left_out(rc: dict[str, Any]) -> list[Problem]:
    """The run config's settings the export has no field for (as ``thv import`` has none)."""
    from ..workloads.importer import unexpressed

    message = "a ToolHive setting that is not exported (the render has no field for it)"
    return [Problem(message, path=key) for key in unexpressed(rc)]


def _strict_message(notes: Sequence[Problem]) -> str:
    if len(notes) == 1:
        return f"--strict: {notes[0]}"
    lines = "".join(f"\n  - {note}" for note in notes)
    return f"--strict: {len(notes)} fields cannot mean the same on Kubernetes:{lines}"


def _print(objects: Sequence[dict[str, Any]]) -> None:
    from ..targets.kubernetes.manifest import stream

    sys.stdout.write(stream(objects))


def _write_directory(directory: Path, objects: Sequence[dict[str, Any]]) -> None:
    """One file per object; files an earlier render wrote and this one did not are removed."""
    from ..state.atomic import atomic_write
    from ..targets.kubernetes.manifest import FILE_HEADER, file_name, file_text

    if directory.exists() and not directory.is_dir():
        raise ThvError(f"{directory} is not a directory", hint="-o takes a directory")
    written = set()
    try:
        for obj in objects:
            path = directory / file_name(obj)
            atomic_write(path, file_text(obj).encode(), mode=0o644, dir_mode=0o755)
            written.add(path.name)
        stale = [p for p in sorted(directory.glob("*.yaml")) if p.name not in written]
        removed = [p for p in stale if _starts_with(p, FILE_HEADER)]
        for path in removed:
            path.unlink()
    except OSError as exc:
        where = exc.filename or directory
        raise ThvError(f"cannot write {where}: {exc.strerror or exc}") from None
    gone = f"; removed {len(removed)} it no longer renders" if removed else ""
    typer.echo(f"Wrote {len(written)} file(s) to {directory}{gone}.", err=True)


def _starts_with(path: Path, header: str) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(header.encode())) == header.encode()
    except OSError:
        return False


def _write_file(path: Path, text: str) -> None:
    from ..review.files import write_output

    try:
        write_output(path, text.encode(), mode=0o600)  # in a 0750 directory, as ToolHive
    except OSError as exc:
        raise ThvError(f"cannot write {path}: {exc.strerror or exc}") from None


def _description(store: Any, group: str) -> str:
    """A group's description, as this tool records it (ToolHive keeps none)."""
    try:
        owner = store.group_owners().get(group)
    except ThvError:
        return ""
    return owner.description if owner is not None else ""
