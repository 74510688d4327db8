"""The rooms engine: connect and ids, namespaces, join/leave, pending sockets, the two-phase
disconnect, bulk operations, close_room, queries, and the error paths (each leaves the state
exactly as it was).

Public API only. Broadcast selection and acknowledgements: test_broadcast.py; event values
and ``RoomEngine.handle``: test_events.py.
"""

from __future__ import annotations

import enum
import itertools
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from sansio_rooms import (
    TRANSITIONS,
    Connected,
    DuplicateSocketError,
    InvalidRoomError,
    InvalidStateError,
    LocalProtocolError,
    Namespace,
    Operation,
    RoomCreated,
    RoomDeleted,
    RoomEngine,
    RoomJoined,
    RoomLeft,
    SansioRoomsError,
    SocketDisconnected,
    SocketDisconnecting,
    SocketState,
    UnknownSocketError,
    default_id_factory,
)
from sansio_rooms.testing import ReferenceModel

SERVER_DISCONNECT = "server namespace disconnect"
URL_SAFE_22 = re.compile(r"[A-Za-z0-9_-]{22}")


def counting_ids(prefix: str = "s") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def make(notices: bool = True) -> tuple[RoomEngine, Namespace]:
    engine = RoomEngine(id_factory=counting_ids(), notices=notices)
    return engine, engine.namespace()


def connect_many(nsp: Namespace, *sids: str) -> None:
    for sid in sids:
        nsp.connect(sid)


def snapshot(engine: RoomEngine) -> object:
    """Everything observable through the public queries, for before/after comparisons.

    Also checks that the two indexes agree: every room's member count is the number of
    sockets that list the room.
    """
    state: dict[str, object] = {}
    for name in engine.namespaces():
        nsp = engine.namespace(name)
        sockets = nsp.sockets()
        rooms_of = {sid: nsp.rooms_of(sid) for sid in sockets}
        for room in nsp.rooms():
            listed = sum(room in rooms for rooms in rooms_of.values())
            assert nsp.count_members(room) == listed > 0
        assert sum(map(len, rooms_of.values())) == sum(map(nsp.count_members, nsp.rooms()))
        assert nsp.count_sockets() == len(sockets)
        assert nsp.count_rooms() == len(nsp.rooms())
        state[name] = (
            sockets,
            {sid: nsp.state_of(sid) for sid in sockets},
            rooms_of,
            nsp.rooms(),
            {room: nsp.members_of(room) for room in nsp.rooms()},
            nsp.members_of(),
        )
    return state, len(engine.acks), engine.next_deadline()


def gone(nsp: Namespace, sid: str) -> bool:
    with pytest.raises(UnknownSocketError):
        nsp.state_of(sid)
    with pytest.raises(UnknownSocketError):
        nsp.rooms_of(sid)
    return sid not in nsp.sockets() and not nsp.is_connected(sid)


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    TOP = 7


# -- ids and connect ----------------------------------------------------------------------------


def test_default_id_factory_makes_22_char_url_safe_unique_ids() -> None:
    ids = [default_id_factory() for _ in range(2000)]
    assert all(type(sid) is str and URL_SAFE_22.fullmatch(sid) for sid in ids)
    assert len(set(ids)) == len(ids)


def test_default_id_factory_draws_128_bits_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def token_urlsafe(nbytes: int) -> str:
        calls.append(nbytes)
        return "X" * 22

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    assert default_id_factory() == "X" * 22
    assert calls == [16]  # 16 bytes = 128 bits


def test_connect_without_id_uses_the_default_factory() -> None:
    engine = RoomEngine()
    assert engine.id_factory is default_id_factory
    nsp = engine.namespace()
    sids = []
    for _ in range(50):
        (connected,) = nsp.connect()
        assert isinstance(connected, Connected)
        assert URL_SAFE_22.fullmatch(connected.sid)
        sids.append(connected.sid)
    assert len(set(sids)) == 50
    assert nsp.sockets() == tuple(sids)


def test_connect_uses_an_injected_id_factory() -> None:
    engine = RoomEngine(id_factory=counting_ids("id-"))
    nsp = engine.namespace()
    assert nsp.connect() == [Connected(nsp="/", sid="id-1")]
    assert nsp.connect() == [Connected(nsp="/", sid="id-2")]
    assert nsp.sockets() == ("id-1", "id-2")
    # A given id does not consume the factory.
    assert nsp.connect("mine") == [Connected(nsp="/", sid="mine")]
    assert nsp.connect() == [Connected(nsp="/", sid="id-3")]


def test_connect_with_a_given_id() -> None:
    _, nsp = make(notices=False)
    assert nsp.connect("alice") == [Connected(nsp="/", sid="alice")]
    assert nsp.state_of("alice") is SocketState.CONNECTED
    assert nsp.is_connected("alice")
    assert nsp.rooms_of("alice") == ("alice",)
    assert nsp.members_of("alice") == ("alice",)


def test_connect_joins_the_id_room_with_notices_in_reference_order() -> None:
    _, nsp = make()
    assert nsp.connect("a") == [
        RoomCreated(nsp="/", room="a"),
        RoomJoined(nsp="/", room="a", sid="a"),
        Connected(nsp="/", sid="a"),
    ]


def test_connect_without_notices_returns_only_connected() -> None:
    _, nsp = make(notices=False)
    assert nsp.connect("a") == [Connected(nsp="/", sid="a")]
    assert nsp.rooms() == ("a",)


def test_connect_refuses_an_id_already_connected() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    before = snapshot(engine)
    with pytest.raises(DuplicateSocketError, match="already in '/'"):
        nsp.connect("a")
    with pytest.raises(DuplicateSocketError):
        nsp.connect("a", pending=True)
    assert snapshot(engine) == before


def test_connect_refuses_an_id_that_is_a_room_name() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", "lobby")
    before = snapshot(engine)
    with pytest.raises(DuplicateSocketError, match="already a room"):
        nsp.connect("lobby")
    assert snapshot(engine) == before


def test_connect_refuses_a_pending_sockets_id() -> None:
    engine, nsp = make()
    nsp.connect("p", pending=True)
    before = snapshot(engine)
    with pytest.raises(DuplicateSocketError):
        nsp.connect("p")
    assert snapshot(engine) == before


@pytest.mark.parametrize("factory_ids", [["x", "x"], ["x", "lobby"]], ids=["socket", "room"])
def test_connect_refuses_a_factory_id_already_taken(factory_ids: list[str]) -> None:
    engine = RoomEngine(id_factory=iter(factory_ids).__next__)
    nsp = engine.namespace()
    nsp.connect()
    nsp.join("x", "lobby")
    before = snapshot(engine)
    with pytest.raises(DuplicateSocketError, match="id factory"):
        nsp.connect()
    assert snapshot(engine) == before


@pytest.mark.parametrize("bad", [42, b"a", ["a"], ""], ids=["int", "bytes", "list", "empty"])
def test_connect_refuses_a_bad_given_id(bad: Any) -> None:
    engine, nsp = make()
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError):
        nsp.connect(bad)
    assert snapshot(engine) == before


@pytest.mark.parametrize("bad", [42, b"a", None, ""], ids=["int", "bytes", "none", "empty"])
def test_connect_refuses_a_bad_id_from_the_factory(bad: Any) -> None:
    engine = RoomEngine(id_factory=lambda: bad)
    nsp = engine.namespace()
    with pytest.raises(LocalProtocolError):
        nsp.connect()
    assert nsp.sockets() == () and nsp.rooms() == ()


