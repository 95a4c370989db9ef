"""Scenario modules of the reliability suite (``bench/chaos.py``), and what they share.

A scenario is a module here with ``run(ctx: Context) -> list[Row]``.  It drives ``thv`` (as a
subprocess, the way a user does) against the engine ``ctx`` names, in the throw-away state
directories the driver set up (``$HOME`` and the XDG variables), and returns one row per
thing it measured: how many trials, how many of them ended as they must.  A row loses when
``passed < trials``; its ``detail`` says what went wrong (the first few failures).

Scenarios clean up after themselves (``thv down``, the project's containers), also when a
trial fails.  They import the test support code (``tests/support``): the same
``ThvProject`` checks (``problems``) decide a pass in CI and here.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    scenario: str  # what was done, in a few words
    trials: int = 0
    passed: int = 0
    detail: str = ""  # the first failures, or a note
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def lost(self) -> bool:
        return self.passed < self.trials

    def record(self, problems: list[str]) -> None:
        """One trial: passed when ``problems`` is empty."""
        self.trials += 1
        if problems:
            self.failures.append(f"trial {self.trials}: " + "; ".join(problems)[:300])
        else:
            self.passed += 1
        self.detail = " | ".join(self.failures[:3])


@dataclass
class Context:
    trials: int  # the scenario's main number of trials (kill trials: at least this many)
    servers: int  # servers per project
    workdir: Path  # a fresh directory for files
    docker: Any  # a docker SDK client for the shared engine
    image: str  # the busybox test image (an MCP server in sh)
    rng: random.Random
    log: Callable[[str], None] = print
    private_engine: bool = True  # scenarios that need one may run (root, dockerd present)

    def project_name(self, tag: str) -> str:
        return f"chaos-{tag}-{uuid.uuid4().hex[:6]}"


@contextmanager
def timed(row: Row) -> Iterator[Row]:
    began = time.monotonic()
    try:
        yield row
    finally:
        row.seconds = time.monotonic() - began
