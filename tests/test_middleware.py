"""Namespace middleware (``server.use``, Node's ``io.use``) and the connect handler deciding
who connects, and per-socket packet middleware (``socket.use``) with the "error" event: on a
server driven by hand, asserting the frames the client gets and what is logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sansio_rooms import ConnectionRefusedError, LocalProtocolError, ServerNamespace, Socket

from ._memory_driver import Client, Driver, Gate

INTERNAL = '44{"message":"Internal server error"}'


def server_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("sansio_rooms")]


# -- namespace middleware and the connect handler ------------------------------------------------


def test_middleware_run_in_order_before_the_connect_handler() -> None:
    driver = Driver()
    seen: list[Any] = []
    gate = Gate()

    def first(socket: Socket) -> None:
        seen.append(("first", socket.handshake.auth, socket.connected))
        socket.data["user"] = socket.handshake.auth["user"]

    async def second(socket: Socket) -> bool:
        await gate  # an async middleware may wait: the socket stays pending
        seen.append(("second", socket.data["user"]))
        return True

    driver.use(first)
    driver.use(second)

    @driver.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        seen.append(("connect", auth, socket.data["user"]))

    client = Client(driver)
    client.send_connect("/", {"user": "ann"})
    assert seen == [("first", {"user": "ann"}, False)] and client.texts("4") == []
    gate.open()
    driver.settle()
    assert client.reply().startswith("40{")
    assert seen[1:] == [("second", "ann"), ("connect", {"user": "ann"}, "ann")]
    socket = driver.get_socket(client.sids["/"])
    assert socket is not None and socket.connected and socket.data == {"user": "ann"}


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_middleware_refuses_with_a_message_and_data(asynchronous: bool) -> None:
    driver = Driver()
    seen: list[str] = []

    def refuse(socket: Socket) -> None:
        seen.append("refuse")
        raise ConnectionRefusedError("go away", {"retry": 5})

    async def refuse_later(socket: Socket) -> None:
        refuse(socket)

    driver.use(refuse_later if asynchronous else refuse)
    driver.use(lambda socket: seen.append("never"))
    driver.on("connect", lambda socket, auth: seen.append("never either"))
    client = Client(driver)
    assert client.connect() == '44{"message":"go away","data":{"retry":5}}'
    assert seen == ["refuse"]
    assert driver._sockets == {} and driver.machine.engine.namespace("/").count_sockets() == 0
    client.connect()  # the client may try again: refused again, the same way
    assert client.texts("44") == ['44{"message":"go away","data":{"retry":5}}'] * 2


def test_a_middleware_returning_false_refuses() -> None:
    driver = Driver()
    driver.use(lambda socket: socket.handshake.auth.get("token") == "secret")
    assert Client(driver).connect("/", {"token": "guess"}) == '44{"message":"Not authorized"}'
    assert Client(driver).connect("/", {"token": "secret"}).startswith("40{")


def test_a_refusal_without_data_has_no_data() -> None:
    driver = Driver()

    def refuse(socket: Socket) -> None:
        raise ConnectionRefusedError("banned")

    driver.use(refuse)
    assert Client(driver).connect() == '44{"message":"banned"}'


def test_a_failing_middleware_refuses_with_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = Driver()
    seen: list[str] = []

    async def broken(socket: Socket) -> None:
        raise KeyError("bug in the middleware")

    driver.use(broken, namespace="/chat")
    driver.on("connect", lambda socket, auth: seen.append("connect"), namespace="/chat")
    client = Client(driver)
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        client.send_connect("/chat")
    assert client.reply("/chat") == '44/chat,{"message":"Internal server error"}'
    assert seen == []  # nor does the connect handler run
    (record,) = server_log(caplog)
    sid = _sid_in(record)
    assert record.getMessage() == f"a middleware of /chat failed (socket {sid}): refused"
    assert record.exc_info is not None and record.exc_info[0] is KeyError


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_failing_connect_handler_refuses_with_an_internal_error(
    caplog: pytest.LogCaptureFixture, asynchronous: bool
) -> None:
    driver = Driver()

    def connect(socket: Socket, auth: Any) -> None:
        raise RuntimeError("secret details of the bug")

    async def connect_later(socket: Socket, auth: Any) -> None:
        connect(socket, auth)

    driver.on("connect", connect_later if asynchronous else connect)
    client = Client(driver)
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        assert client.connect() == INTERNAL  # the error's text is not told to the client
    (record,) = server_log(caplog)
    assert record.getMessage() == (
        f"the connect handler of / failed (socket {_sid_in(record)}): refused"
    )
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_the_connect_handler_refuses_with_a_message_and_data() -> None:
    driver = Driver()

    @driver.on("connect")
    def connect(socket: Socket, auth: Any) -> Any:
        if auth.get("refuse") == "error":
            raise ConnectionRefusedError("go away", {"retry": False})
        return auth.get("refuse") != "false"

    assert Client(driver).connect("/", {"refuse": "error"}) == (
        '44{"message":"go away","data":{"retry":false}}'
    )
    assert Client(driver).connect("/", {"refuse": "false"}) == '44{"message":"Not authorized"}'
    assert Client(driver).connect("/", {}).startswith("40{")


def test_middleware_are_per_namespace() -> None:
    driver = Driver()
    seen: list[str] = []
    driver.use(lambda socket: seen.append("admin " + socket.nsp), namespace="admin")
    driver.use(lambda socket: seen.append("main " + socket.nsp))
    client = Client(driver)
    assert client.connect("/admin").startswith("40/admin,{")  # use() registered /admin
    assert client.connect("/").startswith("40{")
    assert seen == ["admin /admin", "main /"]
    assert driver.handlers.namespaces() == ("/admin", "/")
    assert driver.handlers.middleware("/nowhere") == []


def test_a_middleware_must_be_callable() -> None:
    driver = Driver()
    with pytest.raises(LocalProtocolError) as raised:
        driver.use("not a function")  # type: ignore[arg-type]
    assert str(raised.value) == "a middleware must be callable, not 'not a function'"


def test_emits_of_a_refused_socket_are_dropped() -> None:
    driver = Driver()

    async def welcome_then_refuse(socket: Socket) -> None:
        await socket.emit("welcome")
        raise ConnectionRefusedError("no")

    driver.use(welcome_then_refuse)
    client = Client(driver)
    assert client.connect() == '44{"message":"no"}'
    assert client.texts("42") == []


def test_two_namespaces_admitted_at_once_over_one_connection() -> None:
    driver = Driver()
    gates = {"/": Gate(), "/admin": Gate()}

    async def wait_for_the_test(socket: Socket) -> None:
        await gates[socket.nsp]

    driver.use(wait_for_the_test)
    driver.use(wait_for_the_test, namespace="/admin")
    client = Client(driver)
    client.send_connect("/")
    client.send_connect("/admin")
    assert len(driver._connecting) == 1  # one connection, two sockets pending
    gates["/admin"].open()
    driver.settle()
    assert client.reply("/admin").startswith("40/admin,{") and client.texts("40{") == []
    assert len(driver._connecting) == 1  # the other one is still pending
    gates["/"].open()
    driver.settle()
    assert client.reply("/").startswith("40{") and driver._connecting == {}


# -- packet middleware ---------------------------------------------------------------------------


def packet_server(*middleware: Any) -> tuple[Driver, list[Any]]:
    """A server whose sockets get ``middleware``; ``seen`` records the handlers' calls."""
    driver = Driver()
    seen: list[Any] = []

    @driver.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        for function in middleware:
            socket.use(function)

    @driver.on("chat")
    def chat(socket: Socket, *args: Any) -> Any:
        seen.append(("chat", *args))
        return "got it"

    return driver, seen


