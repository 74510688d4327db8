"""python-socketio's API (sansio_rooms/_compat.py): the server methods by sid that every
server has, and the compat layer behind the bindings' ``compat`` modules. Driven by hand, as
tests/test_driver.py drives the server: no event loop."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from sansio_rooms import (
    AckTimeoutError,
    CompatConnectionRefusedError,
    CompatNamespace,
    CompatServer,
    Handshake,
    InvalidStateError,
    LocalProtocolError,
    ServerNamespace,
    Socket,
    TrustedProxies,
    UnknownSocketError,
    request_from_scope,
    wsgi_environ,
)
from sansio_rooms._compat import CALLBACK_TIMEOUT
from sansio_rooms._compat_server import _accepts

from .test_driver import Client, Driver


class CompatDriver(CompatServer, Driver):
    """python-socketio's server, driven by hand."""


def connect(client: Client, nsp: str = "/", auth: Any = None) -> str:
    """Connect ``client`` to ``nsp``; its sid there."""
    prefix = "" if nsp == "/" else nsp + ","
    client.feed("40" + prefix + ("" if auth is None else json.dumps(auth)))
    reply = next(
        f for f in client.frames if isinstance(f, str) and f.startswith("40" + prefix + "{")
    )
    sid: str = json.loads(reply[len("40" + prefix) :])["sid"]
    client.sids[nsp] = sid
    return sid


def asked(client: Client, prefix: str = "42") -> tuple[int, list[Any]]:
    """The last event with an ack id the client got: ``(id, [event, *args])``."""
    frame = [f for f in client.texts(prefix) if re.match(re.escape(prefix) + r"\d", f)][-1]
    match = re.fullmatch(re.escape(prefix) + r"(\d+)(.*)", frame)
    assert match is not None
    return int(match.group(1)), json.loads(match.group(2))


SCOPE: dict[str, Any] = {
    "type": "websocket",
    "scheme": "wss",
    "http_version": "1.1",
    "path": "/socket.io/",
    "raw_path": b"/socket.io/",
    "root_path": "",
    "query_string": b"EIO=4&transport=websocket&room=lobby",
    "headers": [
        (b"host", b"chat.example"),
        (b"user-agent", b"tests"),
        (b"x-custom", b"a"),
        (b"x-custom", b"b"),
        (b"content-type", b"text/plain"),
        (b"cookie", b"token=abc"),
    ],
    "client": ("10.0.0.7", 51234),
    "server": ("127.0.0.1", 8000),
}


class ScopedClient(Client):
    """A WebSocket client whose connection came through ASGI with ``SCOPE``."""

    def __init__(self, driver: Driver, scope: dict[str, Any]) -> None:
        query = {"EIO": "4", "transport": "websocket", "room": "lobby"}
        super().__init__(driver, request_from_scope(scope, TrustedProxies(), query))


# -- the server methods by sid, on every server --------------------------------------------------


def test_emit_selects_with_python_socketios_keywords() -> None:
    driver = Driver()
    a, b, c = Client(driver), Client(driver), Client(driver)
    for client in (a, b, c):
        connect(client)
    driver.start(driver.enter_room(a.sid, "x"))
    driver.start(driver.enter_room(b.sid, ["x", "y"]))
    driver.start(driver.emit("e", 1, to=a.sid))
    driver.start(driver.emit("e", 2, room="x", skip_sid=a.sid))
    driver.start(driver.emit("e", 3, to=["x", c.sid], skip_sid=[b.sid]))
    driver.start(driver.emit("e", 4, to=[]))  # an empty list is nobody, not everybody
    driver.start(driver.emit("e", 5, to=a.sid, skip_sid=a.sid))
    driver.start(driver.emit("e", 6, skip_sid=c.sid))
    driver.start(driver.emit("e", 7, to="a-client-that-left"))
    driver.start(driver.emit("e", 8))
    driver.start(driver.send({"text": "hi"}, to=c.sid))
    assert a.texts() == ['42["e",1]', '42["e",3]', '42["e",6]', '42["e",8]']
    assert b.texts() == ['42["e",2]', '42["e",6]', '42["e",8]']
    assert c.texts() == ['42["e",3]', '42["e",8]', '42["message",{"text":"hi"}]']
    with pytest.raises(TypeError, match="to= or room="):
        driver.start(driver.emit("e", to=a.sid, room="x"))()


