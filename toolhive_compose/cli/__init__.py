"""The ``thv`` command line: :func:`main`, and which command modules a run needs.

The app and what the commands share are :mod:`.app`; the commands live in one module per
family — :mod:`.declarative` (plan, apply, down, validate, config, schema), :mod:`.workloads`
(list, status, logs, start/restart, stop, rm), :mod:`.groups`, :mod:`.run`,
:mod:`.importing` (import), :mod:`.upgrade`, :mod:`.targets` (render, export),
:mod:`.clients` (client), :mod:`.review` (show, state export; saved plans), :mod:`.service`,
:mod:`.surface` (tools, lock, verify) — and register themselves when imported; their human
text is :mod:`.text`, :mod:`.markdown` and :mod:`.tables`, the risk gates and the run of a plan
:mod:`.running`; an unexpected error's report is :mod:`.crash`.  Call :func:`main` to run
``thv`` inside another program.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from ..proxy import foreground_target

# typer builds every registered command on each run (~1 ms apiece), so a run imports only the
# module of the command it runs, and all of them for help or an unknown command.
CORE_COMMANDS = frozenset({"plan", "apply", "down", "validate", "config", "schema"})
COMMAND_MODULES = {
    "client": "clients",
    "group": "groups",
    "import": "importing",
    "run": "run",
    "render": "targets",
    "export": "targets",
    "service": "service",
    "upgrade": "upgrade",
    "show": "review",
    "state": "review",
    **dict.fromkeys(("tools", "lock", "verify"), "surface"),
    **dict.fromkeys(("list", "status", "logs", "start", "restart", "stop", "rm"), "workloads"),
}


def main(argv: Sequence[str] | None = None) -> None:
    """``thv``: run the app; turn expected errors into one line on stderr and exit 1.

    ``--debug`` anywhere before ``--`` (as ToolHive's global flag), or ``THV_DEBUG=1``, prints
    the traceback of an unexpected error instead of writing it to a debug log."""
    args = sys.argv[1:] if argv is None else list(argv)
    proxy_name = foreground_target(args, os.environ)
    if proxy_name is not None:  # the detached proxy process (the `thv` script skips typer)
        from ..proxy.main import run

        sys.exit(run(proxy_name))
    args, debug = split_debug(args)
    register_commands(args)
    from .app import run_app

    run_app(args, debug=debug)


def split_debug(args: Sequence[str]) -> tuple[list[str], bool]:
    """``args`` without the global ``--debug`` flag (before any ``--``), and whether it was
    there."""
    end = list(args).index("--") if "--" in args else len(args)
    head = [a for a in args[:end] if a != "--debug"]
    return [*head, *args[end:]], len(head) != end


def register_commands(args: Sequence[str]) -> None:
    """Import the command modules a run with ``args`` needs (no global options come first):
    the declarative commands always, first; the others by their command name."""
    from . import declarative  # noqa: F401  (registers its commands)

    first = args[0] if args else ""
    if first in CORE_COMMANDS:
        return
    wanted = {COMMAND_MODULES[first]} if first in COMMAND_MODULES else set(COMMAND_MODULES.values())
    for module in sorted(wanted):
        importlib.import_module(f"{__name__}.{module}")
