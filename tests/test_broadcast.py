"""Broadcasting: who receives an emit and in what order, the flags, the shared payload, the
``Deliveries`` value, and broadcast acknowledgements with time driven by hand.

Public API only.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_rooms import (
    AckCompleted,
    Deliveries,
    EmitWithAck,
    InvalidRoomError,
    LocalProtocolError,
    Namespace,
    RoomEngine,
    TimePassed,
    UnknownSocketError,
)


def make() -> tuple[RoomEngine, Namespace]:
    counter = itertools.count(1)
    engine = RoomEngine(id_factory=lambda: f"s{next(counter)}")
    return engine, engine.namespace()


def world() -> tuple[RoomEngine, Namespace]:
    """Connected a, b, c, d, e (in that order), pending p, disconnecting z.

    red = [c, a, p, z] (join order), blue = [b, c], 42 = [d], "42" = [e].
    """
    engine, nsp = make()
    for sid in "abcde":
        nsp.connect(sid)
    nsp.connect("p", pending=True)
    nsp.connect("z")
    nsp.join("b", "blue")
    nsp.join("c", ["red", "blue"])
    nsp.join("a", "red")
    nsp.join("p", "red")
    nsp.join("z", "red")
    nsp.join("d", 42)
    nsp.join("e", "42")
    nsp.begin_disconnect("z")
    return engine, nsp


def who(deliveries: Deliveries) -> list[str]:
    return list(deliveries.recipients)


# -- selection ----------------------------------------------------------------------------------


def test_union_of_rooms_each_socket_once() -> None:
    _, nsp = world()
    # c is in both rooms: it receives once.
    assert who(nsp.emit("x", rooms=["red", "blue"])) == ["c", "a", "b"]
    assert who(nsp.emit("x", rooms=["red", "red", "blue", "red"])) == ["c", "a", "b"]


def test_order_is_target_room_order_then_join_order() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms="red")) == ["c", "a"]  # join order, not connection order
    assert who(nsp.emit("x", rooms=["blue", "red"])) == ["b", "c", "a"]
    assert who(nsp.emit("x", rooms=["red", "blue"])) == ["c", "a", "b"]
    assert who(nsp.emit("x", rooms=[42, "blue", "42"])) == ["d", "b", "c", "e"]


def test_the_same_selection_always_gives_the_same_order() -> None:
    _, nsp = world()
    first = who(nsp.emit("x", rooms=["blue", 42, "red"], except_="e"))
    assert all(
        who(nsp.emit("x", rooms=["blue", 42, "red"], except_="e")) == first for _ in range(20)
    )


def test_no_rooms_means_every_connected_socket_in_connection_order() -> None:
    _, nsp = world()
    assert who(nsp.emit("x")) == ["a", "b", "c", "d", "e"]
    assert who(nsp.emit("x", rooms=None, sids=None)) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("empty", [[], (), set(), iter(())], ids=["list", "tuple", "set", "iter"])
def test_an_empty_list_of_rooms_means_nobody(empty: Any) -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms=empty)) == []
    assert nsp.members_of(empty) == ()


def test_an_empty_list_of_sids_means_nobody() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", sids=[])) == []
    assert who(nsp.emit("x", rooms=[], sids=[])) == []
    assert who(nsp.emit("x", rooms=[], sids=["b"])) == ["b"]


def test_unknown_rooms_are_ignored() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms=["nowhere", "blue", 7, "p"])) == ["b", "c"]
    assert who(nsp.emit("x", rooms="nowhere")) == []


def test_one_room_may_be_given_as_a_str_an_int_or_any_iterable() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms="blue")) == ["b", "c"]
    assert who(nsp.emit("x", rooms=42)) == ["d"]
    assert who(nsp.emit("x", rooms="42")) == ["e"]  # not coerced: "42" is not 42
    assert who(nsp.emit("x", rooms=(r for r in ["blue", 42]))) == ["b", "c", "d"]
    assert who(nsp.emit("x", rooms={"blue": None}.keys())) == ["b", "c"]


def test_except_removes_the_members_of_the_listed_rooms() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", except_="blue")) == ["a", "d", "e"]
    assert who(nsp.emit("x", rooms=["red", "blue"], except_=["blue"])) == ["a"]
    assert who(nsp.emit("x", rooms="red", except_=["nowhere", 42])) == ["c", "a"]
    assert who(nsp.emit("x", except_=[42, "42"])) == ["a", "b", "c"]
    assert who(nsp.emit("x", except_=[])) == ["a", "b", "c", "d", "e"]


def test_except_a_socket_id_excludes_that_socket() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", except_="c")) == ["a", "b", "d", "e"]
    assert who(nsp.emit("x", rooms=["red", "blue"], except_=["a", "b"])) == ["c"]


def test_except_is_applied_after_the_union_whatever_the_sizes() -> None:
    # A small room excluded from a large selection, and a large room from a small one.
    _, nsp = make()
    for sid in "abcdef":
        nsp.connect(sid)
    nsp.join("a", "small")
    for sid in "abcdef":
        nsp.join(sid, "large")
    assert who(nsp.emit("x", rooms="large", except_="small")) == list("bcdef")
    assert who(nsp.emit("x", rooms="small", except_="large")) == []
    assert who(nsp.emit("x", sids=["b", "a"], except_="large")) == []
    assert who(nsp.emit("x", sids=["b", "a"], except_=["small", "c"])) == ["b"]


def test_sender_is_excluded_even_when_it_is_a_member() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms="red", sender="c")) == ["a"]
    assert who(nsp.emit("x", rooms=["red", "blue"], sender="c")) == ["a", "b"]
    # socket.broadcast.emit: everyone but the sender.
    assert who(nsp.emit("x", sender="b")) == ["a", "c", "d", "e"]
    # socket.to(room) where the sender is not a member.
    assert who(nsp.emit("x", rooms="blue", sender="a")) == ["b", "c"]
    # socket.to(socket.id): nobody.
    assert who(nsp.emit("x", rooms="a", sender="a")) == []
    # Sender and except together.
    assert who(nsp.emit("x", rooms=["red", "blue"], except_="b", sender="a")) == ["c"]
    assert who(nsp.emit("x", sids=["a", "b"], sender="a")) == ["b"]


def test_a_disconnecting_or_pending_sender_may_broadcast() -> None:
    _, nsp = world()
    assert who(nsp.emit("z left", rooms=nsp.rooms_of("z"), sender="z")) == ["c", "a"]
    assert who(nsp.emit("hello", rooms="red", sender="p")) == ["c", "a"]


def test_an_unknown_sender_raises() -> None:
    _, nsp = world()
    with pytest.raises(UnknownSocketError, match="'ghost'"):
        nsp.emit("x", rooms="red", sender="ghost")
    nsp.disconnect("c")
    with pytest.raises(UnknownSocketError, match="'c'"):
        nsp.emit("x", rooms="red", sender="c")


def test_sids_select_those_connected_sockets_in_the_order_given() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", sids=["d", "a"])) == ["d", "a"]
    assert who(nsp.emit("x", sids=["d", "ghost", "p", "z", "d"])) == ["d"]
    # A single id is one id, never its characters.
    assert who(nsp.emit("x", sids="e")) == ["e"]
    nsp.connect("ab")
    assert who(nsp.emit("x", sids="ab")) == ["ab"]
    assert who(nsp.emit("x", sids=("b",))) == ["b"]


def test_sids_add_to_the_rooms_each_socket_once() -> None:
    _, nsp = world()
    assert who(nsp.emit("x", rooms="blue", sids=["a", "c", "e"])) == ["b", "c", "a", "e"]
    assert who(nsp.emit("x", rooms="blue", sids=["a"], except_="a")) == ["b", "c"]


def test_only_connected_sockets_of_the_namespace_receive() -> None:
    engine, nsp = world()
    other = engine.namespace("/other")
    other.connect("q")
    other.join("q", "red")
    assert who(nsp.emit("x", rooms="red")) == ["c", "a"]  # not p (pending) nor z (leaving)
    assert who(nsp.emit("x", sids=["q"])) == []
    assert who(other.emit("x", rooms="red")) == ["q"]
    assert who(other.emit("x")) == ["q"]
    assert nsp.emit("x").nsp == "/"
    assert other.emit("x").nsp == "/other"


def test_selection_refuses_bad_names_and_sids() -> None:
    _, nsp = world()
    for bad in (None, 1.5, True, [None], ["red", b"x"], {"red": 1}):
        with pytest.raises(InvalidRoomError):
            nsp.emit("x", except_=bad)
    for bad in (1.5, True, [None], ["red", b"x"], b"red", {"red": 1}):
        with pytest.raises(InvalidRoomError):
            nsp.emit("x", rooms=bad)
    for bad_sids in ([1], ["a", None], [b"a"]):
        with pytest.raises(LocalProtocolError, match="socket id must be a str"):
            nsp.emit("x", sids=bad_sids)


def test_emit_changes_nothing_and_does_not_touch_its_arguments() -> None:
    _, nsp = world()
    rooms, except_, sids = ["red", "blue"], ["e"], ["d"]
    before = (nsp.rooms(), nsp.sockets(), {s: nsp.rooms_of(s) for s in nsp.sockets()})
    nsp.emit("x", rooms=rooms, except_=except_, sids=sids, sender="a")
    assert (rooms, except_, sids) == (["red", "blue"], ["e"], ["d"])
    assert before == (nsp.rooms(), nsp.sockets(), {s: nsp.rooms_of(s) for s in nsp.sockets()})


def test_deliveries_do_not_change_when_the_rooms_change_later() -> None:
    _, nsp = world()
    whole, red = nsp.emit("x"), nsp.emit("x", rooms="red")
    nsp.join("b", "red")
    nsp.leave("c", "red")
    nsp.disconnect("a")
    nsp.connect("new")
    assert who(whole) == ["a", "b", "c", "d", "e"]
    assert who(red) == ["c", "a"]


# -- the Deliveries value -----------------------------------------------------------------------


def test_payload_is_the_same_object_for_every_recipient() -> None:
    _, nsp = world()
    payload = {"event": "news", "args": [object()]}
    deliveries = nsp.emit(payload, rooms=["red", "blue"])
    assert deliveries.payload is payload
    pairs = list(deliveries)
    assert len(pairs) == 3
    assert all(p is payload for _, p in pairs)


def test_iterating_deliveries_yields_sid_payload_pairs() -> None:
    _, nsp = world()
    deliveries = nsp.emit("hello", rooms=["blue", 42])
    assert list(deliveries) == [("b", "hello"), ("c", "hello"), ("d", "hello")]
    assert dict(deliveries) == {"b": "hello", "c": "hello", "d": "hello"}
    assert len(deliveries) == 3
    assert len(nsp.emit("x", rooms=[])) == 0
    assert list(nsp.emit("x", rooms=[])) == []


def test_deliveries_default_flags() -> None:
    _, nsp = world()
    deliveries = nsp.emit("x", rooms="blue")
    assert deliveries.nsp == "/"
    assert (deliveries.volatile, deliveries.compress, deliveries.local) == (False, True, False)
    assert deliveries.ack_id is None


@pytest.mark.parametrize(
    "flags",
    [
        {"volatile": True},
        {"compress": False},
        {"local": True},
        {"volatile": True, "compress": False, "local": True},
    ],
)
def test_flags_are_carried_on_the_deliveries(flags: dict[str, bool]) -> None:
    _, nsp = world()
    deliveries = nsp.emit("x", rooms="blue", **flags)
    expected = {"volatile": False, "compress": True, "local": False, **flags}
    assert {name: getattr(deliveries, name) for name in expected} == expected
    assert who(deliveries) == ["b", "c"]  # flags do not change the selection
    (with_ack,) = nsp.emit_with_ack("x", rooms="blue", now=0, timeout=1, **flags)
    assert {name: getattr(with_ack, name) for name in expected} == expected


def test_deliveries_are_frozen() -> None:
    _, nsp = world()
    deliveries = nsp.emit("x", rooms="blue")
    for name in ("nsp", "payload", "recipients", "volatile", "compress", "local", "ack_id"):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(deliveries, name, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(deliveries, name)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        deliveries.extra = 1  # type: ignore[attr-defined]
    assert list(deliveries) == [("b", "x"), ("c", "x")]


def test_deliveries_compare_by_value() -> None:
    _, nsp = world()
    first = nsp.emit("x", rooms="blue")
    assert first == nsp.emit("x", rooms="blue")
    assert first == nsp.emit("x", sids=["b", "c"])
    assert first == Deliveries(nsp="/", payload="x", recipients=("b", "c"))
    assert first != nsp.emit("y", rooms="blue")
    assert first != nsp.emit("x", sids=["c", "b"])  # order matters
    assert first != nsp.emit("x", rooms="blue", volatile=True)
    assert first != nsp.emit("x", rooms="blue", compress=False)
    assert first != nsp.emit("x", rooms="blue", local=True)
    assert first != Deliveries(nsp="/other", payload="x", recipients=("b", "c"))
    assert first != Deliveries(nsp="/", payload="x", recipients=("b", "c"), ack_id=0)
    assert first != [("b", "x"), ("c", "x")]
    assert first != "x"
    with pytest.raises(TypeError):
        hash(first)


def test_deliveries_repr() -> None:
    _, nsp = world()
    assert repr(nsp.emit("x", rooms="blue", volatile=True)) == (
        "Deliveries(nsp='/', payload='x', recipients=['b', 'c'], volatile=True, "
        "compress=True, local=False, ack_id=None)"
    )


# -- a property: the selection agrees with a plain set model ------------------------------------

SIDS = [f"s{i}" for i in range(6)]
ROOM_NAMES: list[Any] = ["r0", "r1", "r2", 1, "1", *SIDS[:2]]


def model_select(
    members: dict[Any, list[str]],
    connected: list[str],
    rooms: list[Any] | None,
    except_: list[Any],
    sids: list[str] | None,
    sender: str | None,
) -> list[str]:
    """Socket.IO's algorithm (reference §1.5), written naively."""
    if rooms is None and sids is None:
        candidates = list(connected)
    else:
        candidates = [sid for room in rooms or [] for sid in members.get(room, [])]
        candidates += [sid for sid in sids or [] if sid in connected]
    excluded = {sid for room in except_ for sid in members.get(room, [])}
    if sender is not None:
        excluded.add(sender)
    result: list[str] = []
    for sid in candidates:
        if sid in connected and sid not in excluded and sid not in result:
            result.append(sid)
    return result


