"""What the engine hands back: deliveries, room notices, ack results, disconnect orders.

Every mutating call returns a ``list`` of these, in the order they happened; the state they
describe is already committed when the list is returned. ``emit`` returns one
:class:`Deliveries` directly, since that is all it can produce.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterator
from itertools import repeat
from operator import itemgetter
from typing import Any, ClassVar, Final, TypeAlias, final

import attrs

from ._names import Room

__all__ = [
    "AckCompleted",
    "AckReceived",
    "Connected",
    "Deliveries",
    "Output",
    "RoomCreated",
    "RoomDeleted",
    "RoomJoined",
    "RoomLeft",
    "SocketDisconnected",
    "SocketDisconnecting",
]


@final
class Deliveries:
    """One payload for a set of recipients: the grouped form of ``(sid, payload)`` pairs.

    Iterating gives ``(sid, payload)`` pairs in delivery order (target-room order, then join
    order). ``recipients`` is an ordered, read-only collection of socket ids and ``payload``
    is the very object given to ``emit``, shared by every recipient (encode it once).
    A host on a hot path should loop over ``recipients`` and use ``payload`` directly: it
    avoids building a tuple per recipient.

    ``routes`` holds, in the same order, each recipient's route: the object its host gave at
    connect (``Namespace.connect(route=...)``), its id otherwise. A server that passes its
    connection objects there loops over ``routes`` and finds no recipient by id. Routes are
    the host's own objects: they take no part in equality or the repr.

    ``volatile``, ``compress`` and ``local`` are the emit's flags, carried for the transport
    (volatile: may be dropped where the transport is not writable; compress: a hint;
    local: not to be published to a cluster). ``ack_id`` is set when the emit expects an
    acknowledgement from each recipient.
    """

    __slots__ = (
        "ack_id",
        "compress",
        "local",
        "nsp",
        "payload",
        "recipients",
        "routes",
        "volatile",
    )

    nsp: str
    payload: Any
    recipients: Collection[str]
    routes: Collection[Any]
    volatile: bool
    compress: bool
    local: bool
    ack_id: int | None

    def __init__(
        self,
        *,
        nsp: str,
        payload: Any,
        recipients: Collection[str],
        routes: Collection[Any] | None = None,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
        ack_id: int | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "nsp", nsp)
        setattr_(self, "payload", payload)
        setattr_(self, "recipients", recipients)
        setattr_(self, "routes", recipients if routes is None else routes)
        setattr_(self, "volatile", volatile)
        setattr_(self, "compress", compress)
        setattr_(self, "local", local)
        setattr_(self, "ack_id", ack_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return zip(self.recipients, repeat(self.payload), strict=False)

    def __len__(self) -> int:
        return len(self.recipients)

    def _key(self) -> tuple[object, ...]:
        return (
            self.nsp,
            self.payload,
            tuple(self.recipients),
            self.volatile,
            self.compress,
            self.local,
            self.ack_id,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not Deliveries:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Deliveries(nsp={self.nsp!r}, payload={self.payload!r}, "
            f"recipients={list(self.recipients)!r}, volatile={self.volatile!r}, "
            f"compress={self.compress!r}, local={self.local!r}, ack_id={self.ack_id!r})"
        )


class _Record(tuple[Any, ...]):
    """An output made for each socket that connects or goes (and each room notice): a tuple
    underneath, read by field name, built by keyword like the other values.

    The engine makes one or two of these per connect and disconnect, which is where a server
    spends its time when clients come and go. A ``SocketDisconnecting`` took 0.58 µs to build
    as an attrs value by keyword on the bench machine, 0.27 µs through its slot descriptors,
    and takes 0.12 µs as a tuple: the engine calls ``new_output(cls, values)``, with the
    values in field order. Anyone else calls the class with keywords (0.36 µs), as for the
    other outputs.

    Otherwise they behave as the frozen attrs values they were: equal only to a value of the
    same class with the same fields (never to a plain tuple, nor to another class of output
    with the same fields), hashable, immutable, with the same repr, no order, and matched in
    ``match`` statements by keyword (``case Connected(sid=sid)``).
    """

    __slots__ = ()
    #: The field names, in the order of the tuple's items (set from the annotations).
    _fields: ClassVar[tuple[str, ...]] = ()
    # Keyword patterns only, as for attrs' kw_only classes: without this a tuple subclass
    # would match ``case Connected(x)`` as the whole value.
    __match_args__ = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        annotations = inspect.get_annotations(cls)
        cls._fields = tuple(annotations)
        for index, name in enumerate(cls._fields):
            doc = f"The ``{name}`` field (``{annotations[name]}``), item {index} of the tuple."
            setattr(cls, name, property(itemgetter(index), doc=doc))

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return tuple.__eq__(self, other)
        # A plain tuple (or another output) with the same items is another value; anything
        # else may know better (``mock.ANY``), as it may with an attrs value.
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    # Defining __eq__ unsets the inherited hash: equal values are equal tuples.
    __hash__ = tuple.__hash__

    def _unordered(self, other: object) -> bool:
        # Raised, not NotImplemented: Python would then compare the tuples underneath.
        raise TypeError(f"{type(self).__name__} values are not ordered")

    __lt__ = __le__ = __gt__ = __ge__ = _unordered

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, Any]]:
        # copy and pickle rebuild the value through the keyword constructor.
        return (), dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        pairs = zip(self._fields, self, strict=True)
        return f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in pairs)})"


#: ``new_output(Connected, (nsp, sid))`` is ``Connected(nsp=nsp, sid=sid)`` without the
#: keywords, for the engine's hot paths: the values in field order, unchecked.
new_output: Final = tuple.__new__


@final
class Connected(_Record):
    """The socket ``sid`` is connected to ``nsp``: it is in its id room and receives."""

    __slots__ = ()
    nsp: str
    sid: str

    def __new__(cls, *, nsp: str, sid: str) -> Connected:
        return new_output(cls, (nsp, sid))


@final
class RoomCreated(_Record):
    """Room notice (``create-room``): ``room`` now exists in ``nsp``."""

    __slots__ = ()
    nsp: str
    room: Room

    def __new__(cls, *, nsp: str, room: Room) -> RoomCreated:
        return new_output(cls, (nsp, room))


@final
class RoomJoined(_Record):
    """Room notice (``join-room``): ``sid`` joined ``room``."""

    __slots__ = ()
    nsp: str
    room: Room
    sid: str

    def __new__(cls, *, nsp: str, room: Room, sid: str) -> RoomJoined:
        return new_output(cls, (nsp, room, sid))


@final
class RoomLeft(_Record):
    """Room notice (``leave-room``): ``sid`` left ``room``."""

    __slots__ = ()
    nsp: str
    room: Room
    sid: str

    def __new__(cls, *, nsp: str, room: Room, sid: str) -> RoomLeft:
        return new_output(cls, (nsp, room, sid))


@final
class RoomDeleted(_Record):
    """Room notice (``delete-room``): ``room`` became empty and no longer exists."""

    __slots__ = ()
    nsp: str
    room: Room

    def __new__(cls, *, nsp: str, room: Room) -> RoomDeleted:
        return new_output(cls, (nsp, room))


@final
class SocketDisconnecting(_Record):
    """``sid`` entered the *disconnecting* phase: its rooms are intact and readable, it may
    still broadcast to them, it receives nothing. The host runs its ``disconnecting``
    handlers, tells the client (a DISCONNECT packet, or closing the whole connection when
    ``close_connection``), then calls ``finish_disconnect``."""

    __slots__ = ()
    nsp: str
    sid: str
    reason: str
    close_connection: bool

    def __new__(
        cls, *, nsp: str, sid: str, reason: str, close_connection: bool = False
    ) -> SocketDisconnecting:
        return new_output(cls, (nsp, sid, reason, close_connection))


@final
class SocketDisconnected(_Record):
    """``sid`` has left every room and is gone from ``nsp``; its id is free of state."""

    __slots__ = ()
    nsp: str
    sid: str
    reason: str

    def __new__(cls, *, nsp: str, sid: str, reason: str) -> SocketDisconnected:
        return new_output(cls, (nsp, sid, reason))


@final
@attrs.frozen(kw_only=True)
class AckCompleted:
    """A broadcast with acknowledgements is over.

    ``responses`` holds one response per recipient that answered, in arrival order. When
    ``timed_out`` is true the deadline passed first and ``responses`` is partial (Socket.IO
    reports this as the error "operation has timed out" with ``err.responses``).
    """

    nsp: str
    ack_id: int
    responses: tuple[Any, ...]
    timed_out: bool


@final
@attrs.frozen(kw_only=True)
class AckReceived:
    """One recipient answered a broadcast that asked for each answer as it comes
    (``each_response``); its :class:`AckCompleted` still follows."""

    nsp: str
    ack_id: int
    sid: str
    response: Any


Output: TypeAlias = (
    Deliveries
    | Connected
    | RoomCreated
    | RoomJoined
    | RoomLeft
    | RoomDeleted
    | SocketDisconnecting
    | SocketDisconnected
    | AckReceived
    | AckCompleted
)
