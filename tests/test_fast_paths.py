"""The fast paths a no-op plan and a large apply take give the answers the slow ones gave.

- the engine's list runs in a thread while the files are parsed: its result, or its error,
  reaches the plan; a bad file is reported even when the engine would fail too;
- YAML marks are kept as libyaml made them and made into file:line:column on demand, per
  file, the last file that has a path winning;
- the run-config type check looks at the keys present, and still names the first bad field
  in ToolHive's field order;
- ``DesiredState.server`` is a binary search of the sorted servers, and still finds a server
  in a list built unsorted.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install
from toolhive_compose.errors import EngineUnavailable
from toolhive_compose.model import DesiredState, ServerSpec
from toolhive_compose.spec.source import Origins, parse
from toolhive_compose.state.runconfig import type_problem
from toolhive_compose.workloads.observe import listing_started

WORKLOADS = """\
version: 1
project: fast
servers:
  one:
    image: img:1
"""


class Failing(FakeRuntime):
    """An engine whose list call fails, after the parse has had time to start."""

    def list_containers(self, **_: Any) -> list[Any]:
        raise EngineUnavailable("cannot reach the container engine at fake://engine (down)")


def test_the_listing_thread_hands_over_its_containers() -> None:
    engine = FakeRuntime()
    engine.add("one", toolhive="true")
    engine.add("other")  # not a ToolHive container
    listed = listing_started(engine)
    assert [c.name for c in listed()] == ["one"]


def test_the_listing_thread_hands_over_its_error() -> None:
    listed = listing_started(Failing())
    with pytest.raises(EngineUnavailable):
        listed()
    assert not [t for t in threading.enumerate() if t.name == "thv-list"]


def test_plan_reports_the_engine_error_after_a_good_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    (tmp_path / "workloads.yaml").write_text(WORKLOADS)
    monkeypatch.chdir(tmp_path)
    install(monkeypatch, Failing())
    result = thv(capsys, "plan")
    assert result.code != 0
    assert "cannot reach the container engine" in result.err
    assert "Traceback" not in result.err


def test_plan_reports_a_bad_file_first_even_when_the_engine_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    (tmp_path / "workloads.yaml").write_text(WORKLOADS + "    imgae: typo\n")
    monkeypatch.chdir(tmp_path)
    install(monkeypatch, Failing())
    result = thv(capsys, "plan")
    assert result.code != 0
    assert "imgae" in result.err
    assert "cannot reach the container engine" not in result.err


def test_marks_are_per_file_and_the_last_file_wins() -> None:
    first = parse("servers:\n  a:\n    image: x\n    env: {K: v}\n", "one.yaml")
    second = parse("\n\nservers:\n  a:\n    image: y\n", "two.yaml")
    merged = Origins()
    merged.update(first.origins)
    merged.update(second.origins)
    assert merged.mark(("servers", "a", "image")) == ("two.yaml", 5, 12)
    assert merged.mark(("servers", "a", "image"), at_key=True) == ("two.yaml", 5, 5)
    assert merged.mark(("servers", "a", "env", "K")) == ("one.yaml", 4, 14)
    # a path nobody wrote reads as its nearest written ancestor
    assert merged.mark(("servers", "a", "env", "K", "deeper")) == ("one.yaml", 4, 14)
    assert Origins().mark(("anything",)) is None
    problem = merged.problem("bad", ("servers", "a", "image"))
    assert (problem.file, problem.line, problem.column) == ("two.yaml", 5, 12)


def test_problems_in_a_file_keep_their_places() -> None:
    source = parse("a: 1\na: 2\nb: !!set {x}\nc: [1, *nope]\n", "f.yaml")
    assert [(p.line, p.column) for p in source.problems] == [(4, 8)]  # the undefined alias
    source = parse("a: 1\na: 2\nb: !!binary aGk=\n", "f.yaml")
    found = sorted((p.line, p.column, p.message.split(" ")[0]) for p in source.problems)
    assert found == [(2, 1, "duplicate"), (3, 4, "unsupported")]


def test_the_type_check_names_the_first_bad_field_in_toolhive_order() -> None:
    good = {"name": "a", "port": 8080, "env_vars": {"K": "v"}, "unknown_key": [1, 2]}
    assert type_problem(good) is None
    # written in another order than ToolHive's fields: the message follows the fields'
    bad = {"env_vars": [], "port": "abc", "name": "a"}
    assert type_problem(bad) == "'port' is the string 'abc', not an integer"


def test_a_server_is_found_sorted_or_not() -> None:
    specs = [ServerSpec(name=n, image="img:1") for n in ("b", "a", "c")]
    unsorted = DesiredState(project="p", servers=tuple(specs))
    ordered = DesiredState(project="p", servers=tuple(sorted(specs, key=lambda s: s.name)))
    for state in (unsorted, ordered):
        assert [state.server(n).name for n in ("a", "b", "c")] == ["a", "b", "c"]
        assert state.find_server("zz") is None
        with pytest.raises(KeyError):
            state.server("zz")