def test_an_id_is_free_again_after_disconnect() -> None:
    _, nsp = make(notices=False)
    connect_many(nsp, "a")
    nsp.disconnect("a")
    assert nsp.connect("a") == [Connected(nsp="/", sid="a")]
    assert nsp.rooms_of("a") == ("a",)


# -- namespaces ---------------------------------------------------------------------------------


def test_namespaces_are_normalised_and_created_once() -> None:
    engine = RoomEngine()
    root = engine.namespace()
    assert root.name == "/"
    assert engine.namespace("") is root
    assert engine.namespace("/") is root
    chat = engine.namespace("chat")
    assert chat.name == "/chat"
    assert engine.namespace("/chat") is chat
    assert engine.namespace("chat") is chat
    assert chat.engine is engine
    assert engine.namespaces() == ("/", "/chat")


@pytest.mark.parametrize("bad", [None, 42, b"/", ["/"]], ids=["none", "int", "bytes", "list"])
def test_namespace_refuses_a_name_that_is_not_a_str(bad: Any) -> None:
    engine = RoomEngine()
    with pytest.raises(LocalProtocolError, match="namespace name must be a str"):
        engine.namespace(bad)
    assert engine.namespaces() == ()


def test_namespaces_are_isolated() -> None:
    engine = RoomEngine(notices=True)
    root, chat = engine.namespace("/"), engine.namespace("/chat")
    # The same socket id and room names in two namespaces are unrelated.
    connect_many(root, "a", "b")
    connect_many(chat, "a", "c")
    root.join("a", "room")
    assert chat.join("c", "room") == [
        RoomCreated(nsp="/chat", room="room"),
        RoomJoined(nsp="/chat", room="room", sid="c"),
    ]
    assert root.members_of("room") == ("a",)
    assert chat.members_of("room") == ("c",)
    assert list(root.emit("x")) == [("a", "x"), ("b", "x")]
    assert list(chat.emit("x", rooms="room")) == [("c", "x")]
    with pytest.raises(UnknownSocketError):
        root.join("c", "room")
    chat.disconnect("a")
    assert root.rooms_of("a") == ("a", "room")
    assert root.rooms() == ("a", "b", "room")
    assert chat.rooms() == ("c", "room")


def test_namespace_repr_counts_sockets_and_rooms() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.join("a", ["x", "y"])
    assert repr(nsp) == "<Namespace '/': 2 sockets, 4 rooms>"


# -- join ---------------------------------------------------------------------------------------


def test_join_one_room() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    assert nsp.join("a", "room") == [
        RoomCreated(nsp="/", room="room"),
        RoomJoined(nsp="/", room="room", sid="a"),
    ]
    # An existing room: joined, not created.
    assert nsp.join("b", "room") == [RoomJoined(nsp="/", room="room", sid="b")]
    assert nsp.rooms_of("a") == ("a", "room")
    assert nsp.members_of("room") == ("a", "b")
    assert nsp.count_members("room") == 2


def test_join_many_rooms_in_the_order_given() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    assert nsp.join("a", ["x", 42, "y"]) == [
        RoomCreated(nsp="/", room="x"),
        RoomJoined(nsp="/", room="x", sid="a"),
        RoomCreated(nsp="/", room=42),
        RoomJoined(nsp="/", room=42, sid="a"),
        RoomCreated(nsp="/", room="y"),
        RoomJoined(nsp="/", room="y", sid="a"),
    ]
    assert nsp.rooms_of("a") == ("a", "x", 42, "y")


@pytest.mark.parametrize(
    "rooms",
    [("x", "y"), {"x": 0, "y": 0}.keys(), (r for r in ("x", "y")), iter(["x", "y"])],
    ids=["tuple", "dict-keys", "generator", "iterator"],
)
def test_join_accepts_any_iterable_of_rooms(rooms: Any) -> None:
    _, nsp = make(notices=False)
    connect_many(nsp, "a")
    nsp.join("a", rooms)
    assert nsp.rooms_of("a") == ("a", "x", "y")


def test_join_twice_is_a_no_op_without_duplicate_notices() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", ["x", "y"])
    before = snapshot(engine)
    assert nsp.join("a", "x") == []
    assert nsp.join("a", ["y", "x"]) == []
    assert nsp.join("a", "a") == []  # its own id room, already in it
    assert snapshot(engine) == before
    # Partly new: notices only for the new room; a room repeated in one call counts once.
    assert nsp.join("a", ["x", "z", "z"]) == [
        RoomCreated(nsp="/", room="z"),
        RoomJoined(nsp="/", room="z", sid="a"),
    ]
    assert nsp.rooms_of("a") == ("a", "x", "y", "z")


def test_join_an_empty_list_does_nothing() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    before = snapshot(engine)
    assert nsp.join("a", []) == []
    assert snapshot(engine) == before


def test_room_names_str_and_int_are_distinct() -> None:
    _, nsp = make(notices=False)
    connect_many(nsp, "a", "b")
    nsp.join("a", 42)
    nsp.join("b", "42")
    assert nsp.rooms() == ("a", "b", 42, "42")
    assert nsp.members_of(42) == ("a",)
    assert nsp.members_of("42") == ("b",)
    assert nsp.count_members(42) == nsp.count_members("42") == 1
    assert list(nsp.emit("x", rooms=42)) == [("a", "x")]


def test_enum_room_names_are_stored_as_plain_values() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    outputs = nsp.join("a", [Color.RED, Level.TOP])
    assert outputs == [
        RoomCreated(nsp="/", room="red"),
        RoomJoined(nsp="/", room="red", sid="a"),
        RoomCreated(nsp="/", room=7),
        RoomJoined(nsp="/", room=7, sid="a"),
    ]
    assert [type(output.room) for output in outputs] == [str, str, int, int]
    rooms = nsp.rooms_of("a")
    assert rooms == ("a", "red", 7)
    assert [type(room) for room in rooms] == [str, str, int]
    # The plain names and the enum members name the same rooms.
    assert nsp.join("a", ["red", 7]) == []
    assert nsp.join("a", Color.RED) == []
    assert nsp.members_of(Color.RED) == nsp.members_of("red") == ("a",)


BAD_ROOMS: list[Any] = [
    None,
    b"room",
    bytearray(b"room"),
    1.5,
    True,
    False,
    [None],
    ["ok", None],
    ["ok", b"room"],
    [["nested"]],
    ["ok", True],
    {"room": 1},
    object(),
]
BAD_ROOM_IDS = [
    "none",
    "bytes",
    "bytearray",
    "float",
    "true",
    "false",
    "list-of-none",
    "list-with-none",
    "list-with-bytes",
    "nested-list",
    "list-with-bool",
    "dict",
    "object",
]


@pytest.mark.parametrize("bad", BAD_ROOMS, ids=BAD_ROOM_IDS)
def test_join_refuses_bad_room_names_and_changes_nothing(bad: Any) -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", "x")
    before = snapshot(engine)
    with pytest.raises(InvalidRoomError) as info:
        nsp.join("a", bad)
    # Also a TypeError (what Python users expect) and a LocalProtocolError (whose fault).
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, LocalProtocolError)
    assert "ok" not in nsp.rooms()
    assert snapshot(engine) == before


