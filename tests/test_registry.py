"""Registries: the upstream format, name resolution, where the registry is, and `server:`."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolhive_compose.errors import SpecError
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.paths import Paths
from toolhive_compose.registry.client import ENV_VAR, choose, parse
from toolhive_compose.registry.client import load as load_registry
from toolhive_compose.registry.types import LEGACY_MESSAGE, RegistryError
from toolhive_compose.spec.loader import load
from toolhive_compose.spec.server_entries import registry_name, run_target_entry
from toolhive_compose.state.runconfig import build_runconfig

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "registry.json"


def server(name: str, image: str, **package: Any) -> dict[str, Any]:
    pkg = {"registryType": "oci", "identifier": image, **package}
    return {"name": name, "description": "x", "packages": [pkg]}


def registry_doc(*servers: dict[str, Any]) -> dict[str, Any]:
    return {"version": "1.0.0", "data": {"servers": list(servers)}}


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "state", tmp_path / "data", tmp_path / "cache")


# -- format -------------------------------------------------------------------------------
def test_example_registry_converts_like_toolhive() -> None:
    reg = load_registry(str(EXAMPLE))
    echo = reg.lookup("io.github.toolhive-compose/echo")
    assert echo.image == "thc-test/mcp-py:2"
    assert echo.transport == "streamable-http"
    assert echo.target_port == 8080  # the package transport URL's port
    assert echo.permissions == {
        "name": "network",
        "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}},
    }
    notes = reg.lookup("io.github.toolhive-compose/notes")
    assert [(v.name, v.required, v.secret) for v in notes.env_vars] == [("NOTES_TOKEN", True, True)]
    docs = reg.lookup("io.github.example/docs")
    assert docs.remote and docs.url == "https://mcp.example.com/mcp"


def test_args_env_and_extras() -> None:
    meta = {
        "io.modelcontextprotocol.registry/publisher-provided": {
            "io.github.stacklok": {
                "other": {"args": ["--ignored"]},
                "img:1": {"args": ["--from-meta"], "proxy_port": 9000},
            }
        }
    }
    runtime_args = [
        {"type": "named", "name": "-e", "value": "TOKEN={tok}", "variables": {
            "tok": {"isRequired": True, "isSecret": True}}},
        {"type": "named", "name": "--env", "value": "MODE=fast"},
    ]  # fmt: skip
    raw = {**server("a/b", "img:1", runtimeArguments=runtime_args), "_meta": meta}
    entry = parse(json.dumps(registry_doc(raw)).encode(), "mem").lookup("a/b")
    assert entry.args == ("--from-meta",)  # keyed by the image, not the first extension
    assert entry.proxy_port == 9000
    assert [(v.name, v.required, v.secret, v.default) for v in entry.env_vars] == [
        ("TOKEN", True, True, ""),
        ("MODE", False, False, "fast"),
    ]
    structured = server("c/d", "img:2", packageArguments=[
        {"type": "named", "name": "--port", "value": "8080"}, {"type": "positional", "value": "x"}
    ])  # fmt: skip
    assert parse(json.dumps(registry_doc(structured)).encode(), "m").lookup("d").args == (
        "--port", "8080", "x",
    )  # fmt: skip


def test_unusable_entries_say_why() -> None:
    two = {"name": "x/two", "packages": [
        {"registryType": "oci", "identifier": "a:1"}, {"registryType": "oci", "identifier": "b:1"}
    ]}  # fmt: skip
    npm = {"name": "x/npm", "packages": [{"registryType": "npm", "identifier": "pkg"}]}
    reg = parse(json.dumps(registry_doc(two, npm)).encode(), "m")
    assert "2 OCI packages" in reg.lookup("two").problem
    assert "no OCI package and no remote (found: npm)" in reg.lookup("npm").problem


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"servers": {"fetch": {}}}, LEGACY_MESSAGE),
        ({"version": "1"}, "has no 'data' object"),
        ({"data": {"servers": {}}}, "data.servers must be a list"),
        ({"data": {"servers": [{"name": ""}]}}, "must be an object with a 'name'"),
        ({"data": {"servers": [server("a", "i:1"), server("a", "i:2")]}}, "lists the server"),
        (
            {"data": {"servers": [server("a", "i:1", transport={"type": "carrier-pigeon"})]}},
            "unsupported transport 'carrier-pigeon'",
        ),
    ],
)
def test_malformed_registries(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse(json.dumps(doc).encode(), "reg.json")
    assert message in info.value.message
    if message == LEGACY_MESSAGE:
        assert "thv registry convert" in (info.value.hint or "")


def test_not_json() -> None:
    with pytest.raises(RegistryError, match="not valid JSON"):
        parse(b"{nope", "reg.json")


# -- names --------------------------------------------------------------------------------
def test_exact_then_unique_suffix_then_ambiguity() -> None:
    reg = parse(
        json.dumps(
            registry_doc(
                server("io.github.a/fetch", "a:1"),
                server("io.github.b/fetch", "b:1"),
                server("io.github.a/time", "t:1"),
                server("fetch", "plain:1"),
            )
        ).encode(),
        "m",
    )
    assert reg.lookup("fetch").image == "plain:1"  # exact wins
    assert reg.lookup("time").image == "t:1"  # unique suffix after '/'
    assert reg.find("a/time") is None  # a name with '/' must be exact
    assert reg.find("ime") is None
    del reg.entries["fetch"]  # type: ignore[attr-defined]
    with pytest.raises(RegistryError) as info:
        reg.find("fetch")
    assert "io.github.a/fetch, io.github.b/fetch" in info.value.message


# -- where ---------------------------------------------------------------------------------
def test_choose_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cfg" / "toolhive"
    config.mkdir(parents=True)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    assert choose(None, None, tmp_path, env) is None
    (config / "config.yaml").write_text("local_registry_path: reg.json\n")
    assert choose(None, None, tmp_path, env) == str(config / "reg.json")
    (config / "config.yaml").write_text(
        "local_registry_path: /x.json\nregistry_url: https://r.example/reg.json\n"
    )
    assert choose(None, None, tmp_path, env) == "https://r.example/reg.json"
    env[ENV_VAR] = "from-env.json"
    assert choose(None, None, tmp_path, env) == str(tmp_path / "from-env.json")
    assert choose(None, "./file.json", tmp_path / "sub", env) == str(tmp_path / "sub/file.json")
    assert choose("flag.json", "./file.json", tmp_path / "sub", env) == str(tmp_path / "flag.json")
    (config / "config.yaml").write_text("registry_api_url: https://api.example\n")
    del env[ENV_VAR]
    with pytest.raises(RegistryError, match="registry_api_url"):
        choose(None, None, tmp_path, env)


@pytest.fixture
def http_registry() -> Iterator[str]:
    body = EXAMPLE.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/registry.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_registry_over_http(http_registry: str) -> None:
    reg = load_registry(http_registry + "/registry.json")
    assert reg.lookup("echo").image == "thc-test/mcp-py:2"
    with pytest.raises(RegistryError, match="HTTP 404"):
        load_registry(http_registry + "/missing.json")


# -- server: in workloads files -------------------------------------------------------------
def workloads(tmp_path: Path, servers: str, registry: str = "registry.json") -> Path:
    (tmp_path / "registry.json").write_text(EXAMPLE.read_text())
    path = tmp_path / "workloads.yaml"
    top = f"registry: {registry}\n" if registry else ""
    path.write_text(f"version: 1\nproject: p\n{top}servers:\n{servers}")
    return path


def test_server_entry_fills_in_the_spec(tmp_path: Path, paths: Paths) -> None:
    path = workloads(tmp_path, "  echo:\n    server: echo\n  mine:\n    server: echo\n"
                     "    image: thc-test/mcp-py:1\n    transport: sse\n    target_port: 9000\n"
                     "    permission_profile: none\n    env: {SERVER_ID: mine}\n")  # fmt: skip
    state = load([path], environ={}, paths=paths)
    echo = state.server("echo")
    assert (echo.image, echo.transport, echo.target_port) == (
        "thc-test/mcp-py:2",
        "streamable-http",
        8080,
    )
    assert echo.env == (("SERVER_ID", "echo"),)  # a non-secret default
    assert echo.permission_profile == "inline" and '"network"' in echo.permission_profile_json
    assert echo.registry_server_name == "io.github.toolhive-compose/echo"
    assert echo.registry_url == str(tmp_path / "registry.json")
    mine = state.server("mine")  # everything the file sets wins
    assert (mine.image, mine.transport, mine.target_port) == ("thc-test/mcp-py:1", "sse", 9000)
    assert (mine.permission_profile, mine.env) == ("none", (("SERVER_ID", "mine"),))


def test_registry_fields_stay_out_of_the_hash(tmp_path: Path, paths: Paths) -> None:
    path = workloads(tmp_path, "  echo:\n    server: echo\n")
    spec = load([path], environ={}, paths=paths).server("echo")
    plain = spec.__class__(**{
        f: getattr(spec, f) for f in spec.__slots__ if not f.startswith("registry_")  # type: ignore[attr-defined]
    })  # fmt: skip
    assert canonical(plain) == canonical(spec)
    assert config_hash(canonical(plain)) == config_hash(canonical(spec))
    rc = build_runconfig(spec, port=1, target_port=8080, project="p", canon={}, config_hash="h")
    keys = list(rc)
    assert keys[:4] == ["schema_version", "image", "registry_url", "registry_server_name"]
    assert rc["registry_server_name"] == "io.github.toolhive-compose/echo"


def test_missing_required_env_is_one_problem_per_server(tmp_path: Path, paths: Paths) -> None:
    path = workloads(tmp_path, "  notes:\n    server: notes\n  ok:\n    server: notes\n"
                     "    secrets: {NOTES_TOKEN: {env: TOKEN}}\n")  # fmt: skip
    with pytest.raises(SpecError) as info:
        load([path], environ={"TOKEN": "t"}, paths=paths)
    problems = info.value.problems
    assert len(problems) == 1
    assert problems[0].line == 6 and problems[0].path == "servers.notes.server"
    assert "requires 1 environment variable(s)" in problems[0].message
    assert "NOTES_TOKEN (secret)" in problems[0].message
    path.write_text(path.read_text().replace("  notes:\n    server: notes\n", ""))
    ok = load([path], environ={"TOKEN": "t"}, paths=paths).server("ok")
    assert [s.target for s in ok.secrets] == ["NOTES_TOKEN"]


def test_resolution_problems(tmp_path: Path, paths: Paths) -> None:
    servers = "  aa:\n    server: nope\n  bb:\n    server: docs\n    image: x:1\n"
    path = workloads(tmp_path, servers + "  c:\n    server: echo\n    url: https://x/mcp\n")
    with pytest.raises(SpecError) as info:
        load([path], environ={}, paths=paths)
    text = str(info.value)
    assert "has no server named 'nope'" in text
    assert "is a remote server: 'image' cannot override it" in text
    assert "'server' and 'url' exclude each other" in text


def test_no_registry_is_a_clear_problem(tmp_path: Path, paths: Paths) -> None:
    path = workloads(tmp_path, "  aa:\n    server: echo\n", registry="")
    with pytest.raises(SpecError, match="needs a registry: pass --registry"):
        load([path], environ={"HOME": str(tmp_path)}, paths=paths)
    state = load([path], environ={}, paths=paths, registry=str(EXAMPLE))
    assert state.server("aa").registry_url == str(EXAMPLE)
    missing = workloads(tmp_path, "  aa:\n    server: echo\n", registry="nowhere.json")
    with pytest.raises(SpecError, match=r"cannot read the registry .*nowhere\.json"):
        load([missing], environ={}, paths=paths)


def test_remote_entry(tmp_path: Path, paths: Paths) -> None:
    path = workloads(tmp_path, "  docs:\n    server: docs\n")
    docs = load([path], environ={}, paths=paths).server("docs")
    assert docs.remote and docs.url == "https://mcp.example.com/mcp"
    assert docs.registry_server_name == "io.github.example/docs"


def test_run_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    entry = run_target_entry("echo", str(EXAMPLE))
    assert entry is not None and entry.name == "io.github.toolhive-compose/echo"
    assert run_target_entry("thc-test/mcp-py:1", str(EXAMPLE)) is None  # a tag: an image
    assert run_target_entry("unknown/image", str(EXAMPLE)) is None  # not found: an image
    assert run_target_entry("echo", None, {"HOME": str(tmp_path)}) is None  # no registry
    assert registry_name("io.github.x/fetch") == "io-github-x-fetch"
