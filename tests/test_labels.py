"""Labels: Kubernetes rules (a bad one is an error, never skipped), ToolHive's standard labels
on every container, file-level labels merged into each server, ``thv list -l`` (AND), and a
label change planned as a recreate that says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose.apply.executor import apply_plan
from toolhive_compose.errors import SpecError, ThvError
from toolhive_compose.model import DesiredState
from toolhive_compose.plan.planner import make_plan
from toolhive_compose.spec.labels import parse_label
from toolhive_compose.spec.loader import load_document
from toolhive_compose.state import Store
from toolhive_compose.state.runconfig import container_labels
from toolhive_compose.workloads.lifecycle import Lifecycle
from toolhive_compose.workloads.observe import observe

STANDARD = {"toolhive", "toolhive-name", "toolhive-basename", "toolhive-transport", "toolhive-port"}


@pytest.mark.parametrize(
    "text",
    [
        "team=platform",
        "app.kubernetes.io/name=fetch",
        "k=",  # an empty value is allowed
        f"{'k' * 63}={'v' * 63}",
        "a_b.c-d=X_y.z-1",
    ],
)
def test_valid_labels(text: str) -> None:
    key, _, value = text.partition("=")
    assert parse_label(text) == (key, value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("team", "expected key=value"),
        ("-team=x", "is invalid"),
        (f"{'k' * 64}=x", "is invalid"),
        ("Bad.Prefix/name=x", "invalid prefix"),
        ("team=not valid", "label value"),
        (f"team={'v' * 64}", "label value"),
    ],
)
def test_invalid_labels_are_errors(text: str, why: str) -> None:
    with pytest.raises(ThvError) as err:
        parse_label(text)
    assert why in err.value.message


def _desired(tmp_path: Path, doc: dict[str, Any], project: str = "lbl") -> DesiredState:
    return load_document({"version": 1, **doc}, base_dir=tmp_path, project=project)


def test_file_labels_merge_into_each_server(tmp_path: Path) -> None:
    desired = _desired(
        tmp_path,
        {
            "labels": {"team": "platform", "tier": "default"},
            "servers": {
                "aa": {"image": "img:1", "labels": {"tier": "core"}},
                "bb": {"image": "img:1"},
            },
        },
    )
    assert dict(desired.server("aa").labels) == {"team": "platform", "tier": "core"}
    assert dict(desired.server("bb").labels) == {"team": "platform", "tier": "default"}


def test_bad_labels_in_a_file_are_reported_not_skipped(tmp_path: Path) -> None:
    doc = {"servers": {"aa": {"image": "img:1", "labels": {"ok": "1", "bad key": "x", "v": "a b"}}}}
    with pytest.raises(SpecError) as err:
        _desired(tmp_path, doc)
    paths = sorted(p.path for p in err.value.problems)
    assert paths == ["servers.aa.labels.bad key", "servers.aa.labels.v"]


def test_every_container_carries_toolhive_standard_labels(tmp_path: Path) -> None:
    spec = _desired(tmp_path, {"servers": {"aa": {"image": "i:1", "labels": {"t": "x"}}}}).server(
        "aa"
    )
    labels = container_labels(spec, port=12345, project="lbl", config_hash="sha256:0")
    assert set(labels) >= STANDARD
    assert labels["toolhive"] == "true" and labels["toolhive-port"] == "12345"
    assert labels["toolhive-basename"] == "aa" and labels["toolhive-transport"] == "stdio"
    assert labels["t"] == "x" and labels["toolhive-compose.project"] == "lbl"


def test_list_label_filters_and_group(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    engine = install(monkeypatch, FakeRuntime())
    store = Store.from_env()
    for name, labels, group in (
        ("one", {"team": "a", "tier": "core"}, "default"),
        ("two", {"team": "a", "tier": "edge"}, "dev"),
        ("three", {"team": "b", "tier": "core"}, "dev"),
    ):
        engine.add(name, **toolhive_labels(name, port=30000 + len(name), **labels))
        store.runconfigs.write(name, {"name": name, "transport": "stdio", "group": group})

    def names(*args: str) -> list[str]:
        result = thv(capsys, "list", "--all", "--format", "json", *args)
        assert result.code == 0, result.err
        return [w["name"] for w in json.loads(result.out)]

    assert names("-l", "team=a") == ["one", "two"]
    assert names("-l", "team=a", "-l", "tier=core") == ["one"]  # several filters: AND
    assert names("--label", "tier=core", "--group", "dev") == ["three"]
    assert names("-l", "team=nobody") == []
    bad = thv(capsys, "list", "-l", "not a label")
    assert bad.code == 1 and "invalid label filter" in bad.err


def test_run_with_a_bad_label_is_an_error(capsys: Any) -> None:
    result = thv(capsys, "run", "img:1", "--name", "xx", "-l", "bad key=v")
    assert result.code == 1
    assert "bad key" in result.err and "invalid" in result.err


def test_label_change_recreates_and_says_why(tmp_path: Path) -> None:
    engine, store = FakeRuntime(), Store.from_env()
    server = {"image": "img:1", "labels": {"tier": "core"}, "state": "stopped", "port": 31555}
    first = _desired(tmp_path, {"servers": {"lab": server}})
    plan = make_plan(first, observe(engine, store, desired_names=["lab"]))
    assert apply_plan(plan, first, Lifecycle(engine, store)).ok
    changed = _desired(tmp_path, {"servers": {"lab": {**server, "labels": {"tier": "edge"}}}})
    plan = make_plan(changed, observe(engine, store, desired_names=["lab"]))
    assert [str(a.kind) for a in plan.actions] == ["recreate"]
    assert plan.actions[0].reason == "labels changed (container labels are immutable)"
    assert [(c.path, c.before, c.after) for c in plan.actions[0].changes] == [
        ("labels.tier", "core", "edge")
    ]
