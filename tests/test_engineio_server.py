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
    UPGRADE_NOOP_DELAY,
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
        {"max_packets_per_payload": 0},
        {"max_packets_per_payload": 2.0},
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
    for bad in (-1, -1.0, float("nan"), None, True):
        with pytest.raises(LocalProtocolError):
            eio.websocket_message("w", "4x", bad)
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


def test_websocket_for_a_session_not_on_polling_is_turned_away() -> None:
    eio = engineio_server()
    ws = Client(eio, "w")
    # Upgraded or upgrading already: accepted and closed at once (Node), not refused.
    assert eio.websocket_connect("x", query(ws.eio_sid, transport="websocket"), 0.0) == [
        WebSocketAccept(handle="x"),
        WebSocketClose(handle="x"),
    ]
    polling = Client(eio, "p", "polling")
    eio.websocket_connect("probe", query(polling.eio_sid, transport="websocket"), 0.0)
    assert eio.websocket_connect("probe2", query(polling.eio_sid, transport="websocket"), 0.0) == [
        WebSocketAccept(handle="probe2"),
        WebSocketClose(handle="probe2"),
    ]
    # A session that is closing still refuses it.
    draining = Client(eio, "d", "polling")
    eio.close(draining.eio_sid, 0.0)
    assert eio.websocket_connect("y", query(draining.eio_sid, transport="websocket"), 0.0) == [
        ws_reject("y", 3)
    ]


def test_another_websocket_for_an_upgraded_session_is_closed_and_the_session_goes_on() -> None:
    eio = engineio_server()
    client = Client(eio, "w")
    assert eio.websocket_connect("x", query("E1", transport="websocket"), 1.0) == [
        WebSocketAccept(handle="x"),
        WebSocketClose(handle="x"),
    ]
    # "x" never carried the session: its late messages and its close are ignored.
    assert eio.websocket_message("x", "4from x", 1.0) == []
    assert eio.websocket_closed("x", 1.0) == []
    assert (eio.state_of("E1"), eio.websocket_of("E1")) == (WEBSOCKET, "w")
    assert client.send("4still here", now=2.0) == [message("E1", "still here")]
    assert eio.send("E1", ["out"]) == [ws_send("w", "4out")]
    # Nor is the handle taken: it can open a session of its own.
    assert eio.websocket_connect("x", query(transport="websocket"), 3.0)[0] == WebSocketAccept(
        handle="x"
    )


def test_another_websocket_for_an_upgrading_session_is_closed_and_the_upgrade_goes_on() -> None:
    eio = engineio_server()
    Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    assert eio.websocket_connect("ws2", query("E1", transport="websocket"), 1.0) == [
        WebSocketAccept(handle="ws2"),
        WebSocketClose(handle="ws2"),
    ]
    assert eio.websocket_message("ws2", "5", 1.0) == []
    assert eio.websocket_closed("ws2", 1.0) == []
    assert eio.state_of("E1") is UPGRADING
    assert eio.websocket_message("ws", "5", 1.0) == []
    assert (eio.state_of("E1"), eio.websocket_of("E1")) == (WEBSOCKET, "ws")


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
    assert "E1" not in eio
    assert eio.receive_request(http_get("g", "E1"), 2.0) == [http_error("g", 1)]


def test_a_post_of_too_many_packets_is_refused_before_it_is_read() -> None:
    eio = engineio_server(max_packets_per_payload=3)
    Client(eio, "c", "polling")
    assert eio.receive_request(http_post("p", "E1", b"6\x1e6\x1e4a"), 1.0) == [
        message("E1", "a"),
        ok("p"),
    ]
    outputs = eio.receive_request(http_post("q", "E1", b"6\x1e6\x1e6\x1e4b"), 1.0)
    assert outputs == [
        http_error("q", 3),
        closed("E1", "transport error", "4 packets in one payload, more than 3"),
    ]
    assert "E1" not in eio


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
    assert "E1" not in eio
    assert eio.receive_request(http_get("g", "E1"), 2.0) == [http_error("g", 1)]


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
    assert "E1" not in eio
    handle, outputs = client.poll(1.0)
    assert outputs == [http_error(handle, 1)]


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


# -- ending on an error or on the client's close packet -----------------------------------------


