"""``sansio_rooms.wire``: one connection of the bindings' own server, bytes in and out, with no
socket: HTTP/1.1 requests and their answers, the WebSocket handshake, frames, and what a
hostile or broken client gets."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import h11
import pytest
from websockets.frames import Close, Frame, Opcode

from sansio_rooms.wire import (
    HttpRequestReceived,
    WebSocketClosed,
    WebSocketRequested,
    WireConnection,
    accept_key,
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example
HANDSHAKE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
    b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\nOrigin: http://o.test\r\n\r\n"
)


#: What the reading client sends, so that h11 takes a 101 as well as any other answer.
UPGRADE = [("host", "h"), ("connection", "upgrade"), ("upgrade", "websocket")]


def wire(**options: Any) -> WireConnection:
    return WireConnection(client=("10.0.0.1", 5000), server=("127.0.0.1", 8000), **options)


def get(target: bytes = b"/socket.io/?EIO=4&transport=polling", extra: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n" + extra + b"\r\n"


def post(body: bytes, target: bytes = b"/socket.io/?sid=x") -> bytes:
    head = b"POST " + target + b" HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def responses(data: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """The HTTP responses in ``data``, read by an h11 client (101 included)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=UPGRADE))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    found: list[tuple[int, dict[bytes, bytes], bytes]] = []
    body = b""
    while True:
        event = client.next_event()
        if type(event) is h11.InformationalResponse:
            found.append((event.status_code, dict(event.headers), b""))
            return found
        if type(event) is h11.Response:
            head = (event.status_code, dict(event.headers))
        elif type(event) is h11.Data:
            body += event.data
        elif type(event) is h11.EndOfMessage:
            found.append((*head, body))
            body = b""
            if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                return found
            client.start_next_cycle()
            client.send(h11.Request(method="GET", target="/", headers=UPGRADE))
            client.send(h11.EndOfMessage())
        else:
            return found


def masked(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=True, extensions=[])


def server_frames(data: bytes) -> list[Frame]:
    """The frames in what the server wrote after the 101 (unmasked)."""
    frames = []
    while data:
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, offset = int.from_bytes(data[2:10], "big"), 10
        frames.append(Frame(Opcode(data[0] & 0x0F), data[offset : offset + length]))
        data = data[offset + length :]
    return frames


def open_websocket(**options: Any) -> WireConnection:
    connection = wire(**options)
    (event,) = connection.receive_data(HANDSHAKE)
    assert type(event) is WebSocketRequested
    connection.accept_websocket()
    head = connection.data_to_send()
    assert head.startswith(b"HTTP/1.1 101 ")
    return connection


# -- HTTP -----------------------------------------------------------------------------------------


def test_a_request_becomes_an_asgi_scope_and_its_body() -> None:
    connection = wire()
    data = post(b"4hello", b"/rt/socket.io/?EIO=4&transport=polling&sid=a%20b")
    (event,) = connection.receive_data(data)
    assert type(event) is HttpRequestReceived
    assert event.body == b"4hello"
    scope = event.scope
    assert (scope["type"], scope["method"], scope["scheme"]) == ("http", "POST", "http")
    assert scope["path"] == "/rt/socket.io/"
    assert scope["query_string"] == b"EIO=4&transport=polling&sid=a%20b"
    assert (b"content-type", b"text/plain") in scope["headers"]
    assert (scope["client"], scope["server"]) == (("10.0.0.1", 5000), ("127.0.0.1", 8000))
    assert scope["http_version"] == "1.1" and scope["root_path"] == ""


def test_a_body_in_pieces_is_reported_once_whole() -> None:
    connection = wire()
    data = post(b"x" * 1000)
    assert connection.receive_data(data[:100]) == []
    (event,) = connection.receive_data(data[100:])
    assert event.body == b"x" * 1000


def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    connection = wire()
    (first,) = connection.receive_data(get(b"/a") + get(b"/b"))
    assert first.scope["path"] == "/a"
    assert connection.receive_data(b"") == []  # the second one waits for the first's answer
    connection.respond(200, [(b"content-type", b"text/plain")], b"one")
    (second,) = connection.pending_events()
    assert second.scope["path"] == "/b"
    connection.respond(404, [(b"content-length", b"99")], b"")  # the length is ours to set
    answers = responses(connection.data_to_send())
    assert [(status, body) for status, _, body in answers] == [(200, b"one"), (404, b"")]
    assert answers[1][1][b"content-length"] == b"0"
    assert connection.pending_events() == []
    assert connection.should_close  # the client closed its side after its requests


