"""The inputs: a session generator per scenario, each a function of a seeded ``random.Random``.

A session starts well (a handshake, a namespace CONNECT, a batch of valid events, maybe an
upgrade) and ends with what is being tried: a malformed Engine.IO or Socket.IO packet, a bad
request, a close at an awkward moment. The server closes a connection that sent garbage, so
the garbage comes last; the valid batch before it ends with an acknowledged event, waited for,
so that the server has read the batch before the garbage arrives.

Every input is labelled (``sio:deep-nesting``, ``poll:over-max-payload``, ...): the labels of
what a failing session sent say which kind of input found the failure.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

from _catalog import (
    MAX_ATTACHMENTS,
    PLACEHOLDER,
    ack_prefix,
    args_json,
    connect_reply,
    dumps,
    eio_bad,
    nspc,
    poll_bad,
    sio_bad,
    small_value,
)
from _steps import Http, Session, Sleep, WsClose, WsExpect, WsOpen, WsSend

__all__ = ["KINDS", "generate"]

UPGRADE_TIMEOUT = 2.0  # fuzz/server.py's upgrade_timeout
WS = "EIO=4&transport=websocket"
POLL = "EIO=4&transport=polling"
POLL_SID = "EIO=4&transport=polling&sid={sid}"
WS_SID = "EIO=4&transport=websocket&sid={sid}"
SLEEPS = (0.001, 0.005, 0.01, 0.02, 0.05)

# -- the builder ---------------------------------------------------------------------------------


class Builder:
    """Steps, and the ack ids used so far."""

    def __init__(self, rng: random.Random, kind: str, seed: int) -> None:
        self.rng = rng
        self.session = Session(kind=kind, seed=seed)
        self.ack_id = 0

    def add(self, *steps: Any) -> None:
        self.session.steps.extend(steps)

    def send(self, data: str | bytes, slot: int = 0, label: str = "", text: bool = False) -> None:
        self.add(WsSend(slot, data, label, text))

    def next_ack(self) -> int:
        self.ack_id += 1
        return self.ack_id

    def ws_connect(self, slot: int = 0, nsps: tuple[str, ...] = ("/",), auth: str = "") -> None:
        """Open a WebSocket session and connect namespaces, waiting for each reply."""
        self.add(WsOpen(slot, WS), WsExpect(slot, "0{"))
        for nsp in nsps:
            self.send("40" + nspc(nsp) + auth, slot, "sio:connect")
            self.add(WsExpect(slot, connect_reply(nsp)))

    def poll_connect(self, nsp: str = "/", auth: str = "") -> None:
        self.add(Http("GET", POLL, label="http:handshake"))
        self.add(Http("POST", POLL_SID, ("40" + nspc(nsp) + auth).encode(), label="sio:connect"))
        self.add(Http("GET", POLL_SID, label="poll:get"))

    def valid_batch(self, nsps: tuple[str, ...], count: int, slot: int = 0) -> None:
        """``count`` valid inputs, then an acknowledged echo that is waited for."""
        rng = self.rng
        for _ in range(count):
            nsp = rng.choice(nsps)
            r = rng.random()
            ack = self.next_ack() if rng.random() < 0.5 else None
            head = "42" + nspc(nsp) + ("" if ack is None else str(ack))
            if r < 0.7:
                self.send(f'{head}["echo"{args_json(rng)}]', slot, "sio:event")
            elif r < 0.8:
                name = dumps(rng.choice(("x", "chat message", "", "*", "ünï", 7, 1.5, -1)))
                self.send(f"{head}[{name}{args_json(rng)}]", slot, "sio:event-catch-all")
            elif r < 0.84:
                self.send(f'{head}["bcast"{args_json(rng)}]', slot, "sio:broadcast")
            elif r < 0.87:
                room = dumps(rng.choice(("room", "", 5, 5.5, None, {}, ["a", "b"], "x" * 300)))
                self.send(f'{head}["join",{room}]', slot, "sio:join")
            elif r < 0.89:
                # The server asks a question with an ack: the executor answers it.
                self.send(f'{head}["ackme"{args_json(rng)}]', slot, "sio:server-ack")
            elif r < 0.92:
                guess = rng.choice((0, 1, 99, 2**53 - 1))
                self.send(f"43{nspc(nsp)}{guess}[{dumps(small_value(rng))}]", slot, "sio:ack")
            elif r < 0.97:
                n = rng.randint(1, 3)
                holders = ",".join(PLACEHOLDER % i for i in range(n))
                head = f"45{n}-{nspc(nsp)}{'' if ack is None else ack}"
                self.send(f'{head}["echo",{holders}]', slot, "sio:binary-event")
                for i in range(n):
                    self.send(bytes([i]) * rng.choice((0, 1, 3, 100)), slot, "sio:binary-event")
            elif r < 0.98:
                self.send(f'42{nspc(nsp)}9007199254740991["echo",1]', slot, "sio:ack-id-max")
            else:
                self.send(f"40{nspc('/nope')}", slot, "sio:connect-unknown-nsp")
        final = self.next_ack()
        self.send(f'42{final}["echo","end"]', slot, "sio:event")
        self.add(WsExpect(slot, ack_prefix("/", final)))


# -- the scenarios -------------------------------------------------------------------------------


def end_ws(b: Builder, slot: int = 0) -> None:
    r = b.rng.random()
    if r < 0.15:
        b.add(WsClose(slot, abort=True))
    elif r < 0.2:
        pass  # left to the executor, which closes what is open at the end
    else:
        b.add(WsClose(slot))


#: Events sent right before the connection closes ("silent": the client will not answer the
#: server's question).
IN_FLIGHT = (
    '"echo",1',
    '"ackme"',
    '"ackme","silent"',
    '"bcast","x"',
    '"join","r"',
    '"bye"',
    '"bye",true',
    '"other"',
)


def ws_bad_last(b: Builder, connected: tuple[str, ...], slot: int = 0) -> None:
    """The last input of a WebSocket session: a bad packet, or a clean goodbye; sometimes
    right behind events whose handlers then run while the connection closes."""
    rng = b.rng
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 3)):
            nsp = rng.choice(connected)
            event = rng.choice(IN_FLIGHT)
            b.send(f"42{nspc(nsp)}{b.next_ack()}[{event}]", slot, "sio:in-flight-at-close")
    r = rng.random()
    if r < 0.55:
        label, messages = sio_bad(rng, connected)
        for message in messages:
            b.send(message, slot, label)
    elif r < 0.85:
        label, frames = eio_bad(rng)
        for data, text in frames:
            b.send(data, slot, label, text)
    elif r < 0.9:
        nsp = rng.choice(connected)
        b.send(f'42{nspc(nsp)}["bye",{dumps(rng.random() < 0.5)}]', slot, "sio:server-disconnect")
        b.add(WsExpect(slot, "41", timeout=0.5))
    elif r < 0.95:
        nsp = rng.choice(connected)
        b.send(f"41{nspc(nsp)}", slot, "sio:client-disconnect")
    else:
        b.send("1", slot, "eio:close")


def ws_batch(b: Builder) -> None:
    rng = b.rng
    nsps: tuple[str, ...] = rng.choice((("/",), ("/",), ("/", "/chat")))
    auth = rng.choice(("", "", "{}", '{"greet":true}', '{"a":[1,{"b":null}]}', '{"x":"\\udbff"}'))
    b.ws_connect(0, nsps, auth)
    b.valid_batch(nsps, rng.randint(20, 150))
    ws_bad_last(b, nsps)
    end_ws(b)


def ws_binary(b: Builder) -> None:
    """Binary events done right, then one done wrong."""
    rng = b.rng
    b.ws_connect()
    for _ in range(rng.randint(5, 40)):
        n = rng.randint(1, MAX_ATTACHMENTS)
        holders = ",".join(PLACEHOLDER % i for i in rng.sample(range(n), n))
        b.send(f'45{n}-{b.next_ack()}["echo",{{"x":[{holders}]}}]', 0, "sio:binary-event")
        for i in range(n):
            b.send(bytes([i]) * rng.choice((0, 1, 10, 1000)), 0, "sio:binary-event")
    final = b.next_ack()
    b.send(f'42{final}["echo"]', 0, "sio:event")
    b.add(WsExpect(0, ack_prefix("/", final)))
    for _ in range(10):
        label, messages = sio_bad(rng, ("/",))
        if "attach" in label or "binary" in label or "placeholder" in label:
            break
    for message in messages:
        b.send(message, 0, label)
    end_ws(b)


def ws_abort(b: Builder) -> None:
    """A client that goes away (or misbehaves) while its connect handler runs."""
    rng = b.rng
    sleep = rng.choice(SLEEPS)
    b.add(WsOpen(0, WS), WsExpect(0, "0{"))
    variant = rng.randrange(8)
    extra = rng.choice(("", ',"greet":true', ',"refuse":true'))
    auth = f'{{"sleep":{sleep}{extra}}}'
    if variant == 0:
        b.send("40" + auth, 0, "abort:close-during-connect")
    elif variant == 1:
        b.send("40" + auth, 0, "abort:close-during-two-connects")
        b.send("40/chat," + auth, 0, "abort:close-during-two-connects")
    elif variant == 2:
        b.send("40" + auth, 0, "abort:event-while-connect-pending")
        b.send('421["echo"]', 0, "abort:event-while-connect-pending")
    elif variant == 3:
        b.send("40" + auth, 0, "abort:disconnect-while-connect-pending")
        b.send("41", 0, "abort:disconnect-while-connect-pending")
    elif variant == 4:
        b.send("40" + auth, 0, "abort:garbage-while-connect-pending")
        label, frames = eio_bad(rng)
        for data, text in frames:
            b.send(data, 0, label, text)
    elif variant == 5:
        b.send("40", 0, "sio:connect")
        b.add(WsExpect(0, "40{"))
        b.send("41", 0, "sio:client-disconnect")
        b.send("40" + auth, 0, "abort:close-during-reconnect")
    elif variant == 6:
        b.send("40/chat,", 0, "sio:connect")
        b.add(WsExpect(0, "40/chat,{"))
        b.send("40" + auth, 0, "abort:close-during-second-nsp-connect")
    else:
        b.send("40" + auth, 0, "abort:eio-close-during-connect")
        b.send("1", 0, "abort:eio-close-during-connect")
    if rng.random() < 0.6:
        b.add(Sleep(rng.uniform(0, sleep * 1.5)))
    b.add(WsClose(0, abort=rng.random() < 0.5))


def poll_batch(b: Builder) -> None:
    """Long-polling: several packets per POST, then a bad body or request."""
    rng = b.rng
    b.poll_connect()
    for _ in range(rng.randint(1, 4)):
        packets = []
        for _ in range(rng.randint(1, 60)):
            packets.append(f'42{b.next_ack()}["echo"{args_json(rng)}]'.encode())
            if rng.random() < 0.05:
                packets.append(b'451-["echo",' + (PLACEHOLDER % 0).encode() + b"]")
                packets.append(b"b" + base64.b64encode(bytes(rng.randrange(50))))
        b.add(Http("POST", POLL_SID, b"\x1e".join(packets), label="poll:events"))
        b.add(Http("GET", POLL_SID, label="poll:get"))
    r = rng.random()
    if r < 0.65:
        label, body, content_type = poll_bad(rng)
        b.add(Http("POST", POLL_SID, body, content_type, label=label))
        b.add(Http("GET", POLL_SID, label="poll:get-after"))
    elif r < 0.8:
        b.add(Http("GET", POLL_SID, wait=False, label="poll:duplicate-get"))
        b.add(Sleep(0.005))
        b.add(Http("GET", POLL_SID, label="poll:duplicate-get"))
    elif r < 0.9:
        method = rng.choice(("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"))
        b.add(Http(method, POLL_SID, b"42[]", label="http:other-method"))
    else:
        b.add(Http("POST", POLL_SID, b"1", label="poll:close-packet"))
        b.add(Http("GET", POLL_SID, label="poll:get-after-close"))
        b.add(Http("POST", POLL_SID, b'42["echo"]', label="poll:post-after-close"))


HTTP_ODD = (
    ("GET", "EIO=4&transport=polling&sid=unknown"),
    ("POST", "EIO=4&transport=polling&sid=nope"),
    ("GET", "transport=polling"),
    ("GET", "EIO=3&transport=polling"),
    ("GET", "EIO=5&transport=polling"),
    ("GET", "EIO=&transport=polling"),
    ("GET", "EIO=4"),
    ("GET", "EIO=4&transport=flashsocket"),
    ("GET", "EIO=4&transport=websocket"),
    ("GET", "EIO=4&transport=polling&sid="),
    ("GET", "EIO=4&transport=polling&j=0"),
    ("GET", "EIO=4&transport=polling&b64=1"),
    ("GET", "EIO=4&transport=polling&EIO=3"),
    ("POST", "EIO=4&transport=polling"),
    ("PUT", "EIO=4&transport=polling"),
    ("OPTIONS", "EIO=4&transport=polling"),
    ("GET", "EIO=4&transport=polling&%ff=%fe&sid=%00"),
    ("GET", "EIO=%34&transport=polling"),
    ("GET", "EIO=4&transport=polling&t=" + "x" * 6000),
    ("GET", "EIO=4&transport=polling&sid=" + "s" * 3000),
    ("GET", ""),
)


def http_odd(b: Builder) -> None:
    """Requests that are wrong before any session: bad queries, methods, unknown sids; and
    the sid of a WebSocket session used over long-polling."""
    rng = b.rng
    for _ in range(rng.randint(1, 6)):
        method, query = rng.choice(HTTP_ODD)
        b.add(Http(method, query, b"40" if method != "GET" else b"", label="http:odd-request"))
    if rng.random() < 0.5:
        b.add(WsOpen(0, WS), WsExpect(0, "0{"))
        b.add(Http(rng.choice(("GET", "POST")), POLL_SID, b"40", label="http:sid-of-websocket"))
        b.add(WsOpen(1, WS_SID, label="wsq:second-websocket-same-sid"))
        b.add(WsClose(0))
    else:
        query = rng.choice(
            (
                "EIO=3&transport=websocket",
                "EIO=4&transport=polling",
                "EIO=4",
                "EIO=4&transport=websocket&sid=unknown",
                "transport=websocket",
                "EIO=4&transport=websocket&sid=",
            )
        )
        b.add(WsOpen(0, query, label="wsq:odd-query"))
        b.send("40", 0, "sio:connect")
        b.add(WsClose(0))


def upgrade(b: Builder) -> None:
    """Long-polling, then a WebSocket upgrade: in order, out of order, half-way."""
    rng = b.rng
    b.poll_connect(auth=rng.choice(("", '{"sleep":0.005}')))
    if rng.random() < 0.5:
        b.add(Http("GET", POLL_SID, wait=False, label="poll:parked-get"))
    b.add(WsOpen(1, WS_SID, label="upg:probe-websocket"))
    variant = rng.randrange(10)
    if variant <= 3:  # in order
        b.send("2probe", 1, "upg:probe")
        b.add(WsExpect(1, "3probe"))
        b.send("5", 1, "upg:upgrade")
        b.valid_batch(("/",), rng.randint(5, 40), slot=1)
        r = rng.random()
        if r < 0.3:
            b.add(WsOpen(2, WS_SID, label="upg:second-websocket-after-upgrade"))
        elif r < 0.5:
            b.add(
                Http(rng.choice(("GET", "POST")), POLL_SID, b"42[]", label="upg:poll-after-upgrade")
            )
        ws_bad_last(b, ("/",), slot=1)
    elif variant == 4:
        b.send("5", 1, "upg:upgrade-without-probe")
        b.add(Http("POST", POLL_SID, b'421["echo"]', label="poll:events"))
        b.add(Http("GET", POLL_SID, label="poll:get"))
    elif variant == 5:
        b.send("2probe", 1, "upg:probe-twice")
        b.send("2probe", 1, "upg:probe-twice")
        b.send("5", 1, "upg:upgrade")
    elif variant == 6:
        b.send("2probe", 1, "upg:probe")
        data = rng.choice(('421["echo"]', b"\x01", "40", "3", "1", "6", "", "2"))
        b.send(data, 1, "upg:other-packet-on-probe")
        b.send("5", 1, "upg:upgrade")
        b.add(Http("POST", POLL_SID, b'421["echo"]', label="poll:events"))
    elif variant == 7:
        b.send("2probe", 1, "upg:probe-then-abort")
        b.add(WsClose(1, abort=True))
        b.add(Http("POST", POLL_SID, b'421["echo"]', label="poll:events"))
        b.add(Http("GET", POLL_SID, label="poll:get"))
    elif variant == 8:
        b.send("2probe", 1, "upg:probe")
        b.add(Http("POST", POLL_SID, b"1", label="upg:close-during-upgrade"))
        b.send("5", 1, "upg:upgrade-after-close")
        b.send('421["echo"]', 1, "upg:event-after-close")
    else:
        b.send("2probe", 1, "upg:probe")
        if rng.random() < 0.1:
            b.add(Sleep(UPGRADE_TIMEOUT + 0.2))  # the upgrade times out
        b.send("5", 1, "upg:late-upgrade")
        b.send('421["echo"]', 1, "upg:event")
    end_ws(b, 1)


def poll_abort(b: Builder) -> None:
    """Long-polling clients that leave while their connect handler runs."""
    rng = b.rng
    sleep = rng.choice(SLEEPS)
    b.add(Http("GET", POLL, label="http:handshake"))
    body = f'40{{"sleep":{sleep}}}'.encode()
    variant = rng.randrange(4)
    if variant == 0:
        b.add(Http("POST", POLL_SID, body, label="abort:poll-close-during-connect"))
        b.add(Http("POST", POLL_SID, b"1", label="abort:poll-close-during-connect"))
    elif variant == 1:
        b.add(Http("POST", POLL_SID, body + b'\x1e42["echo"]', label="abort:poll-event-pending"))
    elif variant == 2:
        b.add(Http("POST", POLL_SID, body, label="abort:poll-overlapping-gets-during-connect"))
        b.add(Http("GET", POLL_SID, wait=False, label="abort:poll-overlapping-gets-during-connect"))
        b.add(Http("GET", POLL_SID, label="abort:poll-overlapping-gets-during-connect"))
    else:
        b.add(Http("POST", POLL_SID, body, label="abort:poll-abandoned-during-connect"))
        b.add(Http("GET", POLL_SID, wait=False, label="abort:poll-abandoned-during-connect"))


#: scenario -> (generator, weight)
KINDS: dict[str, tuple[Callable[[Builder], None], int]] = {
    "ws-batch": (ws_batch, 40),
    "ws-binary": (ws_binary, 8),
    "ws-abort": (ws_abort, 14),
    "poll-batch": (poll_batch, 12),
    "poll-abort": (poll_abort, 6),
    "http-odd": (http_odd, 6),
    "upgrade": (upgrade, 14),
}
_NAMES = list(KINDS)
_WEIGHTS = [weight for _, weight in KINDS.values()]


def generate(seed: int, kind: str | None = None) -> Session:
    """The session of ``seed`` (its scenario drawn from the same seed unless given)."""
    rng = random.Random(seed)
    name = rng.choices(_NAMES, _WEIGHTS)[0] if kind is None else kind
    builder = Builder(rng, name, seed)
    KINDS[name][0](builder)
    return builder.session
