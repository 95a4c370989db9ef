"""``thv upgrade check|apply``.

Checks are offline: they compare each workload's run config with its registry entry and never
pull (:mod:`toolhive_compose.upgrade.check`, which also serves ``list --check-upgrades`` and
``plan --check-upgrades``).  ``apply`` re-derives the check, pulls and verifies the candidate,
and only then recreates the workload (see :mod:`toolhive_compose.upgrade.execute`).

Workloads owned by a compose project are refused unless ``--force``: their workloads file
says which image they run, and the next ``thv apply`` of a file that pins the old tag would
put it back.  The way to upgrade them is the file (``thv plan --check-upgrades`` lists the
pinned servers a registry has moved past).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import DamagedFile, NotFound, ThvError
from ..spec.names import check_workload_name
from .app import Many, NamesCommand, RegistryOpt, app, confirm, pair, secret_ref
from .tables import upgrade_detail, upgrade_intro, upgrade_table

upgrade_app = typer.Typer(
    help="Check registry-sourced workloads for newer images, and upgrade them.",
    no_args_is_help=True,
)
app.add_typer(upgrade_app, name="upgrade")


@upgrade_app.command("check", cls=NamesCommand)
def check_command(
    name: Annotated[str | None, typer.Argument(help="One workload (default: all).")] = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    registry: RegistryOpt = None,
) -> None:
    """Compare workloads with their registry entries (offline: nothing is pulled)."""
    from ..state import Store
    from ..upgrade.check import Registries

    if output not in ("text", "json"):
        raise ThvError(f"unknown format {output!r}: use text or json")
    store = Store.from_env()
    names = [check_workload_name(name, existing=True)] if name else sorted(store.runconfigs.names())
    registries = Registries(registry)
    results = []
    for each in names:
        try:
            rc = store.runconfigs.read(each)
        except DamagedFile as exc:
            if name:
                raise
            typer.echo(f"warning: {each}: {exc.message}; not checked", err=True)
            continue
        if rc is None:
            if name:
                raise NotFound(f"workload {name} not found", hint="thv list --all")
            continue
        results.append(registries.check(rc))
    if output == "json":
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif name:
        typer.echo(upgrade_detail(results[0]))
    else:
        typer.echo(upgrade_table(results))


@upgrade_app.command("apply", cls=NamesCommand)
def apply_command(
    name: Annotated[str, typer.Argument(help="The workload to upgrade.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Upgrade without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be done.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Upgrade a workload a compose project owns.")
    ] = False,
    env: Annotated[Many, typer.Option("--env", "-e", help="KEY=VALUE to add (repeatable).")] = None,
    secret: Annotated[Many, typer.Option("--secret", help="NAME,target=ENV (repeatable).")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Upgrade a workload to its registry's image: pull and verify first, then recreate."""
    from ..runtime import get_runtime
    from ..state import Store, state_lock
    from ..upgrade.check import Registries
    from ..upgrade.execute import Prepared, prepare, pull_and_verify, recreate

    check_workload_name(name, existing=True)
    extra_env = dict(pair(item, "--env") for item in env or [])
    extra_secrets = {t: ref["env"] for t, ref in (secret_ref(item) for item in secret or [])}
    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours, operation="thv upgrade apply"):
        prepared = prepare(
            name,
            store,
            runtime,
            Registries(registry),
            env=extra_env,
            secrets=extra_secrets,
            force=force,
        )
        if not isinstance(prepared, Prepared):
            typer.echo(f"{name} is up to date ({prepared.current_image}).")
            return
        result = prepared.result
        typer.echo(upgrade_intro(result))
        if prepared.project:
            typer.echo(
                f"warning: {name} belongs to project {prepared.project}: the next thv apply of "
                "a workloads file that pins the old image puts it back",
                err=True,
            )
        if dry_run:
            typer.echo(
                f"Dry run, nothing changed. Without --dry-run: pull {result.candidate_image}, "
                f"verify it, then recreate {name} with it."
            )
            return
        confirm(
            "Upgrade? Only 'yes' will be accepted: ",
            yes=yes,
            refusal="refusing to upgrade without --yes: standard input is not a terminal",
            hint="review the upgrade above, then run again with --yes (or --dry-run)",
            cancelled="upgrade cancelled",
        )
        digest = pull_and_verify(runtime, name, result.candidate_image)
        recreate(prepared, runtime, store)
    typer.echo(f"{name} upgraded: {result.current_image} -> {result.candidate_image} ({digest}).")
