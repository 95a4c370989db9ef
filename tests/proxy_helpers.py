"""Helpers shared by the proxy tests: an MCP SDK round trip, ports, waiting."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

from mcp import ClientSession
from mcp.client import streamable_http
from mcp.client.sse import sse_client

TOOLS = ["add", "echo", "whoami"]


async def mcp_round_trip(
    url: str, *, sse: bool = False, text: str = "hello"
) -> tuple[list[str], str]:
    """initialize, tools/list and tools/call echo with the official SDK client."""
    if sse:
        client = sse_client(url)
    elif hasattr(streamable_http, "streamable_http_client"):  # mcp >= 1.24
        client = streamable_http.streamable_http_client(url)
    else:
        client = streamable_http.streamablehttp_client(url)
    async with client as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool("echo", {"text": text})
        return sorted(t.name for t in tools.tools), result.content[0].text  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
