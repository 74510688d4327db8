"""The wire format of Node's ``@socket.io/redis-streams-adapter`` 0.3 (``_streams_wire``).

Unit and property tests of the codec, then golden tests against the real package
(``node/streams_capture.cjs``, on a ``redis-server`` of the module's own):

* *capture*: two Node servers broadcast, join, leave, disconnect, fetch, emit server-side,
  leave a session behind and recover one. Every stream entry and pub/sub message decodes to
  the message expected, re-encodes to Node's exact bytes (the XADD arguments as MONITOR saw
  them, the PUBLISH payloads), every XREAD / XRANGE / SET / MULTI Node sent is the command
  built here, Node's session decodes, and :func:`missed_packets` finds what Node replayed;
* *serve*: what this module writes (XADD, PUBLISH, SET) is understood by a Node server: its
  clients get the broadcasts with the entry ids as offsets, sockets join, leave and are
  disconnected, server-side emits and requests are answered, and a session written here is
  restored by Node with its missed packets.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _harness import NODE_DIR, JsonLineProcess, _node_executable
from _redis import RedisServer
from hypothesis import given
from hypothesis import strategies as st

from sansio_rooms import _streams_wire as sw
from sansio_rooms._cluster_wire import MAY_CARRY_BINARY, pack
from sansio_rooms._cluster_wire import ClusterMessageType as T
from sansio_rooms._errors import LocalProtocolError, RemoteProtocolError
from sansio_rooms._resp import RespParser, encode_command

SCRIPT = NODE_DIR / "streams_capture.cjs"


def broadcast(
    args: list[Any],
    rooms: list[Any] | None = None,
    except_: list[Any] | None = None,
    flags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A BROADCAST's data, as Node's operator builds it."""
    return {
        "packet": {"type": 2, "data": args},
        "opts": {"rooms": rooms or [], "except": except_ or [], "flags": flags or {}},
    }


def selection(rooms: list[Any], except_: list[Any] | None = None) -> dict[str, Any]:
    return {"rooms": rooms, "except": except_ or [], "flags": {}}


def entry(entry_id: str = "1-0", **fields: str) -> sw.StreamEntry:
    return sw.StreamEntry(entry_id, fields)


# -- names and commands -----------------------------------------------------------------------


def test_commands_have_nodes_defaults() -> None:
    fields = ["uid", "u", "nsp", "/", "type", "4", "data", '{"rooms":["a"]}']
    assert sw.xadd_command("socket.io", "u", "/", T.SOCKETS_JOIN, {"rooms": ["a"]}) == [
        "XADD", "socket.io", "MAXLEN", "~", "10000", "*", *fields,
    ]  # fmt: skip
    assert sw.xadd_command("s", "u", "/", T.HEARTBEAT, max_len=5)[4:] == [
        "5", "*", "uid", "u", "nsp", "/", "type", "2",
    ]  # fmt: skip
    assert sw.xread_command("socket.io") == [
        "XREAD", "COUNT", "100", "BLOCK", "5000", "STREAMS", "socket.io", "$",
    ]  # fmt: skip
    assert sw.xread_command("s", "1-2", count=7, block_ms=0)[1:] == [
        "COUNT", "7", "BLOCK", "0", "STREAMS", "s", "1-2",
    ]  # fmt: skip
    assert sw.xrange_command("s", "1-2") == ["XRANGE", "s", "1-2", "+"]
    assert sw.public_channel("/chat") == "socket.io#/chat#"
    assert sw.response_channel("/", "abc", prefix="p") == "p#/#abc#"
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(LocalProtocolError, match="max_len"):
            sw.xadd_command("s", "u", "/", T.BROADCAST, {}, max_len=bad)  # type: ignore[arg-type]


def test_stream_names() -> None:
    assert sw.stream_name_of("/anything") == "socket.io"
    assert sw.stream_names() == ["socket.io"]
    assert sw.stream_names(stream_name="m", stream_count=3) == ["m-0", "m-1", "m-2"]
    assert sw.stream_name_of("/", stream_name="m", stream_count=3) == "m-2"
    # JavaScript's remainder keeps the dividend's sign; -0 is written "0".
    assert sw.stream_name_of("/zzzzzzzzzz", stream_name="m", stream_count=3) == "m--1"
    assert sw.stream_name_of("/a-b-c-d-e-f", stream_name="m", stream_count=3) == "m-0"
    for bad in (0, -1, 2.0, True):
        with pytest.raises(LocalProtocolError, match="stream_count"):
            sw.stream_name_of("/", stream_count=bad)  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError, match="stream_count"):
            sw.stream_names(stream_count=bad)  # type: ignore[arg-type]


def test_offsets() -> None:
    assert sw.is_offset("0-0") and sw.is_offset("1796142864397-4")
    for bad in (
        "$",
        "1",
        "1-",
        "-1",
        "1-2-3",
        "a-1",
        "1-2\n",
        "\u0661-1",
        "1" * 21 + "-0",
        1,
        None,
    ):
        assert not sw.is_offset(bad), bad
    assert sw.next_offset("1796142864397-4") == "1796142864397-5"
    assert sw.next_offset("5-09") == "5-10"
    with pytest.raises(LocalProtocolError):
        sw.next_offset("$")
    assert sw.offset_of_xadd_reply(b"17-3") == "17-3"
    assert sw.offset_of_xadd_reply("17-3") == "17-3"
    for reply in (None, 3, b"OK", [b"1-0"]):
        with pytest.raises(RemoteProtocolError):
            sw.offset_of_xadd_reply(reply)