@settings(max_examples=300, deadline=None)
@given(
    joins=st.lists(st.tuples(st.sampled_from(SIDS), st.sampled_from(ROOM_NAMES[:5]))),
    leaving=st.sets(st.sampled_from(SIDS)),
    rooms=st.none() | st.lists(st.sampled_from([*ROOM_NAMES, "nowhere"])),
    except_=st.lists(st.sampled_from([*ROOM_NAMES, "nowhere"])),
    sids=st.none() | st.lists(st.sampled_from([*SIDS, "ghost"])),
    sender=st.none() | st.sampled_from(SIDS),
)
def test_selection_matches_a_naive_model(
    joins: list[tuple[str, Any]],
    leaving: set[str],
    rooms: list[Any] | None,
    except_: list[Any],
    sids: list[str] | None,
    sender: str | None,
) -> None:
    _, nsp = make()
    members: dict[Any, list[str]] = {sid: [sid] for sid in SIDS}
    for sid in SIDS:
        nsp.connect(sid)
    for sid, room in joins:
        nsp.join(sid, room)
        if sid not in members.setdefault(room, []):
            members[room].append(sid)
    for sid in sorted(leaving):
        nsp.begin_disconnect(sid)
    connected = [sid for sid in SIDS if sid not in leaving]
    expected = model_select(members, connected, rooms, except_, sids, sender)
    deliveries = nsp.emit("p", rooms=rooms, except_=except_, sids=sids, sender=sender)
    assert who(deliveries) == expected
    assert nsp.members_of(rooms, except_=except_, sids=sids) == tuple(
        model_select(members, connected, rooms, except_, sids, None)
    )


