"""Compose-spec interpolation (strict about unset variables) and .env parsing."""

from __future__ import annotations

import pytest

from toolhive_compose.spec.interpolate import interpolate_tree, parse_env_file, substitute
from toolhive_compose.spec.schema import TYPE_CASTS
from toolhive_compose.spec.source import parse

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080", "B": "bee"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a-$SET-b", "a-value-b"),
        ("${SET}${SET}", "valuevalue"),
        ("$SET.txt", "value.txt"),
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("cost: $$5", "cost: $5"),
        ("${SET:-d}", "value"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${SET-d}", "value"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${UNSET:-}", ""),
        ("${UNSET-}", ""),
        ("${SET:?boom}", "value"),
        ("${EMPTY?boom}", ""),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${B}}", "bee"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a ${B} c}", "a bee c"),
        ("${SET:-${ALSO_UNSET}}", "value"),  # defaults are only expanded when used
        ("${UNSET:-{braces}}", "{braces}"),
        ("${UNSET:-a:b-c}", "a:b-c"),
        ("${UNSET:-$$}", "$"),
        ("http://localhost:${PORT}/mcp", "http://localhost:8080/mcp"),
        ("${_UNDER_9:-x}", "x"),
    ],
)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, ENV) == (expected, [])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("$UNSET", "variable UNSET is not set (set it, or give a default: ${UNSET:-default})"),
        ("${UNSET}", "variable UNSET is not set"),
        ("${UNSET:?give me a token}", "required variable UNSET is not set: give me a token"),
        ("${EMPTY:?must not be empty}", "required variable EMPTY is empty: must not be empty"),
        ("${UNSET?}", "required variable UNSET is not set"),
        ("${UNSET:?need ${B}}", "required variable UNSET is not set: need bee"),
        ("price 5$", "a '$' must start a variable; write '$$' for a literal dollar sign"),
        ("$1", "a '$' must start a variable"),
        ("${SET", "unterminated '${'"),
        ("${}", "invalid interpolation '${}': expected a variable name"),
        ("${1X}", "invalid interpolation '${1X}': expected a variable name"),
        ("${SET:x}", "invalid interpolation '${SET:x}'"),
        ("${SET*}", "invalid interpolation '${SET*}'"),
    ],
)
def test_substitute_problems(template: str, message: str) -> None:
    _, errors = substitute(template, ENV)
    assert len(errors) == 1
    assert errors[0].startswith(message)


def test_every_problem_of_a_string_is_reported() -> None:
    _, errors = substitute("${A} and ${B2} and $C", {})
    assert [e.split(" is ")[0] for e in errors] == ["variable A", "variable B2", "variable C"]


def test_tree_interpolates_values_not_keys_and_locates_problems() -> None:
    source = parse("version: 1\nservers:\n  ${KEY}:\n    image: $IMG\n    args: [$MISSING]\n", "f")
    data, problems = interpolate_tree(source.data, {"IMG": "img:1"}, source.origins)
    assert data == {"version": 1, "servers": {"${KEY}": {"image": "img:1", "args": [""]}}}
    assert [str(p) for p in problems] == [
        "f:5:12: servers.${KEY}.args[0]: variable MISSING is not set "
        "(set it, or give a default: ${MISSING:-default})"
    ]


def test_tree_casts_interpolated_ports_and_booleans_only() -> None:
    text = (
        "servers:\n  s:\n    port: ${P}\n    target_port: '${T:-bad}'\n"
        "    permission_profile:\n      privileged: ${PRIV:-false}\n"
        "      network: {outbound: {allow_port: ['${P}'], insecure_allow_all: '${X:-maybe}'}}\n"
        "    env: {N: $P}\n"
    )
    source = parse(text, "f")
    data, problems = interpolate_tree(source.data, {"P": "443"}, source.origins, TYPE_CASTS)
    server = data["servers"]["s"]
    assert problems == []
    assert server["port"] == 443
    assert server["target_port"] == "bad"  # left for the schema to reject
    assert server["permission_profile"]["privileged"] is False
    assert server["permission_profile"]["network"]["outbound"] == {
        "allow_port": [443],
        "insecure_allow_all": "maybe",
    }
    assert server["env"] == {"N": "443"}  # env values stay strings


def test_literal_strings_are_not_cast() -> None:
    source = parse("servers: {s: {port: '8080'}}", "f")
    data, _ = interpolate_tree(source.data, {}, source.origins, TYPE_CASTS)
    assert data["servers"]["s"]["port"] == "8080"


ENV_FILE = """\
# a comment
PLAIN=value
export EXPORTED=yes
SPACED = padded value
EMPTY=
INLINE=value # a comment
HASH=a#b
SINGLE='literal $HOME \\n'
DOUBLE="line\\nnext \\"quoted\\" \\\\ \\x"
MULTI="first
second"
  INDENTED=ok
SINGLE_COMMENT='x' # trailing comment
URL=https://example.com/?a=b&c=d
PLAIN=overridden
"""


def test_env_file_syntax() -> None:
    values, problems = parse_env_file(ENV_FILE, ".env")
    assert problems == []
    assert values == {
        "PLAIN": "overridden",
        "EXPORTED": "yes",
        "SPACED": "padded value",
        "EMPTY": "",
        "INLINE": "value",
        "HASH": "a#b",
        "SINGLE": "literal $HOME \\n",  # single quotes: no escapes, no expansion
        "DOUBLE": 'line\nnext "quoted" \\ \\x',
        "MULTI": "first\nsecond",
        "INDENTED": "ok",
        "SINGLE_COMMENT": "x",
        "URL": "https://example.com/?a=b&c=d",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("JUST_A_NAME\n", ".env:1:1: expected KEY=VALUE"),
        ("1BAD=x\n", ".env:1:1: expected KEY=VALUE"),
        ('OK=1\nQ="open\n', '.env:2:3: Q: unterminated " quote'),
        ("Q='a' b\n", ".env:1:3: Q: unexpected text after the closing quote"),
    ],
)
def test_env_file_problems(text: str, message: str) -> None:
    _, problems = parse_env_file(text, ".env")
    assert [str(p) for p in problems] == [message]
