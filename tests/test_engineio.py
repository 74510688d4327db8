"""The Engine.IO v4 codec: the spec's examples, the edges, properties and a fuzz."""

from __future__ import annotations

import base64
import enum
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sansio_rooms._engineio import (
    RECORD_SEPARATOR,
    EioPacket,
    EioPacketType,
    HttpError,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    handshake_packet,
    http_error_body,
)
from sansio_rooms._errors import LocalProtocolError, RemoteProtocolError

OPEN = EioPacketType.OPEN
CLOSE = EioPacketType.CLOSE
PING = EioPacketType.PING
PONG = EioPacketType.PONG
MESSAGE = EioPacketType.MESSAGE
UPGRADE = EioPacketType.UPGRADE
NOOP = EioPacketType.NOOP

# The handshake of the protocol document (Handshake section and the Engine.IO example body).
SPEC_OPEN = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)
# The Socket.IO document's sample session, request n°1 (an older pingTimeout).
SAMPLE_SESSION_OPEN = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}'
)

# WebSocket frames from the Engine.IO v4 document, the Socket.IO v5 sample session and the
# v5 test suite, with the packet each one is.
SPEC_FRAMES: list[tuple[str | bytes, EioPacket]] = [
    ("4hello", EioPacket(type=MESSAGE, data="hello")),
    ("2", EioPacket(type=PING)),
    ("3", EioPacket(type=PONG)),
    ("2probe", EioPacket(type=PING, data="probe")),
    ("3probe", EioPacket(type=PONG, data="probe")),
    ("5", EioPacket(type=UPGRADE)),
    ("6", EioPacket(type=NOOP)),
    ("1", EioPacket(type=CLOSE)),
    ('42["hello"]', EioPacket(type=MESSAGE, data='2["hello"]')),
    ('42["world"]', EioPacket(type=MESSAGE, data='2["world"]')),
    ("40/admin,", EioPacket(type=MESSAGE, data="0/admin,")),
    (
        '40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}',
        EioPacket(type=MESSAGE, data='0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'),
    ),
    ('42/admin,1["tellme"]', EioPacket(type=MESSAGE, data='2/admin,1["tellme"]')),
    (
        '461-/admin,1[{"_placeholder":true,"num":0}]',
        EioPacket(type=MESSAGE, data='61-/admin,1[{"_placeholder":true,"num":0}]'),
    ),
    (b"\x01\x02\x03\x04", EioPacket(type=MESSAGE, data=b"\x01\x02\x03\x04")),
    (bytes([1, 2, 3]), EioPacket(type=MESSAGE, data=bytes([1, 2, 3]))),
    (SPEC_OPEN, EioPacket(type=OPEN, data=SPEC_OPEN[1:])),
    (SAMPLE_SESSION_OPEN, EioPacket(type=OPEN, data=SAMPLE_SESSION_OPEN[1:])),
]

# Long-polling bodies from the same documents, and "6\x1e1" (noop then close).
SPEC_PAYLOADS: list[tuple[str, list[EioPacket]]] = [
    (
        "4hello\x1e2\x1e4world",
        [
            EioPacket(type=MESSAGE, data="hello"),
            EioPacket(type=PING),
            EioPacket(type=MESSAGE, data="world"),
        ],
    ),
    (
        "4hello\x1ebAQIDBA==",
        [EioPacket(type=MESSAGE, data="hello"), EioPacket(type=MESSAGE, data=b"\x01\x02\x03\x04")],
    ),
    (
        '42["hello"]\x1e42["world"]',
        [EioPacket(type=MESSAGE, data='2["hello"]'), EioPacket(type=MESSAGE, data='2["world"]')],
    ),
    ("40", [EioPacket(type=MESSAGE, data="0")]),
    (
        '40{"sid":"wZX3oN0bSVIhsaknAAAI"}',
        [EioPacket(type=MESSAGE, data='0{"sid":"wZX3oN0bSVIhsaknAAAI"}')],
    ),
    ('42["hey","Jude"]', [EioPacket(type=MESSAGE, data='2["hey","Jude"]')]),
    ("2", [EioPacket(type=PING)]),
    ("3", [EioPacket(type=PONG)]),
    ("1", [EioPacket(type=CLOSE)]),
    ("6", [EioPacket(type=NOOP)]),
    ("6\x1e1", [EioPacket(type=NOOP), EioPacket(type=CLOSE)]),
    (SPEC_OPEN, [EioPacket(type=OPEN, data=SPEC_OPEN[1:])]),
]


