"""Our HTTP/1.1 layer (``proxy/http/wire.py``) against h11, on the proxy's own messages.

    python bench/wire_compare.py [--messages 20000] [--rounds 5]

Three questions, one process, the two parsers in turns:

- speed: µs to parse one MCP request (head + JSON body, as an SDK client sends it) and one
  response (FastMCP's chunked SSE answer to a ``tools/call``), fed from memory, best of
  ``--rounds``; ours through its asyncio ``Conn`` exactly as the proxy reads, h11 through
  ``Connection.receive_data``/``next_event`` (sans-IO, so without the asyncio read it would
  still need around it);
- memory: unique memory that importing each adds to an interpreter that already has asyncio
  (``/proc/self/smaps_rollup`` Private_*, each in a fresh subprocess), and the bytes one
  parsed request keeps alive (``tracemalloc``);
- correctness: the hostile requests of ``tests/test_proxy_hostile.py``, refused or not.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import h11

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_proxy_hostile import HOSTILE  # noqa: E402
from toolhive_compose.proxy.http import wire  # noqa: E402

BODY = (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"text":"m7"}}}')  # fmt: skip
REQUEST = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:19126\r\nAccept: application/json, "
    b"text/event-stream\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    b"User-Agent: python-httpx/0.28.1\r\nContent-Type: application/json\r\n"
    b"Mcp-Session-Id: 3f2a9c1e0b7d4e5f8a6b1c2d3e4f5a6b\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
EVENT = (b'event: message\r\ndata: {"jsonrpc":"2.0","id":7,"result":{"content":[{"type":'
         b'"text","text":"m7"}],"isError":false}}\r\n\r\n')  # fmt: skip
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 04:00:00 GMT\r\nserver: uvicorn\r\n"
    b"cache-control: no-cache, no-transform\r\nconnection: keep-alive\r\n"
    b"content-type: text/event-stream\r\nmcp-session-id: 3f2a9c1e0b7d4e5f8a6b1c2d3e4f5a6b\r\n"
    b"x-accel-buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
)


def _conn(data: bytes) -> wire.Conn:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return wire.Conn(reader, None)  # type: ignore[arg-type]  # nothing is written


async def ours_requests(n: int) -> float:  # (the time includes the asyncio reads)
    conn = _conn(REQUEST * n)
    start = time.perf_counter()
    for _ in range(n):
        request = await wire.read_request(conn)
        assert request is not None and request.body == BODY
    return time.perf_counter() - start


async def ours_responses(n: int) -> float:
    conn = _conn(RESPONSE * n)
    start = time.perf_counter()
    for _ in range(n):
        response = await wire.read_response_head(conn)
        assert response is not None
        body = b"".join([part async for part in wire.iter_chunked(conn)])
        assert body == EVENT
    return time.perf_counter() - start


def h11_requests(n: int) -> float:
    data = REQUEST * n
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    start = time.perf_counter()
    for _ in range(n):
        event = conn.next_event()
        assert isinstance(event, h11.Request)
        body = b""
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            body += event.data  # type: ignore[union-attr]
        assert body == BODY
        conn.send(h11.Response(status_code=202, headers=[("content-length", "0")]))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()
    return time.perf_counter() - start


def h11_responses(n: int) -> float:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(method="POST", target="/mcp", headers=[("Host", "x"),
                          ("Content-Length", "0")])  # fmt: skip
    start = time.perf_counter()
    for _ in range(n):
        conn.send(request)
        conn.send(h11.EndOfMessage())
        conn.receive_data(RESPONSE)
        event = conn.next_event()
        assert isinstance(event, h11.Response)
        body = b""
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            body += event.data  # type: ignore[union-attr]
        assert body == EVENT
        conn.start_next_cycle()
    return time.perf_counter() - start


def ours_verdict(payload: bytes) -> str:
    async def parse() -> str:
        try:
            await wire.read_request(_conn(payload))
        except wire.HttpError as exc:
            return str(exc.status)
        except asyncio.IncompleteReadError:
            return "waits for more"
        return "accepted"

    return asyncio.run(parse())


def h11_verdict(payload: bytes) -> str:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=wire.MAX_HEAD)
    conn.receive_data(payload)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return "waits for more"
            if isinstance(event, h11.EndOfMessage):
                return "accepted"
    except h11.RemoteProtocolError as exc:
        return str(exc.error_status_hint)


def import_private_kib(module: str) -> int:
    code = (
        "import asyncio\n"
        "def p():\n"
        "    return sum(int(l.split()[1]) for l in open('/proc/self/smaps_rollup')"
        " if l.startswith('Private_'))\n"
        f"a = p()\nimport {module}\nprint(p() - a)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)  # fmt: skip
    return int(done.stdout)


def kept_bytes(parse: Any, n: int = 1000) -> float:
    """Bytes per parsed request that stay allocated while its result is kept."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = parse(n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / n


def ours_keep(n: int) -> list[Any]:
    async def parse() -> list[Any]:
        conn = _conn(REQUEST * n)
        return [await wire.read_request(conn) for _ in range(n)]

    return asyncio.run(parse())


def h11_keep(n: int) -> list[Any]:
    kept = []
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(REQUEST * n)
    for _ in range(n):
        request = conn.next_event()
        body = conn.next_event()
        conn.next_event()  # EndOfMessage
        kept.append((request, body))
        conn.send(h11.Response(status_code=202, headers=[("content-length", "0")]))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.messages
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for key, run in (
            ("ours request", lambda: asyncio.run(ours_requests(n))),
            ("h11 request", lambda: h11_requests(n)),
            ("ours response", lambda: asyncio.run(ours_responses(n))),
            ("h11 response", lambda: h11_responses(n)),
        ):
            best[key] = min(best.get(key, float("inf")), run() / n * 1e6)
    print(f"h11 {h11.__version__}; µs per message, best of {args.rounds} x {n}:")
    for key, value in best.items():
        print(f"  {key:<14} {value:7.2f}")
    print("unique memory the import adds next to asyncio (KiB): "
          f"ours {import_private_kib('toolhive_compose.proxy.http.wire')}, "
          f"h11 {import_private_kib('h11')}")  # fmt: skip
    print(
        f"bytes per parsed request (head + body) while kept: "
        f"ours {kept_bytes(ours_keep):.0f}, h11 {kept_bytes(h11_keep):.0f}"
    )
    print(f"{'hostile request':<26}{'expected':>9}{'ours':>16}{'h11':>16}")
    for what, payload, status in HOSTILE:
        print(f"{what:<26}{status:>9}{ours_verdict(payload):>16}{h11_verdict(payload):>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
