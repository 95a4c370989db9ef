"""``plan/apply --adopt`` without an engine: the planner's decisions and the executor's write.

An unmanaged workload is made "the ToolHive way": a run config in ToolHive's shape (no
``toolhive_compose`` key) and a container carrying ToolHive's labels only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import thv
from tests.support.fake_engine import (
    FakeRuntime,
    install,
    this_process_is_a_proxy,
    toolhive_labels,
)
from toolhive_compose.apply.executor import apply_plan
from toolhive_compose.cli.text import render_plan
from toolhive_compose.errors import PlanError
from toolhive_compose.model import DesiredState
from toolhive_compose.plan.actions import Plan
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.loader import load_document
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import EXTENSION_KEY
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.observe import observe

IMAGE = "ghcr.io/example/tool:1"
NETWORK = {"name": "network", "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}}}


def toolhive_runconfig(name: str, port: int, **extra: Any) -> dict[str, Any]:
    """What ``thv run --name NAME -l tier=core IMAGE -- serve`` writes (stdio)."""
    rc: dict[str, Any] = {
        "schema_version": "v0.1.0",
        "image": IMAGE,
        "cmd_args": ["serve"],
        "name": name,
        "container_name": name,
        "base_name": name,
        "transport": "stdio",
        "host": "127.0.0.1",
        "port": port,
        "permission_profile_name_or_path": "network",
        "permission_profile": NETWORK,
        "env_vars": {"MCP_TRANSPORT": "stdio", "LOG": "info"},
        "container_labels": toolhive_labels(name, port=port, tier="core"),
        "proxy_mode": "streamable-http",
        "group": "default",
        "middleware_configs": [{"type": "mcp-parser", "parameters": {}}],
    }
    rc.update(extra)
    return rc


class World:
    """A fake engine and a real state directory holding one ToolHive-made workload."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.engine = FakeRuntime()
        self.store = Store.from_env()

    def toolhive_workload(self, name: str = "tool", port: int = 31001, **kw: Any) -> str:
        state = kw.pop("state", "running")
        self.store.runconfigs.write(name, toolhive_runconfig(name, port, **kw))
        if state == "running":  # a live PID (this test's) stands in for ToolHive's proxy
            self.store.statuses.set_running(name, os.getpid())
        else:
            self.store.statuses.set_status(name, "stopped")
        labels = toolhive_labels(name, port=port, tier="core")
        return self.engine.add(name, image=IMAGE, state=state, **labels).id

    def desired(self, project: str = "team", **server: Any) -> DesiredState:
        body = {"image": IMAGE, "args": ["serve"], "port": 31001, "env": {"LOG": "info"}}
        body["labels"] = {"tier": "core"}
        body.update(server)
        doc: dict[str, Any] = {"version": 1, "servers": {"tool": body}}
        if body.get("group", "default") != "default":
            doc["groups"] = {body["group"]: {}}
        return load_document(doc, base_dir=self.tmp_path, project=project)

    def plan(self, desired: DesiredState, *, adopt: bool = True) -> Plan:
        names = [s.name for s in desired.servers]
        observed = observe(self.engine, self.store, desired_names=names)
        return make_plan(desired, observed, adopt=adopt)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    this_process_is_a_proxy(monkeypatch)
    return World(tmp_path)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(str(a.kind), a.name) for a in plan.actions]


def test_matching_workload_is_adopted(world: World) -> None:
    world.toolhive_workload()
    plan = world.plan(world.desired())
    assert kinds(plan) == [("adopt", "tool")]
    assert plan.actions[0].reason == "unmanaged workload matches the file; taken under project team"
    assert plan.summary()["adopt"] == 1
    text = render_plan(plan)
    assert "will be adopted (no restart)" in text and "1 to adopt" in text
    assert json.loads(plan.to_json())["actions"][0]["kind"] == "adopt"


def test_clash_without_adopt_is_an_error_that_names_the_flag(world: World) -> None:
    world.toolhive_workload()
    with pytest.raises(PlanError) as err:
        world.plan(world.desired(), adopt=False)
    assert "managed by ToolHive" in err.value.message
    assert "--adopt" in (err.value.hint or "")


