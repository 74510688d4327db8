"""The binding's own server: ``await serve(app, host, port)`` runs an :class:`ASGIApp` on
asyncio's transports, with no ASGI server in between.

HTTP requests (long-polling, static files, the other app's pages) go through the app as
ASGI messages, as uvicorn would send them. A WebSocket on the Socket.IO path does not: its
bytes are parsed in ``data_received`` (:class:`sansio_rooms.wire.WireConnection`:
httptools' llhttp and the sans-IO protocol of ``websockets``, both public interfaces) and
fed to the machine at once, and what the machine writes is gathered per connection and
written once per loop iteration (``_connection.py``). That is the whole difference from the
ASGI path: no message dict, queue or task switch per frame, and one system call for every
frame a burst sends a client.

What it does not do (use an ASGI server for these): TLS, HTTP/2, and WebSockets of the other
app (they are answered 404).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket as socket_module
from asyncio import Event
from collections.abc import Callable, Iterable
from typing import Any

from ._asgi import ASGIApp
from ._connection import Flusher, HttpProtocol

__all__ = ["serve"]

logger = logging.getLogger("sansio_rooms.server")


class _Lifespan:
    """The app's ASGI lifespan, run as a server runs it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        try:
            await self._app(scope, self._inbox.get, self._send)
        finally:
            await self._outbox.put({"type": "lifespan.ended"})

    async def _send(self, message: Any) -> None:
        await self._outbox.put(message)

    async def startup(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._outbox.get()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's startup failed: {reply.get('message', '')}")

    async def shutdown(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        reply = await self._outbox.get()
        if reply["type"] == "lifespan.shutdown.failed":
            logger.error("the app's shutdown failed: %s", reply.get("message", ""))
        if self._task is not None:
            await self._task


async def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    sock: socket_module.socket | None = None,
    ready: Callable[[list[tuple[str, int]]], None] | None = None,
    stop: Event | None = None,
    handle_signals: bool = True,
    backlog: int = 2048,
) -> None:
    """Serve ``app`` on ``host:port`` (or the listening ``sock``) until ``stop`` is set, the
    task is cancelled, or SIGINT/SIGTERM (``handle_signals``, in the main thread). Its ASGI
    lifespan runs around it (the server starts before the first connection and shuts down
    gracefully after the last: clients are told, handlers run, then the connections close).
    ``ready(addresses)`` is called once it listens."""
    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else asyncio.Event()
    lifespan = _Lifespan(app)
    await lifespan.startup()
    flusher = Flusher(loop)
    connections: set[HttpProtocol] = set()

    def factory() -> HttpProtocol:
        return HttpProtocol(app, flusher, connections)

    if sock is not None:
        listener = await loop.create_server(factory, sock=sock, backlog=backlog)
    else:
        listener = await loop.create_server(factory, host, port, backlog=backlog)
    signals = _handle_signals(loop, stop) if handle_signals else []
    addresses = [s.getsockname()[:2] for s in listener.sockets]
    logger.info(
        "sansio-rooms' own server (httptools + websockets sans-IO) on %s",
        ", ".join(f"http://{h}:{p}" for h, p in addresses),
    )
    try:
        if ready is not None:
            ready(addresses)
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        listener.close()
        try:
            await app.server.shutdown()  # clients told, handlers run, writes flushed
            await _close_all(connections)
        finally:
            await lifespan.shutdown()


async def _close_all(connections: Iterable[HttpProtocol], timeout: float = 1.0) -> None:
    """Let the close frames go, then close what is left."""
    deadline = asyncio.get_running_loop().time() + timeout
    while any(not c.idle for c in connections):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)
    for connection in list(connections):
        connection.abort()


def _handle_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    handled: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            break
        handled.append(signum)
    return handled
