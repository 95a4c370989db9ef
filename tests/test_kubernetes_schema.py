"""Our schema of the operator's CRDs catches what the API server and the operator refuse.

The render's tests trust :mod:`tests.support.operator_schema`; these make sure it is no
rubber stamp: each kind of violation the CRDs define (enum, required, minimum and maximum,
pattern, list-map keys, sets) and each dangling reference is reported.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.operator_schema import object_problems, problems, reference_problems

LABELS = {"app.kubernetes.io/managed-by": "toolhive-compose"}


def _server(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": "fetch", "labels": dict(LABELS)},
        "spec": {"image": "img:1", "groupRef": {"name": "dev"}, **spec},
    }


GROUP = {
    "apiVersion": "toolhive.stacklok.dev/v1beta1",
    "kind": "MCPGroup",
    "metadata": {"name": "dev", "labels": dict(LABELS)},
    "spec": {},
}


def test_a_valid_server_and_its_group_pass() -> None:
    assert problems([GROUP, _server(transport="stdio", proxyMode="sse", replicas=0)]) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"transport": "tcp"}, "'tcp' is not one of"),
        ({"proxyMode": "stdio"}, "'stdio' is not one of"),
        ({"proxyPort": 0}, "less than the minimum of 1"),
        ({"mcpPort": 65536}, "greater than the maximum of 65535"),
        ({"replicas": -1}, "less than the minimum of 0"),
        ({"image": None}, "None is not of type 'string'"),
        ({"env": [{"name": "A"}]}, "'value' is a required property"),
        ({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "share the map key"),
        ({"secrets": [{"name": "s", "key": "a"}, {"name": "s", "key": "b"}]}, "share the map key"),
        ({"secrets": [{"name": "S", "key": "a"}]}, "does not match"),
        ({"volumes": [{"name": "v", "hostPath": "./d", "mountPath": "/d"}]}, "does not match '^/'"),
        ({"permissionProfile": {"type": "configmap", "name": "p"}}, "'key' is a required"),
        ({"permissionProfile": {"type": "builtin", "name": "strict"}}, "is not one of"),
        ({"groupRef": {"name": ""}}, "should be non-empty"),
        ({"tools": ["a"]}, "Additional properties are not allowed ('tools'"),
    ],
)
def test_each_violation_is_reported(spec: dict[str, Any], expected: str) -> None:
    found = object_problems(_server(**spec))
    assert any(expected in p for p in found), found


def test_names_labels_and_the_applyset_label() -> None:
    server = _server()
    server["metadata"]["name"] = "x" * 51  # mcp-<name>-headless would pass 63
    assert any("is too long" in p for p in object_problems(server))
    server = _server()
    server["metadata"]["labels"]["team"] = "-bad-"
    assert any("metadata/labels/team" in p for p in object_problems(server))
    server = _server()
    server["metadata"]["labels"]["applyset.kubernetes.io/part-of"] = "applyset-x-v1"
    assert any("should not be valid" in p for p in object_problems(server))
    server = _server()
    del server["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert object_problems(server)


def test_remote_proxy_and_tool_config_rules() -> None:
    remote = copy.deepcopy(_server())
    remote["kind"] = "MCPRemoteProxy"
    remote["spec"] = {"remoteUrl": "ftp://x", "transport": "stdio"}
    found = object_problems(remote)
    assert any("does not match '^https?://'" in p for p in found)
    assert any("'stdio' is not one of" in p for p in found)
    tools = {**GROUP, "kind": "MCPToolConfig", "spec": {"toolsFilter": ["a", "a"]}}
    assert any("has non-unique elements" in p for p in object_problems(tools))


def test_dangling_references_and_duplicate_objects() -> None:
    profile = {"type": "configmap", "name": "fetch-permission-profile", "key": "profile.json"}
    server = _server(permissionProfile=profile, toolConfigRef={"name": "fetch"})
    found = reference_problems([server, server])
    assert any("two objects are" in p for p in found)
    assert any("groupRef names no MCPGroup 'dev'" in p for p in found)
    assert any("toolConfigRef names no MCPToolConfig 'fetch'" in p for p in found)
    assert any("no ConfigMap 'fetch-permission-profile'" in p for p in found)
