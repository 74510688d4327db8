"""The cluster machine against the messages real Node servers exchanged (``fixtures/``).

* What a Python server publishes: the same channel and the same bytes as the Node server of
  the fixture, given the fixture's uid and request id.
* What a Python server answers to a Node request: the fixture's answer, byte for byte.
* What a Python server does with what Node published: the fixture's deliveries, room changes
  and subscriptions.
* Requests in flight, garbage from peers, and misuse by the host.

Node gives each namespace's adapter its own uid; a :class:`ClusterMachine` has one uid for
all the namespaces of its server. The tests build the machine with the fixture's uid for the
namespace at hand (a deliberate difference: one uid per server is as valid on the wire).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from _fixtures import (
    ADAPTER,
    EMITTER,
    SHARDED,
    Built,
    Fixture,
    build_server,
    decoded,
    frames,
    hears,
    load,
    payload,
    rendered,
)

from sansio_rooms import _cluster_wire as wire
from sansio_rooms._cluster import REQUESTS_TIMEOUT, ClusterMachine
from sansio_rooms._cluster_outputs import (
    MessageDropped,
    Publish,
    RequestCompleted,
    RequestKind,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from sansio_rooms._cluster_wire import ClusterMessageType, RequestType, SubscriptionMode
from sansio_rooms._engineio_server import WebSocketClose, WebSocketSend
from sansio_rooms._errors import InvalidRoomError, LocalProtocolError
from sansio_rooms._names import Room
from sansio_rooms._outputs import (
    AckCompleted,
    AckReceived,
    Deliveries,
    RoomCreated,
    RoomDeleted,
    SocketDisconnecting,
)
from sansio_rooms._socketio import SioPacket, SioPacketType, encode_sio_packet

Op = Callable[[ClusterMachine, Fixture], list[Any]]

# -- helpers ----------------------------------------------------------------------------------


def publisher(message: dict[str, Any]) -> str:
    """The server that published a message (``"s1-pub"`` -> ``"s1"``), or ``"emitter"``."""
    return str(message["publisher"]).removesuffix("-pub")


def nsp_of(channel: str) -> str:
    """The namespace in a channel name: ``K#N#...``, ``K-request#N#``, ``P#N#U#``."""
    return channel.split("#")[1]


def key_of(channel: str) -> str:
    return channel.split("#")[0].removesuffix("-request").removesuffix("-response")


def as_publish(fixture: Fixture, message: dict[str, Any]) -> Publish:
    """The captured message as the Publish output that produces it."""
    return Publish(channel=message["channel"], payload=payload(message), sharded=fixture.sharded)


def published(outputs: Iterable[Any]) -> list[Publish]:
    return [o for o in outputs if isinstance(o, Publish)]


def request_id_of(fixture: Fixture, message: dict[str, Any]) -> str:
    body = decoded(message)
    return str(body["data"]["requestId"] if fixture.sharded else body["requestId"])


def received_frames(outputs: Iterable[Any]) -> dict[str, list[tuple[str | bytes, ...]]]:
    """What each client (by its handle, the client's name) was sent, message by message."""
    sent: dict[str, list[tuple[str | bytes, ...]]] = {}
    for output in outputs:
        if isinstance(output, WebSocketSend):
            for handle in output.handles:
                sent.setdefault(handle, []).append(output.frames)
    return sent


def only(kind: type, outputs: Iterable[Any]) -> list[Any]:
    return [o for o in outputs if isinstance(o, kind)]


def ids(*values: str) -> Callable[[], str]:
    """An id factory handing out ``values`` in order."""
    queue = list(values)
    return lambda: queue.pop(0)


def snapshot(built: Built, cluster: ClusterMachine) -> tuple[Any, ...]:
    """Everything a dropped message must leave as it was."""
    engine = built.machine.engine
    rooms = {
        nsp: {sid: engine.namespace(nsp).rooms_of(sid) for sid in engine.namespace(nsp).sockets()}
        for nsp in engine.namespaces()
    }
    return (
        rooms,
        len(cluster),
        cluster.next_deadline(),
        dict(cluster._relayed),
        dict(cluster._replies),
        built.machine.next_deadline(),
    )


def scenario_params(*names: str, fixtures: Iterable[str] = (ADAPTER, SHARDED)) -> list[Any]:
    return [
        pytest.param(fixture, name, id=f"{fixture[5:-9]}:{name}")
        for fixture in fixtures
        for name in names
        if name in load(fixture).scenarios and load(fixture).scenario(name)["messages"]
    ]


# -- 1. channels and subscriptions ------------------------------------------------------------


@pytest.mark.parametrize("name", [ADAPTER, EMITTER, SHARDED])
def test_subscriptions_are_the_node_servers(name: str) -> None:
    """At start each server subscribes to what the Node server subscribed to (setup)."""
    fixture = load(name)
    for server in fixture.servers():
        built = build_server(fixture, server)
        commands = [
            c["args"] for c in fixture.raw["setup"]["commands"] if c["conn"] == f"{server}-sub"
        ]
        for nsp in fixture.clusters[server]["namespaces"]:
            cluster = built.cluster(nsp)
            key = fixture.key(server)
            subscribes = cluster.subscriptions()
            assert all(isinstance(s, Subscribe) for s in subscribes)
            ours = next(s for s in subscribes if any(nsp_of(c) == nsp for c in s.channels))
            if fixture.sharded:
                expected = [a[1] for a in commands if key_of(a[1]) == key and nsp_of(a[1]) == nsp]
                assert ours == Subscribe(channels=tuple(expected), sharded=True)
            else:
                (pattern,) = [
                    a[1] for a in commands if a[0] == "psubscribe" and nsp_of(a[1]) == nsp
                ]
                (channels,) = [
                    a[1:] for a in commands if a[0] == "subscribe" and nsp_of(a[1]) == nsp
                ]
                assert ours == Subscribe(channels=tuple(channels), patterns=(pattern,))
            assert len(subscribes) == len(fixture.clusters[server]["namespaces"])


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_count_channel_is_what_node_counts(name: str) -> None:
    fixture = load(name)
    (command,) = fixture.scenario("serverCount")["commands"]
    kind = "SHARDNUMSUB" if fixture.sharded else "NUMSUB"
    assert command["args"][:2] == ["PUBSUB", kind]
    cluster = build_server(fixture, "s1").cluster()
    assert cluster.count_channel("/") == command["args"][2]
    assert fixture.scenario("serverCount")["result"] == 2  # the caller included
    with pytest.raises(LocalProtocolError, match="not registered"):
        cluster.count_channel("/nope")


def test_add_namespace_classic() -> None:
    fixture = load(ADAPTER)
    built = build_server(fixture, "s1")
    cluster = built.cluster(uid="U1")
    assert cluster.add_namespace("/") == []
    assert cluster.add_namespace("chat") == []  # normalised: "/chat" is known
    built.machine.add_namespace("/admin")
    assert cluster.add_namespace("admin") == [
        Subscribe(
            channels=(
                "socket.io-request#/admin#",
                "socket.io-response#/admin#",
                "socket.io-response#/admin#U1#",
            ),
            patterns=("socket.io#/admin#*",),
        )
    ]
    assert cluster.count_channel("/admin") == "socket.io-request#/admin#"
    assert len(cluster.subscriptions()) == 3


SID20 = "T" * 20  # a socket id of Node's length


@pytest.mark.parametrize(
    ("mode", "expected_rooms"),
    [("dynamic", ["a"]), ("dynamic-private", [SID20, "a"]), ("static", [])],
)
def test_add_namespace_sharded_subscribes_to_its_rooms(
    mode: SubscriptionMode, expected_rooms: list[str]
) -> None:
    """Dynamic mode: a channel per public room (not for a socket id room of Node's length);
    dynamic-private: every room; static: none."""
    built = build_server(load(SHARDED), "s1")
    machine = built.machine
    cluster = ClusterMachine(machine, sharded=True, subscription_mode=mode, uid="U")
    machine.add_namespace("/admin")
    namespace = machine.engine.namespace("/admin")
    namespace.connect(SID20)
    namespace.join(SID20, "a")
    room_channels = tuple(f"socket.io#/admin#{room}#" for room in expected_rooms)
    assert cluster.add_namespace("/admin") == [
        Subscribe(
            channels=("socket.io#/admin#", "socket.io#/admin#U#", *room_channels), sharded=True
        )
    ]
    assert cluster.add_namespace("/admin") == []


def test_subscriptions_again_after_a_lost_connection() -> None:
    """subscriptions() gives the whole list again (rooms included) for a fresh connection."""
    built = build_server(load(SHARDED), "s2", notices=True)
    cluster = built.cluster()
    first = cluster.subscriptions()
    namespace = built.machine.engine.namespace("/")
    created = namespace.join(built.sid("c3"), "fresh")
    (notice,) = only(RoomCreated, created)
    assert cluster.room_created(notice) == [
        Subscribe(channels=("socket.io#/#fresh#",), sharded=True)
    ]
    assert cluster.room_created(notice) == []  # already subscribed
    again = cluster.subscriptions()
    assert again[0].channels == (*first[0].channels, "socket.io#/#fresh#")
    assert again[1:] == first[1:]


def test_room_notices_change_nothing_classic_static_or_unknown() -> None:
    built = build_server(load(ADAPTER), "s1", notices=True)
    classic = built.cluster()
    (notice,) = only(RoomCreated, built.machine.engine.namespace("/").join(built.sid("c1"), "z"))
    assert classic.room_created(notice) == []
    assert classic.room_deleted(RoomDeleted(nsp="/", room="z")) == []
    sharded_built = build_server(load(SHARDED), "s5", notices=True)
    static = sharded_built.cluster()
    assert static.room_created(RoomCreated(nsp="/", room="room8")) == []
    assert static.room_deleted(RoomDeleted(nsp="/", room="room1")) == []
    dynamic = build_server(load(SHARDED), "s1").cluster()
    assert dynamic.room_created(RoomCreated(nsp="/unknown", room="x")) == []
    assert dynamic.room_deleted(RoomDeleted(nsp="/unknown", room="x")) == []
    assert dynamic.room_deleted(RoomDeleted(nsp="/", room="never-subscribed")) == []
    # A socket id room (20 characters, as Node's) has no channel in dynamic mode.
    assert dynamic.room_created(RoomCreated(nsp="/", room=load(SHARDED).sid("c1"))) == []