def payload_error(body: bytes, max_payload: int) -> str:
    """What the payload decoder says about ``body``."""
    try:
        decode_payload(body, max_payload=max_payload)
    except RemoteProtocolError as error:
        return str(error)
    raise AssertionError("no error")


def post(eio: EngineIOServer, body: str | bytes, **extra: Any) -> list[Any]:
    return eio.receive_request(http_post("p", "E1", body, **extra), 1.0)


ENDINGS = [
    pytest.param(
        lambda eio: post(eio, b"\x04x", content_type="application/octet-stream"),
        [http_error("p", 3), closed("E1", "transport error", "invalid content")],
        id="binary POST",
    ),
    pytest.param(
        lambda eio: post(eio, "4" + "a" * 10),
        [
            HttpResponse(handle="p", status=413, headers=(), body=b""),
            closed("E1", "transport error", "payload of 11 bytes exceeds 10"),
        ],
        id="oversized POST",
    ),
    pytest.param(
        lambda eio: post(eio, "4a\x1e\x1e4b"),
        [http_error("p", 3), closed("E1", "parse error", payload_error(b"4a\x1e\x1e4b", 10))],
        id="parse error",
    ),
    pytest.param(
        lambda eio: post(eio, "2"),
        [closed("E1", "transport error", "invalid heartbeat direction"), ok("p")],
        id="client ping",
    ),
    pytest.param(
        lambda eio: eio.advance(25.0) + eio.advance(45.0),
        [closed("E1", "ping timeout", "no pong within 20.0 s")],
        id="ping timeout",
    ),
    pytest.param(
        lambda eio: post(eio, "1"),
        [closed("E1", "transport close", "the client closed the session"), ok("p")],
        id="client close packet",
    ),
]


@pytest.mark.parametrize(("ending", "outputs"), ENDINGS)
def test_a_session_ended_by_the_client_or_an_error_is_forgotten_at_once(
    ending: Any, outputs: list[Any]
) -> None:
    eio = engineio_server(max_payload=10)
    client = Client(eio, "c", "polling")
    assert eio.send("E1", ["lost"]) == []
    assert ending(eio) == outputs
    # No draining (as in Node): nothing waits for a GET, not even a timer.
    assert "E1" not in eio
    assert len(eio) == 0
    assert eio.next_deadline() is None
    handle, answer = client.poll(50.0)
    assert answer == [http_error(handle, 1)]
    assert eio.receive_request(http_post("p2", "E1", "4a"), 50.0) == [http_error("p2", 1)]
    assert eio.websocket_connect("ws", query("E1", transport="websocket"), 50.0) == [
        ws_reject("ws", 1)
    ]


def test_client_close_packet_answers_a_parked_get_with_a_noop() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client)
    # Node's Polling.onClose: the client knows it is closing, the poll just returns.
    assert eio.receive_request(http_post("p", "E1", "4a\x1e1\x1e4b"), 1.0) == [
        message("E1", "a"),
        polled(handle, "6"),
        closed("E1", "transport close", "the client closed the session"),
        ok("p"),
    ]
    assert "E1" not in eio
    assert eio.request_closed(handle, 1.0) == []
    handle, outputs = client.poll(2.0)
    assert outputs == [http_error(handle, 1)]


def test_ping_timeout_with_a_parked_get_answers_it_with_the_close_packet() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    assert eio.advance(25.0) == []
    handle, outputs = client.poll(26.0)
    assert outputs == [polled(handle, "2")]
    handle = parked(client, 27.0)
    assert eio.advance(45.0) == [
        polled(handle, "1"),
        closed("E1", "ping timeout", "no pong within 20.0 s"),
    ]
    assert "E1" not in eio
    handle, outputs = client.poll(46.0)
    assert outputs == [http_error(handle, 1)]


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
        WebSocketClose(handle="w", code=1009),
        closed("E1", "transport error", "message of 11 bytes exceeds 10"),
    ]
    other = Client(eio, "v")
    assert other.send(b"01234567890") == [
        WebSocketClose(handle="v", code=1009),
        closed("E2", "transport error", "message of 11 bytes exceeds 10"),
    ]


