"""The Socket.IO server machine: Engine.IO sessions + Socket.IO packets + the rooms engine.

Scripted conversations, one per behaviour, with the outputs asserted exactly (frames and
bodies included): namespaces and auth, events and acks (text and binary), emits encoded once,
broadcast acks, heartbeat, upgrade, connect timeout, every kind of disconnect, the limits,
and protocol violations, each of which closes only the offending connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from sansio_rooms._engine import RoomEngine
from sansio_rooms._engineio import decode_packet
from sansio_rooms._engineio_server import (
    UPGRADE_NOOP_DELAY,
    HttpResponse,
    SessionClosed,
    SessionOpened,
    SessionState,
    WebSocketAccept,
    WebSocketClose,
    WebSocketSend,
)
from sansio_rooms._errors import (
    InvalidStateError,
    LocalProtocolError,
    RemoteProtocolError,
    UnknownSocketError,
)
from sansio_rooms._outputs import (
    AckCompleted,
    Connected,
    Deliveries,
    RoomCreated,
    RoomJoined,
    SocketDisconnected,
    SocketDisconnecting,
)
from sansio_rooms._recovery import ConnectionStateRecovery
from sansio_rooms._server import ConnectRequest, EventReceived, ServerMachine
from sansio_rooms._socketio import SioDecoder

from ._server_helpers import (
    Client,
    http_error,
    http_get,
    http_post,
    ok,
    open_packet,
    polled,
    polling_payload,
    query,
    server_machine,
    ws_send,
)

CLIENT_DISCONNECT = "client namespace disconnect"
SERVER_DISCONNECT = "server namespace disconnect"
FORCED_SERVER_CLOSE = "forced server close"
PLACEHOLDER = '{"_placeholder":true,"num":%d}'


def request(sid: str, nsp: str = "/", eio_sid: str = "E1", auth: Any = None) -> ConnectRequest:
    return ConnectRequest(nsp=nsp, sid=sid, eio_sid=eio_sid, auth={} if auth is None else auth)


def event(sid: str, name: str, *args: Any, nsp: str = "/", ack: int | None = None) -> EventReceived:
    return EventReceived(nsp=nsp, sid=sid, event=name, args=args, ack_id=ack)


def disconnecting(
    sid: str, reason: str, nsp: str = "/", close: bool = False
) -> SocketDisconnecting:
    return SocketDisconnecting(nsp=nsp, sid=sid, reason=reason, close_connection=close)


def closed(eio_sid: str, reason: str, description: str) -> SessionClosed:
    return SessionClosed(eio_sid=eio_sid, reason=reason, description=description)


def decoder_error(*messages: str | bytes, max_attachments: int = 10) -> str:
    """What the codecs say about these Engine.IO frames, fed in order to a fresh decoder."""
    decoder = SioDecoder(max_attachments=max_attachments)
    for frame in messages:
        try:
            packet = decode_packet(frame)
            decoder.feed(packet.data or "")
        except RemoteProtocolError as error:
            return str(error)
    raise AssertionError("no error")


def connected(
    machine: ServerMachine, name: str, transport: str = "websocket", *nsps: str
) -> Client:
    """A client connected (and accepted) to ``nsps`` (default ``/``)."""
    client = Client(machine, name, transport)
    for nsp in nsps or ("/",):
        client.connect(nsp)
    return client


# -- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"connect_timeout": -1},
        {"max_attachments": -1},
        {"max_attachments": "2"},
        {"ping_interval": -1},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        ServerMachine(**options)


def test_namespaces_are_registered_normalised() -> None:
    machine = ServerMachine()
    assert machine.namespaces() == ("/",)
    assert machine.add_namespace("admin") == "/admin"
    assert machine.namespaces() == ("/", "/admin")
    assert machine.engine.namespaces() == ("/", "/admin")
    engine = RoomEngine()
    assert ServerMachine(engine=engine, namespaces=["", "/chat"]).engine is engine
    assert engine.namespaces() == ("/", "/chat")


# -- handshake and namespaces -----------------------------------------------------------------


def test_handshakes_pass_through() -> None:
    machine = server_machine()
    assert machine.receive_request(http_get("g"), 0.0) == [
        polled("g", open_packet("E1")),
        SessionOpened(eio_sid="E1", transport="polling", query=query()),
    ]
    assert machine.websocket_connect("w", query(transport="websocket"), 0.0) == [
        WebSocketAccept(handle="w"),
        ws_send("w", open_packet("E2", [])),
        SessionOpened(eio_sid="E2", transport="websocket", query=query(transport="websocket")),
    ]
    assert machine.next_deadline() == 25.0


def test_two_namespaces_on_one_connection_have_their_own_socket_ids() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    assert client.emit("0") == [request("S1")]
    assert machine.accept("/", "S1") == [
        ws_send("w", '40{"sid":"S1"}'),
        Connected(nsp="/", sid="S1"),
    ]
    assert client.emit('0/chat,{"token":"abc"}') == [request("S2", "/chat", auth={"token": "abc"})]
    assert machine.accept("/chat", "S2") == [
        ws_send("w", '40/chat,{"sid":"S2"}'),
        Connected(nsp="/chat", sid="S2"),
    ]
    assert machine.engine.namespace("/").rooms_of("S1") == ("S1",)
    assert machine.engine.namespace("/chat").rooms_of("S2") == ("S2",)
    assert client.emit('2["hi",1]', '2/chat,7["hi"]', "2[42]") == [
        event("S1", "hi", 1),
        event("S2", "hi", nsp="/chat", ack=7),
        EventReceived(nsp="/", sid="S1", event=42, args=(), ack_id=None),
    ]


def test_connect_without_the_trailing_comma() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    assert client.emit("0/chat") == [request("S1", "/chat")]


def test_connect_over_polling() -> None:
    machine = server_machine()
    client = Client(machine, "c", "polling")
    assert client.emit("0") == [request("S1")]
    # No GET waiting: the CONNECT reply waits for the next one.
    assert machine.accept("/", "S1") == [Connected(nsp="/", sid="S1")]
    handle, outputs = client.poll()
    assert outputs == [polled(handle, '40{"sid":"S1"}')]
    # With a GET waiting, the reply answers it before Connected is reported.
    client.emit("0/chat,")
    handle, outputs = client.poll()
    assert outputs == []
    assert machine.accept("/chat", "S2") == [
        polled(handle, '40/chat,{"sid":"S2"}'),
        Connected(nsp="/chat", sid="S2"),
    ]


def test_room_notices_of_the_id_room_come_after_the_connect_frame() -> None:
    machine = server_machine(engine=RoomEngine(notices=True))
    machine.engine.id_factory = lambda: "S1"
    client = Client(machine, "w")
    client.emit("0")
    assert machine.accept("/", "S1") == [
        ws_send("w", '40{"sid":"S1"}'),
        RoomCreated(nsp="/", room="S1"),
        RoomJoined(nsp="/", room="S1", sid="S1"),
        Connected(nsp="/", sid="S1"),
    ]


def test_refused_connect_gets_connect_error_with_message_and_data() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    client.emit('0/chat,{"token":"bad"}')
    assert machine.refuse("/chat", "S1", "Not allowed", {"code": 42}) == [
        ws_send("w", '44/chat,{"message":"Not allowed","data":{"code":42}}')
    ]
    assert machine.engine.namespace("/chat").sockets() == ()
    client.emit("0")
    assert machine.refuse("/", "S2") == [ws_send("w", '44{"message":"Not authorized"}')]
    # The connection stays: the client may try again.
    assert client.emit("0/chat,") == [request("S3", "/chat")]
    assert machine.accept("/chat", "S3")[-1] == Connected(nsp="/chat", sid="S3")


def test_invalid_namespace() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    assert client.emit("0/random,") == [ws_send("w", '44/random,{"message":"Invalid namespace"}')]
    assert client.emit("0/random,{}") == [ws_send("w", '44/random,{"message":"Invalid namespace"}')]
    assert machine.engine.namespaces() == ("/", "/chat")
    assert client.emit("0") == [request("S1")]


def test_answers_for_a_client_that_has_gone_do_nothing() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    client.emit("0", "0/chat,")
    machine.websocket_closed("w", 1.0)
    assert machine.accept("/", "S1") == []
    assert machine.refuse("/chat", "S2") == []
    assert machine.send_ack("/", "S1", 1, "late") == []
    assert machine.accept("/", "never") == []


def test_host_misuse_raises_and_changes_nothing() -> None:
    machine = server_machine()
    client = connected(machine, "w")
    with pytest.raises(LocalProtocolError, match="not registered"):
        machine.accept("/nope", "S1")
    with pytest.raises(LocalProtocolError, match="not registered"):
        machine.emit("/nope", "x")
    with pytest.raises(LocalProtocolError):
        machine.emit("/", "disconnect")  # a reserved name
    with pytest.raises(LocalProtocolError):
        machine.emit_with_ack("/", "connect", now=0.0, timeout=1.0)
    assert len(machine.engine.acks) == 0
    with pytest.raises(LocalProtocolError):
        machine.send_ack("/", "S1", -1)
    with pytest.raises(InvalidStateError):
        machine.accept("/", "S1")  # twice
    with pytest.raises(InvalidStateError):
        machine.finish_disconnect("/", "S1")  # not disconnecting
    with pytest.raises(UnknownSocketError):
        machine.finish_disconnect("/", "nope")
    with pytest.raises(LocalProtocolError, match="not registered"):
        machine.finish_disconnect("/nope", "S1")
    assert machine.engine.namespaces() == ("/", "/chat")
    with pytest.raises(UnknownSocketError):
        machine.disconnect("/chat", "S1", 0.0)
    with pytest.raises(LocalProtocolError, match="no client connection"):
        machine.close("nope", 0.0)
    assert machine.engine.namespace("/").is_connected("S1")
    assert client.emit('2["still"]') == [event("S1", "still")]


# -- events and acks --------------------------------------------------------------------------


def test_send_ack_text_and_binary() -> None:
    machine = server_machine()
    client = connected(machine, "w", "websocket", "/", "/chat")
    assert client.emit('27["q"]') == [event("S1", "q", ack=7)]
    assert machine.send_ack("/", "S1", 7, "ok", 2) == [ws_send("w", '437["ok",2]')]
    assert client.emit('2/chat,3["q"]') == [event("S2", "q", nsp="/chat", ack=3)]
    assert machine.send_ack("/chat", "S2", 3, b"\x01\x02") == [
        ws_send("w", "461-/chat,3[" + PLACEHOLDER % 0 + "]", b"\x01\x02")
    ]
    assert machine.send_ack("/chat", "S2", 4) == [ws_send("w", "43/chat,4[]")]


def test_binary_ack_over_polling_is_base64() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    assert machine.send_ack("/", "S1", 9, b"\x01\x02\x03\x04", "t") == []
    handle, outputs = client.poll()
    assert outputs == [polled(handle, "461-9[" + PLACEHOLDER % 0 + ',"t"]\x1ebAQIDBA==')]


def test_binary_event_from_the_client_is_reassembled() -> None:
    machine = server_machine()
    client = connected(machine, "w", "websocket", "/", "/chat")
    header = '452-/chat,5["upload",' + PLACEHOLDER % 1 + ',{"a":' + PLACEHOLDER % 0 + "}]"
    assert client.send(header) == []
    assert client.send(b"first") == []
    assert client.send(b"second") == [
        event("S2", "upload", b"second", {"a": b"first"}, nsp="/chat", ack=5)
    ]
    # And again, so the decoder was left clean.
    assert client.send('451-["x",' + PLACEHOLDER % 0 + "]", b"") == [event("S1", "x", b"")]


def test_binary_event_over_polling_in_one_post() -> None:
    machine = server_machine()
    connected(machine, "c", "polling")
    body = polling_payload(['451-["upload",' + PLACEHOLDER % 0 + "]", b"\x01\x02", '42["after"]'])
    assert body == '451-["upload",{"_placeholder":true,"num":0}]\x1ebAQI=\x1e42["after"]'
    assert machine.receive_request(http_post("p", "E1", body), 1.0) == [
        event("S1", "upload", b"\x01\x02"),
        event("S1", "after"),
        ok("p"),
    ]


def test_binary_ack_from_the_client() -> None:
    machine = server_machine()
    client = connected(machine, "w")
    machine.emit_with_ack("/", "q", now=0.0, timeout=5.0, whole_response=True)
    assert client.send("461-0[" + PLACEHOLDER % 0 + ',"x"]', b"\xff") == [
        AckCompleted(nsp="/", ack_id=0, responses=((b"\xff", "x"),), timed_out=False)
    ]


# -- emit -------------------------------------------------------------------------------------


def test_emit_to_rooms_is_encoded_once_for_every_recipient() -> None:
    machine = server_machine()
    connected(machine, "a")
    connected(machine, "b")
    polling = connected(machine, "c", "polling")
    connected(machine, "d")
    nsp = machine.engine.namespace("/")
    nsp.join("S1", "room")
    nsp.join("S2", ["room", "other"])
    nsp.join("S3", "other")
    get, outputs = polling.poll()
    assert outputs == []
    outputs = machine.emit("/", "news", {"a": 1}, b"\x01", rooms=["room", "other"])
    frames = ('451-["news",{"a":1},' + PLACEHOLDER % 0 + "]", b"\x01")
    assert outputs == [
        WebSocketSend(handles=("a", "b"), frames=frames),
        polled(get, '451-["news",{"a":1},' + PLACEHOLDER % 0 + "]\x1ebAQ=="),
    ]
    assert machine.emit("/", "x", rooms="room", except_="S2") == [ws_send("a", '42["x"]')]
    assert machine.emit("/", "x", sender="S1") == [ws_send(("b", "d"), '42["x"]')]
    assert machine.emit("/", "x", sids=["S4"], compress=False) == [
        WebSocketSend(handles=("d",), frames=('42["x"]',), compress=False)
    ]
    assert machine.emit("/", "x", rooms=[]) == []
    assert machine.emit("/chat", "x") == []


def test_broadcast_event_is_emit_with_the_payload_given_whole() -> None:
    machine = server_machine(connection_state_recovery=ConnectionStateRecovery())
    connected(machine, "a")
    connected(machine, "b")
    nsp = machine.engine.namespace("/")
    a, b = nsp.sockets()  # (recovery draws private ids from the same factory)
    nsp.join(a, "room")
    assert machine.broadcast_event("/", ["x", 1], "room") == [ws_send("a", '42["x",1]')]
    assert machine.broadcast_event("/", ["x"], None, "room", None, None, True, False) == [
        WebSocketSend(handles=("b",), frames=('42["x"]',), volatile=True, compress=False)
    ]
    assert machine.broadcast_event("/", ["y"], sender=b) == [ws_send("a", '42["y"]')]
    assert machine.recovery is not None and machine.recovery.packet_count("/") == 0  # not kept
    with pytest.raises(LocalProtocolError, match="reserved"):
        machine.broadcast_event("/", ["connect"])
    with pytest.raises(LocalProtocolError, match="non-empty array"):
        machine.broadcast_event("/", [])
    with pytest.raises(LocalProtocolError, match="not registered"):
        machine.broadcast_event("/nowhere", ["x"])


def test_volatile_emit_is_dropped_for_polling_without_a_parked_get() -> None:
    machine = server_machine()
    connected(machine, "w")
    polling = connected(machine, "c", "polling")
    assert machine.emit("/", "v", volatile=True) == [ws_send("w", '42["v"]', volatile=True)]
    handle, outputs = polling.poll()
    assert outputs == []
    assert machine.emit("/", "v", volatile=True) == [
        ws_send("w", '42["v"]', volatile=True),
        polled(handle, '42["v"]'),
    ]


def test_broadcast_with_acks_aggregates_the_first_arguments() -> None:
    machine = server_machine()
    a = connected(machine, "a", "websocket", "/chat")
    b = connected(machine, "b", "websocket", "/chat")
    deliveries, *sent = machine.emit_with_ack("/chat", "q", 1, now=1.0, timeout=5.0)
    assert isinstance(deliveries, Deliveries)  # first: the ack id and the recipients
    assert (deliveries.ack_id, list(deliveries.recipients)) == (
        0,
        [a.sids["/chat"], b.sids["/chat"]],
    )
    assert sent == [ws_send(("a", "b"), '42/chat,0["q",1]')]
    assert machine.next_deadline() == 6.0
    assert a.emit('3/chat,0["yes","ignored"]', now=2.0) == []
    assert b.emit('3/chat,0["no"]', now=3.0) == [
        AckCompleted(nsp="/chat", ack_id=0, responses=("yes", "no"), timed_out=False)
    ]
    assert machine.next_deadline() == 25.0
    assert b.emit('3/chat,0["again"]', now=3.0) == []  # late: ignored


def test_broadcast_with_acks_times_out_with_the_answers_so_far() -> None:
    machine = server_machine()
    a = connected(machine, "a", "websocket", "/chat")
    b = connected(machine, "b", "websocket", "/chat")
    machine.emit_with_ack("/chat", "q", now=1.0, timeout=5.0)
    assert b.emit("3/chat,0[]", now=2.0) == []  # no argument: None
    assert machine.advance(5.9) == []
    assert machine.advance(6.0) == [
        AckCompleted(nsp="/chat", ack_id=0, responses=(None,), timed_out=True)
    ]
    assert a.emit('3/chat,0["late"]', now=7.0) == []


def test_broadcast_with_acks_whole_response() -> None:
    machine = server_machine()
    a = connected(machine, "a")
    b = connected(machine, "b")
    machine.emit_with_ack("/", "q", now=0.0, timeout=5.0, whole_response=True)
    a.emit('30["x",1]')
    assert b.emit("30[]") == [
        AckCompleted(nsp="/", ack_id=0, responses=(("x", 1), ()), timed_out=False)
    ]
    # The next broadcast is back to first arguments.
    machine.emit_with_ack("/", "q", now=0.0, timeout=5.0, sids="S1")
    assert a.emit('31["x",1]') == [
        AckCompleted(nsp="/", ack_id=1, responses=("x",), timed_out=False)
    ]


def test_broadcast_with_acks_to_nobody_completes_at_once() -> None:
    machine = server_machine()
    connected(machine, "a")
    deliveries, *rest = machine.emit_with_ack(
        "/", "q", now=0.0, timeout=5.0, rooms="nobody", whole_response=True
    )
    assert isinstance(deliveries, Deliveries) and list(deliveries.recipients) == []
    assert rest == [AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=False)]
    assert machine.next_deadline() == 25.0


# -- heartbeat and upgrade --------------------------------------------------------------------


def test_ping_timeout_disconnects_every_namespace() -> None:
    machine = server_machine()
    connected(machine, "w", "websocket", "/", "/chat")
    innocent = connected(machine, "i")
    assert machine.advance(25.0) == [ws_send(("w",), "2"), ws_send("i", "2")]
    assert innocent.send("3", now=30.0) == []
    assert machine.advance(45.0) == [
        WebSocketClose(handle="w"),
        disconnecting("S1", "ping timeout"),
        disconnecting("S2", "ping timeout", "/chat"),
        closed("E1", "ping timeout", "no pong within 20.0 s"),
    ]
    assert machine.finish_disconnect("/", "S1") == [
        SocketDisconnected(nsp="/", sid="S1", reason="ping timeout")
    ]
    assert machine.emit("/", "after") == [ws_send("i", '42["after"]')]


def test_ping_over_polling_goes_into_the_parked_get() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    handle, _ = client.poll(1.0)
    assert machine.advance(25.0) == [polled(handle, "2")]
    assert client.send("3", now=26.0) == []
    assert machine.next_deadline() == 51.0


def test_upgrade_through_the_machine() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    get, _ = client.poll(1.0)
    assert machine.websocket_connect("ws", query("E1", transport="websocket"), 1.0) == [
        WebSocketAccept(handle="ws")
    ]
    assert machine.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    # The paused client's GET gets its noop a moment later, through the machine's clock.
    assert machine.next_deadline() == 1.0 + UPGRADE_NOOP_DELAY
    assert machine.advance(1.0 + UPGRADE_NOOP_DELAY) == [polled(get, "6")]
    assert machine.emit("/", "while upgrading") == []
    assert machine.websocket_message("ws", "5", 2.0) == [ws_send("ws", '42["while upgrading"]')]
    assert machine.websocket_message("ws", '42["over ws"]', 2.0) == [event("S1", "over ws")]
    assert machine.emit("/", "x") == [ws_send("ws", '42["x"]')]
    handle, outputs = client.poll(3.0)
    assert outputs == [http_error(handle, 3)]
    assert machine.eio.state_of("E1") is SessionState.WEBSOCKET


def test_get_parked_at_the_upgrade_is_answered_400_through_the_machine() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    machine.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert machine.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    get, outputs = client.poll(1.02)
    assert outputs == []
    assert machine.websocket_message("ws", "5", 1.05) == [http_error(get, 3)]
    assert machine.advance(1.2) == []
    assert machine.emit("/", "x") == [ws_send("ws", '42["x"]')]
    assert machine.websocket_message("ws", '42["over ws"]', 1.3) == [event("S1", "over ws")]


def test_another_websocket_for_an_upgraded_connection_is_closed_at_once() -> None:
    machine = server_machine()
    client = connected(machine, "w")
    assert machine.websocket_connect("x", query("E1", transport="websocket"), 1.0) == [
        WebSocketAccept(handle="x"),
        WebSocketClose(handle="x"),
    ]
    assert machine.websocket_closed("x", 1.0) == []
    assert client.emit('2["still"]') == [event("S1", "still")]
    assert machine.emit("/", "x") == [ws_send("w", '42["x"]')]


# -- connect timeout --------------------------------------------------------------------------


def test_connect_timeout_closes_a_connection_without_namespace() -> None:
    machine = server_machine()
    Client(machine, "w")
    machine.websocket_message("w", "40/random,", 1.0)  # an invalid namespace does not count
    assert machine.next_deadline() == 25.0
    machine.advance(25.0)
    machine.websocket_message("w", "3", 26.0)
    assert machine.next_deadline() == 45.0
    assert machine.advance(44.9) == []
    assert machine.advance(45.0) == [
        WebSocketClose(handle="w"),
        closed("E1", FORCED_SERVER_CLOSE, "no namespace connected"),
    ]


def test_connect_timeout_refuses_a_pending_socket() -> None:
    machine = server_machine(connect_timeout=10.0)
    client = Client(machine, "c", "polling")
    assert client.emit("0") == [request("S1")]
    assert machine.next_deadline() == 10.0
    assert machine.advance(10.0) == [closed("E1", FORCED_SERVER_CLOSE, "no namespace connected")]
    assert machine.engine.namespace("/").sockets() == ()
    assert machine.accept("/", "S1") == []
    handle, outputs = client.poll(11.0)
    assert outputs == [polled(handle, "1")]


def test_connect_timeout_is_cancelled_by_an_accepted_namespace() -> None:
    machine = server_machine(connect_timeout=10.0)
    client = connected(machine, "w")
    assert machine.next_deadline() == 25.0
    client.emit("1")  # leaves its only namespace: no timeout any more
    assert machine.advance(10.0) == []
    assert machine.eio.state_of("E1") is SessionState.WEBSOCKET


def test_connect_timeout_after_a_refusal() -> None:
    machine = server_machine(connect_timeout=10.0)
    client = Client(machine, "w")
    client.emit("0")
    machine.refuse("/", "S1")
    assert machine.advance(10.0) == [
        WebSocketClose(handle="w"),
        closed("E1", FORCED_SERVER_CLOSE, "no namespace connected"),
    ]


def test_next_deadline_is_the_earliest_of_pings_connects_and_acks() -> None:
    machine = server_machine(connect_timeout=30.0, ping_interval=40.0)
    assert machine.next_deadline() is None
    connected(machine, "a")
    assert machine.next_deadline() == 40.0  # the accepted client has no connect timeout
    Client(machine, "b", now=1.0)
    assert machine.next_deadline() == 31.0
    machine.emit_with_ack("/", "q", now=2.0, timeout=3.0)
    assert machine.next_deadline() == 5.0
    assert machine.advance(5.0) == [AckCompleted(nsp="/", ack_id=0, responses=(), timed_out=True)]
    assert machine.next_deadline() == 31.0


# -- disconnects ------------------------------------------------------------------------------


def test_client_disconnect_then_connect_again_at_once() -> None:
    machine = server_machine()
    client = connected(machine, "w", "websocket", "/", "/chat")
    machine.engine.namespace("/chat").join("S2", "room")
    assert client.emit("1/chat,") == [disconnecting("S2", CLIENT_DISCONNECT, "/chat")]
    # Rooms intact while disconnecting; the other namespace goes on.
    assert machine.engine.namespace("/chat").rooms_of("S2") == ("S2", "room")
    assert client.emit('2["still"]') == [event("S1", "still")]
    assert client.emit("0/chat,") == [request("S3", "/chat")]
    machine.accept("/chat", "S3")
    assert machine.finish_disconnect("/chat", "S2") == [
        SocketDisconnected(nsp="/chat", sid="S2", reason=CLIENT_DISCONNECT)
    ]
    assert machine.emit("/chat", "x") == [ws_send("w", '42/chat,["x"]')]
    assert client.emit('2/chat,["y"]') == [event("S3", "y", nsp="/chat")]


def test_server_disconnect_of_one_namespace() -> None:
    machine = server_machine()
    client = connected(machine, "w", "websocket", "/", "/chat")
    assert machine.disconnect("/chat", "S2", 1.0) == [
        ws_send("w", "41/chat,"),
        disconnecting("S2", SERVER_DISCONNECT, "/chat"),
    ]
    with pytest.raises(UnknownSocketError):
        machine.disconnect("/chat", "S2", 1.0)
    assert machine.finish_disconnect("/chat", "S2") == [
        SocketDisconnected(nsp="/chat", sid="S2", reason=SERVER_DISCONNECT)
    ]
    assert client.emit('2["still"]') == [event("S1", "still")]


def test_server_disconnect_closing_the_connection() -> None:
    machine = server_machine()
    client = connected(machine, "w", "websocket", "/", "/chat")
    client.emit("0/admin,")  # invalid: not a socket
    assert machine.disconnect("/chat", "S2", 1.0, close_connection=True) == [
        ws_send("w", "41"),
        disconnecting("S1", SERVER_DISCONNECT, close=True),
        ws_send("w", "41/chat,"),
        disconnecting("S2", SERVER_DISCONNECT, "/chat", close=True),
        WebSocketClose(handle="w"),
        closed("E1", SERVER_DISCONNECT, "closed by the server"),
    ]
    assert len(machine.eio) == 0


def test_server_disconnect_closing_a_polling_connection_with_a_pending_socket() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    client.emit("0/chat,")
    assert machine.disconnect("/", "S1", 1.0, close_connection=True) == [
        disconnecting("S1", SERVER_DISCONNECT, close=True),
        closed("E1", SERVER_DISCONNECT, "closed by the server"),
    ]
    assert machine.engine.namespace("/chat").sockets() == ()
    handle, outputs = client.poll(2.0)
    assert outputs == [polled(handle, "41\x1e1")]


def test_disconnect_sockets_of_a_selection() -> None:
    machine = server_machine()
    for name in "abc":
        connected(machine, name)
    nsp = machine.engine.namespace("/")
    nsp.join("S1", "room")
    nsp.join("S2", "room")
    nsp.join("S3", "room")
    nsp.connect("local")  # a socket of the engine with no connection: not the machine's
    nsp.join("local", "room")
    assert machine.disconnect_sockets("/", 1.0, rooms="room", except_="S3") == [
        ws_send("a", "41"),
        disconnecting("S1", SERVER_DISCONNECT),
        ws_send("b", "41"),
        disconnecting("S2", SERVER_DISCONNECT),
    ]
    assert machine.disconnect_sockets("/", 1.0, sids=["S3"], close_connection=True) == [
        ws_send("c", "41"),
        disconnecting("S3", SERVER_DISCONNECT, close=True),
        WebSocketClose(handle="c"),
        closed("E3", SERVER_DISCONNECT, "closed by the server"),
    ]
    assert machine.disconnect_sockets("/", 1.0) == []
    assert nsp.is_connected("local")


def test_shutdown_closes_every_connection() -> None:
    machine = server_machine()
    connected(machine, "w", "websocket", "/", "/chat")
    polling = connected(machine, "c", "polling")
    Client(machine, "x")
    assert machine.shutdown(1.0) == [
        WebSocketClose(handle="w"),
        disconnecting("S1", "server shutting down"),
        disconnecting("S2", "server shutting down", "/chat"),
        closed("E1", "server shutting down", "server shutdown"),
        disconnecting("S3", "server shutting down"),
        closed("E2", "server shutting down", "server shutdown"),
        WebSocketClose(handle="x"),
        closed("E3", "server shutting down", "server shutdown"),
    ]
    handle, outputs = polling.poll(2.0)
    assert outputs == [polled(handle, "1")]
    assert machine.shutdown(3.0) == []


def test_only_closes_by_the_host_wait_for_the_next_get() -> None:
    machine = server_machine(close_timeout=5.0)
    disconnected = connected(machine, "a", "polling")
    closed_one = connected(machine, "b", "polling")
    shut_down = connected(machine, "c", "polling")
    failed = connected(machine, "d", "polling")
    machine.emit("/", "bye")
    assert machine.disconnect("/", "S1", 1.0, close_connection=True) == [
        disconnecting("S1", SERVER_DISCONNECT, close=True),
        closed("E1", SERVER_DISCONNECT, "closed by the server"),
    ]
    assert machine.close("E2", 1.0) == [
        disconnecting("S2", FORCED_SERVER_CLOSE),
        closed("E2", FORCED_SERVER_CLOSE, "closed by the server"),
    ]
    assert failed.send("2", now=1.0) == [
        disconnecting("S4", "transport error"),
        closed("E4", "transport error", "invalid heartbeat direction"),
    ]
    assert machine.shutdown(1.0) == [
        disconnecting("S3", "server shutting down"),
        closed("E3", "server shutting down", "server shutdown"),
    ]
    states = {sid: machine.eio.state_of(sid) for sid in ("E1", "E2", "E3")}
    assert set(states.values()) == {SessionState.DRAINING}
    assert "E4" not in machine.eio
    answers = [client.poll(2.0) for client in (disconnected, closed_one, shut_down, failed)]
    assert [outputs for _, outputs in answers] == [
        [polled(answers[0][0], '42["bye"]\x1e41\x1e1')],
        [polled(answers[1][0], '42["bye"]\x1e1')],
        [polled(answers[2][0], '42["bye"]\x1e1')],
        [http_error(answers[3][0], 1)],
    ]
    assert len(machine.eio) == 0


def test_server_close_of_one_connection() -> None:
    machine = server_machine()
    connected(machine, "w")
    assert machine.close("E1", 1.0) == [
        WebSocketClose(handle="w"),
        disconnecting("S1", FORCED_SERVER_CLOSE),
        closed("E1", FORCED_SERVER_CLOSE, "closed by the server"),
    ]


def test_transport_close() -> None:
    machine = server_machine()
    connected(machine, "w", "websocket", "/", "/chat")
    assert machine.websocket_closed("w", 1.0) == [
        disconnecting("S1", "transport close"),
        disconnecting("S2", "transport close", "/chat"),
        closed("E1", "transport close", "the WebSocket was closed"),
    ]
    assert machine.websocket_message("w", '42["late"]', 1.0) == []


def test_parked_get_closed_is_a_transport_error() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    handle, _ = client.poll(1.0)
    assert machine.request_closed(handle, 2.0) == [
        disconnecting("S1", "transport error"),
        closed("E1", "transport error", "poll connection closed prematurely"),
    ]


def test_client_close_packet() -> None:
    machine = server_machine()
    connected(machine, "w")
    assert machine.websocket_message("w", "1", 1.0) == [
        WebSocketClose(handle="w"),
        disconnecting("S1", "transport close"),
        closed("E1", "transport close", "the client closed the session"),
    ]


def test_client_ping_is_a_transport_error() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    assert client.send("2", now=1.0) == [
        disconnecting("S1", "transport error"),
        closed("E1", "transport error", "invalid heartbeat direction"),
    ]
    assert "E1" not in machine.eio
    handle, outputs = client.poll(2.0)
    assert outputs == [http_error(handle, 1)]


def test_draining_polling_connection() -> None:
    machine = server_machine(close_timeout=5.0)
    first = connected(machine, "c", "polling")
    second = connected(machine, "d", "polling")
    machine.emit("/", "bye")
    assert machine.close("E1", 1.0) == [
        disconnecting("S1", FORCED_SERVER_CLOSE),
        closed("E1", FORCED_SERVER_CLOSE, "closed by the server"),
    ]
    handle, outputs = first.poll(2.0)
    assert outputs == [polled(handle, '42["bye"]\x1e1')]
    machine.close("E2", 1.0)
    assert machine.advance(6.0) == []
    assert len(machine.eio) == 0
    handle, outputs = second.poll(7.0)
    assert outputs == [http_error(handle, 1)]


# -- limits -----------------------------------------------------------------------------------


def test_max_payload_over_websocket_and_over_polling() -> None:
    machine = server_machine(max_payload=20)
    ws = connected(machine, "w")
    polling = connected(machine, "c", "polling")
    assert ws.emit('2["' + "a" * 14 + '"]') == [event("S1", "a" * 14)]  # 20 bytes
    assert ws.emit('2["' + "a" * 15 + '"]') == [
        WebSocketClose(handle="w", code=1009),
        disconnecting("S1", "transport error"),
        closed("E1", "transport error", "message of 21 bytes exceeds 20"),
    ]
    body = polling_payload(['42["' + "a" * 13 + '"]', "3"])  # 21 bytes
    assert machine.receive_request(http_post("p", "E2", body), 1.0) == [
        HttpResponse(handle="p", status=413, headers=(), body=b""),
        disconnecting("S2", "transport error"),
        closed("E2", "transport error", "payload of 21 bytes exceeds 20"),
    ]
    handle, outputs = polling.poll(2.0)
    assert outputs == [http_error(handle, 1)]


def test_an_outbox_over_the_limit_disconnects_only_a_poller_that_stopped_polling() -> None:
    machine = server_machine(max_buffered_packets=2, ping_interval=25.0, ping_timeout=20.0)
    connected(machine, "w")
    stalled = connected(machine, "s", "polling")
    polling = connected(machine, "p", "polling")
    for event in ("a", "b", "c"):  # the third is over the limit: both pollers are pinged
        assert machine.emit("/", event) == [ws_send("w", f'42["{event}"]')]
    assert machine.next_deadline() == 0.0
    assert machine.advance(1.0) == []
    handle, outputs = polling.poll(1.0)
    assert outputs == [polled(handle, '42["a"]\x1e42["b"]\x1e42["c"]\x1e2')]
    assert polling.send("3", now=1.0) == []
    assert machine.advance(21.0) == [
        disconnecting("S2", "ping timeout"),
        closed("E2", "ping timeout", "no pong within 20.0 s"),
    ]
    assert machine.emit("/", "d") == [ws_send("w", '42["d"]')]  # the others go on
    handle, outputs = stalled.poll(21.0)
    assert outputs == [http_error(handle, 1)]


# -- protocol violations ----------------------------------------------------------------------

ATTACHMENT_HEADER = '451-["x",' + PLACEHOLDER % 0 + "]"

VIOLATIONS: list[tuple[list[str | bytes], str, str | None]] = [
    # (Engine.IO frames from the offender, reason, description or None: the codecs' words)
    (["x"], "parse error", None),
    (["4Xgarbage"], "parse error", None),
    (["4"], "parse error", None),
    (['42["disconnect"]'], "parse error", None),
    (['42{"a":1}'], "parse error", None),
    (['42["x"'], "parse error", None),
    (['40"token"'], "parse error", None),
    ([ATTACHMENT_HEADER, '42["y"]'], "parse error", None),
    (['4511-["x"]'], "parse error", None),
    ([b"\x01"], "parse error", None),
    (['42/chat,["x"]'], FORCED_SERVER_CLOSE, "EVENT for /chat"),
    (["41/chat,"], FORCED_SERVER_CLOSE, "DISCONNECT for /chat"),
    (['43/chat,1["x"]'], FORCED_SERVER_CLOSE, "ACK for /chat"),
    (["40"], FORCED_SERVER_CLOSE, "second CONNECT for /"),
    (['44{"message":"x"}'], FORCED_SERVER_CLOSE, "CONNECT_ERROR for /"),
    (["40/chat,", '42/chat,["x"]'], FORCED_SERVER_CLOSE, "EVENT before CONNECT was answered"),
    (["2"], "transport error", "invalid heartbeat direction"),
    (["1"], "transport close", "the client closed the session"),
]


@pytest.mark.parametrize(("frames", "reason", "description"), VIOLATIONS)
def test_protocol_violation_closes_only_that_connection(
    frames: list[str | bytes], reason: str, description: str | None
) -> None:
    machine = server_machine()
    innocent = connected(machine, "i")
    offender = connected(machine, "o")
    outputs = offender.send(*frames, now=1.0)
    if description is None:
        description = decoder_error(*frames)
    requests = [request("S3", "/chat", "E2")] if frames[0] == "40/chat," else []
    assert outputs == [
        *requests,
        WebSocketClose(handle="o"),
        disconnecting("S2", reason),
        closed("E2", reason, description),
    ]
    assert offender.send('42["ignored"]', now=2.0) == []
    assert machine.engine.namespace("/chat").sockets() == ()
    # The innocent client still receives a broadcast, and still talks.
    assert machine.emit("/", "after") == [ws_send("i", '42["after"]')]
    assert innocent.emit('2["hello"]') == [event("S1", "hello")]
    assert machine.finish_disconnect("/", "S2") == [
        SocketDisconnected(nsp="/", sid="S2", reason=reason)
    ]


@pytest.mark.parametrize(("frames", "reason", "description"), VIOLATIONS[1:])
def test_protocol_violation_over_polling(
    frames: list[str | bytes], reason: str, description: str | None
) -> None:
    machine = server_machine()
    innocent = connected(machine, "i", "polling")
    offender = connected(machine, "o", "polling")
    handle = "post"
    outputs = machine.receive_request(http_post(handle, "E2", polling_payload(frames)), 1.0)
    if description is None:
        description = decoder_error(*frames)
    requests = [request("S3", "/chat", "E2")] if frames[0] == "40/chat," else []
    assert outputs == [
        *requests,
        disconnecting("S2", reason),
        closed("E2", reason, description),
        ok(handle),
    ]
    get, outputs = offender.poll(2.0)
    if reason.startswith("transport"):
        # Engine.IO's own errors, and the client's close packet, end the session at once.
        assert outputs == [http_error(get, 1)]
    else:
        # The Socket.IO layer closes the connection as the host does (Node's conn.close()):
        # the close packet waits for the next GET.
        assert outputs == [polled(get, "1")]
    assert machine.emit("/", "after") == []
    get, outputs = innocent.poll(2.0)
    assert outputs == [polled(get, '42["after"]')]


def test_too_many_attachments_for_the_configured_limit() -> None:
    machine = server_machine(max_attachments=1)
    client = connected(machine, "w")
    header = '452-["x",' + PLACEHOLDER % 0 + "," + PLACEHOLDER % 1 + "]"
    assert client.send(header) == [
        WebSocketClose(handle="w"),
        disconnecting("S1", "parse error"),
        closed("E1", "parse error", decoder_error(header, max_attachments=1)),
    ]


def test_packets_before_a_close_in_the_same_post_are_read() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    get, _ = client.poll()
    # The close packet at the end ends the session (its GET gets a noop) before the machine
    # reads the packets: what they would send goes nowhere, and nothing breaks.
    body = polling_payload(['42["first"]', "40/random,", '421["q"]', "1"])
    assert machine.receive_request(http_post("p", "E1", body), 1.0) == [
        event("S1", "first"),
        event("S1", "q", ack=1),
        polled(get, "6"),
        disconnecting("S1", "transport close"),
        closed("E1", "transport close", "the client closed the session"),
        ok("p"),
    ]
    assert machine.send_ack("/", "S1", 1, "x") == []
    get, outputs = client.poll(2.0)
    assert outputs == [http_error(get, 1)]


@pytest.mark.parametrize("park_a_get", [False, True])
def test_violation_before_a_close_in_the_same_post(park_a_get: bool) -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    closing = []
    if park_a_get:
        get, _ = client.poll()
        closing = [polled(get, "1")]
    # The second CONNECT comes first: its reason is the one reported, and the packets after
    # it are not read, as if each had come in a POST of its own.
    body = polling_payload(["40", '42["not read"]', "2"])
    assert machine.receive_request(http_post("p", "E1", body), 1.0) == [
        *closing,
        disconnecting("S1", FORCED_SERVER_CLOSE),
        closed("E1", FORCED_SERVER_CLOSE, "second CONNECT for /"),
        ok("p"),
    ]
    # One packet per POST: the same application events.
    machine = server_machine()
    client = connected(machine, "c", "polling")
    assert client.emit("0", now=1.0) == [
        disconnecting("S1", FORCED_SERVER_CLOSE),
        closed("E1", FORCED_SERVER_CLOSE, "second CONNECT for /"),
    ]
    assert machine.receive_request(http_post("p", "E1", '42["not read"]'), 1.0) == [
        http_error("p", 3)
    ]


def test_pending_connect_before_a_close_in_the_same_post() -> None:
    machine = server_machine()
    client = Client(machine, "c", "polling")
    get, _ = client.poll()
    body = polling_payload(["40", "40/random,", "2"])
    assert machine.receive_request(http_post("p", "E1", body), 1.0) == [
        request("S1"),
        polled(get, "1"),
        closed("E1", "transport error", "invalid heartbeat direction"),
        ok("p"),
    ]
    assert machine.engine.namespace("/").sockets() == ()
    assert machine.accept("/", "S1") == []


# -- chunking ---------------------------------------------------------------------------------

CONVERSATION: list[str | bytes] = [
    '42["chat","hello"]',
    '421["chat",{"n":1}]',
    '452-["upload",' + PLACEHOLDER % 0 + ',{"b":' + PLACEHOLDER % 1 + "}]",
    b"\x01\x02",
    b"",
    '430["ack0"]',
    '40/chat,{"t":1}',
    "3",
    "41",
    "40",
    '453-["x",' + PLACEHOLDER % 0 + "," + PLACEHOLDER % 1 + "," + PLACEHOLDER % 2 + "]",
    '42["never read"]',
]

APPLICATION_EVENTS = (
    ConnectRequest,
    EventReceived,
    AckCompleted,
    Connected,
    SocketDisconnecting,
    SocketDisconnected,
    SessionClosed,
)


def run_conversation(transport: str, split: bool) -> list[Any]:
    machine = server_machine(max_attachments=2)
    client = connected(machine, "c", transport)
    machine.emit_with_ack("/", "q", now=0.0, timeout=10.0)
    outputs: list[Any] = []
    if transport == "websocket":
        for frame in CONVERSATION:
            outputs += machine.websocket_message("c", frame, 1.0)
    else:
        batches = [[frame] for frame in CONVERSATION] if split else [CONVERSATION]
        for batch in batches:
            handle = client.handle("post")
            outputs += machine.receive_request(http_post(handle, "E1", polling_payload(batch)), 1.0)
    return [o for o in outputs if isinstance(o, APPLICATION_EVENTS)]


def test_the_same_conversation_however_it_is_split() -> None:
    expected = [
        event("S1", "chat", "hello"),
        event("S1", "chat", {"n": 1}, ack=1),
        event("S1", "upload", b"\x01\x02", {"b": b""}),
        AckCompleted(nsp="/", ack_id=0, responses=("ack0",), timed_out=False),
        request("S2", "/chat", auth={"t": 1}),
        disconnecting("S1", CLIENT_DISCONNECT),
        request("S3"),
        closed("E1", "parse error", "3 attachments: allowed from 1 to 2"),
    ]
    assert run_conversation("polling", split=False) == expected
    assert run_conversation("polling", split=True) == expected
    assert run_conversation("websocket", split=True) == expected


def test_attachments_split_across_posts() -> None:
    machine = server_machine()
    client = connected(machine, "c", "polling")
    assert client.send(ATTACHMENT_HEADER) == []
    assert client.send(b"\x07") == [event("S1", "x", b"\x07")]


def test_a_failed_websocket_closes_its_session_with_a_reason() -> None:
    machine = server_machine()
    a = connected(machine, "a")
    b = connected(machine, "b")
    outputs = machine.websocket_failed("a", 1.0, "write buffer full")
    assert outputs == [
        SocketDisconnecting(nsp="/", sid=a.sids["/"], reason="transport error"),
        SessionClosed(eio_sid=a.eio_sid, reason="transport error", description="write buffer full"),
    ]
    assert machine.websocket_failed("a", 1.0, "again") == []  # already gone: ignored
    machine.finish_disconnect("/", a.sids["/"])
    assert machine.emit("/", "still here") == [ws_send("b", '42["still here"]')]
    assert b.sids["/"] in machine.engine.namespace("/").sockets()


def test_a_failed_probe_ends_the_probe_only() -> None:
    machine = server_machine()
    client = Client(machine, "p", "polling")
    assert machine.websocket_connect(
        "probe", {"EIO": "4", "transport": "websocket", "sid": client.eio_sid}, 1.0
    ) == [WebSocketAccept(handle="probe")]
    assert machine.websocket_failed("probe", 1.0, "write failed") == []
    assert machine.eio.state_of(client.eio_sid) is SessionState.POLLING


def test_disconnect_of_a_pending_socket_must_be_answered_by_accept_or_refuse() -> None:
    machine = server_machine()
    client = Client(machine, "w")
    (request,) = [o for o in client.emit("0", now=0.0) if type(o) is ConnectRequest]
    with pytest.raises(InvalidStateError, match="pending"):
        machine.disconnect("/", request.sid, 0.0)
    assert machine.accept("/", request.sid)[-1] == Connected(nsp="/", sid=request.sid)