def test_another_projects_workload_is_never_adopted(world: World) -> None:
    world.toolhive_workload()
    first = world.desired(project="first")
    assert apply_plan(world.plan(first), first, Lifecycle(world.engine, world.store)).ok
    with pytest.raises(PlanError) as err:
        world.plan(world.desired(project="second"), adopt=True)
    assert "project first" in err.value.message
    assert "--adopt" not in (err.value.hint or "")


def test_a_difference_adopts_by_recreating(world: World) -> None:
    world.toolhive_workload()
    plan = world.plan(world.desired(labels={"tier": "edge"}))
    assert kinds(plan) == [("recreate", "tool")]
    assert plan.actions[0].reason == "adopted; labels changed (container labels are immutable)"


def test_group_change_is_part_of_the_adoption(world: World) -> None:
    world.toolhive_workload()
    plan = world.plan(world.desired(group="dev"))
    assert kinds(plan) == [("group-create", "dev"), ("adopt", "tool")]
    assert plan.actions[1].reason.endswith("; group default → dev")
    assert plan.actions[1].depends_on == (0,)


def test_stopped_workload_is_adopted_then_started(world: World) -> None:
    world.toolhive_workload(state="exited")
    plan = world.plan(world.desired())
    assert kinds(plan) == [("adopt", "tool"), ("start", "tool")]
    assert plan.actions[1].depends_on == (0,)


def test_container_without_run_config_is_replaced(world: World) -> None:
    world.engine.add("tool", image=IMAGE, **toolhive_labels("tool", port=31001))
    plan = world.plan(world.desired())
    assert [a.kind for a in plan.actions] == ["recreate"]
    assert plan.actions[0].reason.startswith("adopted; ")


def test_apply_writes_ownership_into_the_run_config_only(world: World) -> None:
    container = world.toolhive_workload()
    desired = world.desired(group="dev")
    before = world.store.runconfigs.read("tool") or {}
    result = apply_plan(world.plan(desired), desired, Lifecycle(world.engine, world.store))
    assert result.ok, [(e.action.name, e.message) for e in result.events]
    assert [c for c in world.engine.calls if c[0] != "pull"] == []  # the container untouched
    rc = world.store.runconfigs.read("tool") or {}
    assert rc[EXTENSION_KEY]["project"] == "team" and rc["group"] == "dev"
    assert rc["middleware_configs"] == before["middleware_configs"]
    assert rc["container_labels"] == before["container_labels"]
    obs = observe(world.engine, world.store).workload("tool")
    assert obs is not None and obs.project == "team" and obs.container_id == container
    assert world.plan(desired, adopt=False).actions == ()  # a plain plan is a no-op


def test_foreign_container_is_never_adopted(world: World) -> None:
    world.engine.add("tool", image=IMAGE)  # no ToolHive labels at all
    with pytest.raises(PlanError) as err:
        world.plan(world.desired())
    assert "ToolHive does not manage" in err.value.message


# -- thv import ------------------------------------------------------------------------------
def test_import_command_writes_unmanaged_workloads_only(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    install(monkeypatch, world.engine)
    world.toolhive_workload("tool", state="exited")
    world.engine.add("stray", **toolhive_labels("stray", port=31002))  # no run config
    out = thv(capsys, "import", "-p", "team")
    assert out.code == 0, out.err
    assert "stray has no run config" in out.err
    doc = yaml.safe_load(out.out)
    assert doc["project"] == "team" and list(doc["servers"]) == ["tool"]
    assert doc["servers"]["tool"]["state"] == "stopped"
    target = world.tmp_path / "w.yaml"
    assert thv(capsys, "import", "-f", str(target)).code == 0
    assert target.read_text().startswith("# yaml-language-server: $schema=")
    again = thv(capsys, "import", "-f", str(target))
    assert again.code == 1 and "--force" in again.err
    assert thv(capsys, "import", "-f", str(target), "--force").code == 0
    desired = world.desired(state="stopped")
    assert apply_plan(world.plan(desired), desired, Lifecycle(world.engine, world.store)).ok
    owned = thv(capsys, "import", "tool")
    assert owned.code == 1 and "project team" in owned.err
    none_left = thv(capsys, "import", "--group", "default")
    assert none_left.code == 1 and "no unmanaged workloads" in none_left.err
    missing = thv(capsys, "import", "ghost")
    assert missing.code == 1 and "not found" in missing.err