# --- the spec's examples --------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "packet"), SPEC_FRAMES)
def test_spec_frames_decode_and_encode_back(frame: str | bytes, packet: EioPacket) -> None:
    assert decode_packet(frame) == packet
    assert encode_packet(packet) == frame
    assert encode_packet(decode_packet(frame)) == frame


@pytest.mark.parametrize(("body", "packets"), SPEC_PAYLOADS)
def test_spec_payloads_decode_and_encode_back(body: str, packets: list[EioPacket]) -> None:
    assert decode_payload(body, max_payload=1_000_000) == packets
    assert decode_payload(body.encode(), max_payload=1_000_000) == packets
    assert encode_payload(packets) == body
    assert encode_payload(decode_payload(body, max_payload=1_000_000)) == body


def test_handshake_matches_the_spec_byte_for_byte() -> None:
    packet = handshake_packet("lv_VI97HAXpY6yYWAAAC", ["websocket"], 25000, 20000, 1_000_000)
    assert encode_packet(packet) == SPEC_OPEN
    assert encode_payload([packet]) == SPEC_OPEN
    assert handshake_packet("lv_VI97HAXpY6yYWAAAC", ["websocket"]) == packet
    sample = handshake_packet("lv_VI97HAXpY6yYWAAAC", ("websocket",), ping_timeout_ms=5000)
    assert encode_packet(sample) == SAMPLE_SESSION_OPEN


def test_handshake_for_a_websocket_session_has_no_upgrades() -> None:
    packet = handshake_packet("abc", [], ping_interval_ms=300, ping_timeout_ms=200)
    assert packet.type is OPEN
    assert json.loads(packet.data or "") == {
        "sid": "abc",
        "upgrades": [],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1_000_000,
    }
    assert list(json.loads(packet.data or "")) == [
        "sid",
        "upgrades",
        "pingInterval",
        "pingTimeout",
        "maxPayload",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sid": ""}, "sid"),
        ({"sid": 5}, "sid"),
        ({"sid": "a", "upgrades": "websocket"}, "upgrades"),
        ({"sid": "a", "upgrades": [1]}, "upgrades"),
        ({"sid": "a", "ping_interval_ms": -1}, "ping_interval_ms"),
        ({"sid": "a", "ping_timeout_ms": 2.5}, "ping_timeout_ms"),
        ({"sid": "a", "max_payload": True}, "max_payload"),
    ],
)
def test_handshake_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        handshake_packet(**kwargs)  # type: ignore[arg-type]


# --- HTTP errors ----------------------------------------------------------------------------


def test_http_errors_have_the_reference_codes_messages_and_statuses() -> None:
    assert [(int(e), e.message, e.status) for e in HttpError] == [
        (0, "Transport unknown", 400),
        (1, "Session ID unknown", 400),
        (2, "Bad handshake method", 400),
        (3, "Bad request", 400),
        (4, "Forbidden", 403),
        (5, "Unsupported protocol version", 400),
    ]


def test_http_error_body_is_compact_json() -> None:
    assert http_error_body(HttpError.UNKNOWN_SID) == '{"code":1,"message":"Session ID unknown"}'
    assert http_error_body(0) == '{"code":0,"message":"Transport unknown"}'  # type: ignore[arg-type]
    assert http_error_body(HttpError.FORBIDDEN, "no thanks") == '{"code":4,"message":"no thanks"}'


# --- packets built by the host --------------------------------------------------------------


