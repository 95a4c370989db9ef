"""``thv client``: the MCP clients (AI apps) servers are registered in.

``list`` is ours: every supported client, whether it is installed here, the groups that
register it, and the entries toolhive-compose wrote with their drift.  ``status`` and
``list-registered`` are ToolHive's, with its columns.  Registering is declarative: a group's
``clients:`` in the workloads file, then ``thv apply``.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app
from .tables import columns

if TYPE_CHECKING:
    from ..clients.report import ClientStatus, EntryStatus

client_app = typer.Typer(help="MCP clients: where servers are registered.", no_args_is_help=True)
app.add_typer(client_app, name="client")


class ListFormat(StrEnum):
    text = "text"
    json = "json"


@client_app.command("list")
def list_(
    output: Annotated[ListFormat, typer.Option("--format", help="text or json.")] = ListFormat.text,
    installed: Annotated[
        bool, typer.Option("--installed", "-i", help="Only clients installed here.")
    ] = False,
) -> None:
    """Supported clients, where they are registered, and the entries written (with drift)."""
    from ..clients import report
    from ..state import Store

    store = Store.from_env()
    found = [c for c in report.clients(store) if c.installed or not installed]
    written = report.entries(store)
    if output is ListFormat.json:
        doc = {"clients": [c.to_dict() for c in found], "entries": [e.to_dict() for e in written]}
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(_clients_table(found))
    typer.echo("")
    typer.echo(_entries_table(written))


@client_app.command("status")
def status() -> None:
    """ToolHive's table: each client, installed, registered."""
    from ..clients import report
    from ..state import Store

    rows = [("CLIENT TYPE", "INSTALLED", "REGISTERED")]
    rows += [
        (c.name, _yes(c.installed), _yes(bool(c.groups))) for c in report.clients(Store.from_env())
    ]
    typer.echo(columns(rows))


@client_app.command("list-registered")
def list_registered() -> None:
    """ToolHive's list: registered clients and their groups."""
    from ..clients import report
    from ..state import Store

    groups = report.registered_groups(Store.from_env())
    if not groups:
        typer.echo("No clients are currently registered.")
        return
    rows = [("CLIENT TYPE", "GROUPS")]
    rows += [(name, ", ".join(g) or "(no groups)") for name, g in sorted(groups.items())]
    typer.echo(columns(rows))


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _short(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if home != "/" and path.startswith(home + "/") else path


def _clients_table(found: list[ClientStatus]) -> str:
    if not found:
        return "No supported client is installed here."
    rows = [("CLIENT", "INSTALLED", "REGISTERED IN", "FILE")]
    for c in found:
        name = c.name + (" (deprecated)" if c.deprecated else "")
        rows.append((name, _yes(c.installed), ", ".join(c.groups) or "-", _short(c.file)))
    return columns(rows)


def _entries_table(written: list[EntryStatus]) -> str:
    if not written:
        return "No client entries written by toolhive-compose."
    rows = [("CLIENT", "SERVER", "PROJECT", "GROUP", "STATE")]
    rows += [(e.record.client, e.record.server, e.record.project, e.record.group, e.state)
             for e in written]  # fmt: skip
    lines = ["Entries written by toolhive-compose:", columns(rows)]
    if any(e.drifted for e in written):
        lines.append(
            "Drifted entries are left as they are: thv apply writes a removed one again and "
            "leaves an edited one alone (delete it to have it written again); thv down "
            "forgets both."
        )
    return "\n".join(lines)
