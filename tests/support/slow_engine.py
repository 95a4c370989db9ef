"""A slow Docker engine: a unix-socket relay in front of a real engine that holds chosen
requests back before passing them on.

An engine under load carries out a request long after the client sent it — and carries it out
even when the client is gone by then.  The relay makes that timing reproducible: a request
whose method and path match a rule waits ``delay`` seconds, then goes to the engine whatever
happened to the client meanwhile (a SIGKILLed ``thv apply`` leaves its create or remove in
flight, exactly the situation the next apply must cope with).  Every request on a connection
is looked at, not only the first (``thv`` keeps its connections open between requests); the
others are relayed as they are, hijacked attach streams byte by byte.

``on_request`` sees each matching request as it arrives (method, path), so a test can act at
that exact moment (kill the client, open a gate); when it returns a number, that request is
held that many seconds instead.  The relay runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HEAD_LIMIT = 1 << 16


@dataclass(frozen=True, slots=True)
class Rule:
    """Hold back requests whose ``METHOD path`` matches ``pattern`` (a regex) for ``delay``
    seconds, or — with a ``gate`` — until the gate is opened (at most ``delay`` seconds)."""

    pattern: str
    delay: float
    gate: threading.Event | None = None

    def matches(self, method: str, path: str) -> bool:
        return re.search(self.pattern, f"{method} {path}") is not None


class SlowEngine:
    """``unix://<dir>/engine.sock`` relaying to ``upstream`` (a unix socket path)."""

    def __init__(
        self,
        upstream: str = "/var/run/docker.sock",
        rules: tuple[Rule, ...] = (),
        on_request: Callable[[str, str], float | None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.rules = list(rules)
        self.on_request = on_request
        self.dir = Path(tempfile.mkdtemp(prefix="thc-slow-"))
        self.socket = self.dir / "engine.sock"
        self.host = f"unix://{self.socket}"
        self.held = 0  # requests held back so far
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-engine", daemon=True)
        self._pending: set[asyncio.Task[None]] = set()  # every relayed connection
        self._held: set[asyncio.Task[None]] = set()  # those carrying a held-back request

    def start(self) -> SlowEngine:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the slow engine relay did not start")
        return self

    def close(self) -> None:
        """Stop accepting; requests still held back are passed on first (at most 30 s), then
        every relayed connection (attach streams of proxies that used it too) is cut."""
        if self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
            with contextlib.suppress(Exception):
                future.result(timeout=35)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        with contextlib.suppress(OSError):
            self.socket.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    # -- the relay ---------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._server = await asyncio.start_unix_server(self._client, path=str(self.socket))

    async def _drain(self) -> None:
        self._server.close()
        if self._held:
            await asyncio.wait(self._held, timeout=30)
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pending.add(task)
        try:
            await self._relay(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._pending.discard(task)
            self._held.discard(task)
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Request by request: clients keep their connection open between requests, so each
        request is looked at, not only a connection's first."""
        upstream: tuple[asyncio.StreamWriter, asyncio.Task[None]] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed its connection between requests
                method, path = _request_line(head)
                rule = next((r for r in self.rules if r.matches(method, path)), None)
                if rule is not None and rule.delay:
                    await self._held_back(rule, method, path, head, reader, writer)
                    return  # answered with "Connection: close"
                if _streams(head):  # hijacked (attach) or chunked: bytes as they come
                    await self._raw(head, reader, writer)
                    return
                body = await reader.readexactly(_content_length(head))
                if upstream is None:
                    up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
                    answers = asyncio.ensure_future(_pipe(up_reader, writer))
                    upstream = (up_writer, answers)
                upstream[0].write(head + body)
                await upstream[0].drain()
        finally:
            if upstream is not None:
                upstream[0].close()
                upstream[1].cancel()

    async def _raw(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        up_writer.write(head)
        await up_writer.drain()
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        up_writer.close()

    async def _held_back(
        self,
        rule: Rule,
        method: str,
        path: str,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """The whole request is taken before the client may die, held back, then given to
        the engine, which answers it even if the client is gone (as a real engine would);
        "Connection: close" ends the exchange there."""
        body = await reader.readexactly(_content_length(head))
        self.held += 1
        task = asyncio.current_task()
        if task is not None:
            self._held.add(task)
        override = self.on_request(method, path) if self.on_request is not None else None
        if override is not None:
            await asyncio.sleep(override)
        elif rule.gate is not None:
            await self._loop.run_in_executor(None, rule.gate.wait, rule.delay)
        else:
            await asyncio.sleep(rule.delay)
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        up_writer.write(_closing(head) + body)
        await up_writer.drain()
        await _answer(up_reader, writer)
        up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(HEAD_LIMIT):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the engine's whole answer; pass it on while the client is still there."""
    client = True
    while data := await reader.read(HEAD_LIMIT):
        if client:
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError, RuntimeError):
                client = False


def _request_line(head: bytes) -> tuple[str, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    method, _, rest = line.partition(" ")
    path = rest.rpartition(" ")[0].split("?", 1)[0]
    return method, re.sub(r"^/v[0-9.]+", "", path)


def _closing(head: bytes) -> bytes:
    """The request head with ``Connection: close``."""
    lines = [ln for ln in head[:-4].split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _streams(head: bytes) -> bool:
    """A request whose bytes are relayed as they come: a hijacked (attach) stream, or a
    chunked body."""
    return re.search(rb"(?im)^(upgrade:|transfer-encoding:\s*chunked)", head) is not None


def _content_length(head: bytes) -> int:
    found = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return int(found.group(1)) if found else 0


@contextlib.contextmanager
def slow_engine(
    *rules: Rule, on_request: Callable[[str, str], float | None] | None = None
) -> Iterator[SlowEngine]:
    """A started relay in front of the shared engine; closed afterwards."""
    engine = SlowEngine(rules=rules, on_request=on_request).start()
    try:
        yield engine
    finally:
        engine.close()
