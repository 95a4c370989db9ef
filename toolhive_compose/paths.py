"""Where state lives: ToolHive's XDG layout, plus a small directory of our own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "").strip()
    return Path(value) if value else Path.home() / default


@dataclass(frozen=True, slots=True)
class Paths:
    state_home: Path  # $XDG_STATE_HOME
    data_home: Path  # $XDG_DATA_HOME
    cache_home: Path  # $XDG_CACHE_HOME

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            state_home=_xdg("XDG_STATE_HOME", ".local/state"),
            data_home=_xdg("XDG_DATA_HOME", ".local/share"),
            cache_home=_xdg("XDG_CACHE_HOME", ".cache"),
        )

    @property
    def runconfigs(self) -> Path:
        return self.state_home / "toolhive" / "runconfigs"

    @property
    def groups(self) -> Path:
        return self.state_home / "toolhive" / "groups"

    @property
    def statuses(self) -> Path:
        return self.data_home / "toolhive" / "statuses"

    @property
    def logs(self) -> Path:
        return self.data_home / "toolhive" / "logs"

    @property
    def legacy_pids(self) -> Path:
        return self.data_home / "toolhive" / "pids"

    @property
    def ours(self) -> Path:
        """toolhive-compose's own state: the apply lock and the secret-digest key."""
        return self.state_home / "toolhive-compose"

    @property
    def surfaces(self) -> Path:
        """What each proxy reports of its workload's tool surface (ours, one file each)."""
        return self.ours / "surfaces"

    @property
    def cache(self) -> Path:
        return self.cache_home / "toolhive-compose"