# -- acknowledgements ---------------------------------------------------------------------------


def test_emit_with_ack_gives_deliveries_with_an_ack_id_and_a_deadline() -> None:
    engine, nsp = world()
    assert engine.next_deadline() is None
    payload = object()
    (deliveries,) = nsp.emit_with_ack(payload, rooms="blue", now=100.0, timeout=5.0)
    assert isinstance(deliveries, Deliveries)
    assert deliveries.payload is payload
    assert who(deliveries) == ["b", "c"]
    assert deliveries.ack_id == 0
    assert len(engine.acks) == 1
    assert engine.next_deadline() == 105.0


def test_ack_ids_are_unique_across_namespaces() -> None:
    engine, nsp = world()
    other = engine.namespace("/other")
    other.connect("q")
    ids = [
        nsp.emit_with_ack("x", rooms="blue", now=0, timeout=1)[0].ack_id,
        other.emit_with_ack("x", now=0, timeout=1)[0].ack_id,
        nsp.emit_with_ack("x", rooms=[], now=0, timeout=1)[0].ack_id,
        nsp.emit_with_ack("x", sids="a", now=0, timeout=1)[0].ack_id,
    ]
    assert ids == [0, 1, 2, 3]


def test_acks_complete_when_every_recipient_answered_in_arrival_order() -> None:
    engine, nsp = world()
    (deliveries,) = nsp.emit_with_ack("q?", rooms=["red", "blue"], now=0, timeout=10)
    ack_id = deliveries.ack_id
    assert ack_id is not None
    assert who(deliveries) == ["c", "a", "b"]
    answer = object()
    assert nsp.ack("b", ack_id, answer) == []
    assert nsp.ack("a", ack_id, "from a") == []
    assert engine.next_deadline() == 10
    outputs = nsp.ack("c", ack_id)  # no argument: None
    assert outputs == [
        AckCompleted(nsp="/", ack_id=ack_id, responses=(answer, "from a", None), timed_out=False)
    ]
    assert outputs[0].responses[0] is answer
    assert len(engine.acks) == 0
    assert engine.next_deadline() is None
    assert engine.advance(10) == []


