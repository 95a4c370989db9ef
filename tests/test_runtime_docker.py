"""The Docker runtime: the lean Engine API client and the docker SDK make the same
containers and say the same things when something is wrong (real engine)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PROJECT_LABEL
from toolhive_compose.errors import EngineError
from toolhive_compose.runtime import ContainerParams, Mount
from toolhive_compose.runtime.docker import DockerRuntime

pytestmark = pytest.mark.docker
IMAGE = "thc-test/busybox:1"
MISSING_ID = "0" * 64


@pytest.fixture(params=["lean", "sdk"])
def runtime(request: pytest.FixtureRequest) -> DockerRuntime:
    rt = DockerRuntime.from_env()
    if request.param == "sdk":
        rt.lean = False  # TLS and ssh endpoints take this path
    return rt


def _params(name: str, project: str) -> ContainerParams:
    return ContainerParams(
        name=name,
        image=IMAGE,
        command=("sleep", "3600"),
        env={"A": "1", "B": "x=y"},
        labels={PROJECT_LABEL: project, "toolhive": "true"},
        mounts=(Mount("/tmp", "/data", read_only=True),),
        network_mode="bridge",
        publish=((8080, 18080),),
        attach_stdio=True,
    )


def _essentials(attrs: dict[str, Any]) -> dict[str, Any]:
    config, host = attrs["Config"], attrs["HostConfig"]
    return {
        "image": config["Image"],
        "cmd": config["Cmd"],
        "env": sorted(e for e in config["Env"] if e[:2] in ("A=", "B=")),
        "labels": config["Labels"],
        "open_stdin": config["OpenStdin"],
        "stdin_once": config["StdinOnce"],
        "tty": config["Tty"],
        "attach": [config[k] for k in ("AttachStdin", "AttachStdout", "AttachStderr")],
        "exposed": config.get("ExposedPorts"),
        "mounts": host["Mounts"],
        "ports": host["PortBindings"],
        "network": host["NetworkMode"],
        "cap_drop": host["CapDrop"],
        "security": host["SecurityOpt"],
        "restart": host["RestartPolicy"]["Name"],
        "privileged": host["Privileged"],
    }


def test_lean_and_sdk_create_the_same_container(docker_client: Any, test_project: str) -> None:
    lean, sdk = DockerRuntime.from_env(), DockerRuntime.from_env()
    assert lean.lean, "these tests run on a unix:// engine"
    sdk.lean = False
    made = {
        kind: rt.create(_params(f"{test_project}-{kind}", test_project))
        for kind, rt in (("lean", lean), ("sdk", sdk))
    }
    seen = {k: _essentials(docker_client.api.inspect_container(cid)) for k, cid in made.items()}
    assert seen["lean"] == seen["sdk"]
    assert seen["lean"]["ports"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert seen["lean"]["attach"] == [True, True, True] and seen["lean"]["open_stdin"]
    assert seen["lean"]["mounts"] == [
        {"Type": "bind", "Source": "/tmp", "Target": "/data", "ReadOnly": True}
    ]
    assert seen["lean"]["stdin_once"] is False and seen["lean"]["cap_drop"] == ["ALL"]


def test_start_stop_remove_and_image_checks(
    runtime: DockerRuntime, docker_client: Any, test_project: str
) -> None:
    assert runtime.image_present(IMAGE)
    assert runtime.image_id(IMAGE).startswith("sha256:")
    assert not runtime.image_present("thc-test/no-such-image:0")
    assert runtime.image_id("thc-test/no-such-image:0") == ""
    cid = runtime.create(_params(f"{test_project}-run", test_project))
    runtime.start(cid)
    runtime.start(cid)  # already running: not an error
    assert docker_client.api.inspect_container(cid)["State"]["Running"]
    runtime.stop(cid, timeout=0)
    assert not docker_client.api.inspect_container(cid)["State"]["Running"]
    runtime.remove(cid)
    assert not docker_client.containers.list(all=True, filters={"id": cid})
    runtime.remove(cid)  # already gone: not an error
    runtime.stop(cid)


def test_errors_are_one_sentence(runtime: DockerRuntime, test_project: str) -> None:
    name = f"{test_project}-err"
    with pytest.raises(EngineError, match=rf"^cannot create container {name}: no such image"):
        runtime.create(ContainerParams(name=name, image="thc-test/no-such-image:0"))
    runtime.create(_params(name, test_project))
    with pytest.raises(EngineError, match=rf"^cannot create container {name}: conflict"):
        runtime.create(_params(name, test_project))
    with pytest.raises(EngineError, match=r"^cannot start container 000000000000: no such"):
        runtime.start(MISSING_ID)
