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
import contextlib
import inspect
import logging
import re
from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, overload

import attrs

from . import _engineio_server as eio
from . import _server as sio
from ._admin import Instrumented
from ._app import (
    ConnectionRefusedError,
    Handlers,
    NamespaceKey,
    Selection,
    ServerNamespace,
    namespace_key,
    sender_selection,
)
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
    RedisCommand,
    RequestCompleted,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from ._compat import SidMethods
from ._errors import InvalidStateError, LocalProtocolError, SansioRoomsError, UnknownSocketError
from ._names import Room, normalize_namespace, normalize_rooms
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
from ._requests import HandshakeRequest
from ._socketio import RESERVED_EVENTS, SioPacket, SioPacketType
from ._transport_driver import TRANSPORT_DISPATCH, TransportDriver

__all__ = [
    "AckTimeoutError",
    "BroadcastOperator",
    "Handshake",
    "ParentOperator",
    "ServerDriver",
    "Socket",
]

logger = logging.getLogger("sansio_rooms.server")

#: What a client refused because the application failed (not because it said no) is told.
INTERNAL_ERROR = "Internal server error"

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


async def _awaited(socket: Socket, awaitable: Any) -> Any:
    """A handler's result that has to be awaited (a plain function returned a coroutine)."""
    return await awaitable


class Sent:
    """What ``emit`` returns: the packets are on their way already (``emit`` is synchronous,
    as Node's is), so a plain ``def`` handler can emit; ``await``-ing it is optional. In a
    cluster it lets the adapter's writer run first, so that the other servers get the
    message before this one goes on with its own clients."""

    __slots__ = ("_pause",)

    def __init__(self, pause: Callable[[], Any] | None = None) -> None:
        self._pause = pause

    def __await__(self) -> Generator[Any, None, None]:
        if self._pause is not None:
            yield from self._pause().__await__()


_SENT = Sent()


@attrs.frozen(kw_only=True)
class Handshake:
    """What the client sent to connect, as Node's ``socket.handshake``: the request that
    opened its connection (over long-polling or WebSocket alike) and the CONNECT ``auth``.

    ``headers`` (lower-case names), ``cookies`` (parsed), ``address`` (the client's IP;
    behind ``trusted_proxies``, the one their ``X-Forwarded-For`` names), ``client`` (the
    ASGI server's ``(host, port)``), ``url`` (path and query string), ``query``, ``issued``
    (milliseconds since the epoch, when the socket connected) and ``time`` (the same, ISO
    8601 UTC), ``secure`` (TLS, or ``https`` from a trusted proxy), ``xdomain`` (an
    ``Origin`` header was sent), ``auth`` (the CONNECT payload), ``scope`` (the ASGI scope
    of that request; ``None`` for ``attach()`` connections)."""

    auth: Any
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(factory=dict)
    cookies: Mapping[str, str] = attrs.field(factory=dict)
    address: str | None = None
    client: tuple[str, int] | None = None
    url: str = ""
    issued: int = 0
    time: str = ""
    secure: bool = False
    xdomain: bool = False
    scope: Mapping[str, Any] | None = attrs.field(default=None, repr=False)

    @classmethod
    def of(cls, request: HandshakeRequest, auth: Any, seconds: float) -> Handshake:
        """The handshake of a socket connecting at ``seconds`` since the epoch, over the
        connection ``request`` opened."""
        issued = int(seconds * 1000)
        return cls(
            auth=auth,
            query=request.query,
            headers=request.headers,
            cookies=request.cookies,
            address=request.address,
            client=request.client,
            url=request.url,
            issued=issued,
            time=datetime.fromtimestamp(issued / 1000, UTC).isoformat(timespec="milliseconds"),
            secure=request.secure,
            xdomain=request.xdomain,
            scope=request.scope,
        )


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

    def emit(self, event: str, *args: Any) -> Sent:
        """Send ``event`` with ``args`` to every selected socket, each once (on every server
        of a cluster, unless ``local``). Sent at once; ``await`` it or not (:class:`Sent`)."""
        server = self._server
        selection = self._selection
        if server.cluster is None or not server._cluster_selection(selection):
            server._emit(selection, None, event, args)
            return _SENT
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
        if not server.cluster.streams:  # there the machine delivers, once the XADD is answered
            server._emit(selection, None, event, args)
        # Awaited, it lets the adapter's writer go before this task goes on: handlers that
        # are ready to run all at once (a burst of events) would otherwise deliver to every
        # local client before the first publish is written, and the other servers' clients
        # would wait for them.
        return Sent(lambda: server._sleep(0))

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


