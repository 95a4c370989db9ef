"""The JSON Schema itself, its location, error translation and the validation cache."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from toolhive_compose.spec import schema as schema_mod
from toolhive_compose.spec.schema import Issue, did_you_mean, schema_path, schema_text, validate

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "workloads.schema.json"


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def _subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _subschemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    document = _schema()
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"]


def test_every_property_has_a_description() -> None:
    missing = [
        f"{where}/properties/{name}"
        for where, node in _subschemas(_schema())
        if isinstance(node.get("properties"), dict)
        and not where.endswith("/properties")
        and "/then" not in where  # constraints on properties declared elsewhere
        and "/anyOf" not in where
        for name, prop in node["properties"].items()
        if "description" not in prop
    ]
    assert missing == []


def test_objects_do_not_allow_unknown_keys() -> None:
    open_objects = [
        where
        for where, node in _subschemas(_schema())
        if "properties" in node
        and node.get("additionalProperties") is not False
        and not where.endswith("/properties")
        and "/then" not in where
        and "/anyOf" not in where  # constraints on properties declared elsewhere
    ]
    assert open_objects == []


def test_schema_is_found_in_the_source_checkout() -> None:
    assert schema_path() == SCHEMA_FILE
    assert schema_text() == SCHEMA_FILE.read_text()


def _messages(document: dict[str, Any]) -> list[tuple[str, str, bool]]:
    issues = validate(document)
    return sorted((".".join(map(str, i.path)), i.message, i.at_key) for i in issues)


def test_valid_document_has_no_issues() -> None:
    document = {"version": 1, "servers": {"a": {"image": "x", "transport": "sse"}}}
    assert validate(document) == []
    assert validate({"version": "1", "servers": {"r": {"url": "https://x/mcp"}}}) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"version": 1, "servers": {"a": {"image": "x", "transprot": "sse"}}},
            ("servers.a.transprot", "unknown key 'transprot' (did you mean 'transport'?)", True),
        ),
        (
            {"version": 1, "services": {}},
            ("services", "unknown key 'services' (did you mean 'servers'?)", True),
        ),
        (
            {"version": 1, "servers": {"a": {"image": "x", "transport": "streamable_http"}}},
            (
                "servers.a.transport",
                "must be one of stdio, sse, streamable-http (did you mean 'streamable-http'?)",
                False,
            ),
        ),
        (
            {"version": 1, "servers": {"a": {"image": "x", "port": "80"}}},
            ("servers.a.port", "must be an integer, not a string", False),
        ),
        (
            {"version": 1, "servers": {"a": {"image": "x", "port": 0}}},
            ("servers.a.port", "must be at least 1", False),
        ),
        (
            {"version": 1, "servers": {"a": {"image": "x", "port": 70000}}},
            ("servers.a.port", "must be at most 65535", False),
        ),
        (
            {"version": 1, "servers": {"a": {"image": ""}}},
            ("servers.a.image", "must not be empty", False),
        ),
        (
            {"version": 1, "servers": {"a": {}}},
            (
                "servers.a",
                "a server needs 'image' (a container), 'server' (a registry entry) or 'url' "
                "(a remote server)",
                True,
            ),
        ),
        (
            {"version": 1, "servers": {"a": {"url": "https://x", "volumes": []}}},
            ("servers.a.volumes", "not allowed for a remote server (one with 'url')", True),
        ),
        (
            {"version": 1, "servers": {"a": {"url": "ftp://x"}}},
            ("servers.a.url", "must be an http:// or https:// URL", False),
        ),
        (
            {"version": 1, "servers": {"a b": {"image": "x"}}},
            (
                "servers.a b",
                "a server name starts with a letter or digit, may contain only letters, digits, "
                "'.', '_' and '-', and has at most 100 characters",
                True,
            ),
        ),
        (
            {"version": 1, "groups": {"dev  team": None}},
            (
                "groups.dev  team",
                "a group name may contain only lowercase letters, digits, '_', '-' and single "
                "spaces, and may not start or end with a space",
                True,
            ),
        ),
        ({"servers": {}}, ("", "missing required key 'version'", True)),
        ({"version": 2}, ("version", "must be 1 (the only format version)", False)),
        ([], ("", "must be a mapping, not a list", True)),
    ],
)
def test_translated_messages(document: Any, expected: tuple[str, str, bool]) -> None:
    assert _messages(document) == [expected]


def test_type_error_hides_other_errors_at_the_same_path() -> None:
    document = {"version": 1, "servers": {"a": {"image": "x", "secrets": {"T": "plain"}}}}
    assert _messages(document) == [
        ("servers.a.secrets.T", "must be a mapping, not a string", False)
    ]


def test_secret_needs_exactly_one_source() -> None:
    both = {"env": "A", "file": "b"}
    document = {"version": 1, "servers": {"a": {"image": "x", "secrets": {"T": both, "U": {}}}}}
    message = "a secret needs exactly one of 'env' or 'file'"
    assert _messages(document) == [
        ("servers.a.secrets.T", message, True),
        ("servers.a.secrets.U", message, True),
    ]


def test_many_problems_at_once() -> None:
    document = {
        "version": 1,
        "servers": {
            "a": {"image": "x", "state": "paused", "port": True},
            "b": {"url": "https://x", "transport": "stdio", "args": ["x"]},
        },
    }
    assert [path for path, _, _ in _messages(document)] == [
        "servers.a.port",
        "servers.a.state",
        "servers.b.args",
        "servers.b.transport",
    ]


def test_permission_profile_definition() -> None:
    profile = {"name": "p", "network": {"outbound": {"allow_port": [0]}, "mode": 1}, "x": 1}
    issues = validate(profile, definition="permissionProfile")
    assert sorted((i.path, i.message) for i in issues) == [
        (("network", "mode"), "must be a string, not an integer"),
        (("network", "outbound", "allow_port", 0), "must be at least 1"),
        (("x",), "unknown key 'x'"),
    ]


def test_did_you_mean() -> None:
    assert did_you_mean("imgae", ["image", "url"]) == " (did you mean 'image'?)"
    assert did_you_mean("zzz", ["image", "url"]) == ""
    assert did_you_mean(5, ["image"]) == ""


def test_cache_marker_skips_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"version": 1, "servers": {"a": {"image": "x"}}}
    assert validate(document, cache_dir=tmp_path) == []
    markers = list((tmp_path / "validated").iterdir())
    assert len(markers) == 1

    def explode(_definition: str | None) -> Any:
        raise AssertionError("jsonschema should not run for a cached document")

    monkeypatch.setattr(schema_mod, "_validator", explode)
    assert validate(document, cache_dir=tmp_path) == []
    with pytest.raises(AssertionError):
        validate({**document, "project": "other"}, cache_dir=tmp_path)


def test_invalid_documents_leave_no_marker(tmp_path: Path) -> None:
    assert validate({"version": 3}, cache_dir=tmp_path) == [
        Issue(("version",), "must be 1 (the only format version)", False, "enum")
    ]
    assert not (tmp_path / "validated").exists()


def test_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert validate({"version": 1}, cache_dir=blocker) == []


def test_importing_the_loader_does_not_import_jsonschema_or_difflib() -> None:
    code = (
        "import sys, toolhive_compose.spec.loader\n"
        "heavy = sorted(m for m in ('jsonschema', 'difflib') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
