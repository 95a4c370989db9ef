"""Targets: the same workloads file on other platforms than this machine's engine.

A target turns a :class:`~toolhive_compose.model.DesiredState` into that platform's objects,
purely (no engine, no state, no I/O), as the planner does for this machine.  The one target
is :mod:`.kubernetes` (the ToolHive operator's custom resources); ``thv render --target``
names it.
"""

from __future__ import annotations

TARGETS = ("kubernetes",)
ALIASES = {"k8s": "kubernetes"}


def target_named(name: str) -> str | None:
    """The target ``name`` (or its alias) stands for, or None."""
    name = ALIASES.get(name, name)
    return name if name in TARGETS else None
