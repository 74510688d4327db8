"""What the engine hands back: deliveries, room notices, ack results, disconnect orders.

Every mutating call returns a ``list`` of these, in the order they happened; the state they
describe is already committed when the list is returned. ``emit`` returns one
:class:`Deliveries` directly, since that is all it can produce.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from itertools import repeat
from typing import Any, TypeAlias, final

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


@final
@attrs.frozen(kw_only=True)
class Connected:
    """The socket ``sid`` is connected to ``nsp``: it is in its id room and receives."""

    nsp: str
    sid: str


@final
@attrs.frozen(kw_only=True)
class RoomCreated:
    """Room notice (``create-room``): ``room`` now exists in ``nsp``."""

    nsp: str
    room: Room


@final
@attrs.frozen(kw_only=True)
class RoomJoined:
    """Room notice (``join-room``): ``sid`` joined ``room``."""

    nsp: str
    room: Room
    sid: str


@final
@attrs.frozen(kw_only=True)
class RoomLeft:
    """Room notice (``leave-room``): ``sid`` left ``room``."""

    nsp: str
    room: Room
    sid: str


@final
@attrs.frozen(kw_only=True)
class RoomDeleted:
    """Room notice (``delete-room``): ``room`` became empty and no longer exists."""

    nsp: str
    room: Room


@final
@attrs.frozen(kw_only=True)
class SocketDisconnecting:
    """``sid`` entered the *disconnecting* phase: its rooms are intact and readable, it may
    still broadcast to them, it receives nothing. The host runs its ``disconnecting``
    handlers, tells the client (a DISCONNECT packet, or closing the whole connection when
    ``close_connection``), then calls ``finish_disconnect``."""

    nsp: str
    sid: str
    reason: str
    close_connection: bool = False


@final
@attrs.frozen(kw_only=True)
class SocketDisconnected:
    """``sid`` has left every room and is gone from ``nsp``; its id is free of state."""

    nsp: str
    sid: str
    reason: str


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


# -- positional constructors for the engine's hot paths ---------------------------------------
#
# Calling an attrs class with keywords builds a dict of them, and its frozen ``__init__`` sets
# each field through a bound ``object.__setattr__``: 1.4 µs for a Connected on the bench
# machine, the largest item in the profile of a connect, and two of them in a disconnect.
# These make the very same frozen values (same class, so the same equality, hash and repr) by
# calling each slot's descriptor, which is what ``object.__setattr__`` ends up doing, for
# about half the cost. The classes have no validators or converters to skip, and the engine
# has checked the values already. tests/test_engine_speed_paths.py checks that each makes what
# its class makes and sets every field.

_new = object.__new__


def _slot_setter(cls: type, name: str) -> Any:
    return cls.__dict__[name].__set__


_set_connected_nsp = _slot_setter(Connected, "nsp")
_set_connected_sid = _slot_setter(Connected, "sid")
_set_disconnecting_nsp = _slot_setter(SocketDisconnecting, "nsp")
_set_disconnecting_sid = _slot_setter(SocketDisconnecting, "sid")
_set_disconnecting_reason = _slot_setter(SocketDisconnecting, "reason")
_set_disconnecting_close_connection = _slot_setter(SocketDisconnecting, "close_connection")
_set_disconnected_nsp = _slot_setter(SocketDisconnected, "nsp")
_set_disconnected_sid = _slot_setter(SocketDisconnected, "sid")
_set_disconnected_reason = _slot_setter(SocketDisconnected, "reason")


def make_connected(nsp: str, sid: str) -> Connected:
    """``Connected(nsp=nsp, sid=sid)``, faster."""
    output = _new(Connected)
    _set_connected_nsp(output, nsp)
    _set_connected_sid(output, sid)
    return output


def make_socket_disconnecting(
    nsp: str, sid: str, reason: str, close_connection: bool
) -> SocketDisconnecting:
    """``SocketDisconnecting(nsp=..., sid=..., reason=..., close_connection=...)``, faster."""
    output = _new(SocketDisconnecting)
    _set_disconnecting_nsp(output, nsp)
    _set_disconnecting_sid(output, sid)
    _set_disconnecting_reason(output, reason)
    _set_disconnecting_close_connection(output, close_connection)
    return output


def make_socket_disconnected(nsp: str, sid: str, reason: str) -> SocketDisconnected:
    """``SocketDisconnected(nsp=nsp, sid=sid, reason=reason)``, faster."""
    output = _new(SocketDisconnected)
    _set_disconnected_nsp(output, nsp)
    _set_disconnected_sid(output, sid)
    _set_disconnected_reason(output, reason)
    return output


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