def test_emit_in_another_namespace() -> None:
    driver = Driver()
    driver.on("connect", lambda socket, auth: None, namespace="/chat")
    a = Client(driver)
    connect(a)
    sid = connect(a, "/chat")
    driver.start(driver.emit("e", to=sid, namespace="/chat"))
    driver.start(driver.emit("e", 1, namespace="chat"))
    driver.start(driver.emit("e", 2, to=sid))  # "/" has no such client
    assert a.texts("42/chat,") == ['42/chat,["e"]', '42/chat,["e",1]']
    assert a.texts("42[") == []


def test_emit_to_a_client_being_connected_follows_the_connect_reply() -> None:
    driver = Driver()

    @driver.on("connect")
    async def welcome(socket: Socket, auth: Any) -> None:
        await driver.emit("welcome", socket.sid, to=socket.sid)
        await driver.enter_room(socket.sid, "lobby")  # a pending socket may join rooms
        driver.start(driver.save_session(socket.sid, {"user": auth["user"]}))

    a = Client(driver)
    sid = connect(a, auth={"user": "ann"})
    replies = [f for f in a.frames if isinstance(f, str) and f[:2] in ("40", "42")]
    assert replies[0].startswith("40{") and replies[1] == f'42["welcome","{sid}"]'
    assert driver.rooms(sid) == ["lobby", sid]  # its own room once accepted
    assert driver.start(driver.get_session(sid))() == {"user": "ann"}


def test_callbacks_get_the_answer_of_one_client(caplog: pytest.LogCaptureFixture) -> None:
    driver = Driver()
    a, b = Client(driver), Client(driver)
    connect(a)
    connect(b)
    answers: list[Any] = []

    async def later(*args: Any) -> None:
        answers.append(("async", *args))

    driver.start(driver.emit("q", 1, to=a.sid, callback=lambda *args: answers.append(args)))
    driver.start(driver.emit("after", to=a.sid))  # sent in order, not after the wait
    ack_id, packet = asked(a)
    assert packet == ["q", 1] and a.texts()[-1] == '42["after"]'
    a.feed(f'43{ack_id}["yes",2]')
    assert answers == [("yes", 2)]
    driver.start(driver.send("ping", to=b.sid, callback=later))
    ack_id, packet = asked(b)
    assert packet == ["message", "ping"]
    b.feed(f"43{ack_id}[]")
    assert answers == [("yes", 2), ("async",)]

    def broken(*args: Any) -> None:
        raise RuntimeError("callback bug")

    driver.start(driver.emit("q", to=a.sid, callback=broken))
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        a.feed(f"43{asked(a)[0]}[]")
    assert "callback of event 'q' in / failed" in caplog.text
    # No answer within the deadline: never called.
    driver.start(driver.emit("q", to=a.sid, callback=lambda *args: answers.append(args)))
    driver.advance(CALLBACK_TIMEOUT)
    a.feed(f'43{asked(a)[0]}["late"]')
    assert answers == [("yes", 2), ("async",)]


def test_a_callback_needs_one_client_of_this_server() -> None:
    driver = Driver()
    a, b = Client(driver), Client(driver)
    connect(a)
    connect(b)
    driver.start(driver.enter_room(a.sid, "x"))
    called: list[Any] = []
    for target in (None, ["x"], 42):
        with pytest.raises(LocalProtocolError, match="one client"):
            driver.start(driver.emit("q", to=target, callback=called.append))()
    with pytest.raises(LocalProtocolError, match="'x' is a room"):
        driver.start(driver.emit("q", to="x", callback=called.append))()
    before = list(a.frames) + list(b.frames)
    driver.start(driver.emit("q", to="gone", callback=called.append))()  # left: no error
    driver.start(driver.emit("q", to=a.sid, skip_sid=a.sid, callback=called.append))()
    driver.start(driver.emit("q", to="x", skip_sid="x", callback=called.append))()
    assert list(a.frames) + list(b.frames) == before and called == []


