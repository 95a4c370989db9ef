"""Image pulls with a timeout and progress, independent of the client that streams them.

The engine answers a pull with a stream of JSON events, one per layer step (``Pulling fs
layer``, ``Downloading`` with ``progressDetail`` bytes, ``Extracting``, ``Pull complete``…)
and an ``error`` event when it fails.  :func:`pull_with_progress` reads that stream in a
worker thread, sums the layers' bytes into :class:`~.protocol.PullProgress` for the caller,
and gives up after ``timeout`` seconds (or when the current work is cancelled): it then
calls ``abort`` (which closes the stream's connection, so the engine drops the pull) and
raises.  ToolHive's CLI pulls without a timeout; its API uses 10 minutes (:data:`PULL_TIMEOUT`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import cancel
from ..errors import EngineError
from .protocol import PullProgress

PULL_TIMEOUT = 600.0  # seconds: ToolHive's imageRetrievalTimeout
POLL = 0.1


class PullState:
    """The layers of one pull and their bytes so far."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.layers: dict[str, tuple[int, int]] = {}  # layer id -> (done, total)

    def update(self, event: dict[str, Any]) -> PullProgress:
        status = str(event.get("status") or "")
        layer = str(event.get("id") or "")
        detail = event.get("progressDetail") or {}
        if layer and status == "Downloading" and isinstance(detail, dict):
            total = int(detail.get("total") or 0)
            self.layers[layer] = (int(detail.get("current") or 0), total)
        elif layer and status in ("Download complete", "Pull complete", "Already exists"):
            done, total = self.layers.get(layer, (0, 0))
            self.layers[layer] = (max(done, total), total)
        done = sum(d for d, _ in self.layers.values())
        total = sum(t for _, t in self.layers.values())
        return PullProgress(self.image, done=done, total=total, status=status)


def pull_with_progress(
    image: str,
    events: Callable[[], Iterator[dict[str, Any]]],
    *,
    timeout: float | None,
    progress: Callable[[PullProgress], None] | None,
    abort: Callable[[], None],
) -> None:
    """Consume ``events()`` to its end; raise the stream's error, or an :class:`EngineError`
    once ``timeout`` seconds have passed."""
    failure: list[BaseException] = []
    finished = threading.Event()
    state = PullState(image)

    def consume() -> None:
        try:
            for event in events():
                if event.get("error"):
                    raise EngineError(str(event["error"]).strip())
                if progress is not None:
                    progress(state.update(event))
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=consume, name=f"pull-{image}", daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    token = cancel.current()
    while not finished.wait(POLL):
        if token is not None and token.cancelled:
            abort()
            token.check()
        if deadline is not None and time.monotonic() >= deadline:
            abort()
            raise EngineError(
                f"timed out after {timeout:g}s",
                hint="the image may be large or the connection slow; pull it first "
                f"(docker pull {image}), then apply again",
            )
    if failure:
        raise failure[0]
