"""Which container engine to talk to: ``DOCKER_HOST``, else the one ToolHive would find.

``DOCKER_HOST`` wins when set (Docker's own convention; ``unix://``, ``tcp://``, ``ssh://``).
Without it, the sockets ToolHive's ``thv`` looks for, in its order, so that both tools
manage the same workloads on the same engine:

1. ``TOOLHIVE_PODMAN_SOCKET``, ``TOOLHIVE_DOCKER_SOCKET``, ``TOOLHIVE_COLIMA_SOCKET`` (a path);
2. Podman: ``/var/run/podman/podman.sock``, ``$XDG_RUNTIME_DIR/podman/podman.sock``,
   ``~/.local/share/containers/podman/machine/podman.sock``, ``$TMPDIR/podman/*-api.sock``;
3. Docker: ``/var/run/docker.sock``, then Docker Desktop (``~/.docker/run/docker.sock``,
   ``~/.docker/desktop/docker.sock``), Rancher Desktop (``~/.rd/docker.sock``) and OrbStack
   (``~/.orbstack/run/docker.sock``);
4. Colima: ``~/.colima/default/docker.sock``.

Of the sockets that exist, the first that answers ``/_ping`` is taken (the last one is taken
without asking: its errors then name it).  With none, ``unix:///var/run/docker.sock``, so
that the "cannot reach" message names the usual place.  Standard library only: the proxy
uses this too.
"""

from __future__ import annotations

import glob
import os
import socket
import stat
from collections.abc import Mapping

DEFAULT = "unix:///var/run/docker.sock"
SOCKET_ENV = ("TOOLHIVE_PODMAN_SOCKET", "TOOLHIVE_DOCKER_SOCKET", "TOOLHIVE_COLIMA_SOCKET")
PING_TIMEOUT = 1.0


def engine_host(environ: Mapping[str, str] | None = None, root: str = "/") -> str:
    """The engine endpoint (``unix:///…`` or whatever ``DOCKER_HOST`` says)."""
    env = os.environ if environ is None else environ
    explicit = env.get("DOCKER_HOST", "").strip()
    if explicit:
        return explicit
    for var in SOCKET_ENV:
        path = env.get(var, "").strip()
        if path:
            return f"unix://{path}"
    found = [path for path in candidates(env, root) if _is_socket(path)]
    for path in found[:-1]:
        if answers(path):
            return f"unix://{path}"
    return f"unix://{found[-1]}" if found else DEFAULT


def candidates(env: Mapping[str, str], root: str = "/") -> list[str]:
    """Every socket path ToolHive's discovery would try, in its order."""
    home = env.get("HOME", "")
    runtime_dir = env.get("XDG_RUNTIME_DIR", "")
    tmp = env.get("TMPDIR", "")
    system = os.path.join(root, "var", "run")
    paths = [os.path.join(system, "podman", "podman.sock")]
    if runtime_dir:
        paths.append(os.path.join(runtime_dir, "podman", "podman.sock"))
    if home:
        paths.append(os.path.join(home, ".local/share/containers/podman/machine/podman.sock"))
    if tmp:
        paths += sorted(glob.glob(os.path.join(tmp, "podman", "*-api.sock")))
    paths.append(os.path.join(system, "docker.sock"))
    if home:
        paths += [
            os.path.join(home, rel)
            for rel in (
                ".docker/run/docker.sock",
                ".docker/desktop/docker.sock",
                ".rd/docker.sock",
                ".orbstack/run/docker.sock",
                ".colima/default/docker.sock",
            )
        ]
    return paths


def answers(path: str, timeout: float = PING_TIMEOUT) -> bool:
    """The engine behind the unix socket ``path`` answers ``GET /_ping`` with 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.") and head[9:12] == b"200"


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
