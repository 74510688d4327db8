"""One connection of the trio binding's own server (``serve``): a task reads it and feeds
the machine; one task of the server writes every connection's output with non-blocking
sends, and a connection's own writing task takes over only for what the kernel did not take
(and for holds and closing handshakes)."""

from __future__ import annotations

import logging
import socket as socket_module
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

import trio

from sansio_rooms import GatheredResponse, PreparedFrame
from sansio_rooms._asgi import encoded_headers, peer_address
from sansio_rooms._engineio_server import HttpResponse
from sansio_rooms.wire import (
    HttpRequestReceived,
    WebSocketClosed,
    WebSocketRequested,
    WireConnection,
)

from ._asgi import ASGIApp
from ._server import _LoopServer

__all__ = [
    "CLOSE_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LINGER_TIMEOUT",
    "REQUEST_TIMEOUT",
    "Flusher",
    "TcpConnection",
    "peer_of",
]

logger = logging.getLogger("sansio_rooms.server")

#: How long a client has to answer our close frame before its connection is dropped.
CLOSE_TIMEOUT = 10.0
#: How long what a client still sends after the answer that ends its connection (the rest of
#: a refused upload) is read and dropped, so that it reads that answer and not a reset.
LINGER_TIMEOUT = 2.0
#: An HTTP connection with no request in progress is closed after this (Node's
#: ``keepAliveTimeout`` and uvicorn's ``timeout_keep_alive`` are 5 s too).
KEEP_ALIVE_TIMEOUT = 5.0
#: A request must be whole this long after its first bytes came (Node's ``headersTimeout``).
REQUEST_TIMEOUT = 60.0


_JSON = [(b"content-type", b"application/json")]
_FORBIDDEN = b'{"code":4,"message":"Forbidden"}'


