"""The bad inputs, and what the generators build them from: constants, JSON values, deep
and huge payloads (built once), and the catalogue of malformed Engine.IO frames, Socket.IO
packets and long-polling bodies, each with its label (``sio:deep-nesting``, ...).
"""

from __future__ import annotations

import base64
import functools
import json
import random
from typing import Any

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_PAYLOAD",
    "NAMESPACES",
    "PLACEHOLDER",
    "ack_prefix",
    "args_json",
    "connect_reply",
    "dumps",
    "eio_bad",
    "nspc",
    "poll_bad",
    "sio_bad",
    "small_value",
]

MAX_PAYLOAD = 1_000_000  # the server's default maxPayload
MAX_ATTACHMENTS = 10

NAMESPACES = ("/", "/chat")
ODD_NAMESPACES = (
    "/nope",
    "/chat/",
    "//",
    "/chat?x=1",
    "/ünïcödé",
    "/😀",
    "/\u0000",
    "/ ",
    "/%2F",
    "/" + "a" * 300,
    "/a/b/c",
    "/\u200b",
    "/\ufeff",
)
PLACEHOLDER = '{"_placeholder":true,"num":%s}'

STRINGS = (
    "",
    "a",
    "hello",
    "héllo wörld",
    "日本語",
    "😀👍",
    "\u0000",
    "\ud800",  # a lone surrogate: json.dumps writes it as the escape \ud800
    "\udc80x",
    "\x1e",
    "\u2028\u2029",
    "line\nbreak",
    '"quoted"',
    "\\",
    "_placeholder",
)


def nspc(nsp: str) -> str:
    """The namespace as written in a packet: nothing for ``/``, else ``/name,``."""
    return "" if nsp == "/" else nsp + ","


def ack_prefix(nsp: str, ack_id: int) -> str:
    return f"43{nspc(nsp)}{ack_id}"


def connect_reply(nsp: str) -> str:
    return "40" + nspc(nsp) + "{" if nsp != "/" else "40{"


# -- JSON values -------------------------------------------------------------------------------


