"""``Plan.to_json()``: the exact shape, and a golden file for one representative plan.

Run with ``THC_UPDATE_GOLDEN=1`` to rewrite ``tests/golden/plan.json`` (then review the diff).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from toolhive_compose.clients.catalog import entry_digest
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import (
    ClientEntryRecord,
    DesiredState,
    GroupSpec,
    ObservedClientFile,
    ObservedGroup,
    ObservedState,
    ObservedWorkload,
    SecretRef,
    ServerSpec,
)
from toolhive_compose.plan.actions import ActionKind, Plan
from toolhive_compose.plan.planner import make_plan

GOLDEN = Path(__file__).resolve().parent / "golden" / "plan.json"
DIGEST_NEW = "hmac-sha256:" + "1" * 64
DIGEST_OLD = "hmac-sha256:" + "2" * 64
PROJECT = "demo"
CURSOR = "/home/dev/.cursor/mcp.json"


def _observed(
    spec: ServerSpec, *, state: str = "running", project: str = PROJECT
) -> ObservedWorkload:
    canon = canonical(spec)
    return ObservedWorkload(
        name=spec.name,
        container_id=f"{spec.name}-0123456789abcdef",
        container_name=spec.name,
        container_state=state,
        image=spec.image,
        project=project,
        config_hash=config_hash(canon),
        spec=canon,
        status=state if state == "running" else "stopped",
    )


def representative() -> tuple[DesiredState, ObservedState]:
    """One plan with every kind of action, a secret, dependencies and a warning."""
    fetch = ServerSpec(
        name="fetch",
        image="ghcr.io/example/fetch:1.2.0",
        transport="streamable-http",
        target_port=8080,
        port=18080,
        proxy_mode="streamable-http",
        env=(("LOG_LEVEL", "info"),),
        secrets=(SecretRef(target="TOKEN", source="env", ref="GH_TOKEN", digest=DIGEST_NEW),),
        labels=(("team", "platform"),),
        group="dev",
    )
    notes = ServerSpec(
        name="notes",
        image="ghcr.io/example/notes:2",
        args=("--verbose",),
        env=(("LOG_LEVEL", "info"), ("MAX_ITEMS", "50")),
        secrets=(SecretRef(target="API_KEY", source="file", ref="/run/key", digest=DIGEST_NEW),),
        port=18081,
    )
    search = ServerSpec(name="search", image="ghcr.io/example/search:1.1", port=18082)
    tools = ServerSpec(
        name="tools",
        image="ghcr.io/example/tools:3",
        port=18083,
        group="dev",
        tools=("list", "read"),
        tools_override=(("read_file", "read", ""),),
    )
    paused = ServerSpec(name="paused", image="ghcr.io/example/paused:1", state="stopped")
    worker = ServerSpec(name="worker", image="ghcr.io/example/worker:1", port=18085)
    old = ServerSpec(name="old", image="ghcr.io/example/old:1", port=18080, group="legacy")
    theirs = ServerSpec(name="theirs", image="ghcr.io/example/x:1", group="shared")
    desired = DesiredState(
        project=PROJECT,
        servers=(fetch, notes, paused, search, tools, worker),
        groups=(GroupSpec(name="dev", description="Tools for development", clients=("cursor",)),),
    )
    observed_old_notes = ServerSpec(
        name="notes",
        image="ghcr.io/example/notes:2",
        args=("--verbose",),
        env=(("LOG_LEVEL", "debug"), ("MAX_ITEMS", "50")),
        secrets=(SecretRef(target="API_KEY", source="file", ref="/run/key", digest=DIGEST_OLD),),
        port=18081,
    )
    workloads = (
        _observed(observed_old_notes),
        _observed(ServerSpec(name="search", image="ghcr.io/example/search:1.0", port=18082)),
        _observed(ServerSpec(name="tools", image="ghcr.io/example/tools:3", port=18083)),
        _observed(ServerSpec(name="paused", image="ghcr.io/example/paused:1", port=18084)),
        _observed(worker, state="exited"),
        _observed(old),
        _observed(theirs, project="someone-else"),
    )
    observed = ObservedState(
        workloads=tuple(sorted(workloads, key=lambda w: w.name)),
        groups=(
            ObservedGroup(name="default"),
            ObservedGroup(name="legacy", project=PROJECT),
            ObservedGroup(name="shared", project=PROJECT, description="was ours"),
        ),
        memberships=tuple(sorted((w.name, str(w.spec["group"])) for w in workloads if w.spec)),
        **_cursor(),
    )
    return desired, observed


def _cursor() -> dict[str, Any]:
    """Cursor's file: our entry of tools at an old port (updated), our entry of old (removed);
    fetch is not there yet (registered)."""
    tools = {"url": "http://127.0.0.1:18099/mcp", "type": "http"}
    old = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}
    entries = {"tools": tools, "old": old, "mine": {"command": "my-mcp"}}

    def record(server: str, group: str, value: dict[str, str]) -> ClientEntryRecord:
        return ClientEntryRecord(client="cursor", path=CURSOR, server=server, project=PROJECT,
                                 group=group, digest=entry_digest(value))  # fmt: skip

    return {
        "client_files": (
            ObservedClientFile(client="cursor", path=CURSOR, installed=True, exists=True,
                               entries=entries),
        ),
        "client_records": (record("old", "legacy", old), record("tools", "dev", tools)),
    }  # fmt: skip


def representative_plan() -> Plan:
    return make_plan(*representative())


def test_golden_plan_json() -> None:
    text = representative_plan().to_json() + "\n"
    if os.environ.get("THC_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "plan JSON changed; THC_UPDATE_GOLDEN=1 to accept"


def test_representative_plan_covers_every_kind() -> None:
    kinds = {a.kind for a in representative_plan().actions}
    # adopt needs make_plan(adopt=True) and an unmanaged workload: tests/test_adopt.py
    assert kinds == set(ActionKind) - {ActionKind.GROUP_UPDATE, ActionKind.ADOPT}


def test_exact_shape() -> None:
    doc = json.loads(representative_plan().to_json())
    assert list(doc) == ["format_version", "project", "actions", "warnings", "summary", "risks"]
    assert doc["format_version"] == "1"
    assert doc["project"] == PROJECT
    assert isinstance(doc["warnings"], list)
    assert all(isinstance(w, str) for w in doc["warnings"])
    for index, action in enumerate(doc["actions"]):
        keys = ["id", "kind", "name", "reason", "changes", "depends_on"]
        if action["kind"] == "upgrade":  # upgrades also name the old and new image
            keys.append("image")
            assert set(action["image"]) <= {"before", "after", "before_digest", "after_digest"}
            assert {"before", "after"} <= set(action["image"])
        if action["kind"].startswith("client-"):  # client actions name the client and file
            keys.append("client")
            assert list(action["client"]) == ["name", "file", "location", "group"]
        keys += ["risk", "widening"]  # added in format 1 (issue 13): classes, then how it widens
        assert list(action) == keys
        assert action["risk"] and set(action["risk"]) <= set(doc["risks"])
        assert all(isinstance(w, str) for w in action["widening"])
        assert bool(action["widening"]) == ("privilege-widening" in action["risk"])
        assert action["id"] == index
        assert action["kind"] in {str(k) for k in ActionKind}
        assert isinstance(action["name"], str) and action["name"]
        assert isinstance(action["reason"], str) and action["reason"]
        assert all(isinstance(d, int) and d < index for d in action["depends_on"])
        for change in action["changes"]:
            assert list(change) == ["path", "before", "after"]
            assert isinstance(change["path"], str)
    kinds = [str(k) for k in ActionKind]
    assert list(doc["summary"]) == [*kinds, "total"]
    for kind in kinds:
        assert doc["summary"][kind] == sum(1 for a in doc["actions"] if a["kind"] == kind)
    assert doc["summary"]["total"] == len(doc["actions"])
    assert list(doc["risks"]) == ["disruptive", "privilege-widening", "new-server", "benign"]
    for risk, count in doc["risks"].items():
        assert count == sum(1 for a in doc["actions"] if risk in a["risk"])


def test_secrets_are_masked_and_digests_absent() -> None:
    plan = representative_plan()
    text = plan.to_json()
    assert "hmac-sha256" not in text
    assert "1111111111" not in text and "2222222222" not in text
    notes = next(a for a in plan.actions if a.name == "notes")
    secret = next(c for c in notes.to_dict()["changes"] if c["path"] == "secrets.API_KEY")
    assert secret == {"path": "secrets.API_KEY", "before": "(sensitive)", "after": "(sensitive)"}
    fetch = next(a for a in plan.actions if a.name == "fetch")
    paths = {c.path: c for c in fetch.changes}
    assert paths["secrets.TOKEN"].after == "(sensitive)"
    assert paths["secrets.TOKEN.from"].after == "env:GH_TOKEN"


def test_empty_plan_json() -> None:
    plan = Plan(project="quiet")
    doc = json.loads(plan.to_json())
    assert doc["actions"] == [] and doc["warnings"] == []
    assert doc["summary"]["total"] == 0
    assert set(doc["summary"].values()) == {0}


def test_json_is_plain_data_and_indented() -> None:
    text = representative_plan().to_json()
    assert text.startswith('{\n  "format_version": "1",\n  "project": "demo",')
    assert not text.endswith("\n")  # the CLI adds the one newline
    assert json.dumps(json.loads(text), indent=2) == text


def test_explaining_a_change_does_not_import_pydantic() -> None:
    """deepdiff's pydantic probe costs ~90 ms where the MCP SDK installed pydantic; the diff
    is made without it, and pydantic still imports normally afterwards."""
    code = (
        "import sys\n"
        "from toolhive_compose.plan.diff import field_changes\n"
        "changes = field_changes({'image': 'a:1', 'env': {'X': '1'}},"
        " {'image': 'a:1', 'env': {'X': '2'}})\n"
        "assert [(c.path, c.before, c.after) for c in changes] == [('env.X', '1', '2')], changes\n"
        "assert 'deepdiff' in sys.modules and 'pydantic' not in sys.modules\n"
        "import pydantic\n"
        "print('ok', pydantic.VERSION)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


def test_a_deepdiff_that_needs_pydantic_still_imports(tmp_path: Path) -> None:
    """Hiding pydantic from deepdiff's import is an optimisation, never a failure."""
    fake = tmp_path / "deepdiff"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import pydantic\n\nMARK = 'fake'\n\nclass DeepDiff:\n    pass\n"
    )
    code = (
        "import sys\n"
        "from toolhive_compose.plan.diff import _deepdiff\n"
        "found = _deepdiff()\n"
        "assert sys.modules['deepdiff'].MARK == 'fake' and found.__module__ == 'deepdiff'\n"
        "assert sys.modules['pydantic'] is not None\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path.cwd())])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