def test_join_refuses_another_sockets_id_room() -> None:
    engine, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.leave("b", "b")  # even when that socket is not in it right now
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError, match="cannot join the id room of 'b'"):
        nsp.join("a", "b")
    # All or nothing: the valid rooms of the same call are not joined either.
    with pytest.raises(LocalProtocolError, match="id room"):
        nsp.join("a", ["fine", "b"])
    assert snapshot(engine) == before


def test_join_refuses_a_pending_or_disconnecting_sockets_id_room() -> None:
    engine, nsp = make()
    connect_many(nsp, "a", "d")
    nsp.connect("p", pending=True)
    nsp.begin_disconnect("d")
    before = snapshot(engine)
    for other in ("p", "d"):
        with pytest.raises(LocalProtocolError, match="id room"):
            nsp.join("a", other)
    assert snapshot(engine) == before


def test_join_unknown_socket_raises_unknown_socket_error() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    before = snapshot(engine)
    with pytest.raises(UnknownSocketError) as info:
        nsp.join("ghost", "room")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == (
        "socket 'ghost' is not in namespace '/' (it never connected, or has already disconnected)"
    )
    assert snapshot(engine) == before


# -- leave --------------------------------------------------------------------------------------


def test_leave_a_room_not_joined_is_a_no_op() -> None:
    engine, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.join("b", "theirs")
    before = snapshot(engine)
    assert nsp.leave("a", "nowhere") == []
    assert nsp.leave("a", "theirs") == []  # exists, but "a" is not a member
    assert nsp.leave("a", "b") == []  # another socket's id room
    assert nsp.leave("a", []) == []
    assert snapshot(engine) == before


def test_leave_twice_is_safe() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.join("a", "room")
    nsp.join("b", "room")
    assert nsp.leave("a", "room") == [RoomLeft(nsp="/", room="room", sid="a")]
    assert nsp.leave("a", "room") == []
    assert nsp.rooms_of("a") == ("a",)
    assert nsp.members_of("room") == ("b",)


def test_leave_the_last_member_deletes_the_room() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", "room")
    assert nsp.leave("a", "room") == [
        RoomLeft(nsp="/", room="room", sid="a"),
        RoomDeleted(nsp="/", room="room"),
    ]
    assert "room" not in nsp.rooms()
    assert nsp.count_members("room") == 0


def test_leave_many_rooms_in_the_order_given() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.join("a", ["x", "y", "z"])
    nsp.join("b", "y")
    assert nsp.leave("a", ["z", "y", "nowhere", "x"]) == [
        RoomLeft(nsp="/", room="z", sid="a"),
        RoomDeleted(nsp="/", room="z"),
        RoomLeft(nsp="/", room="y", sid="a"),
        RoomLeft(nsp="/", room="x", sid="a"),
        RoomDeleted(nsp="/", room="x"),
    ]
    assert nsp.rooms_of("a") == ("a",)
    assert nsp.rooms() == ("a", "b", "y")


def test_leave_without_notices_returns_nothing_but_leaves() -> None:
    _, nsp = make(notices=False)
    connect_many(nsp, "a")
    nsp.join("a", ["x", "y"])
    assert nsp.leave("a", ["x", "y"]) == []
    assert nsp.rooms() == ("a",)


def test_leaving_the_own_id_room_is_allowed() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    assert nsp.leave("a", "a") == [
        RoomLeft(nsp="/", room="a", sid="a"),
        RoomDeleted(nsp="/", room="a"),
    ]
    assert nsp.rooms_of("a") == ()
    assert nsp.state_of("a") is SocketState.CONNECTED
    # rooms=[sid] now reaches nobody, and except_=sid no longer excludes it ...
    assert list(nsp.emit("x", rooms=["a"])) == []
    assert list(nsp.emit("x", except_="a")) == [("a", "x"), ("b", "x")]
    # ... but the whole-namespace broadcast still reaches it, and so do explicit sids.
    assert list(nsp.emit("x")) == [("a", "x"), ("b", "x")]
    assert list(nsp.emit("x", sids=["a"])) == [("a", "x")]
    # It may come back to its id room, and is then reachable by it again.
    assert nsp.join("a", "a") == [
        RoomCreated(nsp="/", room="a"),
        RoomJoined(nsp="/", room="a", sid="a"),
    ]
    assert list(nsp.emit("x", rooms="a")) == [("a", "x")]


def test_leave_refuses_bad_room_names_and_changes_nothing() -> None:
    engine, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", ["x", "ok"])
    before = snapshot(engine)
    for bad in BAD_ROOMS:
        with pytest.raises(InvalidRoomError):
            nsp.leave("a", bad)
    assert snapshot(engine) == before


def test_leave_unknown_socket_raises() -> None:
    engine, nsp = make()
    before = snapshot(engine)
    with pytest.raises(UnknownSocketError):
        nsp.leave("ghost", "room")
    assert snapshot(engine) == before


# -- pending sockets (middlewares, connect handler) ---------------------------------------------


def test_a_pending_connect_needs_its_id() -> None:
    engine, nsp = make()
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError, match="pending connect needs its id"):
        nsp.connect(pending=True)
    assert snapshot(engine) == before


def test_pending_socket_is_registered_but_not_connected() -> None:
    _, nsp = make()
    assert nsp.connect("p", pending=True) == []
    assert nsp.state_of("p") is SocketState.PENDING
    assert not nsp.is_connected("p")
    assert nsp.sockets() == ("p",)
    assert nsp.count_sockets() == 1
    assert nsp.rooms_of("p") == ()  # no id room yet
    assert nsp.rooms() == ()


def test_pending_socket_may_join_but_receives_nothing() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.connect("p", pending=True)
    assert nsp.join("p", ["mw1", "shared"]) == [
        RoomCreated(nsp="/", room="mw1"),
        RoomJoined(nsp="/", room="mw1", sid="p"),
        RoomCreated(nsp="/", room="shared"),
        RoomJoined(nsp="/", room="shared", sid="p"),
    ]
    nsp.join("a", "shared")
    assert nsp.rooms_of("p") == ("mw1", "shared")
    assert nsp.count_members("shared") == 2  # recorded ...
    # ... but invisible to every kind of broadcast.
    assert nsp.members_of("shared") == ("a",)
    assert list(nsp.emit("x")) == [("a", "x")]
    assert list(nsp.emit("x", rooms=["mw1", "shared"])) == [("a", "x")]
    assert list(nsp.emit("x", sids=["p"])) == []
    # It may leave, and may be named as a sender.
    assert nsp.leave("p", "mw1") == [
        RoomLeft(nsp="/", room="mw1", sid="p"),
        RoomDeleted(nsp="/", room="mw1"),
    ]
    assert list(nsp.emit("x", rooms="shared", sender="p")) == [("a", "x")]


def test_accept_joins_the_id_room_after_the_middleware_rooms() -> None:
    _, nsp = make()
    nsp.connect("p", pending=True)
    nsp.join("p", ["mw1", "mw2"])
    assert nsp.accept("p") == [
        RoomCreated(nsp="/", room="p"),
        RoomJoined(nsp="/", room="p", sid="p"),
        Connected(nsp="/", sid="p"),
    ]
    assert nsp.state_of("p") is SocketState.CONNECTED
    assert nsp.rooms_of("p") == ("mw1", "mw2", "p")
    assert list(nsp.emit("x", rooms="mw1")) == [("p", "x")]
    assert list(nsp.emit("x", rooms="p")) == [("p", "x")]


