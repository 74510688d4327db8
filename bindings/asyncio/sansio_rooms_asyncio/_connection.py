"""One connection of the asyncio binding's own server (``serve``): an asyncio protocol that
feeds what it reads to the machine (WebSocket frames and long-polls at once, other requests
through the app) and gathers what the machine writes, for one write per loop iteration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket as socket_module
from typing import Any

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
from ._transport import WebSocketWriter

__all__ = [
    "CLOSE_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LINGER",
    "REQUEST_TIMEOUT",
    "Flusher",
    "HttpProtocol",
]

logger = logging.getLogger("sansio_rooms.server")

_CLOSE = object()  # in a writer's queue: the close frame (with the code after it)
#: Seconds a client has to answer the server's close frame before its connection is dropped.
CLOSE_TIMEOUT = 10.0
#: An HTTP connection with no request in progress is closed after this (Node's
#: ``keepAliveTimeout`` and uvicorn's ``timeout_keep_alive`` are 5 s too).
KEEP_ALIVE_TIMEOUT = 5.0
#: A request must be whole this long after its first bytes came (Node's ``headersTimeout``).
REQUEST_TIMEOUT = 60.0
#: How long a connection we are done with is read (and dropped) after our side ended.
LINGER = 2.0


#: The size of the one buffer every connection of a server reads into (asyncio's own reads
#: are 256 KiB too).
READ_SIZE = 256 * 1024


class Flusher:
    """Writes every connection that has output, once, at the end of the loop iteration; and
    holds the buffer they all read into.

    One buffer for all: asyncio reads into it and hands it back at once (``get_buffer``,
    ``recv_into``, ``buffer_updated``, with nothing in between), and the protocol copies out
    what came. A plain protocol's ``data_received`` costs more per read: asyncio allocates
    256 KiB for each ``recv`` and shrinks it to what came, which on Linux is an ``mmap``,
    an ``mremap`` and later an ``munmap`` per read (three of every ten system calls of a
    long-polling server).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[HttpProtocol] = []
        self.buffer = memoryview(bytearray(READ_SIZE))

    def mark(self, protocol: HttpProtocol) -> None:
        if not self._dirty:
            self._loop.call_soon(self._flush)
        self._dirty.append(protocol)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for protocol in dirty:
            protocol.flush()


class _NativeWebSocket(WebSocketWriter):
    """A WebSocket of the native server: frames are appended to the connection's output."""

    prepare = staticmethod(PreparedFrame.prepare)

    def __init__(self, server: _LoopServer, protocol: HttpProtocol) -> None:
        super().__init__(server, self._send_later, server.max_buffer)
        self._protocol = protocol

    def _write_now(self, message: Any) -> bool:
        protocol = self._protocol
        if protocol.writable and type(message) is PreparedFrame:
            protocol.frame(message.wire)
            return True
        return super()._write_now(message)

    async def _send_later(self, message: Any) -> None:
        """A write that waits for the client (flow control), or a close."""
        protocol = self._protocol
        await protocol.wait_writable()
        if type(message) is PreparedFrame:
            protocol.frame(message.wire)
        elif type(message) is tuple and message[0] is _CLOSE:
            protocol.close_websocket(message[1])

    @staticmethod
    def close_message(code: int) -> Any:
        return (_CLOSE, code)

    def accept(self) -> None:
        self._protocol.accept_websocket()

    def reject(self, status: int, body: bytes) -> None:
        super().reject(status, body)
        self._protocol.refuse_websocket(status, body)

    def abort(self) -> None:
        self._protocol.abort()


