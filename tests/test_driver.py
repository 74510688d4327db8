"""The loop-independent half of the bindings (ServerDriver, BroadcastOperator, Socket),
driven by hand (tests/_memory_driver.py): no event loop at all, which is also the proof that
the driver needs none."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sansio_rooms import (
    AckTimeoutError,
    HttpRequest,
    InvalidStateError,
    LocalProtocolError,
    Socket,
    UnknownSocketError,
)
from sansio_rooms._driver import CONNECT_REPLY_GAP

from ._memory_driver import Client, Driver


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
    client.connect()
    sid = client.sid
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


class _Unhashable:
    """A handler object that cannot be a dict key (equality without a hash)."""

    def __init__(self, seen: list[Any]) -> None:
        self.seen = seen

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, socket: Socket, value: Any) -> Any:
        self.seen.append(value)
        return value


def test_plain_and_coroutine_handlers_are_told_apart_each_time_whatever_they_are() -> None:
    driver = Driver()
    seen: list[Any] = []
    driver.on("plain", _Unhashable(seen))

    @driver.on("later")
    async def later(socket: Socket, value: Any) -> Any:
        seen.append(("later", value))
        return value

    client = Client(driver)
    client.connect()
    for ack_id, frame in enumerate(['"plain",1', '"later",2', '"plain",3', '"later",4'], 1):
        client.feed(f"42{ack_id}[{frame}]")
    assert seen == [1, ("later", 2), 3, ("later", 4)]
    assert client.texts("43") == ["431[1]", "432[2]", "433[3]", "434[4]"]
    assert driver._async_handlers == {later: True}  # the unhashable one is asked each time


def test_a_held_timer_is_set_once_when_released() -> None:
    # What the bindings do around the frames of one read: their inputs leave the timer alone.
    driver = Driver()
    first = Client(driver)
    assert driver.timer == 25.0  # its first ping
    driver.clock = 10.0
    Client(driver)
    assert driver._hold_timer() is True
    assert driver._hold_timer() is False  # held already: its holder releases it
    first.leave()
    assert driver.timer == 25.0
    driver._release_timer()
    assert driver.timer == 35.0  # the other session's first ping


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

    _, first_poll = _connect_polling(driver)
    packets = first_poll.decode().split("\x1e")
    assert packets[0].startswith("40{") and packets[1:] == ['42["welcome",1]', '42["welcome",2]']


def _connect_polling(driver: Driver) -> tuple[dict[str, str], bytes]:
    """A long-polling client connects to "/": its query, and the answer of its first GET
    after the CONNECT (the CONNECT reply first)."""
    query = {"EIO": "4", "transport": "polling"}
    handshake = _Request()
    driver._receive_request(HttpRequest(handle=handshake, method="GET", query=query))
    query["sid"] = json.loads(handshake.response.body[1:])["sid"]
    driver._receive_request(HttpRequest(handle=_Request(), method="POST", query=query, body=b"40"))
    driver.settle()
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=query))
    body: bytes = get.response.body
    assert body.startswith(b"40{")
    return query, body


def _polling_client(driver: Driver) -> dict[str, str]:
    """A long-polling client connected to "/", its CONNECT reply read: its query."""
    return _connect_polling(driver)[0]


def test_a_parked_get_takes_every_broadcast_of_one_post_in_one_answer() -> None:
    driver = Driver()

    @driver.on("say")
    def say(socket: Socket, value: int) -> None:
        socket.broadcast.emit("msg", value)  # a plain handler: it runs within the POST

    listener, sender = _polling_client(driver), _polling_client(driver)
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=listener))
    assert get.response is None  # parked
    says = b"\x1e".join(b'42["say",%d]' % value for value in range(3))
    post = _Request()
    driver._receive_request(HttpRequest(handle=post, method="POST", query=sender, body=says))
    assert post.response.body == b"ok"
    # Not the first broadcast alone (then the others a round trip later): all three.
    assert get.response.body == b'42["msg",0]\x1e42["msg",1]\x1e42["msg",2]'
    # A broadcast from no input at all (a task's) is a batch of one: answered at once.
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=listener))
    driver._spawn(driver.emit("late", 1))
    driver.settle()
    assert get.response.body == b'42["late",1]'


class _BrokenRequest(_Request):
    def respond(self, response: Any) -> None:
        raise RuntimeError("a binding's bug")


def test_the_answers_of_a_batch_go_out_even_when_performing_it_fails() -> None:
    driver = Driver()

    @driver.on("say")
    def say(socket: Socket, value: int) -> None:
        socket.broadcast.emit("msg", value)

    listener, sender = _polling_client(driver), _polling_client(driver)
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=listener))
    post = _BrokenRequest()
    with pytest.raises(RuntimeError, match="a binding's bug"):
        driver._receive_request(
            HttpRequest(handle=post, method="POST", query=sender, body=b'42["say",7]')
        )
    assert get.response.body == b'42["msg",7]'
    # The batch is over: the next one is held and answered as usual.
    get = _Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=listener))
    post = _Request()
    driver._receive_request(
        HttpRequest(handle=post, method="POST", query=sender, body=b'42["say",8]')
    )
    assert get.response.body == b'42["msg",8]'


def test_a_namespace_in_second_place_is_the_namespace() -> None:
    driver = Driver()

    @driver.on("hello", "/chat")  # type: ignore[call-overload]
    def hello(socket: Socket) -> str:
        return socket.nsp

    assert driver.handlers.get("/chat", "hello") is hello
    assert "/chat" in driver.machine.namespaces()
    assert driver.on("bye", hello, "/chat") is hello
    assert driver.handlers.for_event("/chat", "bye") == (hello, False)


def test_of_a_new_name_registers_it_and_a_bad_known_option_keeps_its_own_message() -> None:
    driver = Driver()
    assert "/fresh" not in driver.machine.namespaces()
    assert driver.of("fresh").selection.nsp == "/fresh"
    assert "/fresh" in driver.machine.namespaces()
    with pytest.raises(TypeError, match=r"^Driver: .*not iterable"):
        Driver(transports=5)
