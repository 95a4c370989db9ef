"""ToolHive's imperative workload commands: list, status, logs, start/restart, stop, rm.

Same names and flags as ``thv``.  Every command is a thin layer over the library
(:func:`~toolhive_compose.api.connect`): queries for list/status, logs for logs, lifecycle for
the rest.
Batch commands act on several workloads in parallel — at most ``--parallelism`` at once
(default 8, as ``apply``; ToolHive's own batches are unbounded) — each with ToolHive's
5-minute timeout (a timed-out operation is cancelled and holds its slot until it has
stopped), and report one aggregated result: a failure on one never hides the others.

``thv list`` text output adds a ``PROJECT`` column: the toolhive-compose project owning the
workload, or ``-`` when it is unmanaged (made by ToolHive or ``thv run``).  ``--format json``
stays exactly ToolHive's Workload shape, without the project; ``thv status --format json``
is ToolHive's status shape (``health``, ``uptime``).  Both are encoded as Go encodes them.
When the engine does not answer (within a few seconds) ``list`` and ``status`` still answer,
from the state files, with a warning; orphans (:mod:`toolhive_compose.workloads.orphans`) are
reported as notes on stderr.  A workload whose state files are damaged is listed (its status
context names the file) and a warning on stderr says so; ``rm`` always works on it.

``start``, ``restart``, ``stop`` and ``rm`` hold the state lock while they choose and act
(:func:`.app.changing`).  Names are checked before anything is looked up: a name that starts
with ``-`` is refused with one sentence (``thv stop -rf``), not read as options.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import NotFound, ThvError
from ..gojson import dumps
from .app import NamesCommand, app, changing
from .tables import workload_table

if TYPE_CHECKING:
    from ..api.protocols import Connection
    from ..workloads.queries import Workload

BATCH_TIMEOUT = 300.0  # ToolHive's AsyncOperationTimeout
BATCH_PARALLELISM = 8

All = Annotated[bool, typer.Option("--all", "-a", help="All workloads.")]
Group = Annotated[str | None, typer.Option("--group", "-g", help="Workloads of this group.")]
Names = Annotated[list[str] | None, typer.Argument(help="Workload names.", show_default=False)]
Parallel = Annotated[
    int, typer.Option("--parallelism", min=1, max=64, help="Workloads handled at the same time.")
]


@app.command("list")
def list_(
    all_: All = False,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Filter by label k=v (AND).")
    ] = None,
    group: Group = None,
    output: Annotated[str, typer.Option("--format", help="text, json or mcpservers.")] = "text",
    check_upgrades: Annotated[
        bool, typer.Option("--check-upgrades", help="Add each workload's upgrade status.")
    ] = False,
    registry: Annotated[
        str | None, typer.Option("--registry", help="Registry for --check-upgrades.")
    ] = None,
) -> None:
    """List workloads (running ones unless --all); PROJECT '-' means unmanaged."""
    filters = _label_filters(label or [])
    if check_upgrades and output == "mcpservers":
        raise ThvError("--check-upgrades is not supported with --format mcpservers")
    found = _listed(all_, filters, group)
    _warn_damaged(found)
    upgrades = None
    if check_upgrades:
        from ..upgrade.check import list_upgrades

        upgrades = list_upgrades([w.name for w in found], registry)
    if output == "json":
        docs = [w.to_dict() for w in found]
        if upgrades is not None:
            for doc in docs:
                if doc["name"] in upgrades:
                    doc["upgrade"] = upgrades[doc["name"]].to_dict()
        typer.echo(dumps(docs))
    elif output == "mcpservers":
        servers = {w.name: {"url": w.url, "type": w.proxy_mode} for w in found}
        typer.echo(dumps({"mcpServers": servers}))
    elif output == "text":
        typer.echo(workload_table(found, upgrades) if found else "No MCP servers found")
    else:
        raise ThvError(f"unknown format {output!r}: use text, json or mcpservers")


@app.command(cls=NamesCommand)
def status(
    name: str,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show one workload's status."""
    from ..workloads.queries import uptime

    w = _got(_name(name))
    if output == "json":
        _warn_damaged([w])  # (the text's Health line says it)
        typer.echo(dumps(w.status_dict(uptime(w.started_at))))
    elif output == "text":
        typer.echo(status_text(w, uptime(w.started_at)))
    else:
        raise ThvError(f"unknown format {output!r}: use text or json")


