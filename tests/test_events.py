"""Events as values: validated and normalised at construction, frozen, compared by value, and
dispatched by ``RoomEngine.handle`` to exactly what the matching ``Namespace`` method does.
Outputs are values too.

Public API only.
"""

from __future__ import annotations

import copy
import enum
import itertools
import math
import pickle
import typing
from collections.abc import Callable
from typing import Any
from unittest import mock

import attrs
import pytest

import sansio_rooms
from sansio_rooms import (
    Accept,
    Ack,
    AckCompleted,
    AckReceived,
    BeginDisconnect,
    CloseRoom,
    Connect,
    Connected,
    Deliveries,
    Disconnect,
    DisconnectSockets,
    Emit,
    EmitWithAck,
    Event,
    FinishDisconnect,
    InvalidRoomError,
    Join,
    Leave,
    LocalProtocolError,
    Output,
    Refuse,
    RoomCreated,
    RoomDeleted,
    RoomEngine,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
    SocketsJoin,
    SocketsLeave,
    TimePassed,
    UnknownSocketError,
)

EVENT_TYPES: tuple[type, ...] = typing.get_args(Event)
OUTPUT_TYPES: tuple[type, ...] = typing.get_args(Output)


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    TOP = 7


def counting_engine(notices: bool = True) -> RoomEngine:
    counter = itertools.count(1)
    return RoomEngine(id_factory=lambda: f"s{next(counter)}", notices=notices)


def snapshot(engine: RoomEngine) -> object:
    state = {}
    for name in engine.namespaces():
        nsp = engine.namespace(name)
        state[name] = (
            {sid: (nsp.state_of(sid), nsp.rooms_of(sid)) for sid in nsp.sockets()},
            nsp.rooms(),
            nsp.members_of(),
        )
    return state, len(engine.acks), engine.next_deadline()


def test_the_event_alias_lists_every_event_class() -> None:
    names = {cls.__name__ for cls in EVENT_TYPES}
    assert names == {
        "Connect",
        "Accept",
        "Refuse",
        "Join",
        "Leave",
        "Emit",
        "EmitWithAck",
        "Ack",
        "BeginDisconnect",
        "FinishDisconnect",
        "Disconnect",
        "SocketsJoin",
        "SocketsLeave",
        "DisconnectSockets",
        "CloseRoom",
        "TimePassed",
    }
    assert all(getattr(sansio_rooms, name) in EVENT_TYPES for name in names)


# -- construction: defaults and normalisation --------------------------------------------------


def test_defaults() -> None:
    assert Connect() == Connect(nsp="/", sid=None, pending=False)
    assert Accept(sid="a").nsp == "/"
    emit = Emit(payload="x")
    assert (emit.nsp, emit.rooms, emit.except_, emit.sids, emit.sender) == (
        "/",
        None,
        (),
        None,
        None,
    )
    assert (emit.volatile, emit.compress, emit.local) == (False, True, False)
    with_ack = EmitWithAck(payload="x", now=0, timeout=1)
    assert (with_ack.rooms, with_ack.except_, with_ack.sids) == (None, (), None)
    assert (with_ack.volatile, with_ack.compress, with_ack.local) == (False, True, False)
    assert Ack(sid="a", ack_id=0).response is None
    assert BeginDisconnect(sid="a") == BeginDisconnect(
        nsp="/", sid="a", reason="server namespace disconnect", close_connection=False
    )
    assert Disconnect(sid="a").reason == "server namespace disconnect"
    sockets_join = SocketsJoin(join="x")
    assert (sockets_join.rooms, sockets_join.except_, sockets_join.sids) == (None, (), None)
    assert DisconnectSockets().close_connection is False


@pytest.mark.parametrize(("given", "stored"), [("", "/"), ("/", "/"), ("chat", "/chat")])
def test_namespace_names_are_normalised(given: str, stored: str) -> None:
    for event in (
        Connect(nsp=given),
        Join(nsp=given, sid="a", rooms="x"),
        Emit(nsp=given, payload=None),
        CloseRoom(nsp=given, room="x"),
    ):
        assert event.nsp == stored


