"""Where a no-op ``thv plan`` spends its time, phase by phase, in one fresh process.

    python bench/phases.py -f workloads.yaml

Mirrors ``toolhive_compose.cli.declarative.plan`` step by step (same calls, same order) with a clock
between the steps, and splits ``observe`` into its parts.  Run with the same interpreter and
environment (DOCKER_HOST, XDG_*) as ``thv``.  Prints one JSON object: milliseconds per phase.
Uses package internals on purpose; a phase that no longer exists is reported as null.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

T0 = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-f", "--file", required=True)
    args = parser.parse_args()
    ms: dict[str, float | None] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        ms[name] = round((now - mark) * 1000, 1)
        mark = now

    import toolhive_compose.cli.declarative  # noqa: F401  (typer, click, pydantic via typer)

    lap("import cli (typer …)")
    from toolhive_compose.spec.loader import load

    lap("import loader")
    from toolhive_compose.cli.text import render_plan
    from toolhive_compose.plan.planner import make_plan
    from toolhive_compose.runtime import get_runtime
    from toolhive_compose.state import Store
    from toolhive_compose.workloads.observe import observe

    lap("import observe/plan/render")
    desired = load([args.file])
    lap("load (parse, validate, build)")

    runtime, store = get_runtime(), Store.from_env()
    raw = runtime.list_containers(labels=["toolhive=true"])
    lap("engine list call")
    names = store.runconfigs.names()
    rcs = [store.runconfigs.read(n) for n in names]
    lap(f"read {len(rcs)} run configs")
    for n in names:
        store.statuses.get(n)
    lap(f"read {len(names)} status files (locked)")
    observed = observe(runtime, store, desired_names=[s.name for s in desired.servers])
    lap("observe (all of it, again)")
    plan = make_plan(desired, observed)
    lap("make_plan")
    text = render_plan(plan, colour=False)
    lap("render")
    ms["in-process total"] = round((time.perf_counter() - T0) * 1000, 1)
    ms["containers listed"] = len(raw)
    ms["has changes"] = plan.has_changes
    ms["output bytes"] = len(text)
    sys.stdout.write(json.dumps(ms) + "\n")


if __name__ == "__main__":
    main()
