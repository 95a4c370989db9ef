"""The proxy launcher: one pre-loaded process that forks proxies on request.

A proxy started as a fresh interpreter spends ~0.1 s of CPU importing asyncio and the state
code before it serves; 50 of them next to 50 container starts on 2 cores is seconds of
wall clock.  ``apply`` therefore starts this launcher once (``python -m
toolhive_compose.proxy.processes.launcher``, its imports overlapping the engine work) and asks it
for each proxy: it forks a child that is, from then on, exactly the detached proxy
``thv start <name> --foreground`` would be — a session of its own, stdin from /dev/null,
stdout and stderr appended to the workload's log, ``TOOLHIVE_DETACHED=1`` in its
environment, and that command line in ``/proc/<pid>/cmdline`` (set with
``setproctitle``), so ToolHive's recogniser and ours see an ordinary proxy: the title names
the ``thv`` script, which is what they check, because ``setproctitle`` takes over the
environment's memory too and ``/proc/<pid>/environ`` no longer shows the variable (the
client, :class:`.control.Launcher`, is only used where that script is installed).

Protocol, one line per message: the parent writes ``<name>\\t<log path>\\t<title>``; the
launcher answers ``<name>\\t<pid>`` or ``<name>\\t-\\t<why>``.  It exits at end of input.
The kernel reaps the children (SIGCHLD ignored here); once the launcher has gone they are
orphans like any detached proxy.  No threads run here, so forking is safe.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import traceback
from typing import IO

import setproctitle

from .. import main as proxy_main  # the whole proxy, imported once before any fork


def serve(requests: IO[str], replies: IO[str]) -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    freeze_heap()
    for line in requests:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or not all(fields):
            replies.write(f"{fields[0]}\t-\tmalformed request\n")
            replies.flush()
            continue
        name, log, title = fields
        try:
            pid = os.fork()
        except OSError as exc:
            replies.write(f"{name}\t-\tfork failed: {exc.strerror or exc}\n")
        else:
            if pid == 0:
                _become_proxy(name, log, title)  # never returns
            replies.write(f"{name}\t{pid}\n")
        replies.flush()
    return 0


def freeze_heap() -> None:
    """Collect once, then move every object the imports made into the collector's permanent
    generation: a forked proxy's collections then never walk them, so the pages holding them
    stay shared with the launcher and the sibling proxies instead of being copied into each
    child (a full collection writes into every tracked object's header)."""
    gc.collect()
    gc.freeze()


def _become_proxy(name: str, log: str, title: str) -> None:
    code = 1
    try:
        # As in a fresh interpreter: default SIGCHLD and SIGTERM, KeyboardInterrupt on SIGINT,
        # SIGPIPE still ignored (a client hanging up mid-response is an error, not death).
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 1 << 16)  # the launcher's pipes and anything else inherited
        setproctitle.setproctitle(title)
        code = proxy_main.run(name)
    except BaseException:  # the child must never return into the launcher
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def main() -> int:
    os.environ["TOOLHIVE_DETACHED"] = "1"
    return serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # nothing to finalise
