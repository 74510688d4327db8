"""The asyncio server: the sansio-rooms machine, driven by an event loop.

Everything protocol- and room-related happens in :class:`sansio_rooms.ServerMachine`. This
module only feeds it what the transports report, performs what it answers (writes, HTTP
responses), runs the application's handlers as tasks, and keeps one timer for the machine's
next deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from sansio_rooms import (
    AckCompleted,
    Connected,
    ConnectionRefusedError,
    Deliveries,
    Handlers,
    Room,
    RoomCreated,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    Selection,
    SocketDisconnected,
    SocketDisconnecting,
    normalize_namespace,
)
from sansio_rooms import _engineio_server as eio
from sansio_rooms import _server as sio

from ._operator import AckTimeoutError, BroadcastOperator
from ._socket import Socket
from ._transport import Connection, WebSocketWriter

__all__ = ["AsyncServer"]

logger = logging.getLogger("sansio_rooms_asyncio")
F = TypeVar("F", bound=Callable[..., Any])


async def _call(handler: Callable[..., Any], *args: Any) -> Any:
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class AsyncServer:
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

    def __init__(self, *, max_buffer: int = 1024, **options: Any) -> None:
        self.machine = sio.ServerMachine(**options)
        self.handlers = Handlers()
        self.max_buffer = max_buffer
        self._sockets: dict[tuple[str, str], Socket] = {}
        self._ack_waiters: dict[int, asyncio.Future[AckCompleted]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._queries: dict[str, Mapping[str, str]] = {}  # Engine.IO session -> query string

    # -- registration -------------------------------------------------------------------------

    def on(self, event: str, namespace: str = "/") -> Callable[[F], F]:
        """Decorator: ``@server.on("chat")`` registers a handler (and the namespace)."""
        self.machine.add_namespace(namespace)
        return self.handlers.on(event, namespace)

    def event(self, handler: F) -> F:
        """Decorator: the function's name is the event, in namespace ``/``."""
        return self.on(handler.__name__)(handler)

    def add_namespace(self, namespace: str) -> None:
        self.machine.add_namespace(namespace)

    # -- the broadcast operator ----------------------------------------------------------------

    def of(self, namespace: str) -> BroadcastOperator:
        nsp = normalize_namespace(namespace)
        if nsp not in self.machine.namespaces():
            self.machine.add_namespace(nsp)
        return BroadcastOperator(self, Selection(nsp=nsp))

    def to(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self.of("/").to(rooms)

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self.of("/").to(rooms)

    def except_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self.of("/").except_(rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.of("/").volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.of("/").local

    def compress(self, value: bool) -> BroadcastOperator:
        return self.of("/").compress(value)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.of("/").timeout(seconds)

    async def emit(self, event: str, *args: Any) -> None:
        """Emit to every socket of namespace ``/`` (use ``of()``/``to()`` to select)."""
        await self.of("/").emit(event, *args)

    async def sockets_join(self, rooms: Iterable[Room] | Room) -> None:
        await self.of("/").sockets_join(rooms)

    async def sockets_leave(self, rooms: Iterable[Room] | Room) -> None:
        await self.of("/").sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.of("/").disconnect_sockets(close)

    async def fetch_sockets(self) -> list[Socket]:
        return await self.of("/").fetch_sockets()

    def get_socket(self, sid: str, namespace: str = "/") -> Socket | None:
        """The connected socket ``sid`` of ``namespace``, if it is here."""
        return self._sockets.get((normalize_namespace(namespace), sid))

    # -- machine plumbing ---------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    def _run(self, outputs: list[Any]) -> None:
        """Perform the machine's outputs, then re-arm the timer for its next deadline."""
        self._perform(outputs)
        self._rearm()

    def _perform(self, outputs: list[Any]) -> None:
        dispatch = _DISPATCH
        for output in outputs:
            dispatch[type(output)](self, output)

    def _rearm(self) -> None:
        when = self.machine.next_deadline()
        if when == self._timer_when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = None if when is None else self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_when = None
        self._run(self.machine.advance(self.now()))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- what the transports report ------------------------------------------------------------

    def _receive_request(self, request: eio.HttpRequest) -> None:
        self._run(self.machine.receive_request(request, self.now()))

    def _request_closed(self, handle: Any) -> None:
        self._run(self.machine.request_closed(handle, self.now()))

    def _websocket_connect(self, writer: WebSocketWriter, query: Mapping[str, str]) -> None:
        self._run(self.machine.websocket_connect(writer, query, self.now()))

    def _websocket_message(self, writer: WebSocketWriter, data: str | bytes) -> None:
        self._run(self.machine.websocket_message(writer, data, self.now()))

    def _websocket_closed(self, writer: WebSocketWriter) -> None:
        writer.closed = True
        self._run(self.machine.websocket_closed(writer, self.now()))

    def _transport_failed(self, writer: WebSocketWriter, description: str) -> None:
        self._run(self.machine.websocket_failed(writer, self.now(), description))

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

    # -- what the machine answers ----------------------------------------------------------------

    def _on_http_response(self, output: eio.HttpResponse) -> None:
        output.handle.respond(output)

    def _on_websocket_accept(self, output: eio.WebSocketAccept) -> None:
        output.handle.accept()

    def _on_websocket_reject(self, output: eio.WebSocketReject) -> None:
        output.handle.reject(output.status, output.body)

    def _on_websocket_send(self, output: eio.WebSocketSend) -> None:
        prepared: dict[Any, tuple[Any, ...]] = {}
        volatile = output.volatile
        frames = output.frames
        control = output.control
        for writer in output.handles:
            prepare = writer.prepare
            messages = prepared.get(prepare)
            if messages is None:
                messages = prepared[prepare] = prepare(frames)
            if control:
                writer.write_control(messages)
            else:
                writer.write(messages, volatile)

    def _on_websocket_close(self, output: eio.WebSocketClose) -> None:
        output.handle.close(output.code)

    def _on_connect_request(self, output: sio.ConnectRequest) -> None:
        query = self._queries.get(output.eio_sid, {})
        socket = Socket(self, output.nsp, output.sid, output.eio_sid, output.auth, query)
        self._sockets[(output.nsp, output.sid)] = socket
        self._spawn(self._run_connect(socket))

    async def _run_connect(self, socket: Socket) -> None:
        handler = self.handlers.get(socket.nsp, "connect")
        refusal: tuple[str, Any] | None = None
        if handler is not None:
            try:
                if await _call(handler, socket, socket.handshake.auth) is False:
                    refusal = ("Not authorized", None)
            except ConnectionRefusedError as error:
                refusal = (error.message, error.data)
            except Exception as error:
                logger.exception("connect handler of %s failed", socket.nsp)
                refusal = (str(error) or type(error).__name__, None)
        if refusal is None:
            self._run(self.machine.accept(socket.nsp, socket.sid))
        else:
            self._sockets.pop((socket.nsp, socket.sid), None)
            self._run(self.machine.refuse(socket.nsp, socket.sid, *refusal))

    def _on_connected(self, output: Connected) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is not None:
            socket.connected = True

    def _on_event(self, output: sio.EventReceived) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is None:
            return
        handler, catch_all = self.handlers.for_event(output.nsp, output.event)
        if handler is None:
            if output.ack_id is not None:
                logger.info("no handler for event %r of %s", output.event, output.nsp)
            return
        args = (output.event, *output.args) if catch_all else output.args
        self._spawn(self._run_event(socket, handler, args, output.ack_id))

    async def _run_event(
        self, socket: Socket, handler: Callable[..., Any], args: tuple[Any, ...], ack_id: int | None
    ) -> None:
        try:
            result = await _call(handler, socket, *args)
        except Exception:
            logger.exception("handler of %r in %s failed", args[:1], socket.nsp)
            return
        if ack_id is not None:
            if result is None:
                response: tuple[Any, ...] = ()
            elif isinstance(result, tuple):
                response = result
            else:
                response = (result,)
            self._run(self.machine.send_ack(socket.nsp, socket.sid, ack_id, *response))

    def _on_disconnecting(self, output: SocketDisconnecting) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is None:  # pragma: no cover - every connected socket has its object
            return
        socket.connected = False
        self._spawn(self._run_disconnect(socket, output.reason))

    async def _run_disconnect(self, socket: Socket, reason: str) -> None:
        for event in ("disconnecting", "disconnect"):
            handler = self.handlers.get(socket.nsp, event)
            if handler is not None:
                try:
                    await _call(handler, socket, reason)
                except Exception:
                    logger.exception("%s handler of %s failed", event, socket.nsp)
            if event == "disconnecting":
                self._sockets.pop((socket.nsp, socket.sid), None)
                self._run(self.machine.finish_disconnect(socket.nsp, socket.sid))

    def _on_ack_completed(self, output: AckCompleted) -> None:
        waiter = self._ack_waiters.pop(output.ack_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(output)

    def _ignore(self, output: Any) -> None:
        pass

    def _on_session_opened(self, output: eio.SessionOpened) -> None:
        self._queries[output.eio_sid] = output.query

    def _on_session_closed(self, output: eio.SessionClosed) -> None:
        self._queries.pop(output.eio_sid, None)

    # -- emitting (used by the operator and sockets) -------------------------------------------

    def _emit(
        self, selection: Selection, sids: Iterable[str] | None, event: str, args: Any
    ) -> None:
        self._run(
            self.machine.emit(
                selection.nsp,
                event,
                *args,
                rooms=selection.rooms,
                except_=selection.except_rooms,
                sids=sids,
                sender=selection.sender,
                volatile=selection.volatile_flag,
                compress=selection.compress_flag,
            )
        )

    async def _emit_with_ack(
        self,
        selection: Selection,
        sids: Iterable[str] | None,
        event: str,
        args: Any,
        *,
        whole_response: bool,
    ) -> tuple[Any, ...]:
        timeout = selection.timeout_seconds
        if timeout is None:
            raise TypeError("set a timeout for acknowledgements: .timeout(seconds)")
        outputs = self.machine.emit_with_ack(
            selection.nsp,
            event,
            *args,
            now=self.now(),
            timeout=timeout,
            rooms=selection.rooms,
            except_=selection.except_rooms,
            sids=sids,
            sender=selection.sender,
            whole_response=whole_response,
            volatile=selection.volatile_flag,
            compress=selection.compress_flag,
        )
        deliveries = outputs[0]  # the machine puts the engine's Deliveries first
        assert isinstance(deliveries, Deliveries) and deliveries.ack_id is not None
        waiter: asyncio.Future[AckCompleted] = self.loop.create_future()
        self._ack_waiters[deliveries.ack_id] = waiter
        self._run(outputs)
        if not waiter.done():
            await waiter
        completed = waiter.result()
        if completed.timed_out:
            raise AckTimeoutError(completed.responses)
        return completed.responses

    # -- shutdown -------------------------------------------------------------------------------

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Graceful shutdown: every client is told ("server shutting down"), the
        *disconnecting* and *disconnect* handlers run, writes are flushed, then it stops."""
        self._closing = True
        self._run(self.machine.shutdown(self.now()))
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_when = None


_DISPATCH: dict[type, Callable[[AsyncServer, Any], None]] = {
    eio.HttpResponse: AsyncServer._on_http_response,
    eio.WebSocketAccept: AsyncServer._on_websocket_accept,
    eio.WebSocketReject: AsyncServer._on_websocket_reject,
    eio.WebSocketSend: AsyncServer._on_websocket_send,
    eio.WebSocketClose: AsyncServer._on_websocket_close,
    sio.ConnectRequest: AsyncServer._on_connect_request,
    sio.EventReceived: AsyncServer._on_event,
    Connected: AsyncServer._on_connected,
    SocketDisconnecting: AsyncServer._on_disconnecting,
    AckCompleted: AsyncServer._on_ack_completed,
    # Known, and nothing to do here: the recipients of an emit, room notices (off by
    # default), the disconnect's last word (handled by _run_disconnect), session bookkeeping.
    Deliveries: AsyncServer._ignore,
    SocketDisconnected: AsyncServer._ignore,
    RoomCreated: AsyncServer._ignore,
    RoomJoined: AsyncServer._ignore,
    RoomLeft: AsyncServer._ignore,
    RoomDeleted: AsyncServer._ignore,
    eio.SessionOpened: AsyncServer._on_session_opened,
    eio.SessionClosed: AsyncServer._on_session_closed,
}
