"""A reference model of the rooms semantics: slow on purpose, so that it is plainly right.

Nothing here is shared with the engine's logic. Each namespace is three lists: its sockets in
registration order, its memberships ``(room, sid)`` in join order, and its rooms in creation
order. Every question is answered by walking those lists, O(n) each time, which is fine at
the sizes a property test uses. Only the vocabulary is borrowed: the error classes, the
output values, ``SocketState`` and the validation of names (what a room *is* is a definition,
not logic worth duplicating).

Every method checks everything before changing anything, so a method that raises leaves the
model as it was: the state machine relies on that to compare "before" and "after" an error.

The model runs under a :class:`Semantics` profile: ``STRICT`` (the default) is this library's
engine, ``REFERENCE`` Socket.IO's in-memory adapter. Under ``REFERENCE`` an error still means
"refused": Node ignores such calls (a join after the disconnect is a no-op), the model says
so by raising, and changes nothing either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, cast

import attrs

from .. import _events as ev
from .._errors import (
    DuplicateSocketError,
    InvalidStateError,
    LocalProtocolError,
    UnknownSocketError,
)
from .._names import Room, normalize_namespace, normalize_room, normalize_rooms
from .._outputs import (
    AckCompleted,
    Connected,
    Deliveries,
    Output,
    RoomCreated,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
)
from .._state import SocketState
from ._semantics import STRICT, Semantics

__all__ = ["DEFAULT_REASON", "ReferenceModel"]

#: The reason of a disconnect the host starts, under Socket.IO's name for it.
DEFAULT_REASON: Final = "server namespace disconnect"

_PENDING, _CONNECTED, _DISCONNECTING = (
    SocketState.PENDING,
    SocketState.CONNECTED,
    SocketState.DISCONNECTING,
)

# Which states allow which operation, written out from the semantics (Socket.IO's socket
# lifecycle plus the pending phase); a test checks it says the same as the engine's table.
_ALLOWED: Final[dict[str, frozenset[SocketState]]] = {
    "accept": frozenset({_PENDING}),
    "refuse": frozenset({_PENDING}),
    "join": frozenset({_PENDING, _CONNECTED}),
    "leave": frozenset({_PENDING, _CONNECTED, _DISCONNECTING}),
    "begin_disconnect": frozenset({_CONNECTED}),
    "finish_disconnect": frozenset({_DISCONNECTING}),
    "disconnect": frozenset({_PENDING, _CONNECTED, _DISCONNECTING}),
}


def _same_room(a: Room, b: Room) -> bool:
    # 42 and "42" are two rooms; comparing types too keeps that obvious.
    return type(a) is type(b) and a == b


def _check_sid(sid: object) -> str:
    if type(sid) is not str:
        raise LocalProtocolError(f"a socket id must be a str, not {type(sid).__name__}")
    return sid


def _check_time(name: str, value: object) -> float:
    if type(value) not in (int, float) or value != value or value < 0:  # type: ignore[operator]
        raise LocalProtocolError(f"{name} must be a non-negative number, not {value!r}")
    return float(value)  # type: ignore[arg-type]


def _sids_arg(sids: object) -> list[str]:
    # One id or several, as the engine's selection accepts; each must be a str.
    if isinstance(sids, str):
        return [sids]
    if isinstance(sids, (bytes, bytearray, dict)) or not isinstance(sids, Iterable):
        raise LocalProtocolError(f"sids must be an iterable of socket ids, not {sids!r}")
    return [_check_sid(sid) for sid in sids]


@attrs.define
class _Socket:
    sid: str
    state: SocketState
    #: The reason given when the disconnect began (reported again when it finishes).
    reason: str = ""


@attrs.define
class _Namespace:
    sockets: list[_Socket] = attrs.Factory(list)
    #: ``(room, sid)`` pairs in the order the joins happened.
    memberships: list[tuple[Room, str]] = attrs.Factory(list)
    rooms: list[Room] = attrs.Factory(list)
    #: Sockets that became connected (still connected or disconnecting), in that order.
    connected: list[str] = attrs.Factory(list)
    #: Sockets in the order they first joined a room (Node's ``adapter.sids``; any join,
    #: even of no room, counts), until they are forgotten.
    joined: list[str] = attrs.Factory(list)


@attrs.define
class _PendingAck:
    ack_id: int
    nsp: str
    remaining: list[str]
    deadline: float
    responses: list[Any] = attrs.Factory(list)


class ReferenceModel:
    """The rooms semantics of every namespace, as plain lists.

    Its methods mirror :class:`~sansio_rooms.Namespace`, with the namespace as first
    argument, and return the outputs a ``RoomEngine(notices=True)`` returns (room notices
    included). They raise the same error classes in the same situations, and leave the model
    unchanged when they do. ``apply(event)`` is ``RoomEngine.handle`` for the model.
    """

    def __init__(
        self, *, id_factory: Callable[[], str] | None = None, semantics: Semantics = STRICT
    ) -> None:
        #: The profile the model follows (``STRICT``: this library's engine).
        self.semantics = semantics
        #: Makes the ids of ``connect(nsp)`` without a ``sid``. Give the model a factory that
        #: yields what the engine's yields (two ``sequential_ids()``) to run them in lockstep.
        self.id_factory = id_factory
        self._spaces: dict[str, _Namespace] = {}
        self._acks: list[_PendingAck] = []
        self._next_ack_id = 0

    # -- lookups ----------------------------------------------------------------------------

    def _space(self, nsp: str) -> _Namespace:
        space = self._spaces.get(nsp)
        if space is None:
            name = normalize_namespace(nsp)
            space = self._spaces.setdefault(name, _Namespace())
        return space

    def _find(self, space: _Namespace, sid: object) -> _Socket | None:
        for socket in space.sockets:
            if socket.sid == sid:
                return socket
        return None

    def _socket(self, nsp: str, sid: object, operation: str | None = None) -> _Socket:
        socket = self._find(self._space(nsp), sid)
        if socket is None:
            raise UnknownSocketError(f"socket {sid!r} is not in namespace {nsp!r}")
        if operation is not None and socket.state not in self._allowed(operation):
            raise InvalidStateError(f"cannot {operation} socket {sid!r}: {socket.state.value}")
        return socket

    def _allowed(self, operation: str) -> frozenset[SocketState]:
        if operation == "join" and self.semantics.disconnecting_may_join:
            return frozenset(SocketState)
        return _ALLOWED[operation]

    def _members(self, space: _Namespace, room: Room) -> list[str]:
        return [sid for r, sid in space.memberships if _same_room(r, room)]

    def _is_member(self, space: _Namespace, room: Room, sid: str) -> bool:
        return sid in self._members(space, room)

    def _is_socket_id(self, space: _Namespace, room: Room) -> bool:
        return self._find(space, room) is not None

    # -- queries ----------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        """Namespaces that have sockets (rooms need members), in the order first used."""
        return [name for name, space in self._spaces.items() if space.sockets]

    def state_of(self, nsp: str, sid: str) -> SocketState:
        return self._socket(nsp, sid).state

    def sockets(self, nsp: str, state: SocketState | None = None) -> list[str]:
        """Socket ids in registration order, optionally only those in ``state``."""
        space = self._space(nsp)
        return [s.sid for s in space.sockets if state is None or s.state is state]

    def rooms_of(self, nsp: str, sid: str) -> list[Room]:
        """The rooms of ``sid`` in the order it joined them."""
        self._socket(nsp, sid)
        return [room for room, member in self._space(nsp).memberships if member == sid]

    def members(self, nsp: str, room: Room) -> list[str]:
        """Every member of ``room``, in any state, in join order ([] if there is no room)."""
        return self._members(self._space(nsp), normalize_room(room))

    def rooms(self, nsp: str) -> list[Room]:
        """Every room of the namespace in creation order (id rooms included)."""
        return list(self._space(nsp).rooms)

    def recipients(
        self,
        nsp: str,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
        sender: str | None = None,
        *,
        bulk: bool = False,
    ) -> list[str]:
        """Who a broadcast with this selection reaches, in delivery order.

        Target-room order then join order within a room, then ``sids`` in the order given,
        each socket once; ``rooms`` and ``sids`` both ``None`` is every connected socket in
        the order they became connected, and an empty list of rooms is nobody. Minus every
        member (in any state) of the ``except_`` rooms, minus ``sender``; connected only.
        The profile may change each of these (``Semantics``); ``bulk`` selects for
        ``sockets_join``, ``sockets_leave`` and ``disconnect_sockets``.
        """
        space = self._space(nsp)
        by_id_room = self.semantics.sender_excluded_by_id_room
        # Checked in the order the engine checks them, so that a call with two faults raises
        # the same error class from both.
        if (
            sender is not None
            and not self.semantics.gone_sender_may_broadcast
            and self._find(space, sender) is None
        ):
            raise UnknownSocketError(f"sender {sender!r} is not in namespace {nsp!r}")
        target_rooms = None if rooms is None else normalize_rooms(rooms)
        target_sids = None if sids is None else _sids_arg(sids)
        excluded_rooms = normalize_rooms(except_)
        if sender is not None and by_id_room:
            # Node: socket.broadcast is except(socket.id), a room like any other.
            excluded_rooms = (*excluded_rooms, sender)
        if (
            target_rooms == ()
            and target_sids is None
            and self.semantics.empty_rooms_reach_everybody
        ):
            target_rooms = None
        selectable = self._selectable(space, bulk)
        if target_rooms is None and target_sids is None:
            candidates = list(selectable)
        else:
            candidates = []
            for room in target_rooms or ():
                for sid in self._members(space, room):
                    if sid not in candidates:
                        candidates.append(sid)
            for sid in target_sids or ():
                if self._find(space, sid) is not None and sid not in candidates:
                    candidates.append(sid)
        excluded = [sid for room in excluded_rooms for sid in self._members(space, room)]
        return [
            sid
            for sid in candidates
            if sid not in excluded and (by_id_room or sid != sender) and sid in selectable
        ]

    def _selectable(self, space: _Namespace, bulk: bool) -> list[str]:
        """The sockets a selection may reach, in whole-namespace order."""
        if bulk:
            disconnecting_too = self.semantics.bulk_selects_disconnecting
        else:
            disconnecting_too = self.semantics.disconnecting_receive
        states = (_CONNECTED, _DISCONNECTING) if disconnecting_too else (_CONNECTED,)
        order = space.joined if self.semantics.namespace_order_by_first_join else space.connected
        return [sid for sid in order if self._state(space, sid) in states]

    def _state(self, space: _Namespace, sid: str) -> SocketState:
        return cast(_Socket, self._find(space, sid)).state

    def members_of(
        self, nsp: str, rooms: object = None, *, except_: object = (), sids: object = None
    ) -> list[str]:
        """``Namespace.members_of``: the recipients of a broadcast made by nobody."""
        return self.recipients(nsp, rooms, except_, sids)

    def next_deadline(self) -> float | None:
        return min((ack.deadline for ack in self._acks), default=None)

    def pending_acks(self) -> dict[int, tuple[str, list[str]]]:
        """Acknowledgements in flight: id -> (namespace, sockets that have not answered)."""
        return {ack.ack_id: (ack.nsp, list(ack.remaining)) for ack in self._acks}

    def snapshot(self) -> dict[str, dict[str, object]]:
        """The sockets and rooms of every namespace in use, as plain values, in order:
        ``{nsp: {"sockets": [(sid, state, rooms)], "rooms": [(room, members)],
        "connected": sids}}``. Acknowledgements: ``pending_acks()``, ``next_deadline()``."""
        return {
            name: {
                "sockets": [
                    (s.sid, s.state, tuple(self.rooms_of(name, s.sid))) for s in space.sockets
                ],
                "rooms": [(room, tuple(self._members(space, room))) for room in space.rooms],
                "connected": tuple(
                    sid for sid in space.connected if self._state(space, sid) is _CONNECTED
                ),
            }
            for name, space in self._spaces.items()
            if space.sockets
        }

    # -- membership changes -----------------------------------------------------------------

    def _add(self, nsp: str, space: _Namespace, room: Room, sid: str) -> list[Output]:
        if self._is_member(space, room, sid):
            return []
        outputs: list[Output] = []
        if not self._members(space, room):
            space.rooms.append(room)
            outputs.append(RoomCreated(nsp=nsp, room=room))
        space.memberships.append((room, sid))
        outputs.append(RoomJoined(nsp=nsp, room=room, sid=sid))
        return outputs

    def _remove(self, nsp: str, space: _Namespace, room: Room, sid: str) -> list[Output]:
        if not self._is_member(space, room, sid):
            return []
        space.memberships = [
            (r, s) for r, s in space.memberships if not (_same_room(r, room) and s == sid)
        ]
        outputs: list[Output] = [RoomLeft(nsp=nsp, room=room, sid=sid)]
        if not self._members(space, room):
            space.rooms = [r for r in space.rooms if not _same_room(r, room)]
            outputs.append(RoomDeleted(nsp=nsp, room=room))
        return outputs

    def _forget(self, nsp: str, space: _Namespace, socket: _Socket) -> list[Output]:
        outputs: list[Output] = []
        for room in self.rooms_of(nsp, socket.sid):
            outputs += self._remove(nsp, space, room, socket.sid)
        space.sockets.remove(socket)
        space.connected = [sid for sid in space.connected if sid != socket.sid]
        space.joined = [sid for sid in space.joined if sid != socket.sid]
        return outputs

    def _joins(self, nsp: str, space: _Namespace, sid: str, rooms: Iterable[Room]) -> list[Output]:
        # One join call: the socket enters Node's ``sids`` index even when joining no room.
        if sid not in space.joined:
            space.joined.append(sid)
        outputs: list[Output] = []
        for room in rooms:
            outputs += self._add(nsp, space, room, sid)
        return outputs

    def _check_no_foreign_id_room(self, space: _Namespace, sid: str, rooms: Iterable[Room]) -> None:
        if self.semantics.id_rooms_open:
            return
        for room in rooms:
            if self._is_socket_id(space, room) and room != sid:
                raise LocalProtocolError(f"socket {sid!r} cannot join the id room of {room!r}")

    # -- the operations ---------------------------------------------------------------------

    def connect(self, nsp: str, sid: str | None = None, *, pending: bool = False) -> list[Output]:
        name = normalize_namespace(nsp)
        space = self._space(name)
        if sid is None:
            if pending:
                raise LocalProtocolError("a pending connect needs its id, to accept it later")
            if self.id_factory is None:
                raise LocalProtocolError("this model has no id_factory: give connect() a sid")
            sid = self.id_factory()
        if not _check_sid(sid):
            raise LocalProtocolError("a socket id must not be empty")
        if self._find(space, sid) is not None:
            raise DuplicateSocketError(f"socket {sid!r} is already in {name!r}")
        if self._members(space, sid) and not self.semantics.new_id_may_name_a_room:
            raise DuplicateSocketError(f"{sid!r} is already a room of {name!r}")
        socket = _Socket(sid, _PENDING)
        space.sockets.append(socket)
        return [] if pending else self._accept(name, space, socket)

    def _accept(self, nsp: str, space: _Namespace, socket: _Socket) -> list[Output]:
        socket.state = _CONNECTED
        space.connected.append(socket.sid)
        return [
            *self._joins(nsp, space, socket.sid, [socket.sid]),
            Connected(nsp=nsp, sid=socket.sid),
        ]

    def accept(self, nsp: str, sid: str) -> list[Output]:
        name = normalize_namespace(nsp)
        socket = self._socket(name, sid, "accept")
        return self._accept(name, self._space(name), socket)

    def refuse(self, nsp: str, sid: str) -> list[Output]:
        name = normalize_namespace(nsp)
        socket = self._socket(name, sid, "refuse")
        return self._forget(name, self._space(name), socket)

    def join(self, nsp: str, sid: str, rooms: object) -> list[Output]:
        name = normalize_namespace(nsp)
        self._socket(name, sid, "join")
        space = self._space(name)
        names = normalize_rooms(rooms)
        self._check_no_foreign_id_room(space, sid, names)
        return self._joins(name, space, sid, names)

    def leave(self, nsp: str, sid: str, rooms: object) -> list[Output]:
        name = normalize_namespace(nsp)
        self._socket(name, sid, "leave")
        space = self._space(name)
        outputs: list[Output] = []
        for room in normalize_rooms(rooms):
            outputs += self._remove(name, space, room, sid)
        return outputs

    def begin_disconnect(
        self, nsp: str, sid: str, reason: str = DEFAULT_REASON, *, close_connection: bool = False
    ) -> list[Output]:
        name = normalize_namespace(nsp)
        socket = self._socket(name, sid, "begin_disconnect")
        socket.state = _DISCONNECTING
        socket.reason = reason
        return [
            SocketDisconnecting(nsp=name, sid=sid, reason=reason, close_connection=close_connection)
        ]

    def finish_disconnect(self, nsp: str, sid: str) -> list[Output]:
        name = normalize_namespace(nsp)
        socket = self._socket(name, sid, "finish_disconnect")
        outputs = self._forget(name, self._space(name), socket)
        return [*outputs, SocketDisconnected(nsp=name, sid=sid, reason=socket.reason)]

    def disconnect(self, nsp: str, sid: str, reason: str = DEFAULT_REASON) -> list[Output]:
        name = normalize_namespace(nsp)
        socket = self._socket(name, sid, "disconnect")
        if socket.state is _PENDING:
            return self._forget(name, self._space(name), socket)
        outputs: list[Output] = []
        if socket.state is _CONNECTED:
            outputs += self.begin_disconnect(name, sid, reason)
        return outputs + self.finish_disconnect(name, sid)

    def emit(
        self,
        nsp: str,
        payload: Any,
        *,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
    ) -> Deliveries:
        name = normalize_namespace(nsp)
        return Deliveries(
            nsp=name,
            payload=payload,
            recipients=tuple(self.recipients(name, rooms, except_, sids, sender)),
            volatile=volatile,
            compress=compress,
            local=local,
        )

    def sockets_join(
        self,
        nsp: str,
        join: object,
        *,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
    ) -> list[Output]:
        """Every selected socket joins ``join``.

        An id room may only be named when the selection is exactly its socket; otherwise the
        whole call is refused, even for an empty selection (docs/semantics.md: "all or
        nothing", as python-socketio protects id rooms).
        """
        name = normalize_namespace(nsp)
        names = normalize_rooms(join)
        selected = self.recipients(name, rooms, except_, sids, bulk=True)
        space = self._space(name)
        for room in names:
            if (
                self._is_socket_id(space, room)
                and selected != [room]
                and not self.semantics.id_rooms_open
            ):
                raise LocalProtocolError(f"sockets cannot join the id room of {room!r}")
        outputs: list[Output] = []
        for sid in selected:
            if self._state(space, sid) in self._allowed("join"):
                outputs += self._joins(name, space, sid, names)
        return outputs

    def sockets_leave(
        self,
        nsp: str,
        leave: object,
        *,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
    ) -> list[Output]:
        name = normalize_namespace(nsp)
        names = normalize_rooms(leave)
        outputs: list[Output] = []
        for sid in self.recipients(name, rooms, except_, sids, bulk=True):
            outputs += self.leave(name, sid, names)
        return outputs

    def disconnect_sockets(
        self,
        nsp: str,
        *,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
        close_connection: bool = False,
        reason: str = DEFAULT_REASON,
    ) -> list[Output]:
        name = normalize_namespace(nsp)
        outputs: list[Output] = []
        for sid in self.recipients(name, rooms, except_, sids, bulk=True):
            # A disconnecting socket selected (Node's disconnectSockets) is on its way out.
            if self.state_of(name, sid) is _CONNECTED:
                outputs += self.begin_disconnect(
                    name, sid, reason, close_connection=close_connection
                )
        return outputs

    def close_room(self, nsp: str, room: object) -> list[Output]:
        name = normalize_namespace(nsp)
        space = self._space(name)
        room = normalize_room(room)
        if self._is_socket_id(space, room) and not self.semantics.id_rooms_open:
            raise LocalProtocolError(f"cannot close the id room of socket {room!r}")
        if self.semantics.close_room_spares_pending:
            # Node: io.in(room).socketsLeave(room), the selection of a bulk operation.
            members = self.recipients(name, [room], bulk=True)
        else:
            members = self._members(space, room)
        outputs: list[Output] = []
        for sid in members:
            outputs += self._remove(name, space, room, sid)
        return outputs

    # -- acknowledgements -------------------------------------------------------------------

    def emit_with_ack(
        self,
        nsp: str,
        payload: Any,
        *,
        now: float,
        timeout: float,
        rooms: object = None,
        except_: object = (),
        sids: object = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
    ) -> list[Output]:
        """Ids are numbered from 0 across all namespaces, like Socket.IO's packet ids."""
        name = normalize_namespace(nsp)
        deadline = _check_time("now", now) + _check_time("timeout", timeout)
        recipients = self.recipients(name, rooms, except_, sids, sender)
        ack_id = self._next_ack_id
        self._next_ack_id += 1
        deliveries = Deliveries(
            nsp=name,
            payload=payload,
            recipients=tuple(recipients),
            volatile=volatile,
            compress=compress,
            local=local,
            ack_id=ack_id,
        )
        if not recipients:
            return [
                deliveries,
                AckCompleted(nsp=name, ack_id=ack_id, responses=(), timed_out=False),
            ]
        self._acks.append(_PendingAck(ack_id, name, recipients, deadline))
        return [deliveries]

    def ack(self, nsp: str, sid: str, ack_id: int, response: Any = None) -> list[Output]:
        """An answer; ignored unless ``sid`` still owes one to ``ack_id`` in ``nsp``."""
        name = normalize_namespace(nsp)
        for ack in self._acks:
            if ack.ack_id == ack_id and ack.nsp == name and sid in ack.remaining:
                ack.remaining.remove(sid)
                ack.responses.append(response)
                if ack.remaining:
                    return []
                self._acks.remove(ack)
                return [
                    AckCompleted(
                        nsp=name, ack_id=ack_id, responses=tuple(ack.responses), timed_out=False
                    )
                ]
        return []

    def advance(self, now: float) -> list[Output]:
        """Complete as timed out every acknowledgement due at ``now``, earliest first."""
        now = _check_time("now", now)
        due = sorted(
            (ack for ack in self._acks if ack.deadline <= now),
            key=lambda ack: (ack.deadline, ack.ack_id),
        )
        self._acks = [ack for ack in self._acks if ack not in due]
        return [
            AckCompleted(
                nsp=ack.nsp, ack_id=ack.ack_id, responses=tuple(ack.responses), timed_out=True
            )
            for ack in due
        ]

    # -- events as values -------------------------------------------------------------------

    def apply(self, event: ev.Event) -> list[Output]:
        """Apply one event value, as ``RoomEngine.handle`` does."""
        handler = _APPLY.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"not an engine event: {event!r}")
        return handler(self, event)


