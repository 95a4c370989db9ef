"""Helpers shared by the proxy tests: an MCP SDK round trip, ports, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp import ClientSession
from mcp.client import streamable_http
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError

TOOLS = ["add", "echo", "whoami"]
T = TypeVar("T")


def sdk_client(url: str, *, sse: bool = False) -> Any:
    """The official SDK's client transport for ``url``."""
    if sse:
        return sse_client(url)
    if hasattr(streamable_http, "streamable_http_client"):  # mcp >= 1.24
        return streamable_http.streamable_http_client(url)
    return streamable_http.streamablehttp_client(url)


async def in_session(
    url: str, body: Callable[[ClientSession], Awaitable[T]], *, sse: bool = False, **kwargs: Any
) -> T:
    """``body(session)`` in an initialized SDK client session (``kwargs`` for the session)."""
    async with (
        sdk_client(url, sse=sse) as streams,
        ClientSession(streams[0], streams[1], **kwargs) as session,
    ):
        await session.initialize()
        return await body(session)


async def mcp_round_trip(
    url: str, *, sse: bool = False, text: str = "hello"
) -> tuple[list[str], str]:
    """initialize, tools/list and tools/call echo with the official SDK client."""

    async def body(session: ClientSession) -> tuple[list[str], str]:
        tools = await session.list_tools()
        result = await session.call_tool("echo", {"text": text})
        return sorted(t.name for t in tools.tools), result.content[0].text  # type: ignore[union-attr]

    return await in_session(url, body, sse=sse)


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


async def rug_pull(url: str) -> tuple[list[str], list[str], str]:
    """Against a ``thc-test/mcp-surface:flip`` server through ``url``: list, call ``flip``
    (the server rewrites echo's description, then sends list_changed), list again once that
    notification came, then call ``echo``.  (tools before, tools after, the refusal or "not
    refused")."""
    notified = asyncio.Event()

    async def on_message(message: Any) -> None:
        if "ToolListChanged" in type(getattr(message, "root", message)).__name__:
            notified.set()

    async def body(session: ClientSession) -> tuple[list[str], list[str], str]:
        before = sorted(t.name for t in (await session.list_tools()).tools)
        await session.call_tool("flip", {})
        await asyncio.wait_for(notified.wait(), 10)
        after = sorted(t.name for t in (await session.list_tools()).tools)
        try:
            await session.call_tool("echo", {"text": "x"})
            refused = "not refused"
        except McpError as exc:
            refused = exc.error.message
        return before, after, refused

    return await in_session(url, body, message_handler=on_message)
