"""The part of a Socket.IO server binding that does not depend on the event loop.

A binding (asyncio, trio) subclasses :class:`ServerDriver` and supplies four things: the
clock (``now``), how to start a task (``_spawn``), how to arm the machine's one timer
(``_schedule``), and a one-shot waiter (``_new_waiter``); plus its transports (writers, the
ASGI app). Everything else — registering handlers, performing the machine's outputs, running
the connect / event / disconnect handlers, the broadcast operator, the socket object — is here,
written once, so that the two bindings cannot drift apart.

Nothing here touches an event loop: handlers are awaited as plain coroutines, and the
machine (:class:`ServerMachine`) does all the protocol and room work.
"""

from __future__ import annotations

import abc
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import attrs

from . import _engineio_server as eio
from . import _server as sio
from ._app import ConnectionRefusedError, Handlers, Selection
from ._cluster_driver import (
    SERVER_SIDE_EMIT_TIMEOUT,
    ClusterAdapter,
    ClusterDriving,
    RemoteSocket,
    timed_out,
)
from ._cluster_outputs import (
    MessageDropped,
    Publish,
    RequestCompleted,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from ._errors import InvalidStateError, SansioRoomsError, UnknownSocketError
from ._names import Room, normalize_namespace
from ._outputs import (
    AckCompleted,
    AckReceived,
    Connected,
    Deliveries,
    RoomCreated,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
)
from ._socketio import RESERVED_EVENTS, SioPacket, SioPacketType
from ._transport_driver import TRANSPORT_DISPATCH, TransportDriver

__all__ = ["AckTimeoutError", "BroadcastOperator", "Handshake", "ServerDriver", "Socket"]

logger = logging.getLogger("sansio_rooms")

#: Seconds a WebSocket's writes wait after the CONNECT reply when the connect handler
#: emitted something. A client that handles every frame of one read before it listens again
#: (the official suite's, on `ws`) loses a frame that arrives in the same read as the reply;
#: Node's next write waits for the first one's callback. Separate writes are not enough on
#: a busy loopback: the official suite then failed 3 to 6 of its 32 tests a run; with this
#: gap, none (3 runs on each binding). The writer holds everything after the reply, so the
#: order of what the client receives is kept.
CONNECT_REPLY_GAP = 0.002
F = TypeVar("F", bound=Callable[..., Any])


class AckTimeoutError(SansioRoomsError, TimeoutError):
    """Not every recipient answered in time. ``responses`` holds the answers that came
    (Socket.IO's "operation has timed out" with ``err.responses``)."""

    def __init__(self, responses: tuple[Any, ...]) -> None:
        super().__init__(f"operation has timed out ({len(responses)} responses)")
        self.responses = responses


class Waiter(Protocol):
    """A one-shot result, set once from synchronous code and awaited by one task."""

    def set(self, value: Any) -> None: ...

    async def wait(self) -> Any: ...


async def _call(handler: Callable[..., Any], *args: Any) -> Any:
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


@attrs.frozen(kw_only=True)
class Handshake:
    """What the client sent to connect: the CONNECT ``auth`` payload and the Engine.IO
    session's query string."""

    auth: Any
    query: Mapping[str, str]


class BroadcastOperator:
    """A selection of sockets of one namespace, and what to do with them. Immutable: each
    of ``to/in_/except_/volatile/local/compress/timeout`` returns a new operator."""

    __slots__ = ("_selection", "_server")

    def __init__(self, server: ServerDriver, selection: Selection) -> None:
        self._server = server
        self._selection = selection

    @property
    def selection(self) -> Selection:
        return self._selection

    def _with(self, selection: Selection) -> BroadcastOperator:
        return BroadcastOperator(self._server, selection)

    def to(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.to(rooms))

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.to(rooms))

    def except_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._with(self._selection.except_(rooms))

    def compress(self, value: bool) -> BroadcastOperator:
        return self._with(self._selection.compress(value))

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._with(self._selection.timeout(seconds))

    @property
    def volatile(self) -> BroadcastOperator:
        return self._with(self._selection.volatile)

    @property
    def local(self) -> BroadcastOperator:
        return self._with(self._selection.local)

    @property
    def broadcast(self) -> BroadcastOperator:
        return self

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to every selected socket, each once (on every server
        of a cluster, unless ``local``)."""
        server = self._server
        selection = self._selection
        if server._cluster_selection(selection):
            assert server.cluster is not None
            SioPacket(type=SioPacketType.EVENT, nsp=selection.nsp, data=[event, *args])
            server._run(
                server.cluster.broadcast(
                    selection.nsp,
                    event,
                    *args,
                    rooms=selection.rooms,
                    except_=self._except_remote(),
                    volatile=selection.volatile_flag,
                    compress=selection.compress_flag,
                )
            )
            # Let the adapter's writer go first: handlers that are ready to run all at once
            # (a burst of events) would otherwise deliver to every local client before the
            # first publish is written, and the other servers' clients would wait for them.
            await server._sleep(0)
        server._emit(selection, None, event, args)

    def _except_remote(self) -> tuple[Room, ...]:
        # Node puts the sender of socket.to(...) in "except": its id room is only here.
        selection = self._selection
        if selection.sender is None:
            return selection.except_rooms
        return (*selection.except_rooms, selection.sender)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send and wait for one answer per recipient (``.timeout(seconds)`` is required);
        returns the first argument of each answer, in arrival order (in a cluster: this
        server's clients first). Raises :class:`AckTimeoutError` (with ``.responses``) if
        some did not answer in time."""
        server = self._server
        selection = self._selection
        if not server._cluster_selection(selection):
            responses = await server._emit_with_ack(
                selection, None, event, args, whole_response=False
            )
            return list(responses)
        cluster = server.cluster
        assert cluster is not None
        timeout = selection.timeout_seconds
        if timeout is None:
            raise TypeError("set a timeout for acknowledgements: .timeout(seconds)")
        SioPacket(type=SioPacketType.EVENT, nsp=selection.nsp, data=[event, *args])

        def start(servers: int) -> tuple[str, list[Any]]:
            return cluster.broadcast_with_ack(
                selection.nsp,
                event,
                *args,
                rooms=selection.rooms,
                except_=self._except_remote(),
                volatile=selection.volatile_flag,
                compress=selection.compress_flag,
                servers=servers,
                now=server.now(),
                timeout=timeout,
            )

        request_id, remote = await server._start_request(start, selection.nsp)
        try:
            local = await server._emit_with_ack_completed(
                selection, None, event, args, whole_response=False
            )
            completed: RequestCompleted = await remote.wait()
        finally:
            server._forget_request(request_id)
        responses = (*local.responses, *completed.responses)
        if local.timed_out or completed.timed_out:
            raise AckTimeoutError(responses)
        return list(responses)

    def _selected(self) -> tuple[str, ...]:
        selection = self._selection
        namespace = self._server.machine.engine.namespace(selection.nsp)
        selected = namespace.members_of(selection.rooms, except_=selection.except_rooms)
        return tuple(sid for sid in selected if sid != selection.sender)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """The selected sockets: this server's as :class:`Socket`, other servers' (in a
        cluster, unless ``local``) as :class:`RemoteSocket`. Raises
        :class:`ClusterRequestTimeout` if a server did not answer in time."""
        server = self._server
        selection = self._selection
        nsp = selection.nsp
        sockets = (server.get_socket(sid, nsp) for sid in self._selected())
        found: list[Socket | RemoteSocket] = [s for s in sockets if s is not None]
        if not server._cluster_selection(selection):
            return found
        cluster = server.cluster
        assert cluster is not None
        completed = await server._request(
            lambda servers: cluster.fetch_sockets(
                nsp,
                rooms=selection.rooms,
                except_=self._except_remote(),
                servers=servers,
                now=server.now(),
            ),
            nsp,
        )
        if completed.timed_out:
            raise timed_out(completed)
        found += (RemoteSocket(server, nsp, details) for details in completed.responses)
        return found

    async def sockets_join(self, rooms: Iterable[Room] | Room) -> None:
        """Every selected socket joins ``rooms`` (on every server of a cluster)."""
        self._membership(rooms, join=True)

    async def sockets_leave(self, rooms: Iterable[Room] | Room) -> None:
        """Every selected socket leaves ``rooms`` (on every server of a cluster)."""
        self._membership(rooms, join=False)

    def _membership(self, rooms: Iterable[Room] | Room, *, join: bool) -> None:
        server = self._server
        selection = self._selection
        cluster = server.cluster
        if cluster is not None and server._cluster_selection(selection):
            change = cluster.sockets_join if join else cluster.sockets_leave
            server._run(
                change(selection.nsp, rooms, rooms=selection.rooms, except_=self._except_remote())
            )
        namespace = server.machine.engine.namespace(selection.nsp)
        apply = namespace.sockets_join if join else namespace.sockets_leave
        server._run_if_any(apply(rooms, sids=self._selected()))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket (``close``: their whole connections), on every
        server of a cluster."""
        server = self._server
        selection = self._selection
        if server._cluster_selection(selection):
            assert server.cluster is not None
            server._run(
                server.cluster.disconnect_sockets(
                    selection.nsp,
                    rooms=selection.rooms,
                    except_=self._except_remote(),
                    close=close,
                )
            )
        server._run(
            server.machine.disconnect_sockets(
                selection.nsp, server.now(), sids=self._selected(), close_connection=close
            )
        )

    async def all_rooms(self) -> set[Room]:
        """Every room of the namespace (socket id rooms too), on every server of a cluster
        (not with the sharded adapter, which has no such request)."""
        server = self._server
        selection = self._selection
        rooms: set[Room] = set(server.machine.engine.namespace(selection.nsp).rooms())
        if not server._cluster_selection(selection):
            return rooms
        cluster = server.cluster
        assert cluster is not None
        completed = await server._request(
            lambda servers: cluster.all_rooms(selection.nsp, servers=servers, now=server.now()),
            selection.nsp,
        )
        if completed.timed_out:
            raise timed_out(completed)
        rooms.update(completed.responses)
        return rooms

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (their ``on_server_side``
        handlers), not to clients. Without a cluster, nobody gets it."""
        server = self._server
        _check_server_side_event(event)
        if server.cluster is not None:
            server._run(server.cluster.server_side_emit(self._selection.nsp, event, *args))

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """``server_side_emit``, waiting for one answer per other server (``.timeout()``,
        default 5 s as in Node). Raises :class:`ClusterRequestTimeout` (with
        ``.responses``) if some did not answer in time."""
        server = self._server
        _check_server_side_event(event)
        cluster = server.cluster
        if cluster is None:
            return []
        nsp = self._selection.nsp
        timeout = self._selection.timeout_seconds
        wait = SERVER_SIDE_EMIT_TIMEOUT if timeout is None else timeout
        completed = await server._request(
            lambda servers: cluster.server_side_emit_with_ack(
                nsp, event, *args, servers=servers, now=server.now(), timeout=wait
            ),
            nsp,
        )
        if completed.timed_out:
            raise timed_out(completed)
        return list(completed.responses)


