"""Secrets are named in our run configs so that ToolHive's ``thv start`` finds them: through
its secrets provider, then the variable ``TOOLHIVE_SECRET_<name>`` (facts §3)."""

from __future__ import annotations

import pytest

from toolhive_compose.model import SecretRef, ServerSpec
from toolhive_compose.state.runconfig import build_runconfig, toolhive_secret_name


@pytest.mark.parametrize(
    ("server", "source", "ref", "target", "name"),
    [
        ("gh", "env", "TOOLHIVE_SECRET_github", "GITHUB_TOKEN", "github"),  # the same variable
        ("gh", "env", "TOOLHIVE_SECRET_github-token", "T", "github-token"),
        ("gh", "env", "GH_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"),
        ("my-fetch.v2", "file", "/run/secrets/token.txt", "API_KEY", "my_fetch_v2_API_KEY"),
    ],
)
def test_naming_rule(server: str, source: str, ref: str, target: str, name: str) -> None:
    assert toolhive_secret_name(server, source, ref, target) == name


def test_run_config_secret_references() -> None:
    spec = ServerSpec(
        name="gh",
        image="img:1",
        secrets=(
            SecretRef(target="A", source="env", ref="TOOLHIVE_SECRET_a", digest="d"),
            SecretRef(target="B", source="file", ref="/x/b", digest="d"),
        ),
    )
    rc = build_runconfig(spec, port=1, target_port=None, project="p", canon={}, config_hash="h")
    assert rc["secrets"] == ["a,target=A", "gh_B,target=B"]
