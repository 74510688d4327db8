"""Hypothesis strategies for the rooms engine's inputs.

The pools are small on purpose: with four socket ids and a handful of room names, generated
operations keep running into each other (the same room joined twice, a room named like a
socket, ``42`` next to ``"42"``, an operation on a socket that has just left), which is where
the bugs are. Widen them with the keyword arguments when a test needs variety instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from .. import _events as ev
from .._names import Room

__all__ = [
    "INVALID_KINDS",
    "events",
    "invalid_room_names",
    "namespaces",
    "operation_sequences",
    "room_names",
    "socket_ids",
]

#: Socket ids for generated operations: few, so that they collide. "42" is also a room name.
SOCKET_IDS: tuple[str, ...] = ("a", "b", "c", "42")
#: Room names: str and int mixed, with "42" and 42 both present (two different rooms), the
#: empty string (a valid name) and a name equal to a socket id.
ROOM_NAMES: tuple[Room, ...] = ("r", "s", "42", 42, 0, "", "a")
#: Namespaces under the spellings a user may write: "chat" is "/chat", "" is "/".
NAMESPACES: tuple[str, ...] = ("/", "/chat", "chat", "")


def socket_ids() -> st.SearchStrategy[str]:
    """Valid socket ids: non-empty strings, mostly from a small pool so that they repeat."""
    return st.one_of(st.sampled_from(SOCKET_IDS), st.text(alphabet="ab42", min_size=1, max_size=2))


def room_names() -> st.SearchStrategy[Room]:
    """Valid room names, ``str`` and ``int``, short so that they collide."""
    return st.one_of(
        st.sampled_from(ROOM_NAMES),
        st.text(alphabet="ab42", max_size=2),
        st.integers(min_value=-1, max_value=42),
    )


def namespaces() -> st.SearchStrategy[str]:
    """Namespace names, including the spellings that normalise to the same namespace."""
    return st.sampled_from(NAMESPACES)


#: The kinds of values that are not rooms (``invalid_room_names(kinds)``): each alone, and
#: inside a list of rooms.
INVALID_KINDS: tuple[str, ...] = ("none", "bool", "bytes", "float", "dict", "object", "nested")


def invalid_room_names(kinds: Sequence[str] = INVALID_KINDS) -> st.SearchStrategy[object]:
    """Values the engine must refuse with ``InvalidRoomError``, as a room name and as the
    ``rooms`` argument of join/leave/except alike. (``None`` is a valid *selection* —
    the whole namespace — but never a room.) ``kinds`` narrows them to some of
    ``INVALID_KINDS``."""
    unknown = set(kinds) - set(INVALID_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {INVALID_KINDS}, not {kinds!r}")
    alone: dict[str, st.SearchStrategy[object]] = {
        "none": st.none(),
        "bool": st.booleans(),
        "bytes": st.sampled_from([b"r", bytearray(b"r")]) | st.binary(max_size=3),
        "float": st.floats(allow_nan=True),
        "dict": st.sampled_from([{"r": 1}])
        | st.dictionaries(st.text(max_size=1), st.integers(), max_size=1),
        "object": st.builds(object),
        "nested": st.lists(room_names(), max_size=1),
    }
    inside = st.one_of(*(alone[kind] for kind in kinds))
    return st.one_of(
        *(alone[kind] for kind in kinds if kind != "nested"),
        st.lists(inside, min_size=1, max_size=3),
        st.tuples(st.sampled_from(ROOM_NAMES), inside).map(list),
    )


def _rooms(pool: Sequence[Room]) -> st.SearchStrategy[tuple[Room, ...]]:
    return st.lists(st.sampled_from(pool), max_size=3).map(tuple)


def events(
    *,
    namespaces: Sequence[str] = ("/", "/chat"),
    sids: Sequence[str] = SOCKET_IDS,
    rooms: Sequence[Room] = ROOM_NAMES,
    max_ack_id: int = 3,
) -> st.SearchStrategy[ev.Event]:
    """One event value over small pools. Nothing makes it legal: it may name a socket that
    never connected, join a room while disconnecting, connect an id twice. The engine must
    answer each with outputs or a documented error."""
    # Socket ids are rooms too: targeting, excluding or joining them is part of the game.
    room_pool: tuple[Room, ...] = (*rooms, *sids)
    nsp = st.sampled_from(namespaces)
    sid = st.sampled_from(sids)
    some_rooms = _rooms(room_pool)
    selection = {
        "rooms": st.none() | some_rooms,
        "except_": some_rooms,
        "sids": st.none() | st.lists(sid, max_size=2).map(tuple),
    }
    flags = {"volatile": st.booleans(), "compress": st.booleans(), "local": st.booleans()}
    times = st.sampled_from([0, 0.5, 1, 2.5, 10])
    return st.one_of(
        st.builds(ev.Connect, nsp=nsp, sid=sid, pending=st.booleans()),
        st.builds(ev.Accept, nsp=nsp, sid=sid),
        st.builds(ev.Refuse, nsp=nsp, sid=sid),
        st.builds(ev.Join, nsp=nsp, sid=sid, rooms=st.sampled_from(room_pool) | some_rooms),
        st.builds(ev.Leave, nsp=nsp, sid=sid, rooms=st.sampled_from(room_pool) | some_rooms),
        st.builds(
            ev.Emit,
            nsp=nsp,
            payload=st.integers(0, 9),
            sender=st.none() | sid,
            **selection,
            **flags,
        ),
        st.builds(
            ev.EmitWithAck,
            nsp=nsp,
            payload=st.integers(0, 9),
            now=times,
            timeout=times,
            sender=st.none() | sid,
            **selection,
            **flags,
        ),
        st.builds(
            ev.Ack,
            nsp=nsp,
            sid=sid,
            ack_id=st.integers(0, max_ack_id),
            response=st.integers(0, 9),
        ),
        st.builds(
            ev.BeginDisconnect,
            nsp=nsp,
            sid=sid,
            reason=st.sampled_from(["transport close", "server namespace disconnect"]),
            close_connection=st.booleans(),
        ),
        st.builds(ev.FinishDisconnect, nsp=nsp, sid=sid),
        st.builds(ev.Disconnect, nsp=nsp, sid=sid, reason=st.just("client namespace disconnect")),
        st.builds(ev.SocketsJoin, nsp=nsp, join=some_rooms, **selection),
        st.builds(ev.SocketsLeave, nsp=nsp, leave=some_rooms, **selection),
        st.builds(ev.DisconnectSockets, nsp=nsp, close_connection=st.booleans(), **selection),
        st.builds(ev.CloseRoom, nsp=nsp, room=st.sampled_from(room_pool)),
        st.builds(ev.TimePassed, now=times),
    )


def operation_sequences(
    *,
    namespaces: Sequence[str] = ("/", "/chat"),
    sids: Sequence[str] = SOCKET_IDS,
    rooms: Sequence[Room] = ROOM_NAMES,
    min_size: int = 0,
    max_size: int = 40,
) -> st.SearchStrategy[list[ev.Event]]:
    """Lists of event values over the same small pools, so that they interact.

    Each list (``min_size`` to ``max_size`` events) starts with a few connects, as most later
    operations would only find unknown sockets otherwise, then any events, legal or not.
    """
    connect = st.builds(ev.Connect, nsp=st.sampled_from(namespaces), sid=st.sampled_from(sids))
    opening = st.lists(connect, max_size=min(len(sids), max_size))
    return opening.flatmap(
        lambda first: st.lists(
            events(namespaces=namespaces, sids=sids, rooms=rooms),
            min_size=max(0, min_size - len(first)),
            max_size=max_size - len(first),
        ).map(lambda rest: first + rest)
    )
