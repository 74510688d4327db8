"""A burst of broadcasts must not drop the long-polling clients that keep polling.

Over real sockets, on each binding: healthy long-polling clients that poll continuously, one
stalled one (it connects, then never polls again) and a WebSocket client whose ``burst``
event makes the server broadcast ``3 * max_buffered_packets`` events back to back. The burst
is one handler broadcasting in a loop. The first broadcast answers every parked GET; the
handler then lets the loop run once (``sleep(0)``): that ends the batch those GETs are
answered in (a parked GET is answered at the end of its batch, with everything the batch
brought it) and writes their answers. Nothing after that lets the loop run, so every poller is
between two GETs for all but the first broadcast, on both bindings, every time.

A healthy client is away for one round trip at most: it must get every event and never be
closed. The stalled client must be closed, within the ping timeout: it never answers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import trio

from .interop._interop_bindings import BINDINGS, BindingAPI

HEALTHY = 10
LIMIT = 100  # max_buffered_packets
BURST = 3 * LIMIT
PING_TIMEOUT = 2.0
PING_INTERVAL = 20.0  # no regular ping while the test runs
TEST_TIMEOUT = 25.0
PATH = "/socket.io/"


def install(disconnects: list[tuple[str, str]]) -> Any:
    def install_on(server: Any, api: BindingAPI) -> None:
        sleep = trio.sleep if api.name.startswith("trio") else asyncio.sleep

        @server.on("connect")
        async def connect(socket: Any, auth: Any) -> None:
            socket.data["role"] = (auth or {}).get("role")

        @server.on("burst")
        async def burst(socket: Any, count: int) -> None:
            for index in range(count):
                await socket.broadcast.emit("msg", index)
                if index == 0:  # the first one goes to the parked GETs alone
                    await sleep(0)

        @server.on("disconnect")
        async def disconnect(socket: Any, reason: str) -> None:
            # From the server's thread (trio): a list append is atomic.
            disconnects.append((socket.data.get("role"), reason))

    return install_on


class Poller:
    """A long-polling Socket.IO client, by hand: one GET at a time, pongs by POST."""

    def __init__(self, http: aiohttp.ClientSession, url: str, role: str) -> None:
        self.http = http
        self.url = url
        self.role = role
        self.query: dict[str, str] = {"EIO": "4", "transport": "polling"}
        self.received: list[Any] = []
        self.dropped: str | None = None  # how the server ended it, if it did
        self.posts: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        async with self.http.get(self.url, params=self.query) as response:
            body = await response.text()
        assert response.status == 200 and body.startswith("0"), body
        self.query["sid"] = json.loads(body[1:])["sid"]
        await self.post("40" + json.dumps({"role": self.role}))
        while not any(packet.startswith("40") for packet in await self.poll()):
            assert self.dropped is None, self.dropped

    async def poll(self) -> list[str]:
        async with self.http.get(self.url, params=self.query) as response:
            body = await response.text()
        if response.status != 200:
            self.dropped = f"HTTP {response.status} {body}"
            return []
        packets = body.split("\x1e")
        for packet in packets:
            if packet == "2":  # a ping: answered at once, as the JavaScript client does
                task = asyncio.create_task(self.post("3"))
                self.posts.add(task)
                task.add_done_callback(self.posts.discard)
            elif packet.startswith("42"):
                self.received.append(json.loads(packet[2:])[1])
            elif packet == "1":
                self.dropped = "close packet"
        return packets

    async def post(self, payload: str) -> None:
        async with self.http.post(self.url, params=self.query, data=payload) as response:
            body = await response.text()
        assert response.status == 200, body

    async def poll_until_all_received(self) -> None:
        while len(self.received) < BURST and self.dropped is None:
            await self.poll()
        await asyncio.gather(*self.posts)
        if self.dropped is None:
            await self.post("1")  # done: close the session from our side


async def wait_until(condition: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def scenario(binding: str) -> None:
    disconnects: list[tuple[str, str]] = []
    options = {
        "max_buffered_packets": LIMIT,
        "ping_interval": PING_INTERVAL,
        "ping_timeout": PING_TIMEOUT,
    }
    async with (
        BINDINGS[binding](install(disconnects), **options) as served,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        url = served.url + PATH
        healthy = [Poller(http, url, "healthy") for _ in range(HEALTHY)]
        stalled = Poller(http, url, "stalled")
        await asyncio.gather(*(poller.connect() for poller in [*healthy, stalled]))
        polling = [asyncio.create_task(poller.poll_until_all_received()) for poller in healthy]
        try:
            async with http.ws_connect(url + "?EIO=4&transport=websocket") as sender:
                assert (await sender.receive_str()).startswith("0")
                await sender.send_str("40" + json.dumps({"role": "sender"}))
                assert (await sender.receive_str()).startswith("40")
                await asyncio.sleep(0.2)  # every healthy poller has its GET parked
                await sender.send_str(f'42["burst",{BURST}]')
                await asyncio.gather(*polling)
        finally:
            for task in polling:
                task.cancel()
            await asyncio.gather(*polling, return_exceptions=True)

        dropped = [(poller.dropped, len(poller.received)) for poller in healthy if poller.dropped]
        server_side = sorted({reason for role, reason in disconnects if role == "healthy"})
        assert not dropped, (
            f"{len(dropped)} of {HEALTHY} healthy pollers dropped during a burst of {BURST} "
            f"(max_buffered_packets={LIMIT}); (how, events received): {dropped[:2]}; "
            f"server-side reasons: {server_side}"
        )
        assert all(poller.received == list(range(BURST)) for poller in healthy)

        # The stalled one never answers: it is closed, and its session forgotten.
        await wait_until(lambda: any(role == "stalled" for role, _ in disconnects), 5.0)
        await stalled.poll()
        assert stalled.dropped is not None and stalled.dropped.startswith("HTTP 400"), (
            stalled.dropped
        )


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_a_burst_drops_only_the_poller_that_stopped_polling(binding: str) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(binding), TEST_TIMEOUT)

    asyncio.run(bounded())
