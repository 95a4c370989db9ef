"""Engine discovery: DOCKER_HOST, else the sockets ToolHive's thv finds, in its order."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolhive_compose.runtime.endpoint import DEFAULT, answers, candidates, engine_host


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    """A fake filesystem root, HOME, XDG_RUNTIME_DIR and TMPDIR (paths kept short: unix
    socket paths are limited to ~100 bytes)."""
    dirs = {k: tmp_path / k for k in ("root", "home", "run", "tmp")}
    for d in dirs.values():
        d.mkdir()
    return {k: str(v) for k, v in dirs.items()}


def env_of(tree: dict[str, str], **extra: str) -> dict[str, str]:
    return {"HOME": tree["home"], "XDG_RUNTIME_DIR": tree["run"], "TMPDIR": tree["tmp"], **extra}


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for s in made:
        s.close()


def listen(made: list[socket.socket], path: str, *, answer: bytes | None) -> str:
    """A unix socket at ``path``; ``answer``: what it replies to any request (None: it
    accepts and says nothing, like a hung engine)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    made.append(server)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                if answer is not None:
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return path


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


def test_docker_host_wins(tree: dict[str, str], sockets: list[socket.socket]) -> None:
    listen(sockets, f"{tree['run']}/podman/podman.sock", answer=OK)
    env = env_of(tree, DOCKER_HOST="tcp://10.0.0.5:2375", TOOLHIVE_PODMAN_SOCKET="/x.sock")
    assert engine_host(env, tree["root"]) == "tcp://10.0.0.5:2375"


def test_toolhive_socket_variables_come_next(tree: dict[str, str]) -> None:
    env = env_of(tree, TOOLHIVE_DOCKER_SOCKET="/srv/d.sock", TOOLHIVE_COLIMA_SOCKET="/c.sock")
    assert engine_host(env, tree["root"]) == "unix:///srv/d.sock"


def test_nothing_found_names_the_usual_socket(tree: dict[str, str]) -> None:
    assert engine_host(env_of(tree), tree["root"]) == DEFAULT


def test_rootless_podman_is_found(tree: dict[str, str], sockets: list[socket.socket]) -> None:
    path = listen(sockets, f"{tree['run']}/podman/podman.sock", answer=OK)
    assert engine_host(env_of(tree), tree["root"]) == f"unix://{path}"


def test_podman_before_docker_when_it_answers(
    tree: dict[str, str], sockets: list[socket.socket]
) -> None:
    podman = listen(sockets, f"{tree['root']}/var/run/podman/podman.sock", answer=OK)
    listen(sockets, f"{tree['root']}/var/run/docker.sock", answer=OK)
    assert engine_host(env_of(tree), tree["root"]) == f"unix://{podman}"


def test_a_socket_that_does_not_answer_is_passed_over(
    tree: dict[str, str], sockets: list[socket.socket]
) -> None:
    listen(sockets, f"{tree['root']}/var/run/podman/podman.sock", answer=b"")  # stale
    docker = listen(sockets, f"{tree['home']}/.docker/desktop/docker.sock", answer=OK)
    assert engine_host(env_of(tree), tree["root"]) == f"unix://{docker}"


def test_a_lone_socket_is_taken_without_a_ping(
    tree: dict[str, str], sockets: list[socket.socket]
) -> None:
    hung = listen(sockets, f"{tree['home']}/.colima/default/docker.sock", answer=None)
    assert engine_host(env_of(tree), tree["root"]) == f"unix://{hung}"


def test_a_plain_file_is_not_a_socket(tree: dict[str, str]) -> None:
    path = Path(tree["root"], "var/run/docker.sock")
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert engine_host(env_of(tree), tree["root"]) == DEFAULT


def test_candidates_follow_toolhive_order(tree: dict[str, str]) -> None:
    Path(tree["tmp"], "podman").mkdir()
    Path(tree["tmp"], "podman", "m1-api.sock").write_text("")
    found = [p.replace(tree["root"], "").replace(tree["home"], "~") for p in
             candidates(env_of(tree), tree["root"])]  # fmt: skip
    assert found == [
        "/var/run/podman/podman.sock",
        f"{tree['run']}/podman/podman.sock",
        "~/.local/share/containers/podman/machine/podman.sock",
        f"{tree['tmp']}/podman/m1-api.sock",
        "/var/run/docker.sock",
        "~/.docker/run/docker.sock",
        "~/.docker/desktop/docker.sock",
        "~/.rd/docker.sock",
        "~/.orbstack/run/docker.sock",
        "~/.colima/default/docker.sock",
    ]


def test_answers_needs_a_200(tree: dict[str, str], sockets: list[socket.socket]) -> None:
    good = listen(sockets, f"{tree['run']}/a.sock", answer=OK)
    bad = listen(sockets, f"{tree['run']}/b.sock", answer=b"HTTP/1.1 404 Not Found\r\n\r\n")
    assert answers(good) and not answers(bad) and not answers(f"{tree['run']}/none.sock")


@pytest.mark.docker
def test_this_machine_engine_is_found_and_answers() -> None:
    host = engine_host({"HOME": "/nonexistent"})
    assert host.startswith("unix://") and answers(host[len("unix://") :])
