"""The loader end to end: files → DesiredState, and every problem with its location.

``tests/specs/<case>/`` holds one scenario per directory: ``workloads.yaml`` (plus any files
it refers to), an optional ``case.yaml`` (``files``, ``env_files``, ``environ``, ``project``)
and ``expected.txt``: the problems, one per line, or for a valid case a summary of the
desired state.  ``<dir>`` stands for the case directory.  Run with ``THC_UPDATE_SPECS=1`` to
rewrite the expected files (then review the diff).
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolhive_compose.errors import Problem, SpecError, StateError
from toolhive_compose.model import DesiredState, SecretRef
from toolhive_compose.paths import Paths
from toolhive_compose.secrets import resolve_secret_value, secret_digest
from toolhive_compose.spec.loader import discover, load, resolve_document

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).resolve().parent / "specs"
CASES = sorted(p.name for p in SPECS.iterdir() if p.is_dir())
KEY = b"k" * 32
NETWORK = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'
NONE = '{"name":"none","network":{"inbound":{},"outbound":{}}}'


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    root = tmp_path / "xdg"
    return Paths(root / "state", root / "data", root / "cache")


def _with_key(paths: Paths) -> Paths:
    paths.ours.mkdir(parents=True)
    (paths.ours / "secret.key").write_bytes(KEY)
    return paths


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- fixture scenarios


def _summary(state: DesiredState) -> list[str]:
    lines = [f"project: {state.project}"]
    lines += [f"group {g.name}: {g.description}" for g in state.groups]
    for spec in state.servers:
        lines.append(f"server {spec.name}")
        for field, value in asdict(spec).items():
            if field != "name" and value not in ((), None, ""):
                lines.append(f"  {field}: {value}")
    return lines


def _run_case(case_dir: Path, paths: Paths) -> list[str]:
    options: dict[str, Any] = {}
    if (case_dir / "case.yaml").exists():
        options = yaml.safe_load((case_dir / "case.yaml").read_text())
    try:
        state = load(
            options.get("files", ["workloads.yaml"]),
            env_files=options.get("env_files", []),
            environ=options.get("environ", {}),
            project=options.get("project"),
            paths=paths,
        )
    except SpecError as exc:
        return [str(problem) for problem in exc.problems]
    return _summary(state)


@pytest.mark.parametrize("case", CASES)
def test_spec_case(case: str, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    case_dir = SPECS / case
    monkeypatch.chdir(case_dir)
    lines = _run_case(case_dir, _with_key(paths))
    actual = "".join(line.replace(str(case_dir), "<dir>") + "\n" for line in lines)
    expected = case_dir / "expected.txt"
    if os.environ.get("THC_UPDATE_SPECS"):
        expected.write_text(actual)
    assert actual == expected.read_text()
    assert case.startswith("good-") == actual.startswith("project: ")


def test_secret_values_never_appear_in_problems(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SPECS / "bad-secrets")
    with pytest.raises(SpecError) as info:
        load([], environ={"SET_TOKEN": "s3cr3t-v4lue"}, paths=paths)
    text = f"{info.value}\n{info.value.hint}\n" + "\n".join(map(repr, info.value.problems))
    assert "s3cr3t" not in text


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("name", ["minimal.yaml", "full.yaml", "demo.yaml"])
def test_examples_load_and_plan(name: str, paths: Paths) -> None:
    from toolhive_compose.model import ObservedState
    from toolhive_compose.plan.planner import make_plan

    example = ROOT / "examples" / name
    assert example.read_text().startswith(
        "# yaml-language-server: $schema=../schemas/workloads.schema.json\n"
    )
    state = load([example], environ={}, paths=paths)
    assert state.servers
    assert all(s.image.startswith("thc-test/") or s.url for s in state.servers)
    plan = make_plan(state, ObservedState())  # on an empty machine: no clash within the file
    assert {a.name for a in plan.actions} >= {s.name for s in state.servers}


def test_full_example_uses_every_field(paths: Paths) -> None:
    document = resolve_document([ROOT / "examples" / "full.yaml"], environ={})
    used = {key for server in document["servers"].values() for key in server}
    from toolhive_compose.spec.schema import schema

    assert used >= set(schema()["$defs"]["server"]["properties"])
    assert set(document) >= set(schema()["properties"])


# ---------------------------------------------------------------- defaults and normalisation


def test_defaults_are_filled_in(tmp_path: Path, paths: Paths) -> None:
    _write(tmp_path, "My Project!/workloads.yaml", "version: 1\nservers: {aa: {image: i}}\n")
    state = load([tmp_path / "My Project!" / "workloads.yaml"], environ={}, paths=paths)
    spec = state.server("aa")
    assert state.project == "myproject"
    assert (spec.transport, spec.proxy_mode, spec.port, spec.target_port) == (
        "stdio",
        "streamable-http",
        None,
        None,
    )
    assert (spec.group, spec.state, spec.permission_profile) == ("default", "running", "network")
    assert spec.permission_profile_json == NETWORK
    assert state.groups == ()
    assert state.files == (str(tmp_path / "My Project!" / "workloads.yaml"),)


def test_builtin_profiles_are_exact(tmp_path: Path, paths: Paths) -> None:
    text = "version: 1\nservers:\n" + "".join(
        f"  {name}: {{image: i, permission_profile: {name}}}\n"
        for name in ("none", "stdio", "network")
    )
    state = load([_write(tmp_path, "w.yaml", text)], environ={}, paths=paths)
    assert [(s.permission_profile, s.permission_profile_json) for s in state.servers] == [
        ("network", NETWORK),
        ("none", NONE),
        ("none", NONE),
    ]


def test_remote_defaults(tmp_path: Path, paths: Paths) -> None:
    text = "version: 1\nservers: {r: {url: 'https://x/mcp', transport: sse}}\n"
    spec = load([_write(tmp_path, "w.yaml", text)], environ={}, paths=paths).server("r")
    assert (spec.remote, spec.image, spec.transport, spec.proxy_mode) == (True, "", "sse", "sse")


def test_relative_paths_start_at_the_first_file(tmp_path: Path, paths: Paths) -> None:
    first = _write(tmp_path, "base/workloads.yaml", "version: 1\nservers: {aa: {image: i}}\n")
    _write(tmp_path, "base/p.json", '{"name": "p"}')
    _write(tmp_path, "base/token", "t\n")
    override = _write(
        tmp_path,
        "elsewhere/over.yaml",
        "servers:\n  aa:\n    volumes: ['./d:/d', '~/h:/h:ro']\n"
        "    permission_profile: ./p.json\n    secrets: {T: {file: token}}\n",
    )
    spec = load([first, override], environ={"HOME": "/home/u"}, paths=paths).server("aa")
    base = tmp_path / "base"
    assert spec.volumes == (f"{base}/d:/d", "/home/u/h:/h:ro")
    assert spec.permission_profile == str(base / "p.json")
    assert spec.permission_profile_json == '{"name":"p"}'
    assert spec.secrets[0].ref == str(base / "token")


# ---------------------------------------------------------------- files and variables


def test_default_file_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        discover([])
    assert info.value.problems == (
        Problem(
            f"no workloads file found in {tmp_path} (looked for workloads.yaml or workloads.yml)"
        ),
    )
    assert info.value.hint == "pass a file with -f FILE"
    _write(tmp_path, "workloads.yml", "")
    assert discover([]) == ["workloads.yml"]
    _write(tmp_path, "workloads.yaml", "")
    assert discover([]) == ["workloads.yaml"]


def test_load_without_files_reads_the_default(
    tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "proj/workloads.yaml", "version: 1\nservers: {aa: {image: i}}\n")
    monkeypatch.chdir(tmp_path / "proj")
    state = load([], environ={}, paths=paths)
    assert (state.project, state.files) == ("proj", (str(tmp_path / "proj" / "workloads.yaml"),))


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THC_TEST_TAG", "7")
    file = _write(tmp_path, "w.yaml", "version: 1\nservers: {aa: {image: 'i:${THC_TEST_TAG}'}}\n")
    assert load([file], paths=paths).server("aa").image == "i:7"


def test_interpolation_runs_per_file_before_merging(tmp_path: Path, paths: Paths) -> None:
    first = _write(tmp_path, "a.yaml", "version: 1\nservers: {s1: {image: '${IMG}'}}\n")
    second = _write(tmp_path, "b.yaml", "servers: {s1: {env: {X: '$$literal'}}}\n")
    state = load([first, second], environ={"IMG": "i:1"}, paths=paths)
    assert state.server("s1").env == (("X", "$literal"),)
    assert state.server("s1").image == "i:1"


def test_problem_locations_follow_the_file_that_supplied_the_value(
    tmp_path: Path, paths: Paths
) -> None:
    first = _write(tmp_path, "a.yaml", "version: 1\nservers:\n  s1:\n    image: i\n    port: 1\n")
    second = _write(tmp_path, "b.yaml", "servers:\n  s1:\n    port: high\n")
    with pytest.raises(SpecError) as info:
        load([first, second], environ={}, paths=paths)
    assert [str(p) for p in info.value.problems] == [
        f"{second}:3:11: servers.s1.port: must be an integer, not a string"
    ]


def test_resolve_document_is_merged_interpolated_and_validated(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", "version: 1\nservers: {s1: {image: i, args: [a, b]}}\n")
    second = _write(tmp_path, "b.yaml", "servers: {s1: {args: ['${X:-c}'], port: '${P}'}}\n")
    document = resolve_document([first, second], environ={"P": "9000"})
    expected = {"s1": {"image": "i", "args": ["c"], "port": 9000}}
    assert document == {"version": 1, "servers": expected}
    with pytest.raises(SpecError):
        resolve_document([first, second], environ={"P": "x"})


# ---------------------------------------------------------------- secrets


def test_secret_digests_and_the_key_file(tmp_path: Path, paths: Paths) -> None:
    _write(tmp_path, "token", "from-file\r\n")
    text = (
        "version: 1\nservers:\n  aa:\n    image: i\n"
        "    secrets: {B: {file: token}, A: {env: TOK}}\n"
    )
    file = _write(tmp_path, "w.yaml", text)
    state = load([file], environ={"TOK": "from-env"}, paths=paths)
    key_file = paths.ours / "secret.key"
    key = key_file.read_bytes()
    assert len(key) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.ours.stat().st_mode) == 0o700
    assert state.server("aa").secrets == (
        SecretRef(target="A", source="env", ref="TOK", digest=secret_digest(key, "from-env")),
        SecretRef(
            target="B",
            source="file",
            ref=str(tmp_path / "token"),
            digest=secret_digest(key, "from-file"),
        ),
    )
    again = load([file], environ={"TOK": "from-env"}, paths=paths)
    assert again == state
    rotated = load([file], environ={"TOK": "rotated"}, paths=paths)
    assert rotated.server("aa").secrets[0].digest != state.server("aa").secrets[0].digest


def test_the_key_is_not_created_without_secrets(tmp_path: Path, paths: Paths) -> None:
    load([_write(tmp_path, "w.yaml", "version: 1\nservers: {aa: {image: i}}\n")], paths=paths)
    assert not paths.ours.exists()


def test_a_damaged_key_is_a_state_error(tmp_path: Path, paths: Paths) -> None:
    paths.ours.mkdir(parents=True)
    (paths.ours / "secret.key").write_bytes(b"short")
    text = "version: 1\nservers: {aa: {image: i, secrets: {T: {env: T}}}}\n"
    with pytest.raises(StateError, match="damaged"):
        load([_write(tmp_path, "w.yaml", text)], environ={"T": "x"}, paths=paths)


def test_resolve_secret_value(tmp_path: Path) -> None:
    _write(tmp_path, "token", "value\n")
    from_file = SecretRef(target="T", source="file", ref=str(tmp_path / "token"), digest="")
    from_env = SecretRef(target="E", source="env", ref="VAR", digest="")
    assert resolve_secret_value(from_file) == "value"
    assert resolve_secret_value(from_env, {"VAR": "v"}) == "v"
    with pytest.raises(SpecError, match="secret 'E': environment variable VAR is not set"):
        resolve_secret_value(from_env, {})
    (tmp_path / "token").unlink()
    with pytest.raises(SpecError, match=r"secret 'T': cannot read .*token: No such file"):
        resolve_secret_value(from_file, {})


# ---------------------------------------------------------------- the validation cache


def test_validation_is_cached(tmp_path: Path, paths: Paths) -> None:
    file = _write(tmp_path, "w.yaml", "version: 1\nservers: {aa: {image: i}}\n")
    load([file], environ={}, paths=paths)
    assert len(list((paths.cache / "validated").iterdir())) == 1
    load([file], environ={}, paths=paths)
    assert len(list((paths.cache / "validated").iterdir())) == 1


def test_semantic_checks_run_even_when_the_schema_result_is_cached(
    tmp_path: Path, paths: Paths
) -> None:
    text = "version: 1\nservers: {aa: {image: i, secrets: {T: {env: T}}}}\n"
    file = _write(tmp_path, "w.yaml", text)
    load([file], environ={"T": "x"}, paths=paths)
    with pytest.raises(SpecError, match="environment variable T is not set"):
        load([file], environ={}, paths=paths)
