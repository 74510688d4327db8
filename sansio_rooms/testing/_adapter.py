"""What the state machine drives: a small adapter protocol, optional extras, and our engine.

An adapter is anything that keeps rooms: a user's dict-of-sets, a Redis-backed store, a port
of this engine. :class:`RoomsAdapter` is the part every adapter has; the other protocols are
capabilities the machine exercises only when told the adapter has them (its ``supports_*``
class attributes). :class:`EngineAdapter` puts our :class:`RoomEngine` behind all of them.

Mutating methods return ``object``: the machine ignores what they return unless its
``check_outputs`` (or ``supports_notices``) is on, and then expects the engine's output
values (or only the room notices). Room arguments come as people pass them (the machine's
``room_forms``): one bare room, a list, a tuple, a set, an iterator; the ``Sequence[Room]``
hints below are the common case. When the machine tests refusals (``check_errors``) it also
passes values that are not rooms at all, which the profile refuses.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from .._engine import RoomEngine
from .._names import Room
from .._outputs import Output
from .._state import SocketState
from ._harness import sequential_ids

__all__ = [
    "CAPABILITIES",
    "AckAdapter",
    "BulkAdapter",
    "EngineAdapter",
    "PendingAdapter",
    "RoomsAdapter",
    "StatesAdapter",
]


#: The methods each capability needs: "" is what every adapter has, the others are named
#: after the state machine's class attribute that turns them on ("not x": on unless x).
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "": ("connect", "join", "leave", "disconnect", "broadcast", "rooms_of", "rooms", "members"),
    "not synchronous_disconnect": ("begin_disconnect", "finish_disconnect"),
    "supports_pending": ("connect_pending", "accept", "refuse"),
    "supports_states": ("state_of", "sockets"),
    "supports_bulk": ("members_of", "sockets_join", "sockets_leave", "disconnect_sockets"),
    "supports_close_room": ("close_room",),
    "supports_acks": ("emit_with_ack", "ack", "advance", "next_deadline"),
}


class RoomsAdapter(Protocol):
    """The operations every adapter under test provides (``nsp`` is a normalised name)."""

    def connect(self, nsp: str, sid: str) -> object:
        """Connect ``sid``: it is in its id room and receives broadcasts."""
        ...

    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> object: ...

    def leave(self, nsp: str, sid: str, rooms: Sequence[Room]) -> object: ...

    def begin_disconnect(self, nsp: str, sid: str) -> object:
        """Rooms stay intact and readable; the socket no longer receives."""
        ...

    def finish_disconnect(self, nsp: str, sid: str) -> object:
        """Leave every room (empty rooms disappear) and forget ``sid``."""
        ...

    def disconnect(self, nsp: str, sid: str) -> object:
        """Both phases at once (a disconnecting socket only finishes)."""
        ...

    def broadcast(
        self, nsp: str, rooms: Sequence[Room] | None, except_: Sequence[Room], sender: str | None
    ) -> Iterable[str]:
        """The recipients of a broadcast, in delivery order. ``rooms=None``: everybody."""
        ...

    def rooms_of(self, nsp: str, sid: str) -> Iterable[Room]: ...

    def rooms(self, nsp: str) -> Iterable[Room]:
        """Every room of the namespace, id rooms included."""
        ...

    def members(self, nsp: str, room: Room) -> Iterable[str]:
        """Every member of ``room`` in any state (nothing if there is no such room)."""
        ...


class PendingAdapter(Protocol):
    """``supports_pending``: sockets whose connection is not yet accepted."""

    def connect_pending(self, nsp: str, sid: str) -> object: ...

    def accept(self, nsp: str, sid: str) -> object: ...

    def refuse(self, nsp: str, sid: str) -> object: ...


class StatesAdapter(Protocol):
    """``supports_states``: the state of each socket, and the list of sockets."""

    def state_of(self, nsp: str, sid: str) -> SocketState: ...

    def sockets(self, nsp: str) -> Iterable[str]:
        """Every socket in any state, in registration order."""
        ...


class BulkAdapter(Protocol):
    """``supports_bulk``: operations on a selection (``sids`` adds explicit sockets)."""

    def members_of(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> Iterable[str]: ...

    def sockets_join(
        self,
        nsp: str,
        join: Sequence[Room],
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> object: ...

    def sockets_leave(
        self,
        nsp: str,
        leave: Sequence[Room],
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> object: ...

    def disconnect_sockets(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> object:
        """Begin the disconnect of every selected socket."""
        ...

    def close_room(self, nsp: str, room: Room) -> object: ...


class AckAdapter(Protocol):
    """``supports_acks``: broadcasts with acknowledgements, time passed in by hand.

    These return output values: ``emit_with_ack`` a ``Deliveries`` with its ``ack_id``
    (followed by ``AckCompleted`` when nobody was selected), ``ack`` and ``advance`` the
    ``AckCompleted`` they cause.
    """

    def emit_with_ack(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sender: str | None,
        now: float,
        timeout: float,
    ) -> Sequence[Output]: ...

    def ack(self, nsp: str, sid: str, ack_id: int, response: Any) -> Sequence[Output]: ...

    def advance(self, now: float) -> Sequence[Output]: ...

    def next_deadline(self) -> float | None: ...


def _one_or_many(rooms: object) -> Any:
    # A one-room list is passed as the bare room, so that the engine's one-room fast path is
    # exercised too; anything else (including values that are not rooms) as it is.
    if type(rooms) is list and len(rooms) == 1 and type(rooms[0]) in (str, int):
        return rooms[0]
    return rooms


class EngineAdapter:
    """Our :class:`RoomEngine` behind every adapter protocol (room notices on)."""

    def __init__(self, engine: RoomEngine | None = None) -> None:
        self.engine = (
            engine
            if engine is not None
            else RoomEngine(id_factory=sequential_ids("s"), notices=True)
        )

    def connect(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).connect(sid)

    def connect_pending(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).connect(sid, pending=True)

    def accept(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).accept(sid)

    def refuse(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).refuse(sid)

    def join(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return self.engine.namespace(nsp).join(sid, _one_or_many(rooms))

    def leave(self, nsp: str, sid: str, rooms: Sequence[Room]) -> list[Output]:
        return self.engine.namespace(nsp).leave(sid, _one_or_many(rooms))

    def begin_disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).begin_disconnect(sid)

    def finish_disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).finish_disconnect(sid)

    def disconnect(self, nsp: str, sid: str) -> list[Output]:
        return self.engine.namespace(nsp).disconnect(sid)

    def broadcast(
        self, nsp: str, rooms: Sequence[Room] | None, except_: Sequence[Room], sender: str | None
    ) -> list[str]:
        deliveries = self.engine.namespace(nsp).emit(
            object(),
            rooms=_one_or_many(rooms),
            except_=except_,
            sender=sender,
        )
        return list(deliveries.recipients)

    def rooms_of(self, nsp: str, sid: str) -> tuple[Room, ...]:
        return self.engine.namespace(nsp).rooms_of(sid)

    def rooms(self, nsp: str) -> tuple[Room, ...]:
        return self.engine.namespace(nsp).rooms()

    def members(self, nsp: str, room: Room) -> Collection[str]:
        # members(), not members_of(): the machine checks the room index itself, pending and
        # disconnecting members included, in join order.
        return self.engine.namespace(nsp).members(room)

    def state_of(self, nsp: str, sid: str) -> SocketState:
        return self.engine.namespace(nsp).state_of(sid)

    def sockets(self, nsp: str) -> tuple[str, ...]:
        return self.engine.namespace(nsp).sockets()

    def members_of(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> tuple[str, ...]:
        return self.engine.namespace(nsp).members_of(rooms, except_=except_, sids=sids)

    def sockets_join(
        self,
        nsp: str,
        join: Sequence[Room],
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> list[Output]:
        return self.engine.namespace(nsp).sockets_join(
            join, rooms=rooms, except_=except_, sids=sids
        )

    def sockets_leave(
        self,
        nsp: str,
        leave: Sequence[Room],
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> list[Output]:
        return self.engine.namespace(nsp).sockets_leave(
            leave, rooms=rooms, except_=except_, sids=sids
        )

    def disconnect_sockets(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sids: Sequence[str] | None,
    ) -> list[Output]:
        return self.engine.namespace(nsp).disconnect_sockets(
            rooms=rooms, except_=except_, sids=sids
        )

    def close_room(self, nsp: str, room: Room) -> list[Output]:
        return self.engine.namespace(nsp).close_room(room)

    def emit_with_ack(
        self,
        nsp: str,
        rooms: Sequence[Room] | None,
        except_: Sequence[Room],
        sender: str | None,
        now: float,
        timeout: float,
    ) -> list[Output]:
        return self.engine.namespace(nsp).emit_with_ack(
            object(), now=now, timeout=timeout, rooms=rooms, except_=except_, sender=sender
        )

    def ack(self, nsp: str, sid: str, ack_id: int, response: Any) -> list[Output]:
        return self.engine.namespace(nsp).ack(sid, ack_id, response)

    def advance(self, now: float) -> list[Output]:
        return self.engine.advance(now)

    def next_deadline(self) -> float | None:
        return self.engine.next_deadline()
