"""The binding's own server: ``await serve(app, host, port)`` runs an :class:`ASGIApp` on
trio's sockets, with no ASGI server in between.

HTTP requests (long-polling, static files, the other app's pages) go through the app as
ASGI messages, as hypercorn would send them. A WebSocket on the Socket.IO path does not: the
task reading its connection parses the bytes (:class:`sansio_rooms.wire.WireConnection`: h11
and the sans-IO protocol of ``websockets``, both public interfaces) and feeds the machine at
once, and what the machine writes is appended to the connection's output, which the task
writing that connection sends whole when it next runs. That is the whole difference from the
ASGI path: no message dict, lock or checkpoint per frame, and one ``send_all`` for every
frame a burst sends a client.

What it does not do (use an ASGI server for these): TLS, HTTP/2, and WebSockets of the other
app (they are answered 404).
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import socket as socket_module
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

import trio
from trio import Event

from sansio_rooms import GatheredResponse, PreparedFrame
from sansio_rooms._asgi import peer_address
from sansio_rooms._engineio_server import HttpResponse
from sansio_rooms.wire import (
    HttpRequestReceived,
    WebSocketClosed,
    WebSocketRequested,
    WireConnection,
)

from ._asgi import ASGIApp
from ._server import _LoopServer

__all__ = ["serve"]

logger = logging.getLogger("sansio_rooms.server")

#: How long a client has to answer our close frame before its connection is dropped.
CLOSE_TIMEOUT = 10.0

_JSON = [(b"content-type", b"application/json")]
_FORBIDDEN = b'{"code":4,"message":"Forbidden"}'


class _Hold:
    """In a connection's held-back frames: wait ``seconds`` before what follows."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class _Close:
    """In a connection's held-back frames: the closing handshake, after what precedes."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


class _NativeWebSocket:
    """The machine's handle for a WebSocket of the native server: the contract of
    :class:`WebSocketWriter`, whose queue and task (an ``await`` per frame) it does not need:
    frames are appended to the connection's output, and the connection's writing task sends
    them. ``max_buffer`` bounds the frames that task has not taken yet; volatile frames are
    dropped while it is busy."""

    prepare = staticmethod(PreparedFrame.prepare)

    def __init__(self, server: _LoopServer, connection: _Connection) -> None:
        self._server = server
        self._connection = connection
        self.closed = False  # no more writes: closing, failed, or gone
        self.refusal: tuple[int, bytes] | None = None  # the handshake's refusal, if refused

    def accept(self) -> None:
        self._connection.accept_websocket()

    def reject(self, status: int, body: bytes) -> None:
        self.closed = True
        self.refusal = (status, body)
        self._connection.refuse_websocket(status, body)

    def write(self, messages: Sequence[PreparedFrame], volatile: bool = False) -> None:
        if self.closed:
            return
        connection = self._connection
        if volatile and connection.busy_writing:
            return  # not writable right now: a volatile packet may be dropped
        if not connection.send_frames(messages):
            self._fail("write buffer full")

    def write_control(self, messages: Sequence[PreparedFrame]) -> None:
        """Control frames (a ping) are never dropped, nor held back."""
        if not self.closed:
            self._connection.send_control(messages)

    def close(self, code: int = 1000) -> None:
        """Close after what was written before (a graceful close)."""
        if not self.closed:
            self.closed = True
            self._connection.close_websocket(code)

    def hold(self, seconds: float) -> None:
        """What is written from now on goes out ``seconds`` after what was written before."""
        if not self.closed:
            self._connection.hold(seconds)

    def abort(self) -> None:
        self._connection.abort()

    @property
    def buffered(self) -> int:
        """Frames waiting to be written."""
        return self._connection.buffered

    def _fail(self, description: str) -> None:
        """Give up on this connection now, and tell the machine."""
        self.closed = True
        self._server._transport_failed(self, description)
        self.abort()


class _Connection:
    """One TCP connection: HTTP requests through the app, or one WebSocket. A task reads it
    and performs what it reads, in order; a second task writes its output."""

    def __init__(self, app: ASGIApp, stream: trio.SocketStream) -> None:
        self._app = app
        self._server: _LoopServer = app.server
        self._stream = stream
        engineio = self._server.engineio
        self._wire = WireConnection(
            client=_address(stream.socket.getpeername),
            server=_address(stream.socket.getsockname),
            max_body=engineio.max_payload,
            max_message=engineio.max_payload,
        )
        self._websocket: _NativeWebSocket | None = None
        self._answering = False  # a request or a handshake is in the app's hands
        self._reading = True
        self._peer_gone = False  # seen while a request was in the app's hands
        # Frames written after a hold (and a close after them), until its time has passed.
        self._held: deque[Any] = deque()
        self._pending = 0  # frames in the output that the writing task has not taken yet
        self._max_buffer = self._server.max_buffer
        self._sending = False
        self._parked = False  # the writing task waits for output
        self._wakeup = trio.lowlevel.ParkingLot()
        self._writing = trio.CancelScope()  # its deadline bounds a closing handshake

    @property
    def busy(self) -> bool:
        """Something to finish: a WebSocket or a request in progress."""
        return self._websocket is not None or self._answering

    @property
    def busy_writing(self) -> bool:
        return self._sending or self._pending > 0 or bool(self._held)

    @property
    def buffered(self) -> int:
        return self._pending + len(self._held)

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_all)
                try:
                    await self._read_all()
                finally:
                    self._reading = False
                    self._end_websocket()
                    self._wake()
        except Exception:
            logger.exception("a connection failed")
        finally:
            self.abort()

    # -- reading ---------------------------------------------------------------------------------

    async def _read_all(self) -> None:
        stream = self._stream
        wire = self._wire
        while True:
            try:
                data = await stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""  # gone: as if it had closed its side
            events = wire.receive_data(data)
            if events:
                await self._perform(events)
            self._wake()
            if not data or wire.should_close or self._peer_gone:
                return
            if wire.is_websocket and self._websocket is None:
                return  # the WebSocket is over: its close frame is written, then we close

    async def _perform(self, events: list[Any]) -> None:
        server = self._server
        wire = self._wire
        while events:
            answered = False
            for event in events:
                kind = type(event)
                if kind is str or kind is bytes:  # a WebSocket message: the hot path
                    websocket = self._websocket
                    if websocket is not None:
                        server._websocket_message(websocket, event)
                elif kind is HttpRequestReceived:
                    await self._request(event)
                    answered = True
                elif kind is WebSocketRequested:
                    await self._handshake(event)
                    answered = True
                elif kind is WebSocketClosed:
                    self._end_websocket()
            if not answered or self._peer_gone:
                return
            self._wake()  # the answer goes out before a pipelined request is read
            # A request pipelined behind the one answered, or frames that came with the
            # handshake: read already, performed now (the open packet went first).
            events = wire.pending_events()

    def _end_websocket(self) -> None:
        """The WebSocket is over (its closing handshake, or the connection's end): the
        machine is told, once."""
        websocket = self._websocket
        if websocket is not None:
            self._websocket = None
            self._bound_writing()
            self._server._websocket_closed(websocket)
            self._server._connections -= 1

    async def _request(self, event: HttpRequestReceived) -> None:
        """Answer an HTTP request: a long-polling one of an open session straight from the
        machine, any other through the app, as an ASGI server would (the body at once,
        ``http.disconnect`` once the client is gone)."""
        scope = event.scope
        poll = self._app._poll_directly(scope, event.body, _Poll)
        if poll is not None:
            await self._answer_poll(poll)
            return
        answer = GatheredResponse()
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": event.body, "more_body": False}
            await self._wait_until_gone()
            return {"type": "http.disconnect"}

        self._answering = True
        try:
            await self._app(scope, receive, answer.send)
        except Exception:
            logger.exception("the app failed on %s %s", scope["method"], scope["path"])
            if answer.status is None:
                answer.fail()
        finally:
            self._answering = False
        if self._peer_gone:
            return
        self._wire.respond(*answer.finish(scope))

    async def _answer_poll(self, poll: _Poll) -> None:
        """Write the machine's answer to a long-polling request; a parked GET waits for it
        (or for its client to go away: the machine is told)."""
        response = poll.response
        if response is None:
            self._answering = True
            self._server._connections += 1
            try:
                async with trio.open_nursery() as nursery:

                    async def client_left() -> None:
                        await self._wait_until_gone()
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(client_left)
                    await poll.answered.wait()
                    nursery.cancel_scope.cancel()
            finally:
                self._answering = False
                self._server._connections -= 1
            response = poll.response
            if response is None:  # the client went away first
                self._server._request_closed(poll)
                return
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
        self._wire.respond(response.status, headers + poll.cors, response.body)

    async def _wait_until_gone(self) -> None:
        """Until the client closes its side or the connection breaks. Whatever it sends
        meanwhile (a pipelined request) stays in the kernel until this one is answered: then
        this waits for good."""
        try:
            if await self._stream.socket.recv(1, socket_module.MSG_PEEK):
                await trio.sleep_forever()
        except (OSError, trio.ClosedResourceError):
            pass
        self._peer_gone = True

    async def _handshake(self, event: WebSocketRequested) -> None:
        app = self._app
        server = self._server
        wire = self._wire
        scope = event.scope
        if not app._serves(scope):
            wire.respond(404, [(b"content-type", b"text/plain")], b"Not Found")
            return
        self._answering = True
        try:
            query, request, refusal = await app._admit_websocket(scope)
        except Exception:  # _admit_websocket logs and refuses itself
            logger.exception("a WebSocket handshake failed")
            query, request, refusal = {}, None, _FORBIDDEN
        finally:
            self._answering = False
        if refusal is not None:
            wire.respond(403, _JSON, refusal)
            return
        websocket = _NativeWebSocket(server, self)
        self._websocket = websocket
        server._connections += 1
        server._websocket_connect(websocket, query, request)  # accept() or reject() now
        if websocket.refusal is not None:  # answered by reject()
            self._websocket = None
            server._connections -= 1

    # -- output ----------------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._parked:
            self._parked = False
            self._wakeup.unpark()

    async def _write_all(self) -> None:
        """The writing task: all the output in one ``send_all`` each time it runs, until the
        connection is to be closed; then it closes it."""
        wire = self._wire
        stream = self._stream
        held = self._held
        try:
            with self._writing:
                while True:
                    data = wire.data_to_send()
                    self._pending = 0
                    if data:
                        self._sending = True
                        await stream.send_all(data)
                        self._sending = False
                    elif wire.should_close or not self._reading:
                        return
                    elif held:
                        await self._release_held()
                    else:
                        self._parked = True
                        await self._wakeup.park()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client is gone: the reading task sees it too
        finally:
            self._sending = False
            if self._websocket is not None:
                self._websocket.closed = True  # nothing more to write on it
            self.abort()

    async def _release_held(self) -> None:
        """Once the first hold's time has passed, what was written after it goes to the
        output, up to the next hold."""
        held = self._held
        await trio.sleep(held[0].seconds)  # still held: what is written meanwhile waits too
        held.popleft()
        frames: list[bytes] = []
        while held and type(held[0]) is not _Hold:
            item = held.popleft()
            if type(item) is _Close:
                self._wire.send_frames(frames)
                frames = []
                self._close_websocket(item.code)
            else:
                frames.append(item)
        self._wire.send_frames(frames)

    def send_frames(self, frames: Sequence[PreparedFrame]) -> bool:
        """Append ``frames`` to the output (held back behind a hold); False, and nothing
        appended, if more than ``max_buffer`` frames would wait for the writing task."""
        count = len(frames)
        held = self._held
        if self._pending + len(held) + count > self._max_buffer:
            return False
        if held:
            held.extend(frame.wire for frame in frames)
            return True
        self._pending += count
        if count == 1:  # the common case: one frame per packet
            self._wire.send_frames((frames[0].wire,))
        else:
            self._wire.send_frames([frame.wire for frame in frames])
        if self._parked:  # _wake(), inlined: this is every recipient of every broadcast
            self._parked = False
            self._wakeup.unpark()
        return True

    def send_control(self, frames: Sequence[PreparedFrame]) -> None:
        self._wire.send_frames([frame.wire for frame in frames])
        self._wake()

    def hold(self, seconds: float) -> None:
        self._held.append(_Hold(seconds))
        self._wake()

    def close_websocket(self, code: int) -> None:
        if self._held:
            self._held.append(_Close(code))
        else:
            self._close_websocket(code)

    def _close_websocket(self, code: int) -> None:
        self._wire.close_websocket(code)
        self._bound_writing()
        self._wake()

    def _bound_writing(self) -> None:
        """The WebSocket is closing: the client has ``CLOSE_TIMEOUT`` to answer our close
        frame and to read what is left, then the connection is dropped."""
        deadline = trio.current_time() + CLOSE_TIMEOUT
        self._writing.deadline = min(self._writing.deadline, deadline)

    def accept_websocket(self) -> None:
        self._wire.accept_websocket()
        self._wake()

    def refuse_websocket(self, status: int, body: bytes) -> None:
        self._wire.respond(status, _JSON, body)
        self._wake()

    def abort(self) -> None:
        """Close the connection now (its tasks see it closed; unwritten output is dropped)."""
        self._stream.socket.close()


class _Poll:
    """The machine's handle for a long-polling request of the native server."""

    __slots__ = ("answered", "cors", "response")

    def __init__(self, cors: list[tuple[bytes, bytes]]) -> None:
        self.cors = cors
        self.response: HttpResponse | None = None
        self.answered = trio.Event()

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            self.answered.set()


def _address(get: Callable[[], Any]) -> tuple[str, int] | None:
    try:
        value = get()
    except OSError:  # the client is gone already
        return None
    return peer_address(value)


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
    listen: Callable[[], Awaitable[list[trio.SocketListener]]],
    ready: Callable[[list[tuple[str, int]]], None] | None,
    stop: Event,
    stopping: Event,
    handle_signals: bool,
) -> None:
    connections: set[_Connection] = set()

    async def handle(stream: trio.SocketStream) -> None:
        connection = _Connection(app, stream)
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
                    accepting = trio.CancelScope()
                    handlers.start_soon(_accept, accepting, handle, listeners, handlers)
                    if handle_signals:
                        await handlers.start(_stop_on_signals, stop)
                    addresses = [listener.socket.getsockname()[:2] for listener in listeners]
                    logger.info(
                        "sansio-rooms' own server (h11 + websockets sans-IO) on %s",
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
) -> list[trio.SocketListener]:
    if sock is None:
        return await trio.open_tcp_listeners(port, host=host, backlog=backlog)
    sock.listen(backlog)
    return [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]


async def _accept(
    scope: trio.CancelScope,
    handle: Callable[[trio.SocketStream], Any],
    listeners: list[trio.SocketListener],
    nursery: trio.Nursery,
) -> None:
    """Accept connections until ``scope`` is cancelled (then the listeners are closed).
    trio's streams have ``TCP_NODELAY`` set."""
    with scope:
        await trio.serve_listeners(handle, listeners, handler_nursery=nursery)


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


async def _close_all(connections: Iterable[_Connection], timeout: float = 1.0) -> None:
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
