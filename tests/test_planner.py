"""The planner as data tables: ``tests/planner_cases/*.yaml``, one scenario per file.

A case file::

    description: one line
    desired:
      project: p
      servers:                      # name -> ServerSpec fields (lists and mappings as YAML)
        a: {image: img:1, env: {X: "1"}, secrets: {TOKEN: {env: GH, digest: "hmac-sha256:…"}}}
      groups: {dev: {description: …}}
      lock: true                    # a workloads.lock exists (servers' tool_pins come from it)
    observed:
      workloads:                    # name -> ObservedWorkload fields, plus
        a:
          hash_of: a                # spec + config_hash of desired server a …
          hash_of: {server: a, env: {X: "0"}}   # … with some fields overridden …
          hash_of: {image: old:1}   # … or of a spec made from these fields alone
      groups: {dev: {project: p, description: …}}
      foreign_containers: {name: container-id}
      memberships: {name: group}    # default: the group of every observed spec
    expect:                         # the actions, in execution order
      - {kind: create, name: a, reason: "exact", reason_match: "regex",
         changes: [path, {path: p, before: x, after: y}], depends_on: [name | kind:name | id],
         risk: [new-server], widening: ["exact sentence", …]}
    error: {type: PlanError, match: "regex", hint: "regex"}   # instead of expect
    adopt: true                     # make_plan(..., adopt=True)
    warnings: [regex, …]            # every warning, in order (default: none)
    json_excludes: [text, …]        # never anywhere in plan.to_json()
    text_contains: [text, …]        # in render_plan(plan)

Defaults: a server's image is ``ghcr.io/example/server:1`` unless it has one (or a url); an
observed workload belongs to the desired project, has container ``id-<name>`` and is
``running`` unless it says otherwise (``container_id: ""`` = no container).

Every case is also planned again with its inputs shuffled: the JSON must be byte-identical.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolhive_compose import errors
from toolhive_compose.cli.text import render_plan
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import (
    DesiredState,
    GroupSpec,
    Lock,
    ObservedGroup,
    ObservedState,
    ObservedWorkload,
    SecretRef,
    ServerSpec,
)
from toolhive_compose.plan.actions import Plan
from toolhive_compose.plan.planner import make_plan

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "planner_cases"
CASES = sorted(CASES_DIR.glob("*.yaml"))
DEFAULT_IMAGE = "ghcr.io/example/server:1"
SPEC_FIELDS = {f.name for f in dataclasses.fields(ServerSpec)}
WORKLOAD_FIELDS = {f.name for f in dataclasses.fields(ObservedWorkload)}
CASE_KEYS = {
    "description", "desired", "observed", "adopt", "expect", "error", "warnings",
    "json_excludes", "text_contains",
}  # fmt: skip
ACTION_KEYS = {
    "kind", "name", "reason", "reason_match", "changes", "depends_on", "risk", "widening", "lock",
}  # fmt: skip


# ------------------------------------------------------------------ building the inputs
def _pairs(mapping: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


def _secrets(mapping: dict[str, Any] | None) -> tuple[SecretRef, ...]:
    refs = []
    for target, value in (mapping or {}).items():
        value = dict(value or {})
        digest = value.pop("digest", f"hmac-sha256:{'0' * 64}")
        source, ref = next(iter(value.items())) if value else ("env", target)
        refs.append(SecretRef(target=target, source=source, ref=str(ref), digest=digest))
    return tuple(sorted(refs, key=lambda s: s.target))


def build_spec(name: str, fields: dict[str, Any] | None) -> ServerSpec:
    fields = dict(fields or {})
    unknown = set(fields) - SPEC_FIELDS
    assert not unknown, f"server {name}: unknown ServerSpec fields {sorted(unknown)}"
    if not fields.get("url"):
        fields.setdefault("image", DEFAULT_IMAGE)
    for key in ("args", "volumes"):
        if key in fields:
            fields[key] = tuple(str(v) for v in fields[key])
    for key in ("env", "labels"):
        if key in fields:
            fields[key] = _pairs(fields[key])
    if "secrets" in fields:
        fields["secrets"] = _secrets(fields["secrets"])
    if "tools" in fields:
        fields["tools"] = tuple(sorted(fields["tools"]))
    if "tools_override" in fields:
        fields["tools_override"] = tuple(
            (actual, str(o.get("name", "")), str(o.get("description", "")))
            for actual, o in sorted(fields["tools_override"].items())
        )
    if fields.get("tool_pins") is not None:
        fields["tool_pins"] = _pairs(fields["tool_pins"])
    fields["name"] = name
    return ServerSpec(**fields)


def build_desired(doc: dict[str, Any]) -> DesiredState:
    servers = tuple(build_spec(n, f) for n, f in (doc.get("servers") or {}).items())
    groups_doc = doc.get("groups") or {}
    if isinstance(groups_doc, list):
        groups_doc = {g: {} for g in groups_doc}
    groups = tuple(GroupSpec(name=n, **(f or {})) for n, f in groups_doc.items())
    return DesiredState(
        project=doc["project"],
        servers=tuple(sorted(servers, key=lambda s: s.name)),
        groups=tuple(sorted(groups, key=lambda g: g.name)),
        lock=Lock(path="workloads.lock") if doc.get("lock") else None,
    )


def _observed_spec(name: str, hash_of: Any, desired: DesiredState) -> ServerSpec:
    if isinstance(hash_of, str):
        return dataclasses.replace(desired.server(hash_of), name=name)
    overrides = dict(hash_of)
    base = overrides.pop("server", None)
    if base is None:
        return build_spec(name, overrides)
    start = desired.server(base)
    patch = build_spec(name, {"image": start.image, **overrides})
    return dataclasses.replace(start, name=name, **{k: getattr(patch, k) for k in overrides})


def build_workload(name: str, fields: dict[str, Any], desired: DesiredState) -> ObservedWorkload:
    fields = dict(fields or {})
    hash_of = fields.pop("hash_of", None)
    if hash_of is not None:
        spec = _observed_spec(name, hash_of, desired)
        canon = canonical(spec)
        fields.setdefault("spec", canon)
        fields.setdefault("config_hash", config_hash(canon))
        fields.setdefault("image", spec.image)
        fields.setdefault("remote", spec.remote)
    unknown = set(fields) - WORKLOAD_FIELDS
    assert not unknown, f"workload {name}: unknown ObservedWorkload fields {sorted(unknown)}"
    fields.setdefault("project", desired.project)
    fields.setdefault("container_id", "" if fields.get("remote") else f"id-{name}")
    fields.setdefault("container_state", "running" if fields["container_id"] else "")
    fields["labels"] = _pairs(fields.get("labels"))
    fields["extra_container_ids"] = tuple(fields.get("extra_container_ids") or ())
    if fields.get("server_tools") is not None:
        fields["server_tools"] = tuple(fields["server_tools"])
    return ObservedWorkload(name=name, **fields)


def build_observed(doc: dict[str, Any] | None, desired: DesiredState) -> ObservedState:
    doc = doc or {}
    workloads = tuple(
        build_workload(n, f, desired) for n, f in (doc.get("workloads") or {}).items()
    )
    groups = tuple(ObservedGroup(name=n, **(f or {})) for n, f in (doc.get("groups") or {}).items())
    memberships = {w.name: str(w.spec.get("group") or "default") for w in workloads if w.spec}
    memberships.update({str(k): str(v) for k, v in (doc.get("memberships") or {}).items()})
    return ObservedState(
        workloads=tuple(sorted(workloads, key=lambda w: w.name)),
        groups=tuple(sorted(groups, key=lambda g: g.name)),
        foreign_containers=_pairs(doc.get("foreign_containers")),
        memberships=_pairs(memberships),
    )


def load_case(path: Path) -> tuple[dict[str, Any], DesiredState, ObservedState]:
    case = yaml.safe_load(path.read_text())
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    assert ("expect" in case) != ("error" in case), f"{path.name}: one of expect or error"
    desired = build_desired(case["desired"])
    return case, desired, build_observed(case.get("observed"), desired)


def shuffled(desired: DesiredState, observed: ObservedState, seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)

    def mix(items: tuple[Any, ...]) -> tuple[Any, ...]:
        mixed = list(items)
        rng.shuffle(mixed)
        return tuple(mixed)

    return (
        dataclasses.replace(desired, servers=mix(desired.servers), groups=mix(desired.groups)),
        dataclasses.replace(
            observed,
            workloads=mix(observed.workloads),
            groups=mix(observed.groups),
            foreign_containers=mix(observed.foreign_containers),
            memberships=mix(observed.memberships),
        ),
    )


# ------------------------------------------------------------------------ checking a plan
def _resolve(ref: Any, plan: Plan) -> int:
    if isinstance(ref, int):
        return ref
    kind, _, name = str(ref).rpartition(":")
    found = [a.id for a in plan.actions if a.name == name and (not kind or a.kind == kind)]
    assert len(found) == 1, f"depends_on reference {ref!r} matches actions {found}"
    return found[0]


def _describe(plan: Plan) -> str:
    return "\n".join(
        f"  #{a.id} {a.kind} {a.name}: {a.reason} changes={[c.path for c in a.changes]} "
        f"deps={list(a.depends_on)}"
        for a in plan.actions
    )


def check_plan(case: dict[str, Any], plan: Plan) -> None:
    expect = case["expect"] or []
    got = [(str(a.kind), a.name) for a in plan.actions]
    want = [(e["kind"], e["name"]) for e in expect]
    assert got == want, f"actions differ; the plan is:\n{_describe(plan)}"
    for action, exp in zip(plan.actions, expect, strict=True):
        assert not set(exp) - ACTION_KEYS, f"unknown expect keys {set(exp) - ACTION_KEYS}"
        where = f"#{action.id} {action.kind} {action.name}"
        if "reason" in exp:
            assert action.reason == exp["reason"], where
        if "reason_match" in exp:
            assert re.search(exp["reason_match"], action.reason), f"{where}: {action.reason!r}"
        if "changes" in exp:
            paths = [c if isinstance(c, str) else c["path"] for c in exp["changes"]]
            assert [c.path for c in action.changes] == paths, where
            for c, e in zip(action.changes, exp["changes"], strict=True):
                if isinstance(e, dict):
                    for key in ("before", "after"):
                        if key in e:
                            assert getattr(c, key) == e[key], f"{where}: {c.path}.{key}"
        if "risk" in exp:
            assert list(action.risks) == exp["risk"], where
        if "widening" in exp:
            assert list(action.widening) == exp["widening"], where
        if "lock" in exp:
            assert action.lock == exp["lock"], where
        if "depends_on" in exp:
            want_deps = sorted(_resolve(r, plan) for r in exp["depends_on"])
            assert list(action.depends_on) == want_deps, f"{where}\n{_describe(plan)}"
    patterns = case.get("warnings") or []
    assert len(plan.warnings) == len(patterns), plan.warnings
    for warning, pattern in zip(plan.warnings, patterns, strict=True):
        assert re.search(pattern, warning), warning
    text = plan.to_json()
    for forbidden in case.get("json_excludes") or []:
        assert forbidden not in text
    rendered = render_plan(plan)
    for needle in case.get("text_contains") or []:
        assert needle in rendered, rendered


def check_invariants(plan: Plan) -> None:
    """True of every plan: ids in order, dependencies earlier, no secret digest anywhere."""
    assert [a.id for a in plan.actions] == list(range(len(plan.actions)))
    for action in plan.actions:
        assert all(dep < action.id for dep in action.depends_on), action
        assert list(action.depends_on) == sorted(set(action.depends_on))
    text = plan.to_json()
    assert "hmac-sha256:" not in text
    assert json.loads(text) == plan.to_dict()


# ------------------------------------------------------------------------------- the tests
def test_there_are_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case, desired, observed = load_case(path)
    adopt = bool(case.get("adopt"))
    if "error" in case:
        spec = case["error"]
        error_type = getattr(errors, spec.get("type", "PlanError"))
        with pytest.raises(error_type, match=spec["match"]) as info:
            make_plan(desired, observed, adopt=adopt)
        assert info.value.hint, "a plan error carries a hint"
        if "hint" in spec:
            assert re.search(spec["hint"], info.value.hint), info.value.hint
        for seed in range(5):
            with pytest.raises(error_type) as again:
                make_plan(*shuffled(desired, observed, seed), adopt=adopt)
            assert str(again.value) == str(info.value), "the error depends on input order"
        return
    plan = make_plan(desired, observed, adopt=adopt)
    check_invariants(plan)
    check_plan(case, plan)
    text = plan.to_json()
    assert make_plan(desired, observed, adopt=adopt).to_json() == text
    for seed in range(8):
        shuffled_plan = make_plan(*shuffled(desired, observed, seed), adopt=adopt)
        assert shuffled_plan.to_json() == text, f"input order changed the plan (seed {seed})"


def test_same_inputs_give_byte_identical_json_across_processes() -> None:
    """No hash-seed dependence: two interpreters with different PYTHONHASHSEED agree."""
    script = (
        "import tests.test_planner as t\n"
        "for p in t.CASES:\n"
        "    case, desired, observed = t.load_case(p)\n"
        "    if 'error' not in case:\n"
        "        adopt = bool(case.get('adopt'))\n"
        "        print(t.make_plan(desired, observed, adopt=adopt).to_json())\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


BLOCKED = ("docker", "subprocess", "socket", "toolhive_compose.state", "toolhive_compose.runtime")


def test_planner_imports_no_io_modules() -> None:
    code = f"""
import sys
for name in {BLOCKED!r} + ("toolhive_compose.runtime.docker", "requests", "urllib3"):
    sys.modules[name] = None
from toolhive_compose.model import DesiredState, ObservedState, ServerSpec
from toolhive_compose.plan.planner import make_plan
spec = ServerSpec(name="a", image="img:1")
plan = make_plan(DesiredState(project="p", servers=(spec,)), ObservedState())
assert [str(a.kind) for a in plan.actions] == ["create"], plan
loaded = [m for m, v in sys.modules.items() if v is not None]
print(" ".join(sorted(m for m in loaded if m.startswith("toolhive_compose."))))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert not {
        m for m in loaded if m.startswith(("toolhive_compose.state", "toolhive_compose.runtime"))
    }
    assert "toolhive_compose.workloads.observe" not in loaded
    assert "toolhive_compose.workloads.lifecycle" not in loaded
