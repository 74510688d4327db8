"""The cluster's wire codec against every message Node's adapter and emitter published.

Every payload of the three fixtures decodes to the fixture's ``decoded``, and re-encoding
``decoded`` gives the exact bytes back. The one known exception is notepack's ``1e300``,
which it writes as the (wrong) uint64 0: asserted explicitly below.
"""

from __future__ import annotations

import datetime
import math
import subprocess
import sys
from typing import Any

import _fixtures
import pytest
from _fixtures import decoded, load, payload

from sansio_rooms import _cluster_wire as wire
from sansio_rooms._cluster_wire import EMITTER_UID, ClusterMessageType, RequestType
from sansio_rooms._errors import LocalProtocolError, RemoteProtocolError

MESSAGES = [
    pytest.param(name, scenario["name"], message, id=f"{name[5:-9]}:{scenario['name']}:{i}")
    for name in _fixtures.ALL
    for scenario, message in load(name).messages()
    for i in [message["index"]]
]

# notepack.io writes an integral double beyond 64 bits as a uint64 that is wrong: 1e300 -> 0.
NOTEPACK_1E300 = b"\xcf" + bytes(8)
# What msgpack (and a correct encoder) writes for 1e300: a float64.
FLOAT64_1E300 = b"\xcb\x7e\x37\xe4\x3c\x88\x00\x75\x9c"


def _is_classic_broadcast(name: str, message: dict[str, Any]) -> bool:
    channel = message["channel"]
    return not load(name).sharded and "-request#" not in channel and "-response#" not in channel


def _is_variety(scenario: str) -> bool:
    return scenario.endswith("encoding-variety")


# -- every fixture message --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scenario", "message"), MESSAGES)
def test_fixture_payload_decodes_to_decoded(
    name: str, scenario: str, message: dict[str, Any]
) -> None:
    data = payload(message)
    expected = decoded(message)
    if _is_classic_broadcast(name, message):
        assert message["encoding"] == "msgpack"
        assert wire.unpack(data) == expected
    assert wire.decode_message(data) == expected
    # The receivers' rule tells the encodings apart by the first byte.
    assert wire.is_json(data) is (message["encoding"] == "json")
    if message["encoding"] == "json":
        assert data.decode("utf-8") == message["payload_utf8"]
        # A str payload (a client library that decodes channels and messages) works too.
        assert wire.decode_message(message["payload_utf8"]) == expected


@pytest.mark.parametrize(("name", "scenario", "message"), MESSAGES)
def test_fixture_decoded_reencodes_to_the_exact_bytes(
    name: str, scenario: str, message: dict[str, Any]
) -> None:
    data = payload(message)
    value = decoded(message)
    if message["encoding"] == "json":
        assert wire.to_json(value).encode("utf-8") == data
        return
    if _is_variety(scenario):
        # The one known exception: notepack wrote 1e300 as cf 00 00 00 00 00 00 00 00 (the
        # integer 0, so `decoded` holds 0), which re-encodes as the fixint 00.
        assert data.count(NOTEPACK_1E300) == 1
        assert wire.pack(value) == data.replace(NOTEPACK_1E300, b"\x00")
        return
    assert wire.pack(value) == data


@pytest.mark.parametrize(
    "name", [n for n in _fixtures.ALL if "encoding-variety" in str(load(n).scenarios)]
)
def test_notepack_1e300_is_the_one_difference_and_we_write_a_float64(name: str) -> None:
    fixture = load(name)
    scenario = next(s for s in fixture.scenarios.values() if _is_variety(s["name"]))
    (message,) = scenario["messages"]
    data = payload(message)
    value = decoded(message)
    args = value[1]["data"] if isinstance(value, list) else value["data"]["packet"]["data"]
    # Node's local clients got 1e300; the message (so every remote client) carries 0.
    index = args.index(0, 2)  # the first 0 after the event name and the leading 0
    assert args[index] == 0 and type(args[index]) is int
    for delivery in scenario["deliveries"]:
        local = fixture.clients[delivery["to"]]["server"] == message["publisher"][:2]
        assert delivery["args"][index - 1] == (1e300 if local else 0)
    # Written by a Python server, the argument 1e300 goes out as a float64, 9 bytes where
    # notepack wrote 9 bytes: a deliberate byte difference, and the right value.
    args[index] = 1e300
    ours = wire.pack(value)
    assert ours == data.replace(NOTEPACK_1E300, FLOAT64_1E300)
    assert wire.unpack(ours) == value
    # The other way: what Node sent decodes to 0, as in Node.
    assert wire.decode_message(data) != value


