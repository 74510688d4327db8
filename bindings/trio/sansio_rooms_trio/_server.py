"""The trio server: the sansio-rooms machine, driven by trio.

Everything protocol- and room-related happens in :class:`sansio_rooms.ServerMachine`, and
everything that does not depend on the loop (handlers, the operator, sockets) in
:class:`sansio_rooms.ServerDriver`. This module supplies trio's part: the clock
(``trio.current_time``, so a test's ``MockClock`` drives it), a nursery for the handlers and
the writers of attached connections, the one timer (a task sleeping until the machine's next
deadline, moved by changing its cancel scope's deadline), waiters, and the shutdown.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from sansio_rooms import (
    AckCompleted,
    EngineIODriver,
    LocalProtocolError,
    ServerDriver,
    TransportDriver,
)

from ._transport import Connection

__all__ = ["AsyncEngineIOServer", "AsyncServer"]

logger = logging.getLogger("sansio_rooms.server")


class _Waiter:
    __slots__ = ("_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: AckCompleted | None = None

    def set(self, value: AckCompleted) -> None:
        if self._value is None:
            self._value = value
            self._event.set()

    async def wait(self) -> AckCompleted:
        await self._event.wait()
        assert self._value is not None
        return self._value


class _LoopServer(TransportDriver):
    """trio's part of either server: the clock, the nursery and its tasks, the timer,
    waiters, the transport hook and the shutdown."""

    def __init__(self, *, max_buffer: int = 1024, **options: Any) -> None:
        super().__init__(max_buffer=max_buffer, **options)
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._timer_scope: trio.CancelScope | None = None
        self._handlers_running = 0
        self._handlers_idle = trio.lowlevel.ParkingLot()
        self._socket_queues: dict[object, deque[Coroutine[Any, Any, Any]]] = {}
        self._started = False  # joined to the cluster (servers with an adapter)

    def now(self) -> float:
        return trio.current_time()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self._nursery is None:
            coroutine.close()
            raise LocalProtocolError("the trio server runs inside `async with server.running():`")
        self._handlers_running += 1
        self._nursery.start_soon(self._run_task, coroutine)

    def _spawn_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        # start_background_task's: not waited for by a graceful shutdown (not counted with
        # the handlers); cancelled with the nursery when running() ends.
        if self._nursery is None:
            coroutine.close()
            raise LocalProtocolError("the trio server runs inside `async with server.running():`")
        self._nursery.start_soon(self._run_background, coroutine)

    async def _run_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except Exception:  # pragma: no cover - start_background_task's wrapper logs its own
            logger.exception("a background task failed")

    async def _run_task(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except Exception:
            # The handlers catch what the application raises; anything else is a bug of
            # ours, and it stays in its task: logged, never the nursery's (every client's).
            logger.exception("a server task failed")
        finally:
            self._handlers_running -= 1
            if not self._handlers_running:
                self._handlers_idle.unpark_all()

    def _spawn_for(self, owner: object, coroutine: Coroutine[Any, Any, Any]) -> None:
        # trio runs the tasks started together in no particular order (on purpose), so the
        # handlers of one socket run one after the other, in the order its packets came:
        # events keep their order, and disconnect handlers come after the last event's.
        key = owner
        queue = self._socket_queues.get(key)
        if queue is not None:
            queue.append(coroutine)
            return
        queue = self._socket_queues[key] = deque([coroutine])
        self._spawn(self._run_in_order(key, queue))

    async def _run_in_order(self, key: object, queue: deque[Coroutine[Any, Any, Any]]) -> None:
        try:
            while queue:
                await queue.popleft()
        finally:
            del self._socket_queues[key]
            for coroutine in queue:  # cancelled (shutdown): never started
                coroutine.close()

    def _schedule(self, when: float | None) -> None:
        if self._timer_scope is not None:
            self._timer_scope.deadline = math.inf if when is None else when

    async def _timer(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        first = True
        while True:
            deadline = math.inf if self._timer_when is None else self._timer_when
            with trio.CancelScope(deadline=deadline) as scope:
                self._timer_scope = scope
                if first:
                    first = False
                    task_status.started()
                await trio.sleep_forever()
            self._timer_scope = None
            if scope.cancelled_caught:
                self._on_timer()

    def _begin_shutdown_threadsafe(self, then: Callable[[], None] | None = None) -> None:
        """Begin the shutdown from a signal handler or another thread; with ``then``, shut
        down gracefully, then call it."""
        token, nursery = self._token, self._nursery
        if token is None or nursery is None:
            return
        if then is None:
            token.run_sync_soon(self._begin_shutdown)
        else:
            token.run_sync_soon(nursery.start_soon, self._shutdown_then, then)

    async def _sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def _wall_time(self) -> float:
        return time.time()

    def _new_waiter(self) -> _Waiter:
        return _Waiter()

    async def _run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        # A bcrypt check of the admin UI's login, say: in a worker thread.
        return await trio.to_thread.run_sync(function, *args)

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
        if self._nursery is None:
            raise LocalProtocolError("the trio server runs inside `async with server.running():`")
        connection = Connection(self, send, close, self.max_buffer)
        self._nursery.start_soon(connection._write_all)
        self._websocket_connect(connection, query or {"EIO": "4", "transport": "websocket"})
        return connection

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Any]:
        """``async with server.running():`` — the server's nursery (its handlers, its timer,
        the writers of attached connections, its cluster adapter: joined before the body
        runs); a graceful shutdown on exit. A single failure inside comes out as itself, not
        wrapped in an exception group."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._token = trio.lowlevel.current_trio_token()
                await nursery.start(self._timer)
                await self.start()
                try:
                    yield self
                finally:
                    with trio.CancelScope(shield=True):
                        await self.shutdown()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise  # pragma: no cover - two failures at once: both are worth seeing
        finally:
            self._nursery = self._token = None

    async def start(self) -> None:
        """Join the cluster, if the server has an adapter: subscribed before it returns, so
        that the other servers count this one. (``running()`` calls it, in its nursery.)"""
        self.engineio.accepting = True  # again, after a shutdown
        adapter = getattr(self, "adapter", None)
        if adapter is not None and not self._started:
            if self._nursery is None:
                raise LocalProtocolError(
                    "the trio server runs inside `async with server.running():`"
                )
            await adapter.start(self)
            self._started = True

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Graceful shutdown: every client is told ("server shutting down"), the
        *disconnecting* and *disconnect* handlers run (``timeout`` seconds at most), writes
        are flushed, then the timer stops."""
        self._begin_shutdown()
        with trio.move_on_after(timeout):
            while self._handlers_running:
                await self._handlers_idle.park()
        self._schedule(None)
        self._timer_when = None
        adapter = getattr(self, "adapter", None)
        if adapter is not None and self._started:
            self._started = False
            await adapter.close()


class AsyncServer(_LoopServer, ServerDriver):
    """A Socket.IO server for trio.

    ``AsyncServer(**options)`` takes the machine's options (``ping_interval``,
    ``ping_timeout``, ``max_payload``, ``connect_timeout``, ``max_attachments``,
    ``max_buffered_packets``, ``transports``, ...) and ``max_buffer``: how many frames may
    wait for a slow WebSocket before it is disconnected (default 1024).

    It runs inside ``async with server.running():`` (the ASGI app's lifespan does that), which
    holds the nursery of its handlers. Handlers: ``@server.on("event", namespace="/")``.
    ``connect`` gets ``(socket, auth)`` and refuses by returning ``False`` or raising
    :class:`ConnectionRefusedError`; other events get ``(socket, *args)`` and their return
    value is the acknowledgement; ``"*"`` catches events without a handler as
    ``(socket, event, *args)``; ``disconnecting`` and ``disconnect`` get ``(socket, reason)``.
    """


class AsyncEngineIOServer(_LoopServer, EngineIODriver):
    """An Engine.IO server for trio, without Socket.IO: a plain message channel, what
    Node's ``engine.io`` package serves (``ASGIApp(server)`` serves it at ``/engine.io/``).

    ``AsyncEngineIOServer(**options)`` takes the options of :class:`EngineIOServer`
    (``ping_interval``, ``ping_timeout``, ``max_payload``, ``transports``, ...) and
    ``max_buffer``; it runs inside ``async with server.running():``, as :class:`AsyncServer`
    does. Handlers: ``@server.on("connect")`` gets ``(session)``, ``@server.on("message")``
    gets ``(session, data)`` (``str`` or ``bytes``), ``@server.on("disconnect")`` gets
    ``(session, reason)``; ``await session.send(data)`` answers.
    """
