"""The rooms engine: namespaces -> rooms -> socket ids, events in, deliveries out.

Two indexes per namespace, kept in step: ``room -> {sid: None}`` for the named rooms and
``sid -> {room: None}`` for every socket (its id room's value is a stamp, below). Dicts, not
sets: they keep insertion order (so deliveries come in target-room order, then join order, as
in Socket.IO), a ``dict[str, None]`` is about half the size of a set, holds nothing the
garbage collector needs to scan, and ``dict.copy`` of a room is a memory copy. Every operation
costs O(size of what it touches): a disconnect walks the rooms of that socket only.

A socket's id room has no entry in the room index: it exists while its socket is in it, as
the socket's own entry says (``sid in rooms_of[sid]``), and that socket is its only possible
member. Entries for them made the room index larger than the socket index: every connect and
disconnect paid for one more dict and one more insert or delete there, and every other
look-up ran slower for the size (a quarter of a disconnect's dict work on the bench machine,
with 100,000 sockets). So whatever reads a room by name reads it in both places.

``rooms()`` still lists them all in creation order, id rooms among the others, as Socket.IO
does (a cluster answers Node's servers with that list). It sorts on a stamp per room: the
*epoch*, a count bumped by each room created out of the order of the sockets (a named room; an
id room joined again, or made on accept), kept beside each named room and as the value of the
id room in its socket's rooms. An id room made at connect takes the epoch as it is, with
nothing to count or allocate, and its socket's place among the sockets orders it among the id
rooms of the same epoch, all made after the room that began it.

Beside the two indexes, the connected sockets in connection order, each with its *route*:
the key its host gave at connect to find its connection (its id otherwise). A broadcast hands
the host its recipients' routes with their ids, so that a server need not look each one up by
id.

The engine never reads a clock: calls that involve time take ``now`` (monotonic seconds) and
``next_deadline()`` says when to call ``advance(now)`` again.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Collection, Iterable
from operator import itemgetter
from typing import Any, Final, TypeGuard

from . import _events as ev
from ._acks import AckTracker, check_time
from ._errors import (
    DuplicateSocketError,
    InvalidStateError,
    LocalProtocolError,
    UnknownSocketError,
)
from ._events import Event
from ._names import Room, normalize_namespace, normalize_room, normalize_rooms
from ._outputs import (
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
    new_output,
)
from ._state import Operation, SocketState, next_state

__all__ = ["Namespace", "RoomEngine", "default_id_factory"]

# Enum members read through their class cost about 0.2 µs each on CPython 3.11 (EnumType
# defines __getattr__, which sends every class attribute lookup through Python code): the two
# a disconnect read were 8% of its cost. The engine reads them once, here.
_PENDING: Final = SocketState.PENDING
_CONNECTED: Final = SocketState.CONNECTED
_DISCONNECTING: Final = SocketState.DISCONNECTING
_ACCEPT: Final = Operation.ACCEPT
_REFUSE: Final = Operation.REFUSE
_JOIN: Final = Operation.JOIN
_LEAVE: Final = Operation.LEAVE
_BEGIN_DISCONNECT: Final = Operation.BEGIN_DISCONNECT
_FINISH_DISCONNECT: Final = Operation.FINISH_DISCONNECT
_DISCONNECT: Final = Operation.DISCONNECT

#: The reason a host-initiated disconnect carries unless told otherwise (Socket.IO's name).
SERVER_DISCONNECT: Final = "server namespace disconnect"


# The copy on write of the connected sockets (Namespace._receiving) is for the views a
# broadcast to everyone handed out; but by the next connect or disconnect a server has
# usually looped over them and dropped them, and the copy of 100,000 sockets took 3 ms (a
# sixth of the core benchmark's disconnects, amortised). Each view holds a reference to the
# dict: when CPython counts no more references than an attribute holds alone (_ALONE, counted
# here the way _receiving_to_change counts them), nothing can see the change and the copy is
# skipped. Without reference counts (PyPy), the count is never that low: always a copy.
_refcount: Final[Callable[[object], int]] = getattr(sys, "getrefcount", lambda _: sys.maxsize)


class _Holder:
    """A dict held by one attribute, as a namespace holds _receiving."""

    def __init__(self) -> None:
        self.held: dict[str, Any] = {}

    def count(self) -> int:
        return _refcount(self.held)


_ALONE: Final = _Holder().count()


def default_id_factory() -> str:
    """128 random bits from :mod:`secrets`, URL-safe base64: 22 characters."""
    return secrets.token_urlsafe(16)


def _check_sid(sid: object) -> str:
    if type(sid) is not str:
        raise LocalProtocolError(f"a socket id must be a str, not {type(sid).__name__}")
    return sid


class RoomEngine:
    """All namespaces of one server, and the broadcast acknowledgements in flight.

    ``id_factory`` makes socket ids (default: :func:`default_id_factory`); ``notices=True``
    makes every membership change also return room notices (:class:`RoomCreated`,
    :class:`RoomJoined`, :class:`RoomLeft`, :class:`RoomDeleted`). They cost nothing when
    off.
    """

    def __init__(
        self, *, id_factory: Callable[[], str] = default_id_factory, notices: bool = False
    ) -> None:
        self.id_factory = id_factory
        self.notices = notices
        self._namespaces: dict[str, Namespace] = {}
        #: The broadcast acknowledgements in flight, shared by all namespaces.
        self.acks = AckTracker()

    def namespace(self, name: str = "/") -> Namespace:
        """The namespace called ``name`` (``"chat"`` means ``"/chat"``), created if new."""
        # Fast path for a name given exactly as stored; anything else (including an unhashable
        # object, which must fail as LocalProtocolError, not TypeError) is normalised first.
        if type(name) is str:
            existing = self._namespaces.get(name)
            if existing is not None:
                return existing
        name = normalize_namespace(name)
        nsp = self._namespaces.get(name)
        if nsp is None:
            nsp = self._namespaces[name] = Namespace(self, name)
        return nsp

    def handle(self, event: Event) -> list[Output]:
        """Apply one input event; the outputs of the matching ``Namespace`` method."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"not an engine event: {event!r}")
        known = len(self._namespaces)
        try:
            return handler(self, event)
        except LocalProtocolError:
            # A refused event leaves no trace, not even the namespace it named (still empty).
            if len(self._namespaces) > known:
                self._namespaces.popitem()
            raise

    def namespaces(self) -> tuple[str, ...]:
        """Names of the namespaces created so far, in creation order."""
        return tuple(self._namespaces)

    def remove_namespace(self, name: str) -> None:
        """Forget an empty namespace (no socket in any state). Raises
        :class:`InvalidStateError` if it has sockets; nothing happens if it does not exist."""
        name = normalize_namespace(name)
        namespace = self._namespaces.get(name)
        if namespace is None:
            return
        if namespace.count_sockets():
            raise InvalidStateError(f"namespace {name!r} still has sockets")
        del self._namespaces[name]

    # -- time and acknowledgements --------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``advance`` must next be called, or ``None`` if nothing is waiting."""
        return self.acks.next_deadline()

    def advance(self, now: float) -> list[Output]:
        """Time is ``now``: complete every acknowledgement whose deadline has passed."""
        return self.acks.advance(now)