def test_ephemeral_messages_go_over_pubsub() -> None:
    assert not sw.is_ephemeral(T.BROADCAST, broadcast(["e"]))
    assert not sw.is_ephemeral(T.BROADCAST, None)
    assert sw.is_ephemeral(T.BROADCAST, {**broadcast(["e"]), "requestId": "r"})
    assert sw.is_ephemeral(T.SERVER_SIDE_EMIT, {"packet": ["e"]})
    assert sw.is_ephemeral(T.FETCH_SOCKETS, {"opts": selection([]), "requestId": "r"})
    for kind in (T.SOCKETS_JOIN, T.SOCKETS_LEAVE, T.DISCONNECT_SOCKETS):
        assert not sw.is_ephemeral(kind, {"opts": selection([])})


def test_takes_offset() -> None:
    assert sw.takes_offset(broadcast(["e", 1]))
    assert not sw.takes_offset(broadcast(["e"], flags={"volatile": True}))
    assert not sw.takes_offset(broadcast(["e"], flags={"volatile": None}))  # nil is not undefined
    assert not sw.takes_offset({**broadcast(["e"]), "requestId": "r"})
    assert not sw.takes_offset({"packet": {"type": 2, "data": ["e"], "id": 3}, "opts": {}})
    assert not sw.takes_offset({"packet": {"type": 3, "data": ["e"]}, "opts": {}})
    assert not sw.takes_offset({"packet": {"type": 2, "data": "e"}, "opts": {}})
    assert not sw.takes_offset({"packet": None})
    assert sw.takes_offset({"packet": {"type": 2, "data": []}})  # no opts: no volatile flag


# -- the stream: encoding and decoding --------------------------------------------------------


def test_json_unless_binary_where_binary_may_be() -> None:
    text = sw.entry_fields("u", "/", T.BROADCAST, broadcast(["e", "é"]))
    assert (
        text[-1]
        == '{"packet":{"type":2,"data":["e","é"]},"opts":{"rooms":[],"except":[],"flags":{}}}'
    )
    binary = sw.entry_fields("u", "/", T.BROADCAST, broadcast(["e", b"\x01"]))
    assert binary[-1] == base64.b64encode(pack(broadcast(["e", b"\x01"]))).decode()
    plain = sw.entry_fields("u", "/", T.BROADCAST, broadcast([b"\x01"]), only_plaintext=True)
    assert '{"type":"Buffer","data":[1]}' in plain[-1]
    # a type that cannot carry binary: JSON whatever it holds (as Node)
    join = sw.entry_fields("u", "/", T.SOCKETS_JOIN, {"rooms": [b"\x01"]})
    assert join[-1] == '{"rooms":[{"type":"Buffer","data":[1]}]}'
    with pytest.raises(TypeError):
        sw.entry_fields("u", "/", T.BROADCAST, broadcast([{1, 2}]))


def test_decode_entry() -> None:
    message = sw.decode_entry(entry(uid="u", nsp="/", type="6", data='{"close":true}'))
    assert message == {"uid": "u", "nsp": "/", "type": 6, "data": {"close": True}}
    assert sw.decode_entry(entry(uid="u", nsp="/", type="2")) == {"uid": "u", "nsp": "/", "type": 2}
    assert sw.decode_entry(entry(uid="u", nsp="/", type="2", data="")) == {
        "uid": "u", "nsp": "/", "type": 2,
    }  # fmt: skip
    # Node skips an entry without a namespace (and goes on from its id)
    assert sw.decode_entry(entry(uid="u", type="3", data="{}")) is None
    assert sw.decode_entry(entry(nsp="", uid="u")) is None


MALFORMED_FIELDS = [
    {"nsp": "/", "type": "3"},
    {"nsp": "/", "uid": "u"},
    {"nsp": "/", "uid": "u", "type": "03"},
    {"nsp": "/", "uid": "u", "type": "x"},
    {"nsp": "/", "uid": "u", "type": "-1"},
    {"nsp": "/", "uid": "u", "type": "3", "data": "{"},
    {"nsp": "/", "uid": "u", "type": "3", "data": "not base64!"},
    {"nsp": "/", "uid": "u", "type": "3", "data": "é"},
    {"nsp": "/", "uid": "u", "type": "3", "data": base64.b64encode(b"\xc1").decode()},
    {"nsp": "/", "uid": "u", "type": "3", "data": base64.b64encode(b"\x93\x01\x02\x03").decode()},
]


@pytest.mark.parametrize("fields", MALFORMED_FIELDS)
def test_malformed_entries(fields: dict[str, str]) -> None:
    with pytest.raises(RemoteProtocolError):
        sw.decode_entry(sw.StreamEntry("1-0", fields))