def test_accept_after_a_pending_join_of_the_own_id_room_gives_no_second_notice() -> None:
    _, nsp = make()
    nsp.connect("p", pending=True)
    assert nsp.join("p", ["mw", "p"]) == [
        RoomCreated(nsp="/", room="mw"),
        RoomJoined(nsp="/", room="mw", sid="p"),
        RoomCreated(nsp="/", room="p"),
        RoomJoined(nsp="/", room="p", sid="p"),
    ]
    assert nsp.accept("p") == [Connected(nsp="/", sid="p")]
    assert nsp.rooms_of("p") == ("mw", "p")
    assert nsp.count_members("p") == 1


def test_connection_order_is_the_order_sockets_became_connected() -> None:
    _, nsp = make(notices=False)
    nsp.connect("p", pending=True)
    connect_many(nsp, "a")
    nsp.accept("p")
    connect_many(nsp, "b")
    assert nsp.sockets() == ("p", "a", "b")  # registration order
    assert nsp.members_of() == ("a", "p", "b")  # connection order
    assert [sid for sid, _ in nsp.emit("x")] == ["a", "p", "b"]


def test_refuse_removes_the_pending_socket_and_its_rooms() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", "shared")
    nsp.connect("p", pending=True)
    nsp.join("p", ["own", "shared"])
    assert nsp.refuse("p") == [
        RoomLeft(nsp="/", room="own", sid="p"),
        RoomDeleted(nsp="/", room="own"),
        RoomLeft(nsp="/", room="shared", sid="p"),
    ]
    assert gone(nsp, "p")
    assert nsp.rooms() == ("a", "shared")
    assert nsp.members_of("shared") == ("a",)


def test_refuse_a_pending_socket_with_no_rooms() -> None:
    _, nsp = make()
    nsp.connect("p", pending=True)
    assert nsp.refuse("p") == []
    assert gone(nsp, "p")
    assert nsp.rooms() == ()


def test_disconnect_a_pending_socket_forgets_it_without_a_disconnecting_phase() -> None:
    _, nsp = make()
    nsp.connect("p", pending=True)
    nsp.join("p", "mw")
    assert nsp.disconnect("p", "transport close") == [
        RoomLeft(nsp="/", room="mw", sid="p"),
        RoomDeleted(nsp="/", room="mw"),
    ]
    assert gone(nsp, "p")
    assert nsp.rooms() == ()


# -- the two-phase disconnect -------------------------------------------------------------------


def setup_room_of_three() -> tuple[RoomEngine, Namespace]:
    engine, nsp = make()
    connect_many(nsp, "a", "b", "c")
    nsp.join("a", ["room", "solo", 42])
    nsp.join("b", "room")
    nsp.join("c", [42, "room"])
    return engine, nsp


def test_begin_disconnect_keeps_rooms_intact_and_readable() -> None:
    _, nsp = setup_room_of_three()
    rooms_before = nsp.rooms()
    assert nsp.begin_disconnect("a", "client namespace disconnect") == [
        SocketDisconnecting(
            nsp="/", sid="a", reason="client namespace disconnect", close_connection=False
        )
    ]
    assert nsp.state_of("a") is SocketState.DISCONNECTING
    assert not nsp.is_connected("a")
    assert nsp.rooms_of("a") == ("a", "room", "solo", 42)
    assert nsp.rooms() == rooms_before
    assert nsp.count_members("room") == 3
    assert nsp.count_members("solo") == 1
    assert "a" in nsp.sockets()


def test_a_disconnecting_socket_receives_nothing() -> None:
    _, nsp = setup_room_of_three()
    nsp.begin_disconnect("a")
    assert nsp.members_of("room") == ("b", "c")
    assert list(nsp.emit("x")) == [("b", "x"), ("c", "x")]
    assert list(nsp.emit("x", rooms=["solo", "a"])) == []
    assert list(nsp.emit("x", sids=["a"])) == []


def test_a_disconnecting_socket_can_tell_its_rooms_that_it_left() -> None:
    _, nsp = setup_room_of_three()
    nsp.begin_disconnect("a")
    left = nsp.emit("a left", rooms=nsp.rooms_of("a"), sender="a")
    assert list(left) == [("b", "a left"), ("c", "a left")]


def test_a_disconnecting_socket_may_leave_but_not_join() -> None:
    engine, nsp = setup_room_of_three()
    nsp.begin_disconnect("a")
    before = snapshot(engine)
    with pytest.raises(InvalidStateError, match="cannot join socket 'a': it is disconnecting"):
        nsp.join("a", "new")
    with pytest.raises(InvalidStateError):
        nsp.join("a", "room")  # even a room it is already in
    assert snapshot(engine) == before
    assert nsp.leave("a", "solo") == [
        RoomLeft(nsp="/", room="solo", sid="a"),
        RoomDeleted(nsp="/", room="solo"),
    ]
    assert nsp.rooms_of("a") == ("a", "room", 42)


def test_finish_disconnect_leaves_every_room_in_join_order_id_room_first() -> None:
    _, nsp = setup_room_of_three()
    nsp.begin_disconnect("a", "transport close")
    assert nsp.finish_disconnect("a") == [
        RoomLeft(nsp="/", room="a", sid="a"),
        RoomDeleted(nsp="/", room="a"),
        RoomLeft(nsp="/", room="room", sid="a"),
        RoomLeft(nsp="/", room="solo", sid="a"),
        RoomDeleted(nsp="/", room="solo"),
        RoomLeft(nsp="/", room=42, sid="a"),
        SocketDisconnected(nsp="/", sid="a", reason="transport close"),
    ]
    assert gone(nsp, "a")
    assert nsp.rooms() == ("b", "c", "room", 42)
    assert nsp.members_of("room") == ("b", "c")
    assert nsp.members_of(42) == ("c",)


def test_finish_disconnect_without_notices() -> None:
    _, nsp = make(notices=False)
    connect_many(nsp, "a")
    nsp.join("a", "x")
    nsp.begin_disconnect("a", "ping timeout")
    assert nsp.finish_disconnect("a") == [
        SocketDisconnected(nsp="/", sid="a", reason="ping timeout")
    ]
    assert nsp.rooms() == ()


def test_every_call_naming_a_disconnected_socket_raises_and_creates_nothing() -> None:
    engine, nsp = setup_room_of_three()
    nsp.disconnect("a")
    before = snapshot(engine)
    calls: list[Callable[[], object]] = [
        lambda: nsp.join("a", "late"),
        lambda: nsp.leave("a", "room"),
        lambda: nsp.emit("x", rooms="room", sender="a"),
        lambda: nsp.begin_disconnect("a"),
        lambda: nsp.finish_disconnect("a"),
        lambda: nsp.disconnect("a"),
        lambda: nsp.accept("a"),
        lambda: nsp.refuse("a"),
        lambda: nsp.state_of("a"),
        lambda: nsp.rooms_of("a"),
    ]
    for call in calls:
        with pytest.raises(UnknownSocketError):
            call()
    assert "late" not in nsp.rooms()
    assert snapshot(engine) == before


def test_disconnect_runs_both_phases() -> None:
    _, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.join("a", "room")
    nsp.join("b", "room")
    assert nsp.disconnect("a") == [
        SocketDisconnecting(nsp="/", sid="a", reason=SERVER_DISCONNECT, close_connection=False),
        RoomLeft(nsp="/", room="a", sid="a"),
        RoomDeleted(nsp="/", room="a"),
        RoomLeft(nsp="/", room="room", sid="a"),
        SocketDisconnected(nsp="/", sid="a", reason=SERVER_DISCONNECT),
    ]
    assert gone(nsp, "a")
    assert nsp.disconnect("b", "client namespace disconnect")[-1] == SocketDisconnected(
        nsp="/", sid="b", reason="client namespace disconnect"
    )
    assert nsp.rooms() == ()
    assert nsp.sockets() == ()


