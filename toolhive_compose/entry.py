"""The ``thv`` console script.

``thv start <name> --foreground`` is the detached proxy process, started once per workload
(50 of them next to 50 containers), so it goes straight to :mod:`.proxy.main` without
importing the CLI framework.  Everything else is :func:`toolhive_compose.cli.main`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from .proxy import foreground_target

    name = foreground_target(sys.argv[1:] if argv is None else list(argv), os.environ)
    if name is not None:
        from .proxy.main import run

        code = run(name)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the proxy has nothing left to finalise: skip the interpreter's teardown
    from .cli import main as cli_main

    cli_main(argv)
