"""An in-memory Socket.IO client for either binding, through its transport hook
(``server.attach``), and the few waiting primitives the tests need on both loops.

It speaks Engine.IO / Socket.IO frames by hand (WebSocket style, one packet per frame), so
the tests see exactly what goes over the wire. ``slow=True`` makes its transport stop
taking frames until ``release()``: a client that does not read.

The waiting is anyio's, which works under whichever loop runs it (``asyncio.run``, or
``trio.run`` with or without a MockClock). Two things anyio does its own way are avoided: its
``Event.wait()`` yields even when the event is already set (an open gate must not, so that a
binding's send to an idle client can complete without a task switch, as with the loops'
events), and its ``wait_all_tasks_blocked`` polls every 0.1 s on asyncio (see :func:`settle`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import sniffio
import trio.testing

__all__ = ["Gate", "MemoryClient", "Signal", "settle"]


class Signal:
    """Wakes whoever waits now (not later waiters): ``notify()`` / ``await wait()``."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class Gate:
    """A gate that can be closed again (anyio's and trio's events cannot be cleared);
    ``wait()`` returns at once, without a task switch, when it is open."""

    def __init__(self, is_open: bool) -> None:
        self._opened = anyio.Event()
        if is_open:
            self._opened.set()

    def set(self) -> None:
        self._opened.set()

    def clear(self) -> None:
        if self._opened.is_set():  # a waiter always waits on the current, unset, event
            self._opened = anyio.Event()

    async def wait(self) -> None:
        while not self._opened.is_set():
            await self._opened.wait()


class MemoryClient:
    def __init__(self, server: Any, *, slow: bool = False) -> None:
        self.frames: list[str | bytes] = []
        self._arrived = Signal()
        self.gate = Gate(not slow)
        self.closed = anyio.Event()
        self.conn: Any = server.attach(self._send, close=self._close)  # the binding's Connection
        self.sids: dict[str, str] = {}

    async def _send(self, frame: str | bytes) -> None:
        await self.gate.wait()
        self.frames.append(frame)
        self._arrived.notify()

    async def _close(self) -> None:
        self.closed.set()

    def release(self) -> None:
        self.gate.set()

    def feed(self, frame: str | bytes) -> None:
        self.conn.feed(frame)

    async def wait_for(self, prefix: str, timeout: float = 2.0) -> str:
        """The first received text frame starting with ``prefix`` (removed from the list)."""
        with anyio.fail_after(timeout):
            while True:
                for index, frame in enumerate(self.frames):
                    if isinstance(frame, str) and frame.startswith(prefix):
                        del self.frames[index]
                        return frame
                await self._arrived.wait()

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


async def settle(rounds: int = 5) -> None:
    """Let the tasks the server spawned (handlers, writers) run: on trio until every task
    waits; on asyncio, which cannot tell that cheaply, ``rounds`` passes of the loop."""
    if sniffio.current_async_library() == "trio":
        await trio.testing.wait_all_tasks_blocked()
    else:
        for _ in range(rounds):
            await asyncio.sleep(0)
