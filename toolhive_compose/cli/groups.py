"""``thv group create|list|rm`` — ToolHive's group files, same rules.

A thin layer over the library's :class:`~toolhive_compose.api.GroupManager`
(:func:`~toolhive_compose.api.connect`), which checks names (toolhive-core's rules) and takes
the state lock for ``create`` and ``rm``.  A group whose file is damaged is listed, with a
warning naming the file, and can be removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import NotFound, ThvError
from ..model import DEFAULT_GROUP
from .app import NamesCommand, app, confirm

if TYPE_CHECKING:
    from ..api.protocols import GroupManager

group_app = typer.Typer(help="Manage groups of workloads.", no_args_is_help=True)
app.add_typer(group_app, name="group")


@group_app.command("create", cls=NamesCommand)
def create(name: str) -> None:
    """Create a group."""
    _groups().create(name)
    typer.echo(f"Group {name!r} created.")


@group_app.command("list")
def list_() -> None:
    """List groups."""
    groups = _groups().list()
    for group in groups:
        if group.damage:
            typer.echo(f"warning: group {group.name}: {group.damage}", err=True)
    names = [g.name for g in groups]
    typer.echo("\n".join(["NAME", *names]) if names else "No groups configured.")


@group_app.command("rm", cls=NamesCommand)
def rm(
    name: str,
    with_workloads: Annotated[
        bool, typer.Option("--with-workloads", help="Delete its workloads too.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove a group; its workloads move to 'default' (or are deleted with --with-workloads)."""
    from ..api import connect

    if name.strip().lower() == DEFAULT_GROUP:
        raise ThvError("the default group cannot be removed")
    api = connect()
    if not api.groups.exists(name):  # before any question (a damaged file still exists)
        raise NotFound(f"group {name!r} does not exist", hint="thv group list")
    members = api.workloads.list_in_group(name)
    if members:
        what = "delete them" if with_workloads else f"move them to {DEFAULT_GROUP!r}"
        count = len(members)
        confirm(
            f"Group {name!r} has {count} workload(s); {what}? [y/N] ",
            yes=yes,
            refusal=f"group {name!r} has {count} workload(s): pass --yes to remove it",
            cancelled="cancelled",
            accept=("y", "Y"),
        )
    done = api.groups.delete(name, with_workloads=with_workloads)
    fate = "deleted" if with_workloads else f"moved to {DEFAULT_GROUP!r}"
    typer.echo(f"Group {name!r} removed; {len(done)} workload(s) {fate}.")


def _groups() -> GroupManager:
    from ..api import connect

    return connect().groups