def _check_server_side_event(event: object) -> None:
    if type(event) is not str:
        raise TypeError(f"an event name is a string, not {event!r}")
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")


class Socket:
    """A client connected to a namespace: ``socket.sid``, ``socket.nsp``, ``socket.data``
    (yours), ``socket.handshake``, ``socket.rooms``; ``join``/``leave``; ``emit``;
    ``to()/except_()/broadcast`` (the sender excluded); ``disconnect``."""

    def __init__(
        self,
        server: ServerDriver,
        nsp: str,
        sid: str,
        eio_sid: str,
        auth: Any,
        query: Mapping[str, str],
    ) -> None:
        self.server = server
        self.nsp = nsp
        self.sid = sid
        self.eio_sid = eio_sid
        self.handshake = Handshake(auth=auth, query=query)
        self.data: dict[str, Any] = {}
        self.connected = False
        # Emits made while the connect handler runs (the socket is pending): sent right after
        # the CONNECT reply, as Node does with its connection handler; dropped if refused.
        self._early: list[tuple[str, tuple[Any, ...]]] | None = []
        # Why the client left while the socket was pending (its connect handler running).
        self._gone: str | None = None

    def __repr__(self) -> str:
        return f"<Socket {self.sid} of {self.nsp}>"

    @property
    def rooms(self) -> frozenset[Room]:
        """The rooms of the socket (its id room included); empty once it is disconnected."""
        try:
            return frozenset(self.server.machine.engine.namespace(self.nsp).rooms_of(self.sid))
        except UnknownSocketError:
            return frozenset()

    def join(self, rooms: Iterable[Room] | Room) -> None:
        """Join one room or several. Raises once the socket has disconnected."""
        self.server._run_if_any(
            self.server.machine.engine.namespace(self.nsp).join(self.sid, rooms)
        )

    def leave(self, rooms: Iterable[Room] | Room) -> None:
        """Leave one room or several; a room not joined is a no-op."""
        self.server._run_if_any(
            self.server.machine.engine.namespace(self.nsp).leave(self.sid, rooms)
        )

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to this client. From the ``connect`` handler, the
        event goes out right after the client is told it is connected."""
        if self._early is not None:
            # Refuse a bad event now, where the mistake is, not when the socket is accepted.
            SioPacket(type=SioPacketType.EVENT, nsp=self.nsp, data=[event, *args])
            self._early.append((event, args))
            return
        self.server._emit(Selection(nsp=self.nsp), (self.sid,), event, args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float) -> tuple[Any, ...]:
        """Send and wait for the client's answer: the tuple of its arguments. Raises
        :class:`AckTimeoutError` after ``timeout`` seconds, or at once if the socket has
        disconnected (no answer can come)."""
        if self._early is not None:
            raise InvalidStateError(
                "the client is not connected yet: wait for an answer after the connect handler"
            )
        selection = Selection(nsp=self.nsp).timeout(timeout)
        responses = await self.server._emit_with_ack(
            selection, (self.sid,), event, args, whole_response=True
        )
        if not responses:  # the socket had disconnected: nobody was asked
            raise AckTimeoutError(())
        answer: tuple[Any, ...] = responses[0]
        return answer

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.server, Selection(nsp=self.nsp, sender=self.sid))

    def to(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        """Broadcast to these rooms, never to this socket."""
        return self._operator().to(rooms)

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._operator().to(rooms)

    def except_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self._operator().except_(rooms)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket."""
        return self._operator()

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket (``close``: the whole connection, every namespace)."""
        if not self.connected:
            return
        server = self.server
        server._run(
            server.machine.disconnect(self.nsp, self.sid, server.now(), close_connection=close)
        )


class ServerDriver(TransportDriver, ClusterDriving):
    """The loop-independent body of a binding's server (see the module docstring).

    ``max_buffer``: how many frames may wait for a slow WebSocket before it is disconnected;
    ``adapter``: a binding's cluster adapter (Redis), which makes this server one of a
    cluster; the other options go to :class:`ServerMachine`.
    """

    machine: sio.ServerMachine

    def __init__(
        self, *, max_buffer: int = 1024, adapter: ClusterAdapter | None = None, **options: Any
    ) -> None:
        super().__init__(max_buffer=max_buffer)
        self.machine = sio.ServerMachine(**options)
        self._init_cluster(adapter)
        self.handlers = Handlers()
        self._sockets: dict[tuple[str, str], Socket] = {}
        self._ack_waiters: dict[int, Waiter] = {}
        self._queries: dict[str, Mapping[str, str]] = {}  # Engine.IO session -> query string
        # Sockets whose connect handler has not answered yet, by Engine.IO session.
        self._connecting: dict[str, set[Socket]] = {}

    @abc.abstractmethod
    def _new_waiter(self) -> Waiter:
        """A fresh one-shot waiter."""

    # -- registration ---------------------------------------------------------------------------

    def on(self, event: str, namespace: str = "/") -> Callable[[F], F]:
        """Decorator: ``@server.on("chat")`` registers a handler (and the namespace)."""
        self._cluster_namespace(self.machine.add_namespace(namespace))
        return self.handlers.on(event, namespace)

    def event(self, handler: F) -> F:
        """Decorator: the function's name is the event, in namespace ``/``."""
        return self.on(handler.__name__)(handler)

    # -- the broadcast operator ------------------------------------------------------------------

    def of(self, namespace: str) -> BroadcastOperator:
        nsp = self.machine.add_namespace(normalize_namespace(namespace))
        if self.cluster is not None:
            self._cluster_namespace(nsp)
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

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        return await self.of("/").fetch_sockets()

    async def all_rooms(self) -> set[Room]:
        return await self.of("/").all_rooms()

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.of("/").server_side_emit(event, *args)

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.of("/").server_side_emit_with_ack(event, *args)

    def get_socket(self, sid: str, namespace: str = "/") -> Socket | None:
        """The socket ``sid`` of ``namespace``, if it is here."""
        return self._sockets.get((normalize_namespace(namespace), sid))

    # -- what the machine reports -----------------------------------------------------------------

    def _on_connect_request(self, output: sio.ConnectRequest) -> None:
        query = self._queries.get(output.eio_sid, {})
        socket = Socket(self, output.nsp, output.sid, output.eio_sid, output.auth, query)
        self._sockets[(output.nsp, output.sid)] = socket
        self._connecting.setdefault(output.eio_sid, set()).add(socket)
        self._spawn_for(socket, self._run_connect(socket))

    async def _run_connect(self, socket: Socket) -> None:
        try:
            await self._connect(socket)
        finally:
            connecting = self._connecting[socket.eio_sid]
            connecting.discard(socket)
            if not connecting:
                del self._connecting[socket.eio_sid]

    async def _connect(self, socket: Socket) -> None:
        key = (socket.nsp, socket.sid)
        if socket._gone is not None:  # the client left before its turn: nobody saw it
            self._sockets.pop(key, None)
            return
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
        if refusal is not None:
            self._sockets.pop(key, None)
            self._run(self.machine.refuse(socket.nsp, socket.sid, *refusal))
            return
        self._run(self.machine.accept(socket.nsp, socket.sid))
        early, socket._early = socket._early or [], None
        if not socket.connected:
            # The client left while the handler ran: the application saw it connect, so it
            # sees it disconnect too (it was never in a room).
            self._sockets.pop(key, None)
            await self._run_disconnect_handlers(socket, socket._gone or "transport close")
            return
        if early:
            # What the handler emitted goes out after the CONNECT reply, in writes of its
            # own, as Node's connection handler's do: a client may read the reply alone.
            # (Over long-polling the next packets wait for the next GET anyway.)
            writer = self.engineio.websocket_of(socket.eio_sid)
            if writer is not None:
                writer.hold(CONNECT_REPLY_GAP)
            for event, args in early:
                self._emit(Selection(nsp=socket.nsp), (socket.sid,), event, args)

    def _on_connected(self, output: Connected) -> None:
        # Only _run_connect accepts, and it keeps the socket's object until then.
        self._sockets[(output.nsp, output.sid)].connected = True

    def _on_event(self, output: sio.EventReceived) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is None:  # pragma: no cover - the machine only reports connected sockets
            return
        handler, catch_all = self.handlers.for_event(output.nsp, output.event)
        if handler is None:
            logger.info("no handler for event %r of %s", output.event, output.nsp)
            return
        args = (output.event, *output.args) if catch_all else output.args
        self._spawn_for(socket, self._run_event(socket, handler, output.event, args, output.ack_id))

    async def _run_event(
        self,
        socket: Socket,
        handler: Callable[..., Any],
        event: Any,
        args: tuple[Any, ...],
        ack_id: int | None,
    ) -> None:
        try:
            result = await _call(handler, socket, *args)
        except Exception:
            logger.exception("handler of event %r in %s failed", event, socket.nsp)
            return
        if ack_id is None:
            return
        if result is None:
            response: tuple[Any, ...] = ()
        elif isinstance(result, tuple):
            response = result
        else:
            response = (result,)
        try:
            outputs = self.machine.send_ack(socket.nsp, socket.sid, ack_id, *response)
        except (TypeError, ValueError) as error:
            # The client waits for an answer: it gets null, as JSON.stringify would give it
            # for what JSON cannot hold, and the application's mistake is logged.
            logger.error(
                "the acknowledgement of event %r in %s could not be encoded (%s): "
                "answered with null",
                event,
                socket.nsp,
                error,
            )
            outputs = self.machine.send_ack(socket.nsp, socket.sid, ack_id, None)
        self._run(outputs)

    def _on_disconnecting(self, output: SocketDisconnecting) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is None:  # pragma: no cover - every connected socket has its object
            return
        socket.connected = False
        self._spawn_for(socket, self._run_disconnect(socket, output.reason))

    async def _run_disconnect(self, socket: Socket, reason: str) -> None:
        await self._run_disconnect_handlers(socket, reason, finish=True)

    async def _run_disconnect_handlers(
        self, socket: Socket, reason: str, *, finish: bool = False
    ) -> None:
        """The *disconnecting* then *disconnect* handlers; with ``finish``, the socket
        leaves its rooms between the two (it had joined them)."""
        for event in ("disconnecting", "disconnect"):
            handler = self.handlers.get(socket.nsp, event)
            if handler is not None:
                try:
                    await _call(handler, socket, reason)
                except Exception:
                    logger.exception("%s handler of %s failed", event, socket.nsp)
            if event == "disconnecting" and finish:
                self._sockets.pop((socket.nsp, socket.sid), None)
                self._run(self.machine.finish_disconnect(socket.nsp, socket.sid))

    def _on_ack_completed(self, output: AckCompleted) -> None:
        cluster = self.cluster
        if cluster is not None and cluster.relays(output.ack_id):
            self._run(cluster.relay_ack(output))
            return
        # Every other broadcast with acks goes through _emit_with_ack, which registers its
        # waiter.
        self._ack_waiters.pop(output.ack_id).set(output)

    def _on_ack_received(self, output: AckReceived) -> None:
        # Only the cluster asks for each answer (another server's broadcast, relayed).
        assert self.cluster is not None
        self._run(self.cluster.relay_ack(output))

    def _on_room_created(self, output: RoomCreated) -> None:
        if self.cluster is not None:
            self._run(self.cluster.room_created(output))

    def _on_room_deleted(self, output: RoomDeleted) -> None:
        if self.cluster is not None:
            self._run(self.cluster.room_deleted(output))

    def _run_if_any(self, outputs: list[Any]) -> None:
        """Perform what a room change reported (room notices: only in a cluster that
        follows rooms)."""
        if outputs:
            self._run(outputs)

    def _next_deadline(self) -> float | None:
        when = self.machine.next_deadline()
        if self.cluster is None:
            return when
        other = self.cluster.next_deadline()
        if when is None or (other is not None and other < when):
            return other
        return when

    def _advance(self, now: float) -> list[Any]:
        outputs: list[Any] = self.machine.advance(now)
        if self.cluster is not None:
            outputs += self.cluster.advance(now)
        return outputs

    def _on_session_opened(self, output: eio.SessionOpened) -> None:
        self._queries[output.eio_sid] = output.query

    def _on_session_closed(self, output: eio.SessionClosed) -> None:
        self._queries.pop(output.eio_sid, None)
        for socket in self._connecting.get(output.eio_sid, ()):
            socket._gone = output.reason

    # -- emitting (used by the operator and sockets) ---------------------------------------------

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
        completed = await self._emit_with_ack_completed(
            selection, sids, event, args, whole_response=whole_response
        )
        if completed.timed_out:
            raise AckTimeoutError(completed.responses)
        return completed.responses

    async def _emit_with_ack_completed(
        self,
        selection: Selection,
        sids: Iterable[str] | None,
        event: str,
        args: Any,
        *,
        whole_response: bool,
    ) -> AckCompleted:
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
        waiter = self._new_waiter()
        self._ack_waiters[deliveries.ack_id] = waiter
        self._run(outputs)
        completed: AckCompleted = await waiter.wait()
        return completed

    def _begin_shutdown(self) -> None:
        """Every client is told "server shutting down"; the handlers are started."""
        self._run(self.machine.shutdown(self.now()))