def test_only_an_oversized_websocket_message_closes_with_code_1009() -> None:
    eio = engineio_server(max_payload=10)
    for name in ("big", "ping", "bye", "host"):
        Client(eio, name)
    assert eio.websocket_message("big", b"x" * 11, 1.0) == [
        WebSocketClose(handle="big", code=1009),
        closed("E1", "transport error", "message of 11 bytes exceeds 10"),
    ]
    assert eio.websocket_message("ping", "2", 1.0) == [
        WebSocketClose(handle="ping", code=1000),
        closed("E2", "transport error", "invalid heartbeat direction"),
    ]
    assert eio.websocket_message("bye", "1", 1.0) == [
        WebSocketClose(handle="bye", code=1000),
        closed("E3", "transport close", "the client closed the session"),
    ]
    assert eio.close("E4", 1.0) == [
        WebSocketClose(handle="host", code=1000),
        closed("E4", "forced close", "closed by the server"),
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


def test_a_websocket_message_after_the_due_ping_is_seen_after_it() -> None:
    # The binding's timer has not fired yet when the message is read: what was due comes
    # first (the ping), then the message; past the ping timeout, the session is gone.
    eio = engineio_server()
    Client(eio, "w")
    Client(eio, "v")
    assert eio.websocket_message("w", "4late", 25.0) == [
        ws_send("w", "2"),
        ws_send("v", "2"),
        message("E1", "late"),
    ]
    assert eio.websocket_message("v", "3", 30.0) == []
    assert eio.websocket_message("w", "4later", 45.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "ping timeout", "no pong within 20.0 s"),
    ]
    assert eio.websocket_message("v", "4still", 46.0) == [message("E2", "still")]


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
    # Called late: both pings go now. A timeout counts from when its ping was due (b: 35 +
    # 20), but leaves at least half of it from now (a, 15 s late: 40 + 10, not 25 + 20).
    assert eio.advance(40.0) == [ws_send("a", "2"), ws_send("b", "2")]
    assert eio.next_deadline() == 50.0
    assert eio.advance(49.9) == []
    assert eio.next_deadline() == 50.0
    eio.websocket_message("a", "3", 41.0)
    eio.websocket_message("b", "3", 41.0)
    assert eio.next_deadline() == 66.0


def test_the_ping_timeout_counts_from_when_the_ping_was_due() -> None:
    """A timer that runs a moment late does not move the deadline: a request at handshake +
    pingInterval + pingTimeout finds the session gone (what the protocol's suites check)."""
    eio = engineio_server()
    Client(eio, "a", now=0.0)
    assert eio.advance(25.3) == [ws_send("a", "2")]
    assert eio.next_deadline() == 45.0
    assert eio.advance(44.99) == []
    closed = [o for o in eio.advance(45.0) if type(o).__name__ == "SessionClosed"]
    assert [(o.eio_sid, o.reason) for o in closed] == [("E1", "ping timeout")]


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
    # The probe answers; the paused client's GET returns with a noop a moment later.
    assert eio.websocket_message("ws", "2probe", 1.5) == [ws_send("ws", "3probe")]
    assert eio.next_deadline() == 1.5 + UPGRADE_NOOP_DELAY
    assert eio.advance(1.55) == []
    assert eio.advance(1.5 + UPGRADE_NOOP_DELAY) == [polled(first, "6")]
    assert eio.next_deadline() == 11.0
    # So does any GET after the probe.
    handle = parked(client, 1.7)
    assert eio.advance(1.7 + UPGRADE_NOOP_DELAY) == [polled(handle, "6")]
    # Packets sent meanwhile wait in the outbox...
    assert eio.send("E1", ["during", b"\x01"]) == []
    assert client.send("4still polling", now=1.9) == [message("E1", "still polling")]
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


def test_upgrade_noop_delay_is_nodes_check_interval() -> None:
    assert UPGRADE_NOOP_DELAY == 0.1


def test_get_parked_before_the_probe_gets_its_noop_after_the_delay() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client, 0.5)
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 2.0) == [ws_send("ws", "3probe")]
    assert eio.next_deadline() == 2.0 + UPGRADE_NOOP_DELAY
    assert eio.advance(2.05) == []
    assert eio.advance(2.0 + UPGRADE_NOOP_DELAY) == [polled(handle, "6")]
    assert eio.request_closed(handle, 2.2) == []  # answered: no longer parked
    assert eio.next_deadline() == 11.0  # the upgrade timeout
    assert eio.state_of("E1") is UPGRADING