def status_text(w: Workload, up: str) -> str:
    """ToolHive's ``thv status`` text, plus the owning project."""
    rows = [("Name", w.name), ("Status", w.status), ("Health", w.status_context)]
    rows += [("Package", w.package), ("URL", w.url), ("Port", str(w.port))]
    rows += [("Transport", w.transport_type), ("Proxy Mode", w.proxy_mode), ("Group", w.group)]
    rows += [("Project", w.project), ("Created", _created(w.created_at))]
    rows += [("Remote", "true" if w.remote else ""), ("Uptime", up)]
    shown = [(k, v) for k, v in rows if v or k in ("Package", "URL", "Port")]
    width = max(len(k) for k, _ in shown) + 1
    return "\n".join(f"{k + ':':<{width}}  {v}" for k, v in shown)


def _created(text: str) -> str:
    """``2006-01-02 15:04:05`` in the time's own offset, as ToolHive prints it."""
    return text[:19].replace("T", " ") if text and not text.startswith("0001-") else ""


@app.command(cls=NamesCommand)
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    proxy: Annotated[bool, typer.Option("--proxy", "-p", help="The proxy's log instead.")] = False,
) -> None:
    """Print a workload's container logs (or its proxy's log)."""
    logs_api = _connect().logs
    name = _name(name)
    chunks = (
        logs_api.proxy_logs(name, follow=follow) if proxy else logs_api.logs(name, follow=follow)
    )
    for chunk in chunks:
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@app.command(cls=NamesCommand)
def start(
    names: Names = None,
    all_: All = False,
    group: Group = None,
    parallelism: Parallel = BATCH_PARALLELISM,
    foreground: Annotated[bool, typer.Option("--foreground", "-f", hidden=True)] = False,
) -> None:
    """Start workloads: the container and its proxy (adopts containers that lost theirs)."""
    _batch(
        "start", names, all_, group, lambda api, n: api.lifecycle.start(n),
        skip=_serving, fork=True, parallelism=parallelism,
    )  # fmt: skip


app.command("restart", help="Alias of start.", cls=NamesCommand)(start)


def _batch_command(verb: str, doc: str, operation: Callable[[Connection, str], object]) -> None:
    """Register ``thv VERB [NAME…] [-a] [-g G] [--parallelism N]`` running ``operation``."""

    def command(
        names: Names = None,
        all_: All = False,
        group: Group = None,
        parallelism: Parallel = BATCH_PARALLELISM,
    ) -> None:
        _batch(verb, names, all_, group, operation, parallelism=parallelism)

    command.__doc__ = doc
    app.command(verb, cls=NamesCommand)(command)


_batch_command(
    "stop",
    "Stop workloads: the proxy first, then the container; state is kept.",
    lambda api, n: api.lifecycle.stop(n),
)
_batch_command(
    "rm",
    "Delete workloads: container, proxy, run config and status.",
    lambda api, n: api.lifecycle.delete(n),
)


# -- helpers -------------------------------------------------------------------------------
def _got(name: str) -> Workload:
    """One workload; without an engine, as last recorded (with a warning)."""
    from ..errors import EngineError, EngineUnavailable

    try:
        return _connect().workloads.get(name)
    except (EngineUnavailable, EngineError) as exc:
        from ..state import Store
        from ..workloads.queries import list_recorded

        found = [w for w in list_recorded(Store.from_env(), all=True) if w.name == name]
        if not found:
            raise
        typer.echo(f"warning: {exc}; showing the status as last recorded", err=True)
        return found[0]