def test_entries_of_replies() -> None:
    raw = [[b"1-1", [b"uid", b"u", b"nsp", b"/", b"nsp", b"/chat", b"\xff", b"x"]]]
    (one,) = sw.entries_of_xrange_reply(raw)
    assert one == sw.StreamEntry("1-1", {"uid": "u", "nsp": "/chat", "\ufffd": "x"})
    assert sw.entries_of_xrange_reply([("2-0", {"nsp": "/"})]) == [entry("2-0", nsp="/")]
    assert sw.entries_of_xrange_reply([]) == []
    assert sw.entries_of_xread_reply(None) == []
    assert sw.entries_of_xread_reply([[b"s", raw], [b"t", [[b"2-0", []]]]]) == [one, entry("2-0")]
    assert sw.entries_of_xread_reply({b"s": raw}) == [one]  # RESP3 / redis-py shapes
    for reply in (b"x", 1, [b"s"], [[b"s", b"x"]], [[b"s", raw, raw]], [1]):
        with pytest.raises(RemoteProtocolError):
            sw.entries_of_xread_reply(reply)
    bad_entries = [
        [b"1-0"],
        b"1-0",
        [b"x", []],
        [1, []],
        [b"1-0", [b"odd"]],
        [b"1-0", b"uid u"],
        [b"1-0", [b"uid", 1]],
        [b"1-0", [None, b"u"]],
    ]
    for bad in bad_entries:
        with pytest.raises(RemoteProtocolError):
            sw.entries_of_xrange_reply([bad])
    with pytest.raises(RemoteProtocolError):
        sw.entries_of_xrange_reply(None)


def test_an_xread_reply_through_the_resp_parser_whole_and_byte_by_byte() -> None:
    data = sw.entry_fields("u", "/", T.BROADCAST, broadcast(["e", b"\x00\r\n"]))
    reply = [[b"socket.io", [[b"5-0", [f.encode() for f in data]], [b"5-1", [b"nsp", b""]]]]]
    wire = _resp(reply) + b"+OK\r\n"
    for chunks in ([wire], [wire[i : i + 1] for i in range(len(wire))]):
        parser = RespParser()
        replies = [r for chunk in chunks for r in parser.feed(chunk)]
        assert replies[1] == "OK"
        first, second = sw.entries_of_xread_reply(replies[0])
        assert sw.decode_entry(first) == {
            "uid": "u", "nsp": "/", "type": 3, "data": broadcast(["e", b"\x00\r\n"]),
        }  # fmt: skip
        assert second.id == "5-1" and sw.decode_entry(second) is None
    assert RespParser().feed(b"*-1\r\n") == [None]  # BLOCK timed out: nil
    assert sw.entries_of_xread_reply(None) == []


def _resp(value: Any) -> bytes:
    """A RESP2 reply (arrays and bulk strings)."""
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(_resp(item) for item in value)
    return b"$%d\r\n%s\r\n" % (len(value), value)


# -- pub/sub ----------------------------------------------------------------------------------


def test_pubsub_messages() -> None:
    payload = sw.pubsub_message("u", "/", T.FETCH_SOCKETS, {"requestId": "r"})
    assert payload == b"\x84\xa4type\x07\xa4data\x81\xa9requestId\xa1r\xa3uid\xa1u\xa3nsp\xa1/"
    assert sw.decode_pubsub_message(payload) == {
        "type": 7, "data": {"requestId": "r"}, "uid": "u", "nsp": "/",
    }  # fmt: skip
    bare = sw.pubsub_message("u", "/", T.HEARTBEAT)
    assert sw.decode_pubsub_message(bare) == {"type": 2, "uid": "u", "nsp": "/"}
    bad = [
        b"\xc1",
        b"\x93\x01\x02\x03",
        sw.pubsub_message("u", "/", T.BROADCAST).replace(b"\x03", b"\xc3"),  # type: true
        b"\x83\xa4type\x03\xa3uid\x01\xa3nsp\xa1/",
        b"\x83\xa4type\x03\xa3uid\xa1u\xa3nsp\xc0",
        b"\x84\xa4type\x03\xa4data\x90\xa3uid\xa1u\xa3nsp\xa1/",
    ]
    for payload in bad:
        with pytest.raises(RemoteProtocolError):
            sw.decode_pubsub_message(payload)


# -- sessions and restore ---------------------------------------------------------------------

SESSION = sw.PersistedSession(
    sid="s" * 20, pid="p" * 20, rooms=("s" * 20, "r", 7), data={"k": b"\x01"}
)


def test_session_round_trip_and_commands() -> None:
    value = sw.encode_session(SESSION)
    assert sw.decode_session(value) == SESSION
    assert sw.decode_session(value.encode()) == SESSION
    assert sw.persist_session_command(SESSION) == [
        "SET", "sio:session:" + "p" * 20, value, "PX", "120000",
    ]  # fmt: skip
    assert sw.persist_session_command(SESSION, expiry_ms=5, prefix="x:")[1::3] == [
        "x:" + "p" * 20, "5",
    ]  # fmt: skip
    for bad in (0, 1.5, True):
        with pytest.raises(LocalProtocolError, match="expiry_ms"):
            sw.persist_session_command(SESSION, expiry_ms=bad)  # type: ignore[arg-type]
    assert sw.session_of_exec_reply([value.encode(), 1]) == SESSION
    assert sw.session_of_exec_reply((None, 0)) is None
    for reply in (None, [value], [1, 1], b"x"):
        with pytest.raises(RemoteProtocolError):
            sw.session_of_exec_reply(reply)