def _ignore(server: ServerDriver, output: Any) -> None:
    """Outputs that need nothing from the binding (see the dispatch table)."""


ServerDriver._dispatch = {
    **TRANSPORT_DISPATCH,
    sio.ConnectRequest: ServerDriver._on_connect_request,
    sio.EventReceived: ServerDriver._on_event,
    Connected: ServerDriver._on_connected,
    SocketDisconnecting: ServerDriver._on_disconnecting,
    AckCompleted: ServerDriver._on_ack_completed,
    eio.SessionOpened: ServerDriver._on_session_opened,
    eio.SessionClosed: ServerDriver._on_session_closed,
    AckReceived: ServerDriver._on_ack_received,
    # The cluster's outputs.
    Publish: ServerDriver._on_publish,
    Subscribe: ServerDriver._on_subscribe,
    Unsubscribe: ServerDriver._on_subscribe,
    MessageDropped: ServerDriver._on_message_dropped,
    RequestCompleted: ServerDriver._on_request_completed,
    ServerSideEvent: ServerDriver._on_server_side_event,
    # Room notices are on only in a cluster that follows rooms (sharded, dynamic).
    RoomCreated: ServerDriver._on_room_created,
    RoomDeleted: ServerDriver._on_room_deleted,
    # Known, and nothing to do here: the recipients of an emit, room notices, the
    # disconnect's last word (handled by _run_disconnect).
    Deliveries: _ignore,
    SocketDisconnected: _ignore,
    RoomJoined: _ignore,
    RoomLeft: _ignore,
}
