"""The systemd unit that brings the workloads back at boot (pure: text in, text out).

``Type=oneshot`` with ``RemainAfterExit=yes``: at boot it runs ``thv service run`` once —
which waits for the container engine, then starts every workload that was running (or applies
a workloads file) — and the unit then reads ``active``.  ``Restart=on-failure`` tries again
every 10 s while the engine or the network are still coming up, at most 10 times in 15
minutes.  There is no ``ExecStop``: stopping the unit, or shutting down, leaves the workloads
alone (their containers stop with the engine).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PREFIX = "toolhive-compose"
PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # the workloads file's project names
HEADER = (
    "# Written by `thv service install` (toolhive-compose); `thv service uninstall` removes it."
)


@dataclass(frozen=True, slots=True)
class Unit:
    name: str  # toolhive-compose[-<project>].service
    description: str
    command: tuple[str, ...]  # absolute program first
    environment: tuple[tuple[str, str], ...] = ()
    working_directory: str = ""
    system: bool = False  # a system unit (root) rather than a user unit


def unit_name(project: str | None) -> str:
    """``toolhive-compose.service`` for every workload, ``toolhive-compose-<P>.service``
    for project ``P``."""
    return f"{PREFIX}-{project}.service" if project else f"{PREFIX}.service"


def render(unit: Unit) -> str:
    after = "network-online.target docker.service containerd.service" if unit.system else ""
    lines = [
        HEADER,
        "[Unit]",
        f"Description={unit.description}",
        *([f"After={after}", "Wants=network-online.target"] if unit.system else []),
        "StartLimitIntervalSec=900",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"ExecStart={command_line(unit.command)}",
        *(f"Environment={quote(f'{k}={v}')}" for k, v in unit.environment),
        *(
            [f"WorkingDirectory={specifiers(unit.working_directory)}"]
            if unit.working_directory
            else []
        ),
        "Restart=on-failure",
        "RestartSec=10",
        "TimeoutStartSec=900",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if unit.system else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"


def command_line(args: Sequence[str]) -> str:
    return " ".join(quote(a) for a in args)


def specifiers(value: str) -> str:
    """A value taken whole (a path): only ``%`` is special."""
    return value.replace("%", "%%")


def quote(value: str) -> str:
    """One word as systemd reads it: ``%`` and ``$`` escaped, quoted when it must be."""
    text = value.replace("%", "%%").replace("$", "$$")
    if text and not re.search(r'[\s"\'\\;]', text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_start(text: str) -> str:
    """The ``ExecStart=`` of a unit file's text ("" when it has none)."""
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return line.partition("=")[2]
    return ""
