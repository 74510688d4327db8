"""The Socket.IO server machine: Engine.IO sessions + Socket.IO packets + the rooms engine.

Everything a Socket.IO v5 server does, minus the I/O. The binding feeds it what happened on
the transports (:meth:`receive_request`, :meth:`websocket_connect`, :meth:`websocket_message`,
:meth:`websocket_closed`, :meth:`request_closed`, :meth:`advance`) and what the application
decided (:meth:`accept`, :meth:`refuse`, :meth:`emit`, :meth:`send_ack`, :meth:`disconnect`,
:meth:`finish_disconnect`, ...). Every call returns a list of outputs, in order:

* transport outputs for the binding to perform (:class:`HttpResponse`, :class:`WebSocketSend`,
  :class:`WebSocketAccept`, :class:`WebSocketReject`, :class:`WebSocketClose`);
* application outputs for it to dispatch (:class:`ConnectRequest`, :class:`EventReceived`,
  :class:`AckCompleted`, :class:`SocketDisconnecting`, :class:`SocketDisconnected`,
  :class:`Connected`, room notices, :class:`SessionOpened`, :class:`SessionClosed`);
* with connection state recovery kept outside the machine (:attr:`ServerMachine.external_recovery`,
  a Redis Streams cluster): :class:`RestoreSession` (a CONNECT held until
  :meth:`ServerMachine.complete_restore`) and :class:`PersistSession`.

Room membership is the engine's (``machine.engine``): the application joins and leaves through
``machine.engine.namespace(nsp)``. Bad input from a client never raises: it closes that
client's connection with a reason, and nothing else changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeAlias, final

import attrs

from ._acks import check_time
from ._engine import RoomEngine
from ._engineio_server import (
    EngineIOServer,
    Handle,
    HttpRequest,
    MessageReceived,
    SessionClosed,
    SessionOpened,
    SessionState,
    TransportOutput,
)
from ._errors import (
    InvalidStateError,
    LocalProtocolError,
    RemoteProtocolError,
    UnknownSocketError,
)
from ._names import Room, normalize_namespace, normalize_rooms
from ._outputs import AckCompleted, Deliveries, Output, SocketDisconnected
from ._recovery import (
    RECOVERABLE_DISCONNECT_REASONS,
    ConnectionStateRecovery,
    RecoveredState,
    RecoveryStore,
    RestoredSession,
)
from ._slots import new, slot_setters
from ._socketio import SioDecoder, SioPacket, SioPacketType, encode_event, encode_sio_packet
from ._state import SocketState

__all__ = [
    "ConnectRequest",
    "EventReceived",
    "PersistSession",
    "RestoreSession",
    "ServerMachine",
    "ServerOutput",
]

_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR = (
    SioPacketType.CONNECT,
    SioPacketType.DISCONNECT,
    SioPacketType.EVENT,
    SioPacketType.ACK,
    SioPacketType.CONNECT_ERROR,
)
# (Read through their class, enum members cost a Python-level lookup each time.)
_PENDING, _CONNECTED = SocketState.PENDING, SocketState.CONNECTED

_INFINITY: Final = float("inf")

#: Socket.IO's disconnect reasons used by this machine.
CLIENT_DISCONNECT: Final = "client namespace disconnect"
SERVER_DISCONNECT: Final = "server namespace disconnect"
FORCED_SERVER_CLOSE: Final = "forced server close"
SERVER_SHUTTING_DOWN: Final = "server shutting down"


@final
@attrs.frozen(kw_only=True)
class ConnectRequest:
    """A client asks to connect socket ``sid`` to namespace ``nsp`` with ``auth`` (the
    CONNECT payload, ``{}`` when absent). The socket is *pending*: answer with
    :meth:`ServerMachine.accept` or :meth:`ServerMachine.refuse`.

    With connection state recovery on: ``recovered`` is true when the client took its
    session back (``sid`` is its old id, it is in its old rooms again, the events it missed
    have been sent, and ``data`` is what the socket's data was); ``recovery_failure`` says
    why a client that asked for its session did not get it (a new one was opened)."""

    nsp: str
    sid: str
    eio_sid: str
    auth: Any
    recovered: bool = False
    data: Any = None
    recovery_failure: str | None = None


@final
@attrs.frozen(kw_only=True)
class EventReceived:
    """Socket ``sid`` emitted ``event`` with ``args``. When ``ack_id`` is not ``None`` the
    client waits for an answer: :meth:`ServerMachine.send_ack`."""

    nsp: str
    sid: str
    event: str | int | float
    args: tuple[Any, ...]
    ack_id: int | None


@final
@attrs.frozen(kw_only=True)
class RestoreSession:
    """Connection state recovery with an external store (:attr:`ServerMachine.external_recovery`):
    a client's CONNECT to ``nsp`` asks for its session back with ``pid`` and ``offset`` (both
    strings, as Node requires). The CONNECT is held, nothing is sent: look the session up and
    answer with :meth:`ServerMachine.complete_restore` and ``ref``, a
    :class:`RecoveredState` or why not. Until then the client's other packets to ``nsp``
    close its connection (as a packet before CONNECT does), and so does a second CONNECT."""

    ref: int
    nsp: str
    eio_sid: str
    pid: str
    offset: str


@final
@attrs.frozen(kw_only=True)
class PersistSession:
    """Connection state recovery with an external store: socket ``sid`` of ``nsp`` went away
    for a reason its client may come back from. Keep ``{sid, pid, rooms, data}`` under
    ``pid`` for ``max_disconnection_duration`` (a Redis ``SET ... PX``)."""

    nsp: str
    sid: str
    pid: str
    rooms: tuple[Room, ...]
    data: Any


ServerOutput: TypeAlias = (
    Output
    | TransportOutput
    | ConnectRequest
    | EventReceived
    | SessionOpened
    | SessionClosed
    | RestoreSession
    | PersistSession
)

# One EventReceived per event a client sends: made through the slot descriptors, without
# attrs' keyword __init__, for a third of the cost.
_set_event_nsp, _set_event_sid, _set_event_event, _set_event_args, _set_event_ack_id = slot_setters(
    EventReceived
)


def _event_received(
    nsp: str, sid: str, event: Any, args: tuple[Any, ...], ack_id: int | None
) -> EventReceived:
    output: EventReceived = new(EventReceived)
    _set_event_nsp(output, nsp)
    _set_event_sid(output, sid)
    _set_event_event(output, event)
    _set_event_args(output, args)
    _set_event_ack_id(output, ack_id)
    return output


class _Back(NamedTuple):
    """A session taken back, from either store: what its socket is given again."""

    sid: str
    pid: str
    rooms: Sequence[Room]
    data: Any
    missed: Sequence[Sequence[str | bytes]]  # the frames of each packet it missed


class _Client:
    """The Socket.IO side of one Engine.IO session."""

    __slots__ = (
        "closed_for",
        "connect_deadline",
        "decoder",
        "eio_sid",
        "open",
        "restoring",
        "sockets",
    )

    def __init__(self, eio_sid: str, max_attachments: int) -> None:
        self.eio_sid = eio_sid
        self.decoder = SioDecoder(max_attachments=max_attachments)
        self.sockets: dict[str, str] = {}  # namespace -> socket id
        self.connect_deadline: float | None = None
        self.open = True
        # (reason, description) of a violation found after the session had already ended
        # later in the same long-polling batch: its SessionClosed carries them instead.
        self.closed_for: tuple[str, str] | None = None
        # Namespaces whose CONNECT waits for an external restore: namespace -> its ref.
        self.restoring: dict[str, int] = {}


class ServerMachine:
    """A Socket.IO v5 server without I/O. Namespaces must be registered (``"/"`` is).

    Options: ``connect_timeout`` (seconds a client has to connect a namespace, 45),
    ``max_attachments`` per binary packet (10), ``connection_state_recovery`` (a
    :class:`ConnectionStateRecovery`; off by default, as in Node), and the Engine.IO options of
    :class:`EngineIOServer` (``ping_interval``, ``ping_timeout``, ``max_payload``,
    ``upgrade_timeout``, ``max_buffered_packets``, ``transports``, ...).
    """

    def __init__(
        self,
        *,
        engine: RoomEngine | None = None,
        namespaces: Iterable[str] = ("/",),
        connect_timeout: float = 45.0,
        max_attachments: int = 10,
        connection_state_recovery: ConnectionStateRecovery | None = None,
        **engineio_options: Any,
    ) -> None:
        self.engine = RoomEngine() if engine is None else engine
        self.eio = EngineIOServer(**engineio_options)
        self.connect_timeout = check_time("connect_timeout", connect_timeout)
        SioDecoder(max_attachments=max_attachments)  # validates it now, not at first client
        self.max_attachments = max_attachments
        self._clients: dict[str, _Client] = {}
        self._routes: dict[str, dict[str, _Client]] = {}  # namespace -> socket id -> client
        self._connect_timers: list[tuple[float, str]] = []
        self._whole_responses: set[int] = set()  # acks answered with all their arguments
        if connection_state_recovery is not None and not isinstance(
            connection_state_recovery, ConnectionStateRecovery
        ):
            raise LocalProtocolError(
                "connection_state_recovery must be a ConnectionStateRecovery or None, not "
                f"{connection_state_recovery!r}"
            )
        #: Connection state recovery's store, ``None`` when it is off.
        self.recovery = (
            None if connection_state_recovery is None else RecoveryStore(connection_state_recovery)
        )
        self._pids: dict[str, dict[str, str]] = {}  # namespace -> socket id -> private id
        #: Connection state recovery keeps its sessions and packets outside the machine (a
        #: Redis Streams cluster sets it): a CONNECT that asks for its session is held
        #: (:class:`RestoreSession`) until :meth:`complete_restore`, a recoverable disconnect
        #: gives :class:`PersistSession`, and broadcasts are neither kept nor numbered here
        #: (their offset comes with :meth:`emit`'s ``offset``).
        self.external_recovery = False
        self._restores: dict[int, tuple[_Client, str, Any]] = {}  # ref -> held CONNECT
        self._last_restore = 0
        self._sweep_at: float | None = None  # when the recovery store is next swept
        self._now = 0.0  # the latest time passed in (a broadcast's time, when not given)
        #: When true, a CONNECT to an unknown namespace creates it (listed in
        #: :attr:`created_namespaces`) and the application decides whether to admit the
        #: socket (dynamic namespaces); otherwise the client gets "Invalid namespace".
        self.dynamic_namespaces = False
        #: Namespaces created by a client's CONNECT (``dynamic_namespaces``), not by
        #: :meth:`add_namespace`.
        self.created_namespaces: set[str] = set()
        for name in namespaces:
            self.add_namespace(name)

    def add_namespace(self, name: str) -> str:
        """Accept connections to ``name`` from now on; returns the normalised name."""
        name = normalize_namespace(name)
        self._routes.setdefault(name, {})
        self._pids.setdefault(name, {})
        self.engine.namespace(name)
        self.created_namespaces.discard(name)
        return name

    def remove_namespace(self, name: str) -> None:
        """Stop accepting connections to ``name`` (a CONNECT gets "Invalid namespace", unless
        ``dynamic_namespaces`` creates it again). Raises :class:`InvalidStateError` while it
        has sockets in any state."""
        name = normalize_namespace(name)
        if self._routes.get(name):
            raise InvalidStateError(f"namespace {name!r} still has sockets")
        self.engine.remove_namespace(name)
        self._routes.pop(name, None)
        self._pids.pop(name, None)
        self.created_namespaces.discard(name)

    def namespaces(self) -> tuple[str, ...]:
        return tuple(self._routes)

    # -- transport inputs ------------------------------------------------------------------

    def receive_request(self, request: HttpRequest, now: float) -> list[ServerOutput]:
        """An HTTP request for the Engine.IO path arrived (long-polling)."""
        return self._up(self.eio.receive_request(request, now), now)

    def request_closed(self, handle: Handle, now: float) -> list[ServerOutput]:
        """A parked long-polling GET was closed by the client."""
        return self._up(self.eio.request_closed(handle, now), now)

    def websocket_connect(
        self, handle: Handle, query: Mapping[str, str], now: float
    ) -> list[ServerOutput]:
        """A WebSocket upgrade request arrived (its query string parsed into ``query``)."""
        return self._up(self.eio.websocket_connect(handle, query, now), now)

    def websocket_message(
        self, handle: Handle, data: str | bytes, now: float
    ) -> list[ServerOutput]:
        return self._up(self.eio.websocket_message(handle, data, now), now)

    def websocket_closed(self, handle: Handle, now: float) -> list[ServerOutput]:
        return self._up(self.eio.websocket_closed(handle, now), now)

    def websocket_failed(self, handle: Handle, now: float, description: str) -> list[ServerOutput]:
        """The binding gave up on the WebSocket (a full write buffer, a failed write)."""
        return self._up(self.eio.websocket_failed(handle, now, description), now)

    def begin_batch(self) -> None:
        """Inputs come in a batch: the parked long-polling GETs are answered at
        :meth:`end_batch`, once each, with everything sent to them meanwhile
        (:meth:`EngineIOServer.begin_batch`)."""
        self.eio.begin_batch()

    def end_batch(self) -> list[ServerOutput]:
        """End the batch: the answers of the parked GETs that have packets to take."""
        outputs: list[Any] = self.eio.end_batch()  # (transport outputs: no copy to widen)
        return outputs

    def next_deadline(self) -> float | None:
        """When :meth:`advance` must next be called, or ``None``."""
        timers = self._connect_timers
        while timers and self._stale_connect_timer(*timers[0]):
            heapq.heappop(timers)
        # Asked after every input a binding performs: no list, no min().
        best = self.eio.next_deadline()
        acks = self.engine.next_deadline()
        if acks is not None and (best is None or acks < best):
            best = acks
        if timers and (best is None or timers[0][0] < best):
            best = timers[0][0]
        sweep = self._sweep_at
        if sweep is not None and (best is None or sweep < best):
            best = sweep
        return best

    def _stale_connect_timer(self, when: float, eio_sid: str) -> bool:
        client = self._clients.get(eio_sid)
        return client is None or client.connect_deadline != when

    def advance(self, now: float) -> list[ServerOutput]:
        """Time is ``now``: pings, ping timeouts, connect timeouts, acknowledgement timeouts."""
        outputs = self._up(self.eio.advance(now), now)
        timers = self._connect_timers
        while timers and timers[0][0] <= now:
            when, eio_sid = heapq.heappop(timers)
            if not self._stale_connect_timer(when, eio_sid):
                outputs += self._close_client(
                    self._clients[eio_sid], FORCED_SERVER_CLOSE, "no namespace connected", now
                )
        outputs += self._acks_done(self.engine.advance(now))
        if self._sweep_at is not None and self._sweep_at <= now:
            self._sweep(now)
        return outputs

    def _sweep(self, now: float) -> None:
        """Forget the recovery store's expired packets and sessions; sweep again later while
        it holds any."""
        recovery = self.recovery
        assert recovery is not None
        recovery.expire(now)
        self._sweep_at = now + recovery.sweep_interval if recovery.holds_anything() else None

    def _swept_later(self, now: float) -> None:
        """Something went into the recovery store: make sure a sweep is due."""
        if self._sweep_at is None:
            assert self.recovery is not None
            self._sweep_at = now + self.recovery.sweep_interval

    def _up(self, outputs: list[Any], now: float) -> list[ServerOutput]:
        """Pass transport outputs through, act on the session events."""
        self._now = now
        result: list[ServerOutput] = []
        for output in outputs:
            kind = type(output)
            if kind is MessageReceived:
                client = self._clients.get(output.eio_sid)
                if client is not None and client.open:
                    result += self._on_message(client, output.data, now)
                continue
            if kind is SessionOpened:
                client = self._clients[output.eio_sid] = _Client(
                    output.eio_sid, self.max_attachments
                )
                client.connect_deadline = now + self.connect_timeout
                heapq.heappush(self._connect_timers, (client.connect_deadline, output.eio_sid))
            elif kind is SessionClosed:
                client = self._clients.get(output.eio_sid)
                if client is not None and client.closed_for is not None:
                    reason, description = client.closed_for
                    output = SessionClosed(
                        eio_sid=output.eio_sid, reason=reason, description=description
                    )
                result += self._on_session_closed(output.eio_sid, output.reason)
            result.append(output)
        return result

    # -- packets from a client -------------------------------------------------------------

    def _on_message(self, client: _Client, data: str | bytes, now: float) -> list[ServerOutput]:
        try:
            packet = client.decoder.feed(data)
        except RemoteProtocolError as error:
            return self._close_client(client, "parse error", str(error), now)
        if packet is None:
            return []
        nsp, kind = packet.nsp, packet.type
        sid = client.sockets.get(nsp)
        if kind is _CONNECT:
            if sid is not None or nsp in client.restoring:
                return self._close_client(
                    client, FORCED_SERVER_CLOSE, f"second CONNECT for {nsp}", now
                )
            return self._on_connect(client, nsp, packet.data)
        if sid is None or kind is _CONNECT_ERROR:
            return self._close_client(client, FORCED_SERVER_CLOSE, f"{kind.name} for {nsp}", now)
        namespace = self.engine.namespace(nsp)
        if namespace.state_of(sid) is _PENDING:
            return self._close_client(
                client, FORCED_SERVER_CLOSE, f"{kind.name} before CONNECT was answered", now
            )
        if kind is _EVENT:
            data = packet.data
            return [_event_received(nsp, sid, data[0], tuple(data[1:]), packet.id)]
        if kind is _ACK:
            assert packet.id is not None
            args = packet.data
            if packet.id in self._whole_responses:
                response: Any = tuple(args)
            else:
                response = args[0] if args else None
            return self._acks_done(namespace.ack(sid, packet.id, response))
        # DISCONNECT: the client leaves this namespace.
        return self._begin_disconnect(client, nsp, sid, CLIENT_DISCONNECT)

    def _on_connect(self, client: _Client, nsp: str, auth: Any) -> list[ServerOutput]:
        if nsp not in self._routes:
            if not self.dynamic_namespaces:
                error = SioPacket(
                    type=_CONNECT_ERROR, nsp=nsp, data={"message": "Invalid namespace"}
                )
                return self._send(client, error)
            self.add_namespace(nsp)
            self.created_namespaces.add(nsp)
        if self.recovery is None:
            return self._connect_pending(client, nsp, auth, None)
        return self._on_connect_recovering(client, nsp, auth)

    def _on_connect_recovering(self, client: _Client, nsp: str, auth: Any) -> list[ServerOutput]:
        """A CONNECT with recovery on: the session its auth names comes back if it can (its
        id, rooms and data, and the packets it missed, sent before the CONNECT reply);
        otherwise the socket is new, with a new private id."""
        assert self.recovery is not None
        if self.external_recovery:
            return self._on_connect_restoring(client, nsp, auth)
        restored = self.recovery.restore(nsp, auth, self._now)
        if not isinstance(restored, RestoredSession):
            return self._connect_pending(client, nsp, auth, restored)
        session = restored.session
        back = _Back(session.sid, session.pid, session.rooms, session.data, restored.missed)
        return self._connect_pending(client, nsp, auth, back)

    def _on_connect_restoring(self, client: _Client, nsp: str, auth: Any) -> list[ServerOutput]:
        """A CONNECT with recovery on and an external store: held while the host restores
        the session it names, if it names one."""
        pid = offset = None
        if isinstance(auth, dict):
            pid, offset = auth.get("pid"), auth.get("offset")
        if type(pid) is not str or type(offset) is not str:
            return self._connect_recovered(client, nsp, auth, None)
        self._last_restore += 1
        ref = self._last_restore
        self._restores[ref] = (client, nsp, auth)
        client.restoring[nsp] = ref
        return [RestoreSession(ref=ref, nsp=nsp, eio_sid=client.eio_sid, pid=pid, offset=offset)]

    def complete_restore(
        self, ref: int, result: RecoveredState | str, now: float
    ) -> list[ServerOutput]:
        """The answer to :class:`RestoreSession` ``ref``: the session taken back (a
        :class:`RecoveredState`: the socket gets its id, rooms and data again, and its client
        the missed events, before the CONNECT reply), or why not (a new session is opened,
        ``recovery_failure`` says why). Then :class:`ConnectRequest` comes, as for any CONNECT.
        Nothing happens when the client has gone meanwhile; a ``ref`` never given raises
        :class:`LocalProtocolError`."""
        if type(ref) is not int or not 0 < ref <= self._last_restore:
            raise LocalProtocolError(f"no session restore {ref!r} was asked for")
        self._now = check_time("now", now)
        held = self._restores.pop(ref, None)
        if held is None:
            return []  # the client left meanwhile (or this restore was completed already)
        client, nsp, auth = held
        del client.restoring[nsp]
        if not client.open or nsp not in self._routes:
            return []
        if isinstance(result, RecoveredState):
            namespace = self.engine.namespace(nsp)
            sid = result.sid
            if type(sid) is not str or not sid:
                result = f"the stored session has no valid id ({sid!r:.40})"
            elif namespace.has_socket(sid) or namespace.count_members(sid):
                result = f"the session's id {sid} is in use here"
        elif type(result) is not str:
            raise LocalProtocolError(
                f"a restore's result is a RecoveredState or a reason, not {result!r:.80}"
            )
        return self._connect_recovered(client, nsp, auth, result)

    def _connect_recovered(
        self, client: _Client, nsp: str, auth: Any, restored: RecoveredState | str | None
    ) -> list[ServerOutput]:
        """Connect a socket that an external store restored (or not)."""
        if not isinstance(restored, RecoveredState):
            return self._connect_pending(client, nsp, auth, restored)
        frames: list[Sequence[str | bytes]] = []
        for data in restored.missed:
            try:
                frames.append(encode_sio_packet(SioPacket(type=_EVENT, nsp=nsp, data=list(data))))
            except (LocalProtocolError, TypeError, ValueError):
                continue  # not an event this server can send: its client never sees it
        back = _Back(restored.sid, restored.pid, restored.rooms, restored.data, frames)
        return self._connect_pending(client, nsp, auth, back)

    def _connect_pending(
        self, client: _Client, nsp: str, auth: Any, back: _Back | str | None
    ) -> list[ServerOutput]:
        """The socket a CONNECT makes, pending until the application answers: the session
        ``back`` (its id, rooms and data; the frames it missed go out first), or a new one,
        with a private id when recovery is on (``back``: why recovery failed, if it did)."""
        namespace = self.engine.namespace(nsp)
        outputs: list[ServerOutput] = []
        pid: str | None
        if isinstance(back, _Back):
            sid, pid = back.sid, back.pid
            namespace.connect(sid, pending=True, route=client)
            # Its rooms again (its id room among them), except a room that has become
            # another socket's id room meanwhile.
            namespace.join(
                sid, [room for room in back.rooms if room == sid or not namespace.has_socket(room)]
            )
            for messages in back.missed:
                outputs += self.eio.send(client.eio_sid, messages)
        else:
            sid = self.engine.id_factory()
            pid = None if self.recovery is None else self.engine.id_factory()
            namespace.connect(sid, pending=True, route=client)
        client.sockets[nsp] = sid
        self._routes[nsp][sid] = client
        if pid is not None:
            self._pids[nsp][sid] = pid
        outputs.append(
            ConnectRequest(
                nsp=nsp,
                sid=sid,
                eio_sid=client.eio_sid,
                auth={} if auth is None else auth,
                recovered=isinstance(back, _Back),
                data=back.data if isinstance(back, _Back) else None,
                recovery_failure=back if isinstance(back, str) else None,
            )
        )
        return outputs

    def _on_session_closed(self, eio_sid: str, reason: str) -> list[ServerOutput]:
        client = self._clients.pop(eio_sid, None)
        if client is None:  # pragma: no cover - every session the machine saw has a client
            return []
        client.open = False
        client.connect_deadline = None
        for ref in client.restoring.values():
            del self._restores[ref]
        client.restoring.clear()
        outputs: list[ServerOutput] = []
        for nsp, sid in list(client.sockets.items()):
            namespace = self.engine.namespace(nsp)
            state = namespace.state_of(sid)
            if state is _PENDING:
                outputs += namespace.refuse(sid)
                self._forget_socket(nsp, sid)
            else:
                outputs += self._begin_disconnect(client, nsp, sid, reason)
        return outputs

    def _begin_disconnect(
        self, client: _Client, nsp: str, sid: str, reason: str, close_connection: bool = False
    ) -> list[ServerOutput]:
        # The client is done with this namespace at once (it may CONNECT again right away,
        # as with Node); the route stays until finish_disconnect.
        del client.sockets[nsp]
        return list(
            self.engine.namespace(nsp).begin_disconnect(
                sid, reason, close_connection=close_connection
            )
        )

    def _close_client(
        self, client: _Client, reason: str, description: str, now: float
    ) -> list[ServerOutput]:
        eio_sid = client.eio_sid
        if eio_sid not in self.eio or self.eio.state_of(eio_sid) is SessionState.DRAINING:
            # A packet later in the same long-polling batch ended the session, and its
            # SessionClosed is still to come. This violation came first: its reason is the
            # one reported, and the rest of the batch is not read, as if each packet had come
            # in a request of its own.
            client.closed_for = (reason, description)
            client.open = False
            return []
        return self._up(self.eio.close(eio_sid, now, reason, description), now)

    def _forget_socket(self, nsp: str, sid: str) -> None:
        self._pids[nsp].pop(sid, None)
        client = self._routes[nsp].pop(sid)
        if client.sockets.get(nsp) == sid:  # a pending socket refused
            del client.sockets[nsp]

    # -- the application's answers ---------------------------------------------------------

    def accept(self, nsp: str, sid: str) -> list[ServerOutput]:
        """Accept a pending socket: it joins its id room and the client gets CONNECT.
        If the client has gone meanwhile, nothing happens."""
        client = self._route(nsp, sid)
        if client is None:
            return []
        outputs: list[ServerOutput] = list(self.engine.namespace(nsp).accept(sid))
        client.connect_deadline = None
        reply = {"sid": sid}
        pid = self._pids[nsp].get(sid)
        if pid is not None:
            reply["pid"] = pid
        sent = self._send(client, SioPacket(type=_CONNECT, nsp=nsp, data=reply))
        return sent + outputs

    def refuse(
        self, nsp: str, sid: str, message: str = "Not authorized", data: Any = None
    ) -> list[ServerOutput]:
        """Refuse a pending socket: the client gets CONNECT_ERROR with ``message`` (and
        ``data`` when given). If the client has gone meanwhile, nothing happens."""
        client = self._route(nsp, sid)
        if client is None:
            return []
        outputs: list[ServerOutput] = list(self.engine.namespace(nsp).refuse(sid))
        self._forget_socket(nsp, sid)
        body: dict[str, Any] = {"message": message}
        if data is not None:
            body["data"] = data
        return self._send(client, SioPacket(type=_CONNECT_ERROR, nsp=nsp, data=body)) + outputs

    def _route(self, nsp: str, sid: str) -> _Client | None:
        routes = self._routes.get(nsp)
        if routes is None:
            raise LocalProtocolError(f"namespace {nsp!r} is not registered")
        client = routes.get(sid)
        return client if client is not None and client.open else None

    def emit(
        self,
        nsp: str,
        event: str,
        *args: Any,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
        now: float | None = None,
        offset: str | None = None,
    ) -> list[ServerOutput]:
        """Broadcast ``event`` with ``args`` to a selection of the namespace (the engine's
        selection rules). The packet is encoded once, the frames built once.

        With connection state recovery on, a broadcast that is not volatile is kept for
        clients that come back, and its offset appended to its arguments, as Node does:
        ``now`` is its time (the latest time passed in when not given). With an external
        store (:attr:`external_recovery`) nothing is kept here. ``offset``: the broadcast's
        offset, given by whoever keeps it (a stream entry id), appended to its arguments as
        it is; the broadcast is not kept here then."""
        if self.recovery is None or volatile or offset is not None or self.external_recovery:
            data = [event, *args] if offset is None else [event, *args, offset]
            return self.broadcast_event(nsp, data, rooms, except_, sids, sender, volatile, compress)
        namespace = self._namespace(nsp)
        log = self.recovery.log(nsp)
        offset = log.next_offset()
        messages = encode_event(nsp, [event, *args, offset])
        # As Node's adapter keeps them: the target rooms (a socket id is a room), and the
        # except rooms, the sender's id room among them. Read once (they may be iterators).
        if rooms is None:
            targets: tuple[Room, ...] = ()
        else:
            rooms = targets = (rooms,) if type(rooms) is str else normalize_rooms(rooms)
        if sids is not None:
            sids = (sids,) if isinstance(sids, str) else tuple(sids)
            targets += sids
        if except_ == ():
            excluded: tuple[Room, ...] = ()
        else:
            except_ = excluded = (except_,) if type(except_) is str else normalize_rooms(except_)
        deliveries = namespace.emit(None, rooms=rooms, except_=except_, sids=sids, sender=sender)
        if sender is not None:
            excluded += (sender,)
        if now is None:
            when = self._now
        elif type(now) is float and 0.0 <= now < _INFINITY:
            when = now
        else:
            when = check_time("now", now)
        if targets or (rooms is None and sids is None):
            # (An empty list of targets reaches nobody here, where Node's reaches everyone:
            # nobody's is not kept, as no room set could stand for it.)
            log.keep(targets, excluded, messages, when)
            if self._sweep_at is None:
                self._swept_later(when)
        return self._transmit(deliveries.routes, messages, volatile, compress)

    def broadcast_event(
        self,
        nsp: str,
        data: list[Any],
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
    ) -> list[ServerOutput]:
        """:meth:`emit` of the EVENT payload ``data`` (``[event, *args]``), never kept for
        connection state recovery, its parameters positional: a server's broadcast path, once
        per event a handler forwards."""
        messages = encode_event(nsp, data)
        routes = self._namespace(nsp).select_routes(rooms, except_, sids, sender)
        return self._transmit(routes, messages, volatile, compress)

    def emit_with_ack(
        self,
        nsp: str,
        event: str,
        *args: Any,
        now: float,
        timeout: float,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
        whole_response: bool = False,
        each_response: bool = False,
        volatile: bool = False,
        compress: bool = True,
    ) -> list[ServerOutput]:
        """Broadcast expecting one answer per recipient; completes with
        :class:`AckCompleted`. Each response is the first ack argument, as in Socket.IO's
        broadcast acks, or the tuple of all of them with ``whole_response`` (what
        ``socket.emit(event, callback)`` gives for a single socket). With ``each_response``
        every answer is also reported as it arrives (:class:`AckReceived`)."""
        SioPacket(type=_EVENT, nsp=nsp, data=[event, *args])  # refuse bad input before acting
        namespace = self._namespace(nsp)
        outputs: list[Output] = namespace.emit_with_ack(
            None,
            now=now,
            timeout=timeout,
            rooms=rooms,
            except_=except_,
            sids=sids,
            sender=sender,
            each_response=each_response,
        )
        deliveries = outputs[0]
        assert isinstance(deliveries, Deliveries) and deliveries.ack_id is not None
        if whole_response and len(outputs) == 1:
            self._whole_responses.add(deliveries.ack_id)
        packet = SioPacket(type=_EVENT, nsp=nsp, data=[event, *args], id=deliveries.ack_id)
        try:
            messages = encode_sio_packet(packet)
        except (TypeError, ValueError):
            # Nothing was sent: nobody is waited for (the ack id was never seen).
            self.engine.acks.forget(deliveries.ack_id)
            self._whole_responses.discard(deliveries.ack_id)
            raise
        result = self._transmit(deliveries.routes, messages, volatile, compress)
        # The Deliveries first: it tells the host the ack id (and the recipients) before an
        # AckCompleted can appear, which it does at once when nobody was selected.
        return [deliveries, *result, *self._acks_done(outputs[1:])]

    def send_ack(self, nsp: str, sid: str, ack_id: int, *args: Any) -> list[ServerOutput]:
        """Answer the client's event ``ack_id`` with ``args``. Nothing happens if the socket
        has gone meanwhile."""
        packet = SioPacket(type=_ACK, nsp=nsp, data=list(args), id=ack_id)
        client = self._route(nsp, sid)
        if client is None:
            return []
        return self._send(client, packet)

    def _namespace(self, nsp: str) -> Any:
        if nsp not in self._routes:
            raise LocalProtocolError(f"namespace {nsp!r} is not registered")
        return self.engine.namespace(nsp)

    def _transmit(
        self,
        clients: Iterable[_Client],
        messages: Sequence[str | bytes],
        volatile: bool,
        compress: bool,
    ) -> list[ServerOutput]:
        # Each socket's route in the engine is its client (see _on_connect).
        eio_sids = [client.eio_sid for client in clients]
        if not eio_sids:
            return []
        outputs: list[Any] = self.eio.broadcast(  # (transport outputs: no copy to widen)
            eio_sids, messages, volatile=volatile, compress=compress
        )
        return outputs

    def _send(self, client: _Client, packet: SioPacket) -> list[ServerOutput]:
        if client.eio_sid not in self.eio:
            # Closed by a packet later in the same long-polling batch (its SessionClosed
            # follows): nobody to send to.
            return []
        # A send never closes a session (an outbox over its limit only hurries a ping).
        return list(self.eio.send(client.eio_sid, encode_sio_packet(packet)))

    def _acks_done(self, outputs: Sequence[Output]) -> list[ServerOutput]:
        # The engine only completes acks here; their "whole response" marks go with them.
        self._whole_responses.difference_update(
            output.ack_id for output in outputs if isinstance(output, AckCompleted)
        )
        return list(outputs)

    # -- disconnecting ---------------------------------------------------------------------

    def disconnect(
        self, nsp: str, sid: str, now: float, *, close_connection: bool = False
    ) -> list[ServerOutput]:
        """Disconnect a socket from the server side (``socket.disconnect(close)``).

        The client gets DISCONNECT (for every namespace of its connection, and the connection
        is closed, when ``close_connection``). Returns :class:`SocketDisconnecting` for each
        socket concerned: run the handlers, then call :meth:`finish_disconnect`.
        """
        client = self._route(nsp, sid)
        if client is None or client.sockets.get(nsp) != sid:
            raise UnknownSocketError(f"socket {sid!r} is not connected to {nsp!r}")
        if not close_connection and not self.engine.namespace(nsp).is_connected(sid):
            raise InvalidStateError(
                f"socket {sid!r} is pending: answer its CONNECT with accept() or refuse()"
            )
        targets = list(client.sockets.items()) if close_connection else [(nsp, sid)]
        outputs: list[ServerOutput] = []
        for target_nsp, target_sid in targets:
            outputs += self._disconnect_one(client, target_nsp, target_sid, close_connection)
        if close_connection:
            outputs += self._close_client(client, SERVER_DISCONNECT, "closed by the server", now)
        return outputs

    def _disconnect_one(
        self, client: _Client, nsp: str, sid: str, close_connection: bool
    ) -> list[ServerOutput]:
        if self.engine.namespace(nsp).state_of(sid) is not _CONNECTED:
            return []  # pending: the connection's close refuses it
        outputs = self._send(client, SioPacket(type=_DISCONNECT, nsp=nsp))
        return outputs + self._begin_disconnect(
            client, nsp, sid, SERVER_DISCONNECT, close_connection
        )

    def disconnect_sockets(
        self,
        nsp: str,
        now: float,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        close_connection: bool = False,
    ) -> list[ServerOutput]:
        """``io.in(rooms).except(...).disconnectSockets(close)`` on this server."""
        selected = self._namespace(nsp).members_of(rooms, except_=except_, sids=sids)
        outputs: list[ServerOutput] = []
        for sid in selected:
            if self._route(nsp, sid) is not None and self.engine.namespace(nsp).is_connected(sid):
                outputs += self.disconnect(nsp, sid, now, close_connection=close_connection)
        return outputs

    def finish_disconnect(
        self, nsp: str, sid: str, *, data: Any = None, now: float | None = None
    ) -> list[ServerOutput]:
        """End a socket's disconnect once its *disconnecting* handlers have run. With
        connection state recovery on and a disconnect its client may come back from, the
        socket's rooms and ``data`` (the application's ``socket.data``) are kept for it."""
        namespace = self._namespace(nsp)
        rooms = namespace.rooms_of(sid) if self.recovery is not None else ()
        outputs: list[ServerOutput] = list(namespace.finish_disconnect(sid))
        pid = self._pids[nsp].get(sid)
        self._forget_socket(nsp, sid)
        disconnected = outputs[-1]
        if (
            pid is not None
            and self.recovery is not None
            and isinstance(disconnected, SocketDisconnected)
            and disconnected.reason in RECOVERABLE_DISCONNECT_REASONS
        ):
            if self.external_recovery:
                outputs.append(
                    PersistSession(nsp=nsp, sid=sid, pid=pid, rooms=tuple(rooms), data=data)
                )
                return outputs
            when = self._now if now is None else check_time("now", now)
            self.recovery.persist(nsp, sid=sid, pid=pid, rooms=rooms, data=data, now=when)
            self._swept_later(when)
        return outputs

    def close(self, eio_sid: str, now: float) -> list[ServerOutput]:
        """Close one client connection (every namespace) from the server side."""
        client = self._clients.get(eio_sid)
        if client is None:
            raise LocalProtocolError(f"no client connection {eio_sid!r}")
        return self._close_client(client, FORCED_SERVER_CLOSE, "closed by the server", now)

    def shutdown(self, now: float) -> list[ServerOutput]:
        """Graceful shutdown: every connection is closed with "server shutting down", and
        no new one is opened (``eio.accepting``)."""
        self.eio.accepting = False
        outputs: list[ServerOutput] = []
        for client in list(self._clients.values()):
            outputs += self._close_client(client, SERVER_SHUTTING_DOWN, "server shutdown", now)
        return outputs
