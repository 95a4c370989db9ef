"""MCP ``tools/call`` throughput through the proxy vs straight to the server.

    python bench/proxy_throughput.py [--calls 400] [--concurrency 8] [--local]

Starts one streamable-http workload (``thc-test/mcp-py:1`` through ``Lifecycle.create``,
state in a temporary XDG home), then runs N sequential and N concurrent (C sessions)
``tools/call echo`` against the proxy (``127.0.0.1:<port>/mcp``) and against the container's
published port (``127.0.0.1:<target_port>/mcp``), and prints calls/s and the ratio
(target >= 0.7).  ``--local`` runs the same server as a local process behind a remote
workload instead (no Docker needed).  The client is raw JSON-RPC over one keep-alive
``httpx.AsyncClient``, so the proxy's cost is not hidden behind a heavy client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
IMAGE = "thc-test/mcp-py:1"
SERVER = REPO / "tests" / "support" / "mcp_server.py"
PROFILE = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'
TARGET = 0.7
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _answer(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                return dict(json.loads(line[5:]))
        raise RuntimeError("no data in SSE answer")
    return dict(response.json())


async def open_session(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    init = {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}},
    }  # fmt: skip
    response = await client.post(url, json=init, headers=HEADERS)
    _answer(response)
    headers = dict(HEADERS)
    if sid := response.headers.get("mcp-session-id"):
        headers["Mcp-Session-Id"] = sid
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    (await client.post(url, json=note, headers=headers)).raise_for_status()
    return headers


async def run_calls(client: httpx.AsyncClient, url: str, calls: int) -> None:
    headers = await open_session(client, url)
    for i in range(1, calls + 1):
        msg = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": f"m{i}"}}}  # fmt: skip
        answer = _answer(await client.post(url, json=msg, headers=headers))
        assert answer["result"]["content"][0]["text"] == f"m{i}", answer


async def measure(url: str, calls: int, concurrency: int) -> float:
    """calls/s for ``calls`` tool calls spread over ``concurrency`` sessions."""
    limits = httpx.Limits(
        max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
    )
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await run_calls(client, url, 5)  # warm up
        start = time.perf_counter()
        per = calls // concurrency
        await asyncio.gather(*(run_calls(client, url, per) for _ in range(concurrency)))
        return per * concurrency / (time.perf_counter() - start)


def best_of(urls: tuple[str, str], calls: int, concurrency: int, rounds: int) -> list[float]:
    """Best calls/s of each URL over interleaved rounds (load spikes hit both alike)."""
    best = [0.0, 0.0]
    for _ in range(rounds):
        for i, url in enumerate(urls):
            best[i] = max(best[i], asyncio.run(measure(url, calls, concurrency)))
    return best


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def setup(local: bool) -> tuple[str, str, Any]:
    """(direct URL, proxy URL, cleanup)."""
    from toolhive_compose.fingerprint import canonical
    from toolhive_compose.model import ServerSpec
    from toolhive_compose.state import Store
    from toolhive_compose.workloads.lifecycle import Lifecycle

    store = Store.from_env()
    name = f"thc-bench-proxy-{uuid.uuid4().hex[:6]}"
    if local:
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, str(SERVER), "--transport", "streamable-http", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port)
        direct = f"http://127.0.0.1:{port}/mcp"
        spec = ServerSpec(name=name, url=direct, transport="streamable-http")
        lifecycle = Lifecycle(None, store)  # type: ignore[arg-type]
        canon = lifecycle.create(spec, canonical(spec), project="thc-bench")

        def cleanup() -> None:
            lifecycle.delete(name, "")
            server.terminate()
            server.wait()

        return direct, f"http://127.0.0.1:{canon['port']}/mcp", cleanup
    from toolhive_compose.runtime import get_runtime

    runtime = get_runtime()
    spec = ServerSpec(
        name=name, image=IMAGE, transport="streamable-http", permission_profile_json=PROFILE
    )
    lifecycle = Lifecycle(runtime, store)
    canon = lifecycle.create(spec, canonical(spec), project="thc-bench")

    def cleanup_container() -> None:
        found = runtime.list_containers(labels=[f"toolhive-basename={name}"])
        lifecycle.delete(name, found[0].id if found else "")

    direct = f"http://127.0.0.1:{canon['target_port']}/mcp"
    return direct, f"http://127.0.0.1:{canon['port']}/mcp", cleanup_container


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="tool calls per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="sessions in parallel")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--local", action="store_true", help="local server process, no Docker")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="thc-bench-")
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        os.environ[var] = os.path.join(home, var.lower())
    direct, proxied, cleanup = setup(args.local)
    try:
        print(f"server {direct}  proxy {proxied}  ({os.cpu_count()} CPUs)")
        print(f"{'mode':<22}{'direct/s':>10}{'proxy/s':>10}{'ratio':>8}")
        worst = 1.0
        for label, concurrency in (("sequential", 1), (f"concurrent x{args.concurrency}",
                                                       args.concurrency)):  # fmt: skip
            d, p = best_of((direct, proxied), args.calls, concurrency, args.rounds)
            worst = min(worst, p / d)
            print(f"{label:<22}{d:>10.0f}{p:>10.0f}{p / d:>8.2f}")
        print(f"worst ratio {worst:.2f} (target >= {TARGET})")
        return 0 if worst >= TARGET else 1
    finally:
        cleanup()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
