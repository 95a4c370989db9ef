"""``thv run``: one workload from flags, through the same validation as the workloads file.

The flags become a one-server document that the loader validates and completes exactly as it
would a file, so ``thv run`` and ``apply`` share every rule (names, labels, profiles,
secrets).  Workloads made this way belong to no project, like ToolHive's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ThvError
from ..model import DEFAULT_GROUP
from .app import Many, app, pair, secret_ref


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Image, or an http(s) URL for a remote server.")],
    name: Annotated[str | None, typer.Option("--name", help="Workload name.")] = None,
    transport: Annotated[str | None, typer.Option("--transport")] = None,
    proxy_mode: Annotated[str | None, typer.Option("--proxy-mode")] = None,
    proxy_port: Annotated[int | None, typer.Option("--proxy-port")] = None,
    target_port: Annotated[int | None, typer.Option("--target-port")] = None,
    env: Annotated[Many, typer.Option("--env", "-e", help="KEY=VALUE (repeatable).")] = None,
    secret: Annotated[Many, typer.Option("--secret", help="NAME,target=ENV (repeatable).")] = None,
    volume: Annotated[Many, typer.Option("--volume", "-v", help="host:container[:ro].")] = None,
    label: Annotated[Many, typer.Option("--label", "-l", help="k=v (repeatable).")] = None,
    group: Annotated[str, typer.Option("--group")] = DEFAULT_GROUP,
    permission_profile: Annotated[str | None, typer.Option("--permission-profile")] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="Registry (path or URL) to look TARGET up in.")
    ] = None,
    foreground: Annotated[
        bool,
        typer.Option("--foreground", help="Stay attached: stream the proxy log; Ctrl-C removes."),
    ] = False,
) -> None:
    """Run an MCP server: its container and its proxy.  Arguments after -- go to the server.

    TARGET is looked up in the registry first (when one is configured and TARGET has no tag
    or digest); a name the registry does not know is an image.
    """
    from ..api import connect
    from ..spec.loader import load_document
    from ..spec.names import check_image, workload_name_problem
    from ..spec.server_entries import registry_name, run_target_entry

    remote = target.startswith(("http://", "https://"))
    entry = None if remote else run_target_entry(target, registry)
    if not remote and entry is None:
        check_image(target)
    workload = name or (registry_name(target) if entry else default_name(target, remote))
    problem = workload_name_problem(workload, container=not remote)
    if problem:
        hint = None if name else "choose a name with --name"
        raise ThvError(problem, hint=hint)
    options = {
        "transport": transport,
        "proxy_mode": proxy_mode,
        "port": proxy_port,
        "target_port": target_port,
        "permission_profile": permission_profile,
    }
    lists = {"env": env, "secret": secret, "volume": volume, "label": label}
    server = _server(target, remote, options, lists, group, list(ctx.args))
    if entry is not None:  # resolved again, with every rule of a file's 'server:' entry
        server["server"] = server.pop("image")
    doc = {"version": 1, "servers": {workload: server}}
    if group != DEFAULT_GROUP:
        doc["groups"] = {group: {}}
    desired = load_document(doc, base_dir=Path.cwd(), project="", registry=registry)
    _ensure_image(desired.server(workload).image)
    connection = connect()
    created = connection.lifecycle.run(desired.server(workload), project="")
    typer.echo(f"{workload} is running at {created.url}")
    if foreground:
        _attached(connection, workload)


def _attached(connection: Any, name: str) -> None:
    """ToolHive's --foreground: the workload lives as long as this command does."""
    import signal
    import sys

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # even when started with
        signal.signal(signum, interrupt)  # SIGINT ignored (a background job of a script)
    typer.echo(f"Streaming {name}'s proxy log; press Ctrl-C to stop and remove it.", err=True)
    try:
        for chunk in connection.logs.proxy_logs(name, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        connection.lifecycle.delete(name)
        typer.echo(f"{name} removed.", err=True)


def _ensure_image(image: str) -> None:
    """Pull the image when it is not here (ToolHive's run pulls it too); remote: nothing."""
    if not image:
        return
    from ..runtime import get_runtime
    from ..runtime.pulls import PULL_TIMEOUT
    from .running import PullDisplay

    runtime = get_runtime()
    if not runtime.image_present(image):
        runtime.pull(image, timeout=PULL_TIMEOUT, progress=PullDisplay())


def _server(
    target: str,
    remote: bool,
    options: dict[str, Any],
    lists: dict[str, Many],
    group: str,
    args: list[str],
) -> dict[str, Any]:
    """The workloads-file entry ``thv run``'s options describe (``options``: the single-valued
    ones, None when not given; ``lists``: the repeatable ones by option name)."""
    server: dict[str, Any] = {"url" if remote else "image": target}
    server.update({k: v for k, v in options.items() if v is not None})
    if group != DEFAULT_GROUP:
        server["group"] = group
    if args:
        server["args"] = args
    if lists["env"]:
        server["env"] = dict(pair(item, "--env") for item in lists["env"])
    if lists["label"]:
        server["labels"] = dict(pair(item, "--label") for item in lists["label"])
    if lists["volume"]:
        server["volumes"] = list(lists["volume"])
    if lists["secret"]:
        server["secrets"] = dict(secret_ref(item) for item in lists["secret"])
    return server


def default_name(target: str, remote: bool) -> str:
    """ToolHive's default: the image's last path element, or the URL host's second label."""
    if remote:
        from urllib.parse import urlparse

        labels = (urlparse(target).hostname or "remote").split(".")
        return labels[-2] if len(labels) >= 2 else labels[0]
    last = target.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return "".join(c if c.isalnum() or c == "-" else "-" for c in last) or "workload"
