"""``thv service install|status|uninstall|run``: the workloads come back after a reboot.

After a reboot the engine brings the containers back (``unless-stopped``) but nothing
starts their proxies.  ``install`` writes and enables a systemd unit (:mod:`..service`) that
runs ``thv service run`` at boot: it waits for the engine, then starts every workload that was
running when the machine went down — those of one project with ``--project`` — or, with
``-f``, applies the workloads file (``thv apply -f FILE --yes``).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import EngineError, EngineUnavailable, ThvError
from .app import EnvFiles, Execution, Files, app

if TYPE_CHECKING:
    from ..service.units import Unit

service_app = typer.Typer(
    help="Bring the workloads back at boot (a systemd unit).", no_args_is_help=True
)
app.add_typer(service_app, name="service")

ProjectOpt = Annotated[
    str | None, typer.Option("-p", "--project", help="Only this project's workloads.")
]
# Carried into the unit when set here: where the state is and which engine (never secrets).
CARRIED = (
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "DOCKER_HOST",
    "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "TOOLHIVE_DOCKER_SOCKET", "TOOLHIVE_PODMAN_SOCKET",
    "TOOLHIVE_COLIMA_SOCKET", "THV_REGISTRY",
)  # fmt: skip
ENGINE_POLL = 2.0


@service_app.command()
def install(files: Files = None, env_file: EnvFiles = None, project: ProjectOpt = None) -> None:
    """Write and enable a systemd unit that brings the workloads back at boot."""
    from ..service.systemd import Systemd

    systemd = Systemd.for_this_machine()  # before anything is read or written
    unit = _unit(files, env_file, project, system=systemd.system)
    path = systemd.install(unit)
    typer.echo(f"Installed and enabled {unit.name} ({path}).")
    typer.echo(f"At boot it runs: {' '.join(unit.command[1:])}")
    if not systemd.system:
        typer.echo(
            "note: a user unit starts at boot only with lingering on: "
            f"loginctl enable-linger {_user()}"
        )


@service_app.command()
def status() -> None:
    """The units thv service installed, enabled or not, and what they run."""
    from ..service.systemd import Systemd
    from .tables import columns

    units = Systemd.for_this_machine().installed()
    if not units:
        typer.echo("No toolhive-compose unit is installed (thv service install adds one).")
        return
    rows = [("UNIT", "ENABLED", "ACTIVE", "RUNS")]
    rows += [(u.name, u.enabled, u.active, u.command) for u in units]
    typer.echo(columns(rows, gap="  "))


@service_app.command()
def uninstall(files: Files = None, env_file: EnvFiles = None, project: ProjectOpt = None) -> None:
    """Disable and remove the unit install made with the same options (workloads stay)."""
    from ..service.systemd import Systemd
    from ..service.units import unit_name

    systemd = Systemd.for_this_machine()
    name = unit_name(_project(files, env_file, project))
    path = systemd.uninstall(name)
    typer.echo(f"Disabled and removed {name} ({path}); the workloads keep running.")


@service_app.command("run")
def run(
    files: Files = None,
    env_file: EnvFiles = None,
    project: ProjectOpt = None,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for the container engine.")
    ] = 120.0,
) -> None:
    """What the unit runs at boot: wait for the engine, then start every workload that was
    running (or, with -f, apply the workloads file)."""
    _wait_for_engine(wait)
    if files:
        from .declarative import _load, _reconcile

        desired = _load(files, env_file, project)
        _reconcile(desired, Execution(yes=True))
        return
    from ..api import connect
    from ..state import Store
    from ..workloads.queries import to_bring_back
    from .workloads import _batch

    if project is not None:
        _check_project(project)
    every = connect().workloads.list(all=True)
    names = to_bring_back(Store.from_env(), every, project)
    if not names:
        typer.echo("No workload was running: nothing to bring back.")
        return
    _batch("start", names, False, None, lambda api, n: api.lifecycle.start(n), fork=True)


# -- helpers ---------------------------------------------------------------------------------
def _unit(files: list | None, env_files: list | None, project: str | None, *, system: bool) -> Unit:
    from ..proxy.processes.control import thv_command
    from ..service.units import Unit, unit_name

    name = _project(files, env_files, project)
    args = [*thv_command(), "service", "run"]
    for path in files or []:
        args += ["-f", str(path.resolve())]
    for path in env_files or []:
        args += ["--env-file", str(path.resolve())]
    if project:
        args += ["--project", project]
    env = [(k, os.environ[k]) for k in CARRIED if os.environ.get(k)]
    env += sorted((k, v) for k, v in os.environ.items() if k.startswith("TOOLHIVE_COMPOSE_"))
    if system:
        env.insert(0, ("HOME", str(_home())))
    what = f"the workloads of project {name}" if name else "the workloads that were running"
    return Unit(
        name=unit_name(name),
        description=f"toolhive-compose: bring {what} back at boot",
        command=tuple(args),
        environment=tuple(env),
        working_directory=str(files[0].resolve().parent) if files else "",
        system=system,
    )


def _project(files: list | None, env_files: list | None, project: str | None) -> str | None:
    """The project a unit is for: the file's (``--project`` wins), or ``--project``."""
    if files:
        from .declarative import _load

        return _load(files, env_files, project).project
    if project is not None:
        _check_project(project)
    return project


def _check_project(project: str) -> None:
    from ..service.units import PROJECT_RE

    if not PROJECT_RE.match(project):
        raise ThvError(
            f"invalid project name {project!r}: lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit"
        )


def _wait_for_engine(wait: float) -> None:
    """Return once the container engine answers; at boot it may still be starting."""
    from ..runtime import get_runtime

    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            get_runtime().list_containers(labels=["toolhive=true"])
            return
        except (EngineUnavailable, EngineError) as exc:
            if time.monotonic() >= deadline:
                raise ThvError(
                    f"the container engine did not answer within {wait:g}s: {exc}",
                    hint="start it, then run thv service run again (the unit retries by itself)",
                ) from None
            if not said:
                typer.echo(f"Waiting up to {wait:g}s for the container engine ({exc})", err=True)
                said = True
            time.sleep(min(ENGINE_POLL, max(0.0, deadline - time.monotonic())))


def _home() -> str:
    from pathlib import Path

    return os.environ.get("HOME") or str(Path.home())


def _user() -> str:
    import getpass

    return getpass.getuser()
