"""The reliability suite's scenarios (``bench/chaos_cases``), with few trials, in CI:
``thv apply`` SIGKILLed at random points and with engine work in flight, the engine killed
mid-apply (a private engine), two applies at once, ``stop``/``rm``/``run`` racing an apply,
the engine restarted and crashed under running workloads (a private engine).
``python bench/chaos.py`` runs them with the full number of trials and prints the figures."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bench.chaos_cases import Context, Row
from tests.support.images import ensure_busybox_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _context(tmp_path: Path, docker_client: Any, trials: int, servers: int) -> Context:
    return Context(
        trials=trials, servers=servers, workdir=tmp_path, docker=docker_client,
        image=ensure_busybox_image(), rng=random.Random(0), log=lambda message: None,
    )  # fmt: skip


def _assert_no_loss(rows: list[Row]) -> None:
    assert rows
    for row in rows:
        assert not row.lost, f"{row.scenario}: {row.passed}/{row.trials}: {row.failures}"


@pytest.mark.parametrize(
    ("scenario", "trials", "servers"),
    [
        ("kill_apply", 2, 3),
        ("engine_kill", 1, 2),
        ("concurrent", 1, 2),
        ("racing", 1, 2),
        ("engine_restart", 1, 2),
    ],
)
def test_chaos_scenario(
    scenario: str, trials: int, servers: int, tmp_path: Path, docker_client: Any
) -> None:
    import importlib

    module = importlib.import_module(f"bench.chaos_cases.{scenario}")
    rows = module.run(_context(tmp_path, docker_client, trials, servers))
    if scenario in ("engine_kill", "engine_restart") and rows[0].trials == 0:
        pytest.skip(rows[0].detail)
    _assert_no_loss(rows)