class Text(enum.StrEnum):
    HELLO = "hello"


def test_packet_normalises_its_input() -> None:
    assert EioPacket(type=4, data="x") == EioPacket(type=MESSAGE, data="x")  # type: ignore[arg-type]
    assert EioPacket(type=PING, data="") == EioPacket(type=PING)
    assert EioPacket(type=PING, data="").data is None
    plain = EioPacket(type=MESSAGE, data=Text.HELLO)
    assert type(plain.data) is str
    assert plain == EioPacket(type=MESSAGE, data="hello")
    assert EioPacket(type=MESSAGE, data=bytearray(b"ab")).data == b"ab"  # type: ignore[arg-type]
    assert EioPacket(type=MESSAGE, data=memoryview(b"ab")).data == b"ab"  # type: ignore[arg-type]
    assert EioPacket(type=MESSAGE, data=b"").data == b""
    assert hash(EioPacket(type=MESSAGE, data="x")) == hash(EioPacket(type=MESSAGE, data="x"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": 7}, "packet type"),
        ({"type": True}, "packet type"),
        ({"type": "4"}, "packet type"),
        ({"type": MESSAGE, "data": 5}, "str, bytes or None"),
        ({"type": MESSAGE, "data": ["x"]}, "str, bytes or None"),
        ({"type": PING, "data": b"x"}, "only a MESSAGE"),
        ({"type": OPEN, "data": bytearray(b"x")}, "only a MESSAGE"),
    ],
)
def test_packet_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        EioPacket(**kwargs)  # type: ignore[arg-type]


def test_packet_is_frozen() -> None:
    packet = EioPacket(type=MESSAGE, data="x")
    with pytest.raises(AttributeError):
        packet.data = "y"  # type: ignore[misc]