# -- 2. what a Python server publishes --------------------------------------------------------


def _on(op: Op, server: str = "s1", nsp: str = "/") -> tuple[str, str, Op]:
    return server, nsp, op


# scenario -> (publishing server, namespace, what our host calls)
PUBLISHERS: dict[str, tuple[str, str, Op]] = {
    "socketsJoin": _on(lambda c, f: c.sockets_join("/", "room4", rooms="room1")),
    "socketsLeave": _on(lambda c, f: c.sockets_leave("/", "room4")),
    "fetchSockets-all": _on(lambda c, f: c.fetch_sockets("/", servers=1, now=0.0)[1]),
    "allRooms": _on(lambda c, f: c.all_rooms("/", servers=1, now=0.0)[1]),
    "chat-broadcast": _on(lambda c, f: c.broadcast("/chat", "chat-msg", "hi"), "s1", "/chat"),
    "custom-prefix-broadcast": _on(lambda c, f: c.broadcast("/", "custom", 1), "s3"),
    "custom-prefix-allRooms": _on(lambda c, f: c.all_rooms("/", servers=1, now=0.0)[1], "s3"),
    "private-room": _on(lambda c, f: c.broadcast("/", "custom-room", 2, rooms="room1"), "s3"),
    "private-socketsJoin": _on(lambda c, f: c.sockets_join("/", "room8"), "s3"),
    "private-fetchSockets": _on(lambda c, f: c.fetch_sockets("/", servers=1, now=0.0)[1], "s3"),
    "static-room": _on(lambda c, f: c.broadcast("/", "static-room", 3, rooms="room1"), "s5"),
    "static-socketsJoin": _on(lambda c, f: c.sockets_join("/", "room8"), "s5"),
    "broadcast-all": _on(
        lambda c, f: c.broadcast("/", "hello", "world", 1, -2, 2.5, True, None, {"a": [1, "x"]})
    ),
    "broadcast-one-room": _on(lambda c, f: c.broadcast("/", "room-msg", "to room1", rooms="room1")),
    "broadcast-several-rooms": _on(
        lambda c, f: c.broadcast("/", "rooms-msg", 1, rooms=["room1", "room3"])
    ),
    "broadcast-except": _on(
        lambda c, f: c.broadcast("/", "except-msg", "not room1", except_="room1")
    ),
    "broadcast-room-except-socket": _on(
        lambda c, f: c.broadcast("/", "room-except-msg", 2, rooms="room1", except_=f.sid("c3"))
    ),
    "broadcast-to-socket-id": _on(
        lambda c, f: c.broadcast("/", "direct", "hi c3", rooms=f.sid("c3"))
    ),
    "broadcast-numeric-room": _on(
        lambda c, f: c.broadcast("/", "numeric-room", 42, rooms=42), "s2"
    ),
    "broadcast-unicode-room": _on(
        lambda c, f: c.broadcast("/", "unicode-room", "é", rooms="réunion")
    ),
    "broadcast-volatile": _on(lambda c, f: c.broadcast("/", "volatile-msg", 1, volatile=True)),
    "broadcast-compress-false": _on(
        lambda c, f: c.broadcast("/", "uncompressed", "x", compress=False)
    ),
    "broadcast-flags-combined": _on(
        lambda c, f: c.broadcast("/", "flags-msg", 3, rooms="room1", volatile=True, compress=False)
    ),
    "broadcast-binary": _on(
        lambda c, f: c.broadcast(
            "/", "binary", b"\x01\x02\x03", {"nested": b"abc", "arr": [b"\xff\x00"]}
        )
    ),
    "broadcast-with-ack": _on(
        lambda c, f: c.broadcast_with_ack("/", "ack-me", "x", servers=1, now=0.0, timeout=0.5)[1]
    ),
    "broadcast-emitWithAck-room": _on(
        lambda c, f: c.broadcast_with_ack(
            "/", "ack-me", b"\xde\xad\xbe\xef", rooms="room1", servers=1, now=0.0, timeout=0.5
        )[1]
    ),
    # socket.broadcast / socket.to(room): Node puts the sender in `except`; our host passes it.
    "socket-broadcast": _on(
        lambda c, f: c.broadcast("/", "relayed", "from c1", except_=[f.sid("c1")])
    ),
    "socket-to-room": _on(
        lambda c, f: c.broadcast("/", "relayed", "c1 to room3", rooms="room3", except_=f.sid("c1"))
    ),
    "socketsJoin-except-multi": _on(
        lambda c, f: c.sockets_join("/", ["room5", "room6"], except_="room3")
    ),
    "socketsLeave-in-multi": _on(
        lambda c, f: c.sockets_leave("/", ["room5", "room6"], rooms="room5")
    ),
    "fetchSockets-room": _on(
        lambda c, f: c.fetch_sockets("/", rooms="room3", servers=1, now=0.0)[1]
    ),
    "serverSideEmit": _on(
        lambda c, f: c.server_side_emit("/", "hello-servers", 1, "two", {"three": [3]})
    ),
    "serverSideEmit-buffer": _on(
        lambda c, f: c.server_side_emit("/", "hello-servers", b"\x01\x02")
    ),
    "serverSideEmit-ack": _on(
        lambda c, f: c.server_side_emit_with_ack("/", "ping-servers", "p1", servers=1, now=0.0)[1]
    ),
    "serverSideEmitWithAck": _on(
        lambda c, f: c.server_side_emit_with_ack("/", "ping-servers", "p2", servers=1, now=0.0)[1]
    ),
    "chat-room": _on(
        lambda c, f: c.broadcast("/chat", "chat-room-msg", "hi room", rooms="chatroom"),
        "s1",
        "/chat",
    ),
    "chat-fetchSockets": _on(
        lambda c, f: c.fetch_sockets("/chat", servers=1, now=0.0)[1], "s1", "/chat"
    ),
    "chat-serverSideEmit": _on(
        lambda c, f: c.server_side_emit("/chat", "chat-servers", 1), "s1", "/chat"
    ),
    "custom-prefix-room": _on(lambda c, f: c.broadcast("/", "custom-room", 2, rooms="room1"), "s3"),
    "custom-prefix-fetchSockets": _on(
        lambda c, f: c.fetch_sockets("/", servers=1, now=0.0)[1], "s3"
    ),
    "custom-prefix-serverSideEmitWithAck": _on(
        lambda c, f: c.server_side_emit_with_ack("/", "ping-servers", "p3", servers=1, now=0.0)[1],
        "s3",
    ),
    "custom-prefix-emitWithAck": _on(
        lambda c, f: c.broadcast_with_ack("/", "ack-me", "y", servers=1, now=0.0, timeout=0.5)[1],
        "s3",
    ),
    "private-socket-id": _on(
        lambda c, f: c.broadcast("/", "direct", "hi e2", rooms=f.sid("e2")), "s3"
    ),
    "private-emitWithAck": _on(
        lambda c, f: c.broadcast_with_ack(
            "/", "ack-me", "y", rooms="room1", servers=1, now=0.0, timeout=0.5
        )[1],
        "s3",
    ),
    "disconnectSockets-false": _on(
        lambda c, f: c.disconnect_sockets("/", rooms="doomed1", close=False)
    ),
    "disconnectSockets-true": _on(
        lambda c, f: c.disconnect_sockets("/", rooms="doomed2", close=True)
    ),
}


def _publishing(fixture: Fixture, scenario: str) -> tuple[ClusterMachine, list[dict[str, Any]], Op]:
    server, nsp, op = PUBLISHERS[scenario]
    messages = [m for m in fixture.scenario(scenario)["messages"] if publisher(m) == server]
    request_ids = [request_id_of(fixture, m) for m in messages if "<req:" in str(m["random"])]
    cluster = build_server(fixture, server).cluster(nsp, id_factory=ids(*request_ids))
    return cluster, messages, op


@pytest.mark.parametrize(("name", "scenario"), scenario_params(*PUBLISHERS))
def test_python_server_publishes_what_node_published(name: str, scenario: str) -> None:
    fixture = load(name)
    cluster, messages, op = _publishing(fixture, scenario)
    assert messages, "the fixture has the scenario's message"
    assert op(cluster, fixture) == [as_publish(fixture, m) for m in messages]