class Namespace:
    """The rooms and sockets of one namespace. Obtain it with ``RoomEngine.namespace()``."""

    def __init__(self, engine: RoomEngine, name: str) -> None:
        self.engine = engine
        self.name = name
        # Named rooms only (see the module docstring), and every socket's rooms, id room
        # included while it is in it (the value: None, or the id room's creation stamp).
        self._rooms: dict[Room, dict[str, None]] = {}
        self._rooms_of: dict[str, dict[Room, int | None]] = {}
        # Sockets, in any state, that are not in their id room (pending ones, mostly): how
        # count_rooms() counts the id rooms without walking the sockets.
        self._outside_id_room = 0
        # The creation order of rooms (module docstring): the epoch, and the one each named
        # room began (an id room's is the value of its entry in its socket's rooms).
        self._epoch = 0
        self._born: dict[Room, int] = {}
        # Connected sockets in connection order. A broadcast to the whole namespace hands out
        # a view of this very dict rather than a copy (copying, then freeing, 100,000 sids was
        # a sixth of such a broadcast, host loop included), and marks it shared: the next
        # change makes a new dict first (copy on write), so that the view never changes. So a
        # burst of broadcasts to everyone costs one copy, or none; never more than before.
        # None at all when the views are gone by then (see _ALONE). Every change to
        # _receiving goes through _receiving_to_change. Values: routes.
        self._receiving: dict[str, Any] = {}
        self._receiving_shared = False
        # Pending and disconnecting sockets: present in rooms, skipped by broadcasts.
        self._not_receiving: dict[str, SocketState] = {}
        # ... and the routes of pending ones, which may join rooms before they receive
        # (_receiving holds those of connected ones; a disconnecting socket may not join).
        self._parked_routes: dict[str, Any] = {}
        # Whether a connect ever gave a route (if not, every route is its socket's id).
        self._routed = False
        self._disconnect_reasons: dict[str, tuple[str, bool]] = {}

    def __repr__(self) -> str:
        return (
            f"<Namespace {self.name!r}: {len(self._rooms_of)} sockets, {self.count_rooms()} rooms>"
        )

    # -- queries ---------------------------------------------------------------------------

    def state_of(self, sid: str) -> SocketState:
        """The socket's state; :class:`UnknownSocketError` if it is not here."""
        if type(sid) is str and sid in self._receiving:
            return _CONNECTED
        state = self._not_receiving.get(_check_sid(sid))
        if state is None:
            raise self._unknown(sid)
        return state

    def has_socket(self, sid: object) -> bool:
        """True if ``sid`` is a socket of the namespace, in any state (a room name that is
        not a socket id gives False)."""
        return type(sid) is str and sid in self._rooms_of

    def is_connected(self, sid: str) -> bool:
        """True if ``sid`` is connected and receives broadcasts."""
        return _check_sid(sid) in self._receiving

    def rooms_of(self, sid: str) -> tuple[Room, ...]:
        """The rooms of ``sid`` in join order (its id room included while it is in it)."""
        rooms = self._rooms_of.get(_check_sid(sid))
        if rooms is None:
            raise self._unknown(sid)
        return tuple(rooms)

    def members_of(
        self,
        rooms: Iterable[Room] | Room | None = None,
        *,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
    ) -> tuple[str, ...]:
        """The connected sockets a broadcast with this selection would reach, in order."""
        return tuple(self._select(rooms, except_, sids, None))

    def rooms(self) -> tuple[Room, ...]:
        """Every room of the namespace, socket id rooms included, in creation order."""
        born = self._born
        # A named room before the id rooms of its epoch (made after it), those in the order
        # of their sockets: no two stamps are equal, so the rooms themselves are never compared.
        stamped: list[tuple[tuple[int, ...], Room]] = [((born[room], 0), room) for room in born]
        for place, (sid, joined) in enumerate(self._rooms_of.items()):
            epoch = joined.get(sid)
            if epoch is not None:
                stamped.append(((epoch, 1, place), sid))
        stamped.sort(key=itemgetter(0))
        return tuple(room for _, room in stamped)

    def sockets(self) -> tuple[str, ...]:
        """Every socket of the namespace in any state, in connection order."""
        return tuple(self._rooms_of)

    def members(self, room: Room) -> tuple[str, ...]:
        """Every socket in ``room``, in join order, in any state (pending and disconnecting
        ones too, unlike ``members_of``); ``()`` if the room does not exist."""
        room = normalize_room(room)
        members = self._rooms.get(room)
        if members is not None:
            return tuple(members)
        return (room,) if self._is_id_room(room) else ()

    def count_members(self, room: Room) -> int:
        """Number of sockets in ``room`` (any state); 0 if it does not exist."""
        room = normalize_room(room)
        members = self._rooms.get(room)
        if members is not None:
            return len(members)
        return 1 if self._is_id_room(room) else 0

    def count_rooms(self) -> int:
        return len(self._rooms) + len(self._rooms_of) - self._outside_id_room

    def count_sockets(self) -> int:
        return len(self._rooms_of)

    def _is_id_room(self, room: Room) -> TypeGuard[str]:
        """Whether ``room`` is the id room of a socket that is in it (not in the room index)."""
        if type(room) is not str:
            return False
        joined = self._rooms_of.get(room)
        return joined is not None and room in joined

    # -- connect ---------------------------------------------------------------------------

    def connect(
        self, sid: str | None = None, *, pending: bool = False, route: Any = None
    ) -> list[Output]:
        """Register a socket (id from the engine's factory unless given).

        Connected at once, unless ``pending``: then it may join rooms but receives nothing
        until ``accept`` (or goes away with ``refuse``), like a socket whose middlewares and
        connect handler are still running. The last output is :class:`Connected` when the
        socket is connected.

        ``route``: any object the host wants handed back with each delivery to this socket
        (``Deliveries.routes``), typically its connection or a key to it; the socket's id
        when ``None``.
        """
        rooms_of = self._rooms_of
        if sid is None:
            if pending:
                # The id must be known to accept or refuse it later, and a pending connect
                # returns nothing that would carry it.
                raise LocalProtocolError(
                    "a pending connect needs its id: connect(engine.id_factory(), pending=True)"
                )
            sid = self.engine.id_factory()
            # A host-supplied factory is held to the rules of a given id (one test here, the
            # reason worked out only when it fails). An id room is never in _rooms, but its
            # name is a socket's id, in rooms_of.
            if type(sid) is not str or not sid or sid in rooms_of or sid in self._rooms:
                _check_sid(sid)
                if not sid:
                    raise LocalProtocolError("the id factory returned an empty socket id")
                raise DuplicateSocketError(
                    f"the id factory returned {sid!r}, already a socket or a room of {self.name!r}"
                )
        elif type(sid) is not str or not sid or sid in rooms_of or sid in self._rooms:
            # The same one test for a given id, then the reason.
            _check_sid(sid)
            if not sid:
                raise LocalProtocolError("a socket id must not be empty")
            if sid in rooms_of:
                raise DuplicateSocketError(f"socket {sid!r} is already in {self.name!r}")
            raise DuplicateSocketError(f"{sid!r} is already a room of {self.name!r}")
        if route is None:
            route = sid
        else:
            self._routed = True
        if pending or self.engine.notices:
            # Registered outside its id room; accept (now, with notices) puts it there.
            joined: dict[Room, int | None] = {}
            rooms_of[sid] = joined
            self._outside_id_room += 1
            if not pending:
                return self._accept(sid, joined, route)
            self._not_receiving[sid] = _PENDING
            self._parked_routes[sid] = route
            return []
        # _accept's work without notices, done here (the calls were a sixth of a connect):
        # the socket is in its id room from the start, made in the order of the sockets.
        rooms_of[sid] = {sid: self._epoch}
        if self._receiving_shared:
            self._receiving_to_change()
        self._receiving[sid] = route
        return [new_output(Connected, (self.name, sid))]

    def accept(self, sid: str) -> list[Output]:
        """A pending socket is now connected: it joins its id room and receives."""
        next_state(self.state_of(sid), _ACCEPT, sid)
        del self._not_receiving[sid]
        return self._accept(sid, self._rooms_of[sid], self._parked_routes.pop(sid))

    def _accept(self, sid: str, joined: dict[Room, int | None], route: Any) -> list[Output]:
        self._receiving_to_change()[sid] = route
        # A pending socket may already have joined its own id room: no second join notice.
        if sid in joined:
            return [new_output(Connected, (self.name, sid))]
        if not self.engine.notices:
            # _add's work without notices, done here as in join's one-room case (a server
            # accepts every socket it connects).
            self._epoch += 1
            joined[sid] = self._epoch
            self._outside_id_room -= 1
            return [new_output(Connected, (self.name, sid))]
        outputs: list[Output] = []
        self._add(sid, joined, sid, outputs)
        outputs.append(new_output(Connected, (self.name, sid)))
        return outputs

    def refuse(self, sid: str) -> list[Output]:
        """A pending socket is refused: it leaves the rooms it joined and is forgotten."""
        next_state(self.state_of(sid), _REFUSE, sid)
        return self._forget(sid, [])

    # -- join / leave ----------------------------------------------------------------------

    def join(self, sid: str, rooms: Iterable[Room] | Room) -> list[Output]:
        """``sid`` joins one room or several. Joining a room twice is a no-op."""
        joined = self._rooms_of.get(sid) if type(sid) is str else None
        if joined is None:
            raise self._unknown(_check_sid(sid))
        not_receiving = self._not_receiving
        # Most often nobody is pending or disconnecting: no look-up then.
        if not_receiving:
            state = not_receiving.get(sid)
            if state is not None:
                next_state(state, _JOIN, sid)
        if type(rooms) is str and not self.engine.notices:
            # The one-room case, as cheap as it can be: _add's work done here rather than
            # called (the call cost a tenth of the core benchmark's build), and no look-up in
            # the index of sockets for a room that exists, the common case: id rooms are not
            # in the room index.
            if rooms in joined:
                return []
            room_map = self._rooms
            members = room_map.get(rooms)
            if members is not None:
                joined[rooms] = None
                members[sid] = None
                return []
            if rooms not in self._rooms_of:
                joined[rooms] = None
                room_map[rooms] = {sid: None}
                self._epoch += 1
                self._born[rooms] = self._epoch
                return []
            # A socket's id room: the general path says whether this socket may join it.
        names = normalize_rooms(rooms)
        rooms_of = self._rooms_of
        for room in names:
            if room in rooms_of and room != sid:
                raise LocalProtocolError(f"socket {sid!r} cannot join the id room of {room!r}")
        outputs: list[Output] = []
        for room in names:
            if room not in joined:
                self._add(sid, joined, room, outputs)
        return outputs

    def leave(self, sid: str, rooms: Iterable[Room] | Room) -> list[Output]:
        """``sid`` leaves one room or several. Leaving a room not joined is a no-op."""
        joined = self._rooms_of.get(sid) if type(sid) is str else None
        if joined is None:
            raise self._unknown(_check_sid(sid))
        state = self._not_receiving.get(sid)
        if state is not None:
            next_state(state, _LEAVE, sid)
        left = [room for room in normalize_rooms(rooms) if room in joined]
        for room in left:
            del joined[room]
        if sid in left:
            self._outside_id_room += 1
        outputs: list[Output] = []
        self._remove(sid, left, outputs)
        return outputs

    def _add(
        self, sid: str, joined: dict[Room, int | None], room: Room, outputs: list[Output]
    ) -> None:
        if room == sid:
            # Its id room, which now exists: nothing in the room index, its stamp in joined.
            self._epoch += 1
            joined[room] = self._epoch
            self._outside_id_room -= 1
            created = True
        else:
            joined[room] = None
            members = self._rooms.get(room)
            created = members is None
            if members is None:
                self._rooms[room] = {sid: None}
                self._epoch += 1
                self._born[room] = self._epoch
            else:
                members[sid] = None
        if self.engine.notices:
            if created:
                outputs.append(RoomCreated(nsp=self.name, room=room))
            outputs.append(RoomJoined(nsp=self.name, room=room, sid=sid))

    def _remove(self, sid: str, rooms: Iterable[Room], outputs: list[Output]) -> None:
        """Take ``sid`` out of the members of ``rooms`` (its own index, and the count of
        sockets outside their id room, are the caller's)."""
        # One call for all the rooms: a disconnect leaves several, and a call per room cost a
        # tenth of a disconnect.
        room_map = self._rooms
        notices = self.engine.notices
        for room in rooms:
            if room == sid:
                deleted = True  # its id room, in no index but the socket's own
            else:
                members = room_map[room]
                del members[sid]
                deleted = not members
                if deleted:
                    del room_map[room]
                    del self._born[room]
            if notices:
                outputs.append(RoomLeft(nsp=self.name, room=room, sid=sid))
                if deleted:
                    outputs.append(RoomDeleted(nsp=self.name, room=room))

    # -- broadcast -------------------------------------------------------------------------

    def emit(
        self,
        payload: Any,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
    ) -> Deliveries:
        """Deliver ``payload`` to a selection of connected sockets, each once.

        ``rooms``: the union of these rooms (``None``, with ``sids`` also ``None``: the whole
        namespace; an empty list: nobody). ``sids``: these sockets too (one id or several).
        ``except_``: minus every member of these rooms (a socket id is a room). ``sender``:
        minus this socket, as ``socket.to(...)`` / ``socket.broadcast`` do; it may be
        disconnecting.
        """
        recipients = self._select(rooms, except_, sids, sender)
        return Deliveries(
            nsp=self.name,
            payload=payload,
            recipients=recipients.keys(),
            routes=self._routes(recipients, rooms is None and sids is None),
            volatile=volatile,
            compress=compress,
            local=local,
        )

    def select_routes(
        self,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
    ) -> Collection[Any]:
        """The routes :meth:`emit` would hand out for this selection, in delivery order, and
        nothing else: what a server needs to send a broadcast it encodes itself, once per
        event a handler forwards (no :class:`Deliveries` made)."""
        if (
            sender is not None
            and sids is None
            and except_ == ()
            and type(rooms) is tuple
            and len(rooms) == 1
        ):
            # socket.to(room).emit(...), the commonest broadcast of a chat: the members of a
            # named room (a room by name is a str), minus those not receiving, minus the
            # sender. Anything else, an id room included, goes the general way.
            members = self._rooms.get(rooms[0]) if type(rooms[0]) is str else None
            if members is not None and type(sender) is str and sender in self._rooms_of:
                result = _discard(members.copy(), self._not_receiving)
                result.pop(sender, None)
                return self._routes(result, False)
        recipients = self._select(rooms, except_, sids, sender)
        return self._routes(recipients, rooms is None and sids is None)

    def emit_with_ack(
        self,
        payload: Any,
        *,
        now: float,
        timeout: float,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        sender: str | None = None,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
        each_response: bool = False,
    ) -> list[Output]:
        """``emit``, expecting one acknowledgement per recipient within ``timeout`` seconds.

        Returns the :class:`Deliveries` (with its ``ack_id``), followed at once by an
        :class:`AckCompleted` with no responses when nobody was selected. Feed answers to
        ``ack``; ``advance`` completes it at the deadline with the answers so far. With
        ``each_response``, ``ack`` also reports every answer as it comes
        (:class:`AckReceived`), as a cluster relays them one by one.
        """
        deadline = check_time("now", now) + check_time("timeout", timeout)
        recipients = self._select(rooms, except_, sids, sender)
        ack_id = self.engine.acks.new_id()
        deliveries = Deliveries(
            nsp=self.name,
            payload=payload,
            recipients=recipients.keys(),
            routes=self._routes(recipients, rooms is None and sids is None),
            volatile=volatile,
            compress=compress,
            local=local,
            ack_id=ack_id,
        )
        if not recipients:
            return [
                deliveries,
                AckCompleted(nsp=self.name, ack_id=ack_id, responses=(), timed_out=False),
            ]
        self.engine.acks.expect(
            self.name, ack_id, recipients.copy(), deadline, each_response=each_response
        )
        return [deliveries]

    def ack(self, sid: str, ack_id: int, response: Any = None) -> list[Output]:
        """``sid`` answered the broadcast ``ack_id``; returns :class:`AckCompleted` when it
        was the last answer awaited. Unknown, late or repeated answers are ignored."""
        return self.engine.acks.receive(self.name, sid, ack_id, response)

    def _select(
        self,
        rooms: Iterable[Room] | Room | None,
        except_: Iterable[Room] | Room,
        sids: Iterable[str] | None,
        sender: str | None,
    ) -> dict[str, Any]:
        if sender is not None and _check_sid(sender) not in self._rooms_of:
            raise self._unknown(sender)
        room_map = self._rooms
        if rooms is None and sids is None:
            if sender is None and except_ == ():
                # Everyone, unfiltered: the dict itself, shared until its next change.
                self._receiving_shared = True
                return self._receiving
            result = self._receiving.copy()
        else:
            result = {}
            if rooms is not None:
                for room in normalize_rooms(rooms):
                    members = room_map.get(room)
                    if members is None:
                        # A socket's id room (that socket alone), or no room at all.
                        if self._is_id_room(room):
                            result[room] = None
                    elif result:
                        result.update(members)
                    else:
                        result = members.copy()
            if sids is not None:
                known = self._rooms_of
                if isinstance(sids, str):
                    # One socket id, as the event values accept: never its characters.
                    sids = (sids,)
                for sid in sids:
                    if _check_sid(sid) in known:
                        result[sid] = None
            result = _discard(result, self._not_receiving)
        if except_ != ():
            for room in normalize_rooms(except_):
                members = room_map.get(room)
                if members is not None:
                    result = _discard(result, members)
                elif self._is_id_room(room):
                    result.pop(room, None)
        if sender is not None:
            result.pop(sender, None)
        return result

    def _routes(self, recipients: dict[str, Any], from_receiving: bool) -> Collection[Any]:
        """The routes of ``recipients``, in order: the values of a selection made from
        ``_receiving`` (everyone, maybe filtered), else found there one by one."""
        if from_receiving:
            return recipients.values()
        if not self._routed:
            return recipients.keys()
        receiving = self._receiving
        return [receiving[sid] for sid in recipients]

    def _receiving_to_change(self) -> dict[str, Any]:
        """``_receiving``, ready to change: a new copy if a broadcast holds the current one."""
        if self._receiving_shared:
            self._receiving_shared = False
            if _refcount(self._receiving) > _ALONE:
                self._receiving = self._receiving.copy()
        return self._receiving

    # -- disconnect ------------------------------------------------------------------------

    def begin_disconnect(
        self, sid: str, reason: str = SERVER_DISCONNECT, *, close_connection: bool = False
    ) -> list[Output]:
        """Start the two-phase disconnect: rooms stay intact, the socket receives nothing.

        Returns :class:`SocketDisconnecting`; call ``finish_disconnect`` when the host's
        *disconnecting* work (handlers, a "left" notice to the rooms) is done.
        """
        next_state(self.state_of(sid), _BEGIN_DISCONNECT, sid)
        del self._receiving_to_change()[sid]
        self._not_receiving[sid] = _DISCONNECTING
        self._disconnect_reasons[sid] = (reason, close_connection)
        return [new_output(SocketDisconnecting, (self.name, sid, reason, close_connection))]

    def finish_disconnect(self, sid: str) -> list[Output]:
        """End the disconnect: leave every room (empty ones are deleted), forget ``sid``."""
        next_state(self.state_of(sid), _FINISH_DISCONNECT, sid)
        reason, _ = self._disconnect_reasons.pop(sid)
        outputs = self._forget(sid, [])
        outputs.append(new_output(SocketDisconnected, (self.name, sid, reason)))
        return outputs

    def disconnect(self, sid: str, reason: str = SERVER_DISCONNECT) -> list[Output]:
        """Both phases at once (nothing to do while disconnecting). A pending socket is just
        forgotten, like a refused one."""
        if self._receiving_shared:
            self._receiving_to_change()  # (a copy, if it must, before the socket leaves it)
        # Routes are never None: a connected socket is one that this pops.
        if type(sid) is not str or self._receiving.pop(sid, None) is None:
            state = self.state_of(sid)
            next_state(state, _DISCONNECT, sid)
            if state is _PENDING:
                return self._forget(sid, [])
            return self.finish_disconnect(sid)  # disconnecting
        # Connected (legal whatever the reason, so no transition to look up): what
        # begin_disconnect then finish_disconnect would do and return, in one pass. The
        # socket never sits in _not_receiving, as nothing can run between the two.
        joined = self._rooms_of.pop(sid)
        name = self.name
        if self.engine.notices:
            outputs: list[Output] = [new_output(SocketDisconnecting, (name, sid, reason, False))]
            if sid not in joined:
                self._outside_id_room -= 1
            self._remove(sid, joined, outputs)
            outputs.append(new_output(SocketDisconnected, (name, sid, reason)))
            return outputs
        # _remove's work without notices, done here (the call was a tenth of the cost). The id
        # room is in no other index: skipped, and noted.
        in_id_room = False
        room_map = self._rooms
        for room in joined:
            if room == sid:
                in_id_room = True
                continue
            members = room_map[room]
            del members[sid]
            if not members:
                del room_map[room]
                del self._born[room]
        if not in_id_room:
            self._outside_id_room -= 1
        return [
            new_output(SocketDisconnecting, (name, sid, reason, False)),
            new_output(SocketDisconnected, (name, sid, reason)),
        ]

    def _forget(self, sid: str, outputs: list[Output]) -> list[Output]:
        joined = self._rooms_of.pop(sid)
        if sid not in joined:
            self._outside_id_room -= 1
        self._remove(sid, joined, outputs)
        # Only pending and disconnecting sockets are forgotten: never one in _receiving. A
        # pending one has a parked route; a disconnecting one does not.
        del self._not_receiving[sid]
        self._parked_routes.pop(sid, None)
        return outputs

    # -- bulk operations -------------------------------------------------------------------

    def sockets_join(
        self,
        join: Iterable[Room] | Room,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
    ) -> list[Output]:
        """Every connected socket of the selection joins ``join``."""
        names = normalize_rooms(join)
        selected = self._select(rooms, except_, sids, None)
        for room in names:
            if room in self._rooms_of and (len(selected) > 1 or room not in selected):
                raise LocalProtocolError(f"sockets cannot join the id room of {room!r}")
        outputs: list[Output] = []
        for sid in selected:
            outputs += self.join(sid, names)
        return outputs

    def sockets_leave(
        self,
        leave: Iterable[Room] | Room,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
    ) -> list[Output]:
        """Every connected socket of the selection leaves ``leave``."""
        names = normalize_rooms(leave)
        outputs: list[Output] = []
        for sid in self._select(rooms, except_, sids, None):
            outputs += self.leave(sid, names)
        return outputs

    def disconnect_sockets(
        self,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        sids: Iterable[str] | None = None,
        close_connection: bool = False,
        reason: str = SERVER_DISCONNECT,
    ) -> list[Output]:
        """Begin the disconnect of every connected socket of the selection.

        One :class:`SocketDisconnecting` per socket tells the host what to close: this
        namespace only, or the whole connection when ``close_connection``. The host then
        calls ``finish_disconnect`` for each.
        """
        outputs: list[Output] = []
        for sid in self._select(rooms, except_, sids, None):
            outputs += self.begin_disconnect(sid, reason, close_connection=close_connection)
        return outputs

    def close_room(self, room: Room) -> list[Output]:
        """Every member leaves ``room`` (which is then gone). A socket's id room cannot be
        closed: leave it from that socket instead."""
        room = normalize_room(room)
        if room in self._rooms_of:
            raise LocalProtocolError(f"cannot close the id room of socket {room!r}")
        members = self._rooms.get(room)
        outputs: list[Output] = []
        if members is None:
            return outputs
        for sid in tuple(members):
            del self._rooms_of[sid][room]
            self._remove(sid, (room,), outputs)
        return outputs

    def _unknown(self, sid: object) -> UnknownSocketError:
        return UnknownSocketError(
            f"socket {sid!r} is not in namespace {self.name!r} "
            "(it never connected, or has already disconnected)"
        )