def test_get_after_the_probe_waits_for_its_noop() -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    eio.websocket_message("ws", "2probe", 1.0)
    assert eio.next_deadline() == 11.0  # no GET: no noop to send
    handle = parked(client, 2.0)
    assert eio.next_deadline() == 2.0 + UPGRADE_NOOP_DELAY
    # Called late, it is answered once.
    assert eio.advance(3.0) == [polled(handle, "6")]
    assert eio.advance(3.0) == []
    handle = parked(client, 3.0)
    assert eio.advance(3.0 + UPGRADE_NOOP_DELAY) == [polled(handle, "6")]


@pytest.mark.parametrize("get_before_the_probe", [True, False])
def test_upgrade_packet_while_a_get_is_parked_answers_it_400(get_before_the_probe: bool) -> None:
    eio = engineio_server()
    client = Client(eio, "c", "polling")
    handle = parked(client, 0.5) if get_before_the_probe else None
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    if handle is None:
        handle = parked(client, 1.0)
    assert eio.websocket_message("ws", "5", 1.05) == [http_error(handle, 3)]
    assert (eio.state_of("E1"), eio.websocket_of("E1")) == (WEBSOCKET, "ws")
    # The noop and the upgrade timeout are cancelled; the GET is no longer parked.
    assert eio.next_deadline() == 25.0
    assert eio.advance(11.0) == []
    assert eio.request_closed(handle, 11.0) == []
    assert eio.send("E1", ["x"]) == [ws_send("ws", "4x")]


@pytest.mark.parametrize(
    ("failure", "outputs"),
    [
        (lambda eio: eio.websocket_closed("ws", 1.05), []),
        (lambda eio: eio.websocket_failed("ws", 1.05, "write failed"), []),
        (
            lambda eio: eio.websocket_message("ws", "4x", 1.04),  # before the timeout
            [WebSocketClose(handle="ws", code=1002)],
        ),
        (lambda eio: eio.advance(1.05), [WebSocketClose(handle="ws")]),  # upgrade timeout
    ],
    ids=["closed", "failed", "bad packet", "upgrade timeout"],
)
def test_a_failed_probe_leaves_the_parked_get_parked(failure: Any, outputs: list[Any]) -> None:
    eio = engineio_server(upgrade_timeout=0.05)
    client = Client(eio, "c", "polling")
    handle = parked(client, 0.5)
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    assert failure(eio) == outputs
    assert eio.state_of("E1") is POLLING
    # An ordinary poll again: no noop, it waits for something to send.
    assert eio.next_deadline() == 25.0
    assert eio.advance(2.0) == []
    assert eio.send("E1", ["x"]) == [polled(handle, "4x")]


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


def test_shutdown_closes_every_session_and_keeps_the_close_packet_for_idle_pollers() -> None:
    eio = engineio_server(close_timeout=5.0)
    Client(eio, "w")
    idle = Client(eio, "i", "polling")
    waiting = Client(eio, "g", "polling")
    get = parked(waiting)
    upgrading = Client(eio, "u", "polling")
    eio.websocket_connect("probe", query("E4", transport="websocket"), 0.0)
    assert eio.send("E2", ["bye"]) == []
    assert eio.shutdown(1.0) == [
        WebSocketClose(handle="w"),
        closed("E1", "server shutting down", "server shutdown"),
        closed("E2", "server shutting down", "server shutdown"),
        polled(get, "1"),
        closed("E3", "server shutting down", "server shutdown"),
        WebSocketClose(handle="probe"),
        closed("E4", "server shutting down", "server shutdown"),
    ]
    assert ("E1" in eio, "E3" in eio) == (False, False)
    assert (eio.state_of("E2"), eio.state_of("E4")) == (DRAINING, DRAINING)
    assert eio.shutdown(2.0) == []  # closed already
    handle, outputs = idle.poll(2.0)
    assert outputs == [polled(handle, "4bye\x1e1")]
    assert eio.next_deadline() == 6.0  # the close timeout of E4
    assert eio.advance(6.0) == []
    assert len(eio) == 0
    handle, outputs = upgrading.poll(7.0)
    assert outputs == [http_error(handle, 1)]