def _b64pack(value: Any) -> str:
    return base64.b64encode(pack(value)).decode()


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        "é",
        _b64pack([1]),
        _b64pack({"sid": "s", "pid": "p"}),
        _b64pack({"sid": 1, "pid": "p", "rooms": []}),
        _b64pack({"sid": "s", "pid": "p", "rooms": [None]}),
        base64.b64encode(b"\xc1").decode(),
    ],
)
def test_malformed_sessions(value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        sw.decode_session(value)


def test_restore_commands() -> None:
    assert sw.restore_commands("p", "1-2") == [
        ["MULTI"],
        ["GET", "sio:session:p"],
        ["DEL", "sio:session:p"],
        ["EXEC"],
        ["XRANGE", "socket.io", "1-2", "1-2"],
    ]
    assert sw.restore_commands("p", "1-2", stream="s", prefix="k")[1] == ["GET", "kp"]
    with pytest.raises(LocalProtocolError):
        sw.restore_commands("p", "nope")


def _pairs(fields: list[str]) -> dict[str, str]:
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _entries(*messages: tuple[str, str, int, dict[str, Any] | None]) -> list[sw.StreamEntry]:
    return [
        sw.StreamEntry(f"9-{i}", _pairs(sw.entry_fields("u", nsp, kind, data)))
        for i, (_, nsp, kind, data) in enumerate(messages)
    ]


def test_missed_packets_filter() -> None:
    entries = _entries(
        ("all", "/", T.BROADCAST, broadcast(["all", b"\x01"])),
        ("room", "/", T.BROADCAST, broadcast(["room"], ["r", "x"])),
        ("other room", "/", T.BROADCAST, broadcast(["other"], ["x"])),
        ("excluded", "/", T.BROADCAST, broadcast(["excluded"], [], ["r"])),
        ("own id excluded", "/", T.BROADCAST, broadcast(["self"], ["r"], ["sid"])),
        (
            "volatile: replayed, as Node does",
            "/",
            T.BROADCAST,
            broadcast(["v"], flags={"volatile": True}),
        ),
        ("int room", "/", T.BROADCAST, broadcast(["int"], [7])),
        ("str 7 is another room", "/", T.BROADCAST, broadcast(["str"], ["7"])),
        ("other namespace", "/chat", T.BROADCAST, broadcast(["chat"])),
        ("not a broadcast", "/", T.SOCKETS_JOIN, {"opts": selection([]), "rooms": ["z"]}),
    )
    # another namespace's broadcasts are not even decoded (as in Node)
    entries.append(sw.StreamEntry("9-99", {"nsp": "/chat", "type": "3", "data": "garbage"}))
    missed = sw.missed_packets(entries, "/", ("sid", "r", 7))
    assert missed == [["all", b"\x01", "9-0"], ["room", "9-1"], ["v", "9-5"], ["int", "9-6"]]
    # This project's servers leave volatile broadcasts out (as one server never keeps them).
    without = sw.missed_packets(entries, "/", ("sid", "r", 7), volatile=False)
    assert without == [["all", b"\x01", "9-0"], ["room", "9-1"], ["int", "9-6"]]
    assert sw.missed_packets([], "/", ("r",)) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"nsp": "/", "type": "3", "uid": "u"},
        {"nsp": "/", "type": "3", "uid": "u", "data": '{"opts":{"rooms":[]}}'},
        {"nsp": "/", "type": "3", "uid": "u", "data": '{"packet":{"data":"x"},"opts":{}}'},
        {"nsp": "/", "type": "3", "uid": "u", "data": '{"packet":{"data":[]},"opts":[]}'},
        {
            "nsp": "/",
            "type": "3",
            "uid": "u",
            "data": '{"packet":{"data":[]},"opts":{"rooms":"r"}}',
        },
        {"nsp": "/", "type": "3", "data": "{}"},
        {"nsp": "", "type": "3"},
    ],
)
def test_a_malformed_broadcast_fails_the_restore(fields: dict[str, str]) -> None:
    with pytest.raises(RemoteProtocolError):
        sw.missed_packets([sw.StreamEntry("1-0", fields)], fields["nsp"], ("r",))


# -- properties -------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSONISH = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4)
)
_WITH_BYTES = st.recursive(
    _SCALARS | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
)
_UIDS = st.text("0123456789abcdef", min_size=1, max_size=16)
_NSPS = _TEXT.map(lambda name: "/" + name)


@given(_UIDS, _NSPS, st.sampled_from(list(T)), st.dictionaries(_TEXT, _JSONISH, max_size=4))
def test_stream_round_trip_of_any_message(
    uid: str, nsp: str, kind: T, data: dict[str, Any]
) -> None:
    fields = sw.entry_fields(uid, nsp, kind, data)
    decoded = sw.decode_entry(sw.StreamEntry("3-4", _pairs(fields)))
    assert decoded == {"uid": uid, "nsp": nsp, "type": int(kind), "data": data}