def test_packet_middleware_run_in_order_and_may_change_the_packet() -> None:
    order: list[str] = []

    def upper(packet: list[Any]) -> None:
        order.append("upper")
        packet[1] = packet[1].upper()

    async def sign(packet: list[Any]) -> None:
        order.append("sign")
        packet.append("signed")

    driver, seen = packet_server(upper, sign)
    client = Client(driver)
    client.connect()
    client.feed('421["chat","hello"]')
    assert order == ["upper", "sign"]
    assert seen == [("chat", "HELLO", "signed")]
    assert client.texts("43") == ['431["got it"]']  # the handler's answer is the ack


def test_packet_middleware_may_rename_the_event() -> None:
    def rename(packet: list[Any]) -> None:
        if packet[0] == "talk":
            packet[0] = "chat"

    driver, seen = packet_server(rename)
    client = Client(driver)
    client.connect()
    client.feed('42["talk",1]')
    assert seen == [("chat", 1)]


def test_the_catch_all_gets_what_the_middleware_left(caplog: pytest.LogCaptureFixture) -> None:
    driver, seen = packet_server(lambda packet: packet.insert(1, "extra"))

    @driver.on("*")
    def anything(socket: Socket, event: Any, *args: Any) -> None:
        seen.append(("*", event, *args))

    client = Client(driver)
    client.connect()
    client.feed('42["other",1]')
    client.feed('42["chat",2]')
    assert seen == [("*", "other", "extra", 1), ("chat", "extra", 2)]


def test_no_handler_after_the_middleware(caplog: pytest.LogCaptureFixture) -> None:
    driver, seen = packet_server(lambda packet: None)
    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.INFO, logger="sansio_rooms"):
        client.feed('42["unknown"]')
    assert seen == []
    assert "no handler for event 'unknown' of /" in [r.getMessage() for r in caplog.records]


