"""The asyncio ASGI app, driven as an ASGI server would drive it (fake scope/receive/send),
and once on a real uvicorn with a raw WebSocket client, to see the frames on the wire."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from websockets.frames import Frame, Opcode

from sansio_rooms import PreparedFrame as _Message
from sansio_rooms_asyncio import ASGIApp, AsyncServer, Socket
from sansio_rooms_asyncio._asgi import _direct_transport


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


class Exchange:
    """One ASGI connection: what the app receives (a queue) and what it sends (a list)."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in incoming:
            self.incoming.put_nowait(message)
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.arrived.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def status(self) -> int:
        (start,) = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(start["status"])


def http(path: str, query: str = "", method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "method": method,
        "query_string": query.encode(),
        "headers": [(b"content-type", b"text/plain;charset=UTF-8")],
    }


async def request(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> Exchange:
    exchange = Exchange({"type": "http.request", "body": body, "more_body": False})
    await app(scope, exchange.receive, exchange.send)
    return exchange


def test_lifespan_and_the_paths_outside_socket_io(tmp_path: Path) -> None:
    async def scenario() -> None:
        page = tmp_path / "index.html"
        page.write_text("<h1>hi</h1>")
        other_calls: list[str] = []

        async def other(scope: Any, receive: Any, send: Any) -> None:
            other_calls.append(scope["path"])

        server = AsyncServer()
        app = ASGIApp(server, static_files={"/": page, "/gone": tmp_path / "missing"})
        lifespan = Exchange({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
        await app({"type": "lifespan"}, lifespan.receive, lifespan.send)
        assert [m["type"] for m in lifespan.sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        page_exchange = await request(app, http("/"))
        assert (page_exchange.status(), page_exchange.body()) == (200, b"<h1>hi</h1>")
        assert (await request(app, http("/gone"))).status() == 404
        assert (await request(app, http("/elsewhere"))).status() == 404
        websocket = Exchange({"type": "websocket.connect"})
        await app({"type": "websocket", "path": "/elsewhere"}, websocket.receive, websocket.send)
        assert websocket.sent == [{"type": "websocket.close", "code": 1000}]
        mounted = ASGIApp(server, other, socketio_path="/rt/")
        await mounted(http("/api"), Exchange().receive, Exchange().send)
        assert other_calls == ["/api"]
        assert (await request(mounted, http("/rt/", "EIO=3&transport=polling"))).status() == 400

    run(scenario)


def test_long_polling_through_asgi() -> None:
    async def scenario() -> None:
        server = AsyncServer()
        joined: list[str] = []

        @server.on("join")
        async def join(socket: Socket, room: str) -> str:
            socket.join(room)
            joined.append(room)
            return "ok"

        app = ASGIApp(server)
        handshake = await request(app, http("/socket.io/", "EIO=4&transport=polling"))
        assert handshake.status() == 200
        sid = json.loads(handshake.body()[1:])["sid"]
        query = f"EIO=4&transport=polling&sid={sid}"
        posted = await request(app, http("/socket.io/", query, "POST"), b"40")
        assert (posted.status(), posted.body()) == (200, b"ok")
        connected = await request(app, http("/socket.io/", query))
        assert connected.body().startswith(b"40{")
        # A GET with nothing to send waits; the answer to the event's ack wakes it.
        waiting = Exchange({"type": "http.request", "body": b"", "more_body": False})
        parked = asyncio.ensure_future(
            app(http("/socket.io/", query), waiting.receive, waiting.send)
        )
        await asyncio.sleep(0)
        assert not parked.done()
        await request(app, http("/socket.io/", query, "POST"), b'421["join","room"]')
        await asyncio.wait_for(parked, 2)
        assert waiting.body() == b'431["ok"]' and joined == ["room"]
        # A client that goes away while its GET waits closes the session.
        gone = Exchange({"type": "http.request", "body": b"", "more_body": False})
        parked = asyncio.ensure_future(app(http("/socket.io/", query), gone.receive, gone.send))
        await asyncio.sleep(0)
        gone.incoming.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(parked, 2)
        assert gone.sent == []
        assert (await request(app, http("/socket.io/", query))).status() == 400  # unknown sid
        too_big = Exchange(
            {"type": "http.request", "body": b"4" * 600_000, "more_body": True},
            {"type": "http.request", "body": b"4" * 600_000, "more_body": False},
        )
        handshake = await request(app, http("/socket.io/", "EIO=4&transport=polling"))
        sid = json.loads(handshake.body()[1:])["sid"]
        scope = http("/socket.io/", f"EIO=4&transport=polling&sid={sid}", "POST")
        await app(scope, too_big.receive, too_big.send)
        assert too_big.status() == 413
        left = Exchange({"type": "http.disconnect"})
        await app(http("/socket.io/", "EIO=4&transport=polling"), left.receive, left.send)
        assert left.sent == []

    run(scenario)


def test_websocket_through_asgi() -> None:
    async def scenario() -> None:
        server = AsyncServer()
        app = ASGIApp(server)
        refused = Exchange({"type": "websocket.connect"})
        scope = {"type": "websocket", "path": "/socket.io/", "query_string": b"transport=websocket"}
        await app(scope, refused.receive, refused.send)
        assert refused.sent == [{"type": "websocket.close", "code": 1008}]
        denied = Exchange({"type": "websocket.connect"})
        with_denial = {**scope, "extensions": {"websocket.http.response": {}}}
        await app(with_denial, denied.receive, denied.send)
        body = b'{"code":5,"message":"Unsupported protocol version"}'
        assert denied.sent == [
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            },
            {"type": "websocket.http.response.body", "body": body},
        ]
        client = Exchange({"type": "websocket.connect"})
        scope = {**scope, "query_string": b"EIO=4&transport=websocket"}
        running = asyncio.ensure_future(app(scope, client.receive, client.send))
        await client.arrived.wait()
        await asyncio.sleep(0)
        assert client.sent[0] == {"type": "websocket.accept"}
        assert client.sent[1]["text"].startswith("0{")
        client.incoming.put_nowait({"type": "websocket.receive", "text": "40"})
        await asyncio.sleep(0.05)
        assert client.sent[2]["text"].startswith("40{")
        client.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(running, 2)
        assert server.machine.engine.namespace("/").count_sockets() == 0

    run(scenario)


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70000])
def test_frames_built_once_are_websocket_frames(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    for frame, opcode in ((text, Opcode.TEXT), (b"\x00" * size, Opcode.BINARY)):
        message = _Message(frame)
        payload = frame.encode() if isinstance(frame, str) else frame
        expected = Frame(opcode, payload).serialize(mask=False, extensions=[])
        assert message.wire == expected
        assert message.asgi == (
            {"type": "websocket.send", "text": frame}
            if isinstance(frame, str)
            else {"type": "websocket.send", "bytes": frame}
        )


def test_the_direct_path_is_only_for_uvicorns_sansio_protocol() -> None:
    async def plain_send(message: Any) -> None: ...

    assert _direct_transport(plain_send) is None
    assert _direct_transport(Exchange().send) is None


def test_on_uvicorn_with_a_raw_websocket_client() -> None:
    async def scenario() -> None:
        server = AsyncServer()

        @server.on("join")
        async def join(socket: Socket, room: str) -> None:
            socket.join(room)

        @server.on("say")
        async def say(socket: Socket, room: str, text: str) -> None:
            await socket.to(room).emit("said", text, b"\x01\x02")

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            ASGIApp(server),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
        )
        uvicorn_server = uvicorn.Server(config)
        serving = asyncio.ensure_future(uvicorn_server.serve())
        while not uvicorn_server.started:
            await asyncio.sleep(0.01)
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        try:
            async with websockets.connect(url) as a, websockets.connect(url) as b:
                for ws in (a, b):
                    assert (await ws.recv()).startswith("0{")
                    await ws.send("40")
                    assert (await ws.recv()).startswith("40{")
                    await ws.send('42["join","room"]')
                await asyncio.sleep(0.05)
                writers = list(server.machine.eio._by_websocket)
                assert writers and all(w._direct is not None for w in writers)  # the fast path
                await a.send('42["say","room","hi"]')
                assert await b.recv() == '451-["said","hi",{"_placeholder":true,"num":0}]'
                assert await b.recv() == b"\x01\x02"
        finally:
            uvicorn_server.should_exit = True
            await serving

    run(scenario)


@pytest.mark.parametrize(
    "implementation",
    [
        "websockets-sansio",
        # The legacy implementation (websockets.legacy, deprecated by websockets and by
        # uvicorn, which warn) is what `--ws websockets` still gives: tested all the same.
        pytest.param(
            "websockets",
            marks=[
                pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated"),
                pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
                pytest.mark.filterwarnings("ignore:remove second argument of ws_handler"),
            ],
        ),
        "wsproto",
    ],
)
def test_every_uvicorn_websocket_implementation_refuses_and_closes(implementation: str) -> None:
    """A refused handshake is a 400 with the error body; a close the server decides (here,
    after a parse error) reaches the client, on each of uvicorn's WebSocket implementations
    (the legacy one only lets a close be sent from a task)."""

    async def scenario() -> None:
        server = AsyncServer()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            ASGIApp(server, shutdown_signals=()),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws=implementation,
        )
        uvicorn_server = uvicorn.Server(config)
        serving = asyncio.ensure_future(uvicorn_server.serve())
        while not uvicorn_server.started:
            assert not serving.done(), serving.exception()
            await asyncio.sleep(0.01)
        base = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        try:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(base + "&sid=nobody"):
                    pass
            assert refused.value.response.status_code == 400
            assert json.loads(refused.value.response.body or b"") == {
                "code": 1,
                "message": "Session ID unknown",
            }
            async with websockets.connect(base) as ws:
                assert (await ws.recv()).startswith("0{")
                await ws.send("4abc")  # not a Socket.IO packet: a parse error
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 2)
                assert ws.close_code == 1000
            assert len(server.machine.eio) == 0
        finally:
            uvicorn_server.should_exit = True
            await serving

    run(scenario)