@given(st.sampled_from(sorted(MAY_CARRY_BINARY)), st.dictionaries(_TEXT, _WITH_BYTES, max_size=4))
def test_stream_round_trip_with_binary(kind: T, data: dict[str, Any]) -> None:
    wire = _resp([[b"1-0", [f.encode() for f in sw.entry_fields("u", "/", kind, data)]]])
    (reply,) = RespParser().feed(wire)
    (one,) = sw.entries_of_xrange_reply(reply)
    assert sw.decode_entry(one) == {"uid": "u", "nsp": "/", "type": int(kind), "data": data}
    assert sw.decode_pubsub_message(sw.pubsub_message("u", "/", kind, data))["data"] == data


@given(_TEXT, _TEXT, st.lists(_TEXT | st.integers(-(2**63), 2**63 - 1), max_size=4), _WITH_BYTES)
def test_session_round_trip(sid: str, pid: str, rooms: list[Any], data: Any) -> None:
    session = sw.PersistedSession(sid=sid, pid=pid, rooms=tuple(rooms), data=data)
    assert sw.decode_session(sw.encode_session(session)) == session


@given(st.dictionaries(st.sampled_from(["uid", "nsp", "type", "data", "x"]), _TEXT | st.just("{")))
def test_any_fields_decode_or_fail_cleanly(fields: dict[str, str]) -> None:
    with contextlib.suppress(RemoteProtocolError):
        sw.decode_entry(sw.StreamEntry("1-0", fields))


_REPLIES = st.recursive(
    st.none() | st.binary(max_size=6) | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.binary(max_size=3), inner),
    max_leaves=12,
)


@given(_REPLIES)
def test_any_reply_parses_or_fails_cleanly(reply: Any) -> None:
    for parse in (sw.entries_of_xread_reply, sw.entries_of_xrange_reply):
        with contextlib.suppress(RemoteProtocolError):
            parse(reply)


@given(st.binary(max_size=40) | _TEXT)
def test_any_payload_or_session_decodes_or_fails_cleanly(raw: bytes | str) -> None:
    payload = raw.encode() if isinstance(raw, str) else raw
    for decode in (sw.decode_pubsub_message, sw.decode_session):
        with contextlib.suppress(RemoteProtocolError):
            decode(payload)
    with contextlib.suppress(RemoteProtocolError):
        sw.decode_session(base64.b64encode(payload))


# -- golden: what Node writes -----------------------------------------------------------------


def _node() -> JsonLineProcess:
    process = JsonLineProcess([_node_executable(), str(SCRIPT)], label="streams", cwd=NODE_DIR)
    process.wait_ready()
    return process


@pytest.fixture(scope="module")
def capture(redis_server_module: RedisServer) -> dict[str, Any]:
    with _node() as node:
        result: dict[str, Any] = node.call("capture", timeout=45, redis=redis_server_module.url)
        assert node.errors() == []
    result["redis"] = redis_server_module
    return result


def _commands(capture: dict[str, Any], name: bytes) -> list[list[bytes]]:
    return [args for args in capture["commands"] if args[0].upper() == name]


def _stream(capture: dict[str, Any]) -> list[sw.StreamEntry]:
    return sw.entries_of_xrange_reply(capture["redis"].command("XRANGE", "socket.io", "-", "+"))


