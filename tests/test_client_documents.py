"""Client files edited in place: an entry added then removed gives the text back byte for
byte, and everything around an edit (comments, order, indentation, trailing commas, line
endings, a BOM) stays as it was.  JSON with comments, YAML and TOML."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from toolhive_compose.clients import jsonc
from toolhive_compose.clients.catalog import CLIENTS
from toolhive_compose.clients.documents import DocumentError, open_document

ENTRY = {"url": "http://127.0.0.1:18080/mcp", "type": "http"}


def round_trip(client: str, text: str, entry: dict[str, Any]) -> str:
    """Add ``fetch``, check it reads back and that an update is stable, remove it; return the
    text with the entry in it."""
    doc = open_document(CLIENTS[client], text)
    created = doc.upsert("fetch", entry)
    written = doc.text
    again = open_document(CLIENTS[client], written)
    assert again.entry("fetch") == entry
    url = next(k for k in entry if k.lower().endswith(("url", "uri")))
    again.upsert("fetch", {**entry, url: "http://127.0.0.1:1/x"})
    assert again.entry("fetch")[url] == "http://127.0.0.1:1/x"
    again.upsert("fetch", entry)
    assert again.text == written
    again.remove("fetch", drop_key=created)
    assert again.text == text
    return written


# -- JSON with comments ------------------------------------------------------------------------
JSON_SHAPES = [
    '{\n  "mcpServers": {\n    "a": {"command": "x"}\n  }\n}\n',
    '{\n  "mcpServers": {\n    "a": 1 // note\n  }\n}\n',
    '{\n  "mcpServers": {\n    "a": 1,\n  },\n}\n',
    '{\r\n    "mcpServers": {\r\n        "a": 1\r\n    }\r\n}\r\n',
    '{\n\t"mcpServers": {\n\t\t"a": {"url": "u"}\n\t}\n}\n',
    '{"theme": "dark", "mcpServers": {"a": 1}}',
    '{"mcpServers": {"a": 1,}}',
    '{"theme": "dark", "mcpServers": {}}',
    '{\n  // nothing yet\n  "mcpServers": {\n    // later\n  }\n}\n',
    '{\n  "mcpServers": {}\n}',
    '{\n  "theme": "dark"\n}\n',
    "{}\n",
    '\ufeff{\n  "mcpServers": {\n    "a": 1\n  }\n}\n',
    '/* head */\n{\n  "x": "// not a comment, { nor a brace",\n  "y": "a \\"quoted\\" word"\n}\n',
]


@pytest.mark.parametrize("text", JSON_SHAPES)
def test_json_edits_are_undone_byte_for_byte(text: str) -> None:
    written = round_trip("cursor", text, ENTRY)
    assert text.lstrip("\ufeff")[:1] in written[:2]  # the BOM, if any, stays first
    assert written.startswith("\ufeff") == text.startswith("\ufeff")
    assert ("\r\n" in written) == ("\r\n" in text)


def test_json_entry_follows_the_file_layout() -> None:
    written = round_trip("cursor", JSON_SHAPES[4], ENTRY)
    tabbed = '\t\t"fetch": {\n\t\t\t"url": "http://127.0.0.1:18080/mcp",\n\t\t\t"type": "http"\n'
    assert tabbed in written
    written = round_trip("cursor", JSON_SHAPES[1], ENTRY)
    assert '"a": 1, // note\n    "fetch": {' in written  # the comment stays on its line
    assert round_trip("cursor", JSON_SHAPES[5], ENTRY) == (
        '{"theme": "dark", "mcpServers": {"a": 1, "fetch": '
        '{"url": "http://127.0.0.1:18080/mcp", "type": "http"}}}'
    )
    assert round_trip("cursor", JSON_SHAPES[10], ENTRY) == (
        '{\n  "theme": "dark",\n  "mcpServers": {\n    "fetch": {\n'
        '      "url": "http://127.0.0.1:18080/mcp",\n      "type": "http"\n    }\n  }\n}\n'
    )


def test_a_blank_json_file_gets_an_object() -> None:
    doc = open_document(CLIENTS["cursor"], "")
    assert doc.upsert("fetch", ENTRY) is True
    assert json.loads(doc.text) == {"mcpServers": {"fetch": ENTRY}}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"mcpServers": {', "is not valid JSON: line 1, column 17: unexpected end of the file"),
        ('{"a": 1 "b": 2}', "is not valid JSON: line 1, column 9: expected ',' or '}'"),
        ('{\n  "a": tru\n}', "is not valid JSON: line 2, column 8: unexpected character 't'"),
        ("[1, 2]", "is not a JSON object at the top level"),
        ('{"mcpServers": [1]}', "has 'mcpServers' that is not an object"),
        ('{"a": 1} {"b": 2}', "unexpected content after the end of the document"),
        ('{"a": "x\ny"}', "invalid string"),
        ("{/* open", "unterminated /* comment"),
    ],
)
def test_json_that_does_not_parse_says_where(text: str, says: str) -> None:
    with pytest.raises(DocumentError) as caught:
        open_document(CLIENTS["cursor"], text)
    assert says in str(caught.value)


def test_duplicate_json_keys_are_read_and_removed_as_json_reads_them() -> None:
    doc = open_document(CLIENTS["cursor"], '{"mcpServers": {"fetch": 1, "fetch": 2}}')
    assert doc.entry("fetch") == 2
    doc.remove("fetch")
    assert doc.text == '{"mcpServers": {}}'


_keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(_keys, _values, max_size=4),
    st.dictionaries(_keys.filter(lambda k: k != "fetch"), _values, max_size=3),
    st.sampled_from([None, 2, 4, "\t"]),
)
def test_any_json_file_gets_its_bytes_back(
    other: dict[str, Any], servers: dict[str, Any], indent: int | str | None
) -> None:
    other.pop("mcpServers", None)
    text = json.dumps({**other, "mcpServers": servers}, indent=indent, ensure_ascii=False)
    written = round_trip("cursor", text, ENTRY)
    assert json.loads(written)["mcpServers"] == {**servers, "fetch": ENTRY}
    assert jsonc.parse(written) is not None


# -- YAML --------------------------------------------------------------------------------------
GOOSE = {"name": "fetch", "uri": "http://127.0.0.1:18080/mcp", "type": "streamable_http",
         "enabled": True, "timeout": 60, "description": ""}  # fmt: skip
CONTINUE = {"name": "fetch", "url": "http://127.0.0.1:18080/mcp", "type": "streamable-http"}
YAML_SHAPES = [
    ("goose", "GOOSE_PROVIDER: openai  # mine\nextensions:\n  developer:\n    enabled: true\n"),
    (
        "goose",
        "extensions:\n  a:\n    note: |\n      one\n      two\n\n  # about b\n  b: 1\nx: 2\n",
    ),
    ("goose", "x: &anchor {a: 1}\nextensions:\n  dev: *anchor\n"),
    ("goose", "GOOSE_MODEL: x\n"),
    ("goose", ""),
    ("goose", "extensions: {}  # none yet\nGOOSE_MODEL: x\n"),
    ("goose", "extensions: {dev: {enabled: true}}\n"),
    ("goose", "extensions:\r\n  dev:\r\n    enabled: true\r\n"),
    ("continue", 'name: x\nmcpServers:\n  - name: SQLite\n    args:\n      - "-y"\n'),
    ("continue", "mcpServers:\n- name: a\n  command: x\nrules: []\n"),
    ("continue", "mcpServers: []\n"),
    ("continue", "mcpServers: [{name: a}]\n"),
]


@pytest.mark.parametrize(("client", "text"), YAML_SHAPES)
def test_yaml_edits_are_undone_byte_for_byte(client: str, text: str) -> None:
    entry = GOOSE if client == "goose" else CONTINUE
    written = round_trip(client, text, entry)
    data = yaml.safe_load(written)
    key = CLIENTS[client].servers_key
    found = data[key]["fetch"] if client == "goose" else data[key][-1]
    assert found == entry


def test_yaml_keeps_comments_and_the_file_indentation() -> None:
    written = round_trip("continue", YAML_SHAPES[8][1], CONTINUE)
    assert written.endswith(
        "  - name: fetch\n    url: 'http://127.0.0.1:18080/mcp'\n    type: streamable-http\n"
    )
    written = round_trip("goose", YAML_SHAPES[1][1], GOOSE)
    assert "  # about b\n  b: 1\n  fetch:\n    name: fetch\n" in written


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("extensions: [1]\n", "has 'extensions' that is not a mapping"),
        ("- a\n- b\n", "is not a mapping at the top level"),
        ("a: 1\n---\nb: 2\n", "holds several YAML documents, not one"),
        ("a: [1\n", "is not valid YAML: line 2, column 1"),
    ],
)
def test_yaml_that_cannot_be_used_says_why(text: str, says: str) -> None:
    with pytest.raises(DocumentError) as caught:
        open_document(CLIENTS["goose"], text)
    assert says in str(caught.value)


# -- TOML --------------------------------------------------------------------------------------
CODEX = {"url": "http://127.0.0.1:18080/mcp"}
VIBE = {"name": "fetch", "url": "http://127.0.0.1:18080/mcp", "transport": "streamable-http"}
TOML_SHAPES = [
    ("codex", '# Codex\nmodel = "o3"  # the model\n\n[mcp_servers.docs]\ncommand = "npx"\n\n'
              '[mcp_servers.docs.env]\nX = "1"\n\n# fast\n[profiles.fast]\nmodel = "m"\n'),
    ("codex", 'model = "o3"\n\n[profiles.fast]\nmodel = "x"\n'),
    ("codex", 'model = "o3"'),
    ("codex", ""),
    ("codex", "[mcp_servers]\n"),
    ("codex", "mcp_servers = {}\n"),
    ("codex", 'mcp_servers = { docs = { command = "x" } }  # inline\nmodel = "o3"\n'),
    ("codex", 'x = """\n[mcp_servers.fetch]\n"""\n'),
    ("mistral-vibe", 'active_model = "d"\n\n[[mcp_servers]]\nname = "a"   # mine\n'
                     'command = "x"\n\n[[models]]\nname = "m"\n'),
    ("mistral-vibe", 'active_model = "x"\n'),
]  # fmt: skip


@pytest.mark.parametrize(("client", "text"), TOML_SHAPES)
def test_toml_edits_are_undone_byte_for_byte(client: str, text: str) -> None:
    entry = CODEX if client == "codex" else VIBE
    written = round_trip(client, text, entry)
    data = tomllib.loads(written)["mcp_servers"]
    assert (data["fetch"] if client == "codex" else data[-1]) == entry


def test_toml_entry_is_a_table_of_its_own_after_the_others() -> None:
    written = round_trip("codex", TOML_SHAPES[0][1], CODEX)
    assert '[mcp_servers.docs.env]\nX = "1"\n\n[mcp_servers.fetch]\nurl = "http://127.0.0.1' \
        in written  # fmt: skip
    assert written.endswith('\n\n# fast\n[profiles.fast]\nmodel = "m"\n')


@pytest.mark.parametrize(
    ("client", "text", "says"),
    [
        ("codex", "mcp_servers = 3\n", "has 'mcp_servers' that is not a table"),
        ("mistral-vibe", "[mcp_servers]\na = 1\n", "has 'mcp_servers' that is not an array"),
        ("codex", "model = \n", "is not valid TOML"),
    ],
)
def test_toml_that_cannot_be_used_says_why(client: str, text: str, says: str) -> None:
    with pytest.raises(DocumentError) as caught:
        open_document(CLIENTS[client], text)
    assert says in str(caught.value)
