"""A dockerd of the bench's own, for when the shared engine is busy or hung (``--engine``).

It is the tests' private engine (``tests/support/private_engine.py``): its own socket, data
root, exec root and a bridge of its own made with ``ip link``, all under
``/var/tmp/thc-engine-<id>``.  It is never started with ``--bridge=none``, which would delete
the host's ``docker0`` and break the shared engine for everyone else.
"""

from __future__ import annotations

import sys

from harness import REPO, EngineHung

sys.path.insert(0, str(REPO))

from tests.support.private_engine import (
    EngineError,
    private_engine_available,
)
from tests.support.private_engine import PrivateEngine as _Engine


class PrivateEngine:
    """``start()`` → the ``DOCKER_HOST`` to use; ``stop()`` removes everything it made
    (containers, data, its bridge)."""

    def __init__(self) -> None:
        self._engine = _Engine()
        self.host = self._engine.host

    def start(self) -> str:
        why = private_engine_available()
        if why:
            raise EngineHung(f"cannot start a private engine: {why}")
        try:
            self._engine.start()
        except EngineError as exc:
            raise EngineHung(f"the private dockerd did not start: {exc}") from None
        return self.host

    def stop(self) -> None:
        self._engine.close()
