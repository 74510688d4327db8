"""Middleware with real clients: ``server.use`` (namespace middleware, before the connect
handler) and ``socket.use`` (incoming packets), on both bindings; and a refusal compared with
what Node's own Socket.IO server makes the same clients see.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import anyio
import pytest
from _web_clients import PYTHON_CLIENT_LEAK, Web, run

pytestmark = PYTHON_CLIENT_LEAK


def test_middlewares_run_in_order_before_the_connect_handler(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    async def scenario(web: Web) -> None:
        server = api.AsyncServer()

        def first(socket: Any) -> None:  # a plain function
            web.journal.add(("step", "first", socket.sid))
            socket.data["user"] = socket.handshake.auth.get("user")

        async def second(socket: Any) -> None:  # a coroutine function
            await anyio.sleep(0)
            web.journal.add(("step", "second", socket.sid))
            socket.data["seen_by_second"] = socket.data["user"]

        server.use(first)
        server.use(second)

        @server.on("connect")
        async def connect(socket: Any, auth: Any) -> None:
            web.journal.add(("step", "connect", socket.sid))
            await socket.emit("hello", socket.data)

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            client = await web.connect(client_kind, served.url, transport, auth={"user": "ann"})
            assert await client.wait_event("hello") == [{"user": "ann", "seen_by_second": "ann"}]
        sid = client.sids["/"]
        assert web.journal.find("step") == [("first", sid), ("second", sid), ("connect", sid)]

    run(binding, scenario, node=node)


def test_refusal_reaches_the_client_as_from_node(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    """``ConnectionRefusedError("no", {"why": 1})`` from a middleware: the client gets
    ``err.message == "no"`` and ``err.data == {"why": 1}``, as from Node's server with
    ``next(err)``; the later middleware and the connect handler do not run."""

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()

        async def refuse(socket: Any) -> None:
            web.journal.add(("step", "refuse"))
            raise api.ConnectionRefusedError("no", {"why": 1})

        server.use(refuse)
        server.use(lambda socket: web.journal.add(("step", "after")))
        server.on("connect", lambda socket, auth: web.journal.add(("step", "connect")))

        async def refused_by(url: str) -> dict[str, Any]:
            client = web.client(client_kind, url, transport)
            await client.open()
            error = await client.wait_for("connect_error", nsp="/")
            assert not client.find("connect")
            return {key: error[key] for key in ("nsp", "message", "data")}

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            ours = await refused_by(served.url)
        async with web.serve_node("refuse-with-data") as reference:
            nodes = await refused_by(reference.url)
        assert ours == nodes == {"nsp": "/", "message": "no", "data": {"why": 1}}
        assert web.journal.find("step") == [("refuse",)]

    run(binding, scenario, node=node)


@pytest.mark.parametrize("where", ["middleware", "connect handler"])
def test_unexpected_error_is_an_internal_server_error(
    binding: str,
    api: ModuleType,
    node: str,
    client_kind: str,
    where: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a refusal but a bug: the client is told "Internal server error" and nothing more
    (not the error's text), and the server logs the error with its traceback."""

    def broken(*args: Any) -> None:
        raise RuntimeError("secret detail")

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        if where == "middleware":
            server.use(broken)
        else:
            server.on("connect", broken)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            client = web.client(client_kind, served.url, "ws")
            await client.open()
            error = await client.wait_for("connect_error", nsp="/")
            assert (error["message"], error["data"]) == ("Internal server error", None)

    run(binding, scenario, node=node)
    (logged,) = [r for r in caplog.records if r.exc_info and r.name.startswith("sansio_rooms")]
    assert logged.levelno == logging.ERROR
    assert f"{'a middleware' if where == 'middleware' else 'the connect handler'} of /" in (
        logged.getMessage()
    )
    assert isinstance(logged.exc_info[1], RuntimeError)


def test_middleware_returning_false_refuses(
    binding: str, api: ModuleType, node: str, client_kind: str
) -> None:
    async def scenario(web: Web) -> None:
        server = api.AsyncServer()
        server.use(lambda socket: socket.handshake.auth.get("token") == "ok")

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            refused = web.client(client_kind, served.url, "ws", auth={"token": "bad"})
            await refused.open()
            error = await refused.wait_for("connect_error", nsp="/")
            assert (error["message"], error["data"]) == ("Not authorized", None)
            await web.connect(client_kind, served.url, "ws", auth={"token": "ok"})

    run(binding, scenario, node=node)


def test_socket_use_drops_a_packet_and_calls_the_error_handler(
    binding: str, api: ModuleType, node: str, client_kind: str, transport: str
) -> None:
    """A packet middleware sees ``[event, *args]`` of each event, may change it, and drops it
    by raising: the event's handler does not run, the namespace's ``error`` handler gets the
    error. A client's own ``error`` event is not that: it goes to the catch-all only."""

    async def scenario(web: Web) -> None:
        server = api.AsyncServer()

        @server.on("connect")
        async def connect(socket: Any, auth: Any) -> None:
            def guard(packet: list[Any]) -> None:
                web.journal.add(("packet", list(packet)))
                if packet[0] == "forbidden":
                    raise PermissionError("blocked " + packet[1])

            async def shout(packet: list[Any]) -> None:
                await anyio.sleep(0)
                if packet[0] == "say":
                    packet[1] = packet[1].upper()

            socket.use(guard)
            socket.use(shout)

        @server.on("say")
        async def say(socket: Any, text: str) -> str:
            return text

        @server.on("forbidden")
        async def forbidden(socket: Any, *args: Any) -> None:
            web.journal.add(("forbidden ran",))

        @server.on("error")
        async def error(socket: Any, error: Exception) -> None:
            await socket.emit("refused", type(error).__name__, str(error))

        @server.on("*")
        async def catch_all(socket: Any, event: str, *args: Any) -> None:
            await socket.emit("caught", event, *args)

        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            client = await web.connect(client_kind, served.url, transport)
            assert await client.call1("say", "hi") == "HI"
            await client.emit("forbidden", "x")
            assert await client.wait_event("refused") == ["PermissionError", "blocked x"]
            await client.emit("error", "from the client")
            assert await client.wait_event("caught") == ["error", "from the client"]
            assert not client.events("refused")[1:]  # the client's "error" was not refused
        assert not web.journal.find("forbidden ran")
        assert web.journal.find("packet") == [
            (["say", "hi"],),
            (["forbidden", "x"],),
            (["error", "from the client"],),
        ]

    run(binding, scenario, node=node)
