"""Shared fixtures.

- ``isolated_home`` (autouse): HOME and the XDG base directories point at a fresh temporary
  directory, so no test reads or writes the real home.
- ``docker_client`` (session): a pinged ``docker.DockerClient``. An unreachable engine skips the
  test, or fails it when ``CI`` is set or ``THC_REQUIRE_DOCKER=1``. Tests marked ``docker`` get
  it automatically.
- ``test_project``: a unique project name (``t-<8 hex>``); everything labelled
  ``toolhive-compose.project=<name>`` is force-removed afterwards.

A suite started in the background of a non-interactive shell (``bash scripts/test.sh &``)
inherits SIGINT ignored, and so would every ``thv`` it starts, which then could not be
interrupted: the session gives SIGINT its default back first (a handled signal is reset to
the default in a child at exec).
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_LABEL = "toolhive-compose.project"


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_XDG_DIRS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
}


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh HOME, with XDG_CONFIG/CACHE/DATA/STATE_HOME at their default places inside it."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, rel in _XDG_DIRS.items():
        path = home / rel
        path.mkdir(parents=True)
        monkeypatch.setenv(var, str(path))
    return home


def _docker_required() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("THC_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    try:
        client = docker.DockerClient.from_env()
        client.ping()
    except Exception as exc:  # any failure to reach the engine
        message = f"Docker engine unreachable ({exc}); run scripts/ensure-docker.sh"
        if _docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _docker_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_client")


def remove_labelled(client: Any, label: str) -> None:
    """Force-remove the containers, then networks and volumes, carrying ``label`` (k=v)."""
    from docker.errors import APIError

    filters = {"label": label}
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(APIError):  # already gone, or being removed
            container.remove(force=True, v=True)
    for collection in (client.networks, client.volumes):
        for item in collection.list(filters=filters):
            with contextlib.suppress(APIError):
                item.remove()


@pytest.fixture
def test_project(docker_client: Any) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    yield name
    remove_labelled(docker_client, f"{PROJECT_LABEL}={name}")