class Flusher:
    """Writes every connection that has output, once, in the scheduling batch after its
    output was appended (after every task that ran meanwhile: a burst of broadcasts costs
    one ``send`` per client)."""

    def __init__(self) -> None:
        self._dirty: list[TcpConnection] = []
        self._wakeup = trio.lowlevel.ParkingLot()

    def mark(self, connection: TcpConnection) -> None:
        if not self._dirty:
            self._wakeup.unpark()
        self._dirty.append(connection)

    async def run(self) -> None:
        while True:
            while not self._dirty:
                await self._wakeup.park()
            dirty, self._dirty = self._dirty, []
            for connection in dirty:
                try:
                    connection.flush()
                except Exception:  # a bug: that connection is dropped, not the others
                    logger.exception("writing a connection failed")
                    connection.abort()


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
    frames are appended to the connection's output, which the server's flusher (or, while
    the client is slow, the connection's writing task) sends. ``max_buffer`` bounds the
    frames not taken from the output yet; volatile frames are dropped while the connection
    has output waiting."""

    prepare = staticmethod(PreparedFrame.prepare)

    def __init__(self, server: _LoopServer, connection: TcpConnection) -> None:
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


class Arrivals:
    """First requests handled in the order their connections were accepted, as Node's loop
    takes them (trio runs the tasks woken together in random order, on purpose): a client
    that sends one request, then another on a new connection, has them handled in that
    order. Each connection waits for the one accepted just before it to have handled its
    first request (or to be gone), FIRST_REQUEST_WAIT at most, so a slow client holds no one
    up for long."""

    def __init__(self) -> None:
        self._last: trio.Event | None = None

    def ticket(self) -> tuple[trio.Event | None, trio.Event]:
        """For a connection just accepted: (the event of the one before, its own)."""
        before, own = self._last, trio.Event()
        self._last = own
        return before, own


#: How long a new connection's first request waits for the connections accepted before it.
FIRST_REQUEST_WAIT = 0.05


class TcpConnection:
    """One TCP connection: HTTP requests through the app, or one WebSocket. A task reads it
    and performs what it reads, in order. Its output is written by the server's flusher
    while the client takes it all at once; else a second task, its own, waits until it can
    write the rest. That task also writes what a hold let go, and closes the connection."""

    def __init__(
        self,
        app: ASGIApp,
        flusher: Flusher,
        sock: socket_module.socket,
        turn: tuple[trio.Event | None, trio.Event] = (None, trio.Event()),
    ) -> None:
        self._turn_after, self._turn_done = turn
        self._app = app
        self._server: _LoopServer = app.server
        self._flusher = flusher
        self._sock = sock
        sock.setblocking(False)
        with suppress(OSError):  # as trio's SocketStream
            sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)
            if hasattr(socket_module, "TCP_NOTSENT_LOWAT"):
                sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NOTSENT_LOWAT, 2**14)
        engineio = self._server.engineio
        self._wire = WireConnection(
            client=peer_of(sock.getpeername),
            server=peer_of(sock.getsockname),
            max_body=engineio.max_payload,
            max_message=engineio.max_payload,
        )
        self._websocket: _NativeWebSocket | None = None
        self._answering = False  # a request or a handshake is in the app's hands
        self._reading = True
        self._peer_gone = False  # seen while a request was in the app's hands
        # Frames written after a hold (and a close after them), until its time has passed.
        self._held: deque[Any] = deque()
        self._pending = 0  # frames in the output not taken yet (by the flusher or the task)
        self._max_buffer = self._server.max_buffer
        self._marked = False  # in the flusher's list
        # Taken from the output, not accepted by the kernel yet: the writing task's to send.
        self._unsent: memoryview | None = None
        self._closed = False
        self._parked = False  # the writing task waits for something to do
        self._wakeup = trio.lowlevel.ParkingLot()
        self._writing = trio.CancelScope()  # its deadline bounds a closing handshake

    @property
    def busy(self) -> bool:
        """Something to finish: a WebSocket or a request in progress."""
        return self._websocket is not None or self._answering

    @property
    def busy_writing(self) -> bool:
        return self._unsent is not None or self._pending > 0 or bool(self._held)

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
            self._turn_done.set()  # gone before its first request: the next need not wait
            self.abort()

    # -- reading ---------------------------------------------------------------------------------

    async def _read_all(self) -> None:
        sock = self._sock
        wire = self._wire
        ready = True  # a new connection's first request is most often there already
        first = True  # its first request has not been handled yet
        # Over HTTP, waiting for a request is bounded: KEEP_ALIVE_TIMEOUT between requests,
        # REQUEST_TIMEOUT from a request's first bytes (a WebSocket's liveness is the pings').
        deadline = trio.current_time() + KEEP_ALIVE_TIMEOUT
        since_request = False
        while True:
            try:
                if self._closed:
                    raise trio.ClosedResourceError
                if not ready:
                    if wire.is_websocket or wire.should_close:
                        await trio.lowlevel.wait_readable(sock)
                    else:
                        with trio.move_on_at(deadline) as waiting:
                            await trio.lowlevel.wait_readable(sock)
                        if waiting.cancelled_caught:
                            return  # idle, or a request that never ends: closed
                ready = False
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except (OSError, trio.ClosedResourceError):
                data = b""  # gone: as if it had closed its side
            events = wire.receive_data(data)
            if events:
                if first:  # in the order the connections came (see Arrivals)
                    first = False
                    before = self._turn_after
                    if before is not None and not before.is_set():
                        with trio.move_on_after(FIRST_REQUEST_WAIT):
                            await before.wait()
                    self._turn_done.set()
                await self._perform(events)
                deadline = trio.current_time() + KEEP_ALIVE_TIMEOUT
                since_request = False
            elif data and not since_request:
                deadline = trio.current_time() + REQUEST_TIMEOUT
                since_request = True
            self._output()  # what the wire answered itself (a pong, an error), if anything
            if not data or self._peer_gone:
                return
            if wire.should_close:
                if wire.is_websocket:
                    return
                continue  # answered, to be closed: the rest is dropped (see _write_all)
            if wire.is_websocket and self._websocket is None:
                return  # the WebSocket is over: its close frame is written, then we close

    async def _perform(self, events: list[Any]) -> None:
        server = self._server
        wire = self._wire
        while events:
            answered = False
            # The timer is set once for a run of frames (they never await); it is released
            # before anything that awaits.
            held = server._hold_timer()
            try:
                for event in events:
                    kind = type(event)
                    if kind is str or kind is bytes:  # a WebSocket message: the hot path
                        websocket = self._websocket
                        if websocket is not None:
                            server._websocket_message(websocket, event)
                        continue
                    if held:
                        held = False
                        server._release_timer()
                    if kind is HttpRequestReceived:
                        await self._request(event)
                        answered = True
                    elif kind is WebSocketRequested:
                        await self._handshake(event)
                        answered = True
                    elif kind is WebSocketClosed:
                        self._end_websocket()
            finally:
                if held:
                    server._release_timer()
            if not answered or self._peer_gone:
                return
            self._output()  # the answer goes out before a pipelined request is read
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
                # Until the client goes away, unless the answer comes first: respond()
                # cancels the wait (one cancel scope, no task, per parked GET).
                with trio.CancelScope() as waiting:
                    poll.waiting = waiting
                    await self._wait_until_gone()
            finally:
                poll.waiting = None
                self._answering = False
                self._server._connections -= 1
            response = poll.response
            if response is None:  # the client went away first
                self._server._request_closed(poll)
                return
        headers = [*encoded_headers(response.headers)]
        self._wire.respond(response.status, headers + poll.cors, response.body)

    async def _wait_until_gone(self) -> None:
        """Until the client closes its side or the connection breaks. Whatever it sends
        meanwhile (a pipelined request) stays in the kernel until this one is answered: then
        this waits for good."""
        sock = self._sock
        try:
            while not self._closed:
                await trio.lowlevel.wait_readable(sock)
                try:
                    if sock.recv(1, socket_module.MSG_PEEK):
                        await trio.sleep_forever()
                    break
                except BlockingIOError:
                    continue
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

    def _output(self) -> None:
        """There is output to write: the flusher writes it in its next run."""
        if not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def _wake(self) -> None:
        """Something for the writing task: output the client did not take, a hold, the
        end of the connection."""
        if self._parked:
            self._parked = False
            self._wakeup.unpark()

    def flush(self) -> None:
        """The flusher's turn: the output, unless the writing task has some left to send."""
        self._marked = False
        if self._unsent is None and not self._closed:
            wire = self._wire
            data = wire.data_to_send()
            self._pending = 0
            if data:
                self._send(data)
            if wire.should_close:
                self._wake()  # it closes the connection

    def _send(self, data: bytes | memoryview) -> None:
        """Send what the kernel takes now; the writing task waits to send the rest."""
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:  # reset, broken pipe, closed: the reading task sees it too
            if self._websocket is not None:
                self._websocket.closed = True  # nothing more to write on it
            self.abort()
            return
        if sent < len(data):
            self._unsent = memoryview(data)[sent:]
            self._wake()

    async def _write_all(self) -> None:
        """The writing task: what the client did not take at once (it waits until it can
        send it), what a hold let go, and, once the connection is to be closed and its
        output is written, the close."""
        wire = self._wire
        sock = self._sock
        held = self._held
        lingering = False
        try:
            with self._writing:
                while not self._closed:
                    unsent = self._unsent
                    if unsent is not None:
                        await trio.lowlevel.wait_writable(sock)
                        self._unsent = None
                        self._send(unsent)
                        continue
                    data = wire.data_to_send()
                    self._pending = 0
                    if data:
                        self._send(data)
                    elif not self._reading or (wire.should_close and wire.is_websocket):
                        return
                    elif wire.should_close and not lingering:
                        # The answer is written, and the end after it; the client closes
                        # its side once it has read them (or is dropped after a while).
                        lingering = True
                        sock.shutdown(socket_module.SHUT_WR)
                        deadline = trio.current_time() + LINGER_TIMEOUT
                        self._writing.deadline = min(self._writing.deadline, deadline)
                    elif held and not lingering:
                        await self._release_held()
                    else:
                        self._parked = True
                        await self._wakeup.park()
        except (OSError, trio.ClosedResourceError):
            pass  # the client is gone: the reading task sees it too
        finally:
            self._unsent = None
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
        appended, if more than ``max_buffer`` frames would wait in the output."""
        count = len(frames)
        held = self._held
        if self._pending + len(held) + count > self._max_buffer:
            return False
        if held:
            held.extend(frame.wire for frame in frames)
            return True
        self._pending += count
        if count == 1:  # the common case: one frame per packet
            self._wire.send_frame(frames[0].wire)
        else:
            self._wire.send_frames([frame.wire for frame in frames])
        if not self._marked:  # _output(), inlined: this is every recipient of every broadcast
            self._marked = True
            self._flusher.mark(self)
        return True

    def send_control(self, frames: Sequence[PreparedFrame]) -> None:
        self._wire.send_frames([frame.wire for frame in frames])
        self._output()

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
        self._output()

    def _bound_writing(self) -> None:
        """The WebSocket is closing: the client has ``CLOSE_TIMEOUT`` to answer our close
        frame and to read what is left, then the connection is dropped."""
        deadline = trio.current_time() + CLOSE_TIMEOUT
        self._writing.deadline = min(self._writing.deadline, deadline)

    def accept_websocket(self) -> None:
        self._wire.accept_websocket()
        self._output()

    def refuse_websocket(self, status: int, body: bytes) -> None:
        self._wire.respond(status, _JSON, body)
        self._output()

    def abort(self) -> None:
        """Close the connection now (its tasks see it closed; unwritten output is dropped)."""
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._sock)  # its waiting tasks wake, not a new fd's
            self._sock.close()
            self._wake()


class _Poll:
    """The machine's handle for a long-polling request of the native server."""

    __slots__ = ("cors", "response", "waiting")

    def __init__(self, cors: list[tuple[bytes, bytes]]) -> None:
        self.cors = cors
        self.response: HttpResponse | None = None
        self.waiting: trio.CancelScope | None = None  # the parked GET's wait for its answer

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            if self.waiting is not None:
                self.waiting.cancel()


def peer_of(get: Callable[[], Any]) -> tuple[str, int] | None:
    try:
        value = get()
    except OSError:  # the client is gone already
        return None
    return peer_address(value)
