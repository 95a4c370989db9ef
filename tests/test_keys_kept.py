"""Nothing ToolHive wrote is lost (issue 10, deliverable 2).

Every rewrite of a run config — recreate, upgrade, adopt, move-group — keeps the keys this
tool does not write (``oidc_config``, ``middleware_configs``, ``authz_config``, a future
key); a group's ownership and an adopted workload's survive ToolHive re-encoding their files.
The run config is ToolHive's own fixture (tests/fixtures/toolhive) with ToolHive's security
settings added; the engine is the in-memory fake.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_engine import FakeRuntime, toolhive_labels
from toolhive_compose.apply.executor import apply_plan
from toolhive_compose.model import DesiredState
from toolhive_compose.plan.actions import Plan
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.loader import load_document
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import EXTENSION_KEY, TOOLHIVE_FIELDS
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.observe import observe

FETCH = Path(__file__).parent / "fixtures" / "toolhive" / "state" / "toolhive" / "runconfigs"
# Keys ToolHive writes that a workloads file cannot say: every rewrite must keep them.
THEIRS = {
    "oidc_config": {"issuer": "https://id.example.com", "audience": "fetch"},
    "authz_config": {"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit"]}},
    "telemetry_config": {"endpoint": "otel:4317", "sampling_rate": "0.1"},
    "middleware_configs": [{"type": "auth", "parameters": {"oidc": True}}],
    "trust_proxy_headers": True,
    "future_setting": {"kept": [1, 2, 3]},
}


def _free_port() -> int:
    """A port nothing listens on now (the machine is shared: fixed ports may be taken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT, TARGET = _free_port(), _free_port()


def toolhive_fetch() -> dict[str, Any]:
    """ToolHive's fixture run config (no key of ours), with ToolHive's security settings;
    its ports moved to free ones."""
    rc = json.loads((FETCH / "fetch.json").read_text())
    for key in ("secrets", "volumes", "isolate_network", "tools_filter", "registry_url"):
        rc.pop(key, None)  # (what the workloads file below does not say)
    rc["permission_profile"] = {
        "name": "network", "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}}
    }  # fmt: skip
    rc.update(port=PORT, target_port=TARGET)
    rc["env_vars"].update(MCP_PORT=str(TARGET), FASTMCP_PORT=str(TARGET))
    rc["container_labels"]["toolhive-port"] = str(PORT)
    return {**rc, **THEIRS}


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.engine = FakeRuntime()
        self.store = Store.from_env()
        self.life = Lifecycle(self.engine, self.store, ready_timeout=0)

    def toolhive_made(self, rc: dict[str, Any]) -> None:
        self.store.runconfigs.write("fetch", rc)
        self.store.statuses.set_status("fetch", "stopped")
        labels = toolhive_labels("fetch", port=PORT, transport="streamable-http", team="platform")
        self.engine.add("fetch", image=rc["image"], state="exited", **labels)

    def desired(self, **changes: Any) -> DesiredState:
        server = {
            "image": "ghcr.io/stackloklabs/gofetch/server:1.0.1", "transport": "streamable-http",
            "target_port": TARGET, "port": PORT, "args": ["--verbose"],
            "env": {"LOG_LEVEL": "debug"}, "labels": {"team": "platform"},
            "permission_profile": "network", "state": "stopped", **changes,
        }  # fmt: skip
        doc: dict[str, Any] = {"version": 1, "servers": {"fetch": server}}
        if server.get("group", "default") != "default":
            doc["groups"] = {server["group"]: {}}
        return load_document(doc, base_dir=self.tmp, project="team")

    def plan(self, desired: DesiredState, *, adopt: bool = False) -> Plan:
        observed = observe(self.engine, self.store, desired_names=["fetch"])
        return make_plan(desired, observed, adopt=adopt)

    def apply(self, desired: DesiredState, *, adopt: bool = False) -> Plan:
        plan = self.plan(desired, adopt=adopt)
        assert apply_plan(plan, desired, self.life).ok
        return plan

    def rc(self) -> dict[str, Any]:
        return json.loads(self.store.runconfigs.path("fetch").read_text())


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def kinds(plan: Plan) -> list[str]:
    return [str(a.kind) for a in plan.actions]


def _theirs_kept(rc: dict[str, Any]) -> None:
    assert {k: rc[k] for k in THEIRS} == THEIRS
    known = [k for k in rc if k in TOOLHIVE_FIELDS]  # ToolHive's fields in its struct order
    assert known == sorted(known, key=list(TOOLHIVE_FIELDS).index)


def test_adopt_then_recreate_then_upgrade_keep_toolhives_keys(world: World) -> None:
    world.toolhive_made(toolhive_fetch())
    assert kinds(world.apply(world.desired(), adopt=True)) == ["adopt"]
    _theirs_kept(world.rc())
    recreate = world.apply(world.desired(env={"LOG_LEVEL": "info"}))
    assert kinds(recreate) == ["recreate"]
    rc = world.rc()
    _theirs_kept(rc)
    assert rc["env_vars"]["LOG_LEVEL"] == "info" and rc[EXTENSION_KEY]["project"] == "team"
    upgrade = world.apply(
        world.desired(env={"LOG_LEVEL": "info"}, image="ghcr.io/stackloklabs/gofetch/server:1.1.0")
    )
    assert kinds(upgrade) == ["upgrade"]
    rc = world.rc()
    _theirs_kept(rc)
    assert rc["image"].endswith(":1.1.0")
    assert world.plan(world.desired(env={"LOG_LEVEL": "info"}, image=rc["image"])).actions == ()


def test_move_group_keeps_toolhives_keys(world: World) -> None:
    world.toolhive_made(toolhive_fetch())
    world.apply(world.desired(), adopt=True)
    moved = world.apply(world.desired(group="dev"))
    assert kinds(moved) == ["group-create", "move-group"]
    rc = world.rc()
    _theirs_kept(rc)
    assert rc["group"] == "dev"


def test_a_modelled_key_the_file_drops_goes(world: World) -> None:
    """What this tool writes follows the file: args removed → no cmd_args; a registry entry
    no longer used → no registry fields (not even ToolHive's registry_api_url)."""
    rc = toolhive_fetch() | {"registry_api_url": "https://api.example.com"}
    world.toolhive_made(rc)
    world.apply(world.desired(args=[]), adopt=True)
    after = world.rc()
    assert "cmd_args" not in after and "registry_api_url" not in after
    _theirs_kept(after)


def test_group_ownership_survives_toolhive_rewriting_the_group_file(world: World) -> None:
    world.toolhive_made(toolhive_fetch())
    world.apply(world.desired(group="dev"), adopt=True)
    path = world.store.paths.groups / "dev.json"
    # ToolHive's saveGroup (e.g. `thv client register`): {name, registered_clients, skills, plugins}
    path.write_text(json.dumps({"name": "dev", "registered_clients": ["cursor"]}, indent=2) + "\n")
    gone = load_document({"version": 1, "servers": {}}, base_dir=world.tmp, project="team")
    plan = world.plan(gone)
    assert sorted((str(a.kind), a.name) for a in plan.actions) == [
        ("delete", "fetch"), ("group-delete", "dev")
    ]  # fmt: skip


def test_the_old_in_file_group_key_is_read_and_moved(world: World) -> None:
    path = world.store.paths.groups / "ops.json"
    path.parent.mkdir(parents=True)
    old = {"name": "ops", "registered_clients": [], "toolhive_compose": {"project": "team",
           "description": "Operations"}}  # fmt: skip
    path.write_text(json.dumps(old))
    observed = observe(world.engine, world.store)
    assert [(g.name, g.project, g.description) for g in observed.groups] == [
        ("ops", "team", "Operations")
    ]
    assert world.store.ownership.groups()["ops"].project == "team"  # moved on the way
    path.write_text(json.dumps({"name": "ops", "registered_clients": []}))  # ToolHive rewrote it
    assert observe(world.engine, world.store).groups[0].project == "team"


def test_an_adopted_workload_stays_ours_when_toolhive_rewrites_its_run_config(
    world: World,
) -> None:
    world.toolhive_made(toolhive_fetch())
    world.apply(world.desired(), adopt=True)
    rc = world.rc()
    del rc[EXTENSION_KEY]  # ToolHive's SaveState encodes its own struct only
    world.store.runconfigs.write("fetch", rc)
    observed = observe(world.engine, world.store, desired_names=["fetch"])
    assert observed.workload("fetch").project == "team"  # type: ignore[union-attr]
    assert world.plan(world.desired()).actions == ()  # no clash, nothing to do
    # ToolHive removes it and runs a new one of the same name: not ours any more
    world.store.statuses.delete("fetch")
    world.store.statuses.set_status("fetch", "stopped")
    observed = observe(world.engine, world.store, desired_names=["fetch"])
    assert observed.workload("fetch").project == ""  # type: ignore[union-attr]


def test_deleting_an_adopted_workload_drops_its_record(world: World) -> None:
    world.toolhive_made(toolhive_fetch())
    world.apply(world.desired(), adopt=True)
    assert "fetch" in world.store.ownership.workloads()
    world.apply(load_document({"version": 1, "servers": {}}, base_dir=world.tmp, project="team"))
    assert world.store.ownership.workloads() == {}
    assert not world.store.runconfigs.path("fetch").exists()