def test_every_server_published_scenario_is_checked() -> None:
    """Every fixture message a server published first in its scenario is in PUBLISHERS,
    except the ones covered by the tests of deliberate differences below."""
    covered_elsewhere = {"broadcast-encoding-variety", "remote-socket-ops"}
    for name in (ADAPTER, SHARDED):
        fixture = load(name)
        for scenario in fixture.raw["scenarios"]:
            if not scenario["messages"] or scenario["name"] in covered_elsewhere:
                continue
            assert scenario["name"] in PUBLISHERS, scenario["name"]
            assert publisher(scenario["messages"][0]) == PUBLISHERS[scenario["name"]][0]


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_encoding_variety_differs_only_in_1e300(name: str) -> None:
    """A Python server writes 1e300 as a float64 where notepack wrote the uint64 0: a
    deliberate difference (the right value reaches Node's clients)."""
    fixture = load(name)
    (message,) = fixture.scenario("broadcast-encoding-variety")["messages"]
    body = decoded(message)
    args = list(body["data"]["packet"]["data"] if fixture.sharded else body[1]["data"])
    (local,) = [
        d for d in fixture.scenario("broadcast-encoding-variety")["deliveries"] if d["to"] == "c1"
    ]
    index = (
        next(i for i, (a, b) in enumerate(zip(args[1:], local["args"], strict=True)) if a != b) + 1
    )
    assert (args[index], local["args"][index - 1]) == (0, 1e300)
    cluster = build_server(fixture, "s1").cluster()
    # With what the wire carried (0 in place of 1e300) the bytes are Node's, but for that
    # one argument: 0 is the fixint 00 where notepack wrote cf 00..00.
    (ours,) = cluster.broadcast("/", *args)
    assert ours.channel == message["channel"]
    assert ours.payload == payload(message).replace(b"\xcf" + bytes(8), b"\x00")
    args[index] = 1e300
    (ours,) = cluster.broadcast("/", *args)
    assert ours.payload == payload(message).replace(
        b"\xcf" + bytes(8), b"\xcb\x7e\x37\xe4\x3c\x88\x00\x75\x9c"
    )
    assert wire.decode_message(ours.payload) != decoded(message)


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_remote_socket_ops(name: str) -> None:
    """fetchSockets() for one socket is ours byte for byte. Node's RemoteSocket emit, join
    and leave then carry the internal flag ``expectSingleResponse`` (classic broadcast;
    sharded broadcast, join and leave); our host does the same with a broadcast to, or a
    sockets_join/leave of, that socket id, without the flag: a deliberate difference that
    receivers ignore (see test_receiving_what_node_published[*remote-socket-ops*])."""
    fixture = load(name)
    sid = fixture.sid("c3")
    fetch, _answer, emit, join, leave = fixture.scenario("remote-socket-ops")["messages"]
    cluster = build_server(fixture, "s1").cluster(id_factory=ids(request_id_of(fixture, fetch)))
    assert cluster.fetch_sockets("/", rooms=sid, servers=1, now=0.0)[1] == [
        as_publish(fixture, fetch)
    ]
    for message, ours in [
        (emit, cluster.broadcast("/", "remote-direct", 1, rooms=sid)),
        (join, cluster.sockets_join("/", "room7", rooms=sid)),
        (leave, cluster.sockets_leave("/", "room7", rooms=[sid])),
    ]:
        (publish,) = ours
        node = decoded(message)
        body = node["data"] if fixture.sharded else node
        opts = body[2] if isinstance(body, list) else body["opts"]
        if "flags" in opts:
            assert opts["flags"] == {"expectSingleResponse": True}
            opts["flags"] = {}
        assert wire.decode_message(publish.payload) == node
        assert publish.channel == message["channel"]
    # The classic join and leave carry no flags at all: those two are byte for byte.
    if not fixture.sharded:
        assert cluster.sockets_join("/", "room7", rooms=sid) == [as_publish(fixture, join)]
        assert cluster.sockets_leave("/", "room7", rooms=sid) == [as_publish(fixture, leave)]


def test_sharded_has_no_all_rooms_like_node() -> None:
    fixture = load(SHARDED)
    assert fixture.scenario("allRooms")["result"] == {"unsupported": "adapter has no allRooms()"}
    cluster = build_server(fixture, "s1").cluster()
    with pytest.raises(LocalProtocolError, match="no all_rooms"):
        cluster.all_rooms("/", servers=1, now=0.0)
    assert len(cluster) == 0


def test_sharded_channel_choice() -> None:
    """Node's computeChannel: a room channel for one room without acks, in dynamic mode
    unless the name looks like a socket id (20 characters), always in dynamic-private, never
    in static."""
    fixture = load(SHARDED)
    built = build_server(fixture, "s1")
    twenty = "x" * 20
    cases: dict[SubscriptionMode, dict[Room, str]] = {
        "dynamic": {"r": "P#/#r#", 42: "P#/#42#", twenty: "P#/#", "x" * 19: f"P#/#{'x' * 19}#"},
        "dynamic-private": {"r": "P#/#r#", twenty: f"P#/#{twenty}#"},
        "static": {"r": "P#/#", twenty: "P#/#"},
    }
    for mode, channels in cases.items():
        cluster = ClusterMachine(
            built.machine, sharded=True, key="P", subscription_mode=mode, uid="U"
        )
        for room, channel in channels.items():
            (publish,) = cluster.broadcast("/", "e", rooms=room)
            assert (publish.channel, publish.sharded) == (channel, True)
        # Several rooms, or none: the main channel.
        assert cluster.broadcast("/", "e", rooms=["a", "b"])[0].channel == "P#/#"
        assert cluster.broadcast("/", "e")[0].channel == "P#/#"
        # With acks: always the main channel (servers are counted per namespace).
        _, (publish,) = cluster.broadcast_with_ack(
            "/", "e", rooms="r", servers=1, now=0.0, timeout=1.0
        )
        assert publish.channel == "P#/#"


def test_classic_channel_choice() -> None:
    cluster = build_server(load(ADAPTER), "s1").cluster(key="K")
    assert cluster.broadcast("/", "e", rooms="x" * 20)[0].channel == f"K#/#{'x' * 20}#"
    assert cluster.broadcast("/", "e", rooms=-3)[0].channel == "K#/#-3#"
    assert cluster.broadcast("/", "e", rooms=[])[0].channel == "K#/#"
    assert cluster.broadcast("/", "e", rooms=("a", "a"))[0].channel == "K#/#a#"  # one room
    _, (publish,) = cluster.broadcast_with_ack("/", "e", rooms="r", servers=1, now=0.0, timeout=1.0)
    assert publish.channel == "K-request#/#"


def test_acked_broadcast_timeout_and_flags_in_milliseconds() -> None:
    cluster = build_server(load(ADAPTER), "s1").cluster(uid="U", id_factory=ids("r1", "r2"))
    _, (publish,) = cluster.broadcast_with_ack(
        "/", "e", servers=1, now=0.0, timeout=0.25, volatile=True, compress=False
    )
    assert wire.decode_message(publish.payload)["opts"]["flags"] == {
        "volatile": True,
        "compress": False,
        "timeout": 250,
    }
    _, (publish,) = cluster.broadcast_with_ack("/", "e", servers=1, now=0.0, timeout=0.0125)
    assert wire.decode_message(publish.payload)["opts"]["flags"] == {"timeout": 12.5}


def test_sharded_server_side_emit_with_binary_is_msgpack() -> None:
    fixture = load(SHARDED)
    (message,) = fixture.scenario("serverSideEmit-buffer")["messages"]
    assert message["encoding"] == "msgpack"  # covered byte for byte in PUBLISHERS
    cluster = build_server(fixture, "s1").cluster(id_factory=ids("r"))
    _, (publish,) = cluster.server_side_emit_with_ack("/", "e", b"\x00", servers=1, now=0.0)
    assert not wire.is_json(publish.payload)
    assert wire.decode_message(publish.payload) == {
        "type": 9,
        "data": {"requestId": "r", "packet": ["e", b"\x00"]},
        "uid": fixture.uid("s1"),
        "nsp": "/",
    }


# -- 3 and 4. what a Python server does with what Node published ------------------------------

ANSWERED_BY_APPLICATION = {
    "serverSideEmit-ack",
    "serverSideEmitWithAck",
    "custom-prefix-serverSideEmitWithAck",
}
ANSWERED_BY_CLIENTS = {
    "broadcast-with-ack",
    "broadcast-emitWithAck-room",
    "custom-prefix-emitWithAck",
    "private-emitWithAck",
}


def _receivers() -> list[Any]:
    params = []
    for name in (ADAPTER, EMITTER, SHARDED):
        fixture = load(name)
        for scenario in fixture.raw["scenarios"]:
            messages = scenario["messages"]
            if not messages or scenario["name"] in ANSWERED_BY_APPLICATION | ANSWERED_BY_CLIENTS:
                continue
            keys = {key_of(m["channel"]) for m in messages}
            for server in fixture.servers():
                if fixture.key(server) in keys:
                    params.append(
                        pytest.param(
                            name,
                            scenario["name"],
                            server,
                            id=f"{name[5:-9]}:{scenario['name']}:{server}",
                        )
                    )
    return params


def _replay(
    fixture: Fixture, scenario: str, server: str, **options: Any
) -> tuple[Built, ClusterMachine, list[Any], list[Any], list[list[Any]]]:
    """Feed ``scenario``'s messages to ``server`` (those its subscriptions let through), as
    the host would: it finishes every disconnect and follows the room notices. Returns the
    machine, the cluster machine, every output, the subscription changes and each message's
    own outputs."""
    messages = fixture.scenario(scenario)["messages"]
    built = build_server(fixture, server, state=fixture.state_before(scenario), notices=True)
    cluster = built.cluster(nsp_of(messages[0]["channel"]), **options)
    outputs: list[Any] = []
    changes: list[Any] = []
    per_message: list[list[Any]] = []
    for now, message in enumerate(messages):
        if not hears(cluster, message["channel"]):
            per_message.append([])
            continue
        received = cluster.receive(message["channel"], payload(message), float(now))
        per_message.append(received)
        host = list(received)
        for output in received:
            if isinstance(output, SocketDisconnecting):
                host += built.machine.finish_disconnect(output.nsp, output.sid)
        for output in host:
            if isinstance(output, RoomCreated):
                changes += cluster.room_created(output)
            elif isinstance(output, RoomDeleted):
                changes += cluster.room_deleted(output)
        outputs += host
    return built, cluster, outputs, changes, per_message


