"""A real OCI registry on 127.0.0.1:5000 for upgrade tests: Debian's ``docker-registry``.

:func:`ensure_registry` makes one answer (installing the package with apt-get when the binary
is missing, then starting it with storage in a temporary directory) and returns a handle whose
``stop()`` ends it again if this process started it.  :func:`push` tags a local image into it
and pushes; the local registry tag is removed afterwards, so the engine must really pull it.
Docker treats registries on 127.0.0.0/8 as insecure by default: no TLS set-up is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1:5000"
BINARY = "docker-registry"
CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}
"""


class Unavailable(Exception):
    """No registry could be had; ``str()`` says why."""


@dataclass
class LocalRegistry:
    host: str
    process: subprocess.Popen[bytes] | None = None
    workdir: str = ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def answers(host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ensure_registry(host: str = HOST, storage: Path | None = None) -> LocalRegistry:
    """A registry answering at ``host``; raises :class:`Unavailable` when none can be had.

    ``storage`` (default: a temporary directory) keeps the blobs: a cache directory there
    makes the pushes of a later run nearly free.
    """
    if answers(host):
        return LocalRegistry(host)
    binary = shutil.which(BINARY) or _install()
    workdir = tempfile.mkdtemp(prefix="thc-registry-")
    config = Path(workdir) / "config.yml"
    root = storage or Path(workdir) / "data"
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG.format(root=root, host=host))
    log = open(Path(workdir) / "registry.log", "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    registry = LocalRegistry(host, process, workdir)
    deadline = time.monotonic() + 20
    while not answers(host):
        if process.poll() is not None or time.monotonic() > deadline:
            output = (Path(workdir) / "registry.log").read_text(errors="replace")[-2000:]
            registry.stop()
            raise Unavailable(f"{BINARY} did not start on {host}:\n{output}")
        time.sleep(0.1)
    return registry


def _install() -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", BINARY]):
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{' '.join(command)} failed: {exc}") from None
        if result.returncode != 0:
            raise Unavailable(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    binary = shutil.which(BINARY)
    if binary is None:
        raise Unavailable(f"apt-get installed {BINARY} but the binary is not on PATH")
    return binary


def push(client: Any, source: str, target: str) -> None:
    """Push local image ``source`` as ``target`` (``host/repo:tag``), then drop the local tag."""
    repository, tag = target.rsplit(":", 1)
    client.images.get(source).tag(repository, tag)
    try:
        for line in client.images.push(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(f"pushing {target} failed: {line['error']}")
    finally:
        with contextlib.suppress(Exception):
            client.images.remove(target, noprune=True)


def remove_local(client: Any, image: str) -> None:
    """Forget a pulled registry tag locally, so the next use pulls it again."""
    with contextlib.suppress(Exception):
        client.images.remove(image, noprune=True)
