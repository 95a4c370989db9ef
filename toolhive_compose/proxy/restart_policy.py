"""The supervisor's limits (:mod:`.supervisor`): ToolHive's numbers, each settable through the
proxy's environment.

- ``restart_limit`` (``TOOLHIVE_COMPOSE_RESTART_LIMIT``, 10) restarts with no run of
  ``stable_run`` (``TOOLHIVE_COMPOSE_STABLE_RUN``, 30 s) between them make a crash loop —
  ToolHive's ``maxRetries`` and ``stableRunThreshold``;
- the proxy's own restarts wait 0, then 5 s doubling up to 60 s (ToolHive's retry delays);
- an unreachable engine is polled every 0.5 s growing to 2 s, for ``engine_timeout``
  (``TOOLHIVE_COMPOSE_ENGINE_TIMEOUT``, 300 s: ToolHive's re-attach budget, about 5 minutes);
- an exited container is left ``grace`` seconds to the engine's own restart policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

GRACE = 0.5  # seconds an exited container is left to the engine before the proxy starts it


@dataclass(frozen=True, slots=True)
class Policy:
    """The supervisor's limits; each can be set through the environment (seconds)."""

    restart_limit: int = 10  # TOOLHIVE_COMPOSE_RESTART_LIMIT
    stable_run: float = 30.0  # TOOLHIVE_COMPOSE_STABLE_RUN
    engine_timeout: float = 300.0  # TOOLHIVE_COMPOSE_ENGINE_TIMEOUT
    first_delay: float = 5.0  # before the second restart the proxy makes itself
    max_delay: float = 60.0
    poll_first: float = 0.5  # polling an unreachable engine: 0.5 s × 1.5 up to 2 s
    poll_max: float = 2.0
    grace: float = GRACE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Policy:
        env = os.environ if environ is None else environ
        policy = cls()
        fields = {
            "restart_limit": "TOOLHIVE_COMPOSE_RESTART_LIMIT",
            "stable_run": "TOOLHIVE_COMPOSE_STABLE_RUN",
            "engine_timeout": "TOOLHIVE_COMPOSE_ENGINE_TIMEOUT",
        }
        for field, var in fields.items():
            raw = env.get(var, "").strip()
            try:
                value = float(raw)
            except ValueError:
                continue
            if value > 0:
                kind = type(getattr(policy, field))
                policy = replace(policy, **{field: kind(value)})
        return policy

    def restart_delay(self, restarts: int) -> float:
        """The pause before the proxy's own restart when ``restarts`` were made already."""
        if restarts <= 0:
            return 0.0
        return min(self.max_delay, self.first_delay * 2 ** (restarts - 1))
