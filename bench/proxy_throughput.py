"""The proxy's rows: MCP ``tools/call`` through the proxy against the same server without it.

    python bench/proxy_throughput.py [--calls 400] [--concurrency 8] [--rounds 5]
                                     [--spawn] [--no-stdio] [--local] [--json FILE]

Starts (state in a temporary XDG home) one streamable-http workload and one stdio workload
of ``thc-test/mcp-py:1`` through ``Lifecycle.create``, their proxies forked from one
launcher as ``thv apply`` forks them (``--spawn``: each a process of its own, as ``thv
start`` / ``thv run`` start them), and a third container of the same image that the bench
drives over its own stdio (``rawio.RawStdio``).  Then:

1. memory: each proxy's unique memory (``/proc/<pid>/smaps_rollup`` Private_Clean +
   Private_Dirty) idle, then after 2,400 ``tools/call`` (1,200 one at a time, 1,200 over 8
   sessions), with the CPU the proxy spent per call;
2. ``--rounds`` rounds, baseline and proxy back to back (which goes first alternates):
   HTTP sequential (with every call's latency), HTTP over ``--concurrency`` sessions, and
   stdio sequential (the bridge, through ``http.client``, against the raw driver).

Each round gives a ratio (proxy / baseline calls per second) measured seconds apart; the
rows are the median of the rounds and their range.  Added latency is the proxy's p50 (p99)
minus the direct p50 (p99) of the same round.  The HTTP clients are raw JSON-RPC over
keep-alive ``httpx.AsyncClient`` connections, so the proxy's cost is not hidden behind a
heavy client.  ``--local`` runs the HTTP server as a local process behind a remote workload
instead (no Docker; no stdio row).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from rawio import INIT, RawHttp, RawStdio, call_msg, cpu_seconds, private_kib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
IMAGE = "thc-test/mcp-py:1"
SERVER = REPO / "tests" / "support" / "mcp_server.py"
PROFILE = '{"name":"network","network":{"inbound":{},"outbound":{"insecure_allow_all":true}}}'
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
MEMORY_CALLS = 2400
TARGETS = {"http_seq": 0.9, "http_par": 0.9, "stdio_seq": 0.8, "p50_ms": 0.3, "p99_ms": 1.0,
           "private_mib": 8.0}  # fmt: skip


def _answer(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                return dict(json.loads(line[5:]))
        raise RuntimeError("no data in SSE answer")
    return dict(response.json())


async def open_session(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    response = await client.post(url, json=INIT, headers=HEADERS)
    _answer(response)
    headers = dict(HEADERS)
    if sid := response.headers.get("mcp-session-id"):
        headers["Mcp-Session-Id"] = sid
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    (await client.post(url, json=note, headers=headers)).raise_for_status()
    return headers


async def run_calls(
    client: httpx.AsyncClient, url: str, calls: int, latencies: list[float] | None = None
) -> None:
    headers = await open_session(client, url)
    for i in range(1, calls + 1):
        start = time.perf_counter()
        answer = _answer(await client.post(url, json=call_msg(i), headers=headers))
        if latencies is not None:
            latencies.append(time.perf_counter() - start)
        assert answer["result"]["content"][0]["text"] == f"m{i}", answer


async def measure(
    url: str, calls: int, concurrency: int, latencies: list[float] | None = None
) -> float:
    """calls/s for ``calls`` tool calls spread over ``concurrency`` sessions."""
    limits = httpx.Limits(
        max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
    )
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await run_calls(client, url, 5)  # warm up
        start = time.perf_counter()
        per = calls // concurrency
        lists = latencies if concurrency == 1 else None
        await asyncio.gather(*(run_calls(client, url, per, lists) for _ in range(concurrency)))
        return per * concurrency / (time.perf_counter() - start)


def stdio_rate(driver: RawStdio | RawHttp, calls: int) -> float:
    """calls/s of ``calls`` sequential tools/call over an initialised driver."""
    for i in range(1, 6):
        driver.request(call_msg(i))
    start = time.perf_counter()
    for i in range(1, calls + 1):
        answer = driver.request(call_msg(i))
        assert answer["result"]["content"][0]["text"] == f"m{i}", answer
    return calls / (time.perf_counter() - start)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    """The workloads under test and the measurements."""

    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.urls: dict[str, str] = {}  # http_direct, http_proxy, stdio_proxy
        self.pids: dict[str, int] = {}  # http, stdio: the proxies
        self.raw_container = ""

    # -- set-up --------------------------------------------------------------------------
    def setup(self) -> None:
        from toolhive_compose.fingerprint import canonical
        from toolhive_compose.model import ServerSpec
        from toolhive_compose.state import Store
        from toolhive_compose.workloads.lifecycle import Lifecycle

        store = Store.from_env()
        tag = uuid.uuid4().hex[:6]
        runtime = None
        specs = []
        if self.args.local:
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, str(SERVER), "--transport", "streamable-http",
                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self.stack.callback(server.wait)
            self.stack.callback(server.terminate)
            _wait_port(port)
            self.urls["http_direct"] = f"http://127.0.0.1:{port}/mcp"
            specs.append(("http", ServerSpec(name=f"thc-bench-http-{tag}",
                          url=self.urls["http_direct"], transport="streamable-http")))  # fmt: skip
        else:
            from toolhive_compose.runtime import get_runtime

            runtime = get_runtime()
            http = ServerSpec(
                name=f"thc-bench-http-{tag}",
                image=IMAGE,
                transport="streamable-http",
                permission_profile_json=PROFILE,
            )
            specs.append(("http", http))
            if self.args.stdio:
                stdio = ServerSpec(name=f"thc-bench-stdio-{tag}", image=IMAGE, transport="stdio")
                specs.append(("stdio", stdio))
        lifecycle = Lifecycle(runtime, store)  # type: ignore[arg-type]
        launching = ExitStack()
        if not self.args.spawn:
            launching.enter_context(lifecycle.launching_proxies())
        with launching:
            for key, spec in specs:
                canon = lifecycle.create(spec, canonical(spec), project="thc-bench")
                self.stack.callback(self._delete, lifecycle, runtime, spec.name)
                self.urls[f"{key}_proxy"] = f"http://127.0.0.1:{canon['port']}/mcp"
                status = store.statuses.get(spec.name)
                assert status is not None and status.process_id
                self.pids[key] = status.process_id
                if key == "http" and not self.args.local:
                    self.urls["http_direct"] = f"http://127.0.0.1:{canon['target_port']}/mcp"
        if self.args.stdio and not self.args.local:
            name = f"thc-bench-raw-{tag}"
            self.raw_container = subprocess.run(
                ["docker", "run", "-d", "-i", "--network", "none", "--name", name,
                 "--label", "thc-bench.raw=1", IMAGE], check=True, capture_output=True,
                text=True,
            ).stdout.strip()  # fmt: skip
            self.stack.callback(
                subprocess.run, ["docker", "rm", "-f", name], capture_output=True, check=False
            )

    @staticmethod
    def _delete(lifecycle: Any, runtime: Any, name: str) -> None:
        found = runtime.list_containers(labels=[f"toolhive-basename={name}"]) if runtime else []
        lifecycle.delete(name, found[0].id if found else "")

    # -- measurements --------------------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        """Unique memory of each proxy idle and after MEMORY_CALLS calls; CPU per call."""
        out: dict[str, Any] = {}
        half = MEMORY_CALLS // 2
        for key, pid in self.pids.items():
            url = self.urls[f"{key}_proxy"]
            idle = private_kib(pid)
            cpu = cpu_seconds(pid)
            asyncio.run(measure(url, half, 1))
            asyncio.run(measure(url, half, self.args.concurrency))
            used = cpu_seconds(pid) - cpu
            after = private_kib(pid)
            out[key] = {"idle": idle, "after": after, "cpu_us_per_call": used / MEMORY_CALLS * 1e6}
            print(f"{key} proxy (pid {pid}): idle {idle['private'] / 1024:.1f} MiB private, "
                  f"after {MEMORY_CALLS} calls {after['private'] / 1024:.1f} MiB "
                  f"(Pss {after['pss'] / 1024:.1f}), {used / MEMORY_CALLS * 1e6:.0f} µs CPU "
                  "per call")  # fmt: skip
        return out

    def round(self, index: int) -> dict[str, float]:
        a = self.args
        first = index % 2  # who goes first alternates
        out: dict[str, float] = {}
        pair = (self.urls["http_direct"], self.urls["http_proxy"])
        order = (0, 1) if first == 0 else (1, 0)
        rates = [0.0, 0.0]
        lat: list[list[float]] = [[], []]
        for i in order:
            rates[i] = asyncio.run(measure(pair[i], a.calls, 1, lat[i]))
        out["http_seq"] = rates[1] / rates[0]
        out["http_seq_direct"], out["http_seq_proxy"] = rates
        for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
            out[key] = (percentile(lat[1], q) - percentile(lat[0], q)) * 1000
            out[f"{key}_direct"] = percentile(lat[0], q) * 1000
        for i in order:
            rates[i] = asyncio.run(measure(pair[i], a.calls, a.concurrency))
        out["http_par"] = rates[1] / rates[0]
        out["http_par_direct"], out["http_par_proxy"] = rates
        if "stdio_proxy" in self.urls:
            drivers: list[Any] = [RawStdio(self.raw_container), RawHttp(self.urls["stdio_proxy"])]
            for driver in drivers:
                driver.initialize()
            for i in order:
                rates[i] = stdio_rate(drivers[i], a.calls)
            for driver in drivers:
                driver.close()
            out["stdio_seq"] = rates[1] / rates[0]
            out["stdio_seq_raw"], out["stdio_seq_proxy"] = rates
        print(f"round {index + 1}: " + ", ".join(
            f"{k} {v:.3g}" for k, v in out.items()), flush=True)  # fmt: skip
        return out


def summarise(rounds: list[dict[str, float]], memory: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for key in rounds[0] if rounds else ():
        values = [r[key] for r in rounds]
        rows[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    if "http" in memory:
        rows["private_mib"] = {"median": memory["http"]["after"]["private"] / 1024}
    return rows


def print_table(rows: dict[str, Any]) -> bool:
    met = True
    print(f"{'row':<14}{'median':>9}{'min':>9}{'max':>9}  target")
    for key, target in TARGETS.items():
        if key not in rows:
            continue
        row = rows[key]
        higher = key in ("http_seq", "http_par", "stdio_seq")
        ok = row["median"] >= target if higher else row["median"] <= target
        met &= ok
        spread = f"{row.get('min', row['median']):>9.3f}{row.get('max', row['median']):>9.3f}"
        sign = ">=" if higher else "<="
        print(f"{key:<14}{row['median']:>9.3f}{spread}  {sign} {target} "
              f"{'met' if ok else 'NOT met'}")  # fmt: skip
    return met


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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="tool calls per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="sessions in parallel")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians are reported)")
    parser.add_argument("--spawn", action="store_true", help="proxies as processes of their own")
    parser.add_argument("--no-stdio", dest="stdio", action="store_false", help="no stdio row")
    parser.add_argument("--local", action="store_true", help="local HTTP server, no Docker")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="thc-bench-")
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        os.environ[var] = os.path.join(home, var.lower())
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, home, ignore_errors=True)
        bench = Bench(args, stack)
        bench.setup()
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"proxies {'spawned' if args.spawn else 'forked by one launcher'}")  # fmt: skip
        memory = bench.memory()
        rounds = [bench.round(i) for i in range(args.rounds)]
        rows = summarise(rounds, memory)
        met = print_table(rows)
        end = os.getloadavg()
        print(f"load at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
        if args.json:
            doc = {"args": vars(args) | {"json": str(args.json)}, "load": [load, end],
                   "memory": memory, "rounds": rounds, "rows": rows}  # fmt: skip
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, indent=1))
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