def test_room_arguments_become_tuples_of_plain_names() -> None:
    join = Join(sid="a", rooms=[Color.RED, Level.TOP, "x", "red", 7, "7"])
    assert join.rooms == ("red", 7, "x", "7")
    assert [type(room) for room in join.rooms] == [str, int, str, str]
    assert Leave(sid="a", rooms="x").rooms == ("x",)
    assert Leave(sid="a", rooms=42).rooms == (42,)
    emit = Emit(payload=1, rooms=(r for r in ["b", "a"]), except_="c")
    assert (emit.rooms, emit.except_) == (("b", "a"), ("c",))
    assert SocketsJoin(join=Color.RED).join == ("red",)
    assert SocketsLeave(leave=["x", "x"]).leave == ("x",)
    room = CloseRoom(room=Level.TOP).room
    assert room == 7 and type(room) is int


def test_an_empty_room_list_stays_distinct_from_none() -> None:
    assert Emit(payload=1, rooms=[]).rooms == ()
    assert Emit(payload=1).rooms is None
    assert EmitWithAck(payload=1, now=0, timeout=1, rooms=[]).rooms == ()
    assert DisconnectSockets(rooms=[]).rooms == ()


def test_sids_become_a_tuple_and_one_id_is_one_id() -> None:
    assert Emit(payload=1, sids="abc").sids == ("abc",)
    assert Emit(payload=1, sids=["a", "b"]).sids == ("a", "b")
    assert Emit(payload=1, sids=iter(["a"])).sids == ("a",)
    assert Emit(payload=1, sids=[]).sids == ()
    assert SocketsLeave(leave="x", sids={"a": None}.keys()).sids == ("a",)


def test_mutable_arguments_are_copied() -> None:
    rooms, sids = ["x"], ["a"]
    event = Emit(payload=None, rooms=rooms, sids=sids)
    rooms.append("y")
    sids.append("b")
    assert (event.rooms, event.sids) == (("x",), ("a",))


def test_payload_and_response_are_kept_as_given() -> None:
    payload, response = {"any": ["thing"]}, object()
    assert Emit(payload=payload).payload is payload
    assert EmitWithAck(payload=payload, now=0, timeout=0).payload is payload
    assert Ack(sid="a", ack_id=0, response=response).response is response


def test_times_accept_ints_and_floats() -> None:
    assert EmitWithAck(payload=1, now=3, timeout=0.5).now == 3
    assert TimePassed(now=0).now == 0
    assert TimePassed(now=math.inf).now == math.inf


# -- construction: validation ------------------------------------------------------------------