def test_acks_complete_at_the_deadline_with_the_partial_answers() -> None:
    engine, nsp = world()
    (deliveries,) = nsp.emit_with_ack("q?", rooms=["red", "blue"], now=50, timeout=2.5)
    ack_id = deliveries.ack_id
    assert ack_id is not None
    nsp.ack("a", ack_id, 1)
    assert engine.advance(52.4) == []  # not yet
    assert engine.next_deadline() == 52.5
    assert engine.advance(52.5) == [
        AckCompleted(nsp="/", ack_id=ack_id, responses=(1,), timed_out=True)
    ]
    assert len(engine.acks) == 0
    assert engine.next_deadline() is None
    # Late answers are ignored.
    assert nsp.ack("b", ack_id, 2) == []
    assert nsp.ack("c", ack_id, 3) == []
    assert engine.advance(1000) == []


def test_time_passed_event_drives_the_same_deadline() -> None:
    engine, _ = world()
    outputs = engine.handle(EmitWithAck(payload="q?", rooms=["blue"], now=1, timeout=1))
    (deliveries,) = outputs
    assert isinstance(deliveries, Deliveries)
    assert engine.handle(TimePassed(now=1.5)) == []
    assert engine.handle(TimePassed(now=2)) == [
        AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=True)
    ]


