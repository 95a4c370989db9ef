"""An unexpected exception (a bug): one line on stderr, the traceback in a debug log.

The log is ``$XDG_STATE_HOME/toolhive-compose/debug/thv-<UTC time>-<pid>.log`` (the newest
:data:`KEEP` are kept), else a file in the temporary directory; with ``--debug`` (or
``THV_DEBUG=1``) the traceback is printed instead.  Either way every secret value this process
read is replaced by ``(sensitive)`` first (:func:`toolhive_compose.secrets.redact`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from ..paths import Paths
from ..secrets import redact

KEEP = 20
DEBUG_ENV = "THV_DEBUG"


def debug_wanted(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    value = (environ if environ is not None else os.environ).get(DEBUG_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def report(exc: BaseException, argv: Sequence[str], *, debug: bool) -> None:
    """Say that ``exc`` happened: one line, and where its traceback went."""
    trace = redact("".join(traceback.format_exception(exc)))
    first = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    line = f"error: unexpected error: {type(exc).__name__}" + (f": {first[:300]}" if first else "")
    if debug:
        sys.stderr.write(trace)
        sys.stderr.write(f"{line}\n")
        return
    path = _write(trace, argv)
    sys.stderr.write(f"{line}\n")
    if path is None:
        sys.stderr.write("hint: this is a bug; no debug log could be written, run with --debug\n")
    else:
        sys.stderr.write(f"hint: this is a bug; the traceback is in {path} (--debug prints it)\n")


def _write(trace: str, argv: Sequence[str]) -> Path | None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"thv-{stamp}-{os.getpid()}.log"
    text = (
        f"time: {stamp}\ncommand: {redact(' '.join(['thv', *argv]))}\n"
        f"python: {platform.python_version()} ({sys.executable})\n\n{trace}"
    )
    ours = Paths.from_env().ours / "debug"
    for directory in (ours, Path(tempfile.gettempdir())):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            continue
        if directory == ours:
            _prune(directory)
        return path
    return None


def _prune(directory: Path) -> None:
    """Keep the newest :data:`KEEP` debug logs."""
    with contextlib.suppress(OSError):
        logs = sorted(directory.glob("thv-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in logs[KEEP:]:
            old.unlink()
