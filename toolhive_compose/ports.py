"""Host port checks and selection, as ToolHive does them (TCP and UDP bind on 127.0.0.1)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable

PORT_MIN, PORT_MAX = 10000, 65535


def is_available(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            # As Go's listeners (ToolHive's check) do: a port whose old connections linger in
            # TIME_WAIT is free, else a recreate could not take its own port back at once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class PortAllocator:
    """Hands out free ports, never the same one twice in one process."""

    def __init__(self, taken: Callable[[], set[int]] = set) -> None:
        self._taken = taken
        self._known: set[int] | None = None  # ports in state, read once per allocator
        self._given: set[int] = set()
        self._lock = threading.Lock()

    def claim(self, port: int) -> bool:
        """Reserve a specific port; False if it is taken or not free on the host."""
        with self._lock:
            if port in self._given:
                return False
            self._given.add(port)
            return True

    def release(self, port: int) -> None:
        with self._lock:
            self._given.discard(port)

    def allocate(self) -> int:
        """A random free port in [10000, 65535), then a sequential scan (ToolHive's order)."""
        with self._lock:
            if self._known is None:  # one read of the state per apply, not one per port
                self._known = self._taken()
            taken = self._known
            for _ in range(10):
                port = PORT_MIN + secrets.randbelow(PORT_MAX - PORT_MIN)
                if self._take(port, taken):
                    return port
            for port in range(PORT_MIN, PORT_MAX):
                if self._take(port, taken):
                    return port
        raise OSError("no free port in 10000-65535")

    def _take(self, port: int, taken: set[int]) -> bool:
        if port in taken or port in self._given or not is_available(port):
            return False
        self._given.add(port)
        return True
