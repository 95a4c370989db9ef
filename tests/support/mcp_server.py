"""Test MCP server baked into the ``thc-test/mcp-py`` images as ``/app/server.py``.

Tools: ``echo(text)``, ``add(a, b)`` and ``whoami()`` (the ``SERVER_ID`` env var, or
"unknown").

Transport: ``--transport`` or env ``MCP_TRANSPORT``; one of ``stdio`` (default), ``sse``,
``streamable-http``. HTTP transports listen on 0.0.0.0, port from ``--port``, else env
``MCP_PORT``, else ``FASTMCP_PORT``, else 8080 (SSE at ``/sse``, streamable HTTP at ``/mcp``).

SIGTERM ends the process at once: as PID 1 in a container Python would otherwise ignore it
and every ``docker stop`` would wait for the kill timeout.

Any change to this file is picked up by ``scripts/build-images.sh``, which labels the image
with this file's hash and rebuilds when it differs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from mcp.server.fastmcp import FastMCP

TRANSPORTS = ("stdio", "sse", "streamable-http")


def build_server(port: int) -> FastMCP:
    server = FastMCP("thc-test", host="0.0.0.0", port=port)

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Return a + b."""
        return a + b

    @server.tool()
    def whoami() -> str:
        """Return the SERVER_ID environment variable, or "unknown"."""
        return os.environ.get("SERVER_ID", "unknown")

    return server


def default_port() -> int:
    for name in ("MCP_PORT", "FASTMCP_PORT"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 8080


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--transport", choices=TRANSPORTS, default=os.environ.get("MCP_TRANSPORT") or "stdio"
    )
    parser.add_argument("--port", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = build_server(args.port if args.port is not None else default_port())
    server.run(transport=args.transport)


if __name__ == "__main__":
    main()