def test_binary_frames_accept_any_bytes_like() -> None:
    assert decode_packet(bytearray(b"\x00")) == EioPacket(type=MESSAGE, data=b"\x00")  # type: ignore[arg-type]
    assert decode_packet(memoryview(b"")) == EioPacket(type=MESSAGE, data=b"")  # type: ignore[arg-type]
    assert encode_packet(EioPacket(type=MESSAGE, data=b"")) == b""


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("", "empty"),
        ("7", "unknown Engine.IO packet type '7'"),
        ("x4", "unknown"),
        ("bAQIDBA==", "unknown Engine.IO packet type 'b'"),
        ("\x1e4", "unknown"),
        ("٤hello", "unknown"),  # an Arabic-Indic four is not a packet type
    ],
)
def test_bad_frames_are_refused(frame: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_packet(frame)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty long-polling payload"),
        (b"", "empty long-polling payload"),
        ("4hello\x1e", "empty Engine.IO packet"),
        ("\x1e4hello", "empty Engine.IO packet"),
        ("4a\x1e\x1e4b", "empty Engine.IO packet"),
        ("4hello\x1egarbage", "unknown Engine.IO packet type 'g'"),
        ("4hello\x1e9", "unknown Engine.IO packet type '9'"),
        ("b!!!!", "invalid base64"),
        ("bAQI", "invalid base64"),  # missing padding
        ("bAQIDBA==AA", "invalid base64"),  # data after the padding
        ("bAQ IDBA==", "invalid base64"),
        ("béé=", "invalid base64"),
        ("4hello\x1ebAQIDBA=\x1e2", "invalid base64"),
        (b"4\xff\xfe", "not valid UTF-8"),
        (b"4hello\x1e\xc3", "not valid UTF-8"),
    ],
)
def test_bad_payloads_are_refused(body: str | bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_payload(body, max_payload=1000)


def test_payload_with_trailing_garbage_after_valid_packets_is_refused_whole() -> None:
    valid = "4hello\x1ebAQIDBA=="
    assert len(decode_payload(valid, max_payload=100)) == 2
    for garbage in ["\x1e", "\x1ex", "\x1e\x1e2", "\x1eb*", "\x1e7"]:
        with pytest.raises(RemoteProtocolError):
            decode_payload(valid + garbage, max_payload=100)


def test_base64_may_be_empty() -> None:
    assert decode_payload("b", max_payload=10) == [EioPacket(type=MESSAGE, data=b"")]
    assert encode_payload([EioPacket(type=MESSAGE, data=b"")]) == "b"


def test_size_limit_is_checked_on_the_whole_body_before_parsing() -> None:
    body = "4" + "a" * 99
    assert decode_payload(body, max_payload=100) == [EioPacket(type=MESSAGE, data="a" * 99)]
    with pytest.raises(RemoteProtocolError, match="exceeds maxPayload"):
        decode_payload(body, max_payload=99)
    # Garbage over the limit is refused for its size: the parser never sees it.
    with pytest.raises(RemoteProtocolError, match="101 bytes exceeds"):
        decode_payload("\x1e" * 101, max_payload=100)
    with pytest.raises(RemoteProtocolError, match="101 bytes exceeds"):
        decode_payload(b"\xff" * 101, max_payload=100)


def test_size_limit_counts_utf8_bytes_whatever_the_body_type() -> None:
    body = "4" + "é" * 10  # 21 bytes in UTF-8, 11 characters
    for given_body in (body, body.encode()):
        assert decode_payload(given_body, max_payload=21)[0].data == "é" * 10
        with pytest.raises(RemoteProtocolError, match="21 bytes exceeds"):
            decode_payload(given_body, max_payload=20)
    # A host-built str with a lone surrogate is measured, not crashed on.
    with pytest.raises(RemoteProtocolError, match="4 bytes exceeds"):
        decode_payload("4\ud800", max_payload=3)


def test_bytes_like_bodies_are_accepted() -> None:
    packets = [EioPacket(type=MESSAGE, data="hi")]
    assert decode_payload(bytearray(b"4hi"), max_payload=10) == packets  # type: ignore[arg-type]
    assert decode_payload(memoryview(b"4hi"), max_payload=10) == packets  # type: ignore[arg-type]


def test_encode_payload_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(LocalProtocolError, match="at least one packet"):
        encode_payload([])
    with pytest.raises(LocalProtocolError, match="record separator"):
        encode_payload([EioPacket(type=MESSAGE, data="a\x1eb")])
    with pytest.raises(LocalProtocolError, match="record separator"):
        encode_payload([EioPacket(type=PING), EioPacket(type=MESSAGE, data="a\x1eb")])


def test_encode_payload_of_many_kinds_of_packet() -> None:
    packets = [
        EioPacket(type=NOOP),
        EioPacket(type=MESSAGE, data=b"\xff\x00"),
        EioPacket(type=MESSAGE, data="é"),
        EioPacket(type=CLOSE),
    ]
    assert encode_payload(packets) == "6\x1eb/wA=\x1e4é\x1e1"
    assert encode_payload(tuple(packets)) == "6\x1eb/wA=\x1e4é\x1e1"


# --- properties -----------------------------------------------------------------------------

packet_types = st.sampled_from(list(EioPacketType))
text_data = st.text(st.characters(codec="utf-8"), max_size=40)


@st.composite
def packets(draw: st.DrawFn, *, separator_free: bool = False) -> EioPacket:
    packet_type = draw(packet_types)
    text = text_data.map(lambda t: t.replace(RECORD_SEPARATOR, "")) if separator_free else text_data
    choices = [st.none(), text]
    if packet_type is MESSAGE:
        choices.append(st.binary(max_size=40))
    return EioPacket(type=packet_type, data=draw(st.one_of(choices)))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(packets())
def test_frame_round_trip(packet: EioPacket) -> None:
    frame = encode_packet(packet)
    assert decode_packet(frame) == packet
    assert encode_packet(decode_packet(frame)) == frame


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(packets(separator_free=True), min_size=1, max_size=6))
def test_payload_round_trip(packet_list: list[EioPacket]) -> None:
    body = encode_payload(packet_list)
    size = len(body.encode())
    assert decode_payload(body, max_payload=size) == packet_list
    assert decode_payload(body.encode(), max_payload=size) == packet_list
    with pytest.raises(RemoteProtocolError):
        decode_payload(body, max_payload=size - 1)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(packets(separator_free=True), min_size=1, max_size=6))
