"""The proxy's link to its server, which the supervisor drops and makes again.

- :class:`StdioLink`: the attached stdin/stdout/stderr stream of a stdio container, pumped
  into the :class:`~.transports.bridge.Bridge`; :attr:`StdioLink.lost` completes when the
  stream ends.
- :class:`HttpLink`: the published port of an sse / streamable-http container behind the
  reverse proxy; it is back when the server answers HTTP there (any status, as ToolHive's
  health check counts it).

Both close a :class:`~.http.outage.Gate` in :meth:`down`, so clients get 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

from .engine_async import STDERR, Demuxer, attach
from .http.outage import Gate
from .http.server import log
from .http.wire import Conn, HttpError, read_response_head
from .transports.bridge import Bridge, LineSplitter
from .transports.reverse import Upstream

PROBE_TIMEOUT = 2.0  # seconds for one HTTP probe of a container's server
PROBE_FOR = 10.0  # seconds a connect keeps probing before it reports the server missing
PROBE_PAUSE = 0.2


class StdioLink:
    """The attach stream of a stdio container, feeding ``bridge``."""

    def __init__(self, host: str, bridge: Bridge) -> None:
        self.host = host
        self.bridge = bridge
        self.lost: asyncio.Future[str] | None = None
        self._conn: Conn | None = None

    async def connect(self, container_id: str, *, new_process: bool) -> None:
        conn, multiplexed = await attach(self.host, container_id)
        self._close()
        self._conn = conn
        self.bridge.attach(conn.writer.write, conn.writer.drain, new_process=new_process)
        self.lost = asyncio.ensure_future(pump_attach(conn, self.bridge, multiplexed))

    def down(self, reason: str, retry_after: float) -> None:
        self.bridge.detach(reason, retry_after)
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HttpLink:
    """A container's HTTP server, reached through its published port."""

    def __init__(self, upstream: Upstream, gate: Gate) -> None:
        self.upstream = upstream
        self.gate = gate
        self.lost: asyncio.Future[str] | None = None  # the engine's wait says when it stops

    async def connect(self, container_id: str, *, new_process: bool) -> None:
        deadline = asyncio.get_running_loop().time() + PROBE_FOR
        while not await probe(self.upstream):
            if asyncio.get_running_loop().time() >= deadline:
                raise ConnectionRefusedError(
                    f"nothing answers HTTP on {self.upstream.origin} within {PROBE_FOR:g}s"
                )
            await asyncio.sleep(PROBE_PAUSE)
        self.gate.reopen()

    def down(self, reason: str, retry_after: float) -> None:
        self.gate.close(reason, retry_after)


async def probe(upstream: Upstream) -> bool:
    """Whether an HTTP server answers ``GET /`` on ``upstream`` (any status will do)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(upstream.host, upstream.port), PROBE_TIMEOUT
        )
    except (OSError, TimeoutError):
        return False
    conn = Conn(reader, writer)
    try:
        conn.write(
            f"GET / HTTP/1.1\r\nHost: {upstream.host_header}\r\nConnection: close\r\n\r\n".encode()
        )
        response = await asyncio.wait_for(read_response_head(conn), PROBE_TIMEOUT)
        return response is not None
    except HttpError:  # a malformed answer is still an answer
        return True
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.close()


async def pump_attach(conn: Conn, bridge: Bridge, multiplexed: bool) -> str:
    """Feed the server's stdout to the bridge and its stderr to the log, until EOF."""
    demux, out, err = Demuxer(), LineSplitter(), LineSplitter()
    try:
        while data := await conn.read_some():
            frames = demux.feed(data) if multiplexed else [(1, data)]
            for stream, payload in frames:
                if stream == STDERR:
                    for line in err.feed(payload):
                        log(f"server: {line.decode(errors='replace').rstrip()}")
                else:
                    for line in out.feed(payload):
                        bridge.on_line(line)
    except (ConnectionError, OSError) as exc:
        return f"the container's stdio stream failed: {exc}"
    return "the container's stdio stream closed"
