"""Names and references (spec/names.py): ToolHive's and the engine's rules, the distribution
reference grammar, and the same rules on the command line and in the library.

(The file:line of each refusal in a workloads file: tests/specs/bad-names.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import thv
from tests.support.fake_engine import FakeRuntime, install, toolhive_labels
from toolhive_compose import connect
from toolhive_compose.errors import ThvError
from toolhive_compose.model import ServerSpec
from toolhive_compose.paths import Paths
from toolhive_compose.spec.names import (
    SERVER_NAME_PATTERN,
    group_name_problem,
    image_problem,
    workload_name_problem,
)

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "workloads.schema.json"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "cannot be empty"),
        ("a\x00b", "NUL byte"),
        ("a/", "normalising"),
        ("./a", "normalising"),
        ("../a", "leaves its directory"),
        ("..a", "leaves its directory"),  # ToolHive's Rel check: ..foo starts with ..
        ("/abs", "leaves its directory"),
        ("a;b", "a shell would interpret"),
        ("a$(b", "a shell would interpret"),
        ("a`b", "a shell would interpret"),
        ("a|b", "a shell would interpret"),
        ("a b", "only letters, digits"),
        ("naïve", "only letters, digits"),
        ("n" * 101, "longer than 100"),
        ("-rf", "start with a letter or digit"),
        ("_x", "start with a letter or digit"),
        (".hidden", "start with a letter or digit"),
        ("x", "at least two characters"),
    ],
)
def test_bad_workload_names(name: str, says: str) -> None:
    problem = workload_name_problem(name)
    assert problem is not None and says in problem


@pytest.mark.parametrize("name", ["fetch", "a..b", "ok.name_1-2", "9lives", "n" * 100, "Up"])
def test_good_workload_names(name: str) -> None:
    assert workload_name_problem(name) is None


def test_remote_and_existing_names() -> None:
    assert workload_name_problem("x", container=False) is None  # no container to name
    assert workload_name_problem("_x", existing=True) is None  # ToolHive may have made it
    assert "'-'" in (workload_name_problem("-x", existing=True) or "")


def test_schema_pattern_mirrors_the_rule() -> None:
    schema = json.loads(SCHEMA.read_text())["$defs"]["serverName"]
    assert schema["pattern"] == SERVER_NAME_PATTERN and schema["maxLength"] == 100


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty or only whitespace"),
        ("   ", "empty or only whitespace"),
        ("a\x00", "NUL"),
        ("Dev", "lowercase"),
        ("dev!", "only lowercase letters"),
        (" dev", "start or end with whitespace"),
        ("dev ", "start or end with whitespace"),
        ("my  team", "two spaces in a row"),
    ],
)
def test_bad_group_names(name: str, says: str) -> None:
    problem = group_name_problem(name)
    assert problem is not None and says in problem


@pytest.mark.parametrize("name", ["dev", "my team", "-dashed_ok", "a1", "tab\tinside"])
def test_good_group_names(name: str) -> None:
    assert group_name_problem(name) is None  # toolhive-core's rules (Go's \s takes a tab)


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "ghcr.io/stacklok/toolhive/egress-proxy:latest",
        "localhost/fetch",
        "localhost:5000/team/fetch:v1.2.3",
        "127.0.0.1:5000/thc/echo:1.1.0",
        "[::1]:5000/team/fetch",
        "Registry.Example.com/team/fetch",  # the domain may have capitals
        "UPPER/fetch",  # a capital first component is taken for a domain, as the engine does
        "team/fe__tch-x.y",
        f"busybox@{DIGEST}",
        f"busybox:1.36@{DIGEST}",
        "0123456789abcdef" * 4,  # an image id
        DIGEST,  # a digest alone
        "busybox:" + "t" * 128,
    ],
)
def test_good_image_references(image: str) -> None:
    assert image_problem(image) is None


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("", "empty"),
        ("x:1; rm -rf /", "not [registry"),
        ("busybox:", "not [registry"),
        ("busybox:-x", "not [registry"),
        ("busybox:" + "t" * 129, "not [registry"),
        ("team//fetch", "not [registry"),
        ("team/fetch_", "not [registry"),
        ("ghcr.io/Team/fetch", "must be lowercase"),
        ("Busybox", "must be lowercase"),
        ("busybox@sha256:abc", "not [registry"),
        ("busybox@md5:" + "0" * 32, "unsupported digest algorithm"),
        ("busybox@sha256:" + "A" * 64, "lowercase hexadecimal"),
        ("r.io/" + "a" * 251, "longer than 255"),
    ],
)
def test_bad_image_references(image: str, says: str) -> None:
    problem = image_problem(image)
    assert problem is not None and says in problem


# -- the same rules on the command line and in the library -----------------------------------
@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    fake.add("fetch", **toolhive_labels("fetch", port=30111))
    return install(monkeypatch, fake)


@pytest.mark.parametrize("command", ["stop", "rm", "start", "restart", "status", "logs"])
def test_a_name_like_an_option_is_refused_in_one_sentence(
    engine: FakeRuntime, capsys: Any, command: str
) -> None:
    for args in ([command, "-rf"], [command, "--", "-rf"]):
        result = thv(capsys, *args)
        assert result.code == 1, (args, result)
        lines = result.err.splitlines()
        assert lines[0] == "error: invalid workload name '-rf': it starts with '-'", lines
        assert lines[1:] == [
            "hint: names start with a letter or digit; to pass an option, see the command's --help"
        ]
    assert engine.calls == []


def test_run_refuses_bad_names_and_images_before_anything(engine: FakeRuntime, capsys: Any) -> None:
    cases = [
        (["run", "thc-test/busybox:1", "--name", "-rf"], "must start with a letter or digit"),
        (["run", "thc-test/busybox:1", "--name", "a;b"], "a shell would interpret"),
        (["run", "x:1; rm -rf /"], "invalid image reference"),
        (["run", "x:1; rm -rf /", "--name", "ok1"], "invalid image reference"),
        (["run", "Busybox", "--name", "ok2"], "must be lowercase"),
    ]
    for args, says in cases:
        result = thv(capsys, *args)
        assert result.code == 1 and says in result.err.splitlines()[0], (args, result)
    assert engine.calls == []
    assert not Paths.from_env().runconfigs.exists()


def test_group_names_on_the_command_line_and_in_the_library(
    engine: FakeRuntime, capsys: Any
) -> None:
    result = thv(capsys, "group", "create", "Dev")
    assert (
        result.code == 1 and result.err == "error: invalid group name 'Dev': it must be lowercase\n"
    )
    assert thv(capsys, "group", "create", "-dashed").code == 0  # valid for toolhive-core
    with pytest.raises(ThvError, match="two spaces"):
        connect().groups.create("my  team")
    assert sorted(p.stem for p in Paths.from_env().groups.glob("*.json")) == ["-dashed"]


def test_library_refuses_bad_names(engine: FakeRuntime) -> None:
    api = connect()
    with pytest.raises(ThvError, match="at least two characters"):
        api.lifecycle.run(ServerSpec(name="x", image="thc-test/busybox:1"))
    with pytest.raises(ThvError, match="starts with '-'"):
        api.workloads.get("-rf")
    assert engine.calls == []
