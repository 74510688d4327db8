"""The engine's fast paths give what the general paths give.

Servers run the engine with room notices off, and that is where the engine takes its
shortcuts: one-room joins and connects without a call to ``_add``, a connected socket's
disconnect in one pass, a broadcast to everyone that hands out the live index of connected
sockets (copy on write), outputs built as tuples without their keyword constructor.
The lockstep tests of test_model_properties.py run with notices on; here the same generated
sequences run with notices off against the reference model, and the shortcuts are checked
one by one.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_rooms import (
    Accept,
    Connect,
    Connected,
    Deliveries,
    Event,
    Join,
    Output,
    RoomCreated,
    RoomDeleted,
    RoomEngine,
    RoomJoined,
    RoomLeft,
    SansioRoomsError,
    SocketDisconnected,
    SocketDisconnecting,
)
from sansio_rooms._outputs import new_output
from sansio_rooms.testing import ReferenceModel, events, operation_sequences

NOTICES = (RoomCreated, RoomJoined, RoomLeft, RoomDeleted)


def without_notices(outputs: list[Output]) -> list[Output]:
    return [output for output in outputs if not isinstance(output, NOTICES)]


def state_of(engine: RoomEngine) -> dict[str, dict[str, object]]:
    """The engine's state through its public queries, in the shape of model.snapshot()."""
    state: dict[str, dict[str, object]] = {}
    for name in engine.namespaces():
        nsp = engine.namespace(name)
        if nsp.sockets():
            # The id rooms, stored nowhere as rooms, are counted as the rooms listed.
            assert nsp.count_rooms() == len(nsp.rooms())
            assert [nsp.count_members(room) for room in nsp.rooms()] == [
                len(nsp.members(room)) for room in nsp.rooms()
            ]
            state[name] = {
                "sockets": [(sid, nsp.state_of(sid), nsp.rooms_of(sid)) for sid in nsp.sockets()],
                "rooms": [(room, nsp.members(room)) for room in nsp.rooms()],
                "connected": nsp.members_of(),
            }
    return state


def apply(engine: RoomEngine, event: Event) -> list[Output]:
    """``engine.handle(event)``, except that a join of one room is made as a host makes it,
    ``join(sid, room)`` with the bare name: the event values hold a tuple of rooms, which
    never takes the one-room path. A connect with a given id passes a route, as a server
    does: ``route_of(nsp, sid)``."""
    if type(event) is Join and len(event.rooms) == 1:
        return engine.namespace(event.nsp).join(event.sid, event.rooms[0])
    if type(event) is Connect and type(event.sid) is str:
        namespace = engine.namespace(event.nsp)
        return namespace.connect(
            event.sid, pending=event.pending, route=route_of(namespace.name, event.sid)
        )
    return engine.handle(event)


def route_of(nsp: str, sid: str) -> tuple[str, str, str]:
    """The route ``apply`` gives a socket it connects with a given id (a socket whose id the
    engine's factory made has its id as its route)."""
    return ("route", nsp, sid)


def routes_expected(deliveries: Deliveries, given: set[tuple[str, str]]) -> list[object]:
    nsp = deliveries.nsp
    return [route_of(nsp, sid) if (nsp, sid) in given else sid for sid in deliveries.recipients]


def test_the_state_read_here_is_the_models() -> None:
    model = ReferenceModel()
    model.connect("/", "a")
    model.join("/", "a", "r")
    engine = RoomEngine()
    engine.namespace().connect("a")
    engine.namespace().join("a", "r")
    assert state_of(engine) == model.snapshot()


