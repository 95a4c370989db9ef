"""Whatever the input, ``load`` returns a DesiredState or raises SpecError: nothing else.

Hypothesis feeds raw bytes, arbitrary YAML text, mutated copies of the full example, random
documents built from the format's own vocabulary, and random env files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolhive_compose.errors import SpecError
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import PROXY_MODES, TRANSPORTS, DesiredState
from toolhive_compose.paths import Paths
from toolhive_compose.spec.loader import load

ROOT = Path(__file__).resolve().parent.parent
FULL_EXAMPLE = (ROOT / "examples" / "full.yaml").read_text()
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ENVIRON = {"A": "a", "EMPTY": "", "PORT": "8080", "HOME": "/nonexistent-home"}

SERVER_KEYS = [
    "image", "url", "transport", "target_port", "port", "proxy_mode", "args", "env",
    "secrets", "volumes", "labels", "group", "permission_profile", "state",
]  # fmt: skip
OTHER_KEYS = [
    "version", "project", "labels", "groups", "servers", "description", "env", "file",
    "name", "read", "write", "network", "privileged", "outbound", "inbound", "allow_host",
    "allow_port", "insecure_allow_all", "mode", "x-ext", "<<", "fetch", "dev", "default",
    "toolhive", "toolhive-name", "TOKEN", "a/b", "",
]  # fmt: skip
WORDS = [
    "stdio", "sse", "streamable-http", "streamable_http", "running", "stopped", "none",
    "network", "1", "./x:/y", "./x:/y:ro", "x:y:z:w", "/abs", "${A}", "${B:-d}", "${B}",
    "${EMPTY:?no}", "$$", "$", "${", "https://x/mcp", "thc-test/mcp-py:1", "dev", "default",
    "./profile.json", "./secret", ".", "..", "~/x", "", " ", "Dev Group", "0", "-1",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70_000),
    st.integers(),
    st.floats(),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(SERVER_KEYS + OTHER_KEYS), st.text(max_size=8))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)
servers = st.dictionaries(st.sampled_from(SERVER_KEYS), st.one_of(scalars, trees), max_size=8)
documents = st.fixed_dictionaries(
    {"version": st.sampled_from([1, "1", 1.0, 2, None])},
    optional={
        "project": scalars,
        "labels": st.one_of(st.dictionaries(keys, scalars, max_size=3), trees),
        "groups": st.one_of(st.dictionaries(keys, st.one_of(st.none(), trees), max_size=3)),
        "servers": st.dictionaries(st.one_of(st.sampled_from(WORDS), keys), servers, max_size=4),
        "x-ext": trees,
    },
)

# Servers that are valid more often than not, so that building the state gets exercised.
_env_names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,5}", fullmatch=True)
_plain = st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.floats(allow_nan=False))
_label_values = st.one_of(st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True), st.integers(0, 99))
_COMMON = {
    "port": st.integers(1, 65_535),
    "env": st.dictionaries(_env_names, _plain, max_size=3),
    "secrets": st.dictionaries(
        _env_names, st.sampled_from([{"env": "A"}, {"env": "EMPTY"}, {"file": "./secret"}])
    ),
    "labels": st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), _label_values),
    "group": st.sampled_from(["default", "dev"]),
    "state": st.sampled_from(["running", "stopped"]),
}
_VOLUMES = ["./x:/y", "/a:/b:ro", "~/h:/h:rw", "r:/c"]
_PROFILES = [
    "none", "network", "stdio", "./profile.json", {"name": "x", "read": ["/a"]},
    {"network": {"outbound": {"allow_port": [443], "insecure_allow_all": True}}},
]  # fmt: skip
container_servers = st.fixed_dictionaries(
    {"image": st.just("thc-test/mcp-py:1")},
    optional={
        **_COMMON,
        "transport": st.sampled_from(["stdio", "sse", "streamable-http"]),
        "target_port": st.integers(1, 65_535),
        "proxy_mode": st.sampled_from(["sse", "streamable-http"]),
        "args": st.lists(_plain, max_size=3),
        "volumes": st.lists(st.sampled_from(_VOLUMES), max_size=3),
        "permission_profile": st.sampled_from(_PROFILES),
    },
)
remote_servers = st.fixed_dictionaries(
    {"url": st.sampled_from(["https://x/mcp", "http://127.0.0.1:9/sse"])},
    optional={**_COMMON, "transport": st.sampled_from(["sse", "streamable-http"])},
)
nearly_valid = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "groups": st.just({"dev": None}),
        "servers": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
            st.one_of(container_servers, remote_servers),
            max_size=4,
        ),
    },
    optional={"labels": _COMMON["labels"], "project": st.just("fuzz")},
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "profile.json").write_text('{"name": "p", "network": {"mode": "bridge"}}')
        (root / "secret").write_text("value\n")
        yield root


def _load(workdir: Path, *texts: str | bytes, env_text: str | None = None) -> bool:
    """Load the given file contents; only SpecError may escape, and it must be well formed."""
    files = []
    for index, text in enumerate(texts):
        path = workdir / f"w{index}.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "replace"))
        files.append(path)
    env_files = []
    if env_text is not None:
        (workdir / "x.env").write_text(env_text, encoding="utf-8", errors="replace")
        env_files.append(workdir / "x.env")
    paths = Paths(workdir / "state", workdir / "data", workdir / "cache")
    try:
        state = load(files, env_files=env_files, environ=ENVIRON, paths=paths)
    except SpecError as exc:
        _check_error(exc)
        return False
    _check_state(state)
    assert load(files, env_files=env_files, environ=ENVIRON, paths=paths) == state
    return True


def _check_state(state: DesiredState) -> None:
    """A loaded state is well typed and hashable into a config hash."""
    assert isinstance(state, DesiredState)
    for spec in state.servers:
        for port in (spec.port, spec.target_port):
            assert port is None or (type(port) is int and 1 <= port <= 65535)
        for pairs in (spec.env, spec.labels):
            assert all(type(k) is str and type(v) is str for k, v in pairs)
        assert all(type(arg) is str for arg in spec.args)
        assert spec.transport in TRANSPORTS
        assert spec.proxy_mode in PROXY_MODES
        assert config_hash(canonical(spec)).startswith("sha256:")


def _check_error(exc: SpecError) -> None:
    assert exc.problems
    assert str(exc)
    for problem in exc.problems:
        assert problem.message
        assert problem.line is None or problem.line >= 1
        assert problem.column is None or problem.column >= 1


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@SETTINGS
@given(st.binary(max_size=300))
def test_raw_bytes(workdir: Path, data: bytes) -> None:
    _load(workdir, data)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t[]{},&*!|>'\"#%@`$?<")), max_size=80))
def test_yaml_punctuation(workdir: Path, text: str) -> None:
    _load(workdir, text)


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text(workdir: Path, text: str) -> None:
    _load(workdir, text)


@SETTINGS
@given(trees)
def test_arbitrary_yaml_values(workdir: Path, tree: Any) -> None:
    _load(workdir, _dump(tree))


@SETTINGS
@given(documents)
def test_documents_from_the_format_vocabulary(workdir: Path, document: dict[str, Any]) -> None:
    _load(workdir, _dump(document))


@SETTINGS
@given(nearly_valid)
def test_nearly_valid_documents(workdir: Path, document: dict[str, Any]) -> None:
    _load(workdir, _dump(document))


@SETTINGS
@given(documents, documents)
def test_two_files_merged(workdir: Path, first: dict[str, Any], second: dict[str, Any]) -> None:
    second.pop("version", None)
    _load(workdir, _dump(first), _dump(second))


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(FULL_EXAMPLE)),
            st.integers(0, 8),
            st.text(alphabet=st.sampled_from(list(":-[]{}&*!|'\"# \n$")), max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_full_example(workdir: Path, edits: list[tuple[int, int, str]]) -> None:
    text = FULL_EXAMPLE
    for start, length, insert in edits:
        text = text[:start] + insert + text[start + length :]
    for name in ("profiles", "secrets"):
        source = ROOT / "examples" / name
        target = workdir / name
        target.mkdir(exist_ok=True)
        for file in source.iterdir():
            (target / file.name).write_bytes(file.read_bytes())
    _load(workdir, text)


@SETTINGS
@given(st.text(max_size=120))
def test_env_files(workdir: Path, env_text: str) -> None:
    _load(
        workdir,
        "version: 1\nservers: {a: {image: 'i:${TAG:-1}', env: {X: $A}}}\n",
        env_text=env_text,
    )
