"""The RESP2 codec of a subscriber connection: commands out, replies in, fed whole, byte by
byte and with trailing data; garbage refused with RemoteProtocolError, and never a crash."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_rooms import (
    LocalProtocolError,
    RemoteProtocolError,
    RespError,
    RespParser,
    _resp,
    encode_command,
)


def encode_reply(reply: Any) -> bytes:
    """What Redis would send for ``reply`` (the inverse of the parser, for the tests)."""
    if reply is None:
        return b"$-1\r\n"
    if isinstance(reply, RespError):
        return b"-" + reply.message.encode() + b"\r\n"
    if isinstance(reply, str):
        return b"+" + reply.encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, bytes):
        return b"$%d\r\n%s\r\n" % (len(reply), reply)
    return b"*%d\r\n" % len(reply) + b"".join(encode_reply(item) for item in reply)


def feed_whole(data: bytes) -> list[Any]:
    return RespParser().feed(data)


def feed_bytewise(data: bytes) -> list[Any]:
    parser = RespParser()
    replies: list[Any] = []
    for index in range(len(data)):
        replies += parser.feed(data[index : index + 1])
    return replies


FEEDS = [feed_whole, feed_bytewise]

#: (what Redis sends, the replies)
SAMPLES: list[tuple[bytes, list[Any]]] = [
    (b"+OK\r\n", ["OK"]),
    (b"+\r\n", [""]),
    (b"-ERR unknown command 'FOO'\r\n", [RespError("ERR unknown command 'FOO'")]),
    (b"-WRONGPASS invalid\xff\r\n", [RespError("WRONGPASS invalid\ufffd")]),
    (b":0\r\n:-12\r\n:9223372036854775807\r\n", [0, -12, 9223372036854775807]),
    (b"$0\r\n\r\n", [b""]),
    (b"$4\r\n\r\n\x00\xff\r\n", [b"\r\n\x00\xff"]),  # binary, CRLF inside
    (b"$-1\r\n*-1\r\n*0\r\n", [None, None, []]),
    (
        b"*3\r\n$9\r\nsubscribe\r\n$12\r\nsocket.io#/#\r\n:1\r\n",
        [[b"subscribe", b"socket.io#/#", 1]],
    ),
    (
        b"*4\r\n$8\r\npmessage\r\n$13\r\nsocket.io#/#*\r\n$17\r\nsocket.io#/#room#\r\n"
        b"$3\r\n\x93\x01\xc0\r\n",
        [[b"pmessage", b"socket.io#/#*", b"socket.io#/#room#", b"\x93\x01\xc0"]],
    ),
    (b"*2\r\n*2\r\n:1\r\n*0\r\n$-1\r\n+x\r\n", [[[1, []], None], "x"]),  # nested, then more
    (b"*2\r\n*-1\r\n-E\r\n", [[None, RespError("E")]]),
]


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize(("data", "replies"), SAMPLES)
def test_replies_whatever_the_cuts(feed: Any, data: bytes, replies: list[Any]) -> None:
    assert feed(data) == replies


@pytest.mark.parametrize(("data", "replies"), SAMPLES)
def test_trailing_data_waits_for_the_next_feed(data: bytes, replies: list[Any]) -> None:
    parser = RespParser()
    # The sample, then the first half of another reply: only the sample comes out.
    assert parser.feed(data + b"*2\r\n$3\r\nabc\r\n$2\r\nd") == replies
    assert parser.feed(b"") == []
    assert parser.feed(b"e\r") == []
    assert parser.feed(b"\n:7\r") == [[b"abc", b"de"]]
    assert parser.feed(b"\n") == [7]


def test_a_bulk_string_cut_between_its_body_and_crlf() -> None:
    parser = RespParser()
    assert parser.feed(b"$3\r\nabc") == []
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == [b"abc"]


GARBAGE = [
    (b"!3\r\nabc\r\n", "not a RESP2 reply"),  # a RESP3 type: we never ask for RESP3
    (b"\r\n", "not a RESP2 reply"),
    (b"hello\r\n", "not a RESP2 reply"),
    (b":12a\r\n", "invalid integer"),
    (b":\r\n", "invalid integer"),
    (b": 1\r\n", "invalid integer"),
    (b":99999999999999999999\r\n", "invalid integer"),  # 20 digits: not a Redis integer
    (b"$abc\r\n", "invalid bulk string length"),
    (b"$-2\r\n", "invalid bulk string length"),
    (b"$+1\r\n", "invalid bulk string length"),
    (b"*-3\r\n", "invalid array length"),
    (b"*1_0\r\n", "invalid array length"),
    (b"$3\r\nabcd\r\n", "longer than its length says"),
    (b"$3\r\nab\r\n\r\n", "longer than its length says"),
    (b"$536870913\r\n", "a bulk string of 536870913 bytes"),  # 512 MiB + 1
    (b"*1\r\n" * 33 + b":1\r\n", "nested deeper than 32"),
]


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize(("data", "message"), GARBAGE)
def test_garbage_is_refused(feed: Any, data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        feed(data)


def test_the_limits() -> None:
    assert RespParser().feed(b"*1\r\n" * 32 + b":1\r\n") == [
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]
    assert RespParser().feed(b"$536870912\r\n") == []  # 512 MiB: accepted, waiting for it

    parser = RespParser(max_bulk=3, max_depth=1, max_line=4)
    assert parser.feed(b"$3\r\nabc\r\n*1\r\n:1\r\n+abc\r\n") == [b"abc", [1], "abc"]
    with pytest.raises(RemoteProtocolError, match="a bulk string of 4 bytes"):
        RespParser(max_bulk=3).feed(b"$4\r\n")
    with pytest.raises(RemoteProtocolError, match="nested deeper than 1"):
        RespParser(max_depth=1).feed(b"*1\r\n*1\r\n")


def test_a_line_at_the_limit_may_end_on_the_next_feed() -> None:
    parser = RespParser(max_line=4)
    assert parser.feed(b"+abc\r") == []  # 4 bytes and a "\r": the "\n" may come
    assert parser.feed(b"\n") == ["abc"]
    with pytest.raises(RemoteProtocolError, match="a line longer than 4 bytes"):
        RespParser(max_line=4).feed(b"+abcd\r")
    parser = RespParser(max_line=4)
    assert parser.feed(b"+abc") == []
    with pytest.raises(RemoteProtocolError, match="a line longer than 4 bytes"):
        parser.feed(b"d")


def test_a_broken_parser_stays_broken() -> None:
    parser = RespParser()
    with pytest.raises(RemoteProtocolError, match="not a RESP2 reply"):
        parser.feed(b"+OK\r\n?\r\n")
    with pytest.raises(RemoteProtocolError, match="out of step: not a RESP2 reply"):
        parser.feed(b"+OK\r\n")


# -- commands ---------------------------------------------------------------------------------


def test_commands() -> None:
    assert encode_command("PING") == b"*1\r\n$4\r\nPING\r\n"
    assert encode_command(b"AUTH", "user", "pässword") == (
        b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$9\r\np\xc3\xa4ssword\r\n"
    )
    assert encode_command("SELECT", 0, -1) == b"*3\r\n$6\r\nSELECT\r\n$1\r\n0\r\n$2\r\n-1\r\n"
    assert encode_command("PUBLISH", b"", b"\r\n") == (
        b"*3\r\n$7\r\nPUBLISH\r\n$0\r\n\r\n$2\r\n\r\n\r\n"
    )
    # A channel read with surrogateescape goes back as the bytes it was.
    channel = b"socket.io#/#\xff#".decode("utf-8", "surrogateescape")
    assert encode_command("SUBSCRIBE", channel).endswith(b"$14\r\nsocket.io#/#\xff#\r\n")


@pytest.mark.parametrize("argument", [True, 1.5, None, ["a"]])
def test_commands_take_bytes_str_and_int_only(argument: object) -> None:
    with pytest.raises(TypeError, match="bytes, str or int"):
        encode_command("SET", argument)  # type: ignore[arg-type]


def test_a_command_has_a_name() -> None:
    with pytest.raises(LocalProtocolError, match="at least its name"):
        encode_command()


def test_a_command_is_a_reply_the_parser_reads() -> None:
    assert RespParser().feed(encode_command("SUBSCRIBE", "a", 7)) == [[b"SUBSCRIBE", b"a", b"7"]]


def test_the_module_examples() -> None:
    failures, tried = doctest.testmod(_resp, raise_on_error=False)
    assert (failures, tried > 0) == (0, True)


# -- properties -------------------------------------------------------------------------------

replies = st.recursive(
    st.none()
    | st.binary(max_size=40)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=20)
    | st.builds(
        RespError, st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=20)
    ),
    lambda children: st.lists(children, max_size=4),
    max_leaves=20,
)


@given(st.lists(replies, max_size=5), st.data())
def test_any_replies_come_back_however_they_are_cut(sent: list[Any], data: st.DataObject) -> None:
    wire = b"".join(encode_reply(reply) for reply in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    parser = RespParser()
    got: list[Any] = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += parser.feed(wire[start:end])
    assert got == sent


@given(st.lists(st.binary(max_size=30), max_size=6))
def test_any_input_gives_replies_or_a_remote_protocol_error(chunks: list[bytes]) -> None:
    parser = RespParser(max_bulk=64, max_depth=4, max_line=16)
    try:
        for chunk in chunks:
            parser.feed(chunk)
    except RemoteProtocolError:
        pass


@given(st.lists(st.sampled_from([b"*", b"$", b":", b"+", b"-", b"1", b"2", b"-1", b"\r\n", b"x"])))
def test_any_mix_of_resp_tokens_gives_replies_or_a_remote_protocol_error(
    tokens: list[bytes],
) -> None:
    parser = RespParser(max_depth=3)
    try:
        for token in tokens:
            parser.feed(token)
    except RemoteProtocolError:
        pass