def _listed(all_: bool, labels: dict[str, str], group: str | None) -> list[Workload]:
    """The workloads, and on stderr a note per orphan; without an engine, as last recorded."""
    from ..errors import EngineError, EngineUnavailable
    from ..state import Store
    from ..workloads import orphans

    store = Store.from_env()
    try:
        found = _connect().workloads.list(all=all_, labels=labels, group=group)
    except (EngineUnavailable, EngineError) as exc:
        from ..workloads.queries import list_recorded

        typer.echo(f"warning: {exc}; showing the workloads as last recorded", err=True)
        found = list_recorded(store, all=all_, labels=labels, group=group)
        strays: list[orphans.Orphan] = []
    else:
        strays = [
            orphans.Orphan("container", w.name, container_id=w.container_id)
            for w in found
            if w.container_id and w.status_context == orphans.NO_RUN_CONFIG.format(name=w.name)
        ]
    pids = orphans.foreign_pids((w.name, w.proxy_pid) for w in found if w.proxy_pid)
    for orphan in [*orphans.orphan_proxies(store), *pids, *strays]:
        typer.echo(f"note: {orphan.describe()} ({orphan.remedy()})", err=True)
    return found


def _batch(
    verb: str,
    names: Sequence[str] | None,
    all_: bool,
    group: str | None,
    operation: Callable[[Connection, str], object],
    skip: Callable[[Workload], bool] | None = None,
    fork: bool = False,
    parallelism: int = BATCH_PARALLELISM,
) -> None:
    """``operation`` on every chosen workload at once; ``fork``: it starts proxies, so
    several of them come from one pre-loaded launcher (``thv start --all`` after a reboot)."""
    from ..apply.parallel import run_graph

    if not names and not all_ and group is None:
        raise ThvError(f"name the workloads to {verb}, or pass --all or --group")
    names = [_name(n) for n in names or []]
    api = _connect()
    with changing(f"thv {verb}"):
        every = {w.name: w for w in api.workloads.list(all=True)}
        chosen = _select(every, names, all_, group)
        todo = [n for n in chosen if not (skip and skip(every[n]))]
        for name in sorted(set(chosen) - set(todo)):
            typer.echo(f"{name}: already running")
        with _launching(api) if fork and len(todo) > 1 else contextlib.nullcontext():
            outcomes = run_graph(
                todo,
                {},
                lambda n: _call(operation, api, n),
                parallelism=parallelism,
                timeout=BATCH_TIMEOUT,
            )
    failed = [(k, o) for k, o in sorted(outcomes.items()) if o.state != "done"]
    for name in sorted(k for k, o in outcomes.items() if o.state == "done"):
        typer.echo(f"{name}: {verb} done")
    for name, outcome in failed:
        typer.echo(f"{name}: {verb} failed: {outcome.error}", err=True)
    if failed:
        raise ThvError(f"{len(failed)} of {len(todo)} workload(s) failed to {verb}")


def _launching(api: Connection) -> contextlib.AbstractContextManager[None]:
    from ..api.local import LocalLifecycle

    if isinstance(api.lifecycle, LocalLifecycle):
        return api.lifecycle.core.launching_proxies()
    return contextlib.nullcontext()


def _call(operation: Callable[[Connection, str], object], api: Connection, name: str) -> None:
    operation(api, name)


def _select(
    every: dict[str, Workload], names: Sequence[str], all_: bool, group: str | None
) -> list[str]:
    if all_:
        return sorted(every)
    if group is not None:
        return sorted(n for n, w in every.items() if w.group == group)
    missing = [n for n in names if n not in every]
    if missing:
        raise NotFound(
            f"workload(s) not found: {', '.join(missing)}",
            hint="thv list --all shows every workload",
        )
    return list(dict.fromkeys(names))


def _name(name: str) -> str:
    """A name that looks up a workload, checked first (``-rf`` is refused, not parsed)."""
    from ..spec.names import check_workload_name

    return check_workload_name(name, existing=True)


def _warn_damaged(found: Sequence[Workload]) -> None:
    for w in found:
        if w.damage:
            typer.echo(f"warning: {w.name}: {w.damage} (thv rm {w.name} removes it)", err=True)


def _serving(w: Workload) -> bool:
    return w.status == "running"


def _label_filters(raw: Sequence[str]) -> dict[str, str]:
    from ..spec.labels import parse_label

    return dict(parse_label(item, what="label filter") for item in raw)


def _connect() -> Connection:
    from ..api import connect

    return connect()