def _selection(event: Any) -> dict[str, Any]:
    return {"rooms": event.rooms, "except_": event.except_, "sids": event.sids}


def _flags(event: ev.Emit | ev.EmitWithAck) -> dict[str, Any]:
    return {
        "sender": event.sender,
        "volatile": event.volatile,
        "compress": event.compress,
        "local": event.local,
    }


_APPLY: Final[dict[type, Callable[[ReferenceModel, Any], list[Output]]]] = {
    ev.Connect: lambda m, e: m.connect(e.nsp, e.sid, pending=e.pending),
    ev.Accept: lambda m, e: m.accept(e.nsp, e.sid),
    ev.Refuse: lambda m, e: m.refuse(e.nsp, e.sid),
    ev.Join: lambda m, e: m.join(e.nsp, e.sid, e.rooms),
    ev.Leave: lambda m, e: m.leave(e.nsp, e.sid, e.rooms),
    ev.Emit: lambda m, e: [m.emit(e.nsp, e.payload, **_selection(e), **_flags(e))],
    ev.EmitWithAck: lambda m, e: m.emit_with_ack(
        e.nsp, e.payload, now=e.now, timeout=e.timeout, **_selection(e), **_flags(e)
    ),
    ev.Ack: lambda m, e: m.ack(e.nsp, e.sid, e.ack_id, e.response),
    ev.BeginDisconnect: lambda m, e: m.begin_disconnect(
        e.nsp, e.sid, e.reason, close_connection=e.close_connection
    ),
    ev.FinishDisconnect: lambda m, e: m.finish_disconnect(e.nsp, e.sid),
    ev.Disconnect: lambda m, e: m.disconnect(e.nsp, e.sid, e.reason),
    ev.SocketsJoin: lambda m, e: m.sockets_join(e.nsp, e.join, **_selection(e)),
    ev.SocketsLeave: lambda m, e: m.sockets_leave(e.nsp, e.leave, **_selection(e)),
    ev.DisconnectSockets: lambda m, e: m.disconnect_sockets(
        e.nsp, close_connection=e.close_connection, **_selection(e)
    ),
    ev.CloseRoom: lambda m, e: m.close_room(e.nsp, e.room),
    ev.TimePassed: lambda m, e: m.advance(e.now),
}