def test_disconnect_while_disconnecting_finishes_with_the_first_reason() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.begin_disconnect("a", "transport close", close_connection=True)
    assert nsp.disconnect("a", "another reason") == [
        RoomLeft(nsp="/", room="a", sid="a"),
        RoomDeleted(nsp="/", room="a"),
        SocketDisconnected(nsp="/", sid="a", reason="transport close"),
    ]
    assert gone(nsp, "a")


def test_disconnect_of_a_socket_that_left_its_id_room() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.leave("a", "a")
    assert nsp.disconnect("a") == [
        SocketDisconnecting(nsp="/", sid="a", reason=SERVER_DISCONNECT, close_connection=False),
        SocketDisconnected(nsp="/", sid="a", reason=SERVER_DISCONNECT),
    ]
    assert gone(nsp, "a")


def socket_in(nsp: Namespace, sid: str, state: SocketState) -> None:
    nsp.connect(sid, pending=state is SocketState.PENDING)
    if state is SocketState.DISCONNECTING:
        nsp.begin_disconnect(sid)
    assert nsp.state_of(sid) is state


@pytest.mark.parametrize(
    ("state", "operation"),
    [
        (SocketState.CONNECTED, "accept"),
        (SocketState.CONNECTED, "refuse"),
        (SocketState.CONNECTED, "finish_disconnect"),
        (SocketState.PENDING, "begin_disconnect"),
        (SocketState.PENDING, "finish_disconnect"),
        (SocketState.DISCONNECTING, "accept"),
        (SocketState.DISCONNECTING, "refuse"),
        (SocketState.DISCONNECTING, "begin_disconnect"),
    ],
)
def test_illegal_lifecycle_calls_raise_invalid_state_and_change_nothing(
    state: SocketState, operation: str
) -> None:
    engine, nsp = make()
    socket_in(nsp, "s", state)
    if state is not SocketState.DISCONNECTING:
        nsp.join("s", "room")
    before = snapshot(engine)
    with pytest.raises(InvalidStateError, match=f"socket 's': it is {state.value}"):
        getattr(nsp, operation)("s")
    assert snapshot(engine) == before


OPERATIONS: dict[Operation, Callable[[Namespace, str], object]] = {
    Operation.ACCEPT: lambda nsp, sid: nsp.accept(sid),
    Operation.REFUSE: lambda nsp, sid: nsp.refuse(sid),
    Operation.JOIN: lambda nsp, sid: nsp.join(sid, "room"),
    Operation.LEAVE: lambda nsp, sid: nsp.leave(sid, sid),
    Operation.EMIT_FROM: lambda nsp, sid: nsp.emit("x", sender=sid),
    Operation.BEGIN_DISCONNECT: lambda nsp, sid: nsp.begin_disconnect(sid),
    Operation.FINISH_DISCONNECT: lambda nsp, sid: nsp.finish_disconnect(sid),
    Operation.DISCONNECT: lambda nsp, sid: nsp.disconnect(sid),
}


@pytest.mark.parametrize("operation", list(Operation), ids=lambda op: op.name)
@pytest.mark.parametrize("state", list(SocketState), ids=lambda state: state.name)
def test_the_engine_follows_the_transition_table(state: SocketState, operation: Operation) -> None:
    """Every (state, operation) pair: legal iff it is in TRANSITIONS, to the state it names."""
    assert set(OPERATIONS) == set(Operation)
    engine, nsp = make()
    socket_in(nsp, "s", state)
    before = snapshot(engine)
    if (state, operation) not in TRANSITIONS:
        with pytest.raises(InvalidStateError):
            OPERATIONS[operation](nsp, "s")
        assert snapshot(engine) == before
        return
    OPERATIONS[operation](nsp, "s")
    expected = TRANSITIONS[(state, operation)]
    if expected is None:
        assert gone(nsp, "s")
    else:
        assert nsp.state_of("s") is expected


# -- bulk operations ----------------------------------------------------------------------------


def population() -> tuple[RoomEngine, Namespace]:
    """a, b, c, d connected; p pending; z disconnecting. Rooms: red={a,b,p,z}, blue={b,c}."""
    engine, nsp = make()
    connect_many(nsp, "a", "b", "c", "d")
    nsp.connect("p", pending=True)
    connect_many(nsp, "z")
    nsp.join("a", "red")
    nsp.join("b", ["red", "blue"])
    nsp.join("c", "blue")
    nsp.join("p", "red")
    nsp.join("z", "red")
    nsp.begin_disconnect("z")
    return engine, nsp


def test_sockets_join_a_selection() -> None:
    _, nsp = population()
    assert nsp.sockets_join(["green", "blue"], rooms="red", except_="b") == [
        RoomCreated(nsp="/", room="green"),
        RoomJoined(nsp="/", room="green", sid="a"),
        RoomJoined(nsp="/", room="blue", sid="a"),
    ]
    assert nsp.rooms_of("a") == ("a", "red", "green", "blue")
    # Pending and disconnecting members of the selected room are not selected.
    assert nsp.rooms_of("p") == ("red",)
    assert nsp.rooms_of("z") == ("z", "red")


def test_sockets_join_the_whole_namespace_and_by_sids() -> None:
    _, nsp = population()
    nsp.sockets_join("all")
    assert nsp.members_of("all") == ("a", "b", "c", "d")
    assert nsp.count_members("all") == 4
    assert nsp.sockets_join("all") == []  # idempotent
    assert nsp.sockets_join("pair", sids=["d", "c", "ghost", "p"]) == [
        RoomCreated(nsp="/", room="pair"),
        RoomJoined(nsp="/", room="pair", sid="d"),
        RoomJoined(nsp="/", room="pair", sid="c"),
    ]
    assert nsp.sockets_join("none", rooms=[]) == []
    assert "none" not in nsp.rooms()


def test_sockets_join_refuses_an_id_room_for_anyone_but_its_socket() -> None:
    engine, nsp = population()
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError, match="id room of 'a'"):
        nsp.sockets_join(["ok", "a"], rooms="blue")  # b and c may not join a's room
    with pytest.raises(LocalProtocolError, match="id room"):
        nsp.sockets_join("a", sids=["a", "b"])  # all or nothing, "a" itself included
    with pytest.raises(LocalProtocolError, match="id room"):
        nsp.sockets_join("a", sids=["c"])
    with pytest.raises(LocalProtocolError, match="id room"):
        nsp.sockets_join("p", sids=["c"])  # a pending socket's id
    with pytest.raises(LocalProtocolError, match="id room"):
        nsp.sockets_join("a", rooms=[])  # an empty selection is no excuse
    assert "ok" not in nsp.rooms()
    assert snapshot(engine) == before
    # A selection of exactly that socket may (re)join its own id room.
    nsp.leave("a", "a")
    assert nsp.sockets_join("a", sids="a") == [
        RoomCreated(nsp="/", room="a"),
        RoomJoined(nsp="/", room="a", sid="a"),
    ]


