"""trio only: how the binding's own server (``serve``) writes. The server's flusher sends
each connection's output with a non-blocking ``send``; when a client does not take it all,
that connection's own task waits to send the rest, and what is written meanwhile follows it,
in order. Past ``max_buffer`` frames waiting, that client is dropped and nobody else notices.
Real sockets on loopback, on trio's real clock."""

from __future__ import annotations

import json
import socket as socket_module
from typing import Any

import trio
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from sansio_rooms_trio import ASGIApp, AsyncServer, serve

TIME_LIMIT = 20.0
FRAME = 4000  # bytes of text per message: a few hundred of them fill loopback's buffers


def _server(**options: Any) -> AsyncServer:
    server = AsyncServer(ping_interval=300, ping_timeout=300, **options)

    @server.on("join")
    def join(socket: Any) -> str:
        socket.join("room")
        return "ok"

    @server.on("flood")
    def flood(socket: Any, start: int, count: int) -> str:
        for number in range(start, start + count):
            server.to("room").emit("msg", number, "x" * FRAME)  # the sender too
        return "ok"

    return server


class _Client:
    """A Socket.IO client on a raw trio stream, reading only when told to."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.protocol = ClientProtocol(parse_uri("ws://127.0.0.1/socket.io/"))
        self.texts: list[str] = []

    @classmethod
    async def connect(cls, port: int, receive_buffer: int | None = None) -> _Client:
        sock = trio.socket.socket()
        if receive_buffer is not None:  # before connecting: the window is set then
            sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, receive_buffer)
        await sock.connect(("127.0.0.1", port))
        client = cls(trio.SocketStream(sock))
        request = client.protocol.connect()
        request.path = "/socket.io/?EIO=4&transport=websocket"
        client.protocol.send_request(request)
        await client.flush()
        assert (await client.text()).startswith("0{")
        await client.send("40")
        assert (await client.text()).startswith("40{")
        return client

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await self.stream.send_all(data)

    async def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        await self.flush()

    async def text(self) -> str:
        """The next text message (a ping is answered); "" once the connection is closed."""
        while not self.texts:
            data = await self.stream.receive_some(65536)
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    if event.data == b"2":
                        await self.send("3")
                    else:
                        self.texts.append(bytes(event.data).decode())
            await self.flush()
            if not data:
                return ""
        return self.texts.pop(0)


async def _serving(server: AsyncServer, nursery: trio.Nursery) -> tuple[int, trio.Event]:
    sock = socket_module.socket()
    sock.bind(("127.0.0.1", 0))
    stop = trio.Event()
    ready = trio.Event()
    nursery.start_soon(
        lambda: serve(
            ASGIApp(server), sock=sock, stop=stop, ready=lambda _: ready.set(), handle_signals=False
        )
    )
    await ready.wait()
    return sock.getsockname()[1], stop


def test_a_client_slow_to_read_gets_every_frame_in_order() -> None:
    """The flood does not fit in the kernel's buffers: the connection's task sends the rest
    when it can, and each broadcast written meanwhile follows, whole and in order."""

    async def scenario() -> None:
        with trio.fail_after(TIME_LIMIT):
            async with trio.open_nursery() as nursery:
                port, stop = await _serving(_server(), nursery)
                slow = await _Client.connect(port, receive_buffer=4096)
                await slow.send('421["join"]')
                assert await slow.text() == '431["ok"]'
                for call in range(4):  # 1.6 MB, the client reading nothing meanwhile
                    await slow.send(f'42{call + 2}["flood",{call * 100},100]')
                    await trio.sleep(0.05)
                numbers: list[int] = []
                acks = 0
                while len(numbers) < 400 or acks < 4:
                    text = await slow.text()
                    if text.startswith("43"):
                        acks += 1
                        continue
                    event, number, payload = json.loads(text[2:])
                    assert (event, len(payload)) == ("msg", FRAME)
                    numbers.append(number)
                assert numbers == list(range(400))
                await slow.stream.aclose()
                stop.set()

    trio.run(scenario)


def test_past_max_buffer_only_the_slow_client_is_dropped() -> None:
    """A client that does not read is dropped ("transport error") once more than
    ``max_buffer`` frames wait for it; one that reads gets every frame."""

    async def scenario() -> None:
        reasons: list[str] = []
        server = _server(max_buffer=16)

        @server.on("disconnect")
        def disconnect(socket: Any, reason: str) -> None:
            reasons.append(reason)

        with trio.fail_after(TIME_LIMIT):
            async with trio.open_nursery() as nursery:
                port, stop = await _serving(server, nursery)
                slow = await _Client.connect(port, receive_buffer=4096)
                fast = await _Client.connect(port)
                for client in (slow, fast):
                    await client.send('421["join"]')
                    assert await client.text() == '431["ok"]'
                numbers: list[int] = []
                for call in range(40):  # the slow client stops reading
                    await fast.send(f'42{call + 2}["flood",{call * 10},10]')
                    while True:
                        text = await fast.text()
                        if text.startswith("43"):
                            break
                        numbers.append(json.loads(text[2:])[1])
                assert numbers == list(range(400))
                assert reasons == ["transport error"]
                for client in (slow, fast):
                    await client.stream.aclose()
                stop.set()

    trio.run(scenario)
