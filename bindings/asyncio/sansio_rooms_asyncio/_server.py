"""The asyncio server: the sansio-rooms machine, driven by an asyncio event loop.

Everything protocol- and room-related happens in :class:`sansio_rooms.ServerMachine`, and
everything that does not depend on the loop (handlers, the operator, sockets) in
:class:`sansio_rooms.ServerDriver`. This module supplies the loop's part: the clock, tasks,
the one timer (``loop.call_at``), waiters (futures), the transport hook and the shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sansio_rooms import AckCompleted, EngineIODriver, ServerDriver, TransportDriver

from ._transport import Connection

__all__ = ["AsyncEngineIOServer", "AsyncServer"]

logger = logging.getLogger("sansio_rooms.server")


class _Waiter:
    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[AckCompleted] = loop.create_future()

    def set(self, value: AckCompleted) -> None:
        if not self._future.done():
            self._future.set_result(value)

    async def wait(self) -> AckCompleted:
        return await self._future


class _LoopServer(TransportDriver):
    """asyncio's part of either server: the clock, tasks, the timer, waiters, the transport
    hook and the shutdown."""

    def __init__(self, *, max_buffer: int = 1024, **options: Any) -> None:
        super().__init__(max_buffer=max_buffer, **options)
        self._tasks: set[asyncio.Task[Any]] = set()
        # start_background_task's: not waited for by a graceful shutdown, cancelled after it.
        self._background: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False  # joined to the cluster (servers with an adapter)

    @property
    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self._event_loop.time()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = self._event_loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _spawn_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = self._event_loop.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        # The handlers catch what the application raises; anything else is a bug of ours,
        # and it stays in its task: logged, never "Task exception was never retrieved".
        if not task.cancelled() and task.exception() is not None:
            logger.error("a server task failed", exc_info=task.exception())

    def _schedule(self, when: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if when is None else self._event_loop.call_at(when, self._on_timer)

    def _begin_shutdown_threadsafe(self, then: Callable[[], None] | None = None) -> None:
        """Begin the shutdown from a signal handler or another thread; with ``then``, shut
        down gracefully, then call it."""
        loop = self._event_loop
        if then is None:
            loop.call_soon_threadsafe(self._begin_shutdown)
        else:
            loop.call_soon_threadsafe(lambda: loop.create_task(self._shutdown_then(then)))

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def _wall_time(self) -> float:
        return time.time()

    def _new_waiter(self) -> _Waiter:
        return _Waiter(self._event_loop)

    async def _run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        # A bcrypt check of the admin UI's login, say: in a worker thread.
        return await asyncio.to_thread(function, *args)

    def attach(
        self,
        send: Callable[[str | bytes], Awaitable[None]],
        *,
        close: Callable[[], Awaitable[None]] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Connection:
        """Bring your own transport: a message-oriented connection (a WebSocket, a pipe, an
        in-memory pair) speaking Engine.IO like a WebSocket client. ``send(frame)`` writes one
        frame (``str`` text or ``bytes`` binary); ``close()`` closes it. Feed what arrives with
        ``connection.feed(frame)`` and report its end with ``connection.closed_by_peer()``.
        Returns the connection; ``connection.accepted`` says whether the handshake passed."""
        connection = Connection(self, send, close, self.max_buffer)
        self._websocket_connect(connection, query or {"EIO": "4", "transport": "websocket"})
        return connection

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Any]:
        """``async with server.running():`` — the server (joined to its cluster, if it has
        an adapter), shut down gracefully on exit."""
        await self.start()
        try:
            yield self
        finally:
            await self.shutdown()

    async def start(self) -> None:
        """Join the cluster, if the server has an adapter: subscribed before it returns, so
        that the other servers count this one. (The ASGI app's lifespan calls it.)"""
        self.engineio.accepting = True  # again, after a shutdown
        adapter = getattr(self, "adapter", None)
        if adapter is not None and not self._started:
            await adapter.start(self)
            self._started = True

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Graceful shutdown: every client is told ("server shutting down"), the
        *disconnecting* and *disconnect* handlers run (``timeout`` seconds at most), writes
        are flushed, then the timer stops."""
        self._begin_shutdown()
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for task in list(self._background):
            task.cancel()
        self._schedule(None)
        self._timer_when = None
        adapter = getattr(self, "adapter", None)
        if adapter is not None and self._started:
            self._started = False
            await adapter.close()


class AsyncServer(_LoopServer, ServerDriver):
    """A Socket.IO server for asyncio.

    ``AsyncServer(**options)`` takes the machine's options (``ping_interval``,
    ``ping_timeout``, ``max_payload``, ``connect_timeout``, ``max_attachments``,
    ``max_buffered_packets``, ``transports``, ...) and ``max_buffer``: how many frames may
    wait for a slow WebSocket before it is disconnected (default 1024).

    Handlers: ``@server.on("event", namespace="/")``. ``connect`` gets ``(socket, auth)`` and
    refuses by returning ``False`` or raising :class:`ConnectionRefusedError`; other events get
    ``(socket, *args)`` and their return value is the acknowledgement; ``"*"`` catches events
    without a handler as ``(socket, event, *args)``; ``disconnecting`` and ``disconnect`` get
    ``(socket, reason)``.
    """


class AsyncEngineIOServer(_LoopServer, EngineIODriver):
    """An Engine.IO server for asyncio, without Socket.IO: a plain message channel, what
    Node's ``engine.io`` package serves (``ASGIApp(server)`` serves it at ``/engine.io/``).

    ``AsyncEngineIOServer(**options)`` takes the options of :class:`EngineIOServer`
    (``ping_interval``, ``ping_timeout``, ``max_payload``, ``transports``, ...) and
    ``max_buffer``. Handlers: ``@server.on("connect")`` gets ``(session)``,
    ``@server.on("message")`` gets ``(session, data)`` (``str`` or ``bytes``),
    ``@server.on("disconnect")`` gets ``(session, reason)``; ``await session.send(data)``
    answers.
    """
