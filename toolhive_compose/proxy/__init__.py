"""The transport proxy in front of every workload, and the processes that run it.

Every workload is a container (or a remote URL) plus one detached proxy process serving
MCP over HTTP on ``127.0.0.1:<port>``:

- stdio servers: the proxy attaches to the container's stdin/stdout through the Engine API
  (:mod:`.engine_async`) and serves streamable HTTP at ``/mcp`` (and legacy SSE at ``/sse``
  with ``proxy_mode: sse``) — :mod:`.transports.stdio`, :mod:`.transports.bridge`,
  :mod:`.transports.jsonrpc`;
- sse / streamable-http servers and remote servers: a streaming reverse proxy —
  :mod:`.transports.reverse`.

Both serve through the same HTTP plumbing (:mod:`.http`: the wire format, the server loop,
the DNS-rebinding guard).  :mod:`.main` is the process itself (``thv start <name>
--foreground``); :mod:`.processes` starts and stops it (:mod:`.processes.control`, forking from
:mod:`.processes.launcher`), recognises it (:mod:`.processes.procfs`) and checks readiness
(:mod:`.processes.readiness`).  The proxy side imports the standard library only (no typer,
docker, yaml, jsonschema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FOREGROUND_FLAGS = frozenset({"--foreground", "-f", "--debug"})


def foreground_target(args: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The workload name when ``args`` is ``start <name> --foreground`` (or ``start <name>``
    in a detached child, ``TOOLHIVE_DETACHED=1``): this process is then a proxy."""
    if len(args) < 2 or args[0] != "start" or args[1].startswith("-"):
        return None
    flags = set(args[2:])
    if not flags <= FOREGROUND_FLAGS:
        return None
    if flags & {"--foreground", "-f"} or environ.get("TOOLHIVE_DETACHED") == "1":
        return args[1]
    return None