class HttpProtocol(asyncio.BufferedProtocol):
    """One TCP connection: HTTP requests through the app, or one WebSocket."""

    def __init__(self, app: ASGIApp, flusher: Flusher, connections: set[HttpProtocol]) -> None:
        self._app = app
        self._server: _LoopServer = app.server
        self._flusher = flusher
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._wire: WireConnection | None = None
        self._writer: _NativeWebSocket | None = None
        self._marked = False
        self._writable = asyncio.Event()
        self._writable.set()
        # Read once here: asyncio.get_running_loop() makes a getpid system call each time.
        self._loop = loop = asyncio.get_running_loop()
        self._buffer = flusher.buffer
        self._lost: asyncio.Future[None] = loop.create_future()
        self._task: asyncio.Task[None] | None = None  # the request being answered
        self._poll_pending: _Poll | None = None  # the long-polling request being answered
        self._receiving = False  # the machine is taking a long-polling request
        # Closes an idle HTTP connection, or one whose request never ends (see the timeouts).
        # One timer at most per connection, moved lazily: arming only sets the deadline (a
        # long-polling client arms and disarms it at every request).
        self._idle: float | None = None  # when the connection is closed, if still idle
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since_request = False  # the deadline counts from a request's first bytes
        self._closing = False  # our side has ended (write_eof)

    # -- asyncio's callbacks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(self)
        engineio = self._server.engineio
        self._wire = WireConnection(
            client=peer_address(transport.get_extra_info("peername")),
            server=peer_address(transport.get_extra_info("sockname")),
            max_body=engineio.max_payload,
            max_message=engineio.max_payload,
        )
        self._arm_idle(KEEP_ALIVE_TIMEOUT)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, 1)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        wire = self._wire
        assert wire is not None
        if self._idle is not None and not self._idle_since_request:
            self._arm_idle(REQUEST_TIMEOUT, since_request=True)  # a request is coming
        if self._poll_pending is not None:
            # Pipelined behind a parked GET: the wire keeps it for after the answer, and
            # nothing more is read until then.
            transport = self._transport
            assert transport is not None
            transport.pause_reading()
        self._perform(wire.receive_data(data))

    def eof_received(self) -> bool:
        wire = self._wire
        assert wire is not None
        self._perform(wire.receive_data(b""))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._disarm_idle()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._writable.set()
        if not self._lost.done():
            self._lost.set_result(None)
        writer = self._writer
        if writer is not None:
            self._writer = None
            self._closed(writer)
        pending = self._poll_pending
        if pending is not None and pending.response is None:  # a parked GET, its client gone
            self._poll_pending = None
            self._server._connections -= 1
            self._server._request_closed(pending)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- events ------------------------------------------------------------------------------------

    def _perform(self, events: list[Any]) -> None:
        # A loop, not recursion: each long-polling request answered at once lets the next
        # pipelined one be read (thousands can come in one read).
        server = self._server
        while True:
            writer = self._writer
            answered = False
            # Nothing below awaits: the timer is set once for all the frames of this read.
            held = server._hold_timer()
            try:
                for event in events:
                    kind = type(event)
                    if kind is str or kind is bytes:  # a WebSocket message: the hot path
                        if writer is not None:
                            server._websocket_message(writer, event)
                    elif kind is HttpRequestReceived:
                        self._disarm_idle()  # answered by the app or the machine, in its time
                        polled = self._poll(event)
                        if polled is None:
                            self._start(self._http(event))
                        answered = polled is True
                    elif kind is WebSocketRequested:
                        self._disarm_idle()  # a WebSocket's liveness is the pings'
                        self._start(self._handshake(event))
                    elif kind is WebSocketClosed and writer is not None:
                        self._writer = None
                        self._closed(writer)
                        writer = None
            finally:
                if held:
                    server._release_timer()
            self._mark()
            if not answered:
                return
            events = self._read_on()

    def _start(self, coroutine: Any) -> None:
        transport = self._transport
        assert transport is not None
        transport.pause_reading()  # one request at a time: the next one waits in the kernel
        self._task = self._loop.create_task(coroutine)

    def _answered(self) -> None:
        """The request is answered: read on (a pipelined request may be waiting already)."""
        self._perform(self._read_on())

    def _read_on(self) -> list[Any]:
        """After an answer: what was received behind the request, and reading resumed."""
        self._task = None
        transport = self._transport
        wire = self._wire
        assert transport is not None and wire is not None
        if transport.is_closing():
            return []
        self._mark()
        if self._writer is None:
            self._arm_idle(KEEP_ALIVE_TIMEOUT)
        events = wire.pending_events()
        if not wire.should_close:
            transport.resume_reading()
        return events

    def _poll(self, event: HttpRequestReceived) -> bool | None:
        """A long-polling request of an open session, handled here and now (no task, no ASGI
        message): True if it is answered already, False if parked, None if the app must
        answer it (``ASGIAppBase._poll_directly``)."""
        self._receiving = True
        try:
            pending = self._app._poll_directly(
                event.scope, event.body, lambda cors: _Poll(self, cors)
            )
        finally:
            self._receiving = False
        if pending is None:
            return None
        if pending.response is not None:
            return True
        # A parked GET. Reading goes on, so that its client leaving is seen at once (the
        # machine then ends the session, as Node does); a request pipelined behind it waits
        # in the wire (see data_received).
        self._poll_pending = pending
        self._server._connections += 1
        return False

    def answer_poll(self, pending: _Poll, response: HttpResponse, now: bool) -> None:
        """The machine answered a long-polling request: now (while it was received), or
        later (a parked GET, from the machine's outputs: the next request is read after)."""
        if not now:  # a parked GET (counted while parked, see _poll)
            self._server._connections -= 1
            self._poll_pending = None
        if self._lost.done():
            return
        wire = self._wire
        assert wire is not None
        headers = [*encoded_headers(response.headers)]
        wire.respond(response.status, headers + pending.cors, response.body)
        self._mark()
        if not now:
            self._loop.call_soon(self._answered)

    def _closed(self, writer: _NativeWebSocket) -> None:
        self._server._websocket_closed(writer)
        self._server._connections -= 1

    def _arm_idle(self, seconds: float, since_request: bool = False) -> None:
        loop = self._loop
        self._idle = deadline = loop.time() + seconds
        self._idle_since_request = since_request
        timer = self._idle_timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._idle_timer = loop.call_at(deadline, self._idle_timeout)

    def _disarm_idle(self) -> None:
        self._idle = None  # the timer, if any, finds nothing to do

    def _idle_timeout(self) -> None:
        self._idle_timer = None
        deadline = self._idle
        if deadline is None:
            return
        loop = self._loop
        if loop.time() < deadline:  # moved meanwhile
            self._idle_timer = loop.call_at(deadline, self._idle_timeout)
            return
        self._idle = None
        transport = self._transport
        if self._task is None and self._poll_pending is None and self._writer is None:
            assert transport is not None
            transport.close()

    # -- output ------------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing to finish: no WebSocket and no request in progress, or closing."""
        transport = self._transport
        closing = transport is None or transport.is_closing()
        return closing or (self._writer is None and self._task is None)

    @property
    def writable(self) -> bool:
        return self._writable.is_set()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def _mark(self) -> None:
        if not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def frame(self, wire_bytes: bytes) -> None:
        wire = self._wire
        assert wire is not None
        wire.send_frame(wire_bytes)
        if not self._marked:  # (_mark, inline: once per recipient of a broadcast)
            self._marked = True
            self._flusher.mark(self)

    def flush(self) -> None:
        self._marked = False
        transport = self._transport
        wire = self._wire
        assert transport is not None and wire is not None
        if transport.is_closing() or self._closing:
            return  # nothing is written after our side ended
        data = wire.data_to_send()
        if data:
            transport.write(data)
        if wire.should_close:
            self._closing = True
            # Our side ends after the answer; what the client still sends is read and dropped
            # until it ends too (LINGER at most): closing with unread input would reset the
            # connection, and the client could lose the answer (a 413 in mid-upload).
            transport.write_eof()
            transport.resume_reading()
            self._loop.call_later(LINGER, transport.close)

    def accept_websocket(self) -> None:
        wire = self._wire
        assert wire is not None
        wire.accept_websocket()
        self._mark()
        # Frames that came with the handshake are read once the machine's outputs for the
        # handshake are written (the open packet goes first).
        self._loop.call_soon(self._answered)

    def refuse_websocket(self, status: int, body: bytes) -> None:
        wire = self._wire
        assert wire is not None
        wire.respond(status, [(b"content-type", b"application/json")], body)
        self._mark()

    def close_websocket(self, code: int) -> None:
        wire = self._wire
        assert wire is not None
        wire.close_websocket(code)
        self._mark()
        # The client has CLOSE_TIMEOUT to answer the close frame; then it is dropped.
        self._loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.abort()

    # -- the two kinds of request ------------------------------------------------------------------

    async def _handshake(self, event: WebSocketRequested) -> None:
        app = self._app
        server = self._server
        wire = self._wire
        assert wire is not None
        scope = event.scope
        if not app._serves(scope):
            wire.respond(404, [(b"content-type", b"text/plain")], b"Not Found")
            self._answered()
            return
        try:
            query, request, refusal = await app._admit_websocket(scope)
        except Exception:  # pragma: no cover - _admit_websocket logs and refuses itself
            logger.exception("a WebSocket handshake failed")
            refusal = b'{"code":4,"message":"Forbidden"}'
        if refusal is not None:
            wire.respond(403, [(b"content-type", b"application/json")], refusal)
            self._answered()
            return
        writer = _NativeWebSocket(server, self)
        self._writer = writer
        server._connections += 1
        server._websocket_connect(writer, query, request)
        if writer.refusal is not None:  # refused by the machine: answered by reject()
            self._writer = None
            server._connections -= 1
            self._answered()

    async def _http(self, event: HttpRequestReceived) -> None:
        wire = self._wire
        assert wire is not None
        answer = GatheredResponse()
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": event.body, "more_body": False}
            await asyncio.shield(self._lost)
            return {"type": "http.disconnect"}

        try:
            await self._app(event.scope, receive, answer.send)
        except Exception:
            logger.exception("the app failed on %s %s", event.scope["method"], event.scope["path"])
            if answer.status is None:
                answer.fail()
        if self._lost.done():
            return
        wire.respond(*answer.finish(event.scope))
        self._answered()


class _Poll:
    """The machine's handle for a long-polling request of the native server."""

    __slots__ = ("_protocol", "cors", "response")

    def __init__(self, protocol: HttpProtocol, cors: list[tuple[bytes, bytes]]) -> None:
        self._protocol = protocol
        self.cors = cors
        self.response: HttpResponse | None = None

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            protocol = self._protocol
            protocol.answer_poll(self, response, now=protocol._receiving)