def test_fixture_dates_are_msgpack_timestamps() -> None:
    fixture = load(_fixtures.ADAPTER)
    (message,) = fixture.scenario("broadcast-encoding-variety")["messages"]
    data = payload(message)
    whole = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    fraction = whole.replace(microsecond=678000)
    args = wire.unpack(data)[1]["data"]
    assert whole in args and fraction in args
    # Timestamp 32 (d6 ff) for whole seconds, timestamp 64 (d7 ff) otherwise, as notepack.
    assert wire.pack(whole) == b"\xd6\xff" + data.split(b"\xd6\xff")[1][:4]
    assert wire.pack(fraction)[:2] == b"\xd7\xff"
    assert wire.pack(fraction) in data


def test_sharded_binary_rule_matches_node() -> None:
    """Sharded messages are MessagePack exactly when their data holds binary."""
    fixture = load(_fixtures.SHARDED)
    seen = set()
    for _, message in fixture.messages():
        value = decoded(message)
        seen.add(message["encoding"])
        assert wire.has_binary(value["data"]) is (message["encoding"] == "msgpack")
    assert seen == {"json", "msgpack"}


def test_classic_responses_type_9_are_msgpack_even_without_binary() -> None:
    fixture = load(_fixtures.ADAPTER)
    acks = [m for _, m in fixture.messages() if decoded(m).__class__ is dict]
    acks = [m for m in acks if decoded(m).get("type") == RequestType.BROADCAST_ACK]
    assert len(acks) == 6
    assert any(not wire.has_binary(decoded(m)) for m in acks)
    assert all(m["encoding"] == "msgpack" for m in acks)


# -- enums and constants ----------------------------------------------------------------------


def test_request_types_are_nodes() -> None:
    assert [t.name for t in RequestType] == [
        "SOCKETS",
        "ALL_ROOMS",
        "REMOTE_JOIN",
        "REMOTE_LEAVE",
        "REMOTE_DISCONNECT",
        "REMOTE_FETCH",
        "SERVER_SIDE_EMIT",
        "BROADCAST",
        "BROADCAST_CLIENT_COUNT",
        "BROADCAST_ACK",
    ]
    assert [int(t) for t in RequestType] == list(range(10))


def test_cluster_message_types_are_nodes() -> None:
    assert [int(t) for t in ClusterMessageType] == list(range(1, 14))
    assert ClusterMessageType.BROADCAST == 3
    assert ClusterMessageType.FETCH_SOCKETS_RESPONSE == 8
    assert ClusterMessageType.BROADCAST_ACK == 12
    assert ClusterMessageType.ADAPTER_CLOSE == 13


def test_emitter_uid() -> None:
    assert EMITTER_UID == "emitter"
    emitted = [decoded(m) for _, m in load(_fixtures.EMITTER).messages()]
    assert {m[0] for m in emitted if isinstance(m, list)} == {EMITTER_UID}


# -- pack / unpack ----------------------------------------------------------------------------


def test_pack_writes_bytes_as_bin_and_str_as_str() -> None:
    assert wire.pack(b"\x01") == b"\xc4\x01\x01"
    assert wire.pack(bytearray(b"\x01")) == b"\xc4\x01\x01"
    assert wire.pack("é") == b"\xa2\xc3\xa9"
    assert (
        wire.pack({"a": [1, None, True, 2.5]})
        == b"\x81\xa1a\x94\x01\xc0\xc3\xcb@\x04\x00\x00\x00\x00\x00\x00"
    )