@pytest.mark.parametrize("how", ["close", "shutdown"])
def test_host_close_after_the_probe_still_hands_the_close_packet_to_the_next_get(how: str) -> None:
    eio = engineio_server(close_timeout=5.0)
    client = Client(eio, "c", "polling")
    eio.websocket_connect("ws", query("E1", transport="websocket"), 1.0)
    assert eio.websocket_message("ws", "2probe", 1.0) == [ws_send("ws", "3probe")]
    closing = eio.close("E1", 1.5) if how == "close" else eio.shutdown(1.5)
    assert closing[0] == WebSocketClose(handle="ws")
    assert eio.state_of("E1") is DRAINING
    # The probe is gone with the session: the next GET gets the close packet at once.
    handle, outputs = client.poll(2.0)
    assert outputs == [polled(handle, "1")]
    assert len(eio) == 0


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


def test_a_text_with_the_record_separator_is_refused_before_anything_is_queued() -> None:
    """Long-polling cannot frame it: the broadcast is refused whole, once, and the polling
    sessions' queues are as they were (the WebSocket one never sees it either)."""
    eio = engineio_server()
    polling = Client(eio, "p", "polling")
    Client(eio, "w")
    with pytest.raises(LocalProtocolError, match="record separator"):
        eio.broadcast(["E2", "E1"], ["ok", "a\x1eb"])
    assert eio.broadcast(["E1"], ["next"]) == []
    handle, outputs = polling.poll()
    assert outputs == [polled(handle, "4next")]


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


def test_an_outbox_over_the_limit_pings_at_once_and_a_stalled_poller_times_out() -> None:
    eio = engineio_server(max_buffered_packets=2, ping_interval=25.0, ping_timeout=20.0)
    stalled = Client(eio, "s", "polling")
    polling = Client(eio, "p", "polling")
    assert eio.broadcast(["E1", "E2"], ["a", "b"]) == []
    assert eio.next_deadline() == 25.0
    # One more: both are past the limit, between two GETs or gone. Nobody is closed for it:
    # each is pinged at once, and the ping timeout tells which is which.
    assert eio.broadcast(["E1", "E2"], ["c"]) == []
    assert eio.broadcast(["E1", "E2"], ["d"]) == []  # one hurried ping each, not one per send
    assert eio.next_deadline() == 0.0
    assert eio.advance(1.0) == []
    handle, outputs = polling.poll(1.5)
    assert outputs == [polled(handle, "4a\x1e4b\x1e4c\x1e4d\x1e2")]
    assert polling.send("3", now=1.5) == []  # the pong
    assert eio.advance(21.0) == [closed("E1", "ping timeout", "no pong within 20.0 s")]
    assert "E2" in eio and "E1" not in eio
    handle, outputs = stalled.poll(21.0)
    assert outputs == [http_error(handle, 1)]


def test_an_outbox_over_the_limit_goes_to_a_parked_get_at_once() -> None:
    eio = engineio_server(max_buffered_packets=2)
    client = Client(eio, "p", "polling")
    handle = parked(client)
    assert eio.send("E1", ["a", "b", "c"]) == [polled(handle, "4a\x1e4b\x1e4c")]
    assert eio.next_deadline() == 25.0  # no hurried ping: it was read


# -- batches -----------------------------------------------------------------------------------


def test_in_a_batch_a_parked_get_is_answered_once_at_its_end_with_everything() -> None:
    eio = engineio_server(max_buffered_packets=2)
    first, second, idle = (Client(eio, name, "polling") for name in "pqr")
    Client(eio, "w")
    first_get, second_get = parked(first), parked(second)
    eio.begin_batch()
    # The WebSocket's frames go at once; the parked GETs wait for the end of the batch, even
    # past max_buffered_packets (they take it all), and volatile packets are queued for them.
    assert eio.broadcast(["E1", "E2", "E3", "E4"], ["a"]) == [ws_send("w", "4a")]
    assert eio.send("E1", ["b", b"\x01"]) == []
    assert eio.broadcast(["E1", "E2", "E3"], ["v"], volatile=True) == []
    assert eio.send("E1", ["c"]) == []
    assert eio.end_batch() == [
        polled(first_get, "4a\x1e4b\x1ebAQ==\x1e4v\x1e4c"),
        polled(second_get, "4a\x1e4v"),
    ]
    assert eio.next_deadline() == 25.0  # no hurried ping: everything was taken
    # The batch is over: the next packet answers a parked GET at once, and the idle client
    # (no GET parked) kept its packet but not the volatile one.
    assert eio.end_batch() == []
    again = parked(first)
    assert eio.send("E1", ["d"]) == [polled(again, "4d")]
    handle, outputs = idle.poll()
    assert outputs == [polled(handle, "4a")]