class ParentOperator:
    """A dynamic namespace's operator (Node's ``ParentNamespace``): what it does, it does in
    each of the namespace's children there are now, with the same selection.
    ``server.of(teams).to("admins").emit("news")``, ``teams`` being the pattern (or the
    function) the handlers were registered with."""

    __slots__ = ("_parent", "_selection", "_server")

    def __init__(self, server: ServerDriver, parent: Any, selection: Selection) -> None:
        self._server = server
        self._parent = parent
        self._selection = selection

    def _with(self, selection: Selection) -> ParentOperator:
        return ParentOperator(self._server, self._parent, selection)

    def children(self) -> tuple[str, ...]:
        """The names of the children there are now."""
        return self._server.handlers.children_of(self._parent)

    def _operators(self) -> list[BroadcastOperator]:
        return [
            BroadcastOperator(self._server, attrs.evolve(self._selection, nsp=child))
            for child in self.children()
        ]

    def to(self, rooms: Iterable[Room] | Room) -> ParentOperator:
        return self._with(self._selection.to(rooms))

    def in_(self, rooms: Iterable[Room] | Room) -> ParentOperator:
        return self._with(self._selection.to(rooms))

    def except_(self, rooms: Iterable[Room] | Room) -> ParentOperator:
        return self._with(self._selection.except_(rooms))

    def compress(self, value: bool) -> ParentOperator:
        return self._with(self._selection.compress(value))

    @property
    def volatile(self) -> ParentOperator:
        return self._with(self._selection.volatile)

    @property
    def local(self) -> ParentOperator:
        return self._with(self._selection.local)

    async def emit(self, event: str, *args: Any) -> None:
        """Emit in every child (each selected socket of each child once)."""
        for operator in self._operators():
            await operator.emit(event, *args)

    async def sockets_join(self, rooms: Iterable[Room] | Room) -> None:
        for operator in self._operators():
            await operator.sockets_join(rooms)

    async def sockets_leave(self, rooms: Iterable[Room] | Room) -> None:
        for operator in self._operators():
            await operator.sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        for operator in self._operators():
            await operator.disconnect_sockets(close)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        found: list[Socket | RemoteSocket] = []
        for operator in self._operators():
            found += await operator.fetch_sockets()
        return found


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
        request: HandshakeRequest,
    ) -> None:
        self.server = server
        self.nsp = nsp
        self.sid = sid
        self.eio_sid = eio_sid
        self.handshake = Handshake.of(request, auth, server._wall_time())
        self.data: dict[str, Any] = {}
        self.connected = False
        #: True when the client took its previous session back (connection state recovery:
        #: the same id, its rooms and data, the events it missed delivered).
        self.recovered = False
        # Incoming-packet middleware (``use``), in order.
        self._packet_middleware: list[Callable[..., Any]] = []
        # Emits made while the connect handler runs (the socket is pending): sent right after
        # the CONNECT reply, as Node does with its connection handler; dropped if refused.
        self._early: list[tuple[str, tuple[Any, ...]]] | None = []
        # Why the client left while the socket was pending (its connect handler running).
        self._gone: str | None = None
        # Event handlers of this socket started as tasks and not finished: while there are
        # any, a plain ``def`` handler waits its turn in a task too (it runs in order).
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"<Socket {self.sid} of {self.nsp}>"

    @property
    def rooms(self) -> frozenset[Room]:
        """The rooms of the socket (its id room included); empty once it is disconnected."""
        try:
            return frozenset(self.server.machine.engine.namespace(self.nsp).rooms_of(self.sid))
        except UnknownSocketError:
            return frozenset()

    def use(self, middleware: Callable[..., Any]) -> None:
        """Add an incoming-packet middleware (Node's ``socket.use``): ``middleware(packet)``,
        sync or async, with ``packet`` the list ``[event, *args]`` of each event the client
        sends, before its handler, in the order added. It may change the list in place;
        raising drops the packet, and the error goes to the namespace's ``"error"`` handler
        ``(socket, error)`` (logged when there is none)."""
        if not callable(middleware):
            raise LocalProtocolError(f"a middleware must be callable, not {middleware!r}")
        self._packet_middleware.append(middleware)

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

    def emit(self, event: str, *args: Any) -> Sent:
        """Send ``event`` with ``args`` to this client: at once (``await`` it or not, see
        :class:`Sent`). From the ``connect`` handler, the event goes out right after the
        client is told it is connected."""
        if self._early is not None:
            # Refuse a bad event now, where the mistake is, not when the socket is accepted.
            SioPacket(type=SioPacketType.EVENT, nsp=self.nsp, data=[event, *args])
            self._early.append((event, args))
            return _SENT
        server = self.server
        cluster = server.cluster
        if cluster is not None and cluster.streams and server.machine.recovery is not None:
            # As Node does with recovery on: a broadcast to its id room, through the stream,
            # so that the client finds it on any server if it misses it.
            SioPacket(type=SioPacketType.EVENT, nsp=self.nsp, data=[event, *args])
            server._run(cluster.broadcast(self.nsp, event, *args, rooms=self.sid))
            return _SENT
        server._emit(Selection(nsp=self.nsp), (self.sid,), event, args)
        return _SENT

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
        # One selection, made at once (``_operator().to()`` would make two): the hot path
        # of a chat's handler, one room by name the commonest.
        names = (rooms,) if type(rooms) is str else normalize_rooms(rooms)
        return BroadcastOperator(self.server, sender_selection(self.nsp, self.sid, names))

    def in_(self, rooms: Iterable[Room] | Room) -> BroadcastOperator:
        return self.to(rooms)

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


