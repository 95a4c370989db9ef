"""The private engine that restart and crash tests use: it starts, survives a graceful restart
with its ``unless-stopped`` containers, and leaves the shared engine's bridge alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import ensure_busybox_image
from tests.support.private_engine import private_engine_available, running_private_engine

pytestmark = pytest.mark.docker


def test_private_engine_restarts_its_containers_and_cleans_up() -> None:
    why = private_engine_available()
    if why:
        pytest.skip(why)
    image = ensure_busybox_image()
    docker0 = Path("/sys/class/net/docker0").exists()
    with running_private_engine(image) as engine:
        engine.docker("run", "-d", "--name", "pe-sleeper", "--restart", "unless-stopped", image,
                      "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")  # fmt: skip
        engine.stop(wait=30)
        assert not engine.answers()
        engine.start()
        running = engine.docker("ps", "--filter", "name=pe-sleeper", "--format", "{{.State}}")
        assert running.split() == ["running"]
        home, bridge = engine.dir, engine.bridge
    assert not home.exists()
    assert not Path(f"/sys/class/net/{bridge}").exists()
    assert Path("/sys/class/net/docker0").exists() == docker0  # the shared engine's bridge is kept
