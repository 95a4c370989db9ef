"""Frozen data passed between the stages: desired state, observed state.

Desired state comes from the loader with every default filled in; observed state from
``observe``. Nothing here does I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .tools import ToolView

TRANSPORTS = ("stdio", "sse", "streamable-http")
PROXY_MODES = ("sse", "streamable-http")
STATES = ("running", "stopped")
DEFAULT_GROUP = "default"
# ToolHive's built-in permission profiles: name → (kind, the profile as ToolHive writes it);
# ``stdio`` is an alias of ``none``.
BUILTIN_PROFILES: dict[str, tuple[str, dict[str, Any]]] = {
    "none": ("none", {"name": "none", "network": {"outbound": {}, "inbound": {}}}),
    "stdio": ("none", {"name": "none", "network": {"outbound": {}, "inbound": {}}}),
    "network": (
        "network",
        {"name": "network", "network": {"outbound": {"insecure_allow_all": True}, "inbound": {}}},
    ),
}

# Container / run-config labels.  ToolHive's standard labels first, then ours.
LABEL_TOOLHIVE = "toolhive"
LABEL_NAME = "toolhive-name"
LABEL_BASENAME = "toolhive-basename"
LABEL_TRANSPORT = "toolhive-transport"
LABEL_PORT = "toolhive-port"
LABEL_NETWORK_ISOLATION = "toolhive-network-isolation"
TOOLHIVE_STANDARD_LABELS = frozenset(
    {
        LABEL_TOOLHIVE,
        LABEL_NAME,
        LABEL_BASENAME,
        LABEL_TRANSPORT,
        LABEL_PORT,
        LABEL_NETWORK_ISOLATION,
    }
)
LABEL_PROJECT = "toolhive-compose.project"
LABEL_CONFIG_HASH = "toolhive-compose.config-hash"
OUR_LABELS = frozenset({LABEL_PROJECT, LABEL_CONFIG_HASH})

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """A secret injected as a container env var.  Holds a keyed digest, never the value."""

    target: str  # env var name inside the container
    source: str  # "env" | "file" | "toolhive" (a ToolHive provider's secret, from a run config)
    ref: str  # env var name on the host, absolute file path (as written when portable), name
    digest: str  # "hmac-sha256:<hex>" of the value under the local key; "" when not read


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """One MCP server as the user wants it, defaults filled in."""

    name: str
    image: str = ""  # empty for a remote server
    url: str = ""  # remote MCP server URL; non-empty means remote
    transport: str = "stdio"
    target_port: int | None = None  # container port (sse / streamable-http)
    port: int | None = None  # proxy host port; None = choose once, then keep
    proxy_mode: str = "streamable-http"  # effective proxy mode (see ToolHive §6.2)
    args: tuple[str, ...] = ()
    env: Pairs = ()  # sorted by key
    secrets: tuple[SecretRef, ...] = ()  # sorted by target
    volumes: tuple[str, ...] = ()  # "abs-host-path:container-path[:ro]" (as written: portable)
    labels: Pairs = ()  # user labels (file-level merged in), sorted by key
    group: str = DEFAULT_GROUP
    permission_profile: str = "network"  # "none" | "network" | absolute path | "inline"
    permission_profile_json: str = ""  # canonical JSON of the resolved profile
    state: str = "running"
    # Where a ``server:`` entry came from (run config only; never in the config hash).
    registry_server_name: str = ""  # the registry entry's full name
    registry_url: str = ""  # the registry's URL or absolute path
    # The tool surface (ToolHive's tools_filter / tools_override); never in the config hash:
    # a change rewrites the run config and the proxy follows, the container stays.
    tools: tuple[str, ...] = ()  # client-visible names allowed; () = all; sorted, unique
    tools_override: tuple[tuple[str, str, str], ...] = ()  # (server's name, name, description)
    # From workloads.lock (see Lock), not from the file:
    tool_pins: Pairs | None = None  # client-visible name -> digest; None = not pinned
    image_ref: str = ""  # the lock's pinned image, run instead of ``image`` when they differ
    image_pin: str = ""  # the image id the lock pins (present locally); "" = none, or unknown

    @property
    def remote(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedServer:
    """One server in ``workloads.lock``: its image (or URL) and its tool surface."""

    image: str = ""  # the image reference the entry was recorded for
    image_digest: str = ""  # repo digest (``repo@sha256:…``) when pulled, else the image id
    url: str = ""  # a remote server's URL instead
    tools: Mapping[str, ToolView] = field(default_factory=dict)  # client-visible name -> view


@dataclass(frozen=True, slots=True, kw_only=True)
class Lock:
    """``workloads.lock`` beside the first workloads file (``exists`` False: none yet)."""

    path: str
    servers: Mapping[str, LockedServer] = field(default_factory=dict)
    exists: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupSpec:
    name: str
    description: str = ""
    clients: tuple[str, ...] = ()  # MCP clients its servers are registered in, file order


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredState:
    project: str
    servers: tuple[ServerSpec, ...] = ()  # sorted by name
    groups: tuple[GroupSpec, ...] = ()  # declared groups, sorted by name
    labels: Pairs = ()  # the file's top-level labels (already merged into every server's)
    files: tuple[str, ...] = ()  # the files it was loaded from
    env_files: tuple[str, ...] = ()  # the env files read for its variables (absolute)
    lock: Lock | None = None  # workloads.lock, once read (workloads/lockfile.py)
    # Values of the ``env:`` secrets as the loader read them (shell, then env files), so the
    # container gets exactly what the plan's digest was made from.  Never printed or compared.
    secret_env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def server(self, name: str) -> ServerSpec:
        """The server named ``name`` (:class:`KeyError` if none): a binary search of the
        sorted servers, so that an apply's thousands of lookups stay linear in all."""
        servers = self.servers
        at = bisect.bisect_left(servers, name, key=_server_name)
        if at < len(servers) and servers[at].name == name:
            return servers[at]
        for spec in servers:  # built in code without sorting (tests, thv run): look through
            if spec.name == name:
                return spec
        raise KeyError(name)

    def find_server(self, name: str) -> ServerSpec | None:
        try:
            return self.server(name)
        except KeyError:
            return None


