"""The loop-independent half of the bindings (ServerDriver, BroadcastOperator, Socket),
driven by a tiny cooperative scheduler written for this test: no event loop at all, which
is also the proof that the driver needs none."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest

from sansio_rooms import (
    AckCompleted,
    AckTimeoutError,
    HttpRequest,
    InvalidStateError,
    LocalProtocolError,
    ServerDriver,
    Socket,
    UnknownSocketError,
)
from sansio_rooms._driver import CONNECT_REPLY_GAP

from ._hand_driver import HandDriven


class _Yield:
    def __await__(self) -> Generator[None, None, None]:
        yield


class _Waiter:
    def __init__(self) -> None:
        self.value: AckCompleted | None = None

    def set(self, value: AckCompleted) -> None:
        self.value = value

    async def wait(self) -> AckCompleted:
        while self.value is None:
            await _Yield()
        return self.value


class Driver(HandDriven, ServerDriver):
    """A server driven by hand (see :class:`HandDriven`)."""

    def _new_waiter(self) -> _Waiter:
        return _Waiter()

    def _wall_time(self) -> float:
        return 1_800_000_000.5  # a fixed instant: handshakes are reproducible

    def start(self, coroutine: Awaitable[Any]) -> Callable[[], Any]:
        """Run a coroutine of the test as a task; returns a function giving its result."""
        outcome: dict[str, Any] = {}

        async def capture() -> None:
            try:
                outcome["value"] = await coroutine
            except Exception as error:
                outcome["error"] = error

        self._spawn(capture())
        self.settle()

        def result() -> Any:
            if "error" in outcome:
                raise outcome["error"]
            return outcome["value"]

        return result


class Client:
    """A WebSocket client by hand: the driver's handle for the connection is this object."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.frames: list[str | bytes] = []
        self.closed = self.accepted = False
        driver._websocket_connect(self, {"EIO": "4", "transport": "websocket"})
        self.sid = ""

    prepare = staticmethod(tuple)

    def accept(self) -> None:
        self.accepted = True

    def write(self, frames: Any, volatile: bool = False) -> None:
        self.frames.extend(frames)

    def write_control(self, frames: Any) -> None:
        self.frames.extend(frames)

    def close(self, code: int = 1000) -> None:
        self.closed = True

    def hold(self, seconds: float) -> None:
        """What is written next waits ``seconds``: marks the point in ``frames``."""
        self.frames.append(f"<hold {seconds}>")

    def feed(self, frame: str) -> None:
        self.driver._websocket_message(self, frame)
        self.driver.settle()

    def connect(self) -> str:
        self.feed("40")
        reply = next(f for f in self.frames if isinstance(f, str) and f.startswith("40{"))
        self.sid = json.loads(reply[2:])["sid"]
        return self.sid

    def texts(self, prefix: str = "42") -> list[str]:
        return [f for f in self.frames if isinstance(f, str) and f.startswith(prefix)]


def test_handlers_run_without_an_event_loop() -> None:
    driver = Driver()
    seen: list[Any] = []

    @driver.event
    def hello(socket: Socket, name: str) -> str:
        seen.append(("hello", name, socket.handshake.query["transport"]))
        return f"hi {name}"

    @driver.on("boom")
    async def boom(socket: Socket) -> None:
        raise RuntimeError("handler bug")

    @driver.on("disconnecting")
    def disconnecting(socket: Socket, reason: str) -> None:
        raise RuntimeError("another handler bug")

    @driver.on("disconnect")
    def disconnect(socket: Socket, reason: str) -> None:
        seen.append(("disconnect", reason, socket.rooms))

    client = Client(driver)
    sid = client.connect()
    client.feed('421["hello","ann"]')
    assert client.texts("43") == ['431["hi ann"]']
    client.feed('422["boom"]')  # a failing handler is logged; no answer, nothing else breaks
    assert client.texts("43") == ['431["hi ann"]']
    client.feed("41")
    assert seen == [
        ("hello", "ann", "websocket"),
        ("disconnect", "client namespace disconnect", frozenset()),
    ]
    assert driver.get_socket(sid) is None


