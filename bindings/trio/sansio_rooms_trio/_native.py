"""The binding's own server: ``await serve(app, host, port)`` runs an :class:`ASGIApp` on
non-blocking sockets under trio, with no ASGI server in between.

HTTP requests (long-polling, static files, the other app's pages) go through the app as
ASGI messages, as hypercorn would send them. A WebSocket on the Socket.IO path does not: the
task reading its connection parses the bytes (:class:`sansio_rooms.wire.WireConnection`:
httptools' llhttp and the sans-IO protocol of ``websockets``, both public interfaces) and
feeds the machine at once, and what the machine writes is appended to the connection's
output. One task of the server writes the output of every connection that has some, once
per scheduling batch, each with one non-blocking ``send`` (asyncio's end of loop iteration,
in trio); a connection's own writing task takes over only when the client does not take it
all (``_connection.py``). That is the whole difference from the ASGI path: no message dict,
lock, checkpoint or task switch per frame, and one system call for every frame a burst
sends a client.

What it does not do (use an ASGI server for these): TLS, HTTP/2, and WebSockets of the other
app (they are answered 404).
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import signal
import socket as socket_module
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import trio
from trio import Event

from ._asgi import ASGIApp
from ._connection import Arrivals, Flusher, TcpConnection

__all__ = ["serve"]

logger = logging.getLogger("sansio_rooms.server")

# As trio.serve_listeners: out of file descriptors or memory, accepting waits a little.
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
# As trio's SocketListener: what one client's early reset or a firewall makes accept() say.
_IGNORED_ACCEPT_ERRNOS = {
    getattr(errno, name)
    for name in (
        *("EPERM", "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET"),
        *("EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ENOSR", "ESOCKTNOSUPPORT"),
        *("EPROTONOSUPPORT", "ETIMEDOUT", "ECONNRESET"),
    )
    if hasattr(errno, name)
}


class _Lifespan:
    """The app's ASGI lifespan, run as a server runs it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app, self._inbox = trio.open_memory_channel[dict[str, Any]](math.inf)
        self._outbox, self._from_app = trio.open_memory_channel[dict[str, Any]](math.inf)

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        try:
            await self._app(scope, self._inbox.receive, self._send)
        except Exception:  # logged, not raised into serve()'s nursery: startup() reports it
            logger.exception("the app's lifespan failed")
        finally:
            self._outbox.send_nowait({"type": "lifespan.ended"})

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        self._outbox.send_nowait(dict(message))

    async def startup(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._run)
        self._to_app.send_nowait({"type": "lifespan.startup"})
        reply = await self._from_app.receive()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's startup failed: {reply.get('message', '')}")

    async def shutdown(self) -> None:
        self._to_app.send_nowait({"type": "lifespan.shutdown"})
        reply = await self._from_app.receive()
        if reply["type"] == "lifespan.shutdown.failed":
            logger.error("the app's shutdown failed: %s", reply.get("message", ""))


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
    """Serve ``app`` on ``host:port`` (or the bound socket ``sock``) until ``stop`` is set,
    the task is cancelled, or SIGINT/SIGTERM (``handle_signals``, in the main thread). Its
    ASGI lifespan runs around it (the server starts before the first connection and shuts
    down gracefully after the last: clients are told, handlers run, then the connections
    close; a cancellation waits for that too). ``ready(addresses)`` is called once it
    listens."""
    stop = stop if stop is not None else Event()
    stopping = trio.Event()  # stop is set, or serve() is cancelled

    async def watch() -> None:
        try:
            await stop.wait()
        finally:
            stopping.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            listen = functools.partial(_listen, host, port, sock, backlog)
            await _serve(app, listen, ready, stop, stopping, handle_signals)
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error = _single(group)
        if error is group:
            raise
        raise error from None


