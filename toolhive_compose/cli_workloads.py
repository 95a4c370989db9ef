"""ToolHive's imperative workload commands: list, status, logs, start/restart, stop, rm.

Same names and flags as ``thv``.  Batch commands act on several workloads in parallel, each
with a 5-minute timeout, and report one aggregated result: a failure on one never hides the
others.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import app
from .errors import NotFound, ThvError

if TYPE_CHECKING:
    from .workloads import Workload

BATCH_TIMEOUT = 300.0

All = Annotated[bool, typer.Option("--all", "-a", help="All workloads.")]
Group = Annotated[str | None, typer.Option("--group", "-g", help="Workloads of this group.")]
Names = Annotated[list[str] | None, typer.Argument(help="Workload names.", show_default=False)]


@app.command("list")
def list_(
    all_: All = False,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Filter by label k=v (AND).")
    ] = None,
    group: Group = None,
    output: Annotated[str, typer.Option("--format", help="text, json or mcpservers.")] = "text",
) -> None:
    """List workloads (running ones unless --all)."""
    from .workloads import list_workloads

    filters = _label_filters(label or [])
    runtime, store = _context()
    found = list_workloads(runtime, store, all=all_, labels=filters, group=group)
    if output == "json":
        typer.echo(json.dumps([w.to_dict() for w in found], indent=2))
    elif output == "mcpservers":
        servers = {w.name: {"url": w.url, "type": w.proxy_mode} for w in found}
        typer.echo(json.dumps({"mcpServers": servers}, indent=2))
    elif output == "text":
        typer.echo(_table(found) if found else "No MCP servers found")
    else:
        raise ThvError(f"unknown format {output!r}: use text, json or mcpservers")


@app.command()
def status(
    name: str,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show one workload's status."""
    from .workloads import get_workload

    w = get_workload(*_context(), name)
    doc = {
        "name": w.name, "status": w.status, "package": w.package, "url": w.url,
        "port": w.port, "transport": w.transport_type, "proxy_mode": w.proxy_mode,
        "group": w.group,
    }  # fmt: skip
    if w.status_context:
        doc["status_context"] = w.status_context
    if output == "json":
        typer.echo(json.dumps(doc, indent=2))
    else:
        width = max(len(k) for k in doc)
        typer.echo(
            "\n".join(f"{k.replace('_', ' ').title():<{width}}  {v}" for k, v in doc.items())
        )


@app.command()
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    proxy: Annotated[bool, typer.Option("--proxy", "-p", help="The proxy's log instead.")] = False,
) -> None:
    """Print a workload's container logs (or its proxy's log)."""
    from .workloads import get_workload

    runtime, store = _context()
    if proxy:
        _tail_file(store.paths.logs / f"{name}.log", follow)
        return
    w = get_workload(runtime, store, name)
    if not w.container_id:
        raise ThvError(
            f"workload {name} has no container (remote workloads only have a proxy log)",
            hint=f"thv logs {name} --proxy",
        )
    for chunk in runtime.logs(w.container_id, follow=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@app.command()
def start(
    names: Names = None,
    all_: All = False,
    group: Group = None,
    foreground: Annotated[bool, typer.Option("--foreground", "-f", hidden=True)] = False,
) -> None:
    """Start workloads: the container and its proxy (adopts containers that lost theirs)."""
    _batch(
        "start", names, all_, group, lambda lc, w: lc.start(w.name, w.container_id), skip=_serving
    )


app.command("restart", help="Alias of start.")(start)


@app.command()
def stop(names: Names = None, all_: All = False, group: Group = None) -> None:
    """Stop workloads: the proxy first, then the container; state is kept."""
    _batch("stop", names, all_, group, lambda lc, w: lc.stop(w.name, w.container_id))


@app.command()
def rm(names: Names = None, all_: All = False, group: Group = None) -> None:
    """Delete workloads: container, proxy, run config and status."""
    _batch("rm", names, all_, group, lambda lc, w: lc.delete(w.name, w.container_id))


# -- helpers -------------------------------------------------------------------------------
def _batch(
    verb: str,
    names: Sequence[str] | None,
    all_: bool,
    group: str | None,
    operation: Callable,  # type: ignore[type-arg]
    skip: Callable[[Workload], bool] | None = None,
) -> None:
    from .lifecycle import Lifecycle
    from .parallel import run_graph
    from .workloads import list_workloads

    if not names and not all_ and group is None:
        raise ThvError(f"name the workloads to {verb}, or pass --all or --group")
    runtime, store = _context()
    every = {w.name: w for w in list_workloads(runtime, store, all=True)}
    chosen = _select(every, names or [], all_, group)
    lifecycle = Lifecycle(runtime, store)
    todo = [n for n in chosen if not (skip and skip(every[n]))]
    for name in sorted(set(chosen) - set(todo)):
        typer.echo(f"{name}: already running")
    outcomes = run_graph(
        todo,
        {},
        lambda n: operation(lifecycle, every[n]),
        parallelism=max(1, len(todo)),
        timeout=BATCH_TIMEOUT,
    )
    failed = [(k, o) for k, o in sorted(outcomes.items()) if o.state != "done"]
    for name in sorted(k for k, o in outcomes.items() if o.state == "done"):
        typer.echo(f"{name}: {verb} done")
    for name, outcome in failed:
        typer.echo(f"{name}: {verb} failed: {outcome.error}", err=True)
    if failed:
        raise ThvError(f"{len(failed)} of {len(todo)} workload(s) failed to {verb}")


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


def _serving(w: Workload) -> bool:
    return w.status == "running"


def _label_filters(raw: Sequence[str]) -> dict[str, str]:
    from .labels import parse_label

    return dict(parse_label(item, what="label filter") for item in raw)


def _context():  # type: ignore[no-untyped-def]
    from .runtime import get_runtime
    from .state import Store

    return get_runtime(), Store.from_env()


def _table(found: Sequence[Workload]) -> str:
    rows = [("NAME", "PACKAGE", "STATUS", "URL", "PORT", "GROUP", "CREATED")]
    rows += [
        (w.name, w.package, w.status, w.url, str(w.port), w.group, w.created_at[:19]) for w in found
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def _tail_file(path, follow: bool) -> None:  # type: ignore[no-untyped-def]
    import time

    try:
        handle = open(path, "rb")  # noqa: SIM115 - streamed until interrupted
    except FileNotFoundError:
        raise NotFound(f"no proxy log at {path}") from None
    with handle:
        while True:
            chunk = handle.read(65536)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            elif not follow:
                return
            else:
                time.sleep(0.25)
