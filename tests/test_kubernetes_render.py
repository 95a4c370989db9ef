"""``thv render --target kubernetes``: the golden project, validity, stability, secrets, errors.

The golden project (``tests/golden/k8s/workloads.yaml``) has every transport, public and
private remote servers, groups, built-in, inline and file permission profiles, secrets from
variables and files, a name that must be mapped and a stopped server.  Every rendered
object is checked against our schema of the operator's CRDs (:mod:`tests.support.
operator_schema`).  Set ``THC_UPDATE_GOLDEN=1`` to rewrite the expected files.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.cli import Result, thv
from tests.support.operator_schema import problems
from toolhive_compose.targets.kubernetes.manifest import FILE_HEADER, parse, stream

GOLDEN = Path(__file__).parent / "golden" / "k8s"
CANARY = "canary-5f0c1e-never-printed"


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    return thv(capsys, "render", "-t", "kubernetes", *args)


@pytest.fixture
def golden(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.delenv("NOTES_TOKEN", raising=False)  # nothing secret is needed to render
    result = _render(capsys, "-f", str(GOLDEN / "workloads.yaml"), "-n", "team-tools")
    assert result.code == 0, result.err
    if os.environ.get("THC_UPDATE_GOLDEN") == "1":
        (GOLDEN / "expected.yaml").write_text(result.out)
        (GOLDEN / "expected.stderr").write_text(result.err)
    return result


def test_the_golden_project_renders_as_expected(golden: Result) -> None:
    assert golden.out == (GOLDEN / "expected.yaml").read_text()
    assert golden.err == (GOLDEN / "expected.stderr").read_text()


def test_every_rendered_object_is_valid_against_the_operator_schema(golden: Result) -> None:
    objects = parse(golden.out)
    assert [o["kind"] for o in objects].count("MCPServer") == 3
    assert {o["kind"] for o in objects} == {
        "MCPGroup", "ConfigMap", "MCPToolConfig", "MCPServer", "MCPRemoteProxy"
    }  # fmt: skip
    assert problems(objects) == []


def test_render_parse_render_is_stable(golden: Result, capsys: pytest.CaptureFixture[str]) -> None:
    objects = parse(golden.out)
    assert stream(objects) == golden.out
    again = _render(capsys, "-f", str(GOLDEN / "workloads.yaml"), "-n", "team-tools")
    assert again.out == golden.out


def test_what_the_cluster_cannot_mean_the_same_is_one_warning_line_each(golden: Result) -> None:
    lines = golden.err.splitlines()
    assert all(line.startswith("warning: servers.") for line in lines)
    fields = sorted(line.split(":")[1].strip() for line in lines)
    assert fields == sorted([
        "servers.Search_SSE.permission_profile", "servers.Search_SSE.state", "servers.fetch.port",
        "servers.fetch.permission_profile", "servers.notes.volumes",
        "servers.notes.permission_profile",
    ])  # fmt: skip


def test_strict_turns_the_warnings_into_one_error_and_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _render(capsys, "-f", str(GOLDEN / "workloads.yaml"), "--strict")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("error: --strict: 6 fields cannot mean the same on Kubernetes:")
    assert "  - servers.fetch.port: 18080 is a host port" in result.err
    assert "hint: without --strict" in result.err


def test_a_file_the_cluster_can_mean_exactly_passes_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "workloads.yaml"
    file.write_text("version: 1\nproject: p\nservers:\n  a: {image: img:1}\n")
    result = _render(capsys, "-f", str(file), "--strict")
    assert result.code == 0 and result.err == ""
    assert problems(parse(result.out)) == []


def test_secret_values_never_appear_only_where_they_come_from(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_home: Path,
) -> None:
    shutil.copytree(GOLDEN, tmp_path / "k8s")
    (tmp_path / "k8s" / "secrets").mkdir()
    (tmp_path / "k8s" / "secrets" / "github.pat").write_text(CANARY + "\n")
    monkeypatch.setenv("NOTES_TOKEN", CANARY)
    (tmp_path / "k8s" / ".env").write_text(f"NOTES_TOKEN={CANARY}\n")
    result = _render(capsys, "-f", str(tmp_path / "k8s" / "workloads.yaml"))
    assert result.code == 0
    assert CANARY not in result.out and CANARY not in result.err
    notes = next(o for o in parse(result.out) if o["metadata"]["name"] == "notes")
    assert notes["spec"]["secrets"] == [
        {"key": "NOTES_TOKEN", "name": "notes-token", "targetEnvName": "API_TOKEN"},
        {"key": "github.pat", "name": "github-pat", "targetEnvName": "GITHUB_TOKEN"},
    ]
    assert not list(isolated_home.glob("**/secret.key"))  # no digest key made either


def test_output_directory_one_file_per_object_and_stale_files_removed(
    golden: Result, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "manifests"
    out.mkdir()
    (out / "mcpserver-gone.yaml").write_text(FILE_HEADER + "---\n{}\n")  # an earlier render's
    (out / "secrets.yaml").write_text("kind: Secret\n")  # the user's own: kept
    args = ("-f", str(GOLDEN / "workloads.yaml"), "-n", "team-tools", "-o", str(out))
    result = _render(capsys, *args)
    assert result.code == 0 and result.out == ""
    assert "Wrote 12 file(s)" in result.err and "removed 1 it no longer renders" in result.err
    objects = parse(golden.out)
    expected = {f"{o['kind'].lower()}-{o['metadata']['name']}.yaml": o for o in objects}
    assert {p.name for p in out.iterdir()} == {*expected, "secrets.yaml"}
    for name, obj in expected.items():
        text = (out / name).read_text()
        assert text.startswith(FILE_HEADER)
        assert yaml.safe_load(text) == obj


def test_output_that_is_a_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "out").write_text("")
    result = _render(capsys, "-f", str(GOLDEN / "workloads.yaml"), "-o", str(tmp_path / "out"))
    assert result.code == 1 and "is not a directory" in result.err


def _bad(tmp_path: Path, servers: str) -> Path:
    file = tmp_path / "workloads.yaml"
    file.write_text(f"version: 1\nproject: p\nservers:\n{servers}")
    return file


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        (
            "  a: {image: i, volumes: ['./data:/data']}\n",
            "servers.a.volumes[0]: the host path ./data is relative to the workloads file",
        ),
        (
            "  a: {image: i, volumes: ['~/data:/data']}\n",
            "servers.a.volumes[0]: the host path ~/data is in this machine's home directory",
        ),
        (
            "  r: {url: 'http://localhost:8080/mcp'}\n",
            "servers.r.url: http://localhost:8080/mcp is a loopback, link-local or cluster-",
        ),
        (
            "  a:\n    image: i\n    secrets: {A: {env: TOKEN}, B: {env: TOKEN}}\n",
            "servers.a.secrets.B: takes its value from {env: TOKEN}, as secrets.A does",
        ),
        (
            '  a: {image: i, env: {TEXT: "two\\nlines"}}\n',
            "servers.a.env.TEXT: holds a line break",
        ),
    ],
)
def test_what_cannot_be_made_valid_is_an_error_naming_server_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], servers: str, expected: str
) -> None:
    result = _render(capsys, "-f", str(_bad(tmp_path, servers)))
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"error: {expected}"), result.err
    assert "hint: nothing was rendered" in result.err


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    servers = "  a: {image: i, volumes: ['./d:/d']}\n  r: {url: 'http://127.0.0.1:9/mcp'}\n"
    result = _render(capsys, "-f", str(_bad(tmp_path, servers)))
    assert result.code == 1 and result.out == ""
    assert "has 2 problems" in result.err
    assert "servers.a.volumes[0]" in result.err and "servers.r.url" in result.err


def test_two_servers_never_render_to_one_name(tmp_path: Path, capsys) -> None:
    # "Fetch" maps to fetch-<hash>; a server literally named so would take that name too
    from toolhive_compose.targets.kubernetes.names import object_name

    taken = object_name("Fetch", 50)
    servers = f"  Fetch: {{image: i}}\n  {taken}: {{image: i}}\n  fetch: {{image: i}}\n"
    result = _render(capsys, "-f", str(_bad(tmp_path, servers)))
    assert result.code == 1 and result.out == ""
    assert f"servers.{taken}: renders to the Kubernetes name {taken!r}, as server 'Fetch'" in (
        result.err
    )


def test_usage_errors_unknown_target_and_bad_namespace(capsys: pytest.CaptureFixture[str]):
    file = str(GOLDEN / "workloads.yaml")
    result = thv(capsys, "render", "-f", file, "--target", "nomad")
    assert result.code == 1 and result.out == ""
    assert "unknown target 'nomad'; the targets are: kubernetes (alias k8s)" in result.err
    for namespace in ("Team", "-team", "a" * 64, "team.tools"):
        result = thv(capsys, "render", "-f", file, "--target", "k8s", "-n", namespace)
        assert result.code == 1 and result.out == ""
        assert f"invalid namespace {namespace!r}" in result.err


def test_a_project_that_is_no_label_value_is_an_error(tmp_path: Path, capsys) -> None:
    file = tmp_path / "workloads.yaml"
    file.write_text("version: 1\nproject: team_\nservers:\n  a: {image: i}\n")
    result = _render(capsys, "-f", str(file))
    assert result.code == 1
    assert "error: project: 'team_' is not a valid Kubernetes label value" in result.err


def test_the_readme_creates_the_secrets_the_render_references(golden: Result) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    pattern = r"kubectl create secret generic (\S+) -n team --from-(?:literal|file)=([^=]+)="
    created = set(re.findall(pattern, readme))
    notes = next(o for o in parse(golden.out) if o["metadata"]["name"] == "notes")
    assert created == {(s["name"], s["key"]) for s in notes["spec"]["secrets"]}


def test_a_portable_load_reads_no_secret_and_keeps_host_paths(tmp_path: Path) -> None:
    from toolhive_compose.errors import SpecError
    from toolhive_compose.spec.loader import load

    file = tmp_path / "workloads.yaml"
    file.write_text(
        "version: 1\nproject: p\nlabels: {team: a}\nservers:\n  s:\n    image: i\n"
        "    secrets: {A: {env: UNSET_VAR}, B: {file: ./missing}}\n    volumes: ['./d:/d:ro']\n"
    )
    desired = load([file], environ={}, portable=True)
    (spec,) = desired.servers
    assert [(s.target, s.source, s.ref, s.digest) for s in spec.secrets] == [
        ("A", "env", "UNSET_VAR", ""), ("B", "file", "./missing", ""),
    ]  # fmt: skip
    assert spec.volumes == ("./d:/d:ro",)
    assert desired.labels == (("team", "a"),) and desired.secret_env == {}
    with pytest.raises(SpecError, match="UNSET_VAR is not set"):
        load([file], environ={})
