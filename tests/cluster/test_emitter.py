"""The emitter (``sansio_rooms._emitter``): Node's ``@socket.io/redis-emitter`` 5.1, in Python.

* byte for byte against ``fixtures/node-emitter-5.1.json`` (every scenario), and, for the
  sharded format Node's emitter lacks, against the messages of Node's sharded adapter
  (``fixtures/node-sharded-8.3.json``) with the uid ``"emitter"``;
* the API: immutability, flags, namespaces, subscription modes, and what is refused;
* a real ``redis-server``, with redis-py's blocking client and ``redis.asyncio``;
* end to end: Node socket.io servers (classic and sharded) and real Node clients receive what
  our emitter publishes.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import struct
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import msgpack
import pytest
import redis
import redis.asyncio
from _fixtures import EMITTER, SHARDED, Fixture, build_server, load, payload, rendered
from _harness import NodeClients, NodePeer
from _redis import RedisServer

from sansio_rooms import (
    RESERVED_EVENTS,
    AsyncEmitter,
    AsyncEmitterOperator,
    Emitter,
    EmitterOperator,
    InvalidRoomError,
    LocalProtocolError,
    ServerSideEvent,
)
from sansio_rooms._emitter import _Operator

UTC = datetime.UTC
# notepack.io writes the double 1e300 as the uint64 0 (an integral double beyond 64 bits comes
# out wrong: README, "Facts"); we write the float64. The only byte difference from Node.
NOTEPACK_1E300 = b"\xcf" + bytes(8)
FLOAT64_1E300 = b"\xcb" + struct.pack(">d", 1e300)


# -- clients that record ------------------------------------------------------------------------


class Recorder:
    """A blocking client: records ``(command, channel, payload)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    def publish(self, channel: str, message: bytes) -> int:
        self.calls.append(("PUBLISH", channel, message))
        return 1

    def spublish(self, channel: str, message: bytes) -> int:
        self.calls.append(("SPUBLISH", channel, message))
        return 1


