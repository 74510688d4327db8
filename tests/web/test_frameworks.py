"""The server inside web frameworks, on real ASGI servers (uvicorn, hypercorn's trio worker):
mounted in FastAPI and Starlette (``app.mount("/ws", ASGIApp(server))``) with its lifespan in
theirs, in front of FastAPI (``other_asgi_app``), and mounted without any lifespan; then a
graceful stop, and what a client sees of it, compared with Node's own server.

Where a test shows that a lifespan shut the server down, it does so with a socket of a raw
long-polling session left idle (no GET parked, so that the ASGI server's own stop does not wait
for it): the server's shutdown, run by the lifespan, disconnects it with "server shutting
down", before the framework's shutdown hook runs.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from _web_clients import PYTHON_CLIENT_LEAK, Web, run
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

pytestmark = PYTHON_CLIENT_LEAK

SHUTTING_DOWN = "server shutting down"


def _server(api: ModuleType, web: Web) -> Any:
    """A server that records connects and disconnects, welcomes and echoes."""
    server = api.AsyncServer()

    @server.on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        web.journal.add(("sio", "connect", socket.sid))
        await socket.emit("welcome", socket.handshake.url.split("?")[0])

    @server.on("echo")
    async def echo(socket: Any, value: Any) -> Any:
        return value

    @server.on("disconnect")
    async def disconnect(socket: Any, reason: str) -> None:
        web.journal.add(("sio", "disconnect", socket.sid, reason))

    return server


def _fastapi(lifespan: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def _fastapi_mounting(api: ModuleType, server: Any, web: Web) -> FastAPI:
    """FastAPI with the server mounted at ``/ws``, the server's lifespan nested in its own
    (which the journal records starting and stopping)."""
    sio_app = api.ASGIApp(server)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        web.journal.add(("app", "startup"))
        async with sio_app.lifespan(app):
            yield
        web.journal.add(("app", "shutdown"))

    app = _fastapi(lifespan)
    app.mount("/ws", sio_app)
    return app


async def _hello(web_url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(web_url + "/hello") as response:
        assert response.status == 200
        return await response.json()


async def _idle_socket(url: str, path: str = "/socket.io/") -> str:
    """A socket connected over a raw long-polling session, then left alone: its sid."""
    base = f"{url}{path}?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as response:
            assert response.status == 200, await response.text()
            sid = json.loads((await response.text())[1:])["sid"]
        session = f"{base}&sid={sid}"
        async with http.post(session, data="40") as response:
            assert response.status == 200
        async with http.get(session) as response:
            packet = await response.text()
    assert packet.startswith("40{"), packet
    socket_sid: str = json.loads(packet[2:].split("\x1e")[0])["sid"]
    return socket_sid


def _stopped_in_order(web: Web, idle: str) -> None:
    """The app started first and stopped last; the lifespan shut the server down in between
    (the idle socket was disconnected by it)."""
    records = web.journal.records
    assert records[0] == ("app", "startup")
    assert records[-1] == ("app", "shutdown")
    assert ("sio", "disconnect", idle, SHUTTING_DOWN) in records[:-1]


def test_fastapi_mount_with_nested_lifespan(binding: str, api: ModuleType, node: str) -> None:
    async def scenario(web: Web) -> None:
        server = _server(api, web)

        build = functools.partial(_fastapi_mounting, api, server, web)
        # No server.shutdown() before the stop: the lifespan's exit does it.
        async with web.serve(build, before_stop=None) as served:
            assert await _hello(served.url) == {"hello": "world"}
            js = await web.connect("node", served.url, "upgrade", path="/ws/socket.io")
            assert await js.wait_event("welcome") == ["/ws/socket.io/"]
            assert await js.call1("echo", {"n": 1}) == {"n": 1}
            py = await web.connect("python", served.url, "upgrade", path="/ws/socket.io")
            assert await py.call1("echo", 2) == 2
            idle = await _idle_socket(served.url, "/ws/socket.io/")
        _stopped_in_order(web, idle)

    run(binding, scenario, node=node)


def test_fastapi_behind_the_server(binding: str, api: ModuleType, node: str) -> None:
    """``ASGIApp(server, other_asgi_app=fastapi_app)`` as the top app: FastAPI's lifespan runs
    (startup before the server's, shutdown after it), its routes answer, Socket.IO works."""

    async def scenario(web: Web) -> None:
        server = _server(api, web)

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            web.journal.add(("app", "startup"))
            yield
            web.journal.add(("app", "shutdown"))

        async with web.serve(
            lambda: api.ASGIApp(server, other_asgi_app=_fastapi(lifespan)), before_stop=None
        ) as served:
            assert await _hello(served.url) == {"hello": "world"}
            async with (
                aiohttp.ClientSession() as http,
                http.get(served.url + "/nowhere") as response,
            ):
                assert response.status == 404
                assert await response.json() == {"detail": "Not Found"}  # FastAPI's 404
            js = await web.connect("node", served.url, "upgrade")
            assert await js.wait_event("welcome") == ["/socket.io/"]
            assert await js.call1("echo", "hi") == "hi"
            idle = await _idle_socket(served.url)
        _stopped_in_order(web, idle)

    run(binding, scenario, node=node)


def test_starlette_mount_with_the_server_lifespan(binding: str, api: ModuleType, node: str) -> None:
    """``Starlette(lifespan=sio_app.lifespan)``: the server's lifespan as the app's own."""

    async def scenario(web: Web) -> None:
        server = _server(api, web)

        async def hello(request: Request) -> JSONResponse:
            return JSONResponse({"hello": "world"})

        def build() -> Starlette:
            sio_app = api.ASGIApp(server)
            return Starlette(
                routes=[Route("/hello", hello), Mount("/rt", app=sio_app)],
                lifespan=sio_app.lifespan,
            )

        async with web.serve(build, before_stop=None) as served:
            assert await _hello(served.url) == {"hello": "world"}
            js = await web.connect("node", served.url, "ws", path="/rt/socket.io")
            assert await js.wait_event("welcome") == ["/rt/socket.io/"]
            assert await js.call1("echo", "hi") == "hi"
            idle = await _idle_socket(served.url, "/rt/socket.io/")
        disconnects = web.journal.find("sio")
        assert ("disconnect", idle, SHUTTING_DOWN) in disconnects

    run(binding, scenario, node=node)


def test_mounted_without_any_lifespan_starts_at_first_request(
    binding: str, api: ModuleType, node: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody ran the server's lifespan: it starts itself at its first request, once, and
    says (WARNING) that no graceful shutdown will run and how to fix it."""
    caplog.set_level(logging.WARNING, logger="sansio_rooms")

    async def scenario(web: Web) -> None:
        server = _server(api, web)
        build = lambda: Starlette(routes=[Mount("/ws", app=api.ASGIApp(server))])  # noqa: E731
        async with web.serve(build, before_stop=server.shutdown) as served:
            js = await web.connect("node", served.url, "upgrade", path="/ws/socket.io")
            py = await web.connect("python", served.url, "polling", path="/ws/socket.io")
            assert await js.call1("echo", 1) == 1
            assert await py.call1("echo", 2) == 2

    run(binding, scenario, node=node)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["sansio_rooms.asgi"]
    message = warnings[0].getMessage()
    assert "no graceful shutdown will run" in message
    assert "sio_app.lifespan" in message


def test_graceful_stop_as_node_stops(
    binding: str, api: ModuleType, node: str, transport: str
) -> None:
    """Stopped from code as the docs say (``await server.shutdown()``, then the ASGI server),
    mounted in FastAPI: the official client sees "transport close" (an Engine.IO close, not
    a Socket.IO DISCONNECT: no "io server disconnect"), over WebSocket as from Node's
    ``io.close()``; the server's disconnect handler says "server shutting down"; FastAPI's
    shutdown hook runs after.

    Over long-polling this server answers the parked GET with the close packet (docs/asyncio.md,
    "Graceful shutdown"): "transport close" too. Node's server there most often cuts the GET
    as its HTTP server closes ("transport error"; "transport close" now and then): compared
    over WebSocket only."""

    async def scenario(web: Web) -> None:
        server = _server(api, web)

        build = functools.partial(_fastapi_mounting, api, server, web)
        async with web.serve(build, before_stop=server.shutdown) as served:
            ours = await web.connect("node", served.url, transport, path="/ws/socket.io")
            await served.call(server.shutdown)
            ours_saw = (await ours.wait_for("disconnect", nsp="/"))["reason"]
        sid = ours.sids["/"]
        assert ("sio", "disconnect", sid, SHUTTING_DOWN) in web.journal.records
        assert web.journal.records[-1] == ("app", "shutdown")

        async with web.serve_node("accept-all") as reference:
            theirs = await web.connect("node", reference.url, transport)
            await reference.close()
            node_saw = (await theirs.wait_for("disconnect", nsp="/"))["reason"]
        assert ours_saw == "transport close"
        if transport == "ws":
            assert node_saw == ours_saw
        else:
            assert node_saw in ("transport error", "transport close")

    run(binding, scenario, node=node)


def test_other_app_without_lifespan_is_left_alone(binding: str, api: ModuleType, node: str) -> None:
    """An ``other_asgi_app`` that does not do lifespans (it raises, as ASGI allows) does not
    stop the server from starting, and still gets its requests."""

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"no {scope['type']} here")
        body = b"plain"
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def scenario(web: Web) -> None:
        server = _server(api, web)
        build = lambda: api.ASGIApp(server, other_asgi_app=plain)  # noqa: E731
        async with web.serve(build, before_stop=server.shutdown) as served:
            async with aiohttp.ClientSession() as http, http.get(served.url + "/x") as response:
                assert (response.status, await response.text()) == (200, "plain")
            js = await web.connect("node", served.url, "upgrade")
            assert await js.call1("echo", "hi") == "hi"

    run(binding, scenario, node=node)


def test_no_new_session_once_shut_down(binding: str, api: ModuleType, node: str) -> None:
    async def scenario(web: Web) -> None:
        server = _server(api, web)
        async with web.serve(lambda: api.ASGIApp(server), before_stop=server.shutdown) as served:
            js = await web.connect("node", served.url, "ws")
            await served.call(server.shutdown)
            assert (await js.wait_for("disconnect", nsp="/"))["reason"] == "transport close"
            # The official client reconnects (as a browser's would): it must not get in.
            async with (
                aiohttp.ClientSession() as http,
                http.get(served.url + "/socket.io/?EIO=4&transport=polling") as response,
            ):
                body = await response.text()
            assert not body.startswith("0{"), f"a session was opened after shutdown(): {body}"
            assert response.status == 503
            assert json.loads(body) == {"code": 4, "message": "Server shutting down"}
            assert await served.call_sync(lambda: len(server.engineio)) == 0

    run(binding, scenario, node=node)