def test_pack_refuses_what_msgpack_cannot_hold_with_type_error() -> None:
    with pytest.raises(TypeError, match="MessagePack"):
        wire.pack(2**64)  # beyond 64 bits: notepack would write garbage, we refuse
    with pytest.raises(TypeError, match="MessagePack"):
        wire.pack(datetime.datetime(2024, 1, 1))  # naive: no instant to send
    with pytest.raises(TypeError):
        wire.pack({1, 2})
    nested: Any = 1
    for _ in range(2000):
        nested = [nested]
    with pytest.raises(TypeError, match="MessagePack"):
        wire.pack(nested)


def test_unpack_gives_aware_datetimes_and_int_keys() -> None:
    assert wire.unpack(b"\xd6\xff\x00\x00\x00\x00") == datetime.datetime(
        1970, 1, 1, tzinfo=datetime.UTC
    )
    assert wire.unpack(b"\x81\x01\xa1x") == {1: "x"}  # notepack writes no such map, but a peer may


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\xc1",  # never used
        b"\x92\x01",  # truncated
        b"\x91" * 2000 + b"\x01",  # nested too deeply
        b"\x81\x91\x01\x01",  # a list as a map key
        b"\x01\x02",  # extra data
    ],
)
def test_unpack_garbage_raises_remote_protocol_error(garbage: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="MessagePack"):
        wire.unpack(garbage)
    with pytest.raises(RemoteProtocolError):
        wire.decode_message(garbage)


# -- JSON -------------------------------------------------------------------------------------


def test_to_json_is_json_stringify() -> None:
    assert wire.to_json({"b": 1, "a": [None, True, "é"]}) == '{"b":1,"a":[null,true,"é"]}'
    # A Buffer and a Date as JSON.stringify writes them (classic serverSideEmit with a Buffer).
    assert wire.to_json([b"\x01\x02"]) == '[{"type":"Buffer","data":[1,2]}]'
    assert wire.to_json(memoryview(b"\xff")) == '{"type":"Buffer","data":[255]}'
    when = datetime.datetime(2026, 12, 1, 4, 55, 13, 975000, tzinfo=datetime.UTC)
    assert wire.to_json(when) == '"2026-12-01T04:55:13.975Z"'


def test_to_json_writes_non_finite_numbers_as_null() -> None:
    # JSON.stringify(NaN) and JSON.stringify(Infinity) are "null".
    assert wire.to_json([math.nan, math.inf, -math.inf, 1.5]) == "[null,null,null,1.5]"
    assert wire.to_json({"x": {"y": math.inf}}) == '{"x":{"y":null}}'


def test_to_json_refuses_what_json_cannot_hold_with_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        wire.to_json({1, 2})
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(TypeError, match="JSON"):
        wire.to_json(circular)
    nested: Any = 1
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(TypeError, match="JSON"):
        wire.to_json(nested)


def test_decode_message_json_and_msgpack() -> None:
    assert wire.decode_message(b'{"a":1}') == {"a": 1}
    assert wire.decode_message('{"a":"é"}') == {"a": "é"}
    assert wire.decode_message(b"\x81\xa1a\x01") == {"a": 1}
    # A str that is not JSON is MessagePack read with surrogateescape (bytes kept as they were).
    assert wire.decode_message(b"\x81\xa1a\x01".decode("utf-8", "surrogateescape")) == {"a": 1}


@pytest.mark.parametrize(
    "garbage",
    [b"{", b"{nope}", b'{"a":NaN-}', b"{" + b"[" * 100_000, b'{"a":"\xff"}'],
)
def test_decode_message_bad_json_raises_remote_protocol_error(garbage: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="JSON"):
        wire.decode_message(garbage)