def test_no_callback_from_the_connect_handler() -> None:
    driver = Driver()
    problems: list[Exception] = []

    @driver.on("connect")
    async def greet(socket: Socket, auth: Any) -> None:
        try:
            await driver.emit("q", to=socket.sid, callback=print)
        except InvalidStateError as error:
            problems.append(error)

    connect(Client(driver))
    assert len(problems) == 1 and "not connected yet" in str(problems[0])


def test_call_waits_for_the_answer() -> None:
    driver = Driver()
    a = Client(driver)
    connect(a)
    for answer, expected in (("[]", None), ('["x"]', "x"), ('["x",2]', ("x", 2))):
        result = driver.start(driver.call("q", 1, to=a.sid, timeout=5))
        ack_id, packet = asked(a)
        assert packet == ["q", 1]
        a.feed(f"43{ack_id}{answer}")
        assert result() == expected
    result = driver.start(driver.call("q", sid=a.sid, timeout=5))
    driver.advance(5)
    with pytest.raises(AckTimeoutError):
        result()
    with pytest.raises(AckTimeoutError):  # at once: no answer can come
        driver.start(driver.call("q", to="gone"))()
    with pytest.raises(ValueError, match="one client"):
        driver.start(driver.call("q"))()
    with pytest.raises(TypeError):
        driver.start(driver.call("q", to=a.sid, sid=a.sid))()


def test_rooms_by_sid() -> None:
    driver = Driver()
    a, b = Client(driver), Client(driver)
    connect(a)
    connect(b)
    driver.start(driver.enter_room(a.sid, "r"))
    driver.start(driver.enter_room(b.sid, "r"))
    driver.start(driver.enter_room(a.sid, 7))
    assert driver.rooms(a.sid) == [a.sid, "r", 7]
    with pytest.raises(UnknownSocketError, match="no client 'gone' in namespace '/'"):
        driver.start(driver.enter_room("gone", "r"))()
    with pytest.raises(KeyError):
        driver.start(driver.enter_room(a.sid, "r", namespace="/other"))()
    driver.start(driver.leave_room(a.sid, 7))
    driver.start(driver.leave_room("gone", "r"))()  # in no room already: nothing to do
    assert driver.rooms(a.sid) == [a.sid, "r"]
    assert driver.rooms("gone") == []
    driver.start(driver.close_room("r"))
    driver.start(driver.close_room("never-was"))
    assert driver.rooms(a.sid) == [a.sid] and driver.rooms(b.sid) == [b.sid]


def test_disconnect_by_sid() -> None:
    driver = Driver()
    a, b = Client(driver), Client(driver)
    connect(a)
    connect(b)
    driver.start(driver.disconnect(a.sid))
    assert "41" in a.frames and driver.get_socket(a.sid) is None and not a.closed
    driver.start(driver.disconnect("gone"))()
    driver.start(driver.disconnect(a.sid))()  # already gone: nothing happens
    assert "41" not in b.frames


def test_sessions_are_the_sockets_data() -> None:
    driver = Driver()
    a = Client(driver)
    connect(a)
    socket = driver.get_socket(a.sid)
    assert socket is not None
    session = driver.start(driver.get_session(a.sid))()
    session["user"] = "ann"
    assert socket.data == {"user": "ann"}
    driver.start(driver.save_session(a.sid, {"user": "bob"}))
    assert socket.data == {"user": "bob"}

    async def edit() -> None:
        async with driver.session(a.sid) as data:
            data["seen"] = 1
        async with driver.session(a.sid) as data:
            await driver.disconnect(a.sid)  # leaving inside the block is no error
            data["seen"] = 2

    driver.start(edit())()
    assert socket.data == {"user": "bob", "seen": 2}
    for call in (
        driver.get_session("gone"),
        driver.save_session("gone", {}),
        driver.session("gone").__aenter__(),
    ):
        with pytest.raises(UnknownSocketError):
            driver.start(call)()