def test_sockets_join_refuses_bad_names_and_selections_and_changes_nothing() -> None:
    engine, nsp = population()
    before = snapshot(engine)
    with pytest.raises(InvalidRoomError):
        nsp.sockets_join(["ok", None])
    with pytest.raises(InvalidRoomError):
        nsp.sockets_join("ok", rooms=[1.5])
    with pytest.raises(InvalidRoomError):
        nsp.sockets_join("ok", except_=[b"x"])
    with pytest.raises(LocalProtocolError):
        nsp.sockets_join("ok", sids=["a", 42])  # type: ignore[list-item]
    assert snapshot(engine) == before


def test_sockets_leave_a_selection() -> None:
    _, nsp = population()
    assert nsp.sockets_leave(["red", "nowhere"], rooms="blue") == [
        RoomLeft(nsp="/", room="red", sid="b"),
    ]
    assert nsp.sockets_leave("blue", sids=["c", "b"]) == [
        RoomLeft(nsp="/", room="blue", sid="c"),
        RoomLeft(nsp="/", room="blue", sid="b"),
        RoomDeleted(nsp="/", room="blue"),
    ]
    assert nsp.sockets_leave("red") == [RoomLeft(nsp="/", room="red", sid="a")]
    # The pending and the disconnecting member were not selected: the room lives on.
    assert nsp.rooms_of("p") == ("red",)
    assert nsp.rooms_of("z") == ("z", "red")
    assert nsp.count_members("red") == 2
    assert nsp.members_of("red") == ()


def test_sockets_leave_refuses_bad_names_and_changes_nothing() -> None:
    engine, nsp = population()
    before = snapshot(engine)
    with pytest.raises(InvalidRoomError):
        nsp.sockets_leave(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRoomError):
        nsp.sockets_leave("red", rooms=[None])  # type: ignore[list-item]
    assert snapshot(engine) == before


def test_disconnect_sockets_begins_the_disconnect_of_a_selection() -> None:
    _, nsp = population()
    assert nsp.disconnect_sockets(rooms="red") == [
        SocketDisconnecting(nsp="/", sid="a", reason=SERVER_DISCONNECT, close_connection=False),
        SocketDisconnecting(nsp="/", sid="b", reason=SERVER_DISCONNECT, close_connection=False),
    ]
    assert nsp.state_of("a") is nsp.state_of("b") is SocketState.DISCONNECTING
    assert nsp.rooms_of("b") == ("b", "red", "blue")  # intact until finished
    assert nsp.state_of("p") is SocketState.PENDING
    assert nsp.finish_disconnect("a")[-1] == SocketDisconnected(
        nsp="/", sid="a", reason=SERVER_DISCONNECT
    )


def test_disconnect_sockets_with_close_connection_and_a_reason() -> None:
    _, nsp = population()
    outputs = nsp.disconnect_sockets(
        except_="blue", close_connection=True, reason="server shutting down"
    )
    assert outputs == [
        SocketDisconnecting(nsp="/", sid=sid, reason="server shutting down", close_connection=True)
        for sid in ("a", "d")
    ]
    assert nsp.members_of() == ("b", "c")
    assert nsp.disconnect_sockets(sids=[]) == []
    assert nsp.disconnect_sockets(sids="c") == [
        SocketDisconnecting(nsp="/", sid="c", reason=SERVER_DISCONNECT, close_connection=False)
    ]


def test_close_room_makes_every_member_leave() -> None:
    _, nsp = population()
    assert nsp.close_room("red") == [
        RoomLeft(nsp="/", room="red", sid="a"),
        RoomLeft(nsp="/", room="red", sid="b"),
        RoomLeft(nsp="/", room="red", sid="p"),
        RoomLeft(nsp="/", room="red", sid="z"),
        RoomDeleted(nsp="/", room="red"),
    ]
    assert "red" not in nsp.rooms()
    assert nsp.rooms_of("a") == ("a",)
    assert nsp.rooms_of("b") == ("b", "blue")
    assert nsp.rooms_of("p") == ()
    assert nsp.rooms_of("z") == ("z",)
    # Closing a room disconnects nobody.
    assert nsp.state_of("a") is SocketState.CONNECTED
    assert nsp.state_of("p") is SocketState.PENDING


def test_close_room_of_an_unknown_room_and_an_int_room() -> None:
    engine, nsp = population()
    before = snapshot(engine)
    assert nsp.close_room("nowhere") == []
    assert snapshot(engine) == before
    nsp.join("a", 42)
    assert nsp.close_room(Level.TOP) == []
    assert nsp.close_room(42) == [
        RoomLeft(nsp="/", room=42, sid="a"),
        RoomDeleted(nsp="/", room=42),
    ]


def test_close_room_refuses_an_id_room_and_bad_names() -> None:
    engine, nsp = population()
    nsp.leave("c", "c")
    before = snapshot(engine)
    for sid in ("a", "p", "z", "c"):  # connected, pending, disconnecting, out of its room
        with pytest.raises(LocalProtocolError, match=f"id room of socket '{sid}'"):
            nsp.close_room(sid)
    for bad in (None, b"red", ["red"], 1.5, True):
        with pytest.raises(InvalidRoomError):
            nsp.close_room(bad)
    assert snapshot(engine) == before


# -- id rooms -----------------------------------------------------------------------------------
#
# A socket's id room is not stored as a room: it exists while the socket is in it. These check
# that every query and selection still sees it as a room, on both the general paths (notices on)
# and the fast ones (notices off).


@pytest.mark.parametrize("notices", [False, True])
def test_rooms_lists_every_room_in_creation_order_id_rooms_included(notices: bool) -> None:
    _, nsp = make(notices=notices)
    model = ReferenceModel()

    def both(call: str, *args: Any, **kwargs: Any) -> None:
        getattr(nsp, call)(*args, **kwargs)
        getattr(model, call)("/", *args, **kwargs)
        assert nsp.rooms() == tuple(model.rooms("/"))
        assert nsp.count_rooms() == len(nsp.rooms())

    both("connect", "a")
    both("join", "a", "x")
    both("connect", "p", pending=True)  # no id room until accepted
    both("connect", "b")
    both("join", "b", ["y", "x"])
    assert nsp.rooms() == ("a", "x", "b", "y")
    both("leave", "a", "a")
    both("join", "a", "a")  # made again: now the last room made
    both("join", "p", ["p", "z"])  # a pending socket may join its own id room early
    both("connect", "c")
    both("accept", "p")
    both("connect", "q", pending=True)
    both("connect", "d")
    both("accept", "q")  # its id room is made now, after d's
    assert nsp.rooms() == ("x", "b", "y", "a", "p", "z", "c", "d", "q")
    assert repr(nsp) == "<Namespace '/': 6 sockets, 9 rooms>"
    both("disconnect", "b")
    both("leave", "a", "x")  # x is gone ...
    both("join", "c", "x")  # ... and made again
    assert nsp.rooms() == ("a", "p", "z", "c", "d", "q", "x")
    both("close_room", "z")
    both("disconnect", "c")
    assert nsp.rooms() == ("a", "p", "d", "q")


@pytest.mark.parametrize("notices", [False, True])
def test_an_id_room_is_a_room_of_one_for_every_query(notices: bool) -> None:
    _, nsp = make(notices=notices)
    connect_many(nsp, "a", "42")
    nsp.connect("p", pending=True)
    assert nsp.members("a") == ("a",) and nsp.count_members("a") == 1
    assert nsp.members("42") == ("42",) and nsp.count_members("42") == 1
    # The int 42 is another room, which does not exist; so does p's id room, for now.
    assert nsp.members(42) == () and nsp.count_members(42) == 0
    assert nsp.members("p") == () and nsp.count_members("p") == 0
    nsp.join("p", "p")
    assert nsp.members("p") == ("p",) and nsp.count_members("p") == 1
    nsp.leave("a", "a")
    assert nsp.members("a") == () and nsp.count_members("a") == 0
    assert nsp.members("nowhere") == () and nsp.count_members("nowhere") == 0