#: Any events, with more connects, accepts and one-room joins than operation_sequences()
#: makes (short sequences of which seldom join one room that exists already). One of four
#: kinds is drawn first: a plain one_of would flatten into events()' own dozen choices.
SOCKETS = ("a", "b", "c")
BUSY_SEQUENCES = st.lists(
    st.sampled_from(
        [
            st.builds(Connect, sid=st.sampled_from(SOCKETS), pending=st.booleans()),
            st.builds(Accept, sid=st.sampled_from(SOCKETS)),
            st.builds(
                Join, sid=st.sampled_from(SOCKETS), rooms=st.sampled_from(("r", "s", *SOCKETS))
            ),
            events(namespaces=("/",), sids=SOCKETS),
        ]
    ).flatmap(lambda kind: kind),
    min_size=5,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(operation_sequences(max_size=40) | BUSY_SEQUENCES)
def test_without_notices_the_engine_follows_the_model(sequence: list[Event]) -> None:
    engine, model = RoomEngine(), ReferenceModel()
    held: list[tuple[Deliveries, tuple[str, ...]]] = []
    given: set[tuple[str, str]] = set()  # sockets connected with a given id, so a route
    for event in sequence:
        before = state_of(engine)
        try:
            expected = model.apply(event)
        except SansioRoomsError as error:
            with pytest.raises(SansioRoomsError) as raised:
                apply(engine, event)
            assert type(raised.value) is type(error), (event, raised.value, error)
            # The namespace a refused join named may now exist, with no socket in it.
            assert state_of(engine) == before
        else:
            outputs = apply(engine, event)
            assert outputs == without_notices(expected), event
            if type(event) is Connect and type(event.sid) is str:
                given.add((engine.namespace(event.nsp).name, event.sid))
            held += [(out, tuple(out.recipients)) for out in outputs if type(out) is Deliveries]
        assert state_of(engine) == model.snapshot(), event
        # Deliveries are values: what a broadcast was handed never changes afterwards, and
        # its routes are its recipients' routes, in the same order.
        assert [tuple(deliveries.recipients) for deliveries, _ in held] == [
            recipients for _, recipients in held
        ]
        for deliveries, _ in held:
            assert list(deliveries.routes) == routes_expected(deliveries, given), event


def test_a_broadcast_to_everyone_keeps_its_recipients() -> None:
    engine = RoomEngine()
    nsp = engine.namespace()
    for sid in ("a", "b", "c", "d"):
        nsp.connect(sid)
    nsp.connect("p", pending=True)
    first = nsp.emit("1")
    nsp.connect("e")
    second = nsp.emit("2")
    nsp.disconnect("a")
    third = nsp.emit("3")
    nsp.begin_disconnect("b")
    fourth = nsp.emit("4")
    nsp.accept("p")
    fifth = nsp.emit("5")
    with_sender = nsp.emit("6", sender="c")
    assert [list(d.recipients) for d in (first, second, third, fourth, fifth, with_sender)] == [
        ["a", "b", "c", "d"],
        ["a", "b", "c", "d", "e"],
        ["b", "c", "d", "e"],
        ["c", "d", "e"],
        ["c", "d", "e", "p"],
        ["d", "e", "p"],
    ]
    (with_ack,) = nsp.emit_with_ack("7", now=0, timeout=1)
    nsp.disconnect("c")
    assert list(with_ack.recipients) == ["c", "d", "e", "p"]
    assert nsp.ack("d", 0) == nsp.ack("e", 0) == []
    assert nsp.ack("p", 0) == []  # c left, but its answer is still awaited
    assert nsp.members_of() == ("d", "e", "p")


def test_the_namespace_is_copied_before_a_change_only_while_a_broadcast_holds_it() -> None:
    engine = RoomEngine()
    nsp = engine.namespace()
    for sid in ("a", "b", "c", "d", "e"):
        nsp.connect(sid)
    nsp.connect("p", pending=True)

    def changed_in_place(change: Any) -> bool:
        before = id(nsp._receiving)
        change()
        return id(nsp._receiving) == before

    # Held (the deliveries, a view, an iterator over one): copied, and what is held stays.
    held = nsp.emit("1")
    assert not changed_in_place(lambda: nsp.disconnect("a"))
    routes = nsp.emit("2").routes
    assert not changed_in_place(lambda: nsp.begin_disconnect("b"))
    recipients = iter(nsp.emit("3").recipients)
    assert not changed_in_place(lambda: nsp.accept("p"))
    assert list(held.recipients) == ["a", "b", "c", "d", "e"]
    assert list(routes) == ["b", "c", "d", "e"]
    assert list(recipients) == ["c", "d", "e"]
    # Dropped (as a server does once it has sent them), or never held: changed in place.
    nsp.connect("q", pending=True)
    for change in (
        lambda: nsp.connect("f"),
        lambda: nsp.disconnect("c"),
        lambda: nsp.begin_disconnect("d"),
        lambda: nsp.accept("q"),
    ):
        nsp.emit("dropped")
        assert changed_in_place(change)
    nsp.members_of()
    assert changed_in_place(lambda: nsp.disconnect("e"))
    # disconnect_sockets walks that very dict while it takes sockets out: a copy, then.
    outputs = nsp.disconnect_sockets()
    assert [out.sid for out in outputs if isinstance(out, SocketDisconnecting)] == ["p", "f", "q"]
    assert nsp.members_of() == ()


def test_without_reference_counts_the_namespace_is_always_copied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sansio_rooms._engine._refcount", lambda _: sys.maxsize)
    nsp = RoomEngine().namespace()
    nsp.connect("a")
    nsp.emit("dropped")
    before = id(nsp._receiving)
    nsp.connect("b")
    assert id(nsp._receiving) != before
    assert nsp.members_of() == ("a", "b")


@pytest.mark.parametrize("notices", [False, True])
def test_disconnect_of_a_connected_socket_is_both_phases(notices: bool) -> None:
    outputs = []
    for two_phases in (False, True):
        engine = RoomEngine(notices=notices)
        nsp = engine.namespace()
        nsp.connect("a")
        nsp.connect("b")
        nsp.join("a", ["r", "s"])
        nsp.join("b", "s")
        if two_phases:
            result = nsp.begin_disconnect("a", "bye") + nsp.finish_disconnect("a")
        else:
            result = nsp.disconnect("a", "bye")
        outputs.append((result, state_of(engine)))
    assert outputs[0] == outputs[1]
    (result, _) = outputs[0]
    assert result[0] == SocketDisconnecting(nsp="/", sid="a", reason="bye")
    assert result[-1] == SocketDisconnected(nsp="/", sid="a", reason="bye")


@pytest.mark.parametrize(
    ("made", "by_class"),
    [
        (new_output(Connected, ("/chat", "a")), Connected(nsp="/chat", sid="a")),
        (
            new_output(SocketDisconnecting, ("/", "a", "why", True)),
            SocketDisconnecting(nsp="/", sid="a", reason="why", close_connection=True),
        ),
        (
            new_output(SocketDisconnected, ("/", "a", "why")),
            SocketDisconnected(nsp="/", sid="a", reason="why"),
        ),
    ],
)
def test_the_engines_constructor_makes_what_the_classes_make(made: Any, by_class: Any) -> None:
    assert type(made) is type(by_class)
    assert made == by_class
    assert hash(made) == hash(by_class)
    assert repr(made) == repr(by_class)
    # Every field is where the keyword constructor puts it.
    assert [getattr(made, name) for name in type(made)._fields] == [
        getattr(by_class, name) for name in type(by_class)._fields
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.nsp = "/other"


def test_every_selection_hands_out_the_routes_of_its_recipients() -> None:
    engine = RoomEngine()
    nsp = engine.namespace()
    route = {sid: object() for sid in ("a", "b", "c", "d")}
    for sid in ("a", "b", "c"):
        nsp.connect(sid, route=route[sid])
        nsp.join(sid, "all3")
    nsp.connect("d", pending=True, route=route["d"])
    nsp.join("d", ["all3", "pending"])  # several rooms: the general path
    nsp.join("a", ["ab", "a-only"])
    nsp.join("b", "ab")
    nsp.connect("e")  # no route: its id
    for sid in ("c", "d", "e"):
        nsp.join(sid, "cde")

    def routes(**selection: Any) -> list[object]:
        deliveries = nsp.emit("x", **selection)
        assert len(deliveries.routes) == len(deliveries.recipients)
        return list(deliveries.routes)

    assert routes() == [route["a"], route["b"], route["c"], "e"]
    assert routes(rooms="all3") == [route["a"], route["b"], route["c"]]
    assert routes(rooms=["ab", "all3"]) == [route["a"], route["b"], route["c"]]
    assert routes(sids=["c", "e", "d", "zz"]) == [route["c"], "e"]
    # except_ bigger than the selection, then smaller: both ways of discarding.
    assert routes(rooms="a-only", except_="all3") == []
    assert routes(rooms="all3", except_="a-only") == [route["b"], route["c"]]
    assert routes(rooms=["ab"], except_=["all3", "ab", "e"]) == []
    assert routes(rooms="ab", except_="cde") == [route["a"], route["b"]]
    assert routes(rooms=["ab", "e"], except_="a-only") == [route["b"], "e"]
    assert routes(except_="ab") == [route["c"], "e"]
    assert routes(sender="a") == [route["b"], route["c"], "e"]
    everyone = nsp.emit("x")
    nsp.accept("d")  # the copy on write keeps the routes of the view handed out
    assert list(everyone.routes) == [route["a"], route["b"], route["c"], "e"]
    assert routes(rooms="pending") == [route["d"]]
    assert routes(rooms="d") == [route["d"]]
    nsp.begin_disconnect("b")
    assert routes(rooms="all3") == [route["a"], route["c"], route["d"]]
    nsp.finish_disconnect("b")
    nsp.connect("b")
    assert routes(rooms="b") == ["b"]
    (done,) = nsp.emit_with_ack("x", now=0.0, timeout=1.0, rooms="ab")
    assert isinstance(done, Deliveries) and list(done.routes) == [route["a"]]


def test_deliveries_made_by_hand_route_to_their_recipients() -> None:
    deliveries = Deliveries(nsp="/", payload=1, recipients=("a", "b"))
    assert deliveries.routes == ("a", "b")
    routed = Deliveries(nsp="/", payload=1, recipients=("a",), routes=(object(),))
    assert routed == Deliveries(nsp="/", payload=1, recipients=("a",))
