"""The whole pipeline against a real engine, through the Python API.

create three servers in a group → re-plan is empty → change one env → one recreate →
remove one server → one delete → down removes the project's workloads and nothing else.
After every step the containers' labels, the run configs, the status files and the group
files are checked.  Container names are global on the engine, so every server name starts
with the unique test project name.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.images import ensure_busybox_image
from toolhive_compose.apply.executor import apply_plan
from toolhive_compose.fingerprint import config_hash
from toolhive_compose.model import DesiredState, GroupSpec, ServerSpec
from toolhive_compose.plan.actions import Plan
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.runtime import Runtime, get_runtime
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.observe import observe

pytestmark = pytest.mark.docker

GROUP = "grp"
TIMEOUT = 60.0


@pytest.fixture
def image(docker_client: Any) -> str:
    return ensure_busybox_image()


class Harness:
    """Desired state in, plan + apply + checks out, for one project."""

    def __init__(self, project: str, image: str, docker_client: Any) -> None:
        self.project = project
        self.image = image
        self.docker = docker_client
        self.runtime: Runtime = get_runtime()
        self.store = Store.from_env()
        self.lifecycle = Lifecycle(self.runtime, self.store, ready_timeout=0)

    def name(self, short: str) -> str:
        return f"{self.project}-{short}"

    def spec(self, short: str, **env: str) -> ServerSpec:
        return ServerSpec(
            name=self.name(short),
            image=self.image,
            args=("sleep", "3600"),
            env=tuple(sorted(env.items())),
            group=GROUP,
        )

    def desired(self, *servers: ServerSpec, group: bool = True) -> DesiredState:
        return DesiredState(
            project=self.project,
            servers=tuple(sorted(servers, key=lambda s: s.name)),
            groups=(GroupSpec(name=GROUP, description="test group"),) if group else (),
        )

    def plan(self, desired: DesiredState) -> Plan:
        names = [s.name for s in desired.servers]
        return make_plan(desired, observe(self.runtime, self.store, desired_names=names))

    def apply(self, desired: DesiredState) -> Plan:
        plan = self.plan(desired)
        result = apply_plan(plan, desired, self.lifecycle, parallelism=4, timeout=TIMEOUT)
        assert result.ok, [(e.action.name, e.state, e.message) for e in result.events]
        return plan

    def containers(self) -> dict[str, Any]:
        """This project's containers by name."""
        found = self.docker.containers.list(
            all=True, filters={"label": f"toolhive-compose.project={self.project}"}
        )
        return {c.name: c for c in found}

    def ids(self) -> dict[str, str]:
        return {name: c.id for name, c in self.containers().items()}

    # -- checks -----------------------------------------------------------------------------
    def check_state(self, desired: DesiredState) -> None:
        containers = self.containers()
        wanted = {s.name: s for s in desired.servers}
        assert sorted(containers) == sorted(wanted)
        ours = [n for n in self.store.runconfigs.names() if n.startswith(self.project)]
        assert sorted(ours) == sorted(wanted)
        for name, spec in wanted.items():
            self.check_workload(spec, containers[name])
        groups = self.store.paths.groups
        default = json.loads((groups / "default.json").read_text())
        assert default == {"name": "default", "registered_clients": []}
        if desired.groups:
            doc = json.loads((groups / f"{GROUP}.json").read_text())
            assert doc == {"name": GROUP, "registered_clients": []}  # ToolHive's shape only
            assert self.store.group_owners()[GROUP].project == self.project
        else:
            assert not (groups / f"{GROUP}.json").exists()

    def check_workload(self, spec: ServerSpec, container: Any) -> None:
        name = spec.name
        rc = json.loads((self.store.paths.runconfigs / f"{name}.json").read_text())
        labels = container.labels
        assert labels["toolhive"] == "true"
        assert labels["toolhive-name"] == labels["toolhive-basename"] == name
        assert labels["toolhive-transport"] == "stdio"
        assert labels["toolhive-port"] == str(rc["port"])
        assert labels["toolhive-compose.project"] == self.project
        assert labels["toolhive-compose.config-hash"] == config_hash(rc["toolhive_compose"]["spec"])
        assert rc["container_labels"] == {
            k: v for k, v in labels.items() if k in rc["container_labels"]
        }
        assert rc["schema_version"] == "v0.1.0"
        assert rc["image"] == spec.image and rc["name"] == name
        assert rc["cmd_args"] == list(spec.args)
        assert rc["group"] == spec.group
        for key, value in spec.env:
            assert rc["env_vars"][key] == value
        assert rc["toolhive_compose"]["project"] == self.project
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        for key, value in spec.env:
            assert env[key] == value
        assert container.attrs["Config"]["Cmd"] == list(spec.args)
        status = json.loads(self.store.statuses.path(name).read_text())
        assert status["status"] in ("starting", "running"), status
        assert set(status) >= {"status", "created_at", "updated_at", "process_id"}
        assert container.status == "running"


@pytest.fixture
def harness(test_project: str, image: str, docker_client: Any) -> Iterator[Harness]:
    h = Harness(test_project, image, docker_client)
    yield h
    # Stop any proxy left by a failed step (a removed container ends its proxy too).
    for name in h.store.runconfigs.names():
        with contextlib.suppress(Exception):
            h.lifecycle.delete(name, "")


