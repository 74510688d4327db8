"""Fuzzing the server machine: whatever a peer sends, the machine answers with outputs of the
documented types and never raises; a misbehaving connection is closed with a reason; and the
innocent clients connected next to it stay connected and keep receiving.

Inputs are random text and bytes, and mutations of valid Engine.IO and Socket.IO frames, fed
as WebSocket messages, as long-polling POST bodies, as probe messages, and as HTTP requests and
WebSocket handshakes with mangled queries, with time passing in between. The host reacts as an
application would (accepts or refuses connects, answers acks, finishes disconnects).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_rooms._engineio_server import (
    HttpRequest,
    HttpResponse,
    SessionClosed,
    SessionOpened,
    SessionState,
    WebSocketAccept,
    WebSocketClose,
    WebSocketReject,
    WebSocketSend,
)
from sansio_rooms._outputs import (
    AckCompleted,
    Connected,
    RoomCreated,
    RoomDeleted,
    RoomJoined,
    RoomLeft,
    SocketDisconnected,
    SocketDisconnecting,
)
from sansio_rooms._server import ConnectRequest, EventReceived

from ._server_helpers import Client, http_get, polled, polling_payload, query, server_machine

POLLING, UPGRADING = SessionState.POLLING, SessionState.UPGRADING

DOCUMENTED_OUTPUTS = {
    HttpResponse,
    WebSocketAccept,
    WebSocketReject,
    WebSocketSend,
    WebSocketClose,
    SessionOpened,
    SessionClosed,
    ConnectRequest,
    EventReceived,
    Connected,
    AckCompleted,
    SocketDisconnecting,
    SocketDisconnected,
    RoomCreated,
    RoomJoined,
    RoomLeft,
    RoomDeleted,
}

REASONS = {
    "transport error",
    "transport close",
    "forced close",
    "ping timeout",
    "parse error",
    "server shutting down",
    "forced server close",
    "client namespace disconnect",
    "server namespace disconnect",
}

PLACEHOLDER = '{"_placeholder":true,"num":%d}'

#: Valid Engine.IO frames (Socket.IO messages included), to be mutated.
VALID_FRAMES: list[str | bytes] = [
    "40",
    '40{"token":"abc"}',
    "40/chat,",
    '40/chat,{"token":1}',
    "41",
    "41/chat,",
    '42["chat","hello"]',
    '421["chat",{"n":1}]',
    '42/chat,7["ev",1,2.5,null,true]',
    "430[]",
    '43/chat,0["ok"]',
    '451-["up",' + PLACEHOLDER % 0 + "]",
    '452-/chat,3["up",' + PLACEHOLDER % 1 + "," + PLACEHOLDER % 0 + "]",
    "461-0[" + PLACEHOLDER % 0 + "]",
    '44{"message":"x"}',
    "40/random,",
    "2probe",
    "3probe",
    "1",
    "2",
    "3",
    "5",
    "6",
    "0",
    b"\x01\x02\x03",
    b"",
]

#: The socket ids and handles of the innocent clients: the fuzzer never names them.
INNOCENT_WS = "innocent-ws"
INNOCENT_POLLING = "innocent-polling"


class Source:
    """Where the fuzzer's choices come from: hypothesis draws (which shrink), or a seeded
    ``random.Random`` (a hundred times cheaper per input, for volume)."""

    def __init__(self, data: st.DataObject | None = None, seed: int = 0) -> None:
        self.data = data
        self.random = random.Random(seed)

    def choice(self, items: Sequence[Any]) -> Any:
        if self.data is not None:
            return self.data.draw(st.sampled_from(items))
        return self.random.choice(items)

    def integer(self, low: int, high: int) -> int:
        if self.data is not None:
            return self.data.draw(st.integers(low, high))
        return self.random.randint(low, high)

    def text(self, min_size: int, max_size: int) -> str:
        if self.data is not None:
            return self.data.draw(st.text(min_size=min_size, max_size=max_size))
        size = self.random.randint(min_size, max_size)
        return "".join(self.random.choice(ALPHABET) for _ in range(size))

    def binary(self, min_size: int, max_size: int) -> bytes:
        if self.data is not None:
            return self.data.draw(st.binary(min_size=min_size, max_size=max_size))
        return self.random.randbytes(self.random.randint(min_size, max_size))


#: Characters for the seeded source: the protocols' own, controls, non-ASCII, a surrogate.
ALPHABET = '0123456789abcxyz/,-"[]{}:\\ \x00\x1e\x7f\u00e9\u4e2d\ufeff\U0001f600\ud800'
PIECES = ['"', "[", "]", "{", "}", ",", "-", "/", "\x1e", "9", "\ud800", "\u00e9"]


def mutate(frame: str | bytes, source: Source) -> str | bytes:
    """One of a few mutations of ``frame``."""
    kind = source.choice(["same", "insert", "delete", "replace", "cut", "join", "swap"])
    if kind == "same":
        return frame
    if kind == "join":
        other = source.choice(VALID_FRAMES)
        if isinstance(frame, bytes) or isinstance(other, bytes):
            return (frame if isinstance(frame, bytes) else frame.encode()) + (
                other if isinstance(other, bytes) else other.encode()
            )
        return frame + other
    if kind == "swap":
        if isinstance(frame, str):
            return frame.encode("utf-8", "surrogatepass")
        return frame.decode("latin-1")
    at = source.integer(0, len(frame))
    if kind == "cut":
        return frame[:at]
    piece: Any
    if isinstance(frame, bytes):
        piece = source.binary(1, 3)
    elif source.integer(0, 1):
        piece = source.choice(PIECES)
    else:
        piece = source.text(1, 3)
    if kind == "insert":
        return frame[:at] + piece + frame[at:]
    if kind == "delete":
        return frame[:at] + frame[at + 1 :]
    return frame[:at] + piece + frame[at + 1 :]


def any_frame(source: Source) -> str | bytes:
    """A frame: random text or bytes, or a (mutated) valid frame."""
    kind = source.integer(0, 9)
    if kind == 0:
        return source.text(0, 40)
    if kind == 1:
        return source.binary(0, 40)
    if kind < 5:
        return source.choice(VALID_FRAMES)
    return mutate(source.choice(VALID_FRAMES), source)


def ws_frame(source: Source) -> str | bytes:
    """A WebSocket message. A text frame is valid UTF-8 (RFC 6455, 8.1: the binding's
    WebSocket library checks it), so it holds no lone surrogate."""
    frame = any_frame(source)
    if isinstance(frame, str):
        return frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return frame


def post_body(source: Source) -> bytes:
    """A long-polling body: mutated frames joined by \\x1e (binary as base64), or junk."""
    kind = source.integer(0, 5)
    if kind == 0:
        return source.binary(0, 60)
    packets = [any_frame(source) for _ in range(source.integer(1, 4))]
    if kind == 3:  # ends with a control packet: the session may end before its messages run
        packets.append(source.choice(["1", "2", "3", "6"]))
    body = polling_payload(packets).encode("utf-8", "surrogatepass")
    if kind == 1:
        at = source.integer(0, len(body))
        body = body[:at] + source.binary(0, 4) + body[at + 1 :]
    if kind == 2:
        body += b"\x1eb" + base64.b64encode(source.binary(0, 8))
    return body


class Fuzzer:
    """A machine with two innocent clients, one offender at a time, and a host that reacts."""

    def __init__(self) -> None:
        self.machine = server_machine(max_payload=200, max_buffered_packets=20)
        machine = self.machine
        self.now = 0.0
        self.ws_open: set[Any] = set()  # WebSocket handles accepted and not closed
        self.parked: dict[Any, str | None] = {}  # HTTP handle waiting -> its sid
        self.closed: set[str] = set()  # sessions reported closed
        self.answered: set[Any] = set()
        self.inputs = 0
        self.refuse_next = False
        ws = Client(machine, INNOCENT_WS)
        self.ws_open.add(INNOCENT_WS)
        self.innocent_ws = (ws, ws.connect("/"), ws.connect("/chat"))
        polling = Client(machine, INNOCENT_POLLING, "polling")
        self.innocent_polling = (polling, polling.connect("/"))
        self.innocent_eio = {ws.eio_sid, polling.eio_sid}
        self.innocent_sids = {*self.innocent_ws[1:], self.innocent_polling[1]}
        machine.engine.namespace("/").join(self.innocent_ws[1], "room")
        self.serial = 0
        self.offenders: dict[str, Client | None] = {"websocket": None, "polling": None}
        self.probe: str | None = None
        self.shutting_down = False

    def fresh(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    # -- the invariants, checked on every output list ---------------------------------------

    def check(self, outputs: list[Any], answering: Any = None, sid: str | None = None) -> list[Any]:
        reactions: list[Any] = []
        for output in outputs:
            kind = type(output)
            assert kind in DOCUMENTED_OUTPUTS, output
            if kind is HttpResponse:
                handle = output.handle
                assert handle not in self.answered, f"{handle} answered twice"
                assert handle == answering or handle in self.parked, output
                self.parked.pop(handle, None)
                self.answered.add(handle)
            elif kind is WebSocketAccept:
                assert output.handle not in self.ws_open
                self.ws_open.add(output.handle)
            elif kind is WebSocketReject:
                assert output.handle not in self.ws_open
            elif kind is WebSocketSend:
                assert output.handles and set(output.handles) <= self.ws_open, output
                assert all(type(f) in (str, bytes) for f in output.frames)
            elif kind is WebSocketClose:
                assert output.handle in self.ws_open, output
                # Normal, a bad probe, or a message over max_payload.
                assert output.code in (1000, 1002, 1009), output
                assert output.handle != INNOCENT_WS or self.shutting_down
                self.ws_open.discard(output.handle)
            elif kind is SessionClosed:
                assert output.reason in REASONS, output
                assert isinstance(output.description, str) and output.description
                assert output.eio_sid not in self.innocent_eio or self.shutting_down, output
                assert output.eio_sid not in self.closed, f"{output.eio_sid} closed twice"
                self.closed.add(output.eio_sid)
            elif kind is SocketDisconnecting:
                assert output.sid not in self.innocent_sids or self.shutting_down, output
                assert output.reason in REASONS, output
                reactions.append(output)
            elif kind in (ConnectRequest, EventReceived):
                reactions.append(output)
        if answering is not None and answering not in self.answered:
            self.parked[answering] = sid
        for output in reactions:
            self.react(output)
        return outputs

    def react(self, output: Any) -> None:
        """What an application does with it."""
        machine = self.machine
        kind = type(output)
        if kind is ConnectRequest:
            self.refuse_next = not self.refuse_next
            if self.refuse_next:
                self.check(machine.refuse(output.nsp, output.sid, "no", {"why": 1}))
            else:
                self.check(machine.accept(output.nsp, output.sid))
                if machine.engine.namespace(output.nsp).is_connected(output.sid):
                    self.check(machine.emit(output.nsp, "welcome", b"\x00", rooms="room"))
        elif kind is EventReceived:
            assert output.sid not in self.innocent_sids
            if output.ack_id is not None:
                self.check(machine.send_ack(output.nsp, output.sid, output.ack_id, "ok", b"\x01"))
            if output.event == "ev" and machine.engine.namespace(output.nsp).is_connected(
                output.sid
            ):
                close = output.ack_id is None
                self.check(
                    machine.disconnect(output.nsp, output.sid, self.now, close_connection=close)
                )
        else:
            self.check(machine.finish_disconnect(output.nsp, output.sid))

    # -- the offender -----------------------------------------------------------------------

    def ensure_offender(self, transport: str) -> Client:
        """The offender on that transport, a new one if it is closed (or, for polling, has
        left long-polling)."""
        eio = self.machine.eio
        offender = self.offenders[transport]
        if offender is not None and offender.eio_sid in eio:
            state = eio.state_of(offender.eio_sid)
            if state is not SessionState.DRAINING and (
                transport == "websocket" or state is not SessionState.WEBSOCKET
            ):
                return offender
        name = self.fresh(f"{transport}-offender-")
        client = Client(self.machine, name, transport, now=self.now)
        answering = client.opened[0].handle if transport == "polling" else None
        self.check(client.opened, answering=answering)
        # Connected to "/" (and some to "/chat"), so that valid events go through too.
        for nsp in ("/", "/chat")[: 1 + self.serial % 2]:
            client.connect(nsp, now=self.now)
        self.offenders[transport] = client
        if transport == "polling":
            self.probe = None
        return client

    def draining_offender(self) -> Client | None:
        """The polling offender, if the host closed it and its close packet still waits."""
        eio = self.machine.eio
        offender = self.offenders["polling"]
        if offender is None or offender.eio_sid not in eio:
            return None
        return offender if eio.state_of(offender.eio_sid) is SessionState.DRAINING else None

    def step(self, source: Source) -> None:
        machine = self.machine
        action = source.choice(
            ["ws", "ws", "ws", "post", "post", "get", "probe", "http", "http", "time"]
        )
        self.inputs += 1
        if action == "ws":
            client = self.ensure_offender("websocket")
            self.check(machine.websocket_message(client.name, ws_frame(source), self.now))
        elif action == "post":
            client = self.ensure_offender("polling")
            handle = client.handle("post")
            content_type = source.choice([None, None, "application/octet-stream"])
            request = HttpRequest(
                handle=handle,
                method="POST",
                query=query(client.eio_sid),
                body=post_body(source),
                content_type=content_type,
            )
            self.check(machine.receive_request(request, self.now), handle, client.eio_sid)
        elif action == "get":
            # A client closed by the host polls once more, for the close packet.
            draining = self.draining_offender()
            client = draining or self.ensure_offender("polling")
            handle = client.handle("get")
            outputs = machine.receive_request(http_get(handle, client.eio_sid), self.now)
            self.check(outputs, handle, client.eio_sid)
            if draining is not None:
                assert outputs, f"the GET of draining session {client.eio_sid} was parked"
                assert outputs[0].handle == handle and outputs[0].body.endswith(b"1"), outputs
                assert client.eio_sid not in machine.eio
            if source.integer(0, 1) and handle in self.parked:
                del self.parked[handle]
                self.answered.add(handle)
                self.check(machine.request_closed(handle, self.now))
        elif action == "probe":
            client = self.ensure_offender("polling")
            if self.probe is None or self.probe not in self.ws_open:
                self.probe = self.fresh("probe-")
                self.check(
                    machine.websocket_connect(
                        self.probe, query(client.eio_sid, transport="websocket"), self.now
                    )
                )
            if self.probe in self.ws_open:
                frame = source.choice(["2probe", "5"]) if source.integer(0, 1) else ws_frame(source)
                self.check(machine.websocket_message(self.probe, frame, self.now))
                if source.integer(0, 5) == 0:
                    self.ws_open.discard(self.probe)
                    self.check(machine.websocket_closed(self.probe, self.now))
        elif action == "http":
            handle = self.fresh("http-")
            known = [c.eio_sid for c in self.offenders.values() if c is not None]
            sid = (
                source.choice(["", "unknown", *known])
                if source.integer(0, 3)
                else source.text(0, 5)
            )
            mangled = {
                key: value
                for key, value in (
                    ("EIO", source.choice(["4", "3", "", "x"])),
                    ("transport", source.choice(["polling", "websocket", "", "x"])),
                    ("sid", sid),
                )
                if source.integer(0, 4)
            }
            if source.integer(0, 1):
                method = source.choice(["GET", "POST", "PUT", "OPTIONS"])
                request = HttpRequest(
                    handle=handle, method=method, query=mangled, body=post_body(source)
                )
                self.check(machine.receive_request(request, self.now), handle, mangled.get("sid"))
            else:
                self.check(machine.websocket_connect(handle, mangled, self.now))
        else:
            self.now += source.choice([0.5, 5.0, 10.0, 21.0, 26.0, 46.0])
            self.check(machine.advance(self.now))
            self.keep_innocents_alive()

    def check_sessions(self) -> None:
        """No session ends silently, and a GET waits only on a session that can answer it."""
        eio = self.machine.eio
        for offender in self.offenders.values():
            if offender is None:
                continue
            sid = offender.eio_sid
            live = sid in eio and eio.state_of(sid) is not SessionState.DRAINING
            assert live is (sid not in self.closed), sid
            if not live:
                for nsp, socket in offender.sids.items():
                    assert not self.machine.engine.namespace(nsp).is_connected(socket)
        waiting = list(self.parked.values())
        assert len(waiting) == len(set(waiting)), "two GETs parked on one session"
        for sid in waiting:
            assert sid in eio and eio.state_of(sid) in (POLLING, UPGRADING), sid

    def keep_innocents_alive(self) -> None:
        """The innocent clients answer every ping at once."""
        ws, _, _ = self.innocent_ws
        polling, _ = self.innocent_polling
        self.check(ws.send("3", now=self.now))
        self.check(polling.send("3", now=self.now))

    def check_innocents(self) -> None:
        machine = self.machine
        ws, ws_root, ws_chat = self.innocent_ws
        polling, polling_root = self.innocent_polling
        root = machine.engine.namespace("/")
        assert root.is_connected(ws_root) and root.is_connected(polling_root)
        assert machine.engine.namespace("/chat").is_connected(ws_chat)
        assert machine.eio.state_of(ws.eio_sid) is SessionState.WEBSOCKET
        assert machine.eio.state_of(polling.eio_sid) is SessionState.POLLING
        outputs = machine.emit("/", "after", sids=[ws_root, polling_root])
        assert outputs[0] == WebSocketSend(handles=(INNOCENT_WS,), frames=('42["after"]',))
        _, answer = polling.poll(self.now)
        assert len(answer) == 1 and answer[0].body.endswith(b'42["after"]'), answer
        assert ws.emit('2["still"]', now=self.now)[0] == EventReceived(
            nsp="/", sid=ws_root, event="still", args=(), ack_id=None
        )


def play(fuzzer: Fuzzer, source: Source, steps: int) -> int:
    """``steps`` inputs, then the innocents are checked and the server shut down."""
    for _ in range(steps):
        fuzzer.step(source)
        fuzzer.check_sessions()
    fuzzer.check_innocents()
    # Whatever happened, a shutdown still closes every connection, with its reason.
    fuzzer.shutting_down = True
    outputs = fuzzer.check(fuzzer.machine.shutdown(fuzzer.now))
    closes = [o for o in outputs if type(o) is SessionClosed]
    assert {o.reason for o in closes} == {"server shutting down"}
    innocents = {fuzzer.innocent_ws[0].eio_sid, fuzzer.innocent_polling[0].eio_sid}
    assert innocents <= {o.eio_sid for o in closes}
    # A shutdown is a close by the host: the idle poller gets the close packet on its next GET.
    polling = fuzzer.innocent_polling[0]
    handle, answer = polling.poll(fuzzer.now)
    assert answer == [polled(handle, "1")]
    return fuzzer.inputs


FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_fuzz_with_hypothesis_draws() -> None:
    """Every choice a hypothesis draw, so a failure shrinks to a short script."""
    counted = []

    @settings(FUZZ_SETTINGS, max_examples=1000)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        source = Source(data)
        counted.append(play(Fuzzer(), source, source.integer(1, 12)))

    fuzz()
    assert sum(counted) >= 5_000


def test_fuzz_with_seeded_randomness() -> None:
    """Volume: 40 inputs per example from a seeded generator (hypothesis picks the seeds)."""
    counted = []

    @settings(FUZZ_SETTINGS, max_examples=1000)
    @given(seed=st.integers(0, 2**32 - 1))
    def fuzz(seed: int) -> None:
        counted.append(play(Fuzzer(), Source(seed=seed), 40))

    fuzz()
    assert sum(counted) == 40_000
