"""Each binding's Redis Streams adapter against a real redis-server (one per test): two servers
of the binding, with connection state recovery. Broadcasts with the stream's entry ids as
offsets, joins and disconnects through the stream, requests over pub/sub, a session left in
Redis and taken back on the other server, a restore Redis cannot answer. The JavaScript
client and Node servers: tests/cluster/test_streams_recovery.py."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

import sansio_rooms_trio
from sansio_rooms import ConnectionStateRecovery

from ._memory import MemoryClient
from ._redis_cluster import until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))
from _redis import RedisServer, RedisServerMissing

pytestmark = [
    pytest.mark.real_clock,
    # coredis 6.9 leaks an anyio stream pair on a failed connect (see test_redis_adapter.py).
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning"),
]

OFFSET = re.compile(r'.*,"([0-9]+-[0-9]+)"\]$')


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server


@pytest.fixture(autouse=True)
def collect_coredis_garbage(binding: ModuleType) -> Iterator[None]:
    yield
    if binding is sansio_rooms_trio:
        import gc

        gc.collect()


@asynccontextmanager
async def cluster(
    binding: ModuleType, url: str, *, recovery: bool = True
) -> AsyncIterator[list[Any]]:
    async with AsyncExitStack() as stack:
        servers = []
        for _ in ("a", "b"):
            adapter = binding.RedisStreamsAdapter(url, block_ms=500, retry_delay=(0.05, 0.2))
            option = ConnectionStateRecovery(max_disconnection_duration=5.0) if recovery else None
            server = binding.AsyncServer(adapter=adapter, connection_state_recovery=option)

            @server.on_server_side("hello")
            def hello(*args: Any) -> list[Any]:
                return ["hi", *args]

            await stack.enter_async_context(server.running())
            servers.append(server)
        yield servers


async def client_in(server: Any, *rooms: str, auth: Any = None) -> tuple[MemoryClient, Any]:
    client = MemoryClient(server)
    socket = server.get_socket(await client.connect(auth=auth))
    socket.join(rooms)
    return client, socket


def offset_of(frame: str) -> str:
    match = OFFSET.match(frame)
    assert match is not None, frame
    return match.group(1)


async def test_broadcasts_go_through_the_stream_with_offsets(
    binding: ModuleType, redis: RedisServer
) -> None:
    async with cluster(binding, redis.url) as (a, b):
        client_a, socket_a = await client_in(a, "r")
        client_b, socket_b = await client_in(b, "r")
        await b.to("r").emit("news", 1)
        for client in (client_a, client_b):
            frame = await client.wait_for('42["news"')
            assert frame.startswith('42["news",1,"')
        assert redis.command("XLEN", "socket.io") == 1
        # A socket's own emit is a broadcast to its id room, through the stream (as Node).
        socket_a.emit("direct", 2)
        offset = offset_of(await client_a.wait_for('42["direct"'))
        assert redis.command("XLEN", "socket.io") == 2
        # Volatile: in the stream, no offset appended.
        await a.volatile.emit("light")
        assert await client_b.wait_for('42["light"') == '42["light"]'
        # Joins, leaves and disconnects go through the stream too.
        await a.in_(socket_b.sid).sockets_join("s")
        await until(lambda: "s" in socket_b.rooms)
        await b.in_(socket_b.sid).sockets_leave("s")
        await until(lambda: "s" not in socket_b.rooms)
        # Requests over pub/sub: acked broadcasts and server-side emits.
        assert await a.server_count() == 2
        assert await a.server_side_emit_with_ack("hello", 3) == [["hi", 3]]
        await a.disconnect_sockets()
        await client_b.wait_for("41")
        await client_a.wait_for("41")
        assert int(offset.split("-")[1]) >= 0


async def test_a_session_is_taken_back_on_the_other_server(
    binding: ModuleType, redis: RedisServer
) -> None:
    async with cluster(binding, redis.url) as (a, b):
        client = MemoryClient(a)
        client.feed("40")
        reply = json.loads((await client.wait_for("40{"))[2:])
        sid, pid = reply["sid"], reply["pid"]
        socket = a.get_socket(sid)
        socket.join(["r1", "r2"])
        socket.data["name"] = "x"
        await a.to("r1").emit("before")
        offset = offset_of(await client.wait_for('42["before"'))
        client.conn.closed_by_peer()
        await until(lambda: bool(redis.command("KEYS", "sio:session:*")))
        await b.to("r2").emit("missed", 1)
        await b.to("elsewhere").emit("not-mine")
        await until(lambda: redis.command("XLEN", "socket.io") == 3)
        back = MemoryClient(b)
        back.feed("40" + json.dumps({"pid": pid, "offset": offset}))
        reply = json.loads((await back.wait_for("40{"))[2:])
        assert reply == {"sid": sid, "pid": pid}
        assert [frame[:12] for frame in back.texts()] == ['42["missed",']
        restored = b.get_socket(sid)
        assert restored.recovered and restored.data == {"name": "x"}
        assert set(restored.rooms) == {sid, "r1", "r2"}
        assert redis.command("KEYS", "sio:session:*") == []
        # The same session a second time: gone, a new one.
        again = MemoryClient(b)
        again.feed("40" + json.dumps({"pid": pid, "offset": offset}))
        assert json.loads((await again.wait_for("40{"))[2:])["sid"] != sid


async def test_a_restore_redis_cannot_answer_gives_a_new_session(
    binding: ModuleType, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cluster(binding, redis.url) as (a, _):

        async def broken(*args: Any) -> Any:
            raise ConnectionError("no Redis")

        monkeypatch.setattr(a.adapter, "take_session", broken)
        client = MemoryClient(a)
        client.feed("40" + json.dumps({"pid": "p", "offset": "1-0"}))
        reply = json.loads((await client.wait_for("40{"))[2:])
        assert a.get_socket(reply["sid"]).recovered is False
        # An offset that is no entry id fails at once, Redis not asked.
        other = MemoryClient(a)
        other.feed("40" + json.dumps({"pid": "p", "offset": "nope"}))
        await other.wait_for("40{")


async def test_without_recovery_no_offsets(binding: ModuleType, redis: RedisServer) -> None:
    async with cluster(binding, redis.url, recovery=False) as (a, b):
        client_b, _ = await client_in(b, "r")
        await a.to("r").emit("news", 1)
        assert await client_b.wait_for('42["news"') == '42["news",1]'
        with anyio.fail_after(2):
            client_b.conn.closed_by_peer()
        await anyio.sleep(0.1)
        assert redis.command("KEYS", "sio:session:*") == []