@pytest.mark.parametrize(("name", "scenario", "server"), _receivers())
def test_receiving_what_node_published(name: str, scenario: str, server: str) -> None:
    fixture = load(name)
    record = fixture.scenario(scenario)
    messages = record["messages"]
    built, _, outputs, changes, per_message = _replay(
        fixture, scenario, server, describe_socket=fixture.describe_socket
    )
    assert not only(MessageDropped, outputs)
    mine = set(built.clients)
    if publisher(messages[0]) == server:
        # The publisher applied its change itself (its host does, after publishing): its
        # own messages come back and are ignored, as are answers to no request of its own.
        assert all(out == [] for out in per_message)
        assert built.state() == {
            c: rooms for c, rooms in fixture.state_before(scenario).items() if c in mine
        }
        return
    # The deliveries to this server's clients, frame for frame.
    expected: dict[str, list[tuple[str | bytes, ...]]] = {}
    for delivery in record["deliveries"]:
        to = delivery["to"]
        if to not in mine:
            continue
        nsp = fixture.clients[to]["nsp"]
        if delivery.get("kind") == "client-event":
            assert (delivery["event"], delivery["args"]) == ("disconnect", ["io server disconnect"])
            expected.setdefault(to, []).append(("41",) if nsp == "/" else (f"41{nsp},",))
        else:
            assert "kind" not in delivery and "with_ack" not in delivery
            expected.setdefault(to, []).append(
                frames(nsp, delivery["event"], *rendered(delivery["args"]))
            )
    assert received_frames(outputs) == expected
    # Flags: volatile and compress reach the transport.
    for message, received in zip(messages, per_message, strict=True):
        body = decoded(message)
        if isinstance(body, list):
            flags = body[2]["flags"]
        elif fixture.sharded and body["type"] == ClusterMessageType.BROADCAST:
            flags = body["data"]["opts"]["flags"]
        else:
            continue
        for send in only(WebSocketSend, received):
            assert send.volatile is (flags.get("volatile") is True)
            assert send.compress is (flags.get("compress") is not False)
    # A disconnect with close closes the connection.
    closes = {o.handle for o in only(WebSocketClose, outputs)}
    closing = [d for d in decoded_requests(fixture, messages) if d.get("close") is True]
    if closing:
        assert closes == {c for c, f in expected.items() if ("41",) in f}
    else:
        assert closes == set()
    # Server-side events for the application.
    events = [
        ServerSideEvent(nsp=d["nsp"], event=d["event"], args=tuple(rendered(d["args"])), reply=None)
        for d in record["deliveries"]
        if d.get("kind") == "serverSideEmit" and d["to"] == server
    ]
    assert only(ServerSideEvent, outputs) == events
    # Answers to requests (fetchSockets and allRooms, with describe_socket as Node's).
    answers = [as_publish(fixture, m) for m in messages if publisher(m) == server]
    assert published(outputs) == answers
    # Rooms after, and the sharded dynamic subscriptions that follow them.
    if "state_after" in record:
        assert built.state() == {c: r for c, r in record["state_after"].items() if c in mine}
    subscriptions = []
    for command in record["commands"]:
        if command["conn"] == f"{server}-sub":
            verb, channel = command["args"]
            change = Subscribe if verb == "ssubscribe" else Unsubscribe
            subscriptions.append(change(channels=(channel,), sharded=True))
    assert changes == subscriptions