def test_zero_recipients_completes_at_once_with_no_responses() -> None:
    engine, nsp = world()
    outputs = nsp.emit_with_ack("q?", rooms=["nowhere"], now=0, timeout=10)
    assert outputs == [
        Deliveries(nsp="/", payload="q?", recipients=(), ack_id=0),
        AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=False),
    ]
    assert len(engine.acks) == 0
    assert engine.next_deadline() is None
    assert nsp.ack("a", 0, "late") == []


def test_duplicate_foreign_and_unknown_acks_are_ignored() -> None:
    engine, nsp = world()
    other = engine.namespace("/other")
    other.connect("b")
    (deliveries,) = nsp.emit_with_ack("q?", rooms="blue", now=0, timeout=10)
    ack_id = deliveries.ack_id
    assert ack_id is not None
    assert nsp.ack("b", ack_id, "first") == []
    assert nsp.ack("b", ack_id, "again") == []  # duplicate
    assert nsp.ack("a", ack_id, "not asked") == []  # not a recipient
    assert nsp.ack("ghost", ack_id, "who?") == []  # not even a socket
    assert other.ack("c", ack_id, "wrong namespace") == []  # same sid, other namespace
    assert nsp.ack("c", ack_id + 1, "unknown id") == []
    assert len(engine.acks) == 1
    assert nsp.ack("c", ack_id, "second") == [
        AckCompleted(nsp="/", ack_id=ack_id, responses=("first", "second"), timed_out=False)
    ]