def test_is_json() -> None:
    assert wire.is_json(b"{}") and wire.is_json("{}")
    assert not wire.is_json(b"") and not wire.is_json("") and not wire.is_json(b"[")
    assert not wire.is_json(b"\x93")


# -- has_binary, rooms, keys ------------------------------------------------------------------


def test_has_binary_anywhere() -> None:
    assert not wire.has_binary(None)
    assert not wire.has_binary({"a": [1, "x", {"b": (2.5,)}]})
    assert wire.has_binary(b"")
    assert wire.has_binary([1, {"a": (bytearray(b"x"),)}])
    assert wire.has_binary({"a": {"b": [memoryview(b"x")]}})
    assert not wire.has_binary({b"key": 1})  # keys are not looked at (JS keys are strings)
    deep: Any = b"x"
    for _ in range(100_000):
        deep = [deep]
    assert wire.has_binary(deep)  # iterative: a peer chooses the depth


def test_rooms_from_wire() -> None:
    assert wire.rooms_from_wire(None, "rooms") == ()
    assert wire.rooms_from_wire([], "rooms") == ()
    assert wire.rooms_from_wire(["a", 42, "réunion"], "rooms") == ("a", 42, "réunion")
    for bad in ("room1", {"rooms": []}, 42, (1,)):
        with pytest.raises(RemoteProtocolError, match="not a list of rooms"):
            wire.rooms_from_wire(bad, "opts.rooms")
    for bad_room in (True, 1.5, None, ["a"], {"a": 1}, b"a"):
        with pytest.raises(RemoteProtocolError, match=r"opts\.except holds a room"):
            wire.rooms_from_wire(["ok", bad_room], "opts.except")


def test_room_channel_name_is_string_of_room() -> None:
    assert wire.room_channel_name("room1") == "room1"
    assert wire.room_channel_name(42) == "42"
    assert wire.room_channel_name(-7) == "-7"


def test_check_key() -> None:
    assert wire.check_key("key", "socket.io") == "socket.io"
    for bad in ("", "a#b", None, 5, b"key"):
        with pytest.raises(LocalProtocolError, match="key must be a non-empty string"):
            wire.check_key("key", bad)


# -- msgpack is optional ----------------------------------------------------------------------


def test_missing_msgpack_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "_packer", None)
    monkeypatch.setattr(wire, "_unpacker", None)
    monkeypatch.setitem(sys.modules, "msgpack", None)  # `import msgpack` raises ImportError
    with pytest.raises(ImportError, match=r"sansio-rooms\[cluster\]"):
        wire.pack([1])
    with pytest.raises(ImportError, match=r"sansio-rooms\[cluster\]"):
        wire.unpack(b"\x01")
    # JSON needs nothing.
    assert wire.decode_message(b'{"a":1}') == {"a": 1}


def test_msgpack_is_loaded_once() -> None:
    wire.pack(1)
    packer, unpacker = wire._packer, wire._unpacker
    assert packer is not None and unpacker is not None
    assert wire.unpack(wire.pack([1])) == [1]
    assert (wire._packer, wire._unpacker) == (packer, unpacker)


def test_core_imports_without_msgpack() -> None:
    script = """
import sys
sys.modules["msgpack"] = None  # as if it were not installed
import sansio_rooms
from sansio_rooms import _cluster, _cluster_wire
assert "msgpack" not in sys.modules or sys.modules["msgpack"] is None
# The rest of the core works.
from sansio_rooms import RoomEngine
engine = RoomEngine()
engine.namespace("/").connect("a")
# JSON requests still decode; MessagePack needs the extra.
assert _cluster_wire.decode_message(b'{"type":1}') == {"type": 1}
try:
    _cluster_wire.pack([1])
except ImportError as error:
    print(error)
else:
    raise SystemExit("pack() worked without msgpack")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'sansio-rooms[cluster]'" in result.stdout