@pytest.mark.parametrize("notices", [False, True])
def test_an_id_room_is_reached_and_excluded_like_any_room(notices: bool) -> None:
    _, nsp = make(notices=notices)
    connect_many(nsp, "a", "b", "c", "42")
    nsp.join("a", "x")
    nsp.join("b", "x")
    nsp.connect("p", pending=True)
    nsp.join("p", ["p", "x"])

    def reached(**selection: Any) -> list[str]:
        return list(nsp.emit("m", **selection).recipients)

    # Target-room order, each socket once, an id room where it is named.
    assert reached(rooms="a") == ["a"]
    assert reached(rooms=["c", "x", "b"]) == ["c", "a", "b"]
    assert reached(rooms=["b", "x"]) == ["b", "a"]
    assert reached(rooms=["42"]) == ["42"] and reached(rooms=[42]) == []
    assert reached(rooms=["nowhere", "c"], sids=["a"]) == ["c", "a"]
    # An id room excludes its socket, whatever the size of what it is taken from.
    assert reached(except_="a") == ["b", "c", "42"]
    assert reached(rooms="x", except_=["b", "nowhere"]) == ["a"]
    assert reached(rooms=["a", "b"], except_=["a", 42]) == ["b"]
    assert nsp.members_of("x", except_="b") == ("a",)
    # A pending socket's id room reaches nobody, as the socket receives nothing yet.
    assert reached(rooms="p") == []
    nsp.accept("p")
    assert reached(rooms="p") == ["p"]
    # Out of its id room, a socket is neither reached nor excluded through it.
    nsp.leave("c", "c")
    assert reached(rooms="c") == []
    assert reached(except_="c") == ["a", "b", "c", "42", "p"]
    # A disconnecting socket is reached by nothing, its id room included.
    nsp.begin_disconnect("a")
    assert reached(rooms=["a", "x"]) == ["b", "p"]
    assert reached(rooms="x", except_="a") == ["b", "p"]


def test_an_id_is_a_room_name_again_once_its_socket_is_gone() -> None:
    engine, nsp = make()
    connect_many(nsp, "a", "b")
    nsp.disconnect("a")
    assert nsp.join("b", "a") == [
        RoomCreated(nsp="/", room="a"),
        RoomJoined(nsp="/", room="a", sid="b"),
    ]
    assert nsp.rooms() == ("b", "a")
    assert list(nsp.emit("m", rooms="a").recipients) == ["b"]
    before = snapshot(engine)
    with pytest.raises(DuplicateSocketError, match="already a room"):
        nsp.connect("a")  # a named room now
    assert snapshot(engine) == before
    assert nsp.leave("b", "a") == [
        RoomLeft(nsp="/", room="a", sid="b"),
        RoomDeleted(nsp="/", room="a"),
    ]
    nsp.connect("a")
    assert nsp.rooms() == ("b", "a")


@pytest.mark.parametrize("notices", [False, True])
def test_count_rooms_follows_the_id_rooms_on_every_path(notices: bool) -> None:
    engine, nsp = make(notices=notices)

    def check(expected: tuple[object, ...]) -> None:
        assert nsp.rooms() == expected
        assert nsp.count_rooms() == len(expected)
        snapshot(engine)  # the indexes agree

    nsp.connect("a")
    nsp.connect("p", pending=True)
    check(("a",))
    nsp.join("p", ["r", "p"])
    check(("a", "r", "p"))
    nsp.refuse("p")  # forgotten, its id room with it
    check(("a",))
    nsp.connect("q", pending=True)
    nsp.join("q", "r")
    nsp.disconnect("q")  # pending, outside its id room
    check(("a",))
    nsp.connect("q", pending=True)
    nsp.accept("q")
    check(("a", "q"))
    nsp.leave("q", ["q", "nowhere"])
    check(("a",))
    nsp.disconnect("q")  # connected, outside its id room
    check(("a",))
    nsp.connect("d")
    nsp.leave("d", "d")
    nsp.begin_disconnect("d")
    nsp.finish_disconnect("d")  # disconnecting, outside its id room
    check(("a",))
    nsp.connect("e")
    nsp.join("e", "r")
    nsp.begin_disconnect("e")
    check(("a", "e", "r"))
    nsp.disconnect("e")  # disconnecting, in its id room
    check(("a",))
    nsp.join("a", "r")
    nsp.close_room("r")
    check(("a",))
    nsp.disconnect("a")
    check(())


def test_a_disconnect_gives_the_id_room_notices_in_join_order() -> None:
    _, nsp = make()
    connect_many(nsp, "a")
    nsp.join("a", "x")
    nsp.leave("a", "a")
    nsp.join("a", "a")  # now after x in join order
    assert nsp.disconnect("a", "bye") == [
        SocketDisconnecting(nsp="/", sid="a", reason="bye"),
        RoomLeft(nsp="/", room="x", sid="a"),
        RoomDeleted(nsp="/", room="x"),
        RoomLeft(nsp="/", room="a", sid="a"),
        RoomDeleted(nsp="/", room="a"),
        SocketDisconnected(nsp="/", sid="a", reason="bye"),
    ]
    nsp.connect("b")
    nsp.leave("b", "b")
    assert nsp.disconnect("b") == [  # no id room, no notice for it
        SocketDisconnecting(nsp="/", sid="b", reason=SERVER_DISCONNECT),
        SocketDisconnected(nsp="/", sid="b", reason=SERVER_DISCONNECT),
    ]


# -- queries ------------------------------------------------------------------------------------


def test_queries() -> None:
    _, nsp = population()
    assert nsp.rooms_of("b") == ("b", "red", "blue")
    assert nsp.rooms() == ("a", "b", "c", "d", "z", "red", "blue")
    assert nsp.sockets() == ("a", "b", "c", "d", "p", "z")
    assert nsp.count_rooms() == 7
    assert nsp.count_sockets() == 6
    assert nsp.count_members("red") == 4  # any state
    assert nsp.count_members("nowhere") == 0
    assert nsp.count_members(Color.RED) == 4  # the enum names the same room
    # members_of: what a broadcast would reach (connected only, each once, in order).
    assert nsp.members_of() == ("a", "b", "c", "d")
    assert nsp.members_of("red") == ("a", "b")
    assert nsp.members_of(["blue", "red"]) == ("b", "c", "a")
    assert nsp.members_of(["red", "blue"], except_="b") == ("a", "c")
    assert nsp.members_of(except_=["blue"]) == ("a", "d")
    assert nsp.members_of(sids=["d", "p", "z", "ghost"]) == ("d",)
    assert nsp.members_of("blue", sids=["a"]) == ("b", "c", "a")
    assert nsp.members_of([]) == ()
    assert [nsp.state_of(sid) for sid in ("a", "p", "z")] == [
        SocketState.CONNECTED,
        SocketState.PENDING,
        SocketState.DISCONNECTING,
    ]
    assert [nsp.is_connected(sid) for sid in ("a", "p", "z", "ghost")] == [
        True,
        False,
        False,
        False,
    ]