def test_background_tasks_and_sleep(caplog: pytest.LogCaptureFixture) -> None:
    driver = Driver()
    a = Client(driver)
    connect(a)
    done: list[Any] = []

    async def tick(every: float, *, times: int) -> None:
        for count in range(times):
            await driver.sleep(every)
            await driver.emit("tick", count)

    def plain(value: int) -> None:
        done.append(value)

    async def broken() -> None:
        raise RuntimeError("task bug")

    assert driver.start_background_task(tick, 10, times=2) is None  # type: ignore[func-returns-value]
    driver.start_background_task(plain, 1)
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        driver.start_background_task(broken)
        driver.settle()
    assert a.texts() == ['42["tick",0]', '42["tick",1]'] and driver.clock == 20
    assert done == [1] and "background task" in caplog.text and "task bug" in caplog.text


def test_on_is_a_call_and_a_decorator_and_event_takes_a_namespace() -> None:
    driver = Driver()

    def hello(socket: Socket) -> str:
        return "hi"

    assert driver.on("hello", hello) is hello

    @driver.event(namespace="/chat")
    def chat(socket: Socket, text: str) -> str:
        return text.upper()

    @driver.event
    def bye(socket: Socket) -> str:
        return "bye"

    a = Client(driver)
    connect(a)
    connect(a, "/chat")
    a.feed('421["hello"]')
    a.feed('422["bye"]')
    a.feed('42/chat,3["chat","x"]')
    assert a.texts("43") == ['431["hi"]', '432["bye"]', '43/chat,3["X"]']


# -- the compat layer -----------------------------------------------------------------------------


def test_compat_options() -> None:
    with pytest.raises(ValueError, match="ASGI"):
        CompatDriver(async_mode="aiohttp")
    server = CompatDriver(async_mode="asgi", logger=True, engineio_logger=True)
    assert server.machine.eio.max_payload == 1_000_000
    server = CompatDriver(max_http_buffer_size=5000)
    assert server.machine.eio.max_payload == 5000
    assert server.reason.CLIENT_DISCONNECT == "client namespace disconnect"
    # python-engineio's [] is "no origin check here" (another layer does CORS)
    assert CompatDriver(cors_allowed_origins=[]).origins.any
    assert not CompatDriver().origins.any


def test_compat_handlers_get_sids() -> None:
    server = CompatDriver()
    seen: list[Any] = []

    @server.on("connect")
    def on_connect(sid: str, environ: dict[str, Any]) -> None:
        seen.append(("connect", sid, environ["QUERY_STRING"]))

    @server.event
    async def echo(sid: str, *args: Any) -> Any:
        seen.append(("echo", sid, args))
        return args

    def catch_all(event: str, sid: str, *args: Any) -> None:
        seen.append(("*", event, sid, args))

    assert server.on("*", catch_all) is catch_all
    server.on("disconnecting", lambda sid: seen.append(("disconnecting", sid)))
    server.on("disconnect", lambda sid, reason: seen.append(("disconnect", sid, reason)))
    a = Client(server)
    sid = connect(a)
    a.feed('421["echo",1,{"x":2}]')
    a.feed('42["other",3]')
    a.feed("41")
    assert a.texts("43") == ['431[1,{"x":2}]']
    assert seen == [
        ("connect", sid, "EIO=4&transport=websocket"),
        ("echo", sid, (1, {"x": 2})),
        ("*", "other", sid, (3,)),
        ("disconnecting", sid),
        ("disconnect", sid, server.reason.CLIENT_DISCONNECT),
    ]