def test_payload_base64_matches_the_standard_encoding(packet_list: list[EioPacket]) -> None:
    parts = encode_payload(packet_list).split(RECORD_SEPARATOR)
    for part, packet in zip(parts, packet_list, strict=True):
        if isinstance(packet.data, bytes):
            assert part == "b" + base64.b64encode(packet.data).decode()


# --- fuzz -----------------------------------------------------------------------------------

FUZZ_SEEDS = [frame for frame, _ in SPEC_FRAMES if isinstance(frame, str)] + [
    body for body, _ in SPEC_PAYLOADS
]
ALPHABET = '0123456789b4\x1e/=+AQIDBA,[]{}"é\ud800 -'


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(4)
        position = rng.randint(0, len(chars))
        if action == 0:
            chars = chars[: rng.randint(0, len(chars))]  # truncation
        elif action == 1 and chars:
            position = min(position, len(chars) - 1)
            chars[position] = chr(ord(chars[position]) ^ (1 << rng.randrange(8)))  # flip
        elif action == 2:
            chars.insert(position, rng.choice(ALPHABET))  # insertion
        elif chars:
            del chars[min(position, len(chars) - 1)]  # deletion
    return "".join(chars)


def _check_decoders(body: str | bytes) -> None:
    for decode in (decode_packet, lambda b: decode_payload(b, max_payload=200)):
        try:
            result = decode(body)
        except RemoteProtocolError:
            continue
        for packet in result if isinstance(result, list) else [result]:
            assert isinstance(packet, EioPacket)


def test_fuzz_only_packets_or_remote_protocol_errors() -> None:
    rng = random.Random(20240501)
    count = 0
    for _ in range(12_000):
        text = _mutate(rng, rng.choice(FUZZ_SEEDS))
        _check_decoders(text)
        _check_decoders(text.encode("utf-8", "surrogatepass"))
        count += 2
    for _ in range(4_000):
        size = rng.randint(0, 30)
        _check_decoders("".join(rng.choice(ALPHABET) for _ in range(size)))
        _check_decoders(rng.randbytes(size))
        count += 2
    assert count >= 20_000


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.one_of(st.text(max_size=50), st.binary(max_size=50)))
def test_fuzz_arbitrary_input(body: str | bytes) -> None:
    _check_decoders(body)


# -- the two base64 implementations ----------------------------------------------------------

from collections.abc import Callable  # noqa: E402

from sansio_rooms import _engineio as _eio  # noqa: E402

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _outcome(decode: Callable[[str], bytes], text: str) -> object:
    try:
        return decode(text)
    except ValueError:  # binascii.Error is a ValueError
        return "refused"


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(st.text(alphabet=_B64_ALPHABET + " \n\xe9", max_size=14))
def test_the_fast_and_stdlib_base64_decoders_accept_exactly_the_same_inputs(text: str) -> None:
    assert _outcome(_eio.b64decode_stdlib, text) == _outcome(_eio.b64decode_fast, text)


@pytest.mark.parametrize("text", ["AAAA=", "AAAA====", "AB=C", "A===", "AA", "QUJD"])
def test_base64_padding_edge_cases_agree(text: str) -> None:
    assert _outcome(_eio.b64decode_stdlib, text) == _outcome(_eio.b64decode_fast, text)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.binary(max_size=64))
def test_the_fast_and_stdlib_base64_encoders_agree(data: bytes) -> None:
    text = _eio.b64encode_stdlib(data)
    assert _eio.b64encode_fast(data) == text
    assert _eio.b64decode_stdlib(text) == _eio.b64decode_fast(text) == data