class AsyncRecorder:
    """An asynchronous client: records when the publish is awaited."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    async def publish(self, channel: str, message: bytes) -> int:
        self.calls.append(("PUBLISH", channel, message))
        return 1

    async def spublish(self, channel: str, message: bytes) -> int:
        self.calls.append(("SPUBLISH", channel, message))
        return 1


def variety() -> list[Any]:
    """``VARIETY()`` of ``node/capture.mjs`` in Python values: ``undefined`` in an array is
    ``null`` and is left out of an object (with the function), a ``Date`` is an aware
    datetime, ``Buffer``/``Uint8Array``/``ArrayBuffer`` are bytes, ``toJSON()`` is applied."""
    return [
        0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 9007199254740991,
        -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649,
        0.5, -1.25, 1e300,
        "", "a" * 31, "b" * 32, "c" * 256, "é€😀",
        True, False, None,
        [], {}, list(range(16)), {f"k{i}": i for i in range(16)},
        [1, None, 3], {"b": 1},
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        b"", bytes([7]) * 256, bytes([1, 2]), bytes([3, 4]),
        {"via": "toJSON"},
    ]  # fmt: skip


# -- 1. byte for byte: every scenario of Node's emitter ------------------------------------------

Calls = Callable[[Any, Any, Callable[[str], str]], list[Any]]

#: scenario -> the Python calls equivalent to its ``code``, given (emitter, the emitter with
#: key "custom-prefix", sid of a client). Each returns what the calls returned (coroutines
#: with AsyncEmitter, awaited in order).
EMITTER_SCENARIOS: dict[str, Calls] = {
    "emitter-emit": lambda e, c, sid: [
        e.emit("hello", "world", 1, -2, 2.5, True, None, {"a": [1, "x"]})
    ],
    "emitter-binary": lambda e, c, sid: [e.emit("binary", bytes([1, 2, 3]), {"nested": b"abc"})],
    "emitter-encoding-variety": lambda e, c, sid: [e.emit("variety", *variety())],
    "emitter-to-room": lambda e, c, sid: [e.to("room1").emit("room-msg", "to room1")],
    "emitter-to-rooms": lambda e, c, sid: [e.to(["room1", "room3"]).emit("rooms-msg", 1)],
    "emitter-except": lambda e, c, sid: [e.except_("room1").emit("except-msg", "not room1")],
    "emitter-to-except-socket": lambda e, c, sid: [
        e.to("room1").except_(sid("c3")).emit("room-except-msg", 2)
    ],
    "emitter-to-socket-id": lambda e, c, sid: [e.to(sid("c3")).emit("direct", "hi c3")],
    "emitter-numeric-room": lambda e, c, sid: [e.to(42).emit("numeric-room", 42)],
    "emitter-volatile": lambda e, c, sid: [e.volatile.emit("volatile-msg", 1)],
    "emitter-compress-false": lambda e, c, sid: [e.compress(False).emit("uncompressed", "x")],
    "emitter-flags-combined": lambda e, c, sid: [
        e.to("room1").volatile.compress(False).emit("flags-msg", 3)
    ],
    "emitter-of-chat": lambda e, c, sid: [e.of("/chat").emit("chat-msg", "hi")],
    "emitter-of-chat-no-slash-room": lambda e, c, sid: [
        e.of("chat").to("chatroom").emit("chat-room-msg", "hi room")
    ],
    "emitter-socketsJoin": lambda e, c, sid: [e.sockets_join("room4")],
    "emitter-socketsJoin-in-except-multi": lambda e, c, sid: [
        e.in_("room1").except_("room3").sockets_join(["room5", "room6"])
    ],
    "emitter-socketsLeave": lambda e, c, sid: [e.sockets_leave("room4")],
    "emitter-socketsLeave-in-multi": lambda e, c, sid: [
        e.in_("room5").sockets_leave(["room5", "room6"])
    ],
    "emitter-serverSideEmit": lambda e, c, sid: [
        e.server_side_emit("hello-servers", 1, {"two": 2})
    ],
    "emitter-of-chat-serverSideEmit": lambda e, c, sid: [
        e.of("/chat").server_side_emit("chat-servers", 1)
    ],
    "emitter-custom-key": lambda e, c, sid: [
        c.emit("custom", 1),
        c.to("room1").emit("custom-room", 2),
    ],
    "emitter-disconnectSockets-default": lambda e, c, sid: [e.in_("doomed1").disconnect_sockets()],
    "emitter-disconnectSockets-true": lambda e, c, sid: [e.in_("doomed2").disconnect_sockets(True)],
}


def expected(fixture: Fixture, scenario: str) -> list[tuple[str, str, bytes]]:
    return [
        (m["command"], m["channel"], payload(m)) for m in fixture.scenario(scenario)["messages"]
    ]


def run_sync(calls: Calls, fixture: Fixture, **options: Any) -> list[tuple[str, str, bytes]]:
    client = Recorder()
    custom = Emitter(client, **{**options, "key": "custom-prefix"})
    results = calls(Emitter(client, **options), custom, fixture.sid)
    assert results == [None] * len(results)
    return client.calls


def run_async(calls: Calls, fixture: Fixture, **options: Any) -> list[tuple[str, str, bytes]]:
    client = AsyncRecorder()
    custom = AsyncEmitter(client, **{**options, "key": "custom-prefix"})
    coroutines = calls(AsyncEmitter(client, **options), custom, fixture.sid)
    assert client.calls == []  # nothing is published before the await

    async def main() -> None:
        for coroutine in coroutines:
            assert await coroutine is None

    asyncio.run(main())
    return client.calls


RUNNERS = {"sync": run_sync, "async": run_async}


def test_the_table_covers_every_scenario_of_the_emitter_fixture() -> None:
    fixture = load(EMITTER)
    assert list(EMITTER_SCENARIOS) == [s["name"] for s in fixture.raw["scenarios"]]
    assert len(EMITTER_SCENARIOS) == 23
    for name in EMITTER_SCENARIOS:
        for message in fixture.scenario(name)["messages"]:
            assert message["publisher"] == "emitter"
            assert message["command"] == "PUBLISH"


@pytest.mark.parametrize("form", RUNNERS)
@pytest.mark.parametrize("scenario", list(EMITTER_SCENARIOS))
def test_the_bytes_of_nodes_emitter(scenario: str, form: str) -> None:
    fixture = load(EMITTER)
    got = RUNNERS[form](EMITTER_SCENARIOS[scenario], fixture)
    want = expected(fixture, scenario)
    if scenario == "emitter-encoding-variety":
        [(command, channel, node_bytes)] = want
        assert node_bytes.count(NOTEPACK_1E300) == 1
        want = [(command, channel, node_bytes.replace(NOTEPACK_1E300, FLOAT64_1E300))]
        # Everything else is Node's: what Node's servers decode from ours differs only there.
        ours = msgpack.unpackb(got[0][2], timestamp=3)
        nodes = msgpack.unpackb(node_bytes, timestamp=3)
        assert ours[1]["data"][22] == 1e300 and nodes[1]["data"][22] == 0
        ours[1]["data"][22] = 0
        assert ours == nodes
    assert got == want


def test_the_bytes_decode_to_the_fixtures_rendered_values() -> None:
    """The rendering of the fixture (``$bin``, ``$date``) agrees with what we encoded."""
    fixture = load(EMITTER)
    got = run_sync(EMITTER_SCENARIOS["emitter-binary"], fixture)
    [message] = fixture.scenario("emitter-binary")["messages"]
    decoded = msgpack.unpackb(got[0][2], timestamp=3)
    assert decoded == rendered(message["decoded"])


# -- 1b. the sharded format: what Node's sharded adapter sends, with the uid "emitter" -----------

#: scenario of the sharded fixture -> (the cluster, the calls). ``e`` is the emitter with that
#: cluster's options.
SHARDED_SCENARIOS: dict[str, tuple[str, Calls]] = {
    "broadcast-all": (
        "main",
        lambda e, c, sid: [e.emit("hello", "world", 1, -2, 2.5, True, None, {"a": [1, "x"]})],
    ),
    "broadcast-one-room": ("main", lambda e, c, sid: [e.to("room1").emit("room-msg", "to room1")]),
    "broadcast-several-rooms": (
        "main",
        lambda e, c, sid: [e.to(["room1", "room3"]).emit("rooms-msg", 1)],
    ),
    "broadcast-except": (
        "main",
        lambda e, c, sid: [e.except_("room1").emit("except-msg", "not room1")],
    ),
    "broadcast-room-except-socket": (
        "main",
        lambda e, c, sid: [e.to("room1").except_(sid("c3")).emit("room-except-msg", 2)],
    ),
    "broadcast-to-socket-id": ("main", lambda e, c, sid: [e.to(sid("c3")).emit("direct", "hi c3")]),
    "broadcast-numeric-room": ("main", lambda e, c, sid: [e.to(42).emit("numeric-room", 42)]),
    "broadcast-unicode-room": (
        "main",
        lambda e, c, sid: [e.to("réunion").emit("unicode-room", "é")],
    ),
    "broadcast-volatile": ("main", lambda e, c, sid: [e.volatile.emit("volatile-msg", 1)]),
    "broadcast-compress-false": (
        "main",
        lambda e, c, sid: [e.compress(False).emit("uncompressed", "x")],
    ),
    "broadcast-flags-combined": (
        "main",
        lambda e, c, sid: [e.to("room1").volatile.compress(False).emit("flags-msg", 3)],
    ),
    "broadcast-binary": (
        "main",
        lambda e, c, sid: [
            e.emit("binary", bytes([1, 2, 3]), {"nested": b"abc", "arr": [b"\xff\x00"]})
        ],
    ),
    "broadcast-encoding-variety": ("main", lambda e, c, sid: [e.emit("variety", *variety())]),
    "socket-broadcast": (
        "main",
        lambda e, c, sid: [e.except_(sid("c1")).emit("relayed", "from c1")],
    ),
    "socket-to-room": (
        "main",
        lambda e, c, sid: [e.to("room3").except_(sid("c1")).emit("relayed", "c1 to room3")],
    ),
    "socketsJoin": ("main", lambda e, c, sid: [e.in_("room1").sockets_join("room4")]),
    "socketsJoin-except-multi": (
        "main",
        lambda e, c, sid: [e.except_("room3").sockets_join(["room5", "room6"])],
    ),
    "socketsLeave": ("main", lambda e, c, sid: [e.sockets_leave("room4")]),
    "socketsLeave-in-multi": (
        "main",
        lambda e, c, sid: [e.in_("room5").sockets_leave(["room5", "room6"])],
    ),
    "serverSideEmit": (
        "main",
        lambda e, c, sid: [e.server_side_emit("hello-servers", 1, "two", {"three": [3]})],
    ),
    "serverSideEmit-buffer": (
        "main",
        lambda e, c, sid: [e.server_side_emit("hello-servers", bytes([1, 2]))],
    ),
    "chat-broadcast": ("main", lambda e, c, sid: [e.of("/chat").emit("chat-msg", "hi")]),
    "chat-room": (
        "main",
        lambda e, c, sid: [e.of("/chat").to("chatroom").emit("chat-room-msg", "hi room")],
    ),
    "chat-serverSideEmit": (
        "main",
        lambda e, c, sid: [e.of("/chat").server_side_emit("chat-servers", 1)],
    ),
    "private-room": ("private", lambda e, c, sid: [e.to("room1").emit("custom-room", 2)]),
    "private-socket-id": ("private", lambda e, c, sid: [e.to(sid("e2")).emit("direct", "hi e2")]),
    "private-socketsJoin": ("private", lambda e, c, sid: [e.sockets_join("room8")]),
    "static-room": ("static", lambda e, c, sid: [e.to("room1").emit("static-room", 3)]),
    "static-socketsJoin": ("static", lambda e, c, sid: [e.sockets_join("room8")]),
    "disconnectSockets-false": (
        "main",
        lambda e, c, sid: [e.in_("doomed1").disconnect_sockets(False)],
    ),
    "disconnectSockets-true": (
        "main",
        lambda e, c, sid: [e.in_("doomed2").disconnect_sockets(True)],
    ),
}


def sharded_options(fixture: Fixture, cluster: str) -> dict[str, Any]:
    server = next(s for s in fixture.servers() if fixture.clusters[s]["name"] == cluster)
    options = fixture.options(server)
    return {
        name: options[name] for name in ("sharded", "key", "subscription_mode") if name in options
    }


def as_emitter(message: dict[str, Any]) -> bytes:
    """A server's sharded message with the uid ``"emitter"`` in place of the server's."""
    uid = message["decoded"]["uid"].encode()
    data = payload(message)
    if message["encoding"] == "json":
        before, after = b'"uid":"' + uid + b'"', b'"uid":"emitter"'
    else:
        assert len(uid) == 16
        before, after = b"\xa3uid\xb0" + uid, b"\xa3uid\xa7emitter"
    assert data.count(before) == 1
    return data.replace(before, after)


def test_the_sharded_table_covers_every_message_a_server_sends_unasked() -> None:
    """Every message of the sharded fixture that an emitter could send: a server's own,
    without a request id (no ack, no request) and without ``expectSingleResponse`` (a
    RemoteSocket's)."""
    fixture = load(SHARDED)
    candidates = []
    for scenario, message in fixture.messages():
        data = message["decoded"]["data"]
        flags = data.get("opts", {}).get("flags", {})
        if "requestId" not in data and "expectSingleResponse" not in flags:
            candidates.append(scenario["name"])
    assert sorted(candidates) == sorted(SHARDED_SCENARIOS)


@pytest.mark.parametrize("form", RUNNERS)
@pytest.mark.parametrize("scenario", list(SHARDED_SCENARIOS))
def test_the_bytes_of_nodes_sharded_adapter_with_uid_emitter(scenario: str, form: str) -> None:
    fixture = load(SHARDED)
    cluster, calls = SHARDED_SCENARIOS[scenario]
    got = RUNNERS[form](calls, fixture, **sharded_options(fixture, cluster))
    [message] = fixture.scenario(scenario)["messages"]
    want = as_emitter(message)
    if scenario == "broadcast-encoding-variety":
        assert want.count(NOTEPACK_1E300) == 1
        want = want.replace(NOTEPACK_1E300, FLOAT64_1E300)
    assert got == [("SPUBLISH", message["channel"], want)]


@pytest.mark.parametrize("fixture_name", [EMITTER, SHARDED])
def test_our_cluster_machine_takes_what_our_emitter_sends(fixture_name: str) -> None:
    """A Python server of the cluster (``ClusterMachine``) acts on the emitter's messages."""
    fixture = load(fixture_name)
    built = build_server(fixture, "s2")
    cluster = built.cluster()
    client = Recorder()
    emitter = Emitter(client, sharded=fixture.sharded)
    emitter.to("room1").emit("hi", b"\x01")
    emitter.in_("room1").sockets_join("joined")
    emitter.server_side_emit("srv", 1)
    emitter.in_("room3").disconnect_sockets()
    outputs = [cluster.receive(channel, data, 0.0) for _, channel, data in client.calls]
    assert [type(o).__name__ for o in outputs[0]] == ["WebSocketSend"]  # to c3, its one member
    assert "joined" in built.rooms("c3") and "joined" not in built.rooms("c4")
    assert outputs[2] == [ServerSideEvent(nsp="/", event="srv", args=(1,), reply=None)]
    assert any(type(o).__name__ == "SocketDisconnecting" for o in outputs[3])


# -- 2. the API ---------------------------------------------------------------------------------


def messages(client: Recorder) -> list[tuple[str, str, Any]]:
    """The recorded publishes, decoded."""
    out = []
    for command, channel, data in client.calls:
        if data[:1] == b"{":
            out.append((command, channel, json.loads(data)))
        else:
            out.append((command, channel, msgpack.unpackb(data)))
    return out


def test_operators_are_immutable_and_reusable() -> None:
    client = Recorder()
    emitter = Emitter(client)
    room = emitter.to("a")
    assert type(room) is EmitterOperator and type(emitter) is Emitter
    room.to("b").except_("c").volatile.compress(False).emit("x")
    room.emit("y")
    room.emit("y")
    emitter.emit("z")
    [first, second, third, fourth] = messages(client)
    assert first[1:] == (
        "socket.io#/#",
        ["emitter", {"type": 2, "data": ["x"], "nsp": "/"},
         {"rooms": ["a", "b"], "flags": {"volatile": True, "compress": False}, "except": ["c"]}],
    )  # fmt: skip
    assert second == third
    assert second[1] == "socket.io#/#a#" and second[2][2]["rooms"] == ["a"]
    assert fourth[2][2] == {"rooms": [], "flags": {}, "except": []}


def test_rooms_accumulate_without_duplicates_and_in_is_to() -> None:
    client = Recorder()
    emitter = Emitter(client)

    class Color(enum.IntEnum):
        RED = 7

    emitter.to("a").in_(["b", "a"]).to({Color.RED}).to(7).except_("x").except_(("x", 8)).emit("e")
    [(_, channel, (_, _, opts))] = messages(client)
    assert channel == "socket.io#/#"
    assert opts == {"rooms": ["a", "b", 7], "flags": {}, "except": ["x", 8]}
    assert type(opts["rooms"][2]) is int


def test_flags_keep_the_order_and_value_they_were_set_with() -> None:
    """As Node's ``Object.assign``: the first setting fixes the position, the last the value;
    ``compress(True)`` is written too."""
    client = Recorder()
    emitter = Emitter(client)
    emitter.compress(False).volatile.emit("a")
    emitter.compress(False).volatile.compress(True).volatile.emit("b")
    emitter.compress(0).emit("c")  # type: ignore[arg-type]
    flags = [opts["flags"] for (_, _, (_, _, opts)) in messages(client)]
    assert [list(f.items()) for f in flags] == [
        [("compress", False), ("volatile", True)],
        [("compress", True), ("volatile", True)],
        [("compress", False)],
    ]


def test_namespaces() -> None:
    client = Recorder()
    emitter = Emitter(client, nsp="admin")
    assert emitter.nsp == "/admin"
    chat = emitter.of("chat")
    assert type(chat) is Emitter and chat.nsp == "/chat" and emitter.nsp == "/admin"
    assert emitter.of("").nsp == "/"
    chat.to("r").emit("e")
    chat.server_side_emit("s")
    chat.sockets_leave("r")
    assert [(c, ch) for c, ch, _ in client.calls] == [
        ("PUBLISH", "socket.io#/chat#r#"),
        ("PUBLISH", "socket.io-request#/chat#"),
        ("PUBLISH", "socket.io-request#/chat#"),
    ]
    with pytest.raises(LocalProtocolError, match="namespace name must be a str"):
        emitter.of(5)  # type: ignore[arg-type]


def test_operators_have_no_of_and_no_server_side_emit() -> None:
    """As in Node: a room selection has no meaning for either."""
    operator = Emitter(Recorder()).to("r")
    assert not hasattr(operator, "of") and not hasattr(operator, "server_side_emit")
    aoperator = AsyncEmitter(AsyncRecorder()).to("r")
    assert type(aoperator) is AsyncEmitterOperator
    assert not hasattr(aoperator, "of") and not hasattr(aoperator, "server_side_emit")


def test_repr() -> None:
    operator = Emitter(Recorder(), key="k").of("/chat").to(["a", 1]).except_("b").volatile
    assert repr(operator) == (
        "<EmitterOperator nsp='/chat' rooms=['a', 1] except=['b'] flags={'volatile': True}>"
    )
    assert repr(AsyncEmitter(AsyncRecorder())) == (
        "<AsyncEmitter nsp='/' rooms=[] except=[] flags={}>"
    )


def test_classic_requests_and_the_room_channel() -> None:
    client = Recorder()
    emitter = Emitter(client, key="k")
    emitter.to("r").except_("x").disconnect_sockets(close=1)  # type: ignore[arg-type]
    emitter.to(["r", "s"]).volatile.sockets_join([])
    emitter.to(7).emit("n")
    assert messages(client) == [
        ("PUBLISH", "k-request#/#",
         {"type": 4, "opts": {"rooms": ["r"], "except": ["x"]}, "close": True}),
        ("PUBLISH", "k-request#/#",
         {"type": 2, "opts": {"rooms": ["r", "s"], "except": []}, "rooms": []}),
        ("PUBLISH", "k#/#7#",
         ["emitter", {"type": 2, "data": ["n"], "nsp": "/"},
          {"rooms": [7], "flags": {}, "except": []}]),
    ]  # fmt: skip


def test_classic_server_side_emit_sends_bytes_as_json_buffers_like_node() -> None:
    client = Recorder()
    Emitter(client).server_side_emit("s", b"\x01\x02", datetime.datetime(2024, 1, 2, tzinfo=UTC))
    assert client.calls == [
        (
            "PUBLISH",
            "socket.io-request#/#",
            b'{"uid":"emitter","type":6,"data":["s",{"type":"Buffer","data":[1,2]},'
            b'"2024-01-02T00:00:00.000Z"]}',
        )
    ]


@pytest.mark.parametrize(
    ("mode", "room", "channel"),
    [
        ("dynamic", "room1", "P#/#room1#"),
        ("dynamic", "x" * 20, "P#/#"),  # taken for a socket id: no channel of its own
        ("dynamic", "x" * 21, "P#/#" + "x" * 21 + "#"),
        ("dynamic", 12345678901234567890, "P#/#12345678901234567890#"),  # not a string
        ("dynamic-private", "x" * 20, "P#/#" + "x" * 20 + "#"),
        ("static", "room1", "P#/#"),
    ],
)
def test_sharded_room_channel_follows_the_subscription_mode(
    mode: Any, room: Any, channel: str
) -> None:
    client = Recorder()
    emitter = Emitter(client, key="P", sharded=True, subscription_mode=mode)
    emitter.to(room).emit("e")
    emitter.to([room, "other"]).emit("e")
    emitter.to(room).sockets_join("j")
    emitter.to(room).disconnect_sockets()
    emitter.server_side_emit("s")
    assert [(c, ch) for c, ch, _ in client.calls] == [
        ("SPUBLISH", channel),
        ("SPUBLISH", "P#/#"),
        ("SPUBLISH", "P#/#"),
        ("SPUBLISH", "P#/#"),
        ("SPUBLISH", "P#/#"),
    ]


def test_sharded_messages() -> None:
    client = Recorder()
    emitter = Emitter(client, sharded=True).of("/chat")
    emitter.to("r").compress(False).emit("e", b"\x00")
    emitter.except_("x").sockets_leave(["a", 1])
    emitter.to("r").disconnect_sockets(True)
    emitter.server_side_emit("s", {"b": b"\x01"})
    emitter.server_side_emit("t", 1)
    assert messages(client) == [
        ("SPUBLISH", "socket.io#/chat#r#",
         {"type": 3, "data": {"packet": {"type": 2, "data": ["e", b"\x00"]},
                              "opts": {"rooms": ["r"], "except": [], "flags": {"compress": False}}},
          "uid": "emitter", "nsp": "/chat"}),
        ("SPUBLISH", "socket.io#/chat#",
         {"type": 5, "data": {"opts": {"rooms": [], "except": ["x"], "flags": {}},
                              "rooms": ["a", 1]},
          "uid": "emitter", "nsp": "/chat"}),
        ("SPUBLISH", "socket.io#/chat#",
         {"type": 6, "data": {"opts": {"rooms": ["r"], "except": [], "flags": {}}, "close": True},
          "uid": "emitter", "nsp": "/chat"}),
        ("SPUBLISH", "socket.io#/chat#",
         {"type": 9, "data": {"packet": ["s", {"b": b"\x01"}]}, "uid": "emitter", "nsp": "/chat"}),
        ("SPUBLISH", "socket.io#/chat#",
         {"type": 9, "data": {"packet": ["t", 1]}, "uid": "emitter", "nsp": "/chat"}),
    ]  # fmt: skip
    assert client.calls[0][2][:1] != b"{" and client.calls[4][2][:1] == b"{"


# -- 2b. what is refused (and nothing is published then) ------------------------------------------


@pytest.fixture(params=["sync", "async"])
def emitter(request: pytest.FixtureRequest) -> Iterator[Emitter | AsyncEmitter]:
    """An emitter of each form, whose client must see nothing published."""
    client: Recorder | AsyncRecorder = Recorder() if request.param == "sync" else AsyncRecorder()
    yield Emitter(client) if request.param == "sync" else AsyncEmitter(client)
    assert client.calls == []


@pytest.mark.parametrize("event", sorted(RESERVED_EVENTS))
def test_reserved_event_names_are_refused(emitter: Emitter | AsyncEmitter, event: str) -> None:
    with pytest.raises(ValueError, match=f"'{event}' is a reserved event name"):
        emitter.to("r").emit(event, 1)
    with pytest.raises(ValueError, match="reserved"):
        emitter.server_side_emit(event)
    with pytest.raises(ValueError, match="reserved"):
        emitter.of("/x").server_side_emit(event)


def test_acknowledgements_are_refused(emitter: Emitter | AsyncEmitter) -> None:
    def ack(*args: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="the emitter cannot receive acknowledgements"):
        emitter.emit("e", 1, ack)
    with pytest.raises(TypeError, match="cannot receive acknowledgements"):
        emitter.volatile.emit("e", ack)
    with pytest.raises(TypeError, match="cannot receive acknowledgements"):
        emitter.server_side_emit("e", ack)
    with pytest.raises(TypeError, match="cannot receive acknowledgements"):
        emitter.server_side_emit("e", lambda: None)


@pytest.mark.parametrize("event", [None, 1, b"e", ["e"]])
def test_event_names_are_strings(emitter: Emitter | AsyncEmitter, event: Any) -> None:
    with pytest.raises(TypeError, match="an event name is a string"):
        emitter.emit(event)
    with pytest.raises(TypeError, match="an event name is a string"):
        emitter.server_side_emit(event, 1)


@pytest.mark.parametrize("rooms", [None, b"r", 1.5, True, ["a", None], {"a": 1}, object()])
def test_room_names_are_str_or_int(emitter: Emitter | AsyncEmitter, rooms: Any) -> None:
    with pytest.raises(InvalidRoomError):
        emitter.to(rooms)
    with pytest.raises(InvalidRoomError):
        emitter.in_(rooms)
    with pytest.raises(InvalidRoomError):
        emitter.to("ok").except_(rooms)
    with pytest.raises(InvalidRoomError):
        emitter.sockets_join(rooms)
    with pytest.raises(InvalidRoomError):
        emitter.to("r").sockets_leave(rooms)


@pytest.mark.parametrize("value", [{2, 3}, 2**64, datetime.datetime(2024, 1, 2)])
def test_values_messagepack_cannot_carry(emitter: Emitter | AsyncEmitter, value: Any) -> None:
    """A set, an int beyond 64 bits, a naive datetime (which instant?)."""
    with pytest.raises(TypeError):
        emitter.emit("e", [value])


def test_values_json_cannot_carry(emitter: Emitter | AsyncEmitter) -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    for value in ({2, 3}, cycle):
        with pytest.raises(TypeError):
            emitter.server_side_emit("e", {"v": value})


@pytest.mark.parametrize("key", ["", "a#b", 5, None])
def test_bad_keys(key: Any) -> None:
    for cls in (Emitter, AsyncEmitter):
        with pytest.raises(LocalProtocolError, match="key must be a non-empty string"):
            cls(Recorder(), key=key)


def test_bad_subscription_mode() -> None:
    for cls in (Emitter, AsyncEmitter):
        with pytest.raises(LocalProtocolError, match="subscription_mode is"):
            cls(Recorder(), sharded=True, subscription_mode="sometimes")  # type: ignore[arg-type]


# -- 2c. the wrong kind of client -------------------------------------------------------------


class AwaitableResult:
    """An awaitable that is not a coroutine (as a Future is)."""

    def __await__(self) -> Generator[None, None, int]:
        return 1
        yield  # a generator function


def test_emitter_with_an_asynchronous_client_refuses_rather_than_drops() -> None:
    """Not awaited, the coroutine would publish nothing; it is closed (no "never awaited"
    warning, which this suite turns into an error) and the call fails."""
    emitter = Emitter(AsyncRecorder())
    with pytest.raises(TypeError, match="asynchronous: use AsyncEmitter"):
        emitter.emit("e")
    with pytest.raises(TypeError, match="asynchronous: use AsyncEmitter"):
        Emitter(AsyncRecorder(), sharded=True).server_side_emit("s")

    class FutureClient:
        def publish(self, channel: str, message: bytes) -> AwaitableResult:
            return AwaitableResult()

    with pytest.raises(TypeError, match="asynchronous: use AsyncEmitter"):
        Emitter(FutureClient()).sockets_join("r")


def test_async_emitter_with_a_blocking_client() -> None:
    client = Recorder()
    coroutine = AsyncEmitter(client).emit("e")
    with pytest.raises(TypeError, match=r"synchronous .*: use Emitter"):
        asyncio.run(coroutine)
    assert len(client.calls) == 1  # too late to take back


def test_async_emitter_awaits_any_awaitable() -> None:
    class FutureClient:
        def __init__(self) -> None:
            self.channels: list[str] = []

        def spublish(self, channel: str, message: bytes) -> AwaitableResult:
            self.channels.append(channel)
            return AwaitableResult()

    client = FutureClient()
    asyncio.run(AsyncEmitter(client, sharded=True).disconnect_sockets())
    assert client.channels == ["socket.io#/#"]


def test_the_shared_code_is_shared() -> None:
    """Both forms are the same operator class, specialised only in ``_send``/``_derive``."""
    for cls in (Emitter, EmitterOperator, AsyncEmitter, AsyncEmitterOperator):
        assert issubclass(cls, _Operator)
        own = {name for name in vars(cls) if not name.startswith("__")}
        assert own <= {"_send", "_derive", "_abc_impl"}, (cls, own)


# -- 3. a real redis-server --------------------------------------------------------------------

SUB_TYPES = {"subscribe", "psubscribe", "ssubscribe"}
SHARD_CHANNELS = ("socket.io#/#", "socket.io#/#room1#")


def calls_on(emitter: Emitter | AsyncEmitter, sharded: Emitter | AsyncEmitter) -> list[Any]:
    """The same calls for the real Redis and for the recorder."""
    return [
        emitter.to("room1").emit("hi", 1, b"\x00\xff", {"é": [None]}),
        emitter.to(["room1", 2]).except_("x").volatile.emit("many"),
        emitter.in_("room1").sockets_join("room2"),
        emitter.sockets_leave(["room2"]),
        emitter.except_("room9").disconnect_sockets(close=True),
        emitter.server_side_emit("ping-server", 1, {"two": 2}),
        sharded.to("room1").emit("sharded", b"\x01"),
        sharded.emit("sharded-all", "x"),
        sharded.in_("room1").sockets_join("room2"),
        sharded.server_side_emit("ping-server", b"\x02"),
    ]


def recorded() -> list[tuple[str, bytes]]:
    client = Recorder()
    calls_on(Emitter(client), Emitter(client, sharded=True))
    return [(channel, data) for _, channel, data in client.calls]


def received(message: dict[str, Any]) -> tuple[str, bytes]:
    assert message["type"] in ("pmessage", "message", "smessage"), message
    return message["channel"].decode(), message["data"]


def read_messages(get: Callable[[], Any], count: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        message = get()
        if message is not None and message["type"] not in SUB_TYPES:
            got.append(received(message))
    return got


def test_redis_py_blocking_client(redis_server: RedisServer) -> None:
    redis_server.require_version((7,))
    client = redis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub()
    try:
        pubsub.psubscribe("socket.io#/#*")
        pubsub.subscribe("socket.io-request#/#")
        pubsub.ssubscribe(*SHARD_CHANNELS)
        confirmations = [pubsub.get_message(timeout=2) for _ in range(4)]
        assert [m["type"] for m in confirmations if m] == [
            "psubscribe", "subscribe", "ssubscribe", "ssubscribe",
        ]  # fmt: skip
        results = calls_on(Emitter(client), Emitter(client, sharded=True))
        assert results == [None] * len(results)
        want = recorded()
        got = read_messages(lambda: pubsub.get_message(timeout=0.5), len(want))
        assert got == want
    finally:
        pubsub.close()
        client.close()


def test_redis_asyncio_client(redis_server: RedisServer) -> None:
    redis_server.require_version((7,))

    async def main() -> list[tuple[str, bytes]]:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe("socket.io#/#*")
            await pubsub.subscribe("socket.io-request#/#")
            await pubsub.ssubscribe(*SHARD_CHANNELS)
            for _ in range(4):
                assert (await pubsub.get_message(timeout=2))["type"] in SUB_TYPES
            for coroutine in calls_on(AsyncEmitter(client), AsyncEmitter(client, sharded=True)):
                await coroutine
            got: list[tuple[str, bytes]] = []
            deadline = time.monotonic() + 5
            while len(got) < 10 and time.monotonic() < deadline:
                message = await pubsub.get_message(timeout=0.5)
                if message is not None and message["type"] not in SUB_TYPES:
                    got.append(received(message))
            return got
        finally:
            await pubsub.aclose()
            await client.aclose()

    assert asyncio.run(main()) == recorded()


# -- 4. end to end: Node servers and Node clients ------------------------------------------------


def wait_until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def test_node_classic_server_and_clients(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        with (
            NodePeer(0, redis_server.url, "classic", "n1") as n1,
            NodePeer(0, redis_server.url, "classic", "n2") as n2,
            NodeClients() as clients,
        ):
            sid_a = clients.connect("a", n1.url, rooms=["room1"])
            sid_b = clients.connect("b", n2.url, rooms=["room1", 42])
            sid_c = clients.connect("c", n2.url, rooms=["room2"])
            clients.connect("h", n1.url, nsp="/chat")
            for peer, name, nsp in (
                (n1, "a", "/"),
                (n2, "b", "/"),
                (n2, "c", "/"),
                (n1, "h", "/chat"),
            ):
                peer.wait_connection(name, nsp=nsp)
            emitter = Emitter(client)

            # a room, on both servers, binary included
            mark = clients.mark()
            emitter.to("room1").except_(sid_b).emit("hello", 1, b"\x00\x01", {"x": [None, "é"]})
            emitter.to(42).emit("numeric", 42)
            emitter.of("chat").emit("chat-msg", "hi")
            hello = clients.wait_received("a", "hello", since=mark)[0]
            assert hello["args"] == [1, b"\x00\x01", {"x": [None, "é"]}]
            assert hello["with_ack"] is False
            assert clients.wait_received("b", "numeric", since=mark)[0]["args"] == [42]
            assert clients.wait_received("h", "chat-msg", since=mark)[0]["args"] == ["hi"]
            emitter.to([sid_b, sid_c]).emit("marker")
            clients.wait_received("b", "marker", since=mark)
            clients.wait_received("c", "marker", since=mark)
            assert not clients.events_matching({"name": "hello", "client": "b"}, since=mark)
            assert not clients.events_matching({"name": "hello", "client": "c"}, since=mark)

            # sockets_join / sockets_leave change the Node servers' rooms
            emitter.in_("room1").except_(sid_a).sockets_join(["room9", 7])
            wait_until(
                lambda: set(n2.local_rooms()[sid_b]) == {7, 42, sid_b, "room1", "room9"},
                "b joins room9 and 7",
            )
            assert set(n1.local_rooms()[sid_a]) == {sid_a, "room1"}
            assert set(n2.local_rooms()[sid_c]) == {sid_c, "room2"}
            emitter.sockets_leave("room9")
            wait_until(lambda: "room9" not in n2.local_rooms()[sid_b], "b leaves room9")

            # server_side_emit reaches the servers' handlers (both: the emitter is none of them)
            marks = n1.mark(), n2.mark()
            emitter.server_side_emit("ping-server", "x", 2, b"\x03")
            for peer, since in zip((n1, n2), marks, strict=True):
                event = peer.wait_event({"event": "server_side"}, since=since)
                # JSON, as Node's emitter: the bytes arrive as a serialised Buffer
                assert event["args"] == ["x", 2, {"type": "Buffer", "data": [3]}]
                assert event["with_ack"] is False

            # disconnect_sockets
            mark = clients.mark()
            emitter.in_("room2").disconnect_sockets(close=True)
            assert clients.wait_disconnect("c", since=mark) == "io server disconnect"
            assert n1.errors() == [] and n2.errors() == [] and clients.errors() == []
    finally:
        client.close()


@pytest.mark.parametrize("mode", ["dynamic", "dynamic-private", "static"])
def test_node_sharded_servers_and_clients(redis_server: RedisServer, mode: str) -> None:
    """Node's emitter cannot reach a sharded cluster (the peer refuses its sharded mode); ours
    can, with the servers' subscription mode."""
    redis_server.require_version((7,))
    client = redis.Redis.from_url(redis_server.url)
    try:
        with (
            NodePeer(0, redis_server.url, "sharded", "s1", subscription_mode=mode) as s1,
            NodePeer(0, redis_server.url, "sharded", "s2", subscription_mode=mode) as s2,
            NodeClients() as clients,
        ):
            sid_a = clients.connect("a", s1.url, rooms=["room1"])
            sid_b = clients.connect("b", s2.url, rooms=["room1"])
            s1.wait_connection("a")
            s2.wait_connection("b")
            emitter = Emitter(client, sharded=True, subscription_mode=mode)  # type: ignore[arg-type]

            mark = clients.mark()
            emitter.to("room1").emit("room-msg", b"\xff", {"n": 1})
            emitter.to(sid_b).emit("direct", "b")  # a 20-char room: the socket id's channel or not
            emitter.emit("all", 2)
            for name in ("a", "b"):
                got = clients.wait_received(name, "room-msg", since=mark)[0]["args"]
                assert got == [b"\xff", {"n": 1}]
                assert clients.wait_received(name, "all", since=mark)[0]["args"] == [2]
            assert clients.wait_received("b", "direct", since=mark)[0]["args"] == ["b"]
            assert not clients.events_matching({"name": "direct", "client": "a"}, since=mark)

            emitter.in_("room1").except_(sid_a).sockets_join("room5")
            wait_until(lambda: "room5" in s2.local_rooms()[sid_b], "b joins room5")
            s2.sync()
            mark = clients.mark()
            emitter.to("room5").emit("in-room5")  # the new room's channel, when there is one
            assert clients.wait_received("b", "in-room5", since=mark)[0]["args"] == []
            assert "room5" not in s1.local_rooms()[sid_a]

            marks = s1.mark(), s2.mark()
            emitter.server_side_emit("ping-server", b"\x03")
            for peer, since in zip((s1, s2), marks, strict=True):
                event = peer.wait_event({"event": "server_side"}, since=since)
                assert event["args"] == [b"\x03"]  # MessagePack: bytes stay bytes

            mark = clients.mark()
            emitter.in_("room5").disconnect_sockets()
            assert clients.wait_disconnect("b", since=mark) == "io server disconnect"
            assert s1.errors() == [] and s2.errors() == [] and clients.errors() == []
    finally:
        client.close()
