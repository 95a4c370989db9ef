"""A machine for MCP client tests without an engine: a temporary HOME holding real-shaped
configuration files of every supported client (``tests/fixtures/clients/``), and servers that
already run in sync on a fake engine, so that a plan holds only client actions.

``Machine.thv(...)`` runs the real ``thv`` in-process against it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import Result, thv
from tests.support.fake_engine import FakeRuntime, install, this_process_is_a_proxy
from toolhive_compose.clients import jsonc
from toolhive_compose.clients.catalog import CLIENT_NAMES, CLIENTS, config_path, install_marker
from toolhive_compose.clients.documents import open_document
from toolhive_compose.fingerprint import canonical, config_hash
from toolhive_compose.model import ServerSpec
from toolhive_compose.spec.loader import load
from toolhive_compose.state import Store, group_document
from toolhive_compose.state.runconfig import build_runconfig, container_labels

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clients"
EXTENSIONS = {"json": ".json", "yaml": ".yaml", "toml": ".toml"}


def fixture(client: str) -> Path | None:
    """The real-shaped file of ``client``, if it has one (else the client has none yet)."""
    path = FIXTURES / (client + EXTENSIONS[CLIENTS[client].format])
    return path if path.exists() else None


def on_disk(path: Path, key: str) -> dict[str, Any]:
    """The servers under ``key`` in a client's file, read by a parser other than the editor's
    where the format has one in the standard library or our dependencies (JSONC: ours)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".toml":
        servers = tomllib.loads(text).get(key)
    elif path.suffix == ".yaml":
        servers = (yaml.safe_load(text) or {}).get(key)
    else:
        root = jsonc.parse(text)
        servers = root.data.get(key) if root else None
    if isinstance(servers, list):
        return {s["name"]: s for s in servers}
    return servers or {}


class Machine:
    """HOME with the clients installed, a fake engine, ToolHive's state, a workloads file."""

    def __init__(self, home: Path, tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
        self.home, self.tmp_path, self.capsys = home, tmp_path, capsys
        self.engine = install(monkeypatch, FakeRuntime())
        self.proxy_pid = this_process_is_a_proxy(monkeypatch)  # stands in for every proxy
        self.store = Store.from_env()
        self.file = tmp_path / "workloads.yaml"

    # -- clients ---------------------------------------------------------------------------------
    def path(self, client: str) -> Path:
        return Path(config_path(CLIENTS[client], str(self.home), "linux"))

    def install(self, *clients: str, files: bool = True) -> dict[str, bytes | None]:
        """Install ``clients`` (all by default): their directory, and their real-shaped file.
        Returns what each file held (None: no file)."""
        before: dict[str, bytes | None] = {}
        for client in clients or CLIENT_NAMES:
            app = CLIENTS[client]
            marker = Path(install_marker(app, str(self.home), "linux"))
            source = fixture(client) if files else None
            if len(app.path) > 1:
                marker.mkdir(parents=True, exist_ok=True)
            elif source is None:
                marker.write_text("{}\n")  # Claude Code is installed when its file exists
            if source is not None:
                self.path(client).write_bytes(source.read_bytes())
            before[client] = self.path(client).read_bytes() if self.path(client).exists() else None
        return before

    def entries(self, client: str) -> dict[str, Any]:
        return open_document(CLIENTS[client], self.path(client).read_text()).entries()

    # -- servers ---------------------------------------------------------------------------------
    def write(self, doc: dict[str, Any]) -> None:
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def serve(self, project: str = "team") -> None:
        """Every server of the workloads file running in sync (container, run config, a live
        proxy PID), as if an earlier apply had made them."""
        desired = load([self.file])
        for group in desired.groups:
            if group.name != "default":
                self.store.groups.create(group.name, group_document(group.name))
                self.store.ownership.set_group(group.name, project, group.description)
        for spec in desired.servers:
            self.run(spec, project)

    def run(self, spec: ServerSpec, project: str) -> None:
        canon = canonical(spec)
        digest = config_hash(canon)
        port = int(spec.port or 0)
        labels = container_labels(spec, port=port, project=project, config_hash=digest)
        self.engine.add(spec.name, image=spec.image, **labels)
        rc = build_runconfig(
            spec, port=port, target_port=spec.target_port, project=project, canon=canon,
            config_hash=digest,
        )  # fmt: skip
        self.store.runconfigs.write(spec.name, rc)
        self.store.statuses.set_running(spec.name, self.proxy_pid)

    def thv(self, *args: str) -> Result:
        if args and args[0] in ("plan", "apply", "down", "validate"):
            args = (args[0], "-f", str(self.file), *args[1:])
        return thv(self.capsys, *args)
