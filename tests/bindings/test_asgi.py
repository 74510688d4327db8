"""Each binding's ASGI app, driven as an ASGI server would drive it (fake scope/receive/send).
The real servers: uvicorn in tests/asyncio/test_uvicorn.py, hypercorn's trio worker in
tests/interop."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from websockets.frames import Frame, Opcode

from sansio_rooms import PreparedFrame as _Message
from sansio_rooms import Socket

from ._memory import Signal, settle


class Exchange:
    """One ASGI connection: what the app receives (``incoming``, a queue) and what it sends
    (``sent``, a list)."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming = deque(incoming)
        self._put = Signal()
        self.sent: list[dict[str, Any]] = []
        self._sent = Signal()

    def put(self, message: dict[str, Any]) -> None:
        self.incoming.append(message)
        self._put.notify()

    async def receive(self) -> dict[str, Any]:
        while not self.incoming:
            await self._put.wait()
        return self.incoming.popleft()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self._sent.notify()

    async def wait_sent(self, count: int) -> None:
        """Until the app has sent ``count`` messages (2 s at most)."""
        with anyio.fail_after(2):
            while len(self.sent) < count:
                await self._sent.wait()

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


async def request(app: Any, scope: dict[str, Any], body: bytes = b"") -> Exchange:
    exchange = Exchange({"type": "http.request", "body": body, "more_body": False})
    await app(scope, exchange.receive, exchange.send)
    return exchange


async def serve_one(app: Any, scope: dict[str, Any], exchange: Exchange, done: anyio.Event) -> None:
    await app(scope, exchange.receive, exchange.send)
    done.set()


# A file read runs in a worker thread: trio's autojump clock would see every task blocked and
# jump straight past the deadline.
@pytest.mark.real_clock
async def test_lifespan_and_the_paths_outside_socket_io(
    binding: ModuleType, tmp_path: Path
) -> None:
    page = tmp_path / "index.html"
    page.write_text("<h1>hi</h1>")
    other_calls: list[str] = []

    async def other(scope: Any, receive: Any, send: Any) -> None:
        other_calls.append(scope["path"])

    server = binding.AsyncServer()
    app = binding.ASGIApp(server, static_files={"/": page, "/gone": tmp_path / "missing"})
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
    mounted = binding.ASGIApp(server, other, socketio_path="/rt/")
    await mounted(http("/api"), Exchange().receive, Exchange().send)
    assert other_calls == ["/api"]
    assert (await request(mounted, http("/rt/", "EIO=3&transport=polling"))).status() == 400


async def test_long_polling_through_asgi(binding: ModuleType) -> None:
    server = binding.AsyncServer()
    joined: list[str] = []

    @server.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        joined.append(room)
        return "ok"

    async with server.running():
        app = binding.ASGIApp(server)
        handshake = await request(app, http("/socket.io/", "EIO=4&transport=polling"))
        assert handshake.status() == 200
        sid = json.loads(handshake.body()[1:])["sid"]
        query = f"EIO=4&transport=polling&sid={sid}"
        posted = await request(app, http("/socket.io/", query, "POST"), b"40")
        assert (posted.status(), posted.body()) == (200, b"ok")
        connected = await request(app, http("/socket.io/", query))
        assert connected.body().startswith(b"40{")
        # A GET with nothing to send waits; the answer to the event's ack wakes it.
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                waiting = Exchange({"type": "http.request", "body": b"", "more_body": False})
                answered = anyio.Event()
                tasks.start_soon(serve_one, app, http("/socket.io/", query), waiting, answered)
                await settle()
                assert waiting.sent == [] and not answered.is_set()
                await request(app, http("/socket.io/", query, "POST"), b'421["join","room"]')
        assert waiting.body() == b'431["ok"]' and joined == ["room"]
        # A client that goes away while its GET waits closes the session.
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                gone = Exchange({"type": "http.request", "body": b"", "more_body": False})
                tasks.start_soon(serve_one, app, http("/socket.io/", query), gone, anyio.Event())
                await settle()
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


async def test_websocket_through_asgi(binding: ModuleType) -> None:
    server = binding.AsyncServer()
    app = binding.ASGIApp(server)
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
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(serve_one, app, scope, client, anyio.Event())
                await client.wait_sent(2)
                assert client.sent[0] == {"type": "websocket.accept"}
                assert client.sent[1]["text"].startswith("0{")
                client.put({"type": "websocket.receive", "text": "40"})
                await client.wait_sent(3)
                assert client.sent[2]["text"].startswith("40{")
                client.put({"type": "websocket.disconnect", "code": 1000})
        assert server.machine.engine.namespace("/").count_sockets() == 0


# Not a binding's: the core's frames, which both bindings send (so it runs once).
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