def test_a_recipient_that_disconnects_is_awaited_until_the_deadline() -> None:
    engine, nsp = world()
    nsp.emit_with_ack("q?", rooms="blue", now=0, timeout=3)
    nsp.ack("b", 0, "b")
    nsp.disconnect("c")
    assert engine.advance(2.9) == []
    assert engine.advance(3) == [AckCompleted(nsp="/", ack_id=0, responses=("b",), timed_out=True)]


def test_the_sender_and_except_apply_to_acks_too() -> None:
    _, nsp = world()
    (deliveries,) = nsp.emit_with_ack(
        "q?", rooms=["red", "blue"], except_="b", sender="a", now=0, timeout=1
    )
    assert who(deliveries) == ["c"]
    assert nsp.ack("c", 0, "c") == [
        AckCompleted(nsp="/", ack_id=0, responses=("c",), timed_out=False)
    ]


def test_next_deadline_is_the_earliest_pending_one() -> None:
    engine, nsp = world()
    nsp.emit_with_ack("late", sids="a", now=0, timeout=30)  # ack 0, due 30
    nsp.emit_with_ack("soon", sids="b", now=0, timeout=10)  # ack 1, due 10
    nsp.emit_with_ack("mid", sids="c", now=5, timeout=15)  # ack 2, due 20
    assert len(engine.acks) == 3
    assert engine.next_deadline() == 10
    nsp.ack("b", 1)  # the earliest completes early
    assert engine.next_deadline() == 20
    nsp.ack("c", 2)
    assert engine.next_deadline() == 30
    assert engine.advance(29.999) == []
    assert engine.advance(30) == [AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=True)]
    assert engine.next_deadline() is None
    assert len(engine.acks) == 0


def test_advance_completes_every_due_ack_in_deadline_order() -> None:
    engine, nsp = world()
    nsp.emit_with_ack("x", sids="a", now=0, timeout=3)  # 0, due 3
    nsp.emit_with_ack("x", sids="b", now=0, timeout=1)  # 1, due 1
    nsp.emit_with_ack("x", sids="c", now=0, timeout=2)  # 2, due 2, answered early
    nsp.emit_with_ack("x", sids="d", now=0, timeout=9)  # 3, due 9
    nsp.ack("c", 2, "c")
    # next_deadline was not asked: advance skips the finished entry by itself.
    outputs = engine.advance(5)
    assert [(o.ack_id, o.timed_out) for o in outputs if isinstance(o, AckCompleted)] == [
        (1, True),
        (0, True),
    ]
    assert len(engine.acks) == 1
    assert engine.next_deadline() == 9


def test_a_zero_timeout_is_due_immediately() -> None:
    engine, nsp = world()
    nsp.emit_with_ack("x", rooms="blue", now=7, timeout=0)
    assert engine.next_deadline() == 7
    assert engine.advance(7) == [AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=True)]


@pytest.mark.parametrize(
    "bad", [-1, -0.5, math.nan, True, "1", None, 1j], ids=lambda v: f"{type(v).__name__}:{v}"
)
def test_bad_now_or_timeout_is_refused_before_anything_happens(bad: Any) -> None:
    engine, nsp = world()
    with pytest.raises(LocalProtocolError, match="must be a non-negative number"):
        nsp.emit_with_ack("x", rooms="blue", now=bad, timeout=1)
    with pytest.raises(LocalProtocolError, match="timeout must be"):
        nsp.emit_with_ack("x", rooms="blue", now=0, timeout=bad)
    with pytest.raises(LocalProtocolError, match="now must be"):
        engine.advance(bad)
    assert len(engine.acks) == 0
    # No ack id was consumed by the refused calls.
    assert nsp.emit_with_ack("x", rooms="blue", now=0, timeout=1)[0].ack_id == 0


def test_a_refused_selection_consumes_no_ack_id() -> None:
    engine, nsp = world()
    with pytest.raises(InvalidRoomError):
        nsp.emit_with_ack("x", rooms=[None], now=0, timeout=1)
    with pytest.raises(UnknownSocketError):
        nsp.emit_with_ack("x", sender="ghost", now=0, timeout=1)
    assert len(engine.acks) == 0
    assert nsp.emit_with_ack("x", rooms="blue", now=0, timeout=1)[0].ack_id == 0