def decoded_requests(fixture: Fixture, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bodies of the requests among ``messages`` (data of the sharded ones)."""
    bodies = []
    for message in messages:
        body = decoded(message)
        if isinstance(body, dict):
            bodies.append(body["data"] if fixture.sharded else body)
    return bodies


def test_every_delivery_of_a_remote_message_is_checked() -> None:
    """Each fixture scenario with messages is replayed on every server of its cluster."""
    replayed = {(p.values[0], p.values[1]) for p in _receivers()}
    for name in (ADAPTER, EMITTER, SHARDED):
        for scenario in load(name).raw["scenarios"]:
            if scenario["messages"]:
                assert (name, scenario["name"]) in replayed or scenario["name"] in (
                    ANSWERED_BY_APPLICATION | ANSWERED_BY_CLIENTS
                )


@pytest.mark.parametrize(
    ("name", "scenario"),
    scenario_params(
        "fetchSockets-all",
        "fetchSockets-room",
        "chat-fetchSockets",
        "custom-prefix-fetchSockets",
        "private-fetchSockets",
        "remote-socket-ops",
    ),
)
def test_fetch_answer_without_a_description(name: str, scenario: str) -> None:
    """Without describe_socket the answer is Node's but for the handshake and data, which
    the host supplies (here: empty)."""
    fixture = load(name)
    request, answer = fixture.scenario(scenario)["messages"][:2]
    responder = publisher(answer)
    built = build_server(fixture, responder, state=fixture.state_before(scenario))
    cluster = built.cluster(nsp_of(request["channel"]))
    (ours,) = cluster.receive(request["channel"], payload(request), 0.0)
    assert ours.channel == answer["channel"]
    expected = decoded(answer)
    for socket in (expected["data"] if fixture.sharded else expected)["sockets"]:
        socket["handshake"], socket["data"] = {}, {}
    assert wire.decode_message(ours.payload) == expected


@pytest.mark.parametrize(("name", "scenario"), scenario_params(*sorted(ANSWERED_BY_APPLICATION)))
def test_answering_server_side_emit_with_ack(name: str, scenario: str) -> None:
    fixture = load(name)
    request, answer = fixture.scenario(scenario)["messages"]
    responder = publisher(answer)
    built = build_server(fixture, responder)
    cluster = built.cluster()
    assert hears(cluster, request["channel"])
    (event,) = cluster.receive(request["channel"], payload(request), 0.0)
    (delivery,) = fixture.scenario(scenario)["deliveries"]
    assert delivery["with_ack"] is True
    assert isinstance(event, ServerSideEvent) and event.reply is not None
    assert (event.nsp, event.event, event.args) == ("/", delivery["event"], tuple(delivery["args"]))
    # The application answers as the Node server did ({from, got}).
    answered = cluster.answer_server_side(event.reply, {"from": responder, "got": list(event.args)})
    assert answered == [as_publish(fixture, answer)]
    with pytest.raises(LocalProtocolError, match="no server-side event waits"):
        cluster.answer_server_side(event.reply, "twice")


@pytest.mark.parametrize(("name", "scenario"), scenario_params(*sorted(ANSWERED_BY_CLIENTS)))
def test_answering_an_acked_broadcast(name: str, scenario: str) -> None:
    """The client count first, then one BROADCAST_ACK per client answer, as Node's."""
    fixture = load(name)
    record = fixture.scenario(scenario)
    request, count, *acks = record["messages"]
    responder = publisher(count)
    built = build_server(fixture, responder, state=fixture.state_before(scenario))
    cluster = built.cluster()
    assert hears(cluster, request["channel"])
    outputs = cluster.receive(request["channel"], payload(request), 0.0)
    assert outputs[0] == as_publish(fixture, count)
    deliveries = outputs[1]
    assert isinstance(deliveries, Deliveries) and deliveries.ack_id is not None
    ack_id = deliveries.ack_id
    assert cluster.relays(ack_id)
    assert published(outputs[1:]) == []
    # The packet, with this server's own ack id, to each of its clients the fixture names.
    expected = {
        d["to"]: [frames("/", d["event"], *rendered(d["args"]), ack_id=ack_id)]
        for d in record["deliveries"]
        if d["to"] in built.clients
    }
    assert all(d["with_ack"] for d in record["deliveries"])
    assert received_frames(outputs) == expected
    assert len(deliveries) == len(expected) == decoded_count(fixture, count)
    # Each client answers in turn; each answer goes out at once.
    for index, ack in enumerate(acks):
        packet = rendered(decoded(ack)["data" if fixture.sharded else "packet"])
        packet = packet["packet"] if fixture.sharded else packet
        client = built.clients[packet["from"]]
        answer = SioPacket(type=SioPacketType.ACK, nsp="/", data=[packet], id=ack_id)
        sent = client.emit(*encode_sio_packet(answer))
        received = only(AckReceived, sent)
        assert received == [
            AckReceived(nsp="/", ack_id=ack_id, sid=built.sid(packet["from"]), response=packet)
        ]
        assert cluster.relay_ack(received[0]) == [as_publish(fixture, ack)]
        completed = only(AckCompleted, sent)
        if index == len(acks) - 1:
            assert len(completed) == 1 and not completed[0].timed_out
            assert cluster.relay_ack(completed[0]) == []
            assert not cluster.relays(ack_id)
        else:
            assert completed == []
    assert cluster.relay_ack(received[0]) == []  # over: a late answer is not relayed


def decoded_count(fixture: Fixture, message: dict[str, Any]) -> int:
    body = decoded(message)
    return int(body["data"]["clientCount"] if fixture.sharded else body["clientCount"])


def test_acked_broadcast_ack_timeout_from_flags() -> None:
    """The relayed broadcast waits flags.timeout (ms); without it, requests_timeout."""
    fixture = load(ADAPTER)
    (request, *_) = fixture.scenario("broadcast-with-ack")["messages"]
    for flags, deadline in [
        ({"timeout": 500}, 10.5),
        ({}, 13.0),
        ({"timeout": "soon"}, 13.0),
        ({"timeout": -1}, 13.0),
        ({"timeout": math.inf}, 13.0),
        ({"timeout": 0}, 10.0),
    ]:
        built = build_server(fixture, "s2")
        cluster = built.cluster(requests_timeout=3.0)
        body = decoded(request)
        body["opts"]["flags"] = flags
        outputs = cluster.receive(request["channel"], wire.pack(body), 10.0)
        assert not only(MessageDropped, outputs)
        assert built.machine.next_deadline() == pytest.approx(deadline)
        # At the deadline the host routes the AckCompleted back: the relay is forgotten.
        (completed,) = only(AckCompleted, built.machine.advance(deadline))
        assert completed.timed_out and cluster.relays(completed.ack_id)
        assert cluster.relay_ack(completed) == []
        assert not cluster.relays(completed.ack_id)


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_relayed_broadcast_with_no_local_recipient(name: str) -> None:
    fixture = load(name)
    (request, *_) = fixture.scenario("broadcast-emitWithAck-room")["messages"]
    built = build_server(fixture, "s2")
    cluster = built.cluster()
    body = decoded(request)
    opts = body["data"]["opts"] if fixture.sharded else body["opts"]
    opts["rooms"] = ["nobody-here"]
    data = wire.pack(body)
    outputs = cluster.receive(request["channel"], data, 0.0)
    (count,) = published(outputs)
    count_body = wire.decode_message(count.payload)
    assert (count_body["data"] if fixture.sharded else count_body)["clientCount"] == 0
    (completed,) = only(AckCompleted, outputs)
    assert completed.responses == () and cluster.relays(completed.ack_id)
    assert cluster.relay_ack(completed) == []
    assert not cluster.relays(completed.ack_id)


def test_sharded_relay_of_a_non_finite_answer_is_null() -> None:
    """JSON.stringify writes Infinity as null; a client may answer 1e400 (inf)."""
    fixture = load(SHARDED)
    (request, *_) = fixture.scenario("broadcast-with-ack")["messages"]
    built = build_server(fixture, "s2")
    cluster = built.cluster()
    deliveries = cluster.receive(request["channel"], payload(request), 0.0)[1]
    sent = built.clients["c3"].emit(f"3{deliveries.ack_id}[1e400]")
    (received,) = only(AckReceived, sent)
    assert received.response == math.inf
    (publish,) = cluster.relay_ack(received)
    assert b'"packet":null' in publish.payload


# -- 5. requests: answers, deadlines, cancel --------------------------------------------------

REQUESTS: dict[str, RequestKind] = {
    "fetchSockets-all": "fetch_sockets",
    "fetchSockets-room": "fetch_sockets",
    "chat-fetchSockets": "fetch_sockets",
    "custom-prefix-fetchSockets": "fetch_sockets",
    "private-fetchSockets": "fetch_sockets",
    "allRooms": "all_rooms",
    "custom-prefix-allRooms": "all_rooms",
    "serverSideEmit-ack": "server_side_emit",
    "serverSideEmitWithAck": "server_side_emit",
    "custom-prefix-serverSideEmitWithAck": "server_side_emit",
    "broadcast-with-ack": "broadcast_ack",
    "broadcast-emitWithAck-room": "broadcast_ack",
    "custom-prefix-emitWithAck": "broadcast_ack",
    "private-emitWithAck": "broadcast_ack",
}


def _requester(
    fixture: Fixture, scenario: str, now: float = 100.0
) -> tuple[ClusterMachine, str, list[dict[str, Any]]]:
    cluster, messages, op = _publishing(fixture, scenario)
    (published_request,) = op(cluster, fixture)
    record = fixture.scenario(scenario)
    answers = [m for m in record["messages"] if m is not messages[0]]
    assert published_request == as_publish(fixture, messages[0])
    return cluster, request_id_of(fixture, messages[0]), answers


def _expected_responses(
    fixture: Fixture, scenario: str, answers: list[dict[str, Any]]
) -> tuple[Any, ...]:
    kind = REQUESTS[scenario]
    responses: list[Any] = []
    for answer in answers:
        body = rendered(decoded(answer))
        body = body["data"] if fixture.sharded else body
        if kind == "fetch_sockets":
            responses += body["sockets"]
        elif kind == "all_rooms":
            responses += body["rooms"]
        elif kind == "server_side_emit":
            responses.append(body["packet"] if fixture.sharded else body["data"])
        elif "packet" in body:
            responses.append(body["packet"])
    return tuple(responses)


@pytest.mark.parametrize(("name", "scenario"), scenario_params(*REQUESTS))
def test_request_completes_with_every_answer(name: str, scenario: str) -> None:
    fixture = load(name)
    cluster, request_id, answers = _requester(fixture, scenario)
    assert len(cluster) == 1
    assert cluster.next_deadline() == pytest.approx(
        0.5 if REQUESTS[scenario] == "broadcast_ack" else REQUESTS_TIMEOUT
    )
    for index, answer in enumerate(answers):
        assert hears(cluster, answer["channel"])
        outputs = cluster.receive(answer["channel"], payload(answer), 0.1)
        if index < len(answers) - 1:
            assert outputs == []
            assert len(cluster) == 1
    assert outputs == [
        RequestCompleted(
            request_id=request_id,
            kind=REQUESTS[scenario],
            responses=_expected_responses(fixture, scenario, answers),
            timed_out=False,
            expected=1,
            received=1,
        )
    ]
    assert len(cluster) == 0 and cluster.next_deadline() is None
    # Node's result: ours plus the requester's local part (the host adds it).
    result = fixture.scenario(scenario)["result"]
    result = result["responses"] if isinstance(result, dict) and "responses" in result else result
    remote = rendered(result)
    if REQUESTS[scenario] == "fetch_sockets":
        remote = [s for s in remote if s["id"] in {x["id"] for x in outputs[0].responses}]
        assert [{k: s[k] for k in ("id", "rooms", "data")} for s in outputs[0].responses] == remote
    elif REQUESTS[scenario] != "all_rooms":
        assert list(outputs[0].responses) == [r for r in remote if r in outputs[0].responses]
    # A repeated answer, once the request is over, is ignored.
    assert cluster.receive(answers[-1]["channel"], payload(answers[-1]), 0.2) == []
    assert cluster.advance(1000.0) == []


@pytest.mark.parametrize(("name", "scenario"), scenario_params(*REQUESTS))
def test_request_times_out_with_partial_answers(name: str, scenario: str) -> None:
    fixture = load(name)
    _, request_id, answers = _requester(fixture, scenario)
    # Two servers expected: the fixture's one answers (all but the last ack when there
    # are acks), the other never does.
    server, nsp, _ = PUBLISHERS[scenario]
    cluster = build_server(fixture, server).cluster(
        nsp, id_factory=ids(request_id), requests_timeout=2.0
    )
    kind = REQUESTS[scenario]
    if kind == "fetch_sockets":
        cluster.fetch_sockets(nsp, servers=2, now=10.0)
    elif kind == "all_rooms":
        cluster.all_rooms(nsp, servers=2, now=10.0)
    elif kind == "server_side_emit":
        cluster.server_side_emit_with_ack(nsp, "e", servers=2, now=10.0)
    else:
        cluster.broadcast_with_ack(nsp, "e", servers=2, now=10.0, timeout=2.0)
    assert cluster.next_deadline() == 12.0
    kept = answers[:-1] if kind == "broadcast_ack" else answers
    for answer in kept:
        assert cluster.receive(answer["channel"], payload(answer), 11.0) == []
    assert cluster.advance(11.999) == []
    (completed,) = cluster.advance(12.0)
    assert completed == RequestCompleted(
        request_id=request_id,
        kind=kind,
        responses=_expected_responses(fixture, scenario, kept),
        timed_out=True,
        expected=2,
        received=1,
    )
    assert len(cluster) == 0 and cluster.next_deadline() is None
    assert cluster.advance(13.0) == []
    # A late answer finds nothing to complete.
    assert cluster.receive(answers[-1]["channel"], payload(answers[-1]), 13.0) == []


def test_broadcast_ack_completes_with_counts_and_acks_from_two_servers() -> None:
    fixture = load(ADAPTER)
    cluster = build_server(fixture, "s1").cluster(uid="U", id_factory=ids("r1"))
    cluster.broadcast_with_ack("/", "e", servers=2, now=0.0, timeout=1.0)
    channel = "socket.io-response#/#"

    def answer(body: dict[str, Any], msgpack: bool = False) -> list[Any]:
        return cluster.receive(
            channel, wire.pack(body) if msgpack else wire.to_json(body).encode(), 0.1
        )

    assert answer({"type": 8, "requestId": "r1", "clientCount": 2}) == []
    assert answer({"type": 9, "requestId": "r1", "packet": "a"}, msgpack=True) == []
    # An ack before the second server's count: not complete yet (0 clients there).
    assert answer({"type": 9, "requestId": "r1", "packet": b"b"}, msgpack=True) == []
    (completed,) = answer({"type": 8, "requestId": "r1", "clientCount": 0})
    assert completed == RequestCompleted(
        request_id="r1",
        kind="broadcast_ack",
        responses=("a", b"b"),
        timed_out=False,
        expected=2,
        received=2,
    )


def test_requests_with_no_other_server_complete_at_once() -> None:
    fixture = load(ADAPTER)
    cluster = build_server(fixture, "s1").cluster(uid="U", id_factory=ids("a", "b", "c", "d"))
    calls: list[tuple[RequestKind, Callable[[], Any]]] = [
        ("fetch_sockets", lambda: cluster.fetch_sockets("/", servers=0, now=1.0)),
        ("all_rooms", lambda: cluster.all_rooms("/", servers=0, now=1.0)),
        (
            "server_side_emit",
            lambda: cluster.server_side_emit_with_ack("/", "e", servers=0, now=1.0),
        ),
        (
            "broadcast_ack",
            lambda: cluster.broadcast_with_ack("/", "e", servers=0, now=1.0, timeout=1.0),
        ),
    ]
    for (kind, call), request_id in zip(calls, "abcd", strict=True):
        assert call() == (
            request_id,
            [
                RequestCompleted(
                    request_id=request_id,
                    kind=kind,
                    responses=(),
                    timed_out=False,
                    expected=0,
                    received=0,
                )
            ],
        )
    assert len(cluster) == 0 and cluster.next_deadline() is None


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_cancel_and_next_deadline(name: str) -> None:
    fixture = load(name)
    cluster = build_server(fixture, "s1").cluster(
        uid="U", id_factory=ids("r1", "r2", "r3"), requests_timeout=4.0
    )
    cluster.fetch_sockets("/", servers=1, now=1.0)  # deadline 5
    cluster.server_side_emit_with_ack("/", "e", servers=1, now=2.0, timeout=1.0)  # 3
    cluster.broadcast_with_ack("/", "e", servers=1, now=2.0, timeout=2.5)  # 4.5
    assert len(cluster) == 3
    assert cluster.next_deadline() == 3.0
    cluster.cancel("r2")
    cluster.cancel("r2")  # twice: nothing
    cluster.cancel("unknown")
    assert len(cluster) == 2
    assert cluster.next_deadline() == 4.5
    # An answer to the cancelled request is ignored.
    if fixture.sharded:
        body = {"type": 10, "data": {"requestId": "r2", "packet": 1}, "uid": "other", "nsp": "/"}
        channel = "socket.io#/#U#"
    else:
        body = {"type": 6, "requestId": "r2", "data": 1}
        channel = "socket.io-response#/#"
    assert cluster.receive(channel, wire.to_json(body).encode(), 3.5) == []
    (first,) = cluster.advance(4.5)
    assert (first.request_id, first.timed_out) == ("r3", True)
    assert cluster.next_deadline() == 5.0
    (second,) = cluster.advance(100.0)
    assert (second.request_id, second.kind) == ("r1", "fetch_sockets")
    assert cluster.next_deadline() is None and cluster.advance(200.0) == []


def test_request_ids_and_uids_by_default() -> None:
    """Random by default: 16 hex digits when sharded (Node's), 16 url-safe characters
    otherwise (Node: 6; we draw 96 bits, a deliberate difference)."""
    built = build_server(load(ADAPTER), "s1")
    classic = ClusterMachine(built.machine)
    sharded = ClusterMachine(built.machine, sharded=True)
    assert len(classic.uid) == 16 and set(classic.uid) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert len(sharded.uid) == 16 and set(sharded.uid) <= set("0123456789abcdef")
    assert classic.uid != ClusterMachine(built.machine).uid
    request_id, _ = sharded.fetch_sockets("/", servers=1, now=0.0)
    assert len(request_id) == 16 and request_id != sharded.uid
    request_id, _ = classic.fetch_sockets("/", servers=1, now=0.0)
    assert len(request_id) == 16


# -- legacy requests of the classic adapter ---------------------------------------------------


def _classic_s2(**options: Any) -> tuple[Built, ClusterMachine]:
    built = build_server(load(ADAPTER), "s2")
    return built, built.cluster(**options)


def _request(cluster: ClusterMachine, body: Any, now: float = 0.0, nsp: str = "/") -> list[Any]:
    return cluster.receive(f"socket.io-request#{nsp}#", wire.to_json(body).encode(), now)


def test_legacy_sockets_request() -> None:
    """Type 0 (v8 never sends it, but answers it): the socket ids of some rooms."""
    built, cluster = _classic_s2()
    c3, c4 = built.sid("c3"), built.sid("c4")
    answer = _request(
        cluster, {"uid": "X", "requestId": "q", "type": 0, "rooms": ["room1", "room3"]}
    )
    assert answer == [
        Publish(
            channel="socket.io-response#/#",
            payload=f'{{"requestId":"q","sockets":["{c3}","{c4}"]}}'.encode(),
        )
    ]
    (everyone,) = _request(cluster, {"uid": "X", "requestId": "q", "type": 0, "rooms": []})
    assert json.loads(everyone.payload)["sockets"] == [
        built.sid(c) for c in ("c3", "c4", "d1", "d2")
    ]


@pytest.mark.parametrize("join", [True, False])
def test_legacy_join_and_leave_of_one_socket(join: bool) -> None:
    built, cluster = _classic_s2(publish_on_specific_response_channel=True)
    sid = built.sid("c3")
    kind = RequestType.REMOTE_JOIN if join else RequestType.REMOTE_LEAVE
    room = "room9" if join else "room1"
    outputs = _request(
        cluster, {"uid": "X", "requestId": "q", "type": kind, "sid": sid, "room": room}
    )
    assert outputs == [Publish(channel="socket.io-response#/#X#", payload=b'{"requestId":"q"}')]
    assert built.rooms("c3") == ([sid, "room1", "room9"] if join else [sid])
    # A socket of another server: its own server answers, not this one.
    assert (
        _request(
            cluster, {"uid": "X", "requestId": "q", "type": kind, "sid": "elsewhere", "room": "r"}
        )
        == []
    )
    assert (
        _request(cluster, {"uid": "X", "requestId": "q", "type": kind, "sid": 5, "room": "r"}) == []
    )
    # A room that is not a name.
    (dropped,) = _request(
        cluster, {"uid": "X", "requestId": "q", "type": kind, "sid": sid, "room": [1]}
    )
    assert isinstance(dropped, MessageDropped)


@pytest.mark.parametrize("close", [True, False])
def test_legacy_disconnect_of_one_socket(close: bool) -> None:
    built, cluster = _classic_s2()
    sid = built.sid("d1")
    outputs = _request(
        cluster, {"uid": "X", "requestId": "q", "type": 4, "sid": sid, "close": close}
    )
    assert only(SocketDisconnecting, outputs) == [
        SocketDisconnecting(
            nsp="/", sid=sid, reason="server namespace disconnect", close_connection=close
        )
    ]
    assert published(outputs) == [
        Publish(channel="socket.io-response#/#", payload=b'{"requestId":"q"}')
    ]
    assert bool(only(WebSocketClose, outputs)) is close
    # Not a socket of this server: Node's server does not answer, neither do we.
    assert _request(cluster, {"uid": "X", "requestId": "q", "type": 4, "sid": "elsewhere"}) == []
    assert _request(cluster, {"uid": "X", "requestId": "q", "type": 4, "sid": None}) == []
    # Already disconnecting: not connected any more, nothing to do.
    assert _request(cluster, {"uid": "X", "requestId": "q", "type": 4, "sid": sid}) == []


def test_disconnect_request_for_nobody_here() -> None:
    built, cluster = _classic_s2()
    before = snapshot(built, cluster)
    body = {"uid": "X", "type": 4, "opts": {"rooms": ["nowhere"], "except": []}, "close": False}
    assert _request(cluster, body) == []
    assert snapshot(built, cluster) == before


def test_emitter_server_side_emit_and_own_uid() -> None:
    _, cluster = _classic_s2(uid="ME")
    body = {"uid": "emitter", "type": 6, "data": ["ev", 1, {"a": [2]}]}
    assert _request(cluster, body) == [
        ServerSideEvent(nsp="/", event="ev", args=(1, {"a": [2]}), reply=None)
    ]
    # The same from this server: ignored, whatever the type.
    for kind in range(10):
        assert (
            _request(cluster, {"uid": "ME", "type": kind, "requestId": "q", "data": ["ev"]}) == []
        )


# -- 4. receiving: own uid, other namespaces and prefixes, the room prefilter -----------------


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_own_messages_are_ignored(name: str) -> None:
    fixture = load(name)
    built = build_server(fixture, "s1")
    cluster = built.cluster()
    before = snapshot(built, cluster)
    for scenario, message in fixture.messages():
        if publisher(message) == "s1" and nsp_of(message["channel"]) == "/":
            assert cluster.receive(message["channel"], payload(message), 0.0) == [], scenario[
                "name"
            ]
    assert snapshot(built, cluster) == before


def test_other_namespaces_and_prefixes_are_ignored() -> None:
    fixture = load(ADAPTER)
    built = build_server(fixture, "s2")
    cluster = ClusterMachine(built.machine, uid="U")
    (chat,) = fixture.scenario("chat-broadcast")["messages"]
    (custom,) = fixture.scenario("custom-prefix-broadcast")["messages"]
    (one,) = fixture.scenario("broadcast-all")["messages"]
    before = snapshot(built, cluster)
    # A namespace this server does not have (only / and /chat are registered).
    for channel in (
        "socket.io#/admin#",
        "socket.io#/admin#room1#",
        "socket.io-request#/admin#",
        "socket.io#/",
    ):
        assert cluster.receive(channel, payload(one), 0.0) == []
    # Another key prefix.
    assert cluster.receive(custom["channel"], payload(custom), 0.0) == []
    # A /chat packet on the / channel: another namespace, ignored as Node does.
    body = decoded(one)
    body[1]["nsp"] = "/chat"
    assert cluster.receive("socket.io#/#", wire.pack(body), 0.0) == []
    assert snapshot(built, cluster) == before
    # A packet without nsp is for "/".
    del body[1]["nsp"]
    assert received_frames(cluster.receive("socket.io#/#", wire.pack(body), 0.0)) != {}
    # The /chat broadcast reaches /chat's clients only.
    assert set(received_frames(cluster.receive(chat["channel"], payload(chat), 0.0))) == {"h2"}


def test_sharded_other_namespaces_are_ignored() -> None:
    fixture = load(SHARDED)
    built = build_server(fixture, "s2")
    cluster = built.cluster()
    (message,) = fixture.scenario("broadcast-all")["messages"]
    body = decoded(message)
    body["nsp"] = "/admin"
    before = snapshot(built, cluster)
    assert cluster.receive("socket.io#/#", wire.to_json(body).encode(), 0.0) == []
    assert snapshot(built, cluster) == before


@pytest.mark.parametrize(
    ("server", "channel", "decoded_here"),
    [
        ("s2", "socket.io#/#nosuchroom#", False),
        ("s2", "socket.io#/#room1#", True),
        ("s2", "socket.io#/#réunion#", True),
        ("s1", "socket.io#/#42#", True),  # the numeric room 42 exists on s1
        ("s2", "socket.io#/#42#", False),
        ("s1", "socket.io#/#-42#", False),
        ("s1", "socket.io#/#4.2#", False),
        ("s1", "socket.io#/#²#", False),  # a digit for str.isdigit, not a number
        ("s1", "socket.io#/#--42#", False),
        ("s1", "socket.io#/#" + "9" * 5000 + "#", False),  # beyond int() of a str
        ("s2", "socket.io#/#", True),
        ("s2", "socket.io#/chat#chatroom#", True),
        ("s1", "socket.io#/chat#nosuchroom#", False),
    ],
)
def test_room_channel_prefilter(server: str, channel: str, decoded_here: bool) -> None:
    """A message on the channel of a room this server does not have is not even decoded
    (Node's shortcut): garbage there is not reported."""
    built = build_server(load(ADAPTER), server)
    cluster = built.cluster()
    outputs = cluster.receive(channel, b"\xc1garbage", 0.0)
    assert bool(only(MessageDropped, outputs)) is decoded_here
    assert len(outputs) == int(decoded_here)


def test_numeric_room_channel_reaches_the_int_room() -> None:
    fixture = load(ADAPTER)
    built = build_server(fixture, "s1")
    namespace = built.machine.engine.namespace("/")
    namespace.join(built.sid("c1"), -7)
    namespace.join(built.sid("c1"), "0042")  # a str room that looks numeric
    cluster = built.cluster(uid="U")
    body = ["X", {"type": 2, "data": ["e"], "nsp": "/"}, {"rooms": [-7], "except": [], "flags": {}}]
    assert set(received_frames(cluster.receive("socket.io#/#-7#", wire.pack(body), 0.0))) == {"c1"}
    body[2]["rooms"] = ["0042"]
    assert set(received_frames(cluster.receive("socket.io#/#0042#", wire.pack(body), 0.0))) == {
        "c1"
    }


# -- 6. robustness: garbage from peers, misuse by the host ------------------------------------

DEEP = 1000  # deep enough for JSON encoders, shallow enough for msgpack's decoder


def _deep(value: Any, depth: int = DEEP) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _classic_garbage() -> list[tuple[str, bytes]]:
    b = "socket.io#/#"
    req = "socket.io-request#/#"
    packet = {"type": 2, "data": ["e"], "nsp": "/"}
    opts = {"rooms": [], "except": [], "flags": {}}
    pack, js = wire.pack, lambda v: wire.to_json(v).encode()
    return [
        (b, b"\xc1"),
        (b, b"{not msgpack}"),
        (b, b""),
        (b, pack({"uid": "X"})),
        (b, pack(["X", packet])),
        (b, pack("X")),
        (b, pack(["X", "packet", opts])),
        (b, pack(["X", {"type": 2, "data": [], "nsp": "/"}, opts])),
        (b, pack(["X", {"type": 2, "data": "e", "nsp": "/"}, opts])),
        (b, pack(["X", {"type": 2, "data": [1], "nsp": "/"}, opts])),
        (b, pack(["X", {"type": 2, "data": ["connect"], "nsp": "/"}, opts])),
        (b, pack(["X", {"type": 2, "nsp": "/"}, opts])),
        (b, pack(["X", packet, "opts"])),
        (b, pack(["X", packet, {"rooms": "room1"}])),
        (b, pack(["X", packet, {"rooms": [True]}])),
        (b, pack(["X", packet, {"except": [1.5]}])),
        (b, pack(["X", {"type": 2, "data": ["e", _deep(1)], "nsp": "/"}, opts])),
        (b, pack(["X", {"type": 2, "data": ["e", {b"k": 1}], "nsp": "/"}, opts])),
        (b + "room1#", b"\x93"),
        (req, b"{"),
        (req, b"{nope}"),
        (req, b"\xc1"),
        (req, b"[1]"),
        (req, pack([1, 2])),
        (req, js({"uid": "X", "type": 99, "requestId": "q"})),
        (req, js({"uid": "X", "type": "5", "requestId": "q"})),
        (req, js({"uid": "X", "requestId": "q"})),
        (req, js({"uid": "X", "type": 5})),
        (req, js({"uid": "X", "type": 5, "requestId": 7})),
        (req, js({"uid": "X", "type": 5, "requestId": "q", "opts": []})),
        (req, js({"uid": "X", "type": 1})),
        (req, js({"uid": "X", "type": 0, "requestId": "q", "rooms": "room1"})),
        (req, js({"type": 2, "opts": {"rooms": [], "except": []}, "rooms": "room9"})),
        (req, js({"type": 2, "opts": {"rooms": [], "except": []}, "rooms": [None]})),
        (req, js({"type": 2, "opts": {"rooms": [{}]}, "rooms": ["x"]})),
        (
            req,
            js({"type": 2, "opts": {"rooms": [], "except": []}, "rooms": ["bk8usbAZMNIqxyXCAAAE"]}),
        ),
        (req, js({"type": 3, "opts": "all", "rooms": ["room1"]})),
        (req, js({"type": 4, "opts": {"rooms": 1}})),
        (req, js({"uid": "emitter", "type": 6, "data": []})),
        (req, js({"uid": "emitter", "type": 6, "data": "ev"})),
        (req, js({"uid": "emitter", "type": 6, "data": [1]})),
        (req, js({"uid": "emitter", "type": 6})),
        (req, pack({"uid": "X", "type": 7, "packet": packet, "opts": {"rooms": [], "except": []}})),
        (req, pack({"uid": "X", "type": 7, "requestId": "q", "packet": {"data": []}, "opts": {}})),
        (req, pack({"uid": "X", "type": 7, "requestId": "q", "packet": "x", "opts": {}})),
        (
            req,
            pack({"uid": "X", "type": 7, "requestId": "q", "packet": packet, "opts": {"rooms": 5}}),
        ),
        (req, pack({"uid": "X", "type": 7, "requestId": "q", "packet": {"data": ["disconnect"]}})),
        (req, "{" + '"a":' + "[" * 100_000 + "}"),
    ]


def test_classic_garbage_is_dropped_and_changes_nothing() -> None:
    built, cluster = _classic_s2()
    cluster.fetch_sockets("/", servers=1, now=0.0)  # a request in flight, to be left alone
    before = snapshot(built, cluster)
    for channel, data in _classic_garbage():
        data = data.encode() if isinstance(data, str) else data
        outputs = cluster.receive(channel, data, 1.0)
        assert len(outputs) == 1 and isinstance(outputs[0], MessageDropped), (
            channel,
            data[:60],
            outputs,
        )
        assert outputs[0].channel == channel and outputs[0].reason
        assert snapshot(built, cluster) == before, (channel, data[:60])


def test_classic_garbage_answers_are_dropped_and_change_nothing() -> None:
    built, cluster = _classic_s2(uid="ME", id_factory=ids("f", "a", "s", "b"))
    cluster.fetch_sockets("/", servers=1, now=0.0)
    cluster.all_rooms("/", servers=1, now=0.0)
    cluster.server_side_emit_with_ack("/", "e", servers=1, now=0.0)
    cluster.broadcast_with_ack("/", "e", servers=1, now=0.0, timeout=1.0)
    before = snapshot(built, cluster)
    js = lambda v: wire.to_json(v).encode()  # noqa: E731
    garbage = [
        b"{",
        b"\xc1",
        wire.pack([1]),
        js({"requestId": "f"}),
        js({"requestId": "f", "sockets": {"id": "x"}}),
        js({"requestId": "a", "rooms": "room1"}),
        js({"requestId": "a", "rooms": [[1]]}),
        js({"requestId": "b", "type": 8, "clientCount": -1}),
        js({"requestId": "b", "type": 8, "clientCount": "2"}),
        js({"requestId": "b", "type": 8, "clientCount": True}),
        js({"requestId": "b", "type": 8}),
        js({"requestId": "b", "type": 6, "data": 1}),
        js({"requestId": "b"}),
    ]
    for channel in ("socket.io-response#/#", "socket.io-response#/#ME#"):
        for data in garbage:
            outputs = cluster.receive(channel, data, 1.0)
            assert len(outputs) == 1 and isinstance(outputs[0], MessageDropped), (data, outputs)
            assert snapshot(built, cluster) == before
    # Answers to no request of this server's: silently ignored (another server's).
    for data in (
        js({"requestId": "other", "sockets": []}),
        js({"type": 8, "requestId": 5}),
        js({}),
    ):
        assert cluster.receive("socket.io-response#/#", data, 1.0) == []


def _sharded_garbage() -> list[tuple[str, bytes]]:
    base, own = "socket.io#/#", "socket.io#/#ME#"
    js = lambda v: wire.to_json(v).encode()  # noqa: E731
    pack = wire.pack

    def message(kind: Any, data: Any = None, uid: Any = "X", **extra: Any) -> dict[str, Any]:
        body = {"type": kind, "uid": uid, "nsp": "/", **extra}
        if data is not None:
            body["data"] = data
        return body

    opts = {"rooms": [], "except": [], "flags": {}}
    packet = {"type": 2, "data": ["e"]}
    return [
        (base, b"{"),
        (base, b"\xc1"),
        (base, b""),
        (base, js([1])),
        (base, pack([1, 2])),
        (base, pack("str")),
        (base, js(message(3))),
        (base, js(message(3, "data"))),
        (base, js(message(99, {"requestId": "q"}))),
        (base, js(message("3", {"packet": packet, "opts": opts}))),
        (base, js(message(3, {"packet": {"type": 2, "data": []}, "opts": opts}))),
        (base, js(message(3, {"packet": "p", "opts": opts}))),
        (base, js(message(3, {"packet": packet, "opts": [1]}))),
        (base, pack(message(3, {"packet": {"type": 2, "data": ["e", _deep(b"x")]}, "opts": opts}))),
        (base, js(message(3, {"packet": packet, "requestId": 5, "opts": opts}))),
        (base, js(message(3, {"packet": packet, "requestId": "q", "opts": opts}, uid=None))),
        (base, js(message(3, {"packet": {"data": [2]}, "requestId": "q", "opts": opts}))),
        (base, js(message(4, {"opts": opts, "rooms": "room1"}))),
        (base, js(message(5, {"opts": {"rooms": "x"}, "rooms": ["room1"]}))),
        (base, js(message(4, {"opts": opts, "rooms": ["2oPWXKq1_C_9F4JrAAAE"]}))),
        (base, js(message(6, {"opts": {"except": [None]}}))),
        (base, js(message(7, {"opts": opts}))),
        (base, js(message(7, {"opts": opts, "requestId": "q"}, uid=7))),
        (base, js(message(7, {"opts": "x", "requestId": "q"}))),
        (base, js(message(9, {"packet": []}))),
        (base, js(message(9, {"packet": "ev"}))),
        (base, js(message(9, {"packet": [1]}))),
        (base, js(message(1, {"x": 1}))),
        (base, js(message(2, {"requestId": 1}))),
        (base, js(message([3], {}))),
        (base, js({"type": 3, "data": {}, "uid": "X", "nsp": ["/"]})),
        (own, js(message(8, {"requestId": "f", "sockets": "none"}))),
        (own, js(message(11, {"requestId": "b", "clientCount": -2}))),
        (own, js(message(11, {"requestId": "b"}))),
        (own, js(message(10, {"requestId": "b", "packet": 1}))),
        (own, js(message(8, {"requestId": "b", "sockets": []}))),
        (own, js(message(13, {"requestId": "b"}))),
        (own, js(message(None, {"requestId": "b"}))),
        (own, b"{" + b"[" * 100_000),
    ]


def test_sharded_garbage_is_dropped_and_changes_nothing() -> None:
    built = build_server(load(SHARDED), "s2")
    cluster = built.cluster(uid="ME", id_factory=ids("f", "b"))
    cluster.fetch_sockets("/", servers=1, now=0.0)
    cluster.broadcast_with_ack("/", "e", servers=1, now=0.0, timeout=1.0)
    before = snapshot(built, cluster)
    for channel, data in _sharded_garbage():
        outputs = cluster.receive(channel, data, 1.0)
        assert len(outputs) == 1 and isinstance(outputs[0], MessageDropped), (data[:80], outputs)
        assert snapshot(built, cluster) == before, data[:80]


def test_sharded_heartbeats_and_goodbyes_are_ignored() -> None:
    built = build_server(load(SHARDED), "s2")
    cluster = built.cluster(uid="ME")
    before = snapshot(built, cluster)
    for kind in (1, 2, 13):
        body = {"type": kind, "uid": "X", "nsp": "/"}
        assert cluster.receive("socket.io#/#", wire.to_json(body).encode(), 0.0) == []
    assert snapshot(built, cluster) == before


def test_sharded_answers_to_no_request_are_ignored() -> None:
    built = build_server(load(SHARDED), "s2")
    cluster = built.cluster(uid="ME")
    for kind, data in [
        (8, {"sockets": []}),
        (10, {"packet": 1}),
        (11, {"clientCount": 1}),
        (12, {"packet": 1}),
    ]:
        body = {"type": kind, "data": {"requestId": "nope", **data}, "uid": "X", "nsp": "/"}
        assert cluster.receive("socket.io#/#ME#", wire.to_json(body).encode(), 0.0) == []


def test_sharded_server_side_emit_without_a_uid_to_answer() -> None:
    built = build_server(load(SHARDED), "s2")
    cluster = built.cluster(uid="ME")
    body = {"type": 9, "data": {"requestId": "q", "packet": ["ev", 1]}, "nsp": "/"}
    assert cluster.receive("socket.io#/#", wire.to_json(body).encode(), 0.0) == [
        ServerSideEvent(nsp="/", event="ev", args=(1,), reply=None)
    ]
    # With a uid: an answer is owed, to that server's own channel.
    body["uid"] = "OTHER"
    (event,) = cluster.receive("socket.io#/#", wire.to_json(body).encode(), 0.0)
    (answer,) = cluster.answer_server_side(event.reply, [math.nan])
    assert answer.channel == "socket.io#/#OTHER#" and answer.sharded
    assert json.loads(answer.payload)["data"] == {"requestId": "q", "packet": [None]}


def test_server_side_emit_answers_are_numbered_and_routed() -> None:
    _, cluster = _classic_s2(uid="ME", publish_on_specific_response_channel=True)
    first, second = (
        _request(cluster, {"uid": "A", "requestId": rid, "type": 6, "data": ["ev"]})[0]
        for rid in ("q1", "q2")
    )
    assert first.reply != second.reply
    # Always on the shared channel (Node does so whatever publishOnSpecificResponseChannel).
    assert cluster.answer_server_side(second.reply, 2) == [
        Publish(channel="socket.io-response#/#", payload=b'{"type":6,"requestId":"q2","data":2}')
    ]
    with pytest.raises(TypeError):
        cluster.answer_server_side(first.reply, {1, 2})  # not JSON: the answer is still owed
    assert cluster.answer_server_side(first.reply, None) == [
        Publish(channel="socket.io-response#/#", payload=b'{"type":6,"requestId":"q1","data":null}')
    ]


def test_host_misuse_raises_local_protocol_error() -> None:
    built = build_server(load(ADAPTER), "s1")
    machine = built.machine
    for options in (
        {"key": ""},
        {"key": "a#b"},
        {"key": None},
        {"subscription_mode": "dynamic-public"},
        {"uid": ""},
        {"uid": "emitter"},
        {"uid": 5},
        {"requests_timeout": -1.0},
        {"requests_timeout": math.nan},
        {"id_factory": lambda: ""},
    ):
        with pytest.raises(LocalProtocolError):
            ClusterMachine(machine, **options)
    cluster = built.cluster(uid="U", id_factory=ids(*"abcdefghij"))
    calls: list[Callable[[], Any]] = [
        lambda: cluster.broadcast("/nope", "e"),
        lambda: cluster.sockets_join("/nope", "r"),
        lambda: cluster.sockets_leave("/nope", "r"),
        lambda: cluster.disconnect_sockets("/nope"),
        lambda: cluster.server_side_emit("/nope", "e"),
        lambda: cluster.server_side_emit("/", 5),  # type: ignore[arg-type]
        lambda: cluster.server_side_emit_with_ack("/", None, servers=1, now=0.0),  # type: ignore[arg-type]
        lambda: cluster.fetch_sockets("/nope", servers=1, now=0.0),
        lambda: cluster.all_rooms("/nope", servers=1, now=0.0),
        lambda: cluster.server_side_emit_with_ack("/nope", "e", servers=1, now=0.0),
        lambda: cluster.broadcast_with_ack("/nope", "e", servers=1, now=0.0, timeout=1.0),
        lambda: cluster.fetch_sockets("/", servers=-1, now=0.0),
        lambda: cluster.fetch_sockets("/", servers=True, now=0.0),
        lambda: cluster.fetch_sockets("/", servers=1.0, now=0.0),  # type: ignore[arg-type]
        lambda: cluster.all_rooms("/", servers=-1, now=0.0),
        lambda: cluster.fetch_sockets("/", servers=1, now=-1.0),
        lambda: cluster.fetch_sockets("/", servers=1, now=0.0, timeout=-1.0),
        lambda: cluster.server_side_emit_with_ack("/", "e", servers=1, now=0.0, timeout="1"),  # type: ignore[arg-type]
        lambda: cluster.broadcast_with_ack("/", "e", servers=1, now=0.0, timeout=-0.5),
        lambda: cluster.broadcast_with_ack("/", "e", servers=0, now=0.0, timeout=-0.5),
        lambda: cluster.fetch_sockets("/", except_=None, servers=1, now=0.0),  # type: ignore[arg-type]
        lambda: cluster.broadcast_with_ack(
            "/",
            "e",
            except_=[1.5],  # type: ignore[list-item]
            servers=1,
            now=0.0,
            timeout=1.0,
        ),
        lambda: cluster.broadcast("/", "e", rooms=[None]),  # type: ignore[list-item]
        lambda: cluster.answer_server_side(1, "x"),
        lambda: cluster.advance(-1.0),
        lambda: cluster.receive("socket.io#/#", b"", math.nan),
    ]
    for call in calls:
        with pytest.raises(LocalProtocolError):
            call()
        assert len(cluster) == 0 and cluster.next_deadline() is None
    assert isinstance(InvalidRoomError("x"), LocalProtocolError)


def test_unencodable_request_leaves_nothing_in_flight() -> None:
    """What the wire cannot carry raises TypeError, and no request is left waiting."""
    for sharded in (False, True):
        built = build_server(load(ADAPTER), "s1")
        cluster = built.cluster(uid="U", sharded=sharded)
        with pytest.raises(TypeError):
            cluster.server_side_emit_with_ack("/", "e", {1, 2}, servers=1, now=0.0)
        with pytest.raises(TypeError):
            cluster.broadcast_with_ack("/", "e", 2**70, b"x", servers=1, now=0.0, timeout=1.0)
        assert len(cluster) == 0 and cluster.next_deadline() is None


def test_relay_of_an_answer_the_wire_cannot_carry_is_dropped_not_raised() -> None:
    """A client answers with an int beyond 64 bits: MessagePack cannot carry it (notepack
    would write garbage). The classic relay reports it; the sharded one sends JSON."""
    for name in (ADAPTER, SHARDED):
        fixture = load(name)
        (request, count, *_) = fixture.scenario("broadcast-with-ack")["messages"]
        built = build_server(fixture, "s2")
        cluster = built.cluster()
        deliveries = cluster.receive(request["channel"], payload(request), 0.0)[1]
        sent = built.clients["c3"].emit(f"3{deliveries.ack_id}[{2**70}]")
        (received,) = only(AckReceived, sent)
        (relayed,) = cluster.relay_ack(received)
        if fixture.sharded:
            assert isinstance(relayed, Publish)
            assert json.loads(relayed.payload)["data"]["packet"] == 2**70
            # Nesting too deep for the JSON encoder (not from a client: its decoder stops
            # first) is reported too.
            deep = AckReceived(
                nsp="/", ack_id=received.ack_id, sid=received.sid, response=_deep(1, 5000)
            )
            (relayed,) = cluster.relay_ack(deep)
        assert isinstance(relayed, MessageDropped), relayed
        assert relayed.channel == count["channel"]
        assert "TypeError" in relayed.reason
        # Still relaying: the other clients' answers go out.
        assert cluster.relays(received.ack_id)


def test_advance_skips_requests_already_over() -> None:
    """Deadlines of requests answered or cancelled stay in the heap until passed."""
    fixture = load(ADAPTER)
    cluster = build_server(fixture, "s1").cluster(uid="U", id_factory=ids("r1", "r2", "r3"))
    cluster.all_rooms("/", servers=1, now=0.0)
    cluster.all_rooms("/", servers=1, now=0.0)
    cluster.all_rooms("/", servers=1, now=1.0)
    answer = b'{"requestId":"r1","rooms":["x"]}'
    (completed,) = cluster.receive("socket.io-response#/#", answer, 0.5)
    assert completed.responses == ("x",) and not completed.timed_out
    cluster.cancel("r2")
    (timed_out,) = cluster.advance(10.0)  # r1 and r2 are skipped, r3 times out
    assert (timed_out.request_id, timed_out.timed_out, timed_out.responses) == ("r3", True, ())


@pytest.mark.parametrize("name", [ADAPTER, SHARDED])
def test_acked_broadcast_too_deep_to_encode_changes_nothing(name: str) -> None:
    fixture = load(name)
    (request, *_) = fixture.scenario("broadcast-with-ack")["messages"]
    built = build_server(fixture, "s2")
    cluster = built.cluster()
    body = decoded(request)
    packet = body["data"]["packet"] if fixture.sharded else body["packet"]
    packet["data"] = ["ack-me", _deep(1)]
    before = snapshot(built, cluster)
    (dropped,) = cluster.receive(request["channel"], wire.pack(body), 0.0)
    assert isinstance(dropped, MessageDropped)
    assert snapshot(built, cluster) == before
