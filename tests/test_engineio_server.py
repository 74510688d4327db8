"""The Engine.IO v4 server machine alone: handshakes, HTTP errors 0-5, long-polling (parked
GET, POST batches, binary as base64), WebSocket, the probe upgrade and its failures, pings and
the ping timeout, closing and draining, and the limits (max_payload, max_buffered_packets).

Each test is a scripted conversation whose outputs are asserted exactly, bytes included.
The Socket.IO layer on top is tested in test_server.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from sansio_rooms._engineio import decode_packet, decode_payload
from sansio_rooms._engineio_server import (
    SESSION_TRANSITIONS,
    EngineIOServer,
    HttpRequest,
    HttpResponse,
    MessageReceived,
    SessionClosed,
    SessionOpened,
    SessionState,
    WebSocketAccept,
    WebSocketClose,
    WebSocketSend,
)
from sansio_rooms._errors import LocalProtocolError, RemoteProtocolError

from ._server_helpers import (
    Client,
    engineio_server,
    http_error,
    http_get,
    http_post,
    ok,
    open_packet,
    polled,
    query,
    ws_reject,
    ws_send,
)

POLLING, UPGRADING, WEBSOCKET, DRAINING = SessionState


def closed(eio_sid: str, reason: str, description: str) -> SessionClosed:
    return SessionClosed(eio_sid=eio_sid, reason=reason, description=description)


def message(eio_sid: str, data: str | bytes) -> MessageReceived:
    return MessageReceived(eio_sid=eio_sid, data=data)


def parked(client: Client, now: float = 0.0) -> str:
    """Park a GET for ``client``; returns its handle."""
    handle, outputs = client.poll(now)
    assert outputs == []
    return handle


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"ping_interval": -1},
        {"ping_timeout": "20"},
        {"upgrade_timeout": float("nan")},
        {"close_timeout": True},
        {"max_payload": 0},
        {"max_payload": 1.5},
        {"max_payload": True},
        {"max_buffered_packets": 0},
        {"max_buffered_packets": "10"},
        {"transports": ()},
        {"transports": ("polling", "flashsocket")},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        EngineIOServer(**options)


def test_transitions_table_is_the_documented_drawing() -> None:
    drawn = {
        (POLLING, "a probe WebSocket opens"): UPGRADING,
        (POLLING, "the session closes"): DRAINING,
        (UPGRADING, "the probe fails"): POLLING,
        (UPGRADING, "the upgrade packet arrives"): WEBSOCKET,
        (UPGRADING, "the session closes"): DRAINING,
        (WEBSOCKET, "the session closes"): None,
        (DRAINING, "the close packet is handed out"): None,
    }
    assert {(state, event.value): to for (state, event), to in SESSION_TRANSITIONS.items()} == drawn


# -- handshakes -------------------------------------------------------------------------------


def test_polling_handshake_answers_the_open_packet() -> None:
    eio = engineio_server()
    outputs = eio.receive_request(http_get("g1", t="Nx1"), 0.0)
    assert outputs == [
        HttpResponse(
            handle="g1",
            status=200,
            headers=(("content-type", "text/plain; charset=UTF-8"), ("cache-control", "no-store")),
            body=b'0{"sid":"E1","upgrades":["websocket"],"pingInterval":25000,'
            b'"pingTimeout":20000,"maxPayload":1000000}',
        ),
        SessionOpened(eio_sid="E1", transport="polling", query=query(t="Nx1")),
    ]
    assert (len(eio), eio.state_of("E1"), eio.websocket_of("E1")) == (1, POLLING, None)
    assert eio.next_deadline() == 25.0


def test_websocket_handshake_sends_the_open_packet_with_no_upgrades() -> None:
    eio = engineio_server()
    outputs = eio.websocket_connect("w", query(transport="websocket"), 0.0)
    assert outputs == [
        WebSocketAccept(handle="w"),
        ws_send(
            "w",
            '0{"sid":"E1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
            '"maxPayload":1000000}',
        ),
        SessionOpened(eio_sid="E1", transport="websocket", query=query(transport="websocket")),
    ]
    assert (eio.state_of("E1"), eio.websocket_of("E1")) == (WEBSOCKET, "w")


def test_handshake_reports_the_options_in_milliseconds() -> None:
    eio = engineio_server(ping_interval=1.5, ping_timeout=0.25, max_payload=500)
    assert eio.receive_request(http_get("g"), 0.0)[0] == polled(
        "g", open_packet("E1", ping_interval=1500, ping_timeout=250, max_payload=500)
    )


def test_polling_only_server_offers_no_upgrade_and_refuses_websockets() -> None:
    eio = engineio_server(transports=["polling"])
    assert eio.receive_request(http_get("g"), 0.0)[0] == polled("g", open_packet("E1", []))
    assert eio.websocket_connect("w", query(transport="websocket"), 0.0) == [ws_reject("w", 0)]
    assert eio.websocket_connect("w", query("E1", transport="websocket"), 0.0) == [
        ws_reject("w", 0)
    ]


def test_websocket_only_server_refuses_polling() -> None:
    eio = engineio_server(transports=["websocket"])
    assert eio.receive_request(http_get("g"), 0.0) == [http_error("g", 0)]
    client = Client(eio, "w")
    assert client.opened[1] == ws_send("w", open_packet("E1", []))


def test_duplicate_session_id_from_the_factory_is_the_hosts_error() -> None:
    eio = EngineIOServer(id_factory=lambda: "same")
    eio.receive_request(http_get("g1"), 0.0)
    with pytest.raises(LocalProtocolError, match="twice"):
        eio.receive_request(http_get("g2"), 0.0)
    assert len(eio) == 1


def test_queries_on_an_unknown_session_are_the_hosts_error() -> None:
    eio = engineio_server()
    with pytest.raises(LocalProtocolError, match=r"no Engine\.IO session 'nope'"):
        eio.state_of("nope")
    with pytest.raises(LocalProtocolError):
        eio.send("nope", ["x"])
    with pytest.raises(LocalProtocolError):
        eio.close("nope", 0.0)


def test_times_must_be_non_negative_numbers() -> None:
    eio = engineio_server()
    with pytest.raises(LocalProtocolError):
        eio.receive_request(http_get("g"), -1.0)
    with pytest.raises(LocalProtocolError):
        eio.websocket_connect("w", query(transport="websocket"), float("nan"))
    with pytest.raises(LocalProtocolError):
        eio.advance(-0.5)
    Client(eio, "w")
    with pytest.raises(LocalProtocolError):
        eio.websocket_message("w", "4x", -1)
    assert len(eio) == 1


# -- HTTP errors ------------------------------------------------------------------------------


def request(method: str, **query_: str) -> HttpRequest:
    return HttpRequest(handle="h", method=method, query=query_)


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (request("GET", EIO="4", transport="flashsocket"), 0),
        (request("GET", EIO="4"), 0),
        (request("GET", transport="flashsocket"), 0),  # the transport is checked first
        (request("GET", EIO="4", transport="polling", sid="unknown"), 1),
        (request("POST", EIO="4", transport="polling", sid="unknown"), 1),
        (request("POST", EIO="4", transport="polling"), 2),
        (request("PUT", EIO="4", transport="polling"), 2),
        (request("POST", transport="polling"), 2),  # the method before the version
        (request("GET", EIO="4", transport="websocket"), 3),  # a WebSocket needs an Upgrade
        (request("GET", transport="polling"), 5),
        (request("GET", EIO="3", transport="polling"), 5),
        (request("GET", EIO="5", transport="polling"), 5),
        (request("GET", EIO="", transport="polling"), 5),
    ],
)
def test_http_errors(req: HttpRequest, code: int) -> None:
    eio = engineio_server()
    body = {
        0: b'{"code":0,"message":"Transport unknown"}',
        1: b'{"code":1,"message":"Session ID unknown"}',
        2: b'{"code":2,"message":"Bad handshake method"}',
        3: b'{"code":3,"message":"Bad request"}',
        5: b'{"code":5,"message":"Unsupported protocol version"}',
    }[code]
    assert eio.receive_request(req, 0.0) == [
        HttpResponse(
            handle="h", status=400, headers=(("content-type", "application/json"),), body=body
        )
    ]
    assert len(eio) == 0


def test_bad_requests_for_a_live_session_leave_it_open() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    sid = client.eio_sid
    assert eio.receive_request(http_get("h1", sid, transport="websocket"), 1.0) == [
        http_error("h1", 3)
    ]
    assert eio.receive_request(request("PUT", EIO="4", transport="polling", sid=sid), 1.0) == [
        http_error("h", 3)
    ]
    assert eio.state_of(sid) is POLLING


def test_overlapping_get_is_a_bad_request_and_closes_the_session() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    first = parked(client)
    second, outputs = client.poll(1.0)
    assert outputs == [
        http_error(second, 3),
        polled(first, "1"),
        closed("E1", "transport error", "overlap from client"),
    ]
    assert len(eio) == 0


@pytest.mark.parametrize(
    ("ws_query", "code"),
    [
        ({"EIO": "4"}, 0),
        ({"EIO": "4", "transport": "flashsocket"}, 0),
        ({"EIO": "4", "transport": "polling"}, 3),
        ({"transport": "websocket"}, 5),
        ({"EIO": "3", "transport": "websocket"}, 5),
        ({"EIO": "4", "transport": "websocket", "sid": "unknown"}, 1),
    ],
)
def test_websocket_rejections(ws_query: dict[str, str], code: int) -> None:
    eio = engineio_server()
    assert eio.websocket_connect("w", ws_query, 0.0) == [ws_reject("w", code)]
    assert len(eio) == 0
    # The handle was never accepted: it can be used again.
    assert eio.websocket_connect("w", query(transport="websocket"), 0.0)[0] == WebSocketAccept(
        handle="w"
    )


def test_websocket_for_a_session_not_on_polling_is_refused() -> None:
    eio = engineio_server()
    ws = Client(eio, "w")
    assert eio.websocket_connect("x", query(ws.eio_sid, transport="websocket"), 0.0) == [
        ws_reject("x", 3)
    ]
    polling = Client(eio, "p", "polling")
    eio.websocket_connect("probe", query(polling.eio_sid, transport="websocket"), 0.0)
    assert eio.websocket_connect("probe2", query(polling.eio_sid, transport="websocket"), 0.0) == [
        ws_reject("probe2", 3)
    ]
    draining = Client(eio, "d", "polling")
    eio.close(draining.eio_sid, 0.0)
    assert eio.websocket_connect("y", query(draining.eio_sid, transport="websocket"), 0.0) == [
        ws_reject("y", 3)
    ]


def test_a_connected_websocket_handle_cannot_connect_again() -> None:
    eio = engineio_server()
    Client(eio, "w")
    with pytest.raises(LocalProtocolError, match="already connected"):
        eio.websocket_connect("w", query(transport="websocket"), 0.0)
    assert len(eio) == 1


# -- long-polling -----------------------------------------------------------------------------


def test_post_with_several_packets_joined_by_the_record_separator() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    body = '4hello\x1e4\x1ebAQIDBA==\x1e4é\x1e6\x1e5\x1e0\x1e4{"a":1}'
    outputs = eio.receive_request(http_post("p", "E1", body), 1.0)
    assert outputs == [
        message("E1", "hello"),
        message("E1", ""),
        message("E1", b"\x01\x02\x03\x04"),
        message("E1", "é"),
        message("E1", '{"a":1}'),
        ok("p"),
    ]
    assert client.send("4x") == [message("E1", "x")]


def test_get_is_parked_until_there_is_something_to_send() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    assert eio.send("E1", ["hello", b"\x01\x02\x03\x04"]) == [polled(handle, "4hello\x1ebAQIDBA==")]
    # Nothing parked now: the packets wait in the outbox for the next GET.
    assert eio.send("E1", ["a"]) == []
    assert eio.send("E1", [b"\xff", "b"]) == []
    handle, outputs = client.poll()
    assert outputs == [polled(handle, "4a\x1eb/w==\x1e4b")]


def test_binary_post_is_refused_and_closes_the_session() -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    outputs = eio.receive_request(
        http_post("p", "E1", b"\x04hello", content_type="application/octet-stream"), 1.0
    )
    assert outputs == [http_error("p", 3), closed("E1", "transport error", "invalid content")]
    assert eio.state_of("E1") is DRAINING


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"9", b"4a\x1e\x1e4b", b"b!!!", b"4a\x1e"])
def test_undecodable_post_is_a_parse_error(body: bytes) -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    with pytest.raises(RemoteProtocolError) as error:
        decode_payload(body, max_payload=1_000_000)
    assert eio.receive_request(http_post("p", "E1", body), 1.0) == [
        http_error("p", 3),
        closed("E1", "parse error", str(error.value)),
    ]
    assert eio.state_of("E1") is DRAINING


def test_post_over_max_payload_gets_413_and_closes_the_session() -> None:
    eio = engineio_server(max_payload=10)
    client = Client(eio, "c", "polling")
    assert client.send("4" + "a" * 9) == [message("E1", "a" * 9)]  # exactly 10 bytes
    outputs = eio.receive_request(http_post("p", "E1", "4" + "é" * 5), 1.0)  # 11 bytes
    assert outputs == [
        HttpResponse(handle="p", status=413, headers=(), body=b""),
        closed("E1", "transport error", "payload of 11 bytes exceeds 10"),
    ]


def test_post_to_a_draining_session_is_a_bad_request() -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    eio.close("E1", 0.0)
    assert eio.receive_request(http_post("p", "E1", "4a"), 1.0) == [http_error("p", 3)]
    assert eio.state_of("E1") is DRAINING


def test_request_closed_while_get_is_parked_is_a_transport_error() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    assert eio.request_closed("someone else", 1.0) == []
    assert eio.request_closed(handle, 1.0) == [
        closed("E1", "transport error", "poll connection closed prematurely")
    ]
    assert len(eio) == 0
    assert eio.request_closed(handle, 1.0) == []


def test_client_close_packet_over_polling() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    # The packets after the close are not read.
    assert client.send("4a", "1", "4b") == [
        message("E1", "a"),
        closed("E1", "transport close", "the client closed the session"),
    ]
    assert eio.state_of("E1") is DRAINING


def test_client_ping_over_polling_with_a_parked_get() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    outputs = eio.receive_request(http_post("p", "E1", "2\x1e4a"), 1.0)
    assert outputs == [
        polled(handle, "1"),
        closed("E1", "transport error", "invalid heartbeat direction"),
        ok("p"),
    ]
    assert len(eio) == 0


# -- WebSocket --------------------------------------------------------------------------------


def test_websocket_messages() -> None:
    eio = engineio_server()
    client = Client(eio, "w")
    assert client.send("4hello", b"\x00\x01", "4", "4é", "6", "5", "0", "3") == [
        message("E1", "hello"),
        message("E1", b"\x00\x01"),
        message("E1", ""),
        message("E1", "é"),
    ]
    assert eio.websocket_message("unknown", "4x", 1.0) == []


@pytest.mark.parametrize("frame", ["", "x", "7", "b4AQ==", "\x1e"])
def test_garbage_websocket_frame_is_a_parse_error(frame: str) -> None:
    eio = engineio_server()
    other = Client(eio, "other")
    Client(eio, "w")
    with pytest.raises(RemoteProtocolError) as error:
        decode_packet(frame)
    assert eio.websocket_message("w", frame, 1.0) == [
        WebSocketClose(handle="w"),
        closed("E2", "parse error", str(error.value)),
    ]
    assert eio.websocket_message("w", "4late", 2.0) == []
    assert eio.state_of(other.eio_sid) is WEBSOCKET


def test_websocket_message_over_max_payload_closes_the_session() -> None:
    eio = engineio_server(max_payload=10)
    client = Client(eio, "w")
    assert client.send("4" + "a" * 9, b"0123456789") == [
        message("E1", "a" * 9),
        message("E1", b"0123456789"),
    ]
    assert client.send("4" + "é" * 5) == [
        WebSocketClose(handle="w"),
        closed("E1", "transport error", "message of 11 bytes exceeds 10"),
    ]
    other = Client(eio, "v")
    assert other.send(b"01234567890") == [
        WebSocketClose(handle="v"),
        closed("E2", "transport error", "message of 11 bytes exceeds 10"),
    ]


def test_client_close_packet_over_websocket() -> None:
    eio = engineio_server()
    Client(eio, "w")
    assert eio.websocket_message("w", "1", 1.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "transport close", "the client closed the session"),
    ]
    assert len(eio) == 0
    assert eio.websocket_closed("w", 1.0) == []


def test_client_ping_over_websocket_is_a_transport_error() -> None:
    eio = engineio_server()
    Client(eio, "w")
    assert eio.websocket_message("w", "2", 1.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "transport error", "invalid heartbeat direction"),
    ]


def test_websocket_closed_by_the_peer() -> None:
    eio = engineio_server()
    Client(eio, "w")
    assert eio.websocket_closed("unknown", 1.0) == []
    assert eio.websocket_closed("w", 1.0) == [
        closed("E1", "transport close", "the WebSocket was closed")
    ]
    assert len(eio) == 0


# -- heartbeat --------------------------------------------------------------------------------


def test_ping_pong_over_websocket_and_ping_timeout() -> None:
    eio = engineio_server()
    Client(eio, "w")
    assert eio.advance(24.9) == []
    assert eio.advance(25.0) == [ws_send("w", "2")]
    assert eio.next_deadline() == 45.0
    assert eio.websocket_message("w", "3", 30.0) == []
    assert eio.next_deadline() == 55.0  # the pong resets the interval
    assert eio.advance(54.0) == []
    assert eio.advance(55.0) == [ws_send("w", "2")]
    assert eio.advance(74.9) == []
    assert eio.advance(75.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "ping timeout", "no pong within 20.0 s"),
    ]
    assert eio.next_deadline() is None
    assert len(eio) == 0


def test_any_packet_is_a_sign_of_life_when_the_ping_timeout_fires() -> None:
    eio = engineio_server()
    Client(eio, "w")
    eio.advance(25.0)
    assert eio.websocket_message("w", "4still here", 40.0) == [message("E1", "still here")]
    assert eio.advance(45.0) == []
    assert eio.next_deadline() == 60.0
    assert eio.advance(60.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "ping timeout", "no pong within 20.0 s"),
    ]


def test_ping_over_polling_goes_into_the_parked_get() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    assert eio.advance(25.0) == [polled(handle, "2")]
    assert client.send("3", now=26.0) == []
    assert eio.next_deadline() == 51.0


def test_ping_over_polling_waits_for_the_next_get() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    assert eio.advance(25.0) == []
    handle, outputs = client.poll(26.0)
    assert outputs == [polled(handle, "2")]


def test_deadlines_of_several_sessions() -> None:
    eio = engineio_server()
    assert eio.next_deadline() is None
    Client(eio, "a", now=0.0)
    Client(eio, "b", now=10.0)
    assert eio.next_deadline() == 25.0
    # Called late: both pings go now, and their timeouts count from now.
    assert eio.advance(40.0) == [ws_send("a", "2"), ws_send("b", "2")]
    assert eio.next_deadline() == 60.0
    eio.websocket_message("a", "3", 41.0)
    eio.websocket_message("b", "3", 41.0)
    assert eio.next_deadline() == 66.0


# -- upgrade ----------------------------------------------------------------------------------


def test_probe_upgrade_from_polling_to_websocket() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    first = parked(client)
    assert eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0) == [
        WebSocketAccept(handle="ws")
    ]
    assert eio.state_of("E1") is UPGRADING
    assert eio.next_deadline() == 11.0  # the upgrade timeout
    # The probe answers, and the paused client's GET returns at once with a noop.
    assert eio.websocket_message("ws", "2probe", 1.5) == [
        ws_send("ws", "3probe"),
        polled(first, "6"),
    ]
    # Now any GET is answered at once.
    handle, outputs = client.poll(1.6)
    assert outputs == [polled(handle, "6")]
    # Packets sent meanwhile wait in the outbox...
    assert eio.send("E1", ["during", b"\x01"]) == []
    assert client.send("4still polling", now=1.7) == [message("E1", "still polling")]
    # ...and go out on the WebSocket once the client sends the upgrade packet.
    assert eio.websocket_message("ws", "5", 2.0) == [ws_send("ws", "4during", b"\x01")]
    assert (eio.state_of("E1"), eio.websocket_of("E1")) == (WEBSOCKET, "ws")
    assert eio.websocket_message("ws", "4over ws", 2.1) == [message("E1", "over ws")]
    assert eio.send("E1", ["x"]) == [ws_send("ws", "4x")]
    # Polling requests for an upgraded session are bad requests; the session stays.
    handle, outputs = client.poll(3.0)
    assert outputs == [http_error(handle, 3)]
    assert eio.receive_request(http_post("p", "E1", "4a"), 3.0) == [http_error("p", 3)]
    assert eio.advance(11.0) == []  # no upgrade timeout any more
    assert eio.state_of("E1") is WEBSOCKET
    # The upgraded WebSocket carries the pings; its close is the session's end.
    assert eio.advance(25.0) == [ws_send("ws", "2")]
    assert eio.websocket_closed("ws", 26.0) == [
        closed("E1", "transport close", "the WebSocket was closed")
    ]


def test_upgrade_with_nothing_waiting_sends_nothing() -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    assert eio.websocket_message("ws", "5", 1.0) == []
    assert eio.state_of("E1") is WEBSOCKET


@pytest.mark.parametrize(
    "frames",
    [["4hello"], ["5"], ["2probe", "2probe"], ["2probe", "4x"], ["3probe"], [b"\x01"]],
)
def test_bad_packet_on_the_probe_closes_only_the_probe(frames: list[str | bytes]) -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    outputs = []
    for frame in frames:
        outputs += eio.websocket_message("ws", frame, 1.0)
    assert outputs[-1] == WebSocketClose(handle="ws", code=1002)
    assert eio.state_of("E1") is POLLING
    assert eio.websocket_message("ws", "4late", 1.0) == []
    assert client.send("4still here") == [message("E1", "still here")]
    # A new probe can try again.
    assert eio.websocket_connect("ws2", query("E1", transport="websocket"), 2.0) == [
        WebSocketAccept(handle="ws2")
    ]
    assert eio.websocket_message("ws2", "2probe", 2.0) == [ws_send("ws2", "3probe")]


def test_probe_closed_by_the_client_returns_to_polling() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    eio.websocket_message("ws", "2probe", 1.0)
    assert eio.websocket_closed("ws", 1.5) == []
    assert eio.state_of("E1") is POLLING
    assert eio.next_deadline() == 25.0
    # No longer probed: a GET is parked again.
    parked(client, 2.0)


def test_upgrade_timeout_closes_the_probe() -> None:
    eio = engineio_server(upgrade_timeout=5.0)
    client = Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.advance(5.9) == []
    assert eio.advance(6.0) == [WebSocketClose(handle="ws")]
    assert eio.state_of("E1") is POLLING
    assert eio.websocket_message("ws", "2probe", 6.1) == []
    assert client.send("4a", now=6.2) == [message("E1", "a")]


def test_closing_a_session_closes_its_probe() -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.close("E1", 2.0) == [
        WebSocketClose(handle="ws"),
        closed("E1", "forced close", "closed by the server"),
    ]
    assert eio.state_of("E1") is DRAINING
    assert eio.websocket_message("ws", "2probe", 2.0) == []
    assert eio.websocket_closed("ws", 2.0) == []


def test_parked_get_closed_during_the_probe() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.request_closed(handle, 1.0) == [
        WebSocketClose(handle="ws"),
        closed("E1", "transport error", "poll connection closed prematurely"),
    ]
    assert len(eio) == 0


# -- closing from the server, draining --------------------------------------------------------


def test_server_close_over_polling_waits_for_the_next_get() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    assert eio.send("E1", ["bye"]) == []
    assert eio.close("E1", 20.0, reason="server shutting down") == [
        closed("E1", "server shutting down", "closed by the server")
    ]
    assert eio.state_of("E1") is DRAINING
    assert eio.close("E1", 20.0) == []  # already closed
    assert eio.send("E1", ["dropped"]) == []
    assert eio.advance(25.0) == []  # no more pings
    assert eio.next_deadline() == 50.0  # the close timeout
    handle, outputs = client.poll(26.0)
    assert outputs == [polled(handle, "4bye\x1e1")]
    assert len(eio) == 0
    handle, outputs = client.poll(27.0)
    assert outputs == [http_error(handle, 1)]


def test_draining_session_is_forgotten_after_the_close_timeout() -> None:
    eio = engineio_server(close_timeout=3.0)
    client = Client(eio, "c", "polling")
    eio.close("E1", 1.0)
    assert eio.advance(3.9) == []
    assert len(eio) == 1
    assert eio.advance(4.0) == []
    assert len(eio) == 0
    assert eio.next_deadline() is None
    handle, outputs = client.poll(5.0)
    assert outputs == [http_error(handle, 1)]


def test_server_close_with_a_parked_get() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    assert eio.close("E1", 1.0) == [
        polled(handle, "1"),
        closed("E1", "forced close", "closed by the server"),
    ]
    assert len(eio) == 0


def test_server_close_over_websocket() -> None:
    eio = engineio_server()
    Client(eio, "w")
    assert eio.close("E1", 1.0, "ping timeout") == [
        WebSocketClose(handle="w"),
        closed("E1", "ping timeout", "closed by the server"),
    ]
    assert len(eio) == 0
    assert eio.websocket_closed("w", 1.0) == []
    assert eio.advance(25.0) == []  # the ping timer of a session that is gone


# -- sending: broadcast, volatile, buffer limit -------------------------------------------------


def test_broadcast_builds_the_frames_once_for_every_websocket() -> None:
    eio = engineio_server()
    Client(eio, "a")
    polling_parked = Client(eio, "p", "polling")
    get = parked(polling_parked)
    Client(eio, "b")
    idle = Client(eio, "q", "polling")
    Client(eio, "d", "polling")
    eio.close("E5", 0.0)  # draining: skipped
    outputs = eio.broadcast(["E1", "E2", "E3", "E4", "E5"], ["x", b"\x01\x02", "y"], compress=False)
    assert outputs == [
        WebSocketSend(handles=("a", "b"), frames=("4x", b"\x01\x02", "4y"), compress=False),
        polled(get, "4x\x1ebAQI=\x1e4y"),
    ]
    handle, outputs = idle.poll()
    assert outputs == [polled(handle, "4x\x1ebAQI=\x1e4y")]
    assert eio.broadcast([], ["x"]) == []
    with pytest.raises(LocalProtocolError):
        eio.broadcast(["E1", "nope"], ["x"])


def test_volatile_packets_are_dropped_where_no_get_is_parked() -> None:
    eio = engineio_server()
    waiting = Client(eio, "p", "polling")
    idle = Client(eio, "q", "polling")
    Client(eio, "w")
    handle = parked(waiting)
    assert eio.broadcast(["E1", "E2", "E3"], ["v"], volatile=True) == [
        ws_send("w", "4v", volatile=True),
        polled(handle, "4v"),
    ]
    # Nothing was queued for the idle one.
    parked(idle)


def test_outbox_overflow_closes_the_polling_session() -> None:
    eio = engineio_server(max_buffered_packets=2)
    client = Client(eio, "p", "polling")
    assert eio.send("E1", ["a", "b"]) == []
    assert eio.send("E1", ["c"]) == [
        closed("E1", "transport error", "more than 2 packets waiting to be sent")
    ]
    # Not reading at all: forgotten at once, no close packet kept for it.
    assert len(eio) == 0
    handle, outputs = client.poll()
    assert outputs == [http_error(handle, 1)]


def test_outbox_overflow_with_a_parked_get_sends_the_close_packet() -> None:
    eio = engineio_server(max_buffered_packets=2)
    client = Client(eio, "p", "polling")
    handle = parked(client)
    assert eio.send("E1", ["a", "b", "c"]) == [
        polled(handle, "1"),
        closed("E1", "transport error", "more than 2 packets waiting to be sent"),
    ]
    assert len(eio) == 0


def test_websocket_sessions_have_no_outbox_limit() -> None:
    eio = engineio_server(max_buffered_packets=1)
    Client(eio, "w")
    assert eio.send("E1", ["a", "b", "c"]) == [ws_send("w", "4a", "4b", "4c")]
