"""``python -m toolhive_compose`` and the ``thv`` console script (:func:`main`).

``thv start <name> --foreground`` is the detached proxy process, started once per workload
(50 of them next to 50 containers), so it goes straight to :mod:`.proxy.main` without
importing the CLI framework.  Everything else is :func:`toolhive_compose.cli.main`.

Both leave with ``os._exit`` once their output is flushed: state files are already on disk
(written atomically and fsynced), worker threads have been joined, and the interpreter's
teardown would only free memory — ~30 ms with the card libraries loaded, on every command.
Call :func:`toolhive_compose.cli.main` to run ``thv`` inside another program.

A command builds its inputs once (at 2,000 workloads, some 10^6 objects that live until it
ends) and leaves, so the command process collects only young objects: with the default
thresholds, full collections walking those inputs again and again were 0.12-0.2 s of a
0.8 s no-op ``thv plan``.  Cycles among short-lived objects are still collected (every
10,000 allocations); what survives that is collected rarely.  The proxy process keeps the
default (it lives for days) and freezes its imports instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> None:
    from .proxy import foreground_target

    name = foreground_target(sys.argv[1:] if argv is None else list(argv), os.environ)
    if name is not None:
        from .proxy.main import run

        leave(run(name))
    import gc

    gc.set_threshold(10_000, 1_000, 1_000)
    from .cli import main as cli_main

    try:
        cli_main(argv)
    except SystemExit as exc:
        leave(exit_code(exc))
    leave(0)


def exit_code(exc: SystemExit) -> int:
    """What the interpreter would exit with (a message is printed, as it would be)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")
    return 1


def leave(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (thv list | head)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