def small_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if r < 0.25:
        return rng.choice((0, 1, -1, 42, 2**31, 2**53 - 1, 2**53 + 1, -(2**63), 10**30))
    if r < 0.35:
        return rng.choice((0.5, -0.0, 1e-300, 1.7976931348623157e308, 3.14))
    if r < 0.6:
        return rng.choice(STRINGS)
    if r < 0.7:
        return rng.choice((True, False, None))
    if depth >= 3:
        return rng.randrange(100)
    if r < 0.85:
        return [small_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ("a", "b", "", "_placeholder", "num", "\ud800")
    return {rng.choice(keys): small_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # ASCII: lone surrogates escaped


def args_json(rng: random.Random) -> str:
    """The arguments after the event name, each with its leading comma."""
    return "".join("," + dumps(small_value(rng)) for _ in range(rng.randrange(4)))


# -- big inputs, built once ----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def nested(depth: int, atom: str, kind: str = "list", closed: bool = True) -> str:
    if kind == "list":
        return "[" * depth + atom + ("]" * depth if closed else "")
    return '{"a":' * depth + atom + ("}" * depth if closed else "")


@functools.lru_cache(maxsize=32)
def filler(char: str, length: int) -> str:
    return char * length


# -- the catalogue of bad inputs -----------------------------------------------------------------

Frames = list[tuple[str | bytes, bool]]  # (data, as a text frame even though bytes)


def sio_bad(rng: random.Random, connected: tuple[str, ...]) -> tuple[str, list[str | bytes]]:
    """A bad Socket.IO packet: its label and its Engine.IO messages (text: "4" + packet)."""
    nsp = rng.choice(connected)
    p = nspc(nsp)
    choice = rng.randrange(26)
    if choice == 0:
        return "sio:bad-type", ["4" + rng.choice(("7", "8[]", "9x", "x", "-", " 2[]", "é2"))]
    if choice == 1:
        return "sio:empty", ["4"]
    if choice == 2:
        bad = rng.choice(
            (
                '["echo",',
                "[echo]",
                '{"a":1}',
                '"str"',
                "[]",
                "[null]",
                "[1e400]",
                "[NaN]",
                '["echo",NaN]',
                '["echo",-Infinity]',
                '["echo"]x',
                '["echo"]]',
                ' ["echo"]',
                '["echo",]',
                "['echo']",
                '["echo",01]',
                '["echo","\\x"]',
                '["echo","\x01"]',
                '["echo",tru]',
                '["echo","\\ud800"',
            )
        )
        return "sio:bad-json", [f"42{p}{bad}"]
    if choice == 3:
        name = rng.choice(
            ("connect", "connect_error", "disconnect", "disconnecting", "newListener")
        )
        return "sio:reserved-event", [f'42{p}1["{name}"]']
    if choice == 4:
        bad = rng.choice(
            (
                '2abc["echo"]',
                "2" + "9" * 20 + '["echo"]',
                '2-1["echo"]',
                '3["x"]',
                "3",
                "31",
                "31{}",
                "3" + "9" * 17 + "[1]",
                '29007199254740992["echo"]',
                "2" + "1" * 1000 + '["echo"]',
                '2007["echo"]',
            )
        )
        return "sio:bad-ack-id", ["4" + bad[0] + p + bad[1:]]
    if choice == 5:
        bad = rng.choice(("[]", '"str"', "null", "{}x", "1", "1{}", '{"a":', "true"))
        return "sio:bad-connect", [f"40{p}{bad}"]
    if choice == 6:
        return "sio:second-connect", [f"40{p}"]
    if choice == 7:
        return "sio:client-connect-error", [f"44{p}" + rng.choice(("{}", '"x"', "[]", ""))]
    if choice == 8:
        return "sio:disconnect-with-payload", [f"41{p}" + rng.choice(('{"a":1}', "[]", "1"))]
    if choice == 9:
        other = rng.choice([n for n in (*NAMESPACES, "/nope") if n not in connected])
        kind = rng.choice(("2", "3", "1"))
        data = {"2": '["echo"]', "3": "[1]", "1": ""}[kind]
        return "sio:not-connected-nsp", [f"4{kind}{nspc(other)}{'1' if kind == '3' else ''}{data}"]
    if choice == 10:
        return "sio:nsp-without-comma", ['42/chat["echo"]']
    if choice == 11:
        name = rng.choice(("1", "1.5", "true", '""', '"*"', '{"a":1}', "[]", "-0", "1e400"))
        return "sio:odd-event-name", [f"42{p}5[{name}]"]
    if choice == 12:
        header = "45" + "2-" + p + '["echo",' + PLACEHOLDER % 0 + "," + PLACEHOLDER % 1 + "]"
        return "sio:attachment-count-mismatch", [header, b"\x01", '42["echo"]']
    if choice == 13:
        num = rng.choice(("1", "5", "-1", '"0"', "0.5", "null", "1e400", "99999999999999999999"))
        return "sio:placeholder-out-of-range", [f'451-{p}["echo",{PLACEHOLDER % num}]', b"\x02"]
    if choice == 14:
        holder = rng.choice(('{"_placeholder":true}', '{"_placeholder":1,"num":0}'))
        return "sio:placeholder-malformed", [f'451-{p}["echo",{holder}]', b"\x02"]
    if choice == 15:
        return "sio:attachment-unused", [f'452-{p}["echo",{PLACEHOLDER % 0}]', b"\x01", b"\x02"]
    if choice == 16:
        count = rng.choice((MAX_ATTACHMENTS + 1, 100, 99999, 10**17, 10**20))
        holders = ",".join(PLACEHOLDER % i for i in range(min(count, 12)))
        return "sio:too-many-attachments", [f'45{count}-{p}["echo",{holders}]', b"\x00"]
    if choice == 17:
        bad = rng.choice(('5-["echo"]', '5["echo"]', '5a-["echo"]', '50-["echo"]', "5", "51-"))
        return "sio:binary-header", ["4" + bad]
    if choice == 18:
        return "sio:stray-attachment", [rng.choice((b"", b"\x00", b"\xff" * 1000))]
    if choice == 19:
        return "sio:binary-ack", [f"461-{p}5[{PLACEHOLDER % 0}]", b"\x03"]
    if choice == 20:
        return "sio:attachments-never-sent", [f'451-{p}["echo",{PLACEHOLDER % 0}]']
    if choice == 21:
        if rng.random() < 0.4:  # what a handler echoes back and JSON cannot hold
            return "sio:deep-nesting", [f'421{p}["echo",' + nested(600, "1e400") + "]"]
        depth = rng.choice((600, 600, 999, 1000, 5000, 100_000))
        atom = rng.choice(("1e400", "1e400", "1", '"x"', "-0", "null", "[]"))
        if rng.random() < 0.6:
            return "sio:deep-nesting", [f'42{p}7["echo",' + nested(depth, atom) + "]"]
        if rng.random() < 0.5:
            return "sio:deep-nesting-dict", [f'42{p}7["echo",' + nested(depth, atom, "dict") + "]"]
        if rng.random() < 0.5:
            return "sio:deep-nesting-ack", [f"43{p}1" + nested(depth, atom)]
        return "sio:deep-nesting-unclosed", [f'42{p}["echo",' + nested(depth, atom, "list", False)]
    if choice == 22:
        length = rng.choice((MAX_PAYLOAD - 40, MAX_PAYLOAD - 13, MAX_PAYLOAD, MAX_PAYLOAD + 1))
        return "sio:huge-string", [f'42{p}8["echo","' + filler("x", length) + '"]']
    if choice == 23:
        bad = rng.choice(
            (
                '["echo",' + "9" * rng.choice((4300, 4301, 10_000)) + "]",
                '["echo",' + ",".join(["1"] * 100_000) + "]",
                '["echo",' + filler("[", 2) + ",".join(["0"] * 50_000) + "]]]",
            )
        )
        return "sio:big-numbers-or-arrays", [f"42{p}9{bad}"]
    if choice == 24:
        bad = rng.choice(
            (
                '2["echo","\\ud800"]',
                '2["\\udc80"]',
                '2["echo",{"\\ud800":1}]',
                '2["echo","\\u0000"]',
                '2["echo"]\x00',
            )
        )
        return "sio:surrogates-and-nul", ["4" + bad[0] + p + "3" * (bad[0] == "2") + bad[1:]]
    odd = rng.choice(ODD_NAMESPACES)
    return "sio:odd-namespace", [f"40{odd},", f'42{odd},["echo"]']


def eio_bad(rng: random.Random) -> tuple[str, Frames]:
    """A bad Engine.IO frame on an open WebSocket session."""
    choice = rng.randrange(11)
    if choice == 0:
        return "eio:empty-frame", [("", False)]
    if choice == 1:
        return "eio:unknown-type", [(rng.choice(("7", "9", "a", "b", "bAAAA", "-1", " 4")), False)]
    if choice == 2:
        return "eio:client-ping", [(rng.choice(("2", "2probe", "2x")), False)]
    if choice == 3:
        return "eio:unsolicited-pong", [(rng.choice(("3", "3probe", "3x")), False)]
    if choice == 4:
        return "eio:upgrade-on-websocket", [(rng.choice(("5", "5x")), False)]
    if choice == 5:
        return "eio:noop", [(rng.choice(("6", "6x")), False)]
    if choice == 6:
        return "eio:open-from-client", [(rng.choice(("0", "0{}")), False)]
    if choice == 7:
        return "eio:close", [(rng.choice(("1", "1x")), False)]
    if choice == 8:
        data = rng.choice((b"\x00\x01", b"", b"\xff" * 65536))
        return "eio:binary-frame", [(data, False)]
    if choice == 9:
        return "eio:invalid-utf8-text", [(rng.choice((b"4\xff\xfe", b'42["\xed\xa0\x80"]')), True)]
    return "eio:binary-instead-of-text", [(b'42["echo"]', False)]


def poll_bad(rng: random.Random) -> tuple[str, bytes, str | None]:
    """A bad long-polling POST body (label, body, content type)."""
    text = "text/plain;charset=UTF-8"
    choice = rng.randrange(14)
    if choice == 0:
        return "poll:empty-body", b"", text
    if choice == 1:
        return (
            "poll:empty-packet",
            rng.choice((b"\x1e", b'40\x1e\x1e42["e"]', b"6\x1e", b"\x1e6")),
            text,
        )
    if choice == 2:
        return "poll:bad-base64", rng.choice((b"b!!!!", b"bAAA", b"bAAAA=", b"b", b"b====")), text
    if choice == 3:
        return "poll:stray-base64-attachment", b"b" + base64.b64encode(b"\x01\x02"), text
    if choice == 4:
        return "poll:invalid-utf8", rng.choice((b"4\xff\xfe", b'42["\xed\xa0\x80"]')), text
    if choice == 5:
        body = b'42["echo","' + b"x" * (MAX_PAYLOAD + rng.choice((0, 1, 5000))) + b'"]'
        return "poll:over-max-payload", body, text
    if choice == 6:
        return "poll:octet-stream", b'\x0442["echo"]', "application/octet-stream"
    if choice == 7:
        return "poll:record-separator-in-json", b'421["echo","a\x1eb"]', text
    if choice == 8:
        return "poll:eio-bad", rng.choice((b"7", b"2", b"2probe", b"5", b"0", b"x")), text
    if choice == 9:
        sio = sio_bad(rng, ("/",))
        parts = [m.encode() if isinstance(m, str) else b"b" + base64.b64encode(m) for m in sio[1]]
        return "poll:" + sio[0], b"\x1e".join(parts), text
    if choice == 10:
        count = rng.choice((1001, 1500))
        return "poll:too-many-packets", b"\x1e".join([b'421["echo"]'] * count), text
    if choice == 11:
        return "poll:no-content-type", b'42["echo"]', None
    if choice == 12:
        return "poll:close-packet", b"1", text
    return (
        "poll:binary-then-text",
        b'451-["echo",' + (PLACEHOLDER % 0).encode() + b']\x1e42["x"]',
        text,
    )