def _expected_stream(capture: dict[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    s1, s1_chat = capture["uids"]["s1"]["/"], capture["uids"]["s1"]["/chat"]
    s2, s2_chat = capture["uids"]["s2"]["/"], capture["uids"]["s2"]["/chat"]
    text = ["text", "hello", 1, 2.5, -7, True, False, None, {"a": [1, "x"], "é": "€😀"}, []]
    B = T.BROADCAST
    return [
        (s1, "/", B, broadcast(text)),
        (s1, "/", B, broadcast(["bin", b"\x01\x02\x03", {"nested": b"\xff\x00"}, "after"])),
        (s1, "/", B, broadcast(["rooms", "x"], ["r1"], ["r2"])),
        (s1_chat, "/chat", B, broadcast(["chat", 42], ["r1", "r3"])),
        (s1, "/", B, broadcast(["vol", 1], flags={"volatile": True})),
        (s1, "/", B, broadcast(["nocompress", 2], flags={"compress": False})),
        (s1, "/", B, broadcast(["num", 1], [42])),
        (s1, "/", T.SOCKETS_JOIN, {"opts": selection(["r1"]), "rooms": ["r9", "r10"]}),
        (s1, "/", T.SOCKETS_LEAVE, {"opts": selection(["r9"]), "rooms": ["r10"]}),
        (s1, "/", T.DISCONNECT_SOCKETS, {"opts": selection(["gone"]), "close": True}),
        (s1, "/", B, broadcast(["for-p", 1], ["keep"])),
        (s2, "/", B, broadcast(["before", 1], ["q"])),
        (s2, "/", B, broadcast(["missed-room", 1], ["q"])),
        (s2, "/", B, broadcast(["missed-all", b"\x07"])),
        (s2, "/", B, broadcast(["not-for-q"], ["other"])),
        (s2, "/", B, broadcast(["not-for-q-2"], [], ["q"])),
        (s2, "/", B, broadcast(["missed-volatile"], ["q"], flags={"volatile": True})),
        (s2_chat, "/chat", B, broadcast(["other-namespace"], ["q"])),
    ]


def test_golden_versions(capture: dict[str, Any]) -> None:
    versions = capture["versions"]
    assert versions["@socket.io/redis-streams-adapter"].startswith("0.3.")
    assert versions["socket.io-adapter"].startswith("2.5.")


def test_golden_every_stream_entry_decodes_to_the_expected_message(capture: dict[str, Any]) -> None:
    entries = _stream(capture)
    decoded = [sw.decode_entry(one) for one in entries]
    expected = [
        {"uid": uid, "nsp": nsp, "type": int(kind), "data": data}
        for uid, nsp, kind, data in _expected_stream(capture)
    ]
    assert decoded == expected


def test_golden_the_encoder_writes_nodes_xadd(capture: dict[str, Any]) -> None:
    xadds = _commands(capture, b"XADD")
    expected = _expected_stream(capture)
    main = [args for args in xadds if args[1] == b"socket.io"]
    assert len(main) == len(expected)
    for args, (uid, nsp, kind, data) in zip(main, expected, strict=True):
        assert [a.encode() for a in sw.xadd_command("socket.io", uid, nsp, kind, data)] == args
    # and Node's entries, decoded and encoded again, are Node's bytes
    for one in _stream(capture):
        message = sw.decode_entry(one)
        assert message is not None
        again = sw.entry_fields(message["uid"], message["nsp"], message["type"], message["data"])
        assert dict(zip(again[::2], again[1::2], strict=True)) == one.fields


def test_golden_stream_names(capture: dict[str, Any]) -> None:
    for nsp, name in capture["stream_of"].items():
        assert sw.stream_name_of(nsp, stream_name="multi", stream_count=3) == name, nsp
    assert set(capture["stream_of"].values()) >= {"multi-0", "multi-1", "multi-2", "multi--1"}


def test_golden_xread_and_offsets(capture: dict[str, Any]) -> None:
    ids = {one.id for one in _stream(capture)}
    reads = [args for args in _commands(capture, b"XREAD") if args[-2] == b"socket.io"]
    assert reads[0] == reads[1] == [a.encode() for a in sw.xread_command("socket.io")]
    for args in reads[2:]:
        offset = args[-1].decode()
        assert offset in ids
        assert [a.encode() for a in sw.xread_command("socket.io", offset)] == args
    # the clients got the entry ids as offsets, on the publishing server and the others
    entries = _stream(capture)
    received, expected = capture["received"], _expected_stream(capture)
    text, binary = (data["packet"]["data"] for _, _, _, data in expected[:2])
    assert (
        received["a1"][:2]
        == received["a3"][:2]
        == [
            [*text, entries[0].id],
            [*binary, entries[1].id],
        ]
    )
    assert ["vol", 1] in received["a3"]  # volatile: no offset


def test_golden_pubsub_messages(capture: dict[str, Any]) -> None:
    s1, s2 = capture["uids"]["s1"]["/"], capture["uids"]["s2"]["/"]
    published = [(args[1].decode(), args[2]) for args in _commands(capture, b"PUBLISH")]
    heard = [(m["channel"].decode(), m["payload"]) for m in capture["pubsub"]]
    assert heard == published
    public, answers = sw.public_channel("/"), sw.response_channel("/", s1)
    messages = []
    for channel, payload in published:
        message = sw.decode_pubsub_message(payload)
        assert (
            sw.pubsub_message(message["uid"], message["nsp"], message["type"], message.get("data"))
            == payload
        )  # byte for byte
        messages.append((channel, message))
    ack_request, count, *acks = messages[:5]
    request_id = ack_request[1]["data"]["requestId"]
    flags = {"timeout": 2000}
    assert ack_request == (
        public,
        {
            "type": 3,
            "data": {**broadcast(["ack-me", "q"], flags=flags), "requestId": request_id},
            "uid": s1,
            "nsp": "/",
        },
    )
    assert count == (
        answers,
        {"type": 11, "data": {"requestId": request_id, "clientCount": 3}, "uid": s2, "nsp": "/"},
    )
    packets = [{"from": "a2", "bin": b"\xab"}, {"from": "a3"}, {"from": "g1"}]
    assert sorted((m for _, m in acks), key=lambda m: m["data"]["packet"]["from"]) == [
        {"type": 12, "data": {"requestId": request_id, "packet": p}, "uid": s2, "nsp": "/"}
        for p in packets
    ]
    assert {channel for channel, _ in acks} == {answers}
    sse, sse_ack, sse_answer, fetch, fetched = messages[5:]
    assert sse == (
        public,
        {"type": 9, "data": {"packet": ["sse", 1, "two", b"\x09"]}, "uid": s1, "nsp": "/"},
    )
    rid = sse_ack[1]["data"]["requestId"]
    assert sse_ack == (
        public,
        {"type": 9, "data": {"requestId": rid, "packet": ["sse-ack", 3]}, "uid": s1, "nsp": "/"},
    )
    assert sse_answer == (
        answers,
        {"type": 10, "data": {"requestId": rid, "packet": ["pong", 3]}, "uid": s2, "nsp": "/"},
    )
    rid = fetch[1]["data"]["requestId"]
    assert fetch == (
        public,
        {"type": 7, "data": {"opts": selection(["r1"]), "requestId": rid}, "uid": s1, "nsp": "/"},
    )
    a2 = capture["sockets"]["a2"]
    (described,) = fetched[1]["data"]["sockets"]
    assert fetched[0] == answers and fetched[1]["type"] == 8 and fetched[1]["uid"] == s2
    assert fetched[1]["data"]["requestId"] == rid
    assert described["id"] == a2 and described["rooms"] == [a2, "r1", "r2", "r9"]
    assert described["data"] == {} and described["handshake"]["auth"] == {"rooms": ["r1", "r2"]}
    assert sorted(capture["acks"], key=lambda p: p["from"]) == [{"from": "a1"}, *packets]
    assert capture["sse_answers"] == [["pong", 3]]


def test_golden_session_left_by_node(capture: dict[str, Any]) -> None:
    left = capture["session"]
    value = capture["redis"].command("GET", "sio:session:" + left["pid"])
    session = sw.decode_session(value)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    assert session == sw.PersistedSession(
        sid=left["sid"],
        pid=left["pid"],
        rooms=(left["sid"], "keep"),
        data={"user": "p", "n": 1, "bin": b"\x05\x06", "at": epoch},
    )
    ttl = capture["redis"].command("PTTL", "sio:session:" + left["pid"])
    assert isinstance(ttl, int) and 100_000 < ttl <= 120_000
    sets = _commands(capture, b"SET")
    assert [a.encode() for a in sw.persist_session_command(session)] == sets[0]
    assert sw.encode_session(session) == value.decode()


def test_golden_restore(capture: dict[str, Any]) -> None:
    recovery = capture["recovery"]
    assert recovery["recovered"] is True
    assert (recovery["sid_after"], recovery["pid_after"]) == (recovery["sid"], recovery["pid"])
    # what Node sent to restore the session
    pid, offset = recovery["pid"], recovery["offset"]
    commands = [
        args
        for args in capture["commands"]
        if args[0].upper() in (b"MULTI", b"GET", b"DEL", b"EXEC", b"XRANGE")
    ]
    entries = _stream(capture)
    last = entries[-1].id
    expected = [
        *sw.restore_commands(pid, offset),
        sw.xrange_command("socket.io", sw.next_offset(offset)),
    ]
    expected.append(sw.xrange_command("socket.io", sw.next_offset(last)))
    assert commands == [[a.encode() for a in command] for command in expected]
    # the session it took, as it was stored
    stored = sw.decode_session(_commands(capture, b"SET")[1][2])
    assert stored == sw.PersistedSession(
        sid=recovery["sid"], pid=pid, rooms=(recovery["sid"], "q"), data={}
    )
    # what it replayed is what missed_packets finds after the offset
    after = sw.entries_of_xrange_reply(
        capture["redis"].command(*sw.xrange_command("socket.io", sw.next_offset(offset)))
    )
    missed = sw.missed_packets(after, "/", stored.rooms)
    assert missed == recovery["received_after"]
    assert [packet[0] for packet in missed] == ["missed-room", "missed-all", "missed-volatile"]


# -- golden: what Node reads ------------------------------------------------------------------

PY_UID = "0123456789abcdef"


class _Subscriber:
    """A plain RESP connection subscribed to one channel."""

    def __init__(self, redis: RedisServer, channel: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=5)
        self.parser = RespParser()
        self.sock.sendall(encode_command("SUBSCRIBE", channel))
        self.pending: list[Any] = []
        assert self.next()[0] == b"subscribe"

    def next(self, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while not self.pending:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            self.pending += self.parser.feed(self.sock.recv(65536))
        return self.pending.pop(0)

    def message(self) -> dict[str, Any]:
        kind, _, payload = self.next()
        assert kind == b"message"
        return sw.decode_pubsub_message(payload)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def served(redis_server: RedisServer) -> Iterator[tuple[JsonLineProcess, dict[str, Any]]]:
    with _node() as node:
        info = node.call("serve", timeout=20, redis=redis_server.url)
        yield node, info
        assert node.errors() == []


def _xadd(redis: RedisServer, nsp: str, kind: T, data: dict[str, Any]) -> str:
    return sw.offset_of_xadd_reply(
        redis.command(*sw.xadd_command("socket.io", PY_UID, nsp, kind, data))
    )


def _received(node: JsonLineProcess, client: str, ev: str) -> list[Any]:
    event = node.wait_event({"event": "received", "client": client, "ev": ev})
    return [event["ev"], *event["args"]]


def test_golden_node_reads_the_stream_written_here(
    redis_server: RedisServer, served: tuple[JsonLineProcess, dict[str, Any]]
) -> None:
    node, _ = served
    B = T.BROADCAST
    text = ["py-text", "héllo", 1, 2.5, {"k": [True, None]}]
    offset = _xadd(redis_server, "/", B, broadcast(text))
    assert _received(node, "c1", "py-text") == [*text, offset]
    assert _received(node, "c2", "py-text") == [*text, offset]
    offset = _xadd(
        redis_server, "/", B, broadcast(["py-bin", b"\x00\xff", {"n": b"\x01"}], ["r1"], ["r2"])
    )
    assert _received(node, "c1", "py-bin") == ["py-bin", b"\x00\xff", {"n": b"\x01"}, offset]
    offset = _xadd(redis_server, "/chat", B, broadcast(["py-chat"], ["r1"]))
    assert _received(node, "c3", "py-chat") == ["py-chat", offset]
    _xadd(redis_server, "/", B, broadcast(["py-volatile"], flags={"volatile": True}))
    assert _received(node, "c2", "py-volatile") == ["py-volatile"]  # no offset
    _xadd(redis_server, "/", T.SOCKETS_JOIN, {"opts": selection(["r2"]), "rooms": ["r5", "r6"]})
    _xadd(redis_server, "/", T.SOCKETS_LEAVE, {"opts": selection(["r5"]), "rooms": ["r6"]})
    offset = _xadd(redis_server, "/", B, broadcast(["py-r5"], ["r5"], ["r6"]))
    assert _received(node, "c2", "py-r5") == ["py-r5", offset]
    # an entry without a namespace is skipped, one from another process' namespace ignored
    redis_server.command("XADD", "socket.io", "*", "uid", "x", "type", "3", "data", "{}")
    _xadd(redis_server, "/nowhere", B, broadcast(["lost"]))
    # a session written here, taken back by Node with what it missed
    sid = "PySession00000000000"
    session = sw.PersistedSession(
        sid=sid, pid="py-pid", rooms=(sid, "r7"), data={"k": b"\x01", "n": 2}
    )
    assert redis_server.command(*sw.persist_session_command(session)) == b"OK"
    mark = _xadd(redis_server, "/", B, broadcast(["mark"], ["r9"]))
    missed_room = _xadd(redis_server, "/", B, broadcast(["missed-r7", b"\x02"], ["r7"]))
    _xadd(redis_server, "/", B, broadcast(["not-missed"], ["r8"]))
    missed_all = _xadd(redis_server, "/", B, broadcast(["missed-all"], [], ["r1"]))
    restored = node.call("restore", name="rc", pid="py-pid", offset=mark)
    assert restored == {
        "id": sid,
        "recovered": True,
        "rooms": [sid, "r7"],
        "data": {"k": b"\x01", "n": 2},
    }
    assert _received(node, "rc", "missed-r7") == ["missed-r7", b"\x02", missed_room]
    assert _received(node, "rc", "missed-all") == ["missed-all", missed_all]
    assert redis_server.command("EXISTS", sw.session_key("py-pid")) == 0  # taken once
    # a disconnect last: everything before it was read
    _xadd(redis_server, "/", T.DISCONNECT_SOCKETS, {"opts": selection(["r2"]), "close": False})
    node.wait_event({"event": "disconnected", "client": "c2", "reason": "io server disconnect"})
    got = {(e["client"], e["ev"]) for e in node.events_matching({"event": "received"})}
    assert got == {
        ("c1", "py-text"), ("c2", "py-text"), ("c1", "py-bin"), ("c3", "py-chat"),
        ("c1", "py-volatile"), ("c2", "py-volatile"), ("c2", "py-r5"),
        ("rc", "missed-r7"), ("rc", "missed-all"), ("c2", "missed-all"),
    }  # fmt: skip


def test_golden_node_answers_requests_published_here(
    redis_server: RedisServer, served: tuple[JsonLineProcess, dict[str, Any]]
) -> None:
    node, info = served
    node_uid = info["uids"]["/"]
    answers = _Subscriber(redis_server, sw.response_channel("/", PY_UID))
    try:

        def publish(kind: T, data: dict[str, Any]) -> None:
            payload = sw.pubsub_message(PY_UID, "/", kind, data)
            assert redis_server.command("PUBLISH", sw.public_channel("/"), payload) == 1

        publish(T.SERVER_SIDE_EMIT, {"packet": ["sse", 1, b"\x03"]})
        event = node.wait_event({"event": "server-side", "ev": "sse"})
        assert event["args"] == [1, b"\x03"]
        publish(T.SERVER_SIDE_EMIT, {"requestId": "rq1", "packet": ["sse-ack", "x"]})
        answer = {"requestId": "rq1", "packet": ["pong", "x"]}
        assert answers.message() == {"type": 10, "data": answer, "uid": node_uid, "nsp": "/"}
        publish(T.FETCH_SOCKETS, {"opts": selection(["r1"]), "requestId": "rq2"})
        fetched = answers.message()
        assert fetched["type"] == 8 and fetched["data"]["requestId"] == "rq2"
        c1 = info["sockets"]["c1"]
        assert [(s["id"], s["rooms"]) for s in fetched["data"]["sockets"]] == [(c1, [c1, "r1"])]
        publish(T.BROADCAST, {**broadcast(["ack-me", b"\x04"], ["r1", "r2"]), "requestId": "rq3"})
        count = answers.message()
        assert count == {
            "type": 11,
            "data": {"requestId": "rq3", "clientCount": 2},
            "uid": node_uid,
            "nsp": "/",
        }
        acks = [answers.message(), answers.message()]
        assert sorted(a["data"]["packet"]["from"] for a in acks) == ["c1", "c2"]
        assert {a["type"] for a in acks} == {12}
        # acked broadcasts get no offset
        assert _received(node, "c1", "ack-me") == ["ack-me", b"\x04"]
    finally:
        answers.close()
