"""Read `thv list --format mcpservers` on stdin; call `echo` on each server with the MCP SDK."""

from __future__ import annotations

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


async def call(name: str, url: str, kind: str) -> str:
    if kind == "sse":
        async with sse_client(url) as (read, write), ClientSession(read, write) as session:
            return await _echo(session, name)
    async with (
        streamablehttp_client(url) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        return await _echo(session, name)


async def _echo(session: ClientSession, name: str) -> str:
    await session.initialize()
    tools = [t.name for t in (await session.list_tools()).tools]
    result = await session.call_tool("echo", {"text": f"hello {name}"})
    text = result.content[0].text if result.content else ""
    return f"{name}: tools={tools} echo -> {text!r}"


async def main() -> int:
    servers = json.load(sys.stdin)["mcpServers"]
    failed = 0
    for name, server in sorted(servers.items()):
        try:
            print(await asyncio.wait_for(call(name, server["url"], server["type"]), 30))
        except Exception as exc:  # a demo reports every server, whatever fails
            failed += 1
            print(f"{name}: failed: {exc!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