def _discard(result: dict[str, Any], drop: dict[str, Any]) -> dict[str, Any]:
    """Remove the keys of ``drop`` from ``result``, walking the smaller of the two."""
    if not drop:
        return result
    if len(drop) <= len(result):
        pop = result.pop
        for sid in drop:
            pop(sid, None)
        return result
    return {sid: route for sid, route in result.items() if sid not in drop}


# -- dispatch of event values (RoomEngine.handle) ---------------------------------------------


def _selection(
    event: ev.Emit | ev.EmitWithAck | ev.SocketsJoin | ev.SocketsLeave | ev.DisconnectSockets,
) -> dict[str, Any]:
    return {"rooms": event.rooms, "except_": event.except_, "sids": event.sids}


def _flags(event: ev.Emit | ev.EmitWithAck) -> dict[str, Any]:
    return {
        "sender": event.sender,
        "volatile": event.volatile,
        "compress": event.compress,
        "local": event.local,
    }


_HANDLERS: Final[dict[type, Callable[[RoomEngine, Any], list[Output]]]] = {
    ev.Connect: lambda e, x: e.namespace(x.nsp).connect(x.sid, pending=x.pending),
    ev.Accept: lambda e, x: e.namespace(x.nsp).accept(x.sid),
    ev.Refuse: lambda e, x: e.namespace(x.nsp).refuse(x.sid),
    ev.Join: lambda e, x: e.namespace(x.nsp).join(x.sid, x.rooms),
    ev.Leave: lambda e, x: e.namespace(x.nsp).leave(x.sid, x.rooms),
    ev.Emit: lambda e, x: [e.namespace(x.nsp).emit(x.payload, **_selection(x), **_flags(x))],
    ev.EmitWithAck: lambda e, x: e.namespace(x.nsp).emit_with_ack(
        x.payload,
        now=x.now,
        timeout=x.timeout,
        each_response=x.each_response,
        **_selection(x),
        **_flags(x),
    ),
    ev.Ack: lambda e, x: e.namespace(x.nsp).ack(x.sid, x.ack_id, x.response),
    ev.BeginDisconnect: lambda e, x: e.namespace(x.nsp).begin_disconnect(
        x.sid, x.reason, close_connection=x.close_connection
    ),
    ev.FinishDisconnect: lambda e, x: e.namespace(x.nsp).finish_disconnect(x.sid),
    ev.Disconnect: lambda e, x: e.namespace(x.nsp).disconnect(x.sid, x.reason),
    ev.SocketsJoin: lambda e, x: e.namespace(x.nsp).sockets_join(x.join, **_selection(x)),
    ev.SocketsLeave: lambda e, x: e.namespace(x.nsp).sockets_leave(x.leave, **_selection(x)),
    ev.DisconnectSockets: lambda e, x: e.namespace(x.nsp).disconnect_sockets(
        close_connection=x.close_connection, reason=x.reason, **_selection(x)
    ),
    ev.CloseRoom: lambda e, x: e.namespace(x.nsp).close_room(x.room),
    ev.TimePassed: lambda e, x: e.advance(x.now),
}