def test_a_packet_middleware_raising_drops_the_packet_and_calls_the_error_handler() -> None:
    seen_middleware: list[Any] = []

    async def guard(packet: list[Any]) -> None:
        seen_middleware.append(list(packet))
        if packet[0] == "chat" and packet[1] == "spam":
            raise ValueError("no spam")

    driver, seen = packet_server(guard, lambda packet: seen_middleware.append("second"))
    errors: list[Any] = []

    @driver.on("error")
    async def error(socket: Socket, problem: Exception) -> None:
        errors.append((socket.sid, type(problem).__name__, str(problem)))

    client = Client(driver)
    client.connect()
    client.feed('421["chat","spam"]')
    assert seen == [] and client.texts("43") == []  # dropped: no handler, no ack
    assert errors == [(client.sids["/"], "ValueError", "no spam")]
    assert seen_middleware == [["chat", "spam"]]  # the next middleware did not run
    client.feed('422["chat","ham"]')
    assert seen == [("chat", "ham")] and client.texts("43") == ['432["got it"]']


def test_a_dropped_packet_without_an_error_handler_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def guard(packet: list[Any]) -> None:
        raise PermissionError("not allowed")

    driver, seen = packet_server(guard)
    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        client.feed('42["chat","hi"]')
    assert seen == []
    (record,) = server_log(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"a packet middleware of socket {client.sids['/']} in / refused 'chat': "
        "PermissionError('not allowed') (no 'error' handler)"
    )


def test_a_middleware_that_empties_the_packet_then_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def clear_then_fail(packet: list[Any]) -> None:
        packet.clear()
        raise ValueError("emptied")

    driver, _seen = packet_server(clear_then_fail)
    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        client.feed('42["chat"]')
    (record,) = server_log(caplog)
    assert "refused None: ValueError('emptied')" in record.getMessage()


def test_a_failing_error_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def guard(packet: list[Any]) -> None:
        raise ValueError("refused")

    driver, _seen = packet_server(guard)

    @driver.on("error")
    def error(socket: Socket, problem: Exception) -> None:
        raise RuntimeError("the error handler has a bug too")

    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        client.feed('42["chat"]')
    (record,) = server_log(caplog)
    assert record.getMessage() == (f"the error handler of / failed (socket {client.sids['/']})")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_a_packet_emptied_by_a_middleware_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    driver, seen = packet_server(lambda packet: packet.clear())
    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.WARNING, logger="sansio_rooms"):
        client.feed('421["chat","x"]')
    assert seen == [] and client.texts("43") == []
    assert [r.getMessage() for r in server_log(caplog)] == [
        "a packet middleware of / emptied the packet: dropped"
    ]


def test_a_failing_handler_after_the_middleware_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver, _seen = packet_server(lambda packet: None)

    @driver.on("boom")
    def boom(socket: Socket) -> None:
        raise RuntimeError("handler bug")

    client = Client(driver)
    client.connect()
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        client.feed('42["boom"]')
    (record,) = server_log(caplog)
    assert record.getMessage() == (
        f"handler of event 'boom' in / failed (socket {client.sids['/']})"
    )


def test_a_packet_middleware_must_be_callable() -> None:
    driver = Driver()
    problems: list[Exception] = []

    @driver.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        try:
            socket.use(42)  # type: ignore[arg-type]
        except LocalProtocolError as error:
            problems.append(error)

    Client(driver).connect()
    assert [str(p) for p in problems] == ["a middleware must be callable, not 42"]


def test_packet_middleware_are_per_socket() -> None:
    driver = Driver()
    seen: list[Any] = []

    @driver.on("connect")
    def connect(socket: Socket, auth: Any) -> None:
        if auth.get("guarded"):
            socket.use(lambda packet: packet.append("guarded"))

    driver.on("chat", lambda socket, *args: seen.append(args))
    guarded, plain = Client(driver), Client(driver)
    guarded.connect("/", {"guarded": True})
    plain.connect()
    guarded.feed('42["chat"]')
    plain.feed('42["chat"]')
    assert seen == [("guarded",), ()]


def test_a_clients_error_event_goes_to_the_catch_all_only() -> None:
    driver = Driver()
    seen: list[Any] = []
    driver.on("error", lambda socket, problem: seen.append(("error handler", problem)))
    client = Client(driver)
    client.connect()
    client.feed('42["error","from the client"]')
    assert seen == []  # a client cannot raise the server's own "error"
    driver.on("*", lambda socket, event, *args: seen.append(("*", event, *args)))
    client.feed('42["error","from the client"]')
    assert seen == [("*", "error", "from the client")]


def test_a_class_based_namespace_handles_packet_errors() -> None:
    errors: list[str] = []

    class Guarded(ServerNamespace):
        def on_connect(self, socket: Socket, auth: Any) -> None:
            socket.use(self.guard)

        def guard(self, packet: list[Any]) -> None:
            raise ValueError(f"{packet[0]} refused")

        def on_error(self, socket: Socket, problem: Exception) -> None:
            errors.append(str(problem))

    driver = Driver()
    driver.register_namespace(Guarded("/guarded"))
    client = Client(driver)
    client.connect("/guarded")
    client.feed('42/guarded,["chat"]')
    assert errors == ["chat refused"]


def _sid_in(record: logging.LogRecord) -> str:
    """The socket id a record names (``... (socket <sid>) ...``)."""
    message = record.getMessage()
    return message.split("(socket ", 1)[1].split(")", 1)[0]