@pytest.fixture
def foreign(docker_client: Any, image: str, test_project: str) -> Iterator[Any]:
    """A ToolHive container of no project: ours must never touch it."""
    name = f"{test_project}-foreign"
    container = docker_client.containers.create(
        image,
        ["sleep", "3600"],
        name=name,
        labels={"toolhive": "true", "toolhive-name": name, "toolhive-basename": name},
    )
    yield container
    with contextlib.suppress(Exception):
        container.remove(force=True)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(str(a.kind), a.name) for a in plan.actions]


def test_apply_lifecycle(harness: Harness, foreign: Any) -> None:
    h = harness
    a, b, c = h.spec("a", X="1"), h.spec("b", X="1"), h.spec("c")

    # 1. create three servers in a group
    desired = h.desired(a, b, c)
    plan = h.apply(desired)
    assert kinds(plan) == [
        ("group-create", GROUP),
        ("create", a.name),
        ("create", b.name),
        ("create", c.name),
    ]
    h.check_state(desired)
    ids = h.ids()
    ports = {n: h.store.runconfigs.read(n)["port"] for n in ids}  # type: ignore[index]
    assert len(set(ports.values())) == 3

    # re-plan: nothing to do, nothing touched
    assert kinds(h.plan(desired)) == []
    assert h.ids() == ids

    # 2. change one env: exactly one recreate, the others untouched, the port kept
    b2 = h.spec("b", X="2")
    desired = h.desired(a, b2, c)
    plan = h.apply(desired)
    assert kinds(plan) == [("recreate", b.name)]
    assert [ch.path for ch in plan.actions[0].changes] == ["env.X"]
    h.check_state(desired)
    now = h.ids()
    assert now[a.name] == ids[a.name] and now[c.name] == ids[c.name]
    assert now[b.name] != ids[b.name]
    assert h.store.runconfigs.read(b.name)["port"] == ports[b.name]  # type: ignore[index]
    assert kinds(h.plan(desired)) == []

    # 3. remove one server: exactly one delete
    desired = h.desired(a, b2)
    plan = h.apply(desired)
    assert kinds(plan) == [("delete", c.name)]
    h.check_state(desired)
    assert not h.store.statuses.path(c.name).exists()
    assert h.ids() == {a.name: ids[a.name], b.name: now[b.name]}
    assert kinds(h.plan(desired)) == []

    # 4. down: everything of the project goes, and nothing else
    down = DesiredState(project=h.project)
    plan = h.apply(down)
    assert kinds(plan) == [("delete", a.name), ("delete", b.name), ("group-delete", GROUP)]
    assert plan.actions[2].depends_on == (0, 1)
    assert h.containers() == {}
    assert [n for n in h.store.runconfigs.names() if n.startswith(h.project)] == []
    assert [n for n in h.store.statuses.names() if n.startswith(h.project)] == []
    assert h.store.groups.names() == ["default"]
    foreign.reload()
    assert foreign.status == "created"  # untouched
    assert kinds(h.plan(down)) == []


def test_stop_and_start(harness: Harness) -> None:
    h = harness
    # PID 1 ignores SIGTERM unless it traps it: without the trap every stop takes 10 s.
    trapping = ("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
    a = ServerSpec(**{**_fields(h.spec("a")), "args": trapping})
    h.apply(h.desired(a))
    first = h.ids()[a.name]

    stopped = ServerSpec(**{**_fields(a), "state": "stopped"})
    plan = h.apply(h.desired(stopped))
    assert kinds(plan) == [("stop", a.name)]
    container = h.containers()[a.name]
    assert container.status == "exited"
    assert json.loads(h.store.statuses.path(a.name).read_text())["status"] == "stopped"
    assert kinds(h.plan(h.desired(stopped))) == []

    plan = h.apply(h.desired(a))
    assert kinds(plan) == [("start", a.name)]
    assert h.containers()[a.name].status == "running"
    assert h.ids()[a.name] == first  # started, not recreated
    h.apply(DesiredState(project=h.project))
    assert h.containers() == {}


def test_name_clash_with_a_foreign_toolhive_container_is_refused(
    harness: Harness, foreign: Any
) -> None:
    from toolhive_compose.errors import PlanError

    h = harness
    clash = ServerSpec(**{**_fields(h.spec("x")), "name": foreign.name})
    with pytest.raises(
        PlanError, match=f"{foreign.name} already exists and is managed by ToolHive"
    ):
        h.plan(h.desired(clash))
    foreign.reload()
    assert foreign.status == "created"


def _fields(spec: ServerSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def test_a_workload_made_stopped_is_never_starting(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its status says stopped from the outset (one write, not ``starting`` then ``stopped``);
    an apply killed before its container existed leaves exactly that state, and the next
    apply creates the container."""
    h = harness
    stopped = ServerSpec(**{**_fields(h.spec("a")), "state": "stopped"})
    written: list[tuple[str, str]] = []
    set_status = h.store.statuses.set_status

    def recording(name: str, status: str, context: str = "") -> None:
        written.append((name, status))
        set_status(name, status, context)

    monkeypatch.setattr(h.store.statuses, "set_status", recording)
    plan = h.apply(h.desired(stopped))
    assert kinds(plan) == [("group-create", GROUP), ("create", stopped.name)]
    assert written == [(stopped.name, "stopped")]
    assert h.containers()[stopped.name].status == "created"

    # The crash point: run config and status written, the container not made yet.
    h.containers()[stopped.name].remove(force=True)
    assert json.loads(h.store.statuses.path(stopped.name).read_text())["status"] == "stopped"
    plan = h.apply(h.desired(stopped))
    assert [k for k, _ in kinds(plan)] == ["create"]
    assert h.containers()[stopped.name].status == "created"
    assert kinds(h.plan(h.desired(stopped))) == []
