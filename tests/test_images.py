"""Smoke tests for the locally built test images (scripts/build-images.sh)."""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client

from tests.conftest import PROJECT_LABEL
from tests.support.images import ensure_busybox_image, ensure_mcp_image

try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # mcp older than 1.2x has only the old name
    from mcp.client.streamable_http import (  # type: ignore[assignment]
        streamablehttp_client as streamable_http_client,
    )

pytestmark = pytest.mark.docker

TOOLS = {"echo", "add", "whoami"}


def test_busybox_runs_commands_and_idles(docker_client: Any, test_project: str) -> None:
    image = ensure_busybox_image()
    labels = {PROJECT_LABEL: test_project}
    output = docker_client.containers.run(image, ["echo", "ok"], remove=True, labels=labels)
    assert output == b"ok\n"
    idle = docker_client.containers.run(image, detach=True, labels=labels)
    time.sleep(0.3)
    idle.reload()
    assert idle.status == "running"
    started = time.monotonic()
    idle.stop(timeout=10)
    assert time.monotonic() - started < 5, "the default command should exit on SIGTERM"


def _lines(stream: Any) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _rpc(proc: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def _response(lines: queue.Queue[str], request_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def test_mcp_image_speaks_stdio(test_project: str) -> None:
    image = ensure_mcp_image(1)
    cmd = ["docker", "run", "-i", "--rm", "--label", f"{PROJECT_LABEL}={test_project}", image]
    with subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            lines = _lines(proc.stdout)
            init_params = {
                "protocolVersion": "2025-03-26",
                "capabilities": {},
                "clientInfo": {"name": "thc-test", "version": "0"},
            }
            _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init_params})
            assert _response(lines, 1)["result"]["serverInfo"]["name"] == "thc-test"
            _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            tools = {tool["name"] for tool in _response(lines, 2)["result"]["tools"]}
            assert tools == TOOLS
            assert proc.stdin is not None
            proc.stdin.close()
            assert proc.wait(timeout=15) == 0
        finally:
            proc.kill()


def _wait_http(url: str, timeout: float = 30) -> None:
    """Wait until something answers HTTP at url (docker-proxy accepts before the server does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _call_tools(transport: str, url: str) -> dict[str, str]:
    client = sse_client(url) if transport == "sse" else streamable_http_client(url)
    async with client as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert tools == TOOLS
        results = {}
        for name, args in (("echo", {"text": "hi"}), ("add", {"a": 2, "b": 3}), ("whoami", {})):
            result = await session.call_tool(name, args)
            assert not result.isError
            results[name] = result.content[0].text  # type: ignore[union-attr]
        return results


@pytest.mark.parametrize(
    ("transport", "port", "environment", "command"),
    [
        # the transport from the environment and the default port
        ("streamable-http", 8080, {"MCP_TRANSPORT": "streamable-http"}, None),
        # the transport and port from the command line
        ("sse", 9000, {}, ["--transport", "sse", "--port", "9000"]),
    ],
    ids=["streamable-http", "sse"],
)
def test_mcp_image_serves_http(
    docker_client: Any,
    test_project: str,
    transport: str,
    port: int,
    environment: dict[str, str],
    command: list[str] | None,
) -> None:
    container = docker_client.containers.run(
        ensure_mcp_image(2),
        command,
        detach=True,
        environment={**environment, "SERVER_ID": f"{transport}-server"},
        ports={f"{port}/tcp": ("127.0.0.1",)},
        labels={PROJECT_LABEL: test_project},
    )
    container.reload()
    host_port = container.ports[f"{port}/tcp"][0]["HostPort"]
    base = f"http://127.0.0.1:{host_port}"
    _wait_http(base + "/")
    path = "/sse" if transport == "sse" else "/mcp"
    results = asyncio.run(asyncio.wait_for(_call_tools(transport, base + path), timeout=30))
    assert results == {"echo": "hi", "add": "5", "whoami": f"{transport}-server"}


def test_mcp_image_versions_differ_only_by_env(docker_client: Any) -> None:
    one, two = (docker_client.images.get(ensure_mcp_image(v)).attrs["Config"] for v in (1, 2))
    assert one["Entrypoint"] == two["Entrypoint"] == ["python3", "/app/server.py"]
    assert "SERVER_VERSION=1" in one["Env"]
    assert "SERVER_VERSION=2" in two["Env"]
