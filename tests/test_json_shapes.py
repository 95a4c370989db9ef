"""``thv list --format json`` and ``thv status --format json`` in ToolHive's shapes, field by
field (facts §6: ``core.Workload`` and ``printStatusJSONOutput``), Go's encoding included."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose.state import Store
from toolhive_compose.workloads.queries import uptime

ZERO = "0001-01-01T00:00:00Z"
WORKLOAD_ORDER = [
    "name", "package", "url", "port", "transport_type", "proxy_mode", "status",
    "status_context", "created_at", "labels", "group", "tools", "remote", "started_at",
]  # fmt: skip
STATUS_ORDER = [
    "name", "status", "health", "package", "url", "port", "transport", "proxy_mode", "group",
    "uptime",
]  # fmt: skip
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = install(monkeypatch, FakeRuntime())
    store = Store.from_env()
    # a container with state files; a container alone; a remote workload with state only
    store.runconfigs.write("fetch", {
        "schema_version": "v0.1.0", "image": "img:1", "name": "fetch", "transport": "stdio",
        "host": "127.0.0.1", "port": 31001, "permission_profile": None, "group": "dev",
    })  # fmt: skip
    store.statuses.set_status("fetch", "stopped", "stopped by <you> & me")
    fake.add("fetch", state="exited", **toolhive_labels("fetch", port=31001, tier="a<b"))
    fake.add("bare", state="running", **toolhive_labels("bare", port=31002))
    store.runconfigs.write("docs", {
        "schema_version": "v0.1.0", "image": "", "remote_url": "https://example.com/mcp",
        "name": "docs", "transport": "streamable-http", "host": "127.0.0.1", "port": 31003,
        "permission_profile": None, "container_labels": {"toolhive": "true", "team": "x"},
    })  # fmt: skip
    return fake


def _list(capsys: Any) -> dict[str, dict[str, Any]]:
    result = thv(capsys, "list", "-a", "--format", "json")
    assert result.code == 0, result.err
    assert "\\u003c" in result.out and "\\u0026" in result.out  # Go escapes <, >, &
    return {item["name"]: item for item in json.loads(result.out)}


def _in_order(doc: dict[str, Any], order: list[str]) -> None:
    assert set(doc) <= set(order), set(doc) - set(order)
    assert list(doc) == [k for k in order if k in doc]


def test_list_json_is_core_workload(engine: FakeRuntime, capsys: Any) -> None:
    items = _list(capsys)
    assert list(items) == ["bare", "docs", "fetch"]  # sorted by name
    for item in items.values():
        _in_order(item, WORKLOAD_ORDER)
        assert GO_TIME.match(item["created_at"]), item
        assert item["started_at"] == ZERO  # ToolHive's list does not know it
        assert "tools" not in item  # ToolHive's list never fills it
    fetch, bare, docs = items["fetch"], items["bare"], items["docs"]
    assert fetch["status_context"] == "stopped by <you> & me"
    assert fetch["labels"] == {"tier": "a<b"} and fetch["group"] == "dev"
    # a container alone: its creation, whole seconds in the local offset (time.Unix)
    assert "." not in bare["created_at"]  # (its status_context: an orphan's note, issue 11)
    assert "labels" not in bare and "group" not in bare and "remote" not in bare
    assert bare["status"] == "running"
    # a remote workload: every label, its own run config's
    assert docs["remote"] is True and docs["package"] == "remote"
    assert docs["labels"] == {"toolhive": "true", "team": "x"}
    assert docs["created_at"] == ZERO  # no status file, no container: the zero time


def test_status_json_is_toolhives(engine: FakeRuntime, capsys: Any) -> None:
    result = thv(capsys, "status", "fetch", "--format", "json")
    assert result.code == 0
    doc = json.loads(result.out)
    _in_order(doc, STATUS_ORDER)
    assert doc == {
        "name": "fetch", "status": "stopped", "health": "stopped by <you> & me",
        "package": "img:1", "url": "http://127.0.0.1:31001/mcp", "port": 31001,
        "transport": "stdio", "proxy_mode": "streamable-http", "group": "dev",
    }  # fmt: skip
    assert "\\u003cyou\\u003e \\u0026 me" in result.out
    running = json.loads(thv(capsys, "status", "bare", "--format", "json").out)
    _in_order(running, STATUS_ORDER)
    assert "group" not in running
    assert re.fullmatch(r"(\d+d \d+h )?(\d+h )?\d+m", running["uptime"])  # from its start


def test_status_text_is_toolhives(engine: FakeRuntime, capsys: Any) -> None:
    text = thv(capsys, "status", "fetch").out.splitlines()
    keys = [line.split(":", 1)[0] for line in text]
    assert keys == [
        "Name", "Status", "Health", "Package", "URL", "Port", "Transport", "Proxy Mode",
        "Group", "Created",
    ]  # fmt: skip
    assert text[-1].split(None, 1)[1][:4].isdigit()  # 2006-01-02 15:04:05


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(seconds=30), "0m"),
        (timedelta(minutes=5, seconds=59), "5m"),
        (timedelta(hours=3, minutes=4), "3h 4m"),
        (timedelta(days=2, hours=3, minutes=4), "2d 3h 4m"),
    ],
)
def test_uptime_as_toolhive_formats_it(elapsed: timedelta, shown: str) -> None:
    now = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)
    started = (now - elapsed - timedelta(seconds=0.5)).strftime("%Y-%m-%dT%H:%M:%S.%f789Z")
    assert uptime(started, now) == shown
    assert uptime(ZERO, now) == "" and uptime("", now) == ""


def test_list_json_of_nothing_is_an_empty_list(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    install(monkeypatch, FakeRuntime())
    assert thv(capsys, "list", "--format", "json").out == "[]\n"