def test_the_operator_from_the_server_and_from_a_socket(caplog: pytest.LogCaptureFixture) -> None:
    driver = Driver()
    a, b, c = Client(driver), Client(driver), Client(driver)
    for client in (a, b, c):
        client.connect()
    socket_a = driver.get_socket(a.sid)
    assert socket_a is not None and repr(socket_a) == f"<Socket {a.sid} of />"
    socket_a.join(["x", "y"])
    driver.get_socket(b.sid).join("x")  # type: ignore[union-attr]
    operator = driver.to("x").compress(False).volatile.local.broadcast
    assert operator.selection.rooms == ("x",) and not operator.selection.compress_flag
    assert operator.selection.volatile_flag and operator.selection.local_flag
    driver.start(operator.emit("v"))
    driver.start(driver.except_("y").emit("not y"))
    driver.start(driver.volatile.emit("all volatile"))
    driver.start(driver.local.in_("x").emit("local x"))
    driver.start(driver.compress(True).emit("compressed"))
    driver.start(socket_a.in_("x").emit("from a"))
    driver.start(socket_a.except_(b.sid).emit("not b"))
    driver.start(socket_a.broadcast.emit("all but a"))
    driver.start(socket_a.emit("only a"))
    assert a.texts() == [
        '42["v"]',
        '42["all volatile"]',
        '42["local x"]',
        '42["compressed"]',
        '42["only a"]',
    ]
    assert b.texts() == [
        '42["v"]',
        '42["not y"]',
        '42["all volatile"]',
        '42["local x"]',
        '42["compressed"]',
        '42["from a"]',
        '42["all but a"]',
    ]
    assert c.texts() == [
        '42["not y"]',
        '42["all volatile"]',
        '42["compressed"]',
        '42["not b"]',
        '42["all but a"]',
    ]
    driver.start(driver.sockets_join("everyone"))
    members = driver.start(driver.in_("everyone").fetch_sockets())()
    assert sorted(s.sid for s in members) == sorted([a.sid, b.sid, c.sid])
    driver.start(driver.sockets_leave("everyone"))
    assert driver.start(driver.in_("everyone").fetch_sockets())() == []
    socket_a.leave("x")
    assert socket_a.rooms == {a.sid, "y"}
    with caplog.at_level(logging.INFO, logger="sansio_rooms"):
        a.feed('42["nobody handles this"]')
    assert "no handler" in caplog.text


def test_acks_and_their_timeouts_on_the_drivers_clock() -> None:
    driver = Driver()
    a, b = Client(driver), Client(driver)
    a.connect()
    b.connect()
    socket_a = driver.get_socket(a.sid)
    assert socket_a is not None
    asked = driver.start(socket_a.emit_with_ack("question", timeout=5))
    a.feed('430["answer",2]')
    assert asked() == ("answer", 2)
    voted = driver.start(driver.timeout(3).emit_with_ack("vote"))
    b.feed('431["b votes"]')
    driver.advance(3.0)
    with pytest.raises(AckTimeoutError) as raised:
        voted()
    assert raised.value.responses == ("b votes",)
    assert driver.start(driver.disconnect_sockets(close=True))() is None
    assert a.closed and b.closed
    assert socket_a.rooms == frozenset() and not socket_a.connected
    with pytest.raises(UnknownSocketError):
        socket_a.join("late")
    assert driver.start(socket_a.disconnect())() is None  # already gone: nothing to do
    late = driver.start(socket_a.emit_with_ack("anyone there?", timeout=5))
    with pytest.raises(AckTimeoutError) as raised:  # at once: nobody can answer
        late()
    assert raised.value.responses == ()


def test_fetch_sockets_and_shutdown() -> None:
    driver = Driver()
    clients = [Client(driver) for _ in range(2)]
    for client in clients:
        client.connect()
    assert len(driver.start(driver.fetch_sockets())()) == 2
    driver._begin_shutdown()
    driver.settle()
    assert all(client.closed for client in clients)
    assert driver.start(driver.fetch_sockets())() == []


def test_max_buffer_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError):
        Driver(max_buffer=0)


def test_emits_from_the_connect_handler_follow_the_connect_reply() -> None:
    driver = Driver()
    problems: list[BaseException] = []

    @driver.on("connect")
    async def connect(socket: Socket, auth: Any) -> Any:
        await socket.emit("welcome", 1)
        await socket.emit("welcome", 2)
        try:
            await socket.emit_with_ack("too early", timeout=1)
        except InvalidStateError as error:
            problems.append(error)
        with pytest.raises(LocalProtocolError):
            await socket.emit("disconnect")  # a reserved name fails here, at once
        return not auth.get("refuse")

    client = Client(driver)
    client.connect()
    connect_reply = next(i for i, f in enumerate(client.frames) if str(f).startswith("40{"))
    assert client.frames[connect_reply + 1 :] == [
        f"<hold {CONNECT_REPLY_GAP}>",  # a moment for the client to read the reply alone
        '42["welcome",1]',
        '42["welcome",2]',
    ]
    assert len(problems) == 1
    refused = Client(driver)
    refused.feed('40{"refuse":true}')
    assert refused.texts("44") == ['44{"message":"Not authorized"}']
    assert refused.texts() == []  # nothing for a client that was refused


class _Request:
    def __init__(self) -> None:
        self.response: Any = None

    def respond(self, response: Any) -> None:
        self.response = response


def test_emits_from_the_connect_handler_over_long_polling() -> None:
    driver = Driver()

    @driver.on("connect")
    async def connect(socket: Socket, auth: Any) -> None:
        await socket.emit("welcome", 1)
        await socket.emit("welcome", 2)

    query = {"EIO": "4", "transport": "polling"}
    handshake = _Request()
    driver._receive_request(HttpRequest(handle=handshake, method="GET", query=query))
    query["sid"] = json.loads(handshake.response.body[1:])["sid"]
    driver._receive_request(HttpRequest(handle=_Request(), method="POST", query=query, body=b"40"))
    driver.settle()
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=query))
    packets = get.response.body.decode().split("\x1e")
    assert packets[0].startswith("40{") and packets[1:] == ['42["welcome",1]', '42["welcome",2]']
