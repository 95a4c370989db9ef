"""The ``thv`` command line: options in, calls out, text rendered.  No logic of its own.

Exit codes: 0 success; 1 any error (bad file, engine unreachable, failed action, refused
confirmation, usage error); 2 only from ``plan --detailed-exitcode`` when changes are
pending.  Errors are one sentence on stderr (``error: …``), plus ``hint: …`` when useful.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ThvError

if TYPE_CHECKING:
    from ..apply.executor import Event
    from ..model import DesiredState
    from ..plan.actions import Plan
    from ..proxy.processes.control import Launcher

app = typer.Typer(
    name="thv",
    help="Run MCP servers in containers the way ToolHive does, declaratively.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Files = Annotated[
    list[Path] | None,
    typer.Option(
        "-f", "--file", help="Workloads file (repeatable; later files merge over earlier)."
    ),
]
EnvFiles = Annotated[
    list[Path] | None,
    typer.Option("--env-file", help="Env file for interpolation (repeatable; default: .env)."),
]
Project = Annotated[
    str | None, typer.Option("-p", "--project", help="Project name (overrides the file).")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
Adopt = Annotated[
    bool,
    typer.Option(
        "--adopt",
        help="Take unmanaged workloads (made by ToolHive or thv run) named like a server "
        "under this project; those that match are not recreated.",
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Registry (path or URL) for 'server:' entries; wins over the file's."
    ),
]
Parallelism = Annotated[
    int, typer.Option("--parallelism", min=1, max=64, help="Actions run at the same time.")
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1, help="Seconds one action may take before it fails.")
]


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


class ConfigFormat(StrEnum):
    yaml = "yaml"
    json = "json"


# -- declarative commands ---------------------------------------------------------------------
@app.command()
def plan(
    files: Files = None,
    env_file: EnvFiles = None,
    project: Project = None,
    output: Annotated[PlanFormat, typer.Option("--format", help="text or json.")] = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error.")
    ] = False,
    registry: RegistryOpt = None,
    check_upgrades: Annotated[
        bool,
        typer.Option("--check-upgrades", help="Also list registry servers pinned behind it."),
    ] = False,
    adopt: Adopt = False,
) -> None:
    """Show the actions that would bring the machine to the workloads file."""
    desired = _load(files, env_file, project, registry)
    the_plan = _make_plan(desired, adopt=adopt)
    upgrades = None
    if check_upgrades:
        from .upgrade import plan_upgrades

        the_plan, upgrades = plan_upgrades(the_plan, desired)
    if output is PlanFormat.json:
        if upgrades is None:
            sys.stdout.write(the_plan.to_json() + "\n")
        else:
            import json

            doc = {**the_plan.to_dict(), "upgrades": [u.to_dict() for u in upgrades]}
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from .text import render_plan

        sys.stdout.write(render_plan(the_plan, colour=_colour()))
        if upgrades is not None:
            from .upgrade import render_pinned

            sys.stdout.write(render_pinned(upgrades))
    if detailed_exitcode and the_plan.has_changes:
        raise typer.Exit(2)


@app.command()
def apply(
    files: Files = None,
    env_file: EnvFiles = None,
    project: Project = None,
    yes: Yes = False,
    parallelism: Parallelism = 8,
    timeout: Timeout = 300.0,
    registry: RegistryOpt = None,
    adopt: Adopt = False,
) -> None:
    """Plan, confirm, then carry out exactly that plan."""
    from ..paths import Paths
    from ..proxy.processes.control import Launcher

    # Started before anything else: its imports run on another core while this process loads
    # and plans (an apply that starts no proxy ends it unused, at ~0.1 s of that core's time).
    launcher = Launcher(Paths.from_env())
    try:
        desired = _load(files, env_file, project, registry)
        _reconcile(
            desired,
            yes=yes,
            parallelism=parallelism,
            timeout=timeout,
            adopt=adopt,
            launcher=launcher,
        )
    finally:
        launcher.close()


@app.command()
def down(
    files: Files = None,
    env_file: EnvFiles = None,
    project: Project = None,
    yes: Yes = False,
    parallelism: Parallelism = 8,
    timeout: Timeout = 300.0,
    registry: RegistryOpt = None,
) -> None:
    """Remove every workload and group the project owns, and nothing else."""
    from ..model import DesiredState

    name = project or _load(files, env_file, None, registry).project
    _reconcile(DesiredState(project=name), yes=yes, parallelism=parallelism, timeout=timeout)


@app.command()
def validate(
    files: Files = None,
    env_file: EnvFiles = None,
    project: Project = None,
    registry: RegistryOpt = None,
) -> None:
    """Check the workloads file; report every problem at once."""
    desired = _load(files, env_file, project, registry)
    typer.echo(
        f"The workloads file is valid: {len(desired.servers)} server(s), project {desired.project}."
    )


@app.command()
def config(
    files: Files = None,
    env_file: EnvFiles = None,
    output: Annotated[ConfigFormat, typer.Option("--format")] = ConfigFormat.yaml,
    registry: RegistryOpt = None,
) -> None:
    """Print the resolved document: files merged, variables interpolated."""
    from ..spec.loader import resolve_document

    doc = resolve_document(files or [], env_files=env_file or [], registry=registry)
    if output is ConfigFormat.json:
        import json

        typer.echo(json.dumps(doc, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the workloads file."""
    from ..spec.schema import schema_text

    typer.echo(schema_text(), nl=False)


