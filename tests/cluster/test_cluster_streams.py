"""The cluster machine's streams mode (``_cluster_streams``) and the server machine's external
recovery store, sans I/O: what goes to the stream and what over pub/sub, the XADD replies
fed back, the stream read, sessions persisted and restored step by step. Against Redis and
Node: tests/bindings/test_redis_streams.py and test_streams_recovery.py."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sansio_rooms import _streams_wire as sw
from sansio_rooms._cluster import ClusterMachine
from sansio_rooms._cluster_outputs import (
    MessageDropped,
    Publish,
    RedisCommand,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from sansio_rooms._cluster_streams import NOT_FOUND, SessionRestore
from sansio_rooms._cluster_wire import ClusterMessageType as T
from sansio_rooms._cluster_wire import pack, unpack
from sansio_rooms._engineio_server import WebSocketClose, WebSocketSend
from sansio_rooms._errors import LocalProtocolError
from sansio_rooms._recovery import ConnectionStateRecovery, RecoveredState
from sansio_rooms._server import ConnectRequest, PersistSession, RestoreSession, ServerMachine

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests._server_helpers import Client, server_machine

UID = "u1"


def machine(recovery: bool = True, **options: Any) -> tuple[ServerMachine, ClusterMachine]:
    option = ConnectionStateRecovery(max_disconnection_duration=2.0) if recovery else None
    server = server_machine(connection_state_recovery=option)
    return server, ClusterMachine(server, streams=True, uid=UID, **options)


def frames(outputs: list[Any], handle: str) -> list[str | bytes]:
    return [
        frame
        for output in outputs
        if type(output) is WebSocketSend and handle in output.handles
        for frame in output.frames
    ]


def connected(server: ServerMachine, name: str, *rooms: str) -> Client:
    client = Client(server, name)
    sid = client.connect()
    server.engine.namespace("/").join(sid, rooms)
    return client


def xread(*entries: tuple[str, dict[str, str]]) -> list[Any]:
    return [[b"socket.io", [[i, [x for kv in f.items() for x in kv]] for i, f in entries]]]


def fields(kind: T, data: dict[str, Any] | None, uid: str = "u2", nsp: str = "/") -> Any:
    flat = sw.entry_fields(uid, nsp, kind, data)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def broadcast(
    *args: Any, rooms: list[Any] | None = None, flags: dict[str, Any] | None = None
) -> Any:
    opts = {"rooms": rooms or [], "except": [], "flags": flags or {}}
    return {"packet": {"type": 2, "data": list(args)}, "opts": opts}


def test_options_and_channels() -> None:
    server, cluster = machine(key="p")
    assert server.external_recovery and cluster.streams and not cluster.sharded
    assert cluster.subscriptions() == [
        Subscribe(channels=("p#/#", "p#/#u1#"), sharded=False),
        Subscribe(channels=("p#/chat#", "p#/chat#u1#"), sharded=False),
    ]
    assert cluster.count_channel("/chat") == "p#/chat#"
    assert cluster.stream_names() == ["socket.io"] and cluster.stream_of("/") == "socket.io"
    assert cluster.add_namespace("/x") == [Subscribe(channels=("p#/x#", "p#/x#u1#"))]
    assert cluster.remove_namespace("/x") == [Unsubscribe(channels=("p#/x#", "p#/x#u1#"))]
    assert not machine(recovery=False)[0].external_recovery
    assert ClusterMachine(server_machine(), streams=True, stream_count=2).stream_names() == [
        "socket.io-0",
        "socket.io-1",
    ]
    with pytest.raises(LocalProtocolError):
        ClusterMachine(server_machine(), streams=True, sharded=True)
    with pytest.raises(LocalProtocolError):
        ClusterMachine(server_machine(), streams=True, max_len=-1)
    with pytest.raises(LocalProtocolError):
        ClusterMachine(server_machine(), streams=True, session_key_prefix=3)  # type: ignore[arg-type]
    classic = ClusterMachine(server_machine())
    with pytest.raises(LocalProtocolError):
        classic.stream_names()
    with pytest.raises(LocalProtocolError):
        cluster.read_command("other")
    with pytest.raises(LocalProtocolError):
        cluster.all_rooms("/", servers=1, now=0.0)


def test_a_broadcast_is_an_xadd_then_delivered_here_with_its_offset() -> None:
    server, cluster = machine()
    connected(server, "a", "r")
    (command,) = cluster.broadcast("/", "news", 1, rooms="r", except_=["x"])
    assert command == RedisCommand(
        command=tuple(
            sw.xadd_command(
                "socket.io",
                UID,
                "/",
                T.BROADCAST,
                broadcast("news", 1, rooms=["r"])
                | {"opts": {"rooms": ["r"], "except": ["x"], "flags": {}}},
            )
        ),
        reply_to=1,
    )
    assert frames(cluster.command_replied(1, b"5-1", 0.0), "a") == ['42["news",1,"5-1"]']
    with pytest.raises(LocalProtocolError):
        cluster.command_replied(1, b"5-1", 0.0)  # answered already
    # A failed XADD: delivered all the same, without an offset; a garbled one is reported.
    (command,) = cluster.broadcast("/", "e")
    assert frames(cluster.command_replied(2, None, 0.0), "a") == ['42["e"]']
    (command,) = cluster.broadcast("/", "e")
    outputs = cluster.command_replied(3, b"garbage", 0.0)
    assert type(outputs[0]) is MessageDropped and frames(outputs, "a") == ['42["e"]']
    # Volatile: no offset (but in the stream, as Node).
    (command,) = cluster.broadcast("/", "v", volatile=True, compress=False)
    assert '"flags":{"volatile":true,"compress":false}' in command.command[-1]
    assert frames(cluster.command_replied(4, b"5-2", 0.0), "a") == ['42["v"]']


def test_without_recovery_no_offset_and_a_namespace_gone_meanwhile() -> None:
    server, cluster = machine(recovery=False)
    connected(server, "a")
    cluster.broadcast("/", "e")
    assert frames(cluster.command_replied(1, b"5-1", 0.0), "a") == ['42["e"]']
    cluster.add_namespace("/gone")
    server.add_namespace("/gone")
    cluster.broadcast("/gone", "e")
    server.remove_namespace("/gone")
    assert cluster.command_replied(2, b"5-2", 0.0) == []


def test_joins_leaves_and_disconnects_go_to_the_stream_requests_over_pubsub() -> None:
    _server, cluster = machine()
    (join,) = cluster.sockets_join("/", "s", rooms="r")
    assert join.reply_to is None and join.command[:2] == ("XADD", "socket.io")
    assert join.command[-3:] == (
        "4",
        "data",
        '{"opts":{"rooms":["r"],"except":[],"flags":{}},"rooms":["s"]}',
    )
    (leave,) = cluster.sockets_leave("/", "s")
    assert leave.command[-3] == "5"
    (disconnect,) = cluster.disconnect_sockets("/", close=True)
    assert disconnect.command[-3] == "6"
    (emit,) = cluster.server_side_emit("/", "hello", 1)
    assert emit == Publish(
        channel="socket.io#/#",
        payload=sw.pubsub_message(UID, "/", T.SERVER_SIDE_EMIT, {"packet": ["hello", 1]}),
    )
    request_id, (fetch,) = cluster.fetch_sockets("/", servers=1, now=0.0)
    assert type(fetch) is Publish and unpack(fetch.payload)["data"]["requestId"] == request_id


def test_the_stream_read() -> None:
    server, cluster = machine()
    a = connected(server, "a", "r")
    connected(server, "b")
    assert cluster.read_command("socket.io")[-1] == "$"
    assert cluster.start_command("socket.io") == ["XREVRANGE", "socket.io", "+", "-", "COUNT", "1"]
    assert cluster.started("socket.io", []) == []
    assert cluster.read_command("socket.io", count=5, block_ms=7) == sw.xread_command(
        "socket.io", "0-0", count=5, block_ms=7
    )
    assert cluster.started("socket.io", [[b"3-0", [b"nsp", b"/"]]]) == []
    assert cluster.read_command("socket.io")[-1] == "3-0"
    assert type(cluster.started("socket.io", "garbage")[0]) is MessageDropped
    assert cluster.receive_stream("socket.io", None, 0.0) == []
    outputs = cluster.receive_stream(
        "socket.io",
        xread(
            (
                "4-0",
                fields(T.BROADCAST, broadcast("news", 1, rooms=["r"])),
            ),
            ("4-1", fields(T.BROADCAST, broadcast("own"), uid=UID)),
            ("4-2", fields(T.BROADCAST, broadcast("other nsp"), nsp="/nope")),
            ("4-3", {"uid": "u2"}),  # no nsp: skipped, as Node
            ("4-4", fields(T.BROADCAST, broadcast("light", flags={"volatile": True}))),
            ("4-5", {"uid": "u2", "nsp": "/", "type": "x"}),
            ("4-6", fields(T.SOCKETS_JOIN, {"opts": {"rooms": [], "except": []}, "rooms": ["s"]})),
        ),
        0.0,
    )
    assert frames(outputs, "a") == ['42["news",1,"4-0"]', '42["light"]']
    assert frames(outputs, "b") == ['42["light"]']
    (dropped,) = [o for o in outputs if type(o) is MessageDropped]
    assert dropped.channel == "socket.io 4-5"
    assert "s" in server.engine.namespace("/").rooms_of(a.sids["/"])
    assert cluster.read_command("socket.io")[-1] == "4-6"
    assert type(cluster.receive_stream("socket.io", 42, 0.0)[0]) is MessageDropped


def test_pubsub_messages_are_messagepack() -> None:
    _, cluster = machine()
    payload = sw.pubsub_message(
        "u2", "/", T.SERVER_SIDE_EMIT, {"packet": ["hi", 1], "requestId": "q"}
    )
    (event,) = cluster.receive("socket.io#/#", payload, 0.0)
    assert type(event) is ServerSideEvent and event.args == (1,) and event.reply is not None
    (answer,) = cluster.answer_server_side(event.reply, "ok")
    assert answer.channel == "socket.io#/#u2#" and not answer.sharded
    assert unpack(answer.payload) == {
        "type": int(T.SERVER_SIDE_EMIT_RESPONSE),
        "data": {"requestId": "q", "packet": "ok"},
        "uid": UID,
        "nsp": "/",
    }
    (dropped,) = cluster.receive("socket.io#/#", b'{"type":9}', 0.0)
    assert type(dropped) is MessageDropped


def held(server: ServerMachine, name: str, auth: Any) -> tuple[Client, RestoreSession]:
    client = Client(server, name)
    (request,) = client.emit("0" + json.dumps(auth))
    assert type(request) is RestoreSession
    return client, request


def test_sessions_are_persisted_with_a_set() -> None:
    server, cluster = machine()
    client = connected(server, "a", "r")
    sid = client.sids["/"]
    outputs = server.websocket_closed("a", 1.0)
    finished = server.finish_disconnect("/", sid, data={"n": 1})
    persist = finished[-1]
    assert type(persist) is PersistSession and persist.rooms == (sid, "r")
    (command,) = cluster.persist_session(persist)
    assert command.command[:2] == ("SET", "sio:session:" + persist.pid)
    assert command.command[3:] == ("PX", "2000")
    session = sw.decode_session(command.command[2])
    assert (session.sid, session.rooms, session.data) == (sid, (sid, "r"), {"n": 1})
    bad = PersistSession(nsp="/", sid="s", pid="p", rooms=(), data=object())
    (dropped,) = cluster.persist_session(bad)
    assert type(dropped) is MessageDropped and dropped.channel == "sio:session:p"
    with pytest.raises(LocalProtocolError):
        machine(recovery=False)[1].persist_session(bad)
    assert outputs  # the disconnecting socket


def test_a_connect_is_held_while_its_session_is_restored() -> None:
    server, _ = machine()
    other = connected(server, "other", "r")
    _client, request = held(server, "a", {"pid": "P", "offset": "1-0"})
    assert (request.nsp, request.pid, request.offset) == ("/", "P", "1-0")
    state = RecoveredState(
        sid="OLD", pid="P", rooms=("OLD", "r", other.sids["/"]), data={"n": 1},
        missed=(["one", 1, "2-0"], [], ["two", "3-0"]),
    )  # fmt: skip
    outputs = server.complete_restore(request.ref, state, 1.0)
    assert frames(outputs, "a") == ['42["one",1,"2-0"]', '42["two","3-0"]']
    connect = outputs[-1]
    assert type(connect) is ConnectRequest and connect.recovered and connect.data == {"n": 1}
    assert connect.sid == "OLD"
    (reply,) = frames(server.accept("/", "OLD"), "a")
    assert json.loads(reply[2:]) == {"sid": "OLD", "pid": "P"}
    # Its rooms again, but not another socket's id room.
    assert server.engine.namespace("/").rooms_of("OLD") == ("OLD", "r")
    # A second completion, or one never asked for.
    assert server.complete_restore(request.ref, "late", 1.0) == []
    with pytest.raises(LocalProtocolError):
        server.complete_restore(99, "x", 1.0)


def test_a_restore_that_fails_opens_a_new_session() -> None:
    server, _ = machine()
    _, request = held(server, "a", {"pid": "P", "offset": "1-0"})
    (connect,) = server.complete_restore(request.ref, NOT_FOUND, 1.0)
    assert type(connect) is ConnectRequest and not connect.recovered
    assert connect.recovery_failure == NOT_FOUND
    # A stored id in use here, or not an id: a new session too.
    _, request = held(server, "b", {"pid": "P", "offset": "1-0"})
    state = RecoveredState(sid=connect.sid, pid="P", rooms=())
    (connect,) = server.complete_restore(request.ref, state, 1.0)
    assert "in use" in str(connect.recovery_failure)
    _, request = held(server, "c", {"pid": "P", "offset": "1-0"})
    (connect,) = server.complete_restore(
        request.ref, RecoveredState(sid="", pid="P", rooms=()), 1.0
    )
    assert "no valid id" in str(connect.recovery_failure)
    _, request = held(server, "d", {"pid": "P", "offset": "1-0"})
    with pytest.raises(LocalProtocolError):
        server.complete_restore(request.ref, 3, 1.0)  # type: ignore[arg-type]
    # No pid and offset: no restore, a new session at once.
    (connect,) = Client(server, "e").emit("0{}")
    assert type(connect) is ConnectRequest and connect.recovery_failure is None


def test_a_held_connect_and_its_client() -> None:
    server, _ = machine()
    client, request = held(server, "a", {"pid": "P", "offset": "1-0"})
    # A second CONNECT while held closes the connection, as a packet before CONNECT does.
    outputs = client.emit("0{}")
    assert any(type(o) is WebSocketClose for o in outputs)
    assert server.complete_restore(request.ref, "x", 1.0) == []
    # The client leaves while held: the restore's answer changes nothing.
    client, request = held(server, "b", {"pid": "P", "offset": "1-0"})
    server.websocket_closed("b", 1.0)
    assert server.complete_restore(request.ref, "x", 1.0) == []
    # The namespace is gone meanwhile (an empty dynamic child).
    server.add_namespace("/d")
    client = Client(server, "c")
    (request,) = client.emit("0/d," + json.dumps({"pid": "P", "offset": "1-0"}))
    assert type(request) is RestoreSession
    server.remove_namespace("/d")
    assert server.complete_restore(request.ref, "x", 1.0) == []


def restore_of(offset: str = "1-0", nsp: str = "/") -> SessionRestore:
    request = RestoreSession(ref=1, nsp=nsp, eio_sid="E", pid="P", offset=offset)
    return SessionRestore(request, stream="socket.io", key_prefix="sio:session:")


def stored(rooms: list[Any]) -> list[Any]:
    session = sw.PersistedSession(sid="S", pid="P", rooms=tuple(rooms), data={"n": 1})
    return [sw.encode_session(session).encode(), 1]


def test_session_restore_steps() -> None:
    restore = restore_of()
    assert restore.key == "sio:session:P" and restore.check == ["XRANGE", "socket.io", "1-0", "1-0"]
    command = restore.taken(stored(["S", "r"]), [[b"1-0", [b"nsp", b"/"]]])
    assert command == ["XRANGE", "socket.io", "1-1", "+"]
    entries = [
        ["2-0", list(sum(fields(T.BROADCAST, broadcast("one", rooms=["r"])).items(), ()))],
        ["2-1", list(sum(fields(T.BROADCAST, broadcast("no", rooms=["x"])).items(), ()))],
    ]
    assert restore.ranged(entries) == ["XRANGE", "socket.io", "2-2", "+"]
    assert restore.ranged([]) is None
    assert restore.result == RecoveredState(
        sid="S", pid="P", rooms=("S", "r"), data={"n": 1}, missed=(["one", "2-0"],)
    )


def test_session_restore_failures() -> None:
    assert restore_of("nope").result == "invalid offset"
    restore = restore_of()
    assert restore.taken([None, 0], [[b"1-0", []]]) is None and restore.result == NOT_FOUND
    restore = restore_of()
    assert restore.taken(stored([]), []) is None and restore.result == NOT_FOUND
    restore = restore_of()
    assert restore.taken("garbage", []) is None and "unreadable" in str(restore.result)
    restore = restore_of()
    restore.taken(stored([]), [[b"1-0", []]])
    bad = [["2-0", ["nsp", "/", "type", "3", "uid", "u", "data", '{"packet":1}']]]
    assert restore.ranged(bad) is None and "unreadable" in str(restore.result)
    restore = restore_of()
    restore.failed("Redis away")
    assert restore.result == "Redis away"


def test_session_restore_stops_after_nodes_limit() -> None:
    restore = restore_of()
    command = restore.taken(stored(["S"]), [[b"1-0", []]])
    for number in range(2, 200):
        if command is None:
            break
        command = restore.ranged([[f"{number}-0", ["nsp", "/other"]]])
    assert restore.calls == sw.RESTORE_MAX_XRANGE_CALLS
    assert isinstance(restore.result, RecoveredState)


def test_unused_helpers_stay_consistent() -> None:
    assert base64.b64decode(
        sw.encode_session(sw.PersistedSession(sid="s", pid="p", rooms=()))
    ) == pack({"sid": "s", "pid": "p", "rooms": [], "data": None})
