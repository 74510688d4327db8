"""The Socket.IO v5 codec: the spec's examples, validation, properties and a fuzz."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sansio_rooms import _socketio
from sansio_rooms._errors import LocalProtocolError, RemoteProtocolError
from sansio_rooms._socketio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    SioDecoder,
    SioPacket,
    SioPacketType,
    encode_sio_packet,
)

CONNECT = SioPacketType.CONNECT
DISCONNECT = SioPacketType.DISCONNECT
EVENT = SioPacketType.EVENT
ACK = SioPacketType.ACK
CONNECT_ERROR = SioPacketType.CONNECT_ERROR
BINARY_EVENT = SioPacketType.BINARY_EVENT
BINARY_ACK = SioPacketType.BINARY_ACK

P0 = '{"_placeholder":true,"num":0}'
P1 = '{"_placeholder":true,"num":1}'
B1234 = bytes([1, 2, 3, 4])

# Every encoded example of the v5 protocol document ("Packet encoding" and the sample
# session, without the Engine.IO "4" prefix) and of its test suite, with the packet it is.
SPEC_EXAMPLES: list[tuple[list[str | bytes], SioPacket]] = [
    (["0"], SioPacket(type=CONNECT)),
    (
        ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
        SioPacket(type=CONNECT, nsp="/admin", data={"sid": "oSO0OpakMV_3jnilAAAA"}),
    ),
    (
        ['4{"message":"Not authorized"}'],
        SioPacket(type=CONNECT_ERROR, data={"message": "Not authorized"}),
    ),
    (['2["foo"]'], SioPacket(type=EVENT, data=["foo"])),
    (['2/admin,["bar"]'], SioPacket(type=EVENT, nsp="/admin", data=["bar"])),
    ([f'51-["baz",{P0}]', B1234], SioPacket(type=BINARY_EVENT, data=["baz", B1234])),
    (
        [f'52-/admin,["baz",{P0},{P1}]', b"\x01\x02", b"\x03\x04"],
        SioPacket(type=BINARY_EVENT, nsp="/admin", data=["baz", b"\x01\x02", b"\x03\x04"]),
    ),
    (['212["foo"]'], SioPacket(type=EVENT, data=["foo"], id=12)),
    (['3/admin,13["bar"]'], SioPacket(type=ACK, nsp="/admin", data=["bar"], id=13)),
    ([f'61-15["bar",{P0}]', B1234], SioPacket(type=BINARY_ACK, data=["bar", B1234], id=15)),
    (["1"], SioPacket(type=DISCONNECT)),
    (["1/admin,"], SioPacket(type=DISCONNECT, nsp="/admin")),
    # the sample session
    (
        ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
        SioPacket(type=CONNECT, data={"sid": "wZX3oN0bSVIhsaknAAAI"}),
    ),
    (['2["hey","Jude"]'], SioPacket(type=EVENT, data=["hey", "Jude"])),
    (['2["hello"]'], SioPacket(type=EVENT, data=["hello"])),
    (['2["world"]'], SioPacket(type=EVENT, data=["world"])),
    (["0/admin,"], SioPacket(type=CONNECT, nsp="/admin")),
    (
        ['0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'],
        SioPacket(type=CONNECT, nsp="/admin", data={"sid": "-G5j-67EZFp-q59rADQM"}),
    ),
    (['2/admin,1["tellme"]'], SioPacket(type=EVENT, nsp="/admin", data=["tellme"], id=1)),
    (
        [f"61-/admin,1[{P0}]", b"\xde\xad"],
        SioPacket(type=ACK, nsp="/admin", data=[b"\xde\xad"], id=1),
    ),
    # the test suite
    (['0{"token":"123"}'], SioPacket(type=CONNECT, data={"token": "123"})),
    (["0/custom,"], SioPacket(type=CONNECT, nsp="/custom")),
    (['0/custom,{"token":"abc"}'], SioPacket(type=CONNECT, nsp="/custom", data={"token": "abc"})),
    (['2["auth",{}]'], SioPacket(type=EVENT, data=["auth", {}])),
    (['2["auth",{"token":"123"}]'], SioPacket(type=EVENT, data=["auth", {"token": "123"}])),
    (
        ['2/custom,["auth",{"token":"abc"}]'],
        SioPacket(type=EVENT, nsp="/custom", data=["auth", {"token": "abc"}]),
    ),
    (
        ['4/random,{"message":"Invalid namespace"}'],
        SioPacket(type=CONNECT_ERROR, nsp="/random", data={"message": "Invalid namespace"}),
    ),
    (
        ['2["message",1,"2",{"3":[true]}]'],
        SioPacket(type=EVENT, data=["message", 1, "2", {"3": [True]}]),
    ),
    (
        ['2["message-back",1,"2",{"3":[true]}]'],
        SioPacket(type=EVENT, data=["message-back", 1, "2", {"3": [True]}]),
    ),
    (
        ['2["message","message to main namespace"]'],
        SioPacket(type=EVENT, data=["message", "message to main namespace"]),
    ),
    (
        [f'52-["message",{P0},{P1}]', b"\x01\x02\x03", b"\x04\x05\x06"],
        SioPacket(type=EVENT, data=["message", b"\x01\x02\x03", b"\x04\x05\x06"]),
    ),
    (
        ['2456["message-with-ack",1,"2",{"3":[false]}]'],
        SioPacket(type=EVENT, data=["message-with-ack", 1, "2", {"3": [False]}], id=456),
    ),
    (['3456[1,"2",{"3":[false]}]'], SioPacket(type=ACK, data=[1, "2", {"3": [False]}], id=456)),
    (
        [f'52-789["message-with-ack",{P0},{P1}]', b"\x01\x02\x03", b"\x04\x05\x06"],
        SioPacket(type=EVENT, data=["message-with-ack", b"\x01\x02\x03", b"\x04\x05\x06"], id=789),
    ),
    (
        [f"62-789[{P0},{P1}]", b"\x01\x02\x03", b"\x04\x05\x06"],
        SioPacket(type=ACK, data=[b"\x01\x02\x03", b"\x04\x05\x06"], id=789),
    ),
]

# Packets of the "Exchange protocol" section that have no encoded form in the document.
SPEC_PACKETS: list[tuple[SioPacket, list[str | bytes]]] = [
    (
        SioPacket(type=CONNECT, data={"sid": "wZX3oN0bSVIhsaknAAAI"}),
        ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
    ),
    (SioPacket(type=CONNECT, nsp="/admin", data={"token": "123"}), ['0/admin,{"token":"123"}']),
    (
        SioPacket(type=CONNECT, nsp="/admin", data={"sid": "iLnRaVGHY4B75TeVAAAB"}),
        ['0/admin,{"sid":"iLnRaVGHY4B75TeVAAAB"}'],
    ),
    (SioPacket(type=ACK, data=[], id=12), ["312[]"]),
    (SioPacket(type=EVENT, nsp="/admin", data=["foo"], id=13), ['2/admin,13["foo"]']),
    (SioPacket(type=EVENT, data=["foo", B1234], id=14), [f'51-14["foo",{P0}]', B1234]),
    (SioPacket(type=ACK, data=["bar"], id=14), ['314["bar"]']),
    (SioPacket(type=EVENT, data=["foo"], id=15), ['215["foo"]']),
    (SioPacket(type=BINARY_ACK, data=["bar", B1234], id=15), [f'61-15["bar",{P0}]', B1234]),
]

# Accepted, but not in the canonical form: the namespace without its trailing comma, as the
# reference test suite sends it ("40/random", "41/custom").
LENIENT_EXAMPLES: list[tuple[str, SioPacket, str]] = [
    ("0/random", SioPacket(type=CONNECT, nsp="/random"), "0/random,"),
    ("1/custom", SioPacket(type=DISCONNECT, nsp="/custom"), "1/custom,"),
    ('2/,["a"]', SioPacket(type=EVENT, data=["a"]), '2["a"]'),
    ('5001-["a",{"_placeholder":true,"num":0}]', SioPacket(type=EVENT, data=["a", b""]), ""),
]


def feed_all(messages: list[str | bytes], decoder: SioDecoder | None = None) -> SioPacket:
    decoder = decoder or SioDecoder()
    *head, last = messages
    for message in head:
        assert decoder.feed(message) is None
    packet = decoder.feed(last)
    assert packet is not None
    assert decoder.awaited_attachments == 0
    return packet


# --- the spec's examples --------------------------------------------------------------------


@pytest.mark.parametrize(("messages", "packet"), SPEC_EXAMPLES)
def test_spec_examples_decode_and_encode_back(
    messages: list[str | bytes], packet: SioPacket
) -> None:
    assert feed_all(messages) == packet
    assert encode_sio_packet(packet) == messages
    assert encode_sio_packet(feed_all(messages)) == messages


@pytest.mark.parametrize(("packet", "messages"), SPEC_PACKETS)
def test_spec_packets_encode_and_decode_back(
    packet: SioPacket, messages: list[str | bytes]
) -> None:
    assert encode_sio_packet(packet) == messages
    assert feed_all(encode_sio_packet(packet)) == packet


@pytest.mark.parametrize(("text", "packet", "canonical"), LENIENT_EXAMPLES)
def test_lenient_forms_decode(text: str, packet: SioPacket, canonical: str) -> None:
    decoder = SioDecoder()
    result = decoder.feed(text)
    if result is None:
        result = decoder.feed(b"")
    assert result == packet
    if canonical:
        assert encode_sio_packet(packet) == [canonical]


@pytest.mark.parametrize(("messages", "packet"), SPEC_EXAMPLES)
def test_spec_examples_with_trailing_garbage_are_refused(
    messages: list[str | bytes], packet: SioPacket
) -> None:
    for garbage in ["x", " ", "]", "}", ",", "1", '"']:
        with pytest.raises(RemoteProtocolError):
            feed_all([messages[0] + garbage, *messages[1:]])


@pytest.mark.parametrize(("messages", "packet"), SPEC_EXAMPLES)
def test_one_decoder_takes_every_example_in_a_row(
    messages: list[str | bytes], packet: SioPacket
) -> None:
    decoder = SioDecoder()
    for _ in range(3):
        assert feed_all(messages, decoder) == packet


def test_the_spec_test_suite_refusals() -> None:
    for text in ["abc", "2{}", '2abc["message-with-ack",1,"2",{"3":[false]}]']:
        with pytest.raises(RemoteProtocolError):
            SioDecoder().feed(text)


# --- refusals -------------------------------------------------------------------------------

REFUSALS: list[tuple[str, str]] = [
    ("", "empty"),
    ("7", "unknown Socket.IO packet type '7'"),
    ("a", "unknown Socket.IO packet type 'a'"),
    ('٢["a"]', "unknown"),
    # the attachment count
    ('5["a"]', "attachment count"),
    ('5-["a"]', "attachment count"),
    ('51["a"]', "attachment count"),
    ("51", "attachment count"),
    ('5x-["a"]', "attachment count"),
    ('5\u0663-["a"]', "attachment count"),
    ('50-["a"]', "0 attachments: allowed from 1 to 10"),
    ('511-["a"]', "11 attachments"),
    ('599999999999999999-["a"]', "attachment count"),
    # the ack id
    ('2 1["a"]', "expecting a value at index 1"),
    ('2\u0661["a"]', "expecting a value at index 1"),
    ('29007199254740992["a"]', "is above"),
    ('299999999999999999999["a"]', "is above"),
    ('01{"a":1}', "CONNECT packet cannot carry an ack id"),
    ("1/admin,3", "DISCONNECT packet cannot carry an ack id"),
    ('42{"message":"x"}', "CONNECT_ERROR packet cannot carry an ack id"),
    ("3[]", "needs an ack id"),
    ("3/admin,[]", "needs an ack id"),
    # the JSON
    ('2["a"', "invalid JSON"),
    ("2[1,]", "expecting a value at index 4"),
    ("2['a']", "invalid JSON"),
    ('2["a" ]x', "trailing data"),
    ('2["a"] ', "trailing data"),
    ('2 ["a"]', "expecting a value at index 1"),
    ('2["a"]["b"]', "trailing data"),
    ('2["a",NaN]', "NaN is not JSON"),
    ('2["a",Infinity]', "Infinity is not JSON"),
    ('2["a",-Infinity]', "-Infinity is not JSON"),
    ('2["a\x01"]', "invalid JSON"),
    ("2[" + "1" * 5000 + "]", "invalid JSON"),
    ("2" + "[" * 100_000 + "]" * 100_000, "nested too deeply"),  # a RecursionError inside
    # the payload of each type
    ("2", "non-empty array"),
    ("2null", "non-empty array"),
    ("2[]", "non-empty array"),
    ('2{"a":1}', "non-empty array"),
    ('2"a"', "non-empty array"),
    ("2[null]", "string or a finite number"),
    ("2[true]", "string or a finite number"),
    ('2[["a"]]', "string or a finite number"),
    ('2[{"a":1}]', "string or a finite number"),
    ("2[1e400]", "string or a finite number"),
    ("3", "needs an ack id"),
    ("31", "ACK payload must be an array"),
    ("31null", "ACK payload must be an array"),
    ('31{"a":1}', "ACK payload must be an array"),
    ("0null", "CONNECT payload must be an object"),
    ("0[]", "CONNECT payload must be an object"),
    ('0"token"', "CONNECT payload must be an object"),
    ("0/admin,1", "CONNECT packet cannot carry an ack id"),
    ("1{}", "DISCONNECT packet has no payload"),
    ("1null", "DISCONNECT packet has no payload"),
    ("4", "CONNECT_ERROR payload must be an object or a string"),
    ("4null", "CONNECT_ERROR payload must be an object or a string"),
    ("4[]", "CONNECT_ERROR payload must be an object or a string"),
    # placeholders
    (f"51-{P0}", "non-empty array"),
    ('51-["a"]', r"attachment\(s\) \[0\] never referred to"),
    (f'52-["a",{P0}]', r"attachment\(s\) \[1\] never referred to"),
    ('51-["a",{"_placeholder":true,"num":1}]', "refers to attachment 1"),
    ('51-["a",{"_placeholder":true,"num":-1}]', "refers to attachment -1"),
    ('51-["a",{"_placeholder":true,"num":0.0}]', "refers to attachment 0.0"),
    ('51-["a",{"_placeholder":true,"num":"0"}]', "refers to attachment '0'"),
    ('51-["a",{"_placeholder":true,"num":true}]', "refers to attachment True"),
    ('51-["a",{"_placeholder":true}]', "refers to attachment None"),
    ('51-["a",{"_placeholder":1,"num":0}]', "never referred to"),
    (f"51-[{P0}]", "string or a finite number"),
]


@pytest.mark.parametrize(("text", "message"), REFUSALS)
def test_refusals(text: str, message: str) -> None:
    decoder = SioDecoder()
    with pytest.raises(RemoteProtocolError, match=message):
        decoder.feed(text)
    # Nothing is left half-decoded: the decoder takes a good packet next.
    assert decoder.awaited_attachments == 0
    assert decoder.feed('2["ok"]') == SioPacket(type=EVENT, data=["ok"])


@pytest.mark.parametrize("name", sorted(RESERVED_EVENTS))
def test_reserved_event_names_are_refused(name: str) -> None:
    with pytest.raises(RemoteProtocolError, match="reserved event name"):
        SioDecoder().feed("2" + json.dumps([name]))
    with pytest.raises(LocalProtocolError, match="reserved event name"):
        SioPacket(type=EVENT, data=[name])


def test_numbers_are_event_names_but_bools_are_not() -> None:
    assert SioDecoder().feed("2[42]") == SioPacket(type=EVENT, data=[42])
    assert SioDecoder().feed("2[-1.5]") == SioPacket(type=EVENT, data=[-1.5])
    with pytest.raises(LocalProtocolError):
        SioPacket(type=EVENT, data=[True])
    with pytest.raises(LocalProtocolError):
        SioPacket(type=EVENT, data=[math.inf])


def test_placeholders_may_repeat_and_sit_anywhere() -> None:
    decoder = SioDecoder()
    text = f'52-["a",{{"x":[{P1},{{"y":{P0}}}]}},{P0}]'
    assert decoder.feed(text) is None
    assert decoder.awaited_attachments == 2
    assert decoder.feed(b"zero") is None
    assert decoder.awaited_attachments == 1
    packet = decoder.feed(bytearray(b"one"))  # type: ignore[arg-type]
    assert packet == SioPacket(type=EVENT, data=["a", {"x": [b"one", {"y": b"zero"}]}, b"zero"])


def test_placeholder_lookalikes_in_a_text_packet_stay_objects() -> None:
    packet = SioDecoder().feed(f'2["a",{P0}]')
    assert packet == SioPacket(type=EVENT, data=["a", {"_placeholder": True, "num": 0}])
    assert packet is not None
    assert encode_sio_packet(packet) == [f'2["a",{P0}]']


def test_text_while_attachments_are_awaited_is_refused() -> None:
    decoder = SioDecoder()
    assert decoder.feed(f'52-["a",{P0},{P1}]') is None
    assert decoder.feed(b"x") is None
    with pytest.raises(RemoteProtocolError, match="while 1 binary attachment"):
        decoder.feed('2["b"]')
    assert decoder.awaited_attachments == 0
    assert decoder.feed('2["b"]') == SioPacket(type=EVENT, data=["b"])


def test_binary_while_none_is_awaited_is_refused() -> None:
    decoder = SioDecoder()
    with pytest.raises(RemoteProtocolError, match="no binary packet was awaited"):
        decoder.feed(b"\x00")
    assert decoder.feed(f'51-["a",{P0}]') is None
    assert decoder.feed(memoryview(b"\x00")) == SioPacket(type=EVENT, data=["a", b"\x00"])  # type: ignore[arg-type]
    with pytest.raises(RemoteProtocolError, match="no binary packet was awaited"):
        decoder.feed(b"\x00")


def test_reset_drops_a_half_received_packet() -> None:
    decoder = SioDecoder()
    assert decoder.feed(f'51-["a",{P0}]') is None
    decoder.reset()
    assert decoder.awaited_attachments == 0
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\x00")


def test_max_attachments() -> None:
    many = "[" + ",".join(['"a"'] + [f'{{"_placeholder":true,"num":{i}}}' for i in range(12)]) + "]"
    with pytest.raises(RemoteProtocolError, match="12 attachments: allowed from 1 to 10"):
        SioDecoder().feed("512-" + many)
    decoder = SioDecoder(max_attachments=12)
    assert decoder.feed("512-" + many) is None
    assert decoder.awaited_attachments == 12
    with pytest.raises(RemoteProtocolError, match="allowed from 1 to 0"):
        SioDecoder(max_attachments=0).feed(f'51-["a",{P0}]')
    for bad in (-1, 1.5, None, True):
        with pytest.raises(LocalProtocolError, match="max_attachments"):
            SioDecoder(max_attachments=bad)  # type: ignore[arg-type]


def test_feed_refuses_what_is_not_a_message() -> None:
    with pytest.raises(LocalProtocolError, match="str or bytes, not int"):
        SioDecoder().feed(5)  # type: ignore[arg-type]


# --- packets built by the host --------------------------------------------------------------


def test_packet_normalises_types() -> None:
    assert SioPacket(type=2, data=["a"]) == SioPacket(type=EVENT, data=["a"])  # type: ignore[arg-type]
    assert SioPacket(type=BINARY_EVENT, data=["a"]).type is EVENT
    assert SioPacket(type=6, data=[], id=1).type is ACK  # type: ignore[arg-type]
    assert SioPacket(type=BINARY_ACK, data=[], id=1) == SioPacket(type=ACK, data=[], id=1)
    assert SioPacket(type=EVENT, data=["a"], id=0).id == 0
    assert SioPacket(type=EVENT, data=["a"], id=MAX_ACK_ID).id == MAX_ACK_ID


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": 7}, "packet type"),
        ({"type": -1}, "packet type"),
        ({"type": "2"}, "packet type"),
        ({"type": True}, "packet type"),
        ({"type": CONNECT, "nsp": "admin"}, "namespace"),
        ({"type": CONNECT, "nsp": ""}, "namespace"),
        ({"type": CONNECT, "nsp": "/a,b"}, "namespace"),
        ({"type": CONNECT, "nsp": None}, "namespace"),
        ({"type": CONNECT, "nsp": b"/a"}, "namespace"),
        ({"type": CONNECT, "nsp": "/\ud800"}, "namespace"),
        ({"type": EVENT, "data": ["a"], "id": -1}, "non-negative int"),
        ({"type": EVENT, "data": ["a"], "id": 1.0}, "non-negative int"),
        ({"type": EVENT, "data": ["a"], "id": True}, "non-negative int"),
        ({"type": EVENT, "data": ["a"], "id": MAX_ACK_ID + 1}, "is above"),
        ({"type": CONNECT, "id": 1}, "cannot carry an ack id"),
        ({"type": ACK, "data": []}, "needs an ack id"),
        ({"type": EVENT}, "non-empty array"),
        ({"type": EVENT, "data": ("a",)}, "non-empty array"),
        ({"type": EVENT, "data": [None]}, "string or a finite number"),
        ({"type": ACK, "data": None, "id": 1}, "ACK payload"),
        ({"type": ACK, "data": ("a",), "id": 1}, "ACK payload"),
        ({"type": CONNECT, "data": []}, "CONNECT payload"),
        ({"type": DISCONNECT, "data": {}}, "DISCONNECT packet has no payload"),
        ({"type": CONNECT_ERROR}, "CONNECT_ERROR payload"),
        ({"type": CONNECT_ERROR, "data": 5}, "CONNECT_ERROR payload"),
    ],
)
def test_packet_refuses_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        SioPacket(**kwargs)


def test_packet_is_frozen() -> None:
    packet = SioPacket(type=EVENT, data=["a"])
    with pytest.raises(AttributeError):
        packet.nsp = "/b"  # type: ignore[misc]


# --- encoding details -----------------------------------------------------------------------


def test_encoding_is_compact_and_keeps_unicode_like_json_stringify() -> None:
    packet = SioPacket(type=EVENT, data=["msg", {"text": "héllo €😀", "n": [1, 2.5]}])
    assert encode_sio_packet(packet) == ['2["msg",{"text":"héllo €😀","n":[1,2.5]}]']
    assert encode_sio_packet(SioPacket(type=CONNECT_ERROR, data="nope")) == ['4"nope"']
    assert encode_sio_packet(SioPacket(type=EVENT, data=["a\x1e\n"])) == ['2["a\\u001e\\n"]']


def test_lone_surrogates_are_escaped_so_the_frame_stays_utf8() -> None:
    packet = SioDecoder().feed('2["\\ud800",{"\\udfff":"é"}]')
    assert packet == SioPacket(type=EVENT, data=["\ud800", {"\udfff": "é"}])
    assert packet is not None
    (text,) = encode_sio_packet(packet)
    assert text == '2["\\ud800",{"\\udfff":"\\u00e9"}]'
    text.encode("utf-8")
    assert SioDecoder().feed(text) == packet
    binary = SioPacket(type=EVENT, data=["\ud800", b"x"])
    assert encode_sio_packet(binary) == [f'51-["\\ud800",{P0}]', b"x"]


def test_non_finite_numbers_are_written_as_null_like_json_stringify() -> None:
    packet = SioPacket(type=EVENT, data=["a", math.nan, [math.inf, {"k": -math.inf}], (1.5,)])
    assert encode_sio_packet(packet) == ['2["a",null,[null,{"k":null}],[1.5]]']
    binary = SioPacket(type=ACK, data=[math.nan, b"x"], id=3)
    assert encode_sio_packet(binary) == [f"61-3[null,{P0}]", b"x"]
    assert encode_sio_packet(SioPacket(type=CONNECT, data={"x": math.inf})) == ['0{"x":null}']
    # 1e400 from a peer is inf, as in JavaScript, and goes back out as null.
    decoded = SioDecoder().feed('2["a",1e400]')
    assert decoded == SioPacket(type=EVENT, data=["a", math.inf])
    assert decoded is not None
    assert encode_sio_packet(decoded) == ['2["a",null]']


def test_data_json_cannot_hold_raises_type_error() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_sio_packet(SioPacket(type=EVENT, data=["a", {1, 2}]))
    with pytest.raises(TypeError, match="set"):
        encode_sio_packet(SioPacket(type=EVENT, data=["a", b"x", {1, 2}]))
    with pytest.raises(TypeError, match="bytes"):
        encode_sio_packet(SioPacket(type=CONNECT, data={"a": b"x"}))
    with pytest.raises(TypeError, match="bytes"):
        encode_sio_packet(SioPacket(type=CONNECT_ERROR, data={"a": b"x"}))
    with pytest.raises(TypeError):
        encode_sio_packet(SioPacket(type=EVENT, data=["a", {b"key": 1}]))
    with pytest.raises(ValueError):
        encode_sio_packet(SioPacket(type=EVENT, data=["a", {math.nan: 1}]))


def test_attachments_are_numbered_depth_first_and_bytes_likes_accepted() -> None:
    data = [
        "a",
        {"x": bytearray(b"1"), "y": [memoryview(b"2"), {"z": b"3"}]},
        b"4",
        ("t", b"5"),
    ]
    text, *attachments = encode_sio_packet(SioPacket(type=EVENT, data=data, nsp="/n", id=7))
    assert text == (
        '55-/n,7["a",{"x":{"_placeholder":true,"num":0},"y":[{"_placeholder":true,"num":1},'
        '{"z":{"_placeholder":true,"num":2}}]},{"_placeholder":true,"num":3},'
        '["t",{"_placeholder":true,"num":4}]]'
    )
    assert attachments == [b"1", b"2", b"3", b"4", b"5"]
    assert all(type(a) is bytes for a in attachments)


def test_pure_python_encoder_agrees_with_the_c_one(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ["é", {"a": [1, 2.5, None, True]}, "\ud800"]
    c_dumps = _socketio._make_dumps(ascii_only=False, default=_socketio._not_json, use_c=True)
    py_dumps = _socketio._make_dumps(ascii_only=False, default=_socketio._not_json, use_c=False)
    assert c_dumps(data) == py_dumps(data)
    monkeypatch.setattr(_socketio, "_HAS_C_ENCODER", False)
    packet = SioPacket(type=EVENT, data=["a", b"x", math.nan, "\ud800"])
    assert encode_sio_packet(packet) == [f'51-["a",{P0},null,"\\ud800"]', b"x"]


# --- properties -----------------------------------------------------------------------------

keys = st.text(max_size=8).filter(lambda k: k != "_placeholder")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),  # lone surrogates included: they must survive the round trip
    st.binary(max_size=12),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
json_like_text = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
namespaces = st.one_of(
    st.just("/"),
    st.text(st.characters(codec="utf-8"), max_size=10)
    .filter(lambda n: "," not in n)
    .map(lambda n: "/" + n),
)
ack_ids = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_ACK_ID))
event_names = st.one_of(
    st.text(max_size=10).filter(lambda n: n not in RESERVED_EVENTS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def sio_packets(draw: st.DrawFn) -> SioPacket:
    packet_type = draw(st.sampled_from([CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR]))
    nsp = draw(namespaces)
    if packet_type is EVENT:
        data = [draw(event_names), *draw(st.lists(json_like, max_size=4))]
        return SioPacket(type=EVENT, nsp=nsp, data=data, id=draw(ack_ids))
    if packet_type is ACK:
        data = draw(st.lists(json_like, max_size=4))
        ack_id = draw(st.integers(min_value=0, max_value=MAX_ACK_ID))
        return SioPacket(type=ACK, nsp=nsp, data=data, id=ack_id)
    if packet_type is CONNECT:
        auth = draw(st.none() | st.dictionaries(keys, json_like_text, max_size=4))
        return SioPacket(type=CONNECT, nsp=nsp, data=auth)
    if packet_type is DISCONNECT:
        return SioPacket(type=DISCONNECT, nsp=nsp)
    error = draw(st.text(max_size=10) | st.dictionaries(keys, json_like_text, max_size=4))
    return SioPacket(type=CONNECT_ERROR, nsp=nsp, data=error)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(sio_packets())
def test_round_trip(packet: SioPacket) -> None:
    messages = encode_sio_packet(packet)
    assert isinstance(messages[0], str)
    messages[0].encode("utf-8")  # always sendable as a text frame
    assert all(isinstance(m, bytes) for m in messages[1:])
    # The encoder has no attachment limit (neither has the reference one); decoders do.
    decoded = feed_all(messages, SioDecoder(max_attachments=len(messages)))
    assert decoded == packet
    assert encode_sio_packet(decoded) == messages


@settings(max_examples=200, deadline=None, derandomize=True)
@given(sio_packets())
def test_python_socketio_reads_what_we_write_and_we_read_what_it_writes(
    packet: SioPacket,
) -> None:
    sio_packet = pytest.importorskip("socketio.packet")
    assume("?" not in packet.nsp)  # python-socketio strips a query string from namespaces
    messages = encode_sio_packet(packet)
    theirs = sio_packet.Packet(encoded_packet=messages[0])
    for attachment in messages[1:]:
        theirs.add_attachment(attachment)
    assert theirs.data == packet.data
    assert (theirs.namespace or "/") == packet.nsp
    assert theirs.id == packet.id
    if packet.data is not None and packet.type in (EVENT, ACK):
        written = sio_packet.Packet(
            int(packet.type), data=packet.data, namespace=packet.nsp, id=packet.id
        ).encode()
        written = written if isinstance(written, list) else [written]
        assert feed_all(written, SioDecoder(max_attachments=len(written))) == packet


# --- fuzz -----------------------------------------------------------------------------------

SEEDS = [messages for messages, _ in SPEC_EXAMPLES] + [
    [text] for text, _ in REFUSALS if len(text) < 100
]
ALPHABET = '0123456-/,[]{}":_placeholdernumtrue\\ud800é 9e+.'


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        action = rng.randrange(4)
        position = rng.randint(0, len(chars))
        if action == 0:
            chars = chars[: rng.randint(0, len(chars))]  # truncation
        elif action == 1 and chars:
            position = min(position, len(chars) - 1)
            chars[position] = chr(ord(chars[position]) ^ (1 << rng.randrange(7)))  # flip
        elif action == 2:
            chars.insert(position, rng.choice(ALPHABET))  # insertion
        elif chars:
            chars.insert(position, chars[min(position, len(chars) - 1)])  # duplication
    return "".join(chars)


def _feed_checked(decoder: SioDecoder, message: str | bytes) -> None:
    try:
        packet = decoder.feed(message)
    except RemoteProtocolError:
        assert decoder.awaited_attachments == 0
        return
    if packet is not None:
        # Whatever a peer gets through can be sent back out, and read again.
        assert isinstance(packet, SioPacket)
        again = feed_all(encode_sio_packet(packet))
        assert again.type is packet.type
        assert again.nsp == packet.nsp
        assert again.id == packet.id


def test_fuzz_only_packets_or_remote_protocol_errors() -> None:
    rng = random.Random(5)
    decoder = SioDecoder(max_attachments=3)
    count = 0
    while count < 24_000:
        roll = rng.random()
        if roll < 0.7:
            seed = rng.choice(SEEDS)
            messages: list[str | bytes] = [_mutate(rng, str(seed[0])), *seed[1:]]
            if rng.random() < 0.2:
                messages = messages[: rng.randint(0, len(messages))]  # drop attachments
        elif roll < 0.85:
            size = rng.randint(0, 24)
            messages = ["".join(rng.choice(ALPHABET) for _ in range(size))]
        else:
            messages = [rng.randbytes(rng.randint(0, 8))]
        for message in messages:
            _feed_checked(decoder, message)
            count += 1


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=8)), max_size=5))
def test_fuzz_arbitrary_message_sequences(messages: list[str | bytes]) -> None:
    decoder = SioDecoder()
    for message in messages:
        _feed_checked(decoder, message)


def test_a_namespace_with_a_lone_surrogate_is_refused_by_the_decoder() -> None:
    # The machine could not even answer it: SioPacket refuses such a namespace when built.
    with pytest.raises(RemoteProtocolError, match="lone surrogate"):
        SioDecoder().feed("0/\ud800,")
    with pytest.raises(RemoteProtocolError, match="lone surrogate"):
        SioDecoder().feed('2/\ud800,["x"]')