def test_compat_connect_refusals_and_auth() -> None:
    server = CompatDriver()

    @server.on("connect")
    def on_connect(sid: str, environ: dict[str, Any], auth: Any) -> Any:
        if auth["v"] == "no":
            return False
        if auth["v"] == "args":
            raise CompatConnectionRefusedError("bad", 1, 2)
        if auth["v"] == "data":
            raise CompatConnectionRefusedError("bad", {"retry": False})
        return None

    answers = []
    for auth in ("no", "args", "data", "ok"):
        client = Client(server)
        client.feed("40" + json.dumps({"v": auth}))
        answers += [f for f in client.frames if isinstance(f, str) and f[:2] in ("40", "44")]
    assert answers[:3] == [
        '44{"message":"Connection rejected by server"}',
        '44{"message":"bad","data":[1,2]}',
        '44{"message":"bad","data":{"retry":false}}',
    ]
    assert answers[3].startswith("40{") and len(answers) == 4


def test_compat_connection_refused_error_takes_python_socketios_arguments() -> None:
    assert CompatConnectionRefusedError().error_args == {"message": "Connection rejected by server"}
    assert CompatConnectionRefusedError(42).error_args == {"message": "42"}
    error = CompatConnectionRefusedError("no", "why")
    assert (error.message, error.data) == ("no", "why")
    assert error.error_args == {"message": "no", "data": "why"}
    assert CompatConnectionRefusedError("no", 1, 2).data == (1, 2)


def test_compat_emit_takes_data() -> None:
    server = CompatDriver()
    a = Client(server)
    connect(a)
    server.start(server.emit("none"))
    server.start(server.emit("one", {"x": 1}, a.sid))
    server.start(server.emit("list", [1, 2], room=a.sid))
    server.start(server.emit("two", (1, 2), to=a.sid))
    server.start(server.send("hi", a.sid))
    server.start(server.send((1, 2), skip_sid=a.sid))
    assert a.texts() == [
        '42["none"]',
        '42["one",{"x":1}]',
        '42["list",[1,2]]',
        '42["two",1,2]',
        '42["message","hi"]',
    ]
    result = server.start(server.call("q", (1, 2), a.sid, timeout=5))
    ack_id, packet = asked(a)
    assert packet == ["q", 1, 2]
    a.feed(f'43{ack_id}["ok"]')
    assert result() == "ok"


def test_compat_environ_from_the_handshake() -> None:
    server = CompatDriver()
    environs: list[dict[str, Any]] = []
    server.on("connect", lambda sid, environ: environs.append(environ))
    client = ScopedClient(server, SCOPE)
    sid = connect(client)
    environ = environs[0]
    assert environ["HTTP_HOST"] == "chat.example"
    assert environ["HTTP_X_CUSTOM"] == "a, b"
    assert environ["HTTP_COOKIE"] == "token=abc"
    assert environ["CONTENT_TYPE"] == "text/plain" and "HTTP_CONTENT_TYPE" not in environ
    assert environ["REMOTE_ADDR"] == "10.0.0.7" and environ["REMOTE_PORT"] == "51234"
    assert environ["PATH_INFO"] == "/socket.io/" and environ["REQUEST_METHOD"] == "GET"
    assert environ["QUERY_STRING"] == "EIO=4&transport=websocket&room=lobby"
    assert environ["RAW_URI"] == "/socket.io/?EIO=4&transport=websocket&room=lobby"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1" and environ["SCRIPT_NAME"] == ""
    assert environ["wsgi.url_scheme"] == "https" and environ["asgi.scope"] is SCOPE
    assert server.get_environ(sid) == environ
    assert server.get_environ("gone") is None


def test_wsgi_environ_of_an_attached_connection() -> None:
    environ = wsgi_environ(Handshake(auth=None, query={"EIO": "4"}))
    assert environ["asgi.scope"] is None and environ["REMOTE_ADDR"] == ""
    assert environ["REMOTE_PORT"] == "" and environ["SERVER_PORT"] == ""
    assert environ["wsgi.url_scheme"] == "http" and environ["REQUEST_METHOD"] == "GET"