def test_a_get_answered_or_gone_within_the_batch_is_not_answered_again() -> None:
    eio = engineio_server()
    closing, leaving, upgraded, overlapping = (Client(eio, name, "polling") for name in "pqrs")
    closing_get, leaving_get, upgraded_get = parked(closing), parked(leaving), parked(upgraded)
    overlapped = parked(overlapping)
    eio.websocket_connect("ws", query("E3", transport="websocket"), 0.0)
    assert eio.websocket_message("ws", "2probe", 0.0) == [ws_send("ws", "3probe")]
    eio.begin_batch()
    assert eio.broadcast(["E1", "E2", "E3", "E4"], ["a"]) == []
    # Closed by the host: the close packet goes with what was queued, at once.
    assert eio.close("E1", 0.0) == [
        polled(closing_get, "4a\x1e1"),
        closed("E1", "forced close", "closed by the server"),
    ]
    # The client went away: its session is over.
    assert eio.request_closed(leaving_get, 0.0) == [
        closed("E2", "transport error", "poll connection closed prematurely")
    ]
    # Upgraded to a WebSocket: the parked GET is refused and the packets go on the WebSocket.
    assert eio.websocket_message("ws", "5", 0.0) == [
        http_error(upgraded_get, 3),
        ws_send("ws", "4a"),
    ]
    # A second GET overlaps the parked one, as outside a batch: the session is closed and
    # the parked GET gets the close packet at once, after what was queued.
    second, outputs = overlapping.poll(0.0)
    assert outputs == [
        http_error(second, 3),
        polled(overlapped, "4a\x1e1"),
        closed("E4", "transport error", "overlap from client"),
    ]
    assert eio.end_batch() == []


def test_packets_queued_before_a_get_of_the_batch_are_taken_by_it_at_once() -> None:
    eio = engineio_server()
    client = Client(eio, "p", "polling")
    eio.begin_batch()
    assert eio.send("E1", ["a"]) == []
    handle, outputs = client.poll()
    assert outputs == [polled(handle, "4a")]
    # A GET parked in the batch is due at its end once packets come for it.
    handle = parked(client)
    assert eio.send("E1", ["b"]) == []
    assert eio.end_batch() == [polled(handle, "4b")]


def test_websocket_sessions_have_no_outbox_limit() -> None:
    eio = engineio_server(max_buffered_packets=1)
    Client(eio, "w")
    assert eio.send("E1", ["a", "b", "c"]) == [ws_send("w", "4a", "4b", "4c")]


def test_what_is_due_comes_before_an_input_at_the_same_time() -> None:
    # A binding's loop may run a request before the timer due at the same moment: the
    # machine runs what is due first, as Node does, so a GET after the ping timeout finds the
    # session gone, whatever the order.
    eio = engineio_server(ping_interval=0.3, ping_timeout=0.2)
    polling = Client(eio, "p", "polling")
    Client(eio, "w")
    handle, outputs = polling.poll(0.3)  # both pings are due: sent, then the GET answered
    assert outputs == [
        WebSocketSend(handles=("w",), frames=("2",), control=True),
        polled(handle, "2"),
    ]
    handle, outputs = polling.poll(0.5)  # nobody answered: both time out, then the GET
    assert outputs == [
        closed("E1", "ping timeout", "no pong within 0.2 s"),
        WebSocketClose(handle="w"),
        closed("E2", "ping timeout", "no pong within 0.2 s"),
        http_error(handle, 1),
    ]
    assert eio.websocket_message("w", "3", 0.6) == []  # too late: the session is gone
    assert len(eio) == 0


def test_after_a_shutdown_no_session_opens_until_the_host_accepts_again() -> None:
    eio = engineio_server()
    Client(eio, "w")
    eio.shutdown(1.0)
    refused = b'{"code": 4, "message": "Server shutting down"}'
    [response] = eio.receive_request(http_get("h"), 1.0)
    assert (response.status, response.body) == (503, refused)
    [reject] = eio.websocket_connect("ws", query(transport="websocket"), 1.0)
    assert (reject.status, reject.body) == (503, refused)
    assert len(eio) == 0
    eio.accepting = True  # the binding's start() does this
    [response, opened] = eio.receive_request(http_get("h2"), 2.0)
    assert response.status == 200 and isinstance(opened, SessionOpened)
