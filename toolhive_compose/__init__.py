"""toolhive-compose: declarative, ToolHive-compatible lifecycle for MCP servers.

The pipeline, one direction only, a package per stage::

    spec.load() -> DesiredState ────────────┐
                                            ├─> plan.make_plan() -> Plan -> apply.apply_plan()
    workloads.observe() -> ObservedState ───┘

The imperative operations are a library too (``connect()`` → lifecycle, queries, logs,
groups; see :mod:`.api`); the ``thv`` commands (:mod:`.cli`) are a thin layer over it.

Names are imported lazily so ``import toolhive_compose`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "spec.loader",
    "resolve_document": "spec.loader",
    "observe": "workloads.observe",
    "make_plan": "plan.planner",
    "apply_plan": "apply.executor",
    "ApplyResult": "apply.executor",
    "Lifecycle": "workloads.lifecycle",
    "Plan": "plan.actions",
    "Action": "plan.actions",
    "ActionKind": "plan.actions",
    "FieldChange": "plan.actions",
    "DesiredState": "model",
    "ServerSpec": "model",
    "GroupSpec": "model",
    "ObservedState": "model",
    "ObservedWorkload": "model",
    "Store": "state",
    "Runtime": "runtime",
    "get_runtime": "runtime",
    "ThvError": "errors",
    "SpecError": "errors",
    "PlanError": "errors",
    "NotFound": "errors",
    # the library: four small protocols, their local implementations, one factory
    "connect": "api",
    "Connection": "api",
    "Group": "api",
    "WorkloadLifecycle": "api",
    "WorkloadQueries": "api",
    "WorkloadLogs": "api",
    "GroupManager": "api",
    "LocalLifecycle": "api.local",
    "LocalWorkloads": "api.local",
    "LocalLogs": "api.local",
    "LocalGroups": "api.local",
    "Workload": "workloads.queries",
    "import_document": "workloads.importer",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolhive_compose' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return __all__
