"""asyncio only: the ASGI app on a real uvicorn, with raw WebSocket clients to see the frames
on the wire. uvicorn is asyncio's server, and its sans-I/O WebSocket protocol is what the
asyncio binding's direct transport writes to (trio's runs on hypercorn: tests/interop). The
ASGI app on both bindings, driven by hand: tests/bindings/test_asgi.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import pytest
import uvicorn
import websockets

from sansio_rooms_asyncio import ASGIApp, AsyncServer, Socket


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


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