def test_arity_of_callables_whose_signature_cannot_be_read() -> None:
    assert _accepts(max, 3)  # no signature: assumed to take them
    assert _accepts(lambda a, b=1: None, 2) and not _accepts(lambda a: None, 2)


class Chat(CompatNamespace):
    def __init__(self, namespace: str | None = None) -> None:
        super().__init__(namespace)
        self.seen: list[Any] = []

    def on_connect(self, sid: str, environ: dict[str, Any]) -> None:
        self.seen.append(("connect", sid))

    async def on_join(self, sid: str, room: str) -> list[Any]:
        await self.enter_room(sid, room)
        await self.emit("joined", (sid, room), room=room)
        await self.send("welcome", to=sid)
        async with self.session(sid) as session:
            session["room"] = room
        return self.rooms(sid)

    async def on_leave(self, sid: str) -> None:
        session = await self.get_session(sid)
        await self.save_session(sid, {"left": session["room"]})
        await self.leave_room(sid, session["room"])

    async def on_close(self, sid: str, room: str) -> None:
        await self.close_room(room)

    async def on_ask(self, sid: str) -> Any:
        return await self.call("question", "?", to=sid, timeout=5)

    async def on_kick(self, sid: str) -> None:
        await self.disconnect(sid)

    def on_disconnect(self, sid: str) -> None:
        self.seen.append(("disconnect", sid))


class Lobby(CompatNamespace):
    def __init__(self) -> None:
        super().__init__("/lobby")
        self.seen: list[Any] = []

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> Any:
        return auth == {"v": "ok"}

    def on_disconnect(self, sid: str, reason: str) -> None:
        self.seen.append(reason)


def test_compat_class_based_namespaces() -> None:
    server = CompatDriver()
    chat, lobby = Chat("/chat"), Lobby()
    server.register_namespace(chat)
    server.register_namespace(lobby)
    assert chat.server is server and lobby.namespace == "/lobby"
    a = Client(server)
    connect(a)
    sid = connect(a, "/chat")
    a.feed('42/chat,1["join","r"]')
    assert a.texts("43/chat,") == [f'43/chat,1[["{sid}","r"]]']
    assert a.texts("42/chat,") == [
        f'42/chat,["joined","{sid}","r"]',
        '42/chat,["message","welcome"]',
    ]
    a.feed('42/chat,2["leave"]')
    socket = server.get_socket(sid, "/chat")
    assert (
        socket is not None and socket.data == {"left": "r"} and server.rooms(sid, "/chat") == [sid]
    )
    server.start(server.enter_room(sid, "s", namespace="/chat"))
    a.feed('42/chat,["close","s"]')
    assert server.rooms(sid, "/chat") == [sid]
    a.feed('42/chat,3["ask"]')
    ack_id, packet = asked(a, "42/chat,")
    assert packet == ["question", "?"]
    a.feed(f'43/chat,{ack_id}["!"]')
    a.feed('42/chat,4["nothing handles this"]')
    assert a.texts("43/chat,")[-2:] == ['43/chat,3["!"]', "43/chat,4[]"]
    a.feed('42/chat,["kick"]')
    assert chat.seen == [("connect", sid), ("disconnect", sid)]
    a.feed('40/lobby,{"v":"no"}')
    assert '44/lobby,{"message":"Connection rejected by server"}' in a.frames
    connect(a, "/lobby", auth={"v": "ok"})
    a.feed("41/lobby,")
    assert lobby.seen == ["client namespace disconnect"]


def test_compat_servers_also_take_the_servers_own_namespaces() -> None:
    server = CompatDriver()

    class Own(ServerNamespace):
        def on_hello(self, socket: Socket) -> str:
            return f"hi {type(socket).__name__}"

    server.register_namespace(Own("/own"))
    a = Client(server)
    connect(a, "/own")
    a.feed('42/own,1["hello"]')
    assert a.texts("43/own,") == ['43/own,1["hi Socket"]']
