"""The library surface: what ``toolhive_compose`` exports, the four small protocols, and the
local implementations behind them (on an in-memory engine)."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import toolhive_compose
from tests.support.fake_engine import FakeRuntime, install, this_process_is_a_proxy
from toolhive_compose import api
from toolhive_compose.api import protocols
from toolhive_compose.errors import NotFound, ThvError
from toolhive_compose.model import ServerSpec
from toolhive_compose.spec.loader import load_document
from toolhive_compose.state import Store
from toolhive_compose.workloads.lifecycle import Lifecycle

PROTOCOLS = {
    "WorkloadLifecycle": ("lifecycle", "LocalLifecycle"),
    "WorkloadQueries": ("workloads", "LocalWorkloads"),
    "WorkloadLogs": ("logs", "LocalLogs"),
    "GroupManager": ("groups", "LocalGroups"),
}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = install(monkeypatch, FakeRuntime())
    # no proxy process for a fake container: "started" means the status says so
    pid = this_process_is_a_proxy(monkeypatch)
    monkeypatch.setattr(
        Lifecycle, "_finish_start", lambda self, name: self.store.statuses.set_running(name, pid)
    )
    return fake


def spec(tmp_path: Path, name: str = "svc", **server: Any) -> ServerSpec:
    body = {"image": "img:1", **server}
    doc: dict[str, Any] = {"version": 1, "servers": {name: body}}
    if body.get("group"):
        doc["groups"] = {body["group"]: {}}
    return load_document(doc, base_dir=tmp_path, project="").server(name)


# -- the public surface --------------------------------------------------------------------
def test_all_is_exactly_the_public_names() -> None:
    public = set(toolhive_compose.__all__)
    assert sorted(dir(toolhive_compose)) == sorted(public)
    star: dict[str, Any] = {}
    exec("from toolhive_compose import *", star)  # what a user's star import gets
    assert set(star) - {"__builtins__"} == public
    assert public == {"__version__", *toolhive_compose._EXPORTS}
    for name in public - {"__version__"}:
        assert getattr(toolhive_compose, name) is not None, name
    with pytest.raises(AttributeError):
        toolhive_compose.no_such_name  # noqa: B018
    assert set(PROTOCOLS) | {"connect", "Connection", "Group"} <= public
    assert {impl for _, impl in PROTOCOLS.values()} <= public


def test_api_module_exports_its_public_names() -> None:
    """The package exports what it and its protocols module define (``connect``, the types)."""

    def defined(module: ModuleType) -> set[str]:
        return {
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        }

    assert set(api.__all__) == defined(api) | defined(protocols)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_protocols_are_small_typed_and_documented(protocol: str) -> None:
    cls = getattr(api, protocol)
    members = [n for n in vars(cls) if not n.startswith("_")]
    assert 1 <= len(members) <= 6, "one giant interface is what ToolHive's reviewers refused"
    for name in members:
        method = getattr(cls, name)
        hints = typing.get_type_hints(method, vars(protocols))
        assert "return" in hints, f"{protocol}.{name} has no return type"
        params = list(inspect.signature(method).parameters)[1:]
        assert all(p in hints for p in params), f"{protocol}.{name} has untyped parameters"
    assert cls.__doc__


def test_connect_satisfies_every_protocol(engine: FakeRuntime) -> None:
    connection = toolhive_compose.connect()
    for protocol, (attribute, impl) in PROTOCOLS.items():
        part = getattr(connection, attribute)
        assert isinstance(part, getattr(toolhive_compose, protocol))
        assert type(part) is getattr(toolhive_compose, impl)


def test_a_partial_implementation_satisfies_only_its_protocol() -> None:
    class Static:
        def get(self, name: str) -> Any:
            return None

        def list(self, *, all: bool = False, labels: Any = None, group: Any = None) -> Any:
            return []

        def list_in_group(self, group: str) -> Any:
            return []

        def exists(self, name: str) -> bool:
            return False

    assert isinstance(Static(), api.WorkloadQueries)
    assert not isinstance(Static(), api.WorkloadLifecycle)


# -- the local implementations ---------------------------------------------------------------
def test_run_get_exists_update_delete(engine: FakeRuntime, tmp_path: Path) -> None:
    thv = toolhive_compose.connect()
    created = thv.lifecycle.run(spec(tmp_path, env={"A": "1"}), project="team")
    assert created.name == "svc" and created.status == "running" and created.port
    assert created.project == "team"
    assert thv.workloads.exists("svc") and not thv.workloads.exists("other")
    with pytest.raises(ThvError, match="already exists"):
        thv.lifecycle.run(spec(tmp_path))
    old_id = created.container_id
    updated = thv.lifecycle.update(spec(tmp_path, env={"A": "2"}))
    assert updated.port == created.port  # ToolHive's update keeps the port
    assert updated.project == "team"  # and the owner, unless told otherwise
    assert updated.container_id != old_id and ("remove", old_id) in engine.calls
    assert thv.lifecycle.start("svc") is False  # already serving
    thv.lifecycle.stop("svc")
    assert thv.workloads.get("svc").status == "stopped"
    assert thv.lifecycle.start("svc") is True
    thv.lifecycle.delete("svc")
    with pytest.raises(NotFound):
        thv.workloads.get("svc")


def test_run_needs_an_existing_group(engine: FakeRuntime, tmp_path: Path) -> None:
    thv = toolhive_compose.connect()
    with pytest.raises(ThvError, match="group 'dev' does not exist"):
        thv.lifecycle.run(spec(tmp_path, group="dev"))
    thv.groups.create("dev")
    assert thv.lifecycle.run(spec(tmp_path, group="dev")).group == "dev"
    assert [w.name for w in thv.workloads.list_in_group("dev")] == ["svc"]


def test_logs_and_proxy_logs(engine: FakeRuntime, tmp_path: Path) -> None:
    thv = toolhive_compose.connect()
    created = thv.lifecycle.run(spec(tmp_path))
    engine.log_bytes[created.container_id] = b"hello from the server\n"
    assert b"".join(thv.logs.logs("svc")) == b"hello from the server\n"
    with pytest.raises(NotFound, match="no proxy log"):
        list(thv.logs.proxy_logs("svc"))
    log = Store.from_env().paths.logs / "svc.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"proxy line\n")
    assert b"".join(thv.logs.proxy_logs("svc")) == b"proxy line\n"
    remote = load_document(
        {"version": 1, "servers": {"far": {"url": "https://example.com/mcp"}}},
        base_dir=tmp_path,
        project="",
    ).server("far")
    thv.lifecycle.run(remote)
    with pytest.raises(ThvError, match="no container"):
        thv.logs.logs("far")
