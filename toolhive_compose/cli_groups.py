"""``thv group create|list|rm`` — ToolHive's group files, same rules."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from .cli import app
from .errors import NotFound, ThvError
from .model import DEFAULT_GROUP

HIDDEN_GROUPS = frozenset({"__mcp-optimizer__"})
_GROUP_NAME = re.compile(r"^[a-z0-9_\-\s]+$")

group_app = typer.Typer(help="Manage groups of workloads.", no_args_is_help=True)
app.add_typer(group_app, name="group")


def group_name_problem(name: str) -> str | None:
    """ToolHive's group-name validation, as a sentence (or None when valid)."""
    if not name.strip():
        return "group name cannot be empty"
    if name != name.strip() or "  " in name or "\x00" in name:
        return f"invalid group name {name!r}: no leading, trailing or double spaces"
    if name != name.lower() or not _GROUP_NAME.match(name):
        return f"invalid group name {name!r}: lowercase letters, digits, '_', '-' and spaces only"
    return None


@group_app.command("create")
def create(name: str) -> None:
    """Create a group."""
    from .state import Store, group_document

    problem = group_name_problem(name)
    if problem:
        raise ThvError(problem)
    if not Store.from_env().groups.create(name, group_document(name)):
        raise ThvError(f"group {name!r} already exists")
    typer.echo(f"Group {name!r} created.")


@group_app.command("list")
def list_() -> None:
    """List groups."""
    from .state import Store

    store = Store.from_env()
    store.groups.ensure_default()
    names = [n for n in store.groups.names() if n not in HIDDEN_GROUPS]
    typer.echo("\n".join(["NAME", *names]) if names else "No groups configured.")


@group_app.command("rm")
def rm(
    name: str,
    with_workloads: Annotated[
        bool, typer.Option("--with-workloads", help="Delete its workloads too.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove a group; its workloads move to 'default' (or are deleted with --with-workloads)."""
    from .lifecycle import Lifecycle
    from .runtime import get_runtime
    from .state import Store
    from .workloads import list_workloads

    if name.lower() == DEFAULT_GROUP:
        raise ThvError("the default group cannot be removed")
    runtime, store = get_runtime(), Store.from_env()
    if store.groups.read(name) is None:
        raise NotFound(f"group {name!r} does not exist")
    members = [w for w in list_workloads(runtime, store, all=True) if w.group == name]
    if members and not yes:
        _confirm(name, len(members), with_workloads)
    lifecycle = Lifecycle(runtime, store)
    for w in members:
        if with_workloads:
            lifecycle.delete(w.name, w.container_id)
        else:
            lifecycle.move_group(w.name, DEFAULT_GROUP)
    lifecycle.group_delete(name)
    fate = "deleted" if with_workloads else f"moved to {DEFAULT_GROUP!r}"
    typer.echo(f"Group {name!r} removed; {len(members)} workload(s) {fate}.")


def _confirm(name: str, count: int, delete: bool) -> None:
    if not sys.stdin.isatty():
        raise ThvError(f"group {name!r} has {count} workload(s): pass --yes to remove it")
    what = "delete them" if delete else f"move them to {DEFAULT_GROUP!r}"
    if input(f"Group {name!r} has {count} workload(s); {what}? [y/N] ").strip().lower() != "y":
        raise ThvError("cancelled")