def test_a_client_that_asks_to_close_is_closed_after_the_answer() -> None:
    connection = wire()
    connection.receive_data(get(extra=b"Connection: close\r\n"))
    connection.respond(200, [], b"ok")
    assert responses(connection.data_to_send())[0][2] == b"ok"
    assert connection.should_close
    assert connection.receive_data(get()) == []  # nothing more is read


def test_a_body_over_the_limit_is_refused_413_and_the_connection_closed() -> None:
    connection = wire(max_body=10)
    assert connection.receive_data(post(b"x" * 11)) == []
    ((status, headers, body),) = responses(connection.data_to_send())
    assert (status, body) == (413, b"Payload Too Large")
    assert headers[b"connection"] == b"close"
    assert connection.should_close


@pytest.mark.parametrize(
    "data",
    [
        b"NOT HTTP\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_malformed_http_gets_400_and_a_close(data: bytes) -> None:
    connection = wire()
    assert connection.receive_data(data) == []
    ((status, _, body),) = responses(connection.data_to_send())
    assert status == 400 and body.startswith(b"Bad Request: ")
    assert connection.should_close


def test_malformed_input_after_an_unanswered_request_just_closes() -> None:
    connection = wire()
    connection.receive_data(post(b"abc"))
    connection.respond(200, [], b"")
    connection.data_to_send()
    # A second request whose body goes wrong after its head: no answer can be sent twice.
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert connection.receive_data(head) == []
    assert connection.should_close


def test_an_answer_to_a_client_that_left_mid_request_closes() -> None:
    connection = wire()
    data = post(b"x" * 100)
    connection.receive_data(data[:-10])  # head and part of the body: no event yet
    connection.receive_data(b"")  # gone
    assert connection.should_close


def test_a_body_over_the_limit_behind_a_request_being_answered_waits_its_turn() -> None:
    connection = wire(max_body=10)
    (_first,) = connection.receive_data(get(b"/first") + post(b"x" * 11)[:-3])
    assert connection.receive_data(b"xxx" + get(b"/never")) == []  # no longer read
    assert connection.receive_data(get(b"/never either")) == []
    connection.respond(599, [], b"")  # a status without a reason phrase
    assert connection.pending_events() == []  # the 413, written at once
    answers = responses(connection.data_to_send())
    assert [status for status, _, _ in answers] == [599, 413]
    assert connection.should_close


def test_an_answer_before_the_request_body_ends_closes_after_it() -> None:
    connection = wire()
    (_event,) = connection.receive_data(get())
    connection.receive_data(b"GET /next HTTP/1.1\r\nHost: h\r\n")  # the next one, half
    connection.respond(200, [], b"ok")
    assert not connection.should_close
    assert connection.pending_events() == []


# -- the WebSocket handshake ----------------------------------------------------------------------


def test_accept_key_is_rfc_6455s() -> None:
    assert accept_key(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept_key(b"k") == base64.b64encode(
        hashlib.sha1(b"k258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    )


def test_a_handshake_becomes_a_websocket_scope_then_101() -> None:
    connection = wire()
    (event,) = connection.receive_data(HANDSHAKE)
    assert type(event) is WebSocketRequested
    scope = event.scope
    assert (scope["type"], scope["scheme"], scope["path"]) == ("websocket", "ws", "/socket.io/")
    assert scope["query_string"] == b"EIO=4&transport=websocket"
    assert "websocket.http.response" in scope["extensions"]
    assert (b"origin", b"http://o.test") in scope["headers"]
    assert "method" not in scope
    connection.accept_websocket()
    assert connection.is_websocket
    ((status, headers, _),) = responses(connection.data_to_send())
    assert status == 101
    assert headers[b"sec-websocket-accept"] == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers[b"upgrade"] == b"websocket"


def test_https_scopes_say_so() -> None:
    connection = WireConnection(client=None, server=None, scheme="https")
    (event,) = connection.receive_data(HANDSHAKE)
    assert event.scope["scheme"] == "wss" and event.scope["client"] is None
    connection = WireConnection(client=None, server=None, scheme="https")
    (event,) = connection.receive_data(get())
    assert event.scope["scheme"] == "https"


def test_a_refused_handshake_is_an_http_answer() -> None:
    connection = wire()
    connection.receive_data(HANDSHAKE)
    connection.respond(403, [(b"content-type", b"application/json")], b'{"code":4}')
    ((status, _, body),) = responses(connection.data_to_send())
    assert (status, body) == (403, b'{"code":4}')
    assert not connection.is_websocket


@pytest.mark.parametrize(
    "handshake",
    [
        HANDSHAKE.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        HANDSHAKE.replace(b"GET ", b"POST ", 1),
        HANDSHAKE.replace(b"keep-alive, Upgrade", b"keep-alive"),
        HANDSHAKE.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
        HANDSHAKE.replace(b"Sec-WebSocket-Key: " + KEY + b"\r\n", b""),
        HANDSHAKE.replace(b"Connection: keep-alive, Upgrade\r\n", b""),
    ],
)
def test_an_incomplete_handshake_is_a_plain_request(handshake: bytes) -> None:
    (event,) = wire().receive_data(handshake)
    assert type(event) is HttpRequestReceived  # the app answers it (400 from Engine.IO)


def test_frames_right_behind_the_handshake_are_kept() -> None:
    connection = wire()
    (event,) = connection.receive_data(HANDSHAKE + masked(Opcode.TEXT, b"40"))
    assert type(event) is WebSocketRequested
    # More, before the handshake is answered (the app is deciding).
    assert connection.receive_data(masked(Opcode.TEXT, b"41")) == []
    connection.accept_websocket()
    assert connection.pending_events() == ["40", "41"]


# -- WebSocket frames -----------------------------------------------------------------------------


def test_messages_text_and_binary_and_fragmented() -> None:
    connection = open_websocket()
    data = (
        masked(Opcode.TEXT, "é".encode())
        + masked(Opcode.BINARY, b"\x00\x01")
        + masked(Opcode.TEXT, b"4", fin=False)
        + masked(Opcode.CONT, b"2[", fin=False)
        + masked(Opcode.CONT, b"]")
        + masked(Opcode.BINARY, b"\x02", fin=False)
        + masked(Opcode.CONT, b"\x03")
    )
    assert connection.receive_data(data[:5]) == []
    assert connection.receive_data(data[5:]) == ["é", b"\x00\x01", "42[]", b"\x02\x03"]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 200, 65535, 65536, 70001])
def test_messages_of_every_length_form_in_pieces(size: int) -> None:
    """7-bit, 16-bit and 64-bit lengths, each frame fed a few bytes at a time (headers cut
    anywhere), text and binary, back to back."""
    connection = open_websocket(max_message=100_000)
    text = ("é" * size)[: size // 2] + "x" * (size - 2 * (size // 2))
    binary = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = masked(Opcode.TEXT, text.encode()) + masked(Opcode.BINARY, binary)
    received: list[Any] = []
    for byte in range(12):  # the header one byte at a time
        received += connection.receive_data(data[byte : byte + 1])
    step = 7 if size < 300 else 4093
    for start in range(12, len(data), step):
        received += connection.receive_data(data[start : start + step])
    assert received == [text, binary]


def test_empty_fragments_add_nothing() -> None:
    connection = open_websocket()
    data = masked(Opcode.TEXT, b"4", fin=False)
    data += masked(Opcode.CONT, b"", fin=False) * 3 + masked(Opcode.CONT, b"2")
    assert connection.receive_data(data) == ["42"]
    assert connection._fragments == []  # nothing kept once the message is whole


def test_a_big_frame_in_small_reads_is_kept_in_pieces_until_whole() -> None:
    """Each read of the rest of a frame whose length is known is appended, not joined with
    what came before (which would copy the frame again at every read)."""
    connection = open_websocket(max_message=300_000)
    payload = bytes(range(256)) * 1000
    data = masked(Opcode.BINARY, payload)
    assert connection.receive_data(data[:10]) == []
    received: list[Any] = []
    for start in range(10, len(data), 1000):
        assert received == []
        assert connection._buffer == b""  # nothing joined yet
        received += connection.receive_data(data[start : start + 1000])
    assert received == [payload]


def test_a_frame_cut_short_by_the_end_of_the_connection_is_1006() -> None:
    connection = open_websocket()
    assert connection.receive_data(masked(Opcode.TEXT, b"42[]")[:-1]) == []
    (closed,) = connection.receive_data(b"")
    assert closed.code == 1006


def test_data_after_a_close_of_ours_still_arrives_until_the_peers_close() -> None:
    connection = open_websocket()
    connection.close_websocket()
    connection.data_to_send()
    assert connection.receive_data(masked(Opcode.TEXT, b"late")) == ["late"]
    assert connection.receive_data(masked(Opcode.TEXT, b"\xff")) == []  # not UTF-8


def test_a_ping_is_answered_with_a_pong() -> None:
    connection = open_websocket()
    assert connection.receive_data(masked(Opcode.PING, b"p")) == []
    (pong,) = server_frames(connection.data_to_send())
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"p")


def test_frames_built_once_are_written_as_they_are() -> None:
    connection = open_websocket()
    connection.send_frames([b"\x81\x011", b"\x81\x012"])
    assert connection.data_to_send() == b"\x81\x011\x81\x012"
    assert connection.data_to_send() == b""


def test_the_peers_close_is_echoed_and_reported() -> None:
    connection = open_websocket()
    close = Close(1001, "bye").serialize()
    assert [e.code for e in connection.receive_data(masked(Opcode.CLOSE, close))] == [1001]
    (echo,) = server_frames(connection.data_to_send())
    assert echo.opcode is Opcode.CLOSE
    assert connection.should_close
    connection.send_frames([b"\x81\x01x"])  # after the close: dropped
    assert connection.data_to_send() == b""
    assert connection.receive_data(b"") == []  # reported once


def test_a_close_of_ours_ends_with_the_peers_answer() -> None:
    connection = open_websocket()
    connection.close_websocket(4000)
    (frame,) = server_frames(connection.data_to_send())
    assert Close.parse(frame.data).code == 4000
    connection.close_websocket(4001)  # once
    assert connection.data_to_send() == b""
    (closed,) = connection.receive_data(masked(Opcode.CLOSE, Close(4000, "").serialize()))
    assert type(closed) is WebSocketClosed and closed.code == 4000


def test_a_peer_that_just_goes_away_is_1006() -> None:
    connection = open_websocket()
    (closed,) = connection.receive_data(b"")
    assert closed.code == 1006


def test_invalid_utf8_closes_1007() -> None:
    connection = open_websocket()
    assert connection.receive_data(masked(Opcode.TEXT, b"\xff")) == []
    (frame,) = server_frames(connection.data_to_send())
    assert Close.parse(frame.data).code == 1007
    assert connection.should_close


def test_a_fragmented_message_with_invalid_utf8_closes_1007() -> None:
    connection = open_websocket()
    data = masked(Opcode.TEXT, b"\xc3", fin=False) + masked(Opcode.CONT, b"(")
    assert connection.receive_data(data) == []
    (frame,) = server_frames(connection.data_to_send())
    assert Close.parse(frame.data).code == 1007


@pytest.mark.parametrize("fragmented", [False, True])
def test_a_message_over_the_limit_closes_1009(fragmented: bool) -> None:
    connection = open_websocket(max_message=10)
    if fragmented:
        data = masked(Opcode.TEXT, b"x" * 6, fin=False) + masked(Opcode.CONT, b"x" * 6)
    else:
        data = masked(Opcode.TEXT, b"x" * 11)
    # Refused from its header, without waiting for the rest; what follows is dropped.
    assert connection.receive_data(data[:8]) == []
    assert connection.receive_data(data[8:] + masked(Opcode.TEXT, b"more")) == []
    (frame,) = server_frames(connection.data_to_send())
    assert Close.parse(frame.data).code == 1009
    assert connection.should_close


@pytest.mark.parametrize(
    "data",
    [
        Frame(Opcode.TEXT, b"unmasked").serialize(mask=False, extensions=[]),
        masked(Opcode.CONT, b"nothing to continue"),
        b"\x8f\x80\x00\x00\x00\x00",  # a reserved opcode
    ],
    ids=["unmasked", "continuation-of-nothing", "reserved-opcode"],  # the masks are random
)
def test_protocol_errors_close_1002(data: bytes) -> None:
    connection = open_websocket()
    assert connection.receive_data(data) == []
    (frame,) = server_frames(connection.data_to_send())
    assert Close.parse(frame.data).code == 1002
    assert connection.should_close