# -- shared steps ---------------------------------------------------------------------------
def _load(
    files: Sequence[Path] | None,
    env_files: Sequence[Path] | None,
    project: str | None,
    registry: str | None = None,
) -> DesiredState:
    from ..spec.loader import load

    return load(files or [], env_files=env_files or [], project=project, registry=registry)


def _make_plan(desired: DesiredState, *, adopt: bool = False) -> Plan:
    from ..plan.planner import make_plan
    from ..runtime import get_runtime
    from ..state import Store
    from ..workloads.observe import observe

    observed = observe(
        get_runtime(), Store.from_env(), desired_names=[s.name for s in desired.servers]
    )
    return make_plan(desired, observed, adopt=adopt)


def _reconcile(
    desired: DesiredState,
    *,
    yes: bool,
    parallelism: int,
    timeout: float,
    adopt: bool = False,
    launcher: Launcher | None = None,
) -> None:
    from ..apply.executor import apply_plan
    from ..plan.planner import make_plan
    from ..runtime import get_runtime
    from ..state import Store, state_lock
    from ..workloads.lifecycle import Lifecycle
    from ..workloads.observe import observe
    from .text import render_plan, render_result

    runtime, store = get_runtime(), Store.from_env()
    with state_lock(store.paths.ours):
        names = [s.name for s in desired.servers]
        the_plan = make_plan(desired, observe(runtime, store, desired_names=names), adopt=adopt)
        typer.echo(render_plan(the_plan, colour=_colour()), nl=False)
        if not the_plan.has_changes:
            return
        _confirm(yes)
        progress = Progress(_colour())
        result = apply_plan(
            the_plan,
            desired,
            Lifecycle(runtime, store, environ=desired.secret_env, launcher=launcher),
            parallelism=parallelism,
            timeout=timeout,
            on_event=progress,
        )
        typer.echo(render_result(result))
        if not result.ok:
            raise typer.Exit(1)


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ThvError(
            "refusing to apply without --yes: standard input is not a terminal",
            hint="review the plan above, then run again with --yes",
        )
    answer = input("\nDo you want to perform these actions? Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise ThvError("apply cancelled")


class Progress:
    """Apply events as lines: every event off a TTY, finished actions only on a TTY."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self.tty = sys.stdout.isatty()

    def __call__(self, event: Event) -> None:
        from .text import render_event

        if self.tty and event.state == "started":
            return
        typer.echo(render_event(event, colour=self.colour))


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# -- entry point ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """``thv``: run the app; turn expected errors into one line on stderr and exit 1."""
    from ..proxy import foreground_target

    proxy_name = foreground_target(sys.argv[1:] if argv is None else list(argv), os.environ)
    if proxy_name is not None:  # the detached proxy process (the `thv` script skips typer)
        from ..proxy.main import run

        sys.exit(run(proxy_name))
    register_commands(sys.argv[1:] if argv is None else list(argv))
    click = _click()
    try:
        code = app(
            args=list(argv) if argv is not None else None, prog_name="thv", standalone_mode=False
        )
    except ThvError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except click.exceptions.UsageError as exc:
        _fail(exc.format_message(), "run 'thv --help' for usage", 1)
    except click.exceptions.Abort:
        _fail("aborted", None, 1)
    except KeyboardInterrupt:
        _fail("interrupted", None, 130)
    sys.exit(code if isinstance(code, int) else 0)


def _click() -> Any:
    """The click that typer raises from: its own copy since typer 0.28, click before."""
    try:
        from typer import _click as vendored  # type: ignore[attr-defined]
    except ImportError:
        import click

        return click
    return vendored


def _fail(message: str, hint: str | None, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.exit(code)


# The other commands live in modules that register them when imported.  typer builds every
# registered command on each run (~1 ms apiece), so a run imports only the module of the
# command it runs, and all of them for help or an unknown command.
CORE_COMMANDS = frozenset({"plan", "apply", "down", "validate", "config", "schema"})
COMMAND_MODULES = {
    "group": "groups",
    "import": "importing",
    "run": "run",
    "upgrade": "upgrade",
    **dict.fromkeys(("list", "status", "logs", "start", "restart", "stop", "rm"), "workloads"),
}


def register_commands(args: Sequence[str]) -> None:
    """Import the command modules a run with ``args`` needs (no global options come first)."""
    import importlib

    first = args[0] if args else ""
    if first in CORE_COMMANDS:
        return
    wanted = {COMMAND_MODULES[first]} if first in COMMAND_MODULES else set(COMMAND_MODULES.values())
    for module in sorted(wanted):
        importlib.import_module(f"{__package__}.{module}")
