"""What the tool guard costs: ``tools/call`` and ``tools/list`` through the proxy with a tool
filter, an override and pins active, against the same server behind a proxy without them.

    python bench/tool_filter_throughput.py [--calls 400] [--concurrency 8] [--rounds 3]

Starts, per transport (a stdio server behind the bridge, a streamable-HTTP server behind the
reverse proxy), two workloads of ``thc-test/mcp-surface:1`` through ``Lifecycle.create``
(state in a temporary XDG home): one plain, one with ``tools`` (every tool, so both answer
alike), a description override and a pin per tool (matching, so nothing is withheld).  Then
N sequential and N concurrent (C sessions) calls of each method against both, in rounds:
each round measures both back to back (in turns, which goes first), so a load spike hits both
alike, and gives one ratio guarded/plain.  Prints the best calls/s of each and the median of
the rounds' ratios; the target is ≥ 0.95 (at most 5 % slower).  On a loaded machine calls/s
swing by more than that from one run to the next, so each round also takes the CPU time the
two proxy processes spent (``/proc/<pid>/task/*/schedstat``, nanoseconds): the median ratio
of CPU per call, guarded/plain, is the guard's cost itself (target ≤ 1.05).  Last, the guard's
own work per message, timed in this process on the same messages (best of 5 × 2000, which
load hardly moves): what it adds to the plain proxy's CPU per call.  The client is raw
JSON-RPC over one keep-alive ``httpx.AsyncClient``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from proxy_throughput import REPO, _answer, open_session  # also puts the repository on sys.path

IMAGE = "thc-test/mcp-surface:1"
PROFILE = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'
TARGET = 0.95
CPU_TARGET = 1.05
TOOLS = ("add", "echo", "whoami")
GUARD: dict[str, Any] = {}  # the guarded workloads' tools and run config, for guard_cost()


def call_echo(i: int) -> tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]:
    msg = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": f"m{i}"}}}  # fmt: skip
    return msg, lambda answer: answer["result"]["content"][0]["text"] == f"m{i}"


def list_tools(i: int) -> tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]:
    msg = {"jsonrpc": "2.0", "id": i, "method": "tools/list"}
    return msg, lambda answer: len(answer["result"]["tools"]) == len(TOOLS)


async def run(client: httpx.AsyncClient, url: str, count: int, make: Any) -> None:
    headers = await open_session(client, url)
    for i in range(1, count + 1):
        msg, ok = make(i)
        answer = _answer(await client.post(url, json=msg, headers=headers))
        assert ok(answer), answer


def cpu_ns(pid: int) -> int:
    """CPU time the process has spent, all its threads (nanoseconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


async def measure(url: str, calls: int, concurrency: int, make: Any) -> float:
    limits = httpx.Limits(
        max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
    )
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await run(client, url, 5, make)  # warm up
        per = calls // concurrency
        start = time.perf_counter()
        await asyncio.gather(*(run(client, url, per, make) for _ in range(concurrency)))
        return per * concurrency / (time.perf_counter() - start)


Side = tuple[str, int]  # a proxy's URL and PID


def setup() -> tuple[dict[str, tuple[Side, Side]], Any]:
    """transport -> (plain, guarded) proxies, and the clean-up."""
    from toolhive_compose.fingerprint import canonical
    from toolhive_compose.model import ServerSpec
    from toolhive_compose.proxy.processes.readiness import wait_ready
    from toolhive_compose.runtime import get_runtime
    from toolhive_compose.state import Store
    from toolhive_compose.tools import tool_digest
    from toolhive_compose.workloads.lifecycle import Lifecycle

    subprocess.run(["bash", str(REPO / "scripts" / "build-images.sh"), "surface"], check=True)
    runtime, store = get_runtime(), Store.from_env()
    lifecycle = Lifecycle(runtime, store)
    run_id = uuid.uuid4().hex[:6]
    names: list[str] = []
    urls: dict[str, tuple[Side, Side]] = {}
    for transport in ("stdio", "streamable-http"):
        pair = []
        for guarded in (False, True):
            name = f"thc-bench-tools-{run_id}-{transport[:5]}-{'on' if guarded else 'off'}"
            spec = ServerSpec(name=name, image=IMAGE, transport=transport,
                              permission_profile_json=PROFILE)  # fmt: skip
            canon = lifecycle.create(spec, canonical(spec), project="thc-bench")
            names.append(name)
            url = f"http://127.0.0.1:{canon['port']}/mcp"
            if guarded:  # every tool admitted, one described anew, each pinned as it is seen
                tools = wait_ready(url, sse=False, timeout=30)
                override = {"add": {"description": "Adds two numbers."}}
                seen = [{**t, **override.get(t["name"], {})} for t in tools]
                guard = {**canon, "tools": list(TOOLS), "tools_override": override,
                         "tool_pins": {t["name"]: tool_digest(t) for t in seen}}  # fmt: skip
                lifecycle.reconfigure(name, guard)
                GUARD.update(tools=tools, rc={"name": "thc-bench-guard",
                                              "tools_filter": list(TOOLS),
                                              "tools_override": override,
                                              "toolhive_compose": {"spec": {
                                                  "tool_pins": guard["tool_pins"]}}})  # fmt: skip
            status = store.statuses.get(name)
            pair.append((url, status.process_id if status else 0))
        urls[transport] = (pair[0], pair[1])

    def cleanup() -> None:
        for name in names:
            found = runtime.list_containers(labels=[f"toolhive-basename={name}"])
            lifecycle.delete(name, found[0].id if found else "")

    return urls, cleanup


def guard_cost(tools: list[dict[str, Any]], guard_rc: dict[str, Any]) -> dict[str, float]:
    """µs the guard adds per message, on each path (the guard alone, in this process)."""
    import json
    import timeit

    from toolhive_compose.proxy.transports.jsonrpc import parse_messages
    from toolhive_compose.proxy.transports.reverse_tools import Asked, ToolScreen
    from toolhive_compose.proxy.transports.toolsurface import SurfaceGuard, may_concern_tools
    from toolhive_compose.state import Store

    store = Store.from_env()
    store.runconfigs.write("thc-bench-guard", guard_rc)
    guard = SurfaceGuard("thc-bench-guard", store, store.runconfigs.read("thc-bench-guard") or {})
    screen = ToolScreen(guard)
    call = call_echo(1)[0]
    call_body = json.dumps(call).encode()
    listed = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}}).encode()
    list_body = json.dumps(list_tools(1)[0]).encode()

    def reverse_call() -> None:
        if may_concern_tools(call_body):
            guard.requests(parse_messages(call_body)[0])

    def reverse_list() -> None:
        if may_concern_tools(list_body):
            asked = guard.requests(parse_messages(list_body)[0])
            screen.json_body(listed, Asked(asked.lists, asked.answers))

    stdio_list_message = json.loads(listed)
    paths = {
        ("stdio", "tools/call"): lambda: guard.requests([call]),
        ("stdio", "tools/list"): lambda: guard.response(stdio_list_message),
        ("streamable-http", "tools/call"): reverse_call,
        ("streamable-http", "tools/list"): reverse_list,
    }
    return {
        key: min(timeit.repeat(fn, number=2000, repeat=5)) / 2000 * 1e6 for key, fn in paths.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="sessions in parallel")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (median ratio)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="thc-bench-tools-")
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        os.environ[var] = os.path.join(home, var.lower())
    urls, cleanup = setup()
    try:
        print(f"{os.cpu_count()} CPUs; guarded = tools filter + override + pins")
        print(f"{'transport':<17}{'method':<12}{'mode':<15}{'plain/s':>9}{'guarded/s':>11}"
              f"{'ratio':>7}{'cpu/call plain':>17}{'guarded':>10}{'ratio':>7}")  # fmt: skip
        worst, worst_cpu = 1.0, 0.0
        added = guard_cost(GUARD["tools"], GUARD["rc"])
        shares = []
        for transport, (plain, guarded) in urls.items():
            for method, make in (("tools/call", call_echo), ("tools/list", list_tools)):
                for mode, conc in (("sequential", 1), (f"concurrent x{args.concurrency}",
                                                       args.concurrency)):  # fmt: skip
                    best, ratios, cpu, cpu_ratios = [0.0, 0.0], [], [[], []], []
                    for round_ in range(args.rounds):
                        rates, spent = [0.0, 0.0], [0.0, 0.0]
                        for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                            url, pid = (plain, guarded)[i]
                            before = cpu_ns(pid)
                            rates[i] = asyncio.run(measure(url, args.calls, conc, make))
                            spent[i] = (cpu_ns(pid) - before) / (args.calls + 5) / 1000
                            best[i] = max(best[i], rates[i])
                            cpu[i].append(spent[i])
                        ratios.append(rates[1] / rates[0])
                        cpu_ratios.append(spent[1] / spent[0])
                    ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
                    worst, worst_cpu = min(worst, ratio), max(worst_cpu, cpu_ratio)
                    us = [statistics.median(c) for c in cpu]
                    shares.append(((transport, method), added[(transport, method)] / us[0]))
                    print(f"{transport:<17}{method:<12}{mode:<15}{best[0]:>9.0f}"
                          f"{best[1]:>11.0f}{ratio:>7.2f}{us[0]:>14.0f} µs"
                          f"{us[1]:>7.0f} µs{cpu_ratio:>7.2f}")  # fmt: skip
        for (transport, method), cost in added.items():
            share = max(s for k, s in shares if k == (transport, method))
            print(f"guard alone, {transport:<16}{method:<11}{cost:>6.1f} µs per message "
                  f"= {share:.1%} of the plain proxy's CPU per call")  # fmt: skip
        worst_share = max(s for _, s in shares)
        print(f"worst throughput ratio {worst:.2f} (target >= {TARGET}); "
              f"worst proxy CPU per call {worst_cpu:.2f}x (target <= {CPU_TARGET}); "
              f"guard alone at most {worst_share:.1%} (target <= 5%)")  # fmt: skip
        return 0 if worst >= TARGET and worst_cpu <= CPU_TARGET else 1
    finally:
        cleanup()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
