"""The trio ASGI app, driven as an ASGI server would drive it (fake scope/receive/send), on
trio's autojump clock. Mirrors tests/asyncio/test_asgi.py (the real-server runs, on hypercorn's
trio worker, are in tests/interop)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from websockets.frames import Frame, Opcode

from sansio_rooms import PreparedFrame as _Message
from sansio_rooms_trio import ASGIApp, AsyncServer, Socket
from sansio_rooms_trio._asgi import _direct_transport


def run(test: Callable[[], Awaitable[None]], *, virtual_time: bool = True) -> None:
    async def bounded() -> None:
        with trio.fail_after(60):  # virtual seconds, unless a thread is involved
            await test()

    # A file read runs in a worker thread: the autojump clock would see every task blocked
    # and jump straight past the deadline, so that test runs on the real clock.
    clock = trio.testing.MockClock(autojump_threshold=0) if virtual_time else None
    trio.run(bounded, clock=clock)


class Exchange:
    """One ASGI connection: what the app receives (a queue) and what it sends (a list)."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self._in, self._out = trio.open_memory_channel[dict[str, Any]](100)
        for message in incoming:
            self._in.send_nowait(message)
        self.sent: list[dict[str, Any]] = []

    def put(self, message: dict[str, Any]) -> None:
        self._in.send_nowait(message)

    async def receive(self) -> dict[str, Any]:
        return await self._out.receive()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

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

    run(scenario, virtual_time=False)


def test_long_polling_through_asgi() -> None:
    async def scenario() -> None:
        server = AsyncServer()
        joined: list[str] = []

        @server.on("join")
        async def join(socket: Socket, room: str) -> str:
            socket.join(room)
            joined.append(room)
            return "ok"

        async with server.running():
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
            async with trio.open_nursery() as nursery:
                waiting = Exchange({"type": "http.request", "body": b"", "more_body": False})
                nursery.start_soon(app, http("/socket.io/", query), waiting.receive, waiting.send)
                await trio.testing.wait_all_tasks_blocked()
                assert waiting.sent == []
                await request(app, http("/socket.io/", query, "POST"), b'421["join","room"]')
            assert waiting.body() == b'431["ok"]' and joined == ["room"]
            # A client that goes away while its GET waits closes the session.
            async with trio.open_nursery() as nursery:
                gone = Exchange({"type": "http.request", "body": b"", "more_body": False})
                nursery.start_soon(app, http("/socket.io/", query), gone.receive, gone.send)
                await trio.testing.wait_all_tasks_blocked()
                gone.put({"type": "http.disconnect"})
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
        async with server.running():
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
            async with trio.open_nursery() as nursery:
                nursery.start_soon(app, scope, client.receive, client.send)
                await trio.testing.wait_all_tasks_blocked()
                assert client.sent[0] == {"type": "websocket.accept"}
                assert client.sent[1]["text"].startswith("0{")
                client.put({"type": "websocket.receive", "text": "40"})
                await trio.testing.wait_all_tasks_blocked()
                assert client.sent[2]["text"].startswith("40{")
                client.put({"type": "websocket.disconnect", "code": 1000})
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


def test_the_direct_path_is_only_for_hypercorns_http1_websocket() -> None:
    async def plain_send(message: Any) -> None: ...

    assert _direct_transport(plain_send) is None
    assert _direct_transport(Exchange().send) is None
