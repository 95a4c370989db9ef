"""``thv upgrade check|apply`` and the ``--check-upgrades`` views of ``list`` and ``plan``.

Checks are offline: they compare each workload's run config with its registry entry and never
pull.  ``apply`` re-derives the check, pulls and verifies the candidate, and only then
recreates the workload (see :mod:`.upgrade_apply`).

Workloads owned by a compose project are refused unless ``--force``: their workloads file
says which image they run, and the next ``thv apply`` of a file that pins the old tag would
put it back.  The way to upgrade them is the file (``thv plan --check-upgrades`` lists the
pinned servers a registry has moved past).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import NotFound, ThvError
from .declarative import RegistryOpt, app

if TYPE_CHECKING:
    from ..model import DesiredState
    from ..plan.actions import Action, Plan
    from ..runtime import Runtime
    from ..upgrade.check import UpgradeResult

upgrade_app = typer.Typer(
    help="Check registry-sourced workloads for newer images, and upgrade them.",
    no_args_is_help=True,
)
app.add_typer(upgrade_app, name="upgrade")
Many = list[str] | None


@upgrade_app.command("check")
def check_command(
    name: Annotated[str | None, typer.Argument(help="One workload (default: all).")] = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    registry: RegistryOpt = None,
) -> None:
    """Compare workloads with their registry entries (offline: nothing is pulled)."""
    from ..state import Store
    from ..upgrade.execute import Registries

    if output not in ("text", "json"):
        raise ThvError(f"unknown format {output!r}: use text or json")
    store = Store.from_env()
    names = [name] if name else sorted(store.runconfigs.names())
    registries = Registries(registry)
    results = []
    for each in names:
        rc = store.runconfigs.read(each)
        if rc is None:
            if name:
                raise NotFound(f"workload {name} not found", hint="thv list --all")
            continue
        results.append(registries.check(rc))
    if output == "json":
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif name:
        typer.echo(render_detail(results[0]))
    else:
        typer.echo(render_table(results))


@upgrade_app.command("apply")
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
    from ..upgrade.execute import Prepared, Registries, prepare, pull_and_verify, recreate
    from .run import _pair, _secret

    extra_env = dict(_pair(item, "--env") for item in env or [])
    extra_secrets = {t: ref["env"] for t, ref in (_secret(item) for item in secret or [])}
    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours):
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
        typer.echo(_intro(result))
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
        _confirm(yes)
        digest = pull_and_verify(runtime, name, result.candidate_image)
        recreate(prepared, runtime, store)
    typer.echo(f"{name} upgraded: {result.current_image} -> {result.candidate_image} ({digest}).")


def _intro(result: UpgradeResult) -> str:
    lines = [
        f"{result.workload_name}: {result.current_image} -> {result.candidate_image} "
        f"(registry entry {result.registry_server})",
        "Everything else is kept: env, secrets, volumes, labels, ports, group, permission profile.",
    ]
    return "\n".join(lines + _drift_lines(result))


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ThvError(
            "refusing to upgrade without --yes: standard input is not a terminal",
            hint="review the upgrade above, then run again with --yes (or --dry-run)",
        )
    if input("Upgrade? Only 'yes' will be accepted: ").strip() != "yes":
        raise ThvError("upgrade cancelled")


# -- views -------------------------------------------------------------------------------
def render_table(results: Sequence[UpgradeResult]) -> str:
    if not results:
        return "No MCP servers found"
    rows = [("NAME", "STATUS", "CURRENT", "CANDIDATE", "NEW-ENV", "POSTURE")]
    for r in results:
        added = len((r.env_var_drift or {}).get("added") or [])
        posture = "drift" if r.config_drift else "-"
        rows.append(
            (r.workload_name, r.status, r.current_image or "-", r.candidate_image or "-",
             str(added), posture)
        )  # fmt: skip
    return _columns(rows)


def render_detail(r: UpgradeResult) -> str:
    lines = [f"Workload:  {r.workload_name}", f"Status:    {r.status}"]
    for label, value in (
        ("Registry:  ", r.registry_server),
        ("Current:   ", r.current_image),
        ("Candidate: ", r.candidate_image),
        ("Reason:    ", r.reason),
    ):
        if value:
            lines.append(label + value)
    return "\n".join(lines + _drift_lines(r))


def _drift_lines(r: UpgradeResult) -> list[str]:
    lines = []
    added = (r.env_var_drift or {}).get("added") or []
    if added:
        lines.append("New environment variables declared by the candidate:")
        for var in added:
            required = " (required)" if var.get("required") else ""
            about = f": {var['description']}" if var.get("description") else ""
            lines.append(f"  - {var['name']}{required}{about}")
    for key, label in (("transport", "transport"), ("permission_profile", "permission profile")):
        change = (r.config_drift or {}).get(key)
        if change:
            lines.append(f"Posture drift (kept as is): {label} {change['from']} -> {change['to']}")
    return lines


def _columns(rows: Iterable[Sequence[str]]) -> str:
    rows = list(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def list_upgrades(names: Iterable[str], registry: str | None) -> dict[str, UpgradeResult]:
    """``thv list --check-upgrades``: each listed workload's check result, by name."""
    from ..state import Store
    from ..upgrade.execute import Registries

    store, registries = Store.from_env(), Registries(registry, os.environ)
    found = {}
    for name in names:
        rc = store.runconfigs.read(name)
        if rc is not None:
            found[name] = registries.check(rc)
    return found


def plan_upgrades(plan: Plan, desired: DesiredState) -> tuple[Plan, list[UpgradeResult]]:
    """``thv plan --check-upgrades``: digests of the plan's new images where present, and the
    registry servers whose pinned image the registry has moved past (offline)."""
    from ..registry.client import load
    from ..runtime import get_runtime
    from ..upgrade.check import AVAILABLE, check, view_of_spec

    behind = []
    for spec in desired.servers:
        if spec.registry_server_name and spec.registry_url:
            result = check(view_of_spec(spec), load(spec.registry_url))
            if result.status == AVAILABLE:
                behind.append(result)
    if any(a.image is not None for a in plan.actions):
        runtime = get_runtime()
        plan = replace(plan, actions=tuple(_with_digest(a, runtime) for a in plan.actions))
    return plan, behind


def _with_digest(action: Action, runtime: Runtime) -> Action:
    if action.image is None:
        return action
    try:
        digest = runtime.image_id(action.image.after)
    except ThvError:
        digest = ""
    return replace(action, image=replace(action.image, after_digest=digest))


def render_pinned(behind: Sequence[UpgradeResult]) -> str:
    if not behind:
        return "\nUpgrades: every registry server is at its registry's image.\n"
    rows = [("SERVER", "PINNED", "REGISTRY", "ENTRY")]
    rows += [
        (r.workload_name, r.current_image, r.candidate_image, r.registry_server) for r in behind
    ]
    table = "\n".join("  " + line for line in _columns(rows).splitlines())
    return (
        f"\nUpgrades: {len(behind)} registry server(s) pinned behind their registry:\n{table}\n"
        "Bump 'image:' in the workloads file (or drop it to follow 'server:'), then thv apply.\n"
    )