def _server_name(spec: ServerSpec) -> str:
    return spec.name


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineView:
    """What differs between the machine a plan is for and the one making it (``thv plan
    --observed``): where that machine's relative paths start, its home directory, the keyed
    digests of what its secret sources hold now (``env:VAR`` / ``file:/path`` → digest; never
    a value), and the permission profiles it reads from outside the project directory
    (absolute path → canonical JSON)."""

    base_dir: str
    home: str
    secret_digests: Pairs = ()
    profiles: Pairs = ()

    def secret_digest(self, source: str, ref: str) -> str:
        """The machine's digest of a secret source, "" when it holds none."""
        return dict(self.secret_digests).get(f"{source}:{ref}", "")

    def profile(self, path: str) -> str | None:
        return dict(self.profiles).get(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedWorkload:
    """What exists for one workload name: its container (if any) and its ToolHive state."""

    name: str  # base name
    container_id: str = ""
    container_name: str = ""
    container_state: str = ""  # engine state (running, exited, created, ...); "" = none
    image: str = ""
    image_id: str = ""  # id of the image the container runs (sha256:…), from the list call
    labels: Pairs = ()  # container labels (all of them), sorted
    project: str = ""  # owning project from the container or run config; "" = not ours
    config_hash: str = ""  # from the container label
    spec: dict[str, Any] | None = None  # canonical spec rebuilt from the run config
    status: str = ""  # ToolHive status file value, "" = no file
    proxy_alive: bool = True  # the status file's proxy PID is a live process
    proxy_pid: int = 0  # the status file's PID (0: none recorded)
    remote: bool = False
    extra_container_ids: tuple[str, ...] = ()  # duplicates left by an interrupted recreate
    server_tools: tuple[str, ...] | None = None  # tool names the server offered its proxy
    # A damaged state file of this workload, as one sentence naming it ("" = none).  A damaged
    # run config leaves ``spec`` None; a damaged status file reads as no status file.
    damage: str = ""
    runconfig_damaged: bool = False

    @property
    def owned(self) -> bool:
        return bool(self.project)

    @property
    def port(self) -> int | None:
        if self.spec and self.spec.get("port"):
            return int(self.spec["port"])
        for key, value in self.labels:
            if key == LABEL_PORT and value.isdigit():
                return int(value)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedGroup:
    name: str
    project: str = ""  # project that created it; "" = not ours
    description: str = ""
    registered_clients: tuple[str, ...] = ()  # as the group file lists them (ToolHive's)
    damage: str = ""  # the group file is damaged: one sentence naming it


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedState:
    workloads: tuple[ObservedWorkload, ...] = ()  # sorted by name
    groups: tuple[ObservedGroup, ...] = ()  # sorted by name
    # containers without ToolHive labels whose names a desired server would take
    foreign_containers: Pairs = ()  # (container name, id)
    # group of every workload in state (any owner): (workload name, group)
    memberships: Pairs = field(default=())
    # MCP clients: the files that matter to the plan, and what toolhive-compose wrote there
    client_files: tuple[ObservedClientFile, ...] = ()
    client_records: tuple[ClientEntryRecord, ...] = ()
    client_registrations: tuple[ClientRegistration, ...] = ()
    # damaged state that belongs to no one workload (the ownership file), one sentence each
    notes: tuple[str, ...] = ()
    # name -> the first workload of that name (a plan looks each one up several times: a
    # scan per look-up was quadratic, ~0.3 s at 2,000 workloads)
    _by_name: dict[str, ObservedWorkload] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for w in self.workloads:
            self._by_name.setdefault(w.name, w)

    def workload(self, name: str) -> ObservedWorkload | None:
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedClientFile:
    """One MCP client's configuration file: the entries under its servers key."""

    client: str
    path: str  # absolute
    installed: bool  # the client's configuration directory exists (Claude Code: the file)
    current: bool = True  # where the client keeps its file on this machine (not only recorded)
    exists: bool = False
    problem: str = ""  # why it cannot be read or edited, a sentence naming it; "" = fine
    entries: Mapping[str, Any] = field(default_factory=dict)  # server name -> entry


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientEntryRecord:
    """An entry toolhive-compose wrote into a client's file, and for which project."""

    client: str
    path: str
    server: str
    project: str
    group: str
    digest: str  # of the entry as written (see clients.catalog.entry_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRegistration:
    """A client toolhive-compose added to a group file's ``registered_clients``."""

    group: str
    client: str
    project: str
