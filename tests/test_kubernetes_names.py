"""The Kubernetes render's rules: object names, Secret names and keys, remote URLs; and that
any desired state renders to valid objects or to an error, the same way every time."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.operator_schema import problems
from toolhive_compose.errors import SpecError
from toolhive_compose.model import BUILTIN_PROFILES, DesiredState, GroupSpec, SecretRef, ServerSpec
from toolhive_compose.targets.kubernetes.manifest import parse, stream
from toolhive_compose.targets.kubernetes.names import (
    REMOTE_LIMIT,
    SERVER_LIMIT,
    digest,
    is_label,
    object_name,
)
from toolhive_compose.targets.kubernetes.objects import Options, render
from toolhive_compose.targets.kubernetes.remote_url import host_of, reach
from toolhive_compose.targets.kubernetes.secret_refs import SecretKey, secret_keys


# -- object names ---------------------------------------------------------------------------
def test_a_dns_label_is_kept_and_anything_else_mapped_with_a_hash_suffix() -> None:
    assert object_name("fetch") == "fetch"
    assert object_name("My_Server") == f"my-server-{digest('My_Server')}"
    assert object_name("a.b") == f"a-b-{digest('a.b')}"
    assert object_name("___") == digest("___")
    assert object_name("-x-") == f"x-{digest('-x-')}"


def test_names_over_the_kind_limit_are_cut_and_suffixed() -> None:
    long = "s" * 60
    assert object_name(long, SERVER_LIMIT) == "s" * 43 + "-" + digest(long)
    assert len(object_name("r" * 47, REMOTE_LIMIT)) == REMOTE_LIMIT
    assert object_name("r" * 46, REMOTE_LIMIT) == "r" * 46


@given(st.text(alphabet="abcXYZ019._- ", min_size=1, max_size=100))
def test_every_mapped_name_is_a_label_within_the_limit(name: str) -> None:
    for limit in (SERVER_LIMIT, REMOTE_LIMIT, 63):
        mapped = object_name(name, limit)
        assert is_label(mapped, limit)
        assert (mapped == name) == is_label(name, limit)


def test_names_differing_only_in_case_or_punctuation_map_apart() -> None:
    names = ["Fetch", "FETCH", "fetch_", "fe.tch", "fe_tch", "fetch"]
    assert len({object_name(n) for n in names}) == len(names)


# -- Secret names and keys ------------------------------------------------------------------
def _ref(target: str, source: str, ref: str) -> SecretRef:
    return SecretRef(target=target, source=source, ref=ref, digest="")


def test_one_secret_per_source_named_after_it() -> None:
    keys = secret_keys([
        _ref("A", "env", "GH_TOKEN"), _ref("B", "env", "GH_TOKEN"),
        _ref("C", "file", "./secrets/api key.txt"), _ref("D", "toolhive", "github"),
    ])  # fmt: skip
    assert keys == {
        ("env", "GH_TOKEN"): SecretKey("gh-token", "GH_TOKEN"),
        ("file", "./secrets/api key.txt"): SecretKey("api-key-txt", "api_key.txt"),
        ("toolhive", "github"): SecretKey("github", "github"),
    }


def test_sources_that_meet_both_get_the_suffix_of_their_source() -> None:
    keys = secret_keys([_ref("A", "env", "TOKEN"), _ref("B", "file", "./token")])
    assert keys[("env", "TOKEN")] == SecretKey(f"token-{digest('env:TOKEN')}", "TOKEN")
    assert keys[("file", "./token")] == SecretKey(f"token-{digest('file:./token')}", "token")


# -- remote URLs (the operator's ValidateRemoteURL) -----------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mcp.example.com/mcp", "public"),
        ("http://user:pw@mcp.example.com:8443/x?y#z", "public"),
        ("http://mcp.team.svc:8080/mcp", "public"),
        ("http://localhost:8080/mcp", "refused"),
        ("http://LOCALHOST./mcp", "refused"),
        ("http://api.localhost/mcp", "refused"),
        ("http://127.0.0.2/mcp", "refused"),
        ("http://0.0.0.0:80/", "refused"),
        ("http://169.254.169.254/latest", "refused"),
        ("http://[::1]:8080/mcp", "refused"),
        ("http://[::ffff:127.0.0.1]/mcp", "refused"),
        ("http://[fe80::1]/mcp", "refused"),
        ("http://metadata.google.internal/", "refused"),
        ("http://kubernetes.default.svc.cluster.local/", "refused"),
        ("http://10.1.2.3/mcp", "private"),
        ("http://172.20.0.1/mcp", "private"),
        ("http://192.168.1.10:9000/sse", "private"),
        ("http://[fd00::5]/mcp", "private"),
        ("http://mcp.team.svc.cluster.local/mcp", "private"),
        ("http://172.32.0.1/mcp", "public"),
    ],
)
def test_remote_urls_are_judged_as_the_operator_judges_them(url: str, expected: str) -> None:
    assert reach(url) == expected


def test_host_of() -> None:
    assert host_of("http://[::1]:80/x") == "::1"
    assert host_of("https://a@b.example:1?q") == "b.example"


# -- any desired state: valid objects or an error, deterministically ------------------------
_NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}", fullmatch=True).filter(
    lambda n: ".." not in n
)
_ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
_GROUPS = st.sampled_from(["default", "dev", "ops tools"])
_PROFILES = st.sampled_from(["none", "network", "custom"])
_URLS = ["https://x.example/mcp", "http://10.0.0.1/mcp", "http://127.0.0.1/mcp"]


@st.composite
def _server(draw: st.DrawFn, name: str) -> ServerSpec:
    remote = draw(st.booleans())
    transport = draw(st.sampled_from(["sse", "streamable-http"] + ([] if remote else ["stdio"])))
    secrets = draw(st.dictionaries(_ENV, st.tuples(st.sampled_from(["env", "file"]), _ENV),
                                   max_size=3))  # fmt: skip
    profile = "network" if remote else draw(_PROFILES)
    profile_json = {"name": "x", "read": ["/etc"]} if profile == "custom" else (
        BUILTIN_PROFILES[profile][1])  # fmt: skip
    volumes = draw(st.lists(st.sampled_from(["/srv/a:/a", "/srv/b:/b:ro", "./c:/c"]),
                            max_size=2, unique=True))  # fmt: skip
    return ServerSpec(
        name=name,
        image="" if remote else "img:1",
        url=draw(st.sampled_from(_URLS)) if remote else "",
        transport=transport,
        target_port=None if transport == "stdio" else draw(st.none() | st.integers(1, 65535)),
        port=draw(st.none() | st.integers(1, 65535)),
        proxy_mode=draw(st.sampled_from(["sse", "streamable-http"])),
        args=tuple(draw(st.lists(st.text(max_size=5), max_size=2))),
        env=tuple(sorted(draw(st.dictionaries(_ENV, st.text(max_size=6), max_size=3)).items())),
        secrets=tuple(_ref(t, s, r) for t, (s, r) in sorted(secrets.items())),
        volumes=() if remote else tuple(volumes),
        labels=(("tier", draw(st.sampled_from(["core", "edge"]))),),
        group=draw(_GROUPS),
        permission_profile="/p.json" if profile == "custom" else profile,
        permission_profile_json=json.dumps(profile_json, sort_keys=True),
        state=draw(st.sampled_from(["running", "stopped"])),
    )


@st.composite
def _desired(draw: st.DrawFn) -> DesiredState:
    names = draw(st.lists(_NAME, min_size=1, max_size=4, unique=True))
    servers = tuple(draw(_server(n)) for n in sorted(names))
    groups = (GroupSpec(name="dev", description=draw(st.text(max_size=10))),
              GroupSpec(name="ops tools"))  # fmt: skip
    return DesiredState(project="team", servers=servers, groups=groups, labels=(("a", "b"),))


# what the generated states may get wrong: relative volumes, a loopback URL, one Secret for two
# variables, a line break in a value, two names meeting
_EXPECTED_ERROR = re.compile(
    r"the host path \./c is relative|is a loopback|takes its value from|holds a line break"
    r"|renders to the Kubernetes name"
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_desired(), st.sampled_from([None, "team"]))
def test_any_desired_state_renders_valid_objects_or_an_error(
    desired: DesiredState, namespace: str | None
) -> None:
    try:
        first = render(desired, Options(namespace=namespace))
    except SpecError as exc:
        assert exc.problems and all(_EXPECTED_ERROR.search(p.message) for p in exc.problems), exc
        return
    assert problems(first.objects) == []
    text = stream(first.objects)
    assert stream(parse(text)) == text
    assert render(desired, Options(namespace=namespace)) == first