async def _serve(
    app: ASGIApp,
    listen: Callable[[], Awaitable[list[socket_module.socket]]],
    ready: Callable[[list[tuple[str, int]]], None] | None,
    stop: Event,
    stopping: Event,
    handle_signals: bool,
) -> None:
    connections: set[TcpConnection] = set()
    flusher = Flusher()
    arrivals = Arrivals()

    async def handle(
        sock: socket_module.socket, turn: tuple[trio.Event | None, trio.Event]
    ) -> None:
        try:
            connection = TcpConnection(app, flusher, sock, turn)
        except BaseException:
            sock.close()
            raise
        connections.add(connection)
        try:
            await connection.run()
        finally:
            connections.discard(connection)

    with trio.CancelScope() as protected:
        async with trio.open_nursery() as nursery:
            lifespan = _Lifespan(app)
            await lifespan.startup(nursery)
            # Started: from now on, a cancellation stops the server as ``stop`` does.
            protected.shield = True
            try:
                listeners = await listen()
                async with trio.open_nursery() as handlers:
                    handlers.start_soon(flusher.run)
                    accepting = trio.CancelScope()
                    handlers.start_soon(_accept, accepting, handle, listeners, handlers, arrivals)
                    if handle_signals:
                        await handlers.start(_stop_on_signals, stop)
                    addresses = [listener.getsockname()[:2] for listener in listeners]
                    logger.info(
                        "sansio-rooms' own server (httptools + websockets sans-IO) on %s",
                        ", ".join(f"http://{h}:{p}" for h, p in addresses),
                    )
                    try:
                        if ready is not None:
                            ready(addresses)
                        await stopping.wait()
                    finally:
                        accepting.cancel()
                        await app.server.shutdown()  # clients told, handlers run
                        await _close_all(connections)
                        handlers.cancel_scope.cancel()
            finally:
                await lifespan.shutdown()


async def _listen(
    host: str, port: int, sock: socket_module.socket | None, backlog: int
) -> list[socket_module.socket]:
    """The listening sockets, non-blocking: trio's (resolving ``host`` as trio does), taken
    out of their trio wrappers, or ``sock``."""
    if sock is None:
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=backlog)
        sockets = [socket_module.socket(fileno=listener.socket.detach()) for listener in listeners]
    else:
        sock.listen(backlog)
        sockets = [sock]
    for listener in sockets:
        listener.setblocking(False)
    return sockets


Handle = Callable[[socket_module.socket, tuple[trio.Event | None, trio.Event]], Awaitable[None]]


async def _accept(
    scope: trio.CancelScope,
    handle: Handle,
    listeners: list[socket_module.socket],
    nursery: trio.Nursery,
    arrivals: Arrivals,
) -> None:
    """Accept connections until ``scope`` is cancelled, then close the listeners."""
    try:
        with scope:
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(_accept_from, listener, handle, nursery, arrivals)
    finally:
        for listener in listeners:
            trio.lowlevel.notify_closing(listener)
            listener.close()


async def _accept_from(
    listener: socket_module.socket,
    handle: Handle,
    nursery: trio.Nursery,
    arrivals: Arrivals,
) -> None:
    """What trio.serve_listeners does with a listener: a task in ``nursery`` per connection
    (``handle`` closes it); errors of one client are ignored, a lack of file descriptors or
    memory waits a little, any other error is raised."""
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(listener)
            continue
        except OSError as error:
            if error.errno in _ACCEPT_CAPACITY_ERRNOS:
                logger.error("accept failed (%s): retrying in 0.1 s", error)
                await trio.sleep(0.1)
                continue
            if error.errno in _IGNORED_ACCEPT_ERRNOS:
                continue
            raise
        # A ticket in the order they came: their first requests are handled in that order.
        nursery.start_soon(handle, sock, arrivals.ticket())
        await trio.lowlevel.checkpoint()


async def _stop_on_signals(
    stop: Event, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """SIGINT or SIGTERM sets ``stop`` (in the main thread; elsewhere, signals are left
    alone)."""
    if threading.current_thread() is not threading.main_thread():
        task_status.started()
        return
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            stop.set()


async def _close_all(connections: Iterable[TcpConnection], timeout: float = 1.0) -> None:
    """Let the close frames go, then close what is left."""
    with trio.move_on_after(timeout):
        while any(connection.busy for connection in connections):
            await trio.sleep(0.01)
    for connection in list(connections):
        connection.abort()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested groups of one, or ``group``."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