def test_query_answers_are_snapshots() -> None:
    _, nsp = population()
    rooms_of, members, rooms = nsp.rooms_of("a"), nsp.members_of("red"), nsp.rooms()
    nsp.join("a", "later")
    nsp.join("c", "red")
    assert rooms_of == ("a", "red")
    assert members == ("a", "b")
    assert "later" not in rooms


def test_queries_refuse_unknown_sockets_and_bad_names() -> None:
    engine, nsp = population()
    before = snapshot(engine)
    with pytest.raises(UnknownSocketError):
        nsp.rooms_of("ghost")
    with pytest.raises(UnknownSocketError):
        nsp.state_of("ghost")
    with pytest.raises(InvalidRoomError):
        nsp.count_members(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRoomError):
        nsp.members_of([None])  # type: ignore[list-item]
    with pytest.raises(InvalidRoomError):
        nsp.members_of(except_=1.5)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        nsp.members_of(sids=[1])  # type: ignore[list-item]
    assert snapshot(engine) == before


# -- errors -------------------------------------------------------------------------------------


def test_error_hierarchy_says_whose_fault() -> None:
    assert issubclass(LocalProtocolError, SansioRoomsError)
    for error in (InvalidRoomError, UnknownSocketError, DuplicateSocketError, InvalidStateError):
        assert issubclass(error, LocalProtocolError)
    assert issubclass(InvalidRoomError, TypeError)
    assert issubclass(UnknownSocketError, KeyError)
    # KeyError would quote its message; UnknownSocketError does not.
    assert str(UnknownSocketError("no such socket")) == "no such socket"
    assert str(UnknownSocketError()) == ""


MISUSES: dict[str, Callable[[Namespace], object]] = {
    "connect-duplicate": lambda nsp: nsp.connect("a"),
    "connect-room-name": lambda nsp: nsp.connect("red"),
    "connect-bad-id": lambda nsp: nsp.connect(42),  # type: ignore[arg-type]
    "accept-connected": lambda nsp: nsp.accept("a"),
    "accept-unknown": lambda nsp: nsp.accept("ghost"),
    "refuse-connected": lambda nsp: nsp.refuse("a"),
    "join-unknown": lambda nsp: nsp.join("ghost", "red"),
    "join-disconnecting": lambda nsp: nsp.join("z", "new"),
    "join-bad-name": lambda nsp: nsp.join("a", ["new", None]),
    "join-other-id-room": lambda nsp: nsp.join("a", ["new", "b"]),
    "leave-unknown": lambda nsp: nsp.leave("ghost", "red"),
    "leave-bad-name": lambda nsp: nsp.leave("a", ["red", b"x"]),
    "emit-unknown-sender": lambda nsp: nsp.emit("x", sender="ghost"),
    "emit-bad-room": lambda nsp: nsp.emit("x", rooms=["red", None]),
    "emit-bad-except": lambda nsp: nsp.emit("x", except_=None),  # type: ignore[arg-type]
    "emit-bad-sid": lambda nsp: nsp.emit("x", sids=["a", None]),  # type: ignore[list-item]
    "emit-with-ack-bad-time": lambda nsp: nsp.emit_with_ack("x", now=-1, timeout=1),
    "emit-with-ack-bad-room": lambda nsp: nsp.emit_with_ack("x", now=0, timeout=1, rooms=[None]),
    "begin-pending": lambda nsp: nsp.begin_disconnect("p"),
    "begin-twice": lambda nsp: nsp.begin_disconnect("z"),
    "finish-connected": lambda nsp: nsp.finish_disconnect("a"),
    "disconnect-unknown": lambda nsp: nsp.disconnect("ghost"),
    "sockets-join-id-room": lambda nsp: nsp.sockets_join(["new", "c"], rooms="red"),
    "sockets-join-bad-name": lambda nsp: nsp.sockets_join(["new", 1.5]),
    "sockets-leave-bad-selection": lambda nsp: nsp.sockets_leave("red", rooms=b"red"),
    "disconnect-sockets-bad-selection": lambda nsp: nsp.disconnect_sockets(rooms=[None]),
    "close-id-room": lambda nsp: nsp.close_room("a"),
    "close-bad-name": lambda nsp: nsp.close_room(None),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("misuse", list(MISUSES))
def test_every_error_leaves_the_state_unchanged(misuse: str) -> None:
    engine, nsp = population()
    engine.namespace("/other").connect("a")
    nsp.emit_with_ack("pending ack", rooms="blue", now=0, timeout=10)
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError):
        MISUSES[misuse](nsp)
    assert snapshot(engine) == before


def test_acks_completed_early_do_not_pile_up_in_the_deadline_heap() -> None:
    engine, nsp = make(notices=False)
    nsp.connect("a")
    for _ in range(1000):
        (deliveries,) = nsp.emit_with_ack("q", now=0, timeout=1e6, sids=["a"])
        assert deliveries.ack_id is not None
        nsp.ack("a", deliveries.ack_id, "ok")
    assert len(engine.acks) == 0
    # White-box: the heap is compacted as answers come in, not only when time passes.
    assert len(engine.acks._deadlines) <= 64 + 1
    assert engine.next_deadline() is None


def test_members_lists_a_room_in_every_state() -> None:
    _, nsp = make(notices=False)
    nsp.connect("a")
    nsp.connect("p", pending=True)
    nsp.connect("d")
    for sid in ("a", "p", "d"):
        nsp.join(sid, "room")
    nsp.begin_disconnect("d")
    assert nsp.members("room") == ("a", "p", "d")  # join order, any state
    assert nsp.members_of("room") == ("a",)  # what a broadcast reaches
    assert nsp.members("nowhere") == ()
    with pytest.raises(InvalidRoomError):
        nsp.members(None)  # type: ignore[arg-type]


def test_select_routes_are_the_routes_emit_hands_out() -> None:
    nsp = RoomEngine().namespace("/")
    for sid in ("a", "b", "c", "d", "e"):
        nsp.connect(sid, route=f"route-{sid}")
    nsp.connect("p", pending=True, route="route-p")
    nsp.join("p", "room")
    nsp.join("a", ["room", "other"])
    nsp.join("b", "room")
    nsp.join("c", ["room", "other"])
    nsp.join("e", "room")
    nsp.begin_disconnect("e")  # disconnecting: in the room, not receiving
    selections: list[dict[str, Any]] = [
        {"rooms": ("room",), "sender": "a"},  # the one-room fast path
        {"rooms": ("room",), "sender": "e"},  # a disconnecting sender
        {"rooms": ("room",), "sender": "d"},  # a sender outside the room
        {"rooms": ("d",), "sender": "a"},  # an id room: the general way
        {"rooms": ("nowhere",), "sender": "a"},
        {"rooms": (7,), "sender": "a"},
        {"rooms": ("room", "other"), "sender": "b"},
        {"rooms": ("room",), "except_": "other", "sender": "b"},
        {"rooms": "room"},
        {"sender": "a"},
        {},
        {"sids": ["d", "b"]},
    ]
    for selection in selections:
        routes = list(nsp.select_routes(**selection))
        assert routes == list(nsp.emit(None, **selection).routes), selection
    assert list(nsp.select_routes(("room",), sender="a")) == ["route-b", "route-c"]
    with pytest.raises(UnknownSocketError):
        nsp.select_routes(("room",), sender="gone")
    with pytest.raises(LocalProtocolError):
        nsp.select_routes(("room",), sender=1)  # type: ignore[arg-type]
