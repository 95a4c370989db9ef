"""What a registry is: its entries, as ToolHive converts them, and its errors.

Types only (and the names of the upstream format's keys that :mod:`.upstream_format` reads):
reading a registry from a file or URL is :mod:`.client`.

Names resolve like ToolHive's ``GetServer``: the exact full name, else — for a name without
``/`` — the unique entry whose name ends in ``/<name>``; several such entries are an error
that lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ThvError

PUBLISHER_KEY = "io.modelcontextprotocol.registry/publisher-provided"
STACKLOK_KEY = "io.github.stacklok"
LEGACY_MESSAGE = "registry file appears to be in the legacy ToolHive format"
LEGACY_HINT = (
    "run `thv registry convert --in <path> --in-place` (ToolHive) to migrate to the upstream "
    "MCP format"
)


class RegistryError(ThvError):
    """A registry cannot be read, or a name cannot be resolved in it."""


class ServerNotFound(RegistryError):
    """No registry entry has that name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvVar:
    """An environment variable a registry entry declares."""

    name: str
    description: str = ""
    required: bool = False
    secret: bool = False
    default: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One registry server, converted the way ToolHive converts it."""

    name: str  # full name, e.g. io.github.stacklok/fetch
    image: str = ""
    url: str = ""  # remote servers
    transport: str = ""
    target_port: int | None = None  # from the package transport URL
    proxy_port: int | None = None
    args: tuple[str, ...] = ()
    env_vars: tuple[EnvVar, ...] = ()
    permissions: dict[str, Any] | None = field(default=None, compare=False)
    problem: str = ""  # why it cannot be run, when it cannot

    @property
    def remote(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True, slots=True)
class Registry:
    location: str  # absolute path or URL
    entries: Mapping[str, Entry]

    def find(self, name: str) -> Entry | None:
        """The entry ``name`` resolves to, or None; ambiguity is a :class:`RegistryError`."""
        if name in self.entries:
            return self.entries[name]
        if "/" in name:
            return None
        matches = sorted(n for n in self.entries if n.endswith("/" + name))
        if len(matches) > 1:
            raise RegistryError(
                f"{name!r} matches {len(matches)} registry entries: {', '.join(matches)}",
                hint="use the full name",
            )
        return self.entries[matches[0]] if matches else None

    def lookup(self, name: str) -> Entry:
        entry = self.find(name)
        if entry is None:
            raise ServerNotFound(f"registry {self.location} has no server named {name!r}")
        return entry


def is_url(text: str) -> bool:
    """Whether a registry location (or a remote entry's address) is an http(s) URL."""
    return text.startswith(("http://", "https://"))