INVALID: list[tuple[Callable[[], object], type[Exception]]] = [
    (lambda: Connect(nsp=42), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Connect(nsp=None), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Connect(sid=42), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Connect(sid=""), LocalProtocolError),
    (lambda: Connect(sid=b"a"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Connect(pending=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Connect(pending="yes"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Accept(sid=None), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Refuse(sid=b"a"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Join(sid="a", rooms=None), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: Join(sid="a", rooms=[None]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: Join(sid="a", rooms=["ok", b"x"]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: Join(sid="a", rooms=1.5), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: Join(sid="a", rooms=True), InvalidRoomError),
    (lambda: Join(sid="", rooms="x"), LocalProtocolError),
    (lambda: Leave(sid="a", rooms={"x": 1}), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: Leave(sid="a", rooms=[["x"]]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: Emit(payload=1, rooms=[None]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: Emit(payload=1, rooms=b"x"), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, except_=None), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, except_=[1.5]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: Emit(payload=1, sids=b"a"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, sids=42), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, sids=[1]), LocalProtocolError),  # type: ignore[list-item]
    (lambda: Emit(payload=1, sids={"a": 1}), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, sender=""), LocalProtocolError),
    (lambda: Emit(payload=1, sender=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, volatile=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, compress=None), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Emit(payload=1, local="no"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: EmitWithAck(payload=1, now=-1, timeout=1), LocalProtocolError),
    (lambda: EmitWithAck(payload=1, now=math.nan, timeout=1), LocalProtocolError),
    (lambda: EmitWithAck(payload=1, now=True, timeout=1), LocalProtocolError),
    (lambda: EmitWithAck(payload=1, now="1", timeout=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: EmitWithAck(payload=1, now=0, timeout=-0.1), LocalProtocolError),
    (lambda: EmitWithAck(payload=1, now=0, timeout=1, sids=[None]), LocalProtocolError),  # type: ignore[list-item]
    (lambda: EmitWithAck(payload=1, now=0, timeout=1, local=0), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Ack(sid="a", ack_id="1"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Ack(sid="a", ack_id=1.0), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Ack(sid="a", ack_id=True), LocalProtocolError),
    (lambda: Ack(sid=None, ack_id=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: BeginDisconnect(sid="a", reason=None), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: BeginDisconnect(sid="a", close_connection=1), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: FinishDisconnect(sid=42), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: Disconnect(sid="a", reason=42), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: SocketsJoin(join=None), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: SocketsJoin(join="x", rooms=[b"x"]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: SocketsJoin(join="x", except_=1.5), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: SocketsJoin(join="x", sids=[None]), LocalProtocolError),  # type: ignore[list-item]
    (lambda: SocketsLeave(leave=[None]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: DisconnectSockets(rooms=[None]), InvalidRoomError),  # type: ignore[list-item]
    (lambda: DisconnectSockets(close_connection="y"), LocalProtocolError),  # type: ignore[arg-type]
    (lambda: CloseRoom(room=None), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: CloseRoom(room=["x"]), InvalidRoomError),  # type: ignore[arg-type]
    (lambda: CloseRoom(room=True), InvalidRoomError),
    (lambda: TimePassed(now=-1), LocalProtocolError),
    (lambda: TimePassed(now=math.nan), LocalProtocolError),
    (lambda: TimePassed(now="now"), LocalProtocolError),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("build", "error"), INVALID)
def test_bad_values_are_refused_when_the_event_is_built(
    build: Callable[[], object], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        build()
    # Whatever the field, the error says it is the host's fault.
    assert isinstance(info.value, LocalProtocolError)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Connect("/"),  # type: ignore[misc]
        lambda: Accept(),  # type: ignore[call-arg]
        lambda: Join(sid="a"),  # type: ignore[call-arg]
        lambda: Emit(),  # type: ignore[call-arg]
        lambda: EmitWithAck(payload=1, now=0),  # type: ignore[call-arg]
        lambda: Ack(sid="a"),  # type: ignore[call-arg]
        lambda: SocketsJoin(),  # type: ignore[call-arg]
        lambda: CloseRoom(),  # type: ignore[call-arg]
        lambda: TimePassed(),  # type: ignore[call-arg]
        lambda: Join(nsp="/", sid="a", rooms="x", extra=1),  # type: ignore[call-arg]
    ],
)
def test_fields_are_keyword_only_and_required_ones_required(build: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        build()


# -- frozen values -----------------------------------------------------------------------------

ONE_OF_EACH: list[Any] = [
    Connect(sid="a", pending=True),
    Accept(sid="a"),
    Refuse(sid="a"),
    Join(sid="a", rooms=["x"]),
    Leave(sid="a", rooms=["x"]),
    Emit(payload="p", rooms=["x"]),
    EmitWithAck(payload="p", now=0, timeout=1),
    Ack(sid="a", ack_id=0, response="r"),
    BeginDisconnect(sid="a"),
    FinishDisconnect(sid="a"),
    Disconnect(sid="a"),
    SocketsJoin(join="x"),
    SocketsLeave(leave="x"),
    DisconnectSockets(),
    CloseRoom(room="x"),
    TimePassed(now=1),
]


def test_one_of_each_covers_every_event_type() -> None:
    assert {type(event) for event in ONE_OF_EACH} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: type(event).__name__)
def test_events_are_frozen_values(event: Any) -> None:
    fields = attrs.fields(type(event))
    for field in fields:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(event, field.name, None)
    with pytest.raises((attrs.exceptions.FrozenInstanceError, AttributeError)):
        event.extra = 1
    assert not hasattr(event, "__dict__")  # slotted
    # Equal to a copy, hashable (every field here is), a readable repr.
    twin = attrs.evolve(event)
    assert twin == event and twin is not event
    assert hash(twin) == hash(event)
    assert repr(event).startswith(type(event).__name__ + "(")


def test_events_compare_by_normalised_value() -> None:
    assert Join(nsp="chat", sid="a", rooms=[Color.RED]) == Join(nsp="/chat", sid="a", rooms="red")
    assert Join(sid="a", rooms="x") != Leave(sid="a", rooms="x")
    assert Join(sid="a", rooms=42) != Join(sid="a", rooms="42")
    assert len({Join(sid="a", rooms=["x"]), Join(sid="a", rooms=("x",))}) == 1


# -- outputs are values too --------------------------------------------------------------------


def test_outputs_are_frozen_values() -> None:
    outputs: list[Any] = [
        Connected(nsp="/", sid="a"),
        RoomCreated(nsp="/", room="x"),
        RoomJoined(nsp="/", room="x", sid="a"),
        RoomLeft(nsp="/", room="x", sid="a"),
        RoomDeleted(nsp="/", room="x"),
        SocketDisconnecting(nsp="/", sid="a", reason="r"),
        SocketDisconnected(nsp="/", sid="a", reason="r"),
        AckReceived(nsp="/", ack_id=0, sid="a", response=1),
        AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=False),
    ]
    assert {type(output) for output in outputs} | {Deliveries} == set(OUTPUT_TYPES)
    for output in outputs:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            output.nsp = "/other"
        assert copy.copy(output) == output
        assert copy.deepcopy(output) == output
        assert pickle.loads(pickle.dumps(output)) == output
    assert SocketDisconnecting(nsp="/", sid="a", reason="r").close_connection is False


#: The outputs made for each socket that comes or goes (tuples underneath, for speed), with
#: the repr they had as attrs classes.
PER_SOCKET_OUTPUTS: list[tuple[Any, str]] = [
    (Connected(nsp="/", sid="a"), "Connected(nsp='/', sid='a')"),
    (RoomCreated(nsp="/", room=42), "RoomCreated(nsp='/', room=42)"),
    (RoomJoined(nsp="/", room="x", sid="a"), "RoomJoined(nsp='/', room='x', sid='a')"),
    (RoomLeft(nsp="/", room="x", sid="a"), "RoomLeft(nsp='/', room='x', sid='a')"),
    (RoomDeleted(nsp="/", room="x"), "RoomDeleted(nsp='/', room='x')"),
    (
        SocketDisconnecting(nsp="/", sid="a", reason="r"),
        "SocketDisconnecting(nsp='/', sid='a', reason='r', close_connection=False)",
    ),
    (
        SocketDisconnected(nsp="/c", sid="a", reason="r"),
        "SocketDisconnected(nsp='/c', sid='a', reason='r')",
    ),
]


@pytest.mark.parametrize(
    ("output", "shown"), PER_SOCKET_OUTPUTS, ids=[type(o).__name__ for o, _ in PER_SOCKET_OUTPUTS]
)
def test_per_socket_outputs_are_values_read_by_field_name(output: Any, shown: str) -> None:
    cls = type(output)
    assert repr(output) == str(output) == shown
    fields = {name: getattr(output, name) for name in cls._fields}
    assert list(fields) == list(cls.__annotations__)  # the fields, in the class's order
    # Built by keyword only, each value to its field.
    twin = cls(**fields)
    assert twin == output and (twin != output) is False and twin is not output
    assert hash(twin) == hash(output)
    assert len({output, twin}) == 1
    with pytest.raises(TypeError):
        cls(*fields.values())
    with pytest.raises(TypeError):
        cls(**dict(fields, extra=1))
    # Never equal to the tuple underneath, in either direction, nor to anything else.
    assert output != tuple(output) and tuple(output) != output
    assert not output == tuple(output)  # noqa: SIM201
    assert output != object() and output != list(output)
    # Something that says it equals anything still may (as with any value).
    assert output == mock.ANY and [output] == [mock.ANY]
    # Immutable, slotted, unordered, like the frozen attrs values they replace.
    for name in (*cls._fields, "extra"):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(output, name, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(output, name)
    assert not hasattr(output, "__dict__")
    for compare in (
        lambda: output < twin,
        lambda: output <= twin,
        lambda: output > twin,
        lambda: output >= twin,
        lambda: tuple(output) < output,
        lambda: output >= tuple(output),
    ):
        with pytest.raises(TypeError, match="values are not ordered"):
            compare()
    # Matched by keyword, as attrs' keyword-only classes are; never as a whole.
    match output:
        case Connected(sid=sid) | SocketDisconnecting(sid=sid) | SocketDisconnected(sid=sid):
            assert sid == "a"
        case RoomCreated(room=room) | RoomDeleted(room=room):
            assert room in (42, "x")
        case RoomJoined(room=room, sid=sid) | RoomLeft(room=room, sid=sid):
            assert (room, sid) == ("x", "a")
        case _:
            raise AssertionError(output)
    assert cls.__match_args__ == ()
    with pytest.raises(TypeError):
        match output:
            case Connected(_) | RoomCreated(_) | RoomJoined(_) | RoomLeft(_):
                pass
            case RoomDeleted(_) | SocketDisconnecting(_) | SocketDisconnected(_):
                pass


def test_outputs_with_the_same_items_are_told_apart_by_class() -> None:
    joined, left = RoomJoined(nsp="/", room="x", sid="a"), RoomLeft(nsp="/", room="x", sid="a")
    created, deleted = RoomCreated(nsp="/", room="x"), RoomDeleted(nsp="/", room="x")
    assert joined != left and left != joined and not joined == left  # noqa: SIM201
    assert created != deleted and deleted != created
    assert len({joined, left, created, deleted}) == 4
    assert [joined, created] != [left, deleted]
    assert SocketDisconnecting(nsp="/", sid="a", reason="r", close_connection=True) != (
        SocketDisconnecting(nsp="/", sid="a", reason="r")
    )


# -- RoomEngine.handle -------------------------------------------------------------------------

PAYLOAD = {"event": "news"}

#: Each event, and the method call it must be equivalent to.
SCRIPT: list[tuple[Any, Callable[[RoomEngine], object]]] = [
    (Connect(nsp="chat"), lambda e: e.namespace("/chat").connect()),
    (Connect(nsp="chat", sid="given"), lambda e: e.namespace("/chat").connect("given")),
    (Connect(sid="p", pending=True), lambda e: e.namespace().connect("p", pending=True)),
    (Join(sid="p", rooms=["mw"]), lambda e: e.namespace().join("p", ["mw"])),
    (Accept(sid="p"), lambda e: e.namespace().accept("p")),
    (Connect(sid="q", pending=True), lambda e: e.namespace().connect("q", pending=True)),
    (Join(sid="q", rooms="mw"), lambda e: e.namespace().join("q", "mw")),
    (Refuse(sid="q"), lambda e: e.namespace().refuse("q")),
    (
        Join(nsp="/chat", sid="s1", rooms=["room", 42]),
        lambda e: e.namespace("/chat").join("s1", ["room", 42]),
    ),
    (
        Join(nsp="/chat", sid="given", rooms="room"),
        lambda e: e.namespace("/chat").join("given", "room"),
    ),
    (Leave(nsp="/chat", sid="s1", rooms=42), lambda e: e.namespace("/chat").leave("s1", 42)),
    (
        Emit(
            nsp="/chat",
            payload=PAYLOAD,
            rooms=["room"],
            sender="given",
            volatile=True,
            compress=False,
            local=True,
        ),
        lambda e: [
            e.namespace("/chat").emit(
                PAYLOAD, rooms=["room"], sender="given", volatile=True, compress=False, local=True
            )
        ],
    ),
    (
        Emit(nsp="/chat", payload=PAYLOAD, except_="s1", sids=["given"]),
        lambda e: [e.namespace("/chat").emit(PAYLOAD, except_="s1", sids=["given"])],
    ),
    (
        EmitWithAck(
            nsp="/chat",
            payload=PAYLOAD,
            now=0,
            timeout=5,
            rooms="room",
            except_="s1",
            each_response=True,
        ),
        lambda e: e.namespace("/chat").emit_with_ack(
            PAYLOAD, now=0, timeout=5, rooms="room", except_="s1", each_response=True
        ),
    ),
    (
        EmitWithAck(nsp="/chat", payload=1, now=1, timeout=5, sids=["s1"], sender="given"),
        lambda e: e.namespace("/chat").emit_with_ack(
            1, now=1, timeout=5, sids=["s1"], sender="given"
        ),
    ),
    (
        Ack(nsp="/chat", sid="given", ack_id=0, response="yes"),
        lambda e: e.namespace("/chat").ack("given", 0, "yes"),
    ),
    (
        SocketsJoin(nsp="/chat", join=["all"], except_="s1"),
        lambda e: e.namespace("/chat").sockets_join(["all"], except_="s1"),
    ),
    (
        SocketsJoin(nsp="/chat", join="more", rooms="room", sids=["s1"]),
        lambda e: e.namespace("/chat").sockets_join("more", rooms="room", sids=["s1"]),
    ),
    (
        SocketsLeave(nsp="/chat", leave="all", sids="given"),
        lambda e: e.namespace("/chat").sockets_leave("all", sids="given"),
    ),
    (CloseRoom(nsp="/chat", room="room"), lambda e: e.namespace("/chat").close_room("room")),
    (
        BeginDisconnect(nsp="/chat", sid="s1", reason="transport close", close_connection=True),
        lambda e: e.namespace("/chat").begin_disconnect(
            "s1", "transport close", close_connection=True
        ),
    ),
    (
        FinishDisconnect(nsp="/chat", sid="s1"),
        lambda e: e.namespace("/chat").finish_disconnect("s1"),
    ),
    (
        Disconnect(sid="p", reason="ping timeout"),
        lambda e: e.namespace().disconnect("p", "ping timeout"),
    ),
    (
        DisconnectSockets(nsp="/chat", rooms="more", close_connection=True),
        lambda e: e.namespace("/chat").disconnect_sockets(rooms="more", close_connection=True),
    ),
    (
        DisconnectSockets(nsp="/chat", except_="nobody"),
        lambda e: e.namespace("/chat").disconnect_sockets(except_="nobody"),
    ),
    (TimePassed(now=5.5), lambda e: e.advance(5.5)),
    (TimePassed(now=6), lambda e: e.advance(6)),
]


def test_the_script_uses_every_event_type() -> None:
    assert {type(event) for event, _ in SCRIPT} == set(EVENT_TYPES)


@pytest.mark.parametrize("notices", [True, False])
def test_handle_does_what_the_matching_method_does(notices: bool) -> None:
    by_event, by_method = counting_engine(notices), counting_engine(notices)
    seen: list[type] = []
    for event, method in SCRIPT:
        outputs = by_event.handle(event)
        assert type(outputs) is list
        assert outputs == method(by_method), event
        assert snapshot(by_event) == snapshot(by_method), event
        seen.extend(type(output) for output in outputs)
    assert by_event.namespaces() == ("/chat", "/")
    assert len(by_event.acks) == 0
    if notices:
        # The script is rich enough to produce every kind of output.
        assert set(seen) == set(OUTPUT_TYPES)


def test_handle_emit_shares_the_payload_object() -> None:
    engine = counting_engine()
    engine.handle(Connect())
    engine.handle(Connect())
    (deliveries,) = engine.handle(Emit(payload=PAYLOAD))
    assert isinstance(deliveries, Deliveries)
    assert [p is PAYLOAD for _, p in deliveries] == [True, True]


def test_handle_emit_to_an_empty_room_list_reaches_nobody() -> None:
    engine = counting_engine()
    engine.handle(Connect())
    (deliveries,) = engine.handle(Emit(payload=1, rooms=[]))
    assert isinstance(deliveries, Deliveries)
    assert list(deliveries) == []
    (everybody,) = engine.handle(Emit(payload=1))
    assert isinstance(everybody, Deliveries)
    assert list(everybody) == [("s1", 1)]


@pytest.mark.parametrize(
    "not_an_event",
    [
        None,
        "join",
        {"type": "Join", "sid": "a", "rooms": ["x"]},
        ("Join", "a", "x"),
        Join,  # the class, not an instance
        Connected(nsp="/", sid="a"),  # an output is not an input
        RoomEngine(),
    ],
    ids=["none", "str", "dict", "tuple", "class", "output", "engine"],
)
def test_handle_refuses_what_is_not_an_event(not_an_event: Any) -> None:
    engine = counting_engine()
    engine.handle(Connect())
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError, match="not an engine event"):
        engine.handle(not_an_event)
    assert snapshot(engine) == before


def test_handle_refused_event_leaves_no_namespace_behind() -> None:
    engine = counting_engine()
    engine.handle(Connect(sid="a"))
    before = snapshot(engine)
    with pytest.raises(UnknownSocketError):
        engine.handle(Join(nsp="/new", sid="ghost", rooms="x"))
    with pytest.raises(UnknownSocketError):
        engine.handle(Emit(nsp="/new", payload=1, sender="ghost"))
    assert engine.namespaces() == ("/",)
    # A refusal in a namespace that already exists keeps that namespace.
    with pytest.raises(UnknownSocketError):
        engine.handle(Join(sid="ghost", rooms="x"))
    with pytest.raises(LocalProtocolError, match="id room"):
        engine.handle(CloseRoom(room="a"))
    assert engine.namespaces() == ("/",)
    assert snapshot(engine) == before


def test_handle_errors_are_those_of_the_methods() -> None:
    engine = counting_engine()
    engine.handle(Connect(sid="a"))
    engine.handle(Connect(sid="b"))
    engine.handle(BeginDisconnect(sid="b"))
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError, match="already in"):
        engine.handle(Connect(sid="a"))
    with pytest.raises(LocalProtocolError, match="cannot join socket 'b': it is disconnecting"):
        engine.handle(Join(sid="b", rooms="x"))
    with pytest.raises(LocalProtocolError, match="cannot accept socket 'a': it is connected"):
        engine.handle(Accept(sid="a"))
    with pytest.raises(LocalProtocolError, match="id room"):
        engine.handle(SocketsJoin(join="b"))
    assert snapshot(engine) == before


def test_a_pending_connect_event_needs_its_sid() -> None:
    with pytest.raises(LocalProtocolError, match="pending Connect needs its sid"):
        Connect(pending=True)
    assert Connect(sid="x", pending=True).pending is True


def test_disconnect_sockets_event_carries_its_reason() -> None:
    engine = RoomEngine()
    engine.handle(Connect(sid="a"))
    (disconnecting,) = engine.handle(DisconnectSockets(reason="maintenance"))
    assert disconnecting == SocketDisconnecting(nsp="/", sid="a", reason="maintenance")
    with pytest.raises(LocalProtocolError):
        DisconnectSockets(reason=None)  # type: ignore[arg-type]