class Observer(Protocol):
    """What watches a server (:meth:`ServerDriver._observe`): the Admin UI (``_admin.py``)."""

    #: Output type -> told of each output of that type, before it is performed.
    outputs: Mapping[type, Callable[[Any], None]]

    def sent(
        self, selection: Selection, sids: tuple[str, ...] | None, event: str, args: tuple[Any, ...]
    ) -> None:
        """The application emitted ``event`` to ``sids`` (``None``: the selection)."""

    def received(self, data: str | bytes) -> None:
        """A transport message arrived: a WebSocket message, a long-polling POST's body."""


class ServerDriver(TransportDriver, ClusterDriving, SidMethods, Instrumented):
    """The loop-independent body of a binding's server (see the module docstring).

    ``max_buffer``: how many frames may wait for a slow WebSocket before it is disconnected;
    ``adapter``: a binding's cluster adapter (Redis), which makes this server one of a
    cluster; the other options go to :class:`ServerMachine`.
    """

    machine: sio.ServerMachine

    def __init__(
        self,
        *,
        max_buffer: int = 1024,
        adapter: ClusterAdapter | None = None,
        allow_request: Any = None,
        cors_allowed_origins: Any = None,
        cors_credentials: bool = True,
        trusted_proxies: Iterable[str] | str = (),
        cleanup_empty_child_namespaces: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            max_buffer=max_buffer,
            allow_request=allow_request,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            trusted_proxies=trusted_proxies,
        )
        try:
            self.machine = sio.ServerMachine(**options)
        except TypeError as error:
            raise TypeError(_unknown_options(type(self).__name__, options, error)) from None
        #: Remove a dynamic namespace's child when its last socket has left (Node's option).
        self.cleanup_empty_child_namespaces = bool(cleanup_empty_child_namespaces)
        self._init_cluster(adapter)
        self.handlers = Handlers()
        # Handler -> whether it is a coroutine function: asked for every event, and
        # inspect.iscoroutinefunction costs more than the rest of a plain handler's dispatch.
        self._async_handlers: dict[Any, bool] = {}
        self._sockets: dict[tuple[str, str], Socket] = {}
        self._ack_waiters: dict[int, Waiter] = {}
        # Engine.IO session -> the request that opened it.
        self._requests: dict[str, HandshakeRequest] = {}
        # Sockets whose connect handler has not answered yet, by Engine.IO session.
        self._connecting: dict[str, set[Socket]] = {}

    @abc.abstractmethod
    def _new_waiter(self) -> Waiter:
        """A fresh one-shot waiter."""

    @abc.abstractmethod
    def _wall_time(self) -> float:
        """Seconds since the epoch (``socket.handshake.issued``)."""

    # -- registration ---------------------------------------------------------------------------

    @overload
    def on(
        self, event: str, handler: None = None, namespace: NamespaceKey = "/"
    ) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: NamespaceKey = "/") -> F: ...

    def on(
        self,
        event: str,
        handler: Callable[..., Any] | str | re.Pattern[str] | None = None,
        namespace: NamespaceKey = "/",
    ) -> Any:
        """Register ``handler`` for ``event`` of ``namespace`` (and the namespace): as a
        call, ``server.on("chat", chat)``, or as a decorator, ``@server.on("chat")``.
        Returns the handler (without it, the decorator). A name or pattern in second place
        is the namespace (``@server.on("chat", "/room")``, as before python-socketio's
        form was added); a dynamic namespace's function goes by keyword."""
        if isinstance(handler, str | re.Pattern):
            namespace = handler
            handler = None
        key = self._add_namespace(namespace)
        register = self.handlers.on(event, key)
        return register if handler is None else register(handler)

    @overload
    def event(self, handler: F, *, namespace: NamespaceKey = "/") -> F: ...

    @overload
    def event(self, handler: None = None, *, namespace: NamespaceKey = "/") -> Callable[[F], F]: ...

    def event(
        self, handler: Callable[..., Any] | None = None, *, namespace: NamespaceKey = "/"
    ) -> Any:
        """Decorator: the function's name is the event: ``@server.event``, or
        ``@server.event(namespace="/chat")``."""

        def register(function: F) -> F:
            return self.on(function.__name__, function, namespace)

        return register if handler is None else register(handler)

    def _add_namespace(self, namespace: NamespaceKey) -> Any:
        """Register a namespace (a name: now; a dynamic namespace: its children, as clients
        connect to them); its key in the handlers."""
        key = namespace_key(namespace)
        if isinstance(key, str):
            # Handlers by name win over a dynamic namespace's, even for a child it admitted.
            self.handlers.forget(key)
            self._cluster_namespace(self.machine.add_namespace(key))
        else:
            self.machine.dynamic_namespaces = True
        return key

    def use(self, middleware: Callable[..., Any], namespace: NamespaceKey = "/") -> None:
        """Add a namespace middleware (Node's ``io.use``): ``middleware(socket)``, sync or
        async, run for every socket connecting to ``namespace`` before its ``connect``
        handler, in the order added (``socket.handshake`` tells who it is). Raise
        :class:`ConnectionRefusedError` (or return ``False``) to refuse the client; it gets
        the error's message and data. Any other error refuses it with "Internal server
        error" (and is logged). ``namespace`` may be dynamic (see :meth:`on`)."""
        self.handlers.use(middleware, self._add_namespace(namespace))

    def register_namespace(self, namespace: ServerNamespace) -> None:
        """Register a class-based namespace (a :class:`ServerNamespace` subclass instance, whose
        ``on_<event>`` methods are its handlers)."""
        self.handlers.register(namespace)
        self._add_namespace(namespace.namespace)
        namespace.server = self

    # -- the broadcast operator ------------------------------------------------------------------

    @overload
    def of(self, namespace: str) -> BroadcastOperator: ...

    @overload
    def of(self, namespace: re.Pattern[str] | Callable[[str, Any], Any]) -> ParentOperator: ...

    def of(self, namespace: NamespaceKey) -> BroadcastOperator | ParentOperator:
        """The operator of a namespace; of a dynamic namespace (the same pattern or function
        its handlers were registered with), a :class:`ParentOperator` over its children."""
        if isinstance(namespace, re.Pattern) or callable(namespace):
            return ParentOperator(self, namespace_key(namespace), Selection())
        nsp = normalize_namespace(namespace)
        if nsp not in self.machine.namespaces():  # a child stays a child (removed once empty)
            self.machine.add_namespace(nsp)
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

    async def emit(
        self,
        event: str,
        *args: Any,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Emit to every socket of namespace ``/`` (use ``of()``/``to()`` to select), or
        with python-socketio's keywords, to whom they select in ``namespace`` (``"/"``):
        ``to`` (or ``room``) a sid, a room or a list of them (an empty list: nobody);
        ``skip_sid`` a sid or a list of sids left out; ``callback``, with one sid only,
        called with the arguments of the client's answer (within 60 s). To the sid of a
        client whose connect handler is running, the event follows the CONNECT reply. A sid
        not connected here is a room with nobody in it (in a cluster, another server's
        client gets the event); with a callback, nothing is sent and it is never called."""
        await self._emit_by_sid(
            event,
            args,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
        )

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
        request = self._requests[output.eio_sid]
        socket = Socket(self, output.nsp, output.sid, output.eio_sid, output.auth, request)
        if output.recovered:
            socket.recovered = True
            # What socket.data was (a dict, as this driver keeps it; a peer's may be anything).
            socket.data = output.data if isinstance(output.data, dict) else {}
        elif output.recovery_failure is not None:
            logger.info(
                "connection state recovery of a client in %s failed: %s (new socket %s)",
                output.nsp,
                output.recovery_failure,
                output.sid,
            )
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
            self._drop_child_if_empty(socket.nsp)
            return
        refusal = await self._admit(socket)
        if refusal is not None:
            self._sockets.pop(key, None)
            self._run(self.machine.refuse(socket.nsp, socket.sid, *refusal))
            self._drop_child_if_empty(socket.nsp)
            return
        self._run(self.machine.accept(socket.nsp, socket.sid))
        early, socket._early = socket._early or [], None
        if not socket.connected:
            # The client left while the handler ran: the application saw it connect, so it
            # sees it disconnect too (it was never in a room).
            self._sockets.pop(key, None)
            await self._run_disconnect_handlers(socket, socket._gone or "transport close")
            self._drop_child_if_empty(socket.nsp)
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

    async def _admit(self, socket: Socket) -> tuple[str, Any] | None:
        """Run the namespace's middleware, then its connect handler: ``None`` if the
        socket is accepted, else the CONNECT_ERROR's message and data."""
        nsp = socket.nsp
        handlers = self.handlers
        if nsp in self.machine.created_namespaces and handlers.parent_of(nsp) is None:
            parent = await self._parent_of(nsp, socket.handshake.auth)
            if parent is None:
                return ("Invalid namespace", None)
            handlers.adopt(nsp, parent)
            self._cluster_namespace(nsp)
        step = "a middleware"
        recovery = self.machine.recovery
        skip = socket.recovered and recovery is not None and recovery.options.skip_middlewares
        try:
            for middleware in () if skip else handlers.middleware(nsp):
                if await _call(middleware, socket) is False:
                    return ("Not authorized", None)
            handler = handlers.get(nsp, "connect")
            step = "the connect handler"
            if handler is not None and await _call(handler, socket, socket.handshake.auth) is False:
                return ("Not authorized", None)
        except ConnectionRefusedError as error:
            return (error.message, error.data)
        except Exception:
            logger.exception("%s of %s failed (socket %s): refused", step, nsp, socket.sid)
            return (INTERNAL_ERROR, None)
        return None

    async def _parent_of(self, nsp: str, auth: Any) -> Any:
        """The dynamic namespace that admits ``nsp`` (patterns must match the whole name;
        functions get ``(name, auth)``), in registration order; ``None`` if none does."""
        for parent in self.handlers.parents():
            if isinstance(parent, re.Pattern):
                if parent.fullmatch(nsp):
                    return parent
                continue
            try:
                if await _call(parent, nsp, auth):
                    return parent
            except Exception:
                logger.exception("the dynamic namespace %r failed for %s: refused", parent, nsp)
        return None

    def _drop_child_if_empty(self, nsp: str) -> None:
        """A namespace a client's CONNECT created goes away once empty if no dynamic
        namespace admitted it, or if one did and ``cleanup_empty_child_namespaces``."""
        machine = self.machine
        if nsp not in machine.created_namespaces:
            return
        adopted = self.handlers.parent_of(nsp) is not None
        if adopted and not self.cleanup_empty_child_namespaces:
            return
        if machine.engine.namespace(nsp).count_sockets():
            return
        machine.remove_namespace(nsp)
        self.handlers.forget(nsp)
        if adopted and self.cluster is not None:
            self._run(self.cluster.remove_namespace(nsp))

    def _on_connected(self, output: Connected) -> None:
        # Only _run_connect accepts, and it keeps the socket's object until then.
        self._sockets[(output.nsp, output.sid)].connected = True

    def _on_event(self, output: sio.EventReceived) -> None:
        socket = self._sockets.get((output.nsp, output.sid))
        if socket is None:  # pragma: no cover - the machine only reports connected sockets
            return
        if socket._packet_middleware:
            packet = [output.event, *output.args]
            self._spawn_in_order(socket, self._run_packet_middleware(socket, packet, output.ack_id))
            return
        self._dispatch_event(socket, output.event, output.args, output.ack_id)

    def _dispatch_event(
        self, socket: Socket, event: Any, args: tuple[Any, ...], ack_id: int | None
    ) -> None:
        handler, catch_all = self.handlers.for_event(socket.nsp, event)
        if handler is None:
            logger.info("no handler for event %r of %s", event, socket.nsp)
            return
        arguments = (event, *args) if catch_all else args
        try:
            is_async = self._async_handlers[handler]
        except (KeyError, TypeError):  # new, or unhashable
            is_async = self._learn_handler(handler)
        if is_async or socket._in_flight:
            self._spawn_in_order(socket, self._run_event(socket, handler, event, arguments, ack_id))
            return
        # A plain function runs here and now, as Node runs its listeners: no task.
        try:
            result = handler(socket, *arguments)
        except Exception:
            logger.exception(
                "handler of event %r in %s failed (socket %s)", event, socket.nsp, socket.sid
            )
            return
        # (None first: the common result, and inspect.isawaitable's cost is not small.)
        if result is not None and inspect.isawaitable(result):
            # A function that returned a coroutine after all.
            awaiting = self._run_event(socket, _awaited, event, (result,), ack_id)
            self._spawn_in_order(socket, awaiting)
            return
        if ack_id is not None:
            self._acknowledge(socket, event, result, ack_id)

    def _learn_handler(self, handler: Any) -> bool:
        """Whether ``handler`` is a coroutine function, remembered when it can be."""
        is_async = inspect.iscoroutinefunction(handler)
        with contextlib.suppress(TypeError):  # unhashable: asked each time
            self._async_handlers[handler] = is_async
        return is_async

    async def _run_packet_middleware(
        self, socket: Socket, packet: list[Any], ack_id: int | None
    ) -> None:
        for middleware in list(socket._packet_middleware):
            try:
                await _call(middleware, packet)
            except Exception as error:
                await self._packet_refused(socket, packet, error)
                return
        if not packet:
            logger.warning("a packet middleware of %s emptied the packet: dropped", socket.nsp)
            return
        # The handler runs in this task: the socket's next packets wait for it, in order.
        event, *args = packet
        handler, catch_all = self.handlers.for_event(socket.nsp, event)
        if handler is None:
            logger.info("no handler for event %r of %s", event, socket.nsp)
            return
        arguments = (event, *args) if catch_all else tuple(args)
        await self._run_event(socket, handler, event, arguments, ack_id)

    async def _packet_refused(self, socket: Socket, packet: list[Any], error: Exception) -> None:
        handler = self.handlers.get(socket.nsp, "error")
        if handler is None:
            logger.warning(
                "a packet middleware of socket %s in %s refused %r: %r (no 'error' handler)",
                socket.sid,
                socket.nsp,
                packet[0] if packet else None,
                error,
            )
            return
        try:
            await _call(handler, socket, error)
        except Exception:
            logger.exception("the error handler of %s failed (socket %s)", socket.nsp, socket.sid)

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
            logger.exception(
                "handler of event %r in %s failed (socket %s)", event, socket.nsp, socket.sid
            )
            return
        if ack_id is not None:
            self._acknowledge(socket, event, result, ack_id)

    def _spawn_in_order(self, socket: Socket, coroutine: Coroutine[Any, Any, None]) -> None:
        socket._in_flight += 1
        self._spawn_for(socket, self._in_order(socket, coroutine))

    async def _in_order(self, socket: Socket, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run an event's handling as a task, counted in ``socket._in_flight``."""
        try:
            await coroutine
        finally:
            socket._in_flight -= 1

    def _acknowledge(self, socket: Socket, event: Any, result: Any, ack_id: int) -> None:
        """Answer the client's event with what its handler returned."""
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
                    logger.exception(
                        "%s handler of %s failed (socket %s)", event, socket.nsp, socket.sid
                    )
            if event == "disconnecting" and finish:
                self._sockets.pop((socket.nsp, socket.sid), None)
                self._run(
                    self.machine.finish_disconnect(
                        socket.nsp, socket.sid, data=socket.data, now=self.now()
                    )
                )
        if finish:  # after the last handler: a child's handlers are its parent's
            self._drop_child_if_empty(socket.nsp)

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
        self._requests[output.eio_sid] = self._opened_by(output)

    def _on_session_closed(self, output: eio.SessionClosed) -> None:
        self._requests.pop(output.eio_sid, None)
        for socket in self._connecting.get(output.eio_sid, ()):
            socket._gone = output.reason

    # -- emitting (used by the operator and sockets) ---------------------------------------------

    def _emit(
        self, selection: Selection, sids: Iterable[str] | None, event: str, args: Any
    ) -> None:
        machine = self.machine
        if machine.recovery is None:  # nothing kept: the machine's broadcast, called plainly
            self._run(
                machine.broadcast_event(
                    selection.nsp,
                    [event, *args],
                    selection.rooms,
                    selection.except_rooms,
                    sids,
                    selection.sender,
                    selection.volatile_flag,
                    selection.compress_flag,
                )
            )
            return
        self._run(
            machine.emit(
                selection.nsp,
                event,
                *args,
                rooms=selection.rooms,
                except_=selection.except_rooms,
                sids=sids,
                sender=selection.sender,
                volatile=selection.volatile_flag,
                compress=selection.compress_flag,
                now=self.now(),  # a kept broadcast's time
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

    # -- observing (the Admin UI) ----------------------------------------------------------------

    def _observe(self, observer: Observer) -> None:
        """Tell ``observer`` what this server does: the outputs it asks for, the application's
        emits, the transport messages in. Only this server's dispatch table and these four
        methods are replaced, on the instance: a server nobody observes runs the class's code,
        and its hot paths pay nothing."""
        table = dict(self._dispatch)
        for kind, notify in observer.outputs.items():
            table[kind] = _observed(notify, table[kind])
        self._dispatch = table  # type: ignore[misc]
        emit, emit_with_ack = self._emit, self._emit_with_ack_completed
        message, receive = self._websocket_message, self._receive_request

        def observed_emit(selection: Selection, sids: Any, event: str, args: Any) -> None:
            sids = None if sids is None else tuple(sids)
            emit(selection, sids, event, args)
            observer.sent(selection, sids, event, tuple(args))

        async def observed_emit_with_ack(
            selection: Selection, sids: Any, event: str, args: Any, *, whole_response: bool
        ) -> AckCompleted:
            sids = None if sids is None else tuple(sids)
            waiting = emit_with_ack(selection, sids, event, args, whole_response=whole_response)
            observer.sent(selection, sids, event, tuple(args))
            return await waiting

        def observed_message(writer: Any, data: str | bytes) -> None:
            observer.received(data)
            message(writer, data)

        def observed_request(
            request: eio.HttpRequest, details: HandshakeRequest | None = None
        ) -> None:
            observer.received(request.body)
            receive(request, details)

        self._emit = observed_emit  # type: ignore[method-assign]
        self._emit_with_ack_completed = observed_emit_with_ack  # type: ignore[method-assign]
        self._websocket_message = observed_message  # type: ignore[method-assign]
        self._receive_request = observed_request  # type: ignore[method-assign]


def _observed(
    notify: Callable[[Any], None], perform: Callable[[Any, Any], None]
) -> Callable[[Any, Any], None]:
    def observed(server: Any, output: Any) -> None:
        notify(output)
        perform(server, output)

    return observed


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
    RedisCommand: ServerDriver._on_redis_command,
    sio.PersistSession: ServerDriver._on_persist_session,
    sio.RestoreSession: ServerDriver._on_restore_session,
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


def _unknown_options(owner: str, options: Mapping[str, Any], error: TypeError) -> str:
    """The error for an option nobody takes: named with the public class and the options it
    takes (not the machine's ``__init__``)."""
    accepted = sorted(
        {
            *_keywords(ServerDriver.__init__),
            *_keywords(sio.ServerMachine.__init__),
            *_keywords(eio.EngineIOServer.__init__),
        }
    )
    unknown = [name for name in options if name not in accepted]
    if not unknown:  # a known option with a bad value: the machine's own message says it
        return f"{owner}: {error}"
    return (
        f"{owner}() got unknown option(s) {', '.join(map(repr, unknown))}; "
        f"it takes: {', '.join(accepted)}"
    )


def _keywords(function: Callable[..., Any]) -> list[str]:
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
