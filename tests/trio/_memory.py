"""An in-memory Socket.IO client for the trio binding, through its transport hook.

It speaks Engine.IO / Socket.IO frames by hand (WebSocket style, one packet per frame), so
the tests see exactly what goes over the wire. ``slow=True`` makes its transport stop
taking frames until ``release()``: a client that does not read.
"""

from __future__ import annotations

import json
from typing import Any

import trio

from sansio_rooms_trio import AsyncServer, Connection


class _Gate:
    """A resettable gate (trio's Event cannot be cleared)."""

    def __init__(self, is_open: bool) -> None:
        self.is_open = is_open
        self._lot = trio.lowlevel.ParkingLot()

    def set(self) -> None:
        self.is_open = True
        self._lot.unpark_all()

    def clear(self) -> None:
        self.is_open = False

    async def wait(self) -> None:
        while not self.is_open:
            await self._lot.park()


class MemoryClient:
    def __init__(self, server: AsyncServer, *, slow: bool = False) -> None:
        self.frames: list[str | bytes] = []
        self._arrived = trio.lowlevel.ParkingLot()
        self.gate = _Gate(not slow)
        self.closed = trio.Event()
        self.conn: Connection = server.attach(self._send, close=self._close)
        self.sids: dict[str, str] = {}

    async def _send(self, frame: str | bytes) -> None:
        await self.gate.wait()
        self.frames.append(frame)
        self._arrived.unpark_all()

    async def _close(self) -> None:
        self.closed.set()

    def release(self) -> None:
        self.gate.set()

    def feed(self, frame: str | bytes) -> None:
        self.conn.feed(frame)

    async def wait_for(self, prefix: str, timeout: float = 2.0) -> str:
        """The first received text frame starting with ``prefix`` (removed from the list)."""
        with trio.fail_after(timeout):
            while True:
                for index, frame in enumerate(self.frames):
                    if isinstance(frame, str) and frame.startswith(prefix):
                        del self.frames[index]
                        return frame
                await self._arrived.park()

    def texts(self, prefix: str = "42") -> list[str]:
        return [f for f in self.frames if isinstance(f, str) and f.startswith(prefix)]

    async def connect(self, nsp: str = "/", auth: Any = None) -> str:
        prefix = "" if nsp == "/" else nsp + ","
        self.feed("40" + prefix + ("" if auth is None else json.dumps(auth)))
        reply = await self.wait_for("40" + prefix + "{")
        sid: str = json.loads(reply[len("40" + prefix) :])["sid"]
        self.sids[nsp] = sid
        return sid

    def emit(self, event: str, *args: Any, nsp: str = "/", ack_id: int | None = None) -> None:
        prefix = "" if nsp == "/" else nsp + ","
        ack = "" if ack_id is None else str(ack_id)
        self.feed("42" + prefix + ack + json.dumps([event, *args], separators=(",", ":")))


async def settle() -> None:
    """Let the tasks the server spawned (handlers, writers) run until they are blocked."""
    await trio.testing.wait_all_tasks_blocked()
