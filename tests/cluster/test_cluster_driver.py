"""The driver's cluster half (``_cluster_driver.py``) and the broadcast operator in a cluster
(``_driver.py``), end to end: asyncio servers with the Redis adapter on a real redis-server
(one per test, ``redis_server``), in-memory clients (``tests/bindings/_memory.py``).

``RemoteSocket`` objects acting through the cluster, operators joining / leaving /
disconnecting the other servers' sockets, ``all_rooms``, the server-side handlers (async,
failing, answering what the wire cannot carry, missing), requests that time out because a
server never answers (a raw redis-py subscriber on the request channel: ``PUBSUB NUMSUB``
counts it as a server, and it stays silent), a request whose caller is cancelled; and the
same calls on a server without a cluster; dates as clients receive them. Real time: the
timeouts are short.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest
from _redis import RedisServer
from redis.asyncio import Redis as AsyncRedis

from sansio_rooms import (
    AckTimeoutError,
    ClusterRequestTimeout,
    LocalProtocolError,
    RemoteSocket,
    RoomEngine,
)
from sansio_rooms_asyncio import AsyncServer, RedisAdapter, Socket

# tests/cluster is not a package: the repository root is added for the asyncio tests'
# in-memory client, as _fixtures.py does for tests._server_helpers.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # pragma: no cover - depends on what pytest collected first
    sys.path.append(_ROOT)

from tests.bindings._memory import MemoryClient, settle  # noqa: E402

#: How long a request waits where a server never answers (requests_timeout of the adapters,
#: .timeout() of acked emits); elsewhere requests have 5 s, to be sure never to time out.
TIMEOUT = 0.4
MODES = pytest.mark.parametrize("sharded", [False, True], ids=["classic", "sharded"])


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(10):
            await test()

    asyncio.run(bounded())


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def adapter_of(server: AsyncServer) -> RedisAdapter:
    adapter = server.adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter


@asynccontextmanager
async def cluster(
    url: str, count: int = 2, *, sharded: bool = False, requests_timeout: float = 5.0
) -> AsyncIterator[list[AsyncServer]]:
    """``count`` running servers of one cluster, answering "hello"."""
    async with AsyncExitStack() as stack:
        servers = []
        for index in range(count):
            name = "abc"[index]
            adapter = RedisAdapter(
                url, sharded=sharded, requests_timeout=requests_timeout, retry_delay=(0.05, 0.2)
            )
            server = AsyncServer(adapter=adapter)

            @server.on_server_side("hello")
            def hello(*args: Any, name: str = name) -> list[Any]:
                return [f"hi from {name}", *args]

            await stack.enter_async_context(server.running())
            servers.append(server)
        yield servers


@asynccontextmanager
async def silent_server(url: str, sharded: bool = False) -> AsyncIterator[None]:
    """A "server" that subscribes to the channel the servers count (the request channel;
    the sharded adapter's is the namespace's own) and never answers anything."""
    client = AsyncRedis.from_url(url)
    pubsub = client.pubsub()
    try:
        if sharded:
            await pubsub.ssubscribe("socket.io#/#")
        else:
            await pubsub.subscribe("socket.io-request#/#")
        confirmation = await pubsub.get_message(timeout=2.0)
        assert confirmation is not None
        assert confirmation["type"] == ("ssubscribe" if sharded else "subscribe")
        yield
    finally:
        await pubsub.aclose()
        await client.aclose()


async def client_in(
    server: AsyncServer, *rooms: str, auth: Any = None
) -> tuple[MemoryClient, Socket]:
    """A connected client of ``server``, in ``rooms``."""
    client = MemoryClient(server)
    socket = server.get_socket(await client.connect(auth=auth))
    assert socket is not None
    socket.join(rooms)
    await adapter_of(server).flush()
    return client, socket


async def answer(client: MemoryClient, value: Any) -> None:
    """Answer the next event that asks for an acknowledgement."""
    frame = await client.wait_for("42")  # 42<ack id>["ev",...]
    ack_id = frame[2 : frame.index("[")]
    assert ack_id.isdigit(), frame
    client.feed(f"43{ack_id}{json.dumps([value])}")


# -- RemoteSocket ---------------------------------------------------------------------------


@MODES
def test_a_remote_socket_acts_on_the_other_server(redis_server: RedisServer, sharded: bool) -> None:
    async def test() -> None:
        async with cluster(redis_server.url, sharded=sharded) as (a, b):
            here, here_socket = await client_in(a, "r")
            there, socket = await client_in(b, "r", auth={"token": "t"})
            socket.data["name"] = "bee"

            found = await a.in_("r").fetch_sockets()
            assert [type(s) for s in found] == [Socket, RemoteSocket]
            remote = found[1]
            assert isinstance(remote, RemoteSocket)
            assert repr(remote) == f"<RemoteSocket {socket.sid} of />"
            assert (remote.id, remote.sid, remote.nsp) == (socket.sid, socket.sid, "/")
            assert remote.handshake["auth"] == {"token": "t"}
            assert remote.data == {"name": "bee"}
            assert remote.rooms == {socket.sid, "r"}

            await remote.emit("hi", 1, {"x": None})
            assert await there.wait_for('42["hi"') == '42["hi",1,{"x":null}]'
            await remote.join(["s", "t"])
            await until(lambda: {"s", "t"} <= socket.rooms)
            await remote.leave("r")
            await until(lambda: "r" not in socket.rooms)
            assert socket.rooms == {socket.sid, "s", "t"}
            await remote.disconnect(close=True)
            await until(lambda: not socket.connected)
            async with asyncio.timeout(2):
                await there.closed.wait()
            assert b.get_socket(socket.sid) is None
            # Only the remote socket was addressed: the client of a got nothing, is still in.
            assert here.texts() == []
            assert await a.fetch_sockets() == [here_socket]

    run(test)


# -- the operator across servers -------------------------------------------------------------


@MODES
def test_operators_join_leave_and_disconnect_the_sockets_of_every_server(
    redis_server: RedisServer,
    sharded: bool,
) -> None:
    async def test() -> None:
        async with cluster(redis_server.url, sharded=sharded) as (a, b):
            client_a, socket_a = await client_in(a, "r")
            client_b, socket_b = await client_in(b, "r")
            outsider_client, outsider = await client_in(b, "elsewhere")

            await a.in_("r").sockets_join("s")
            assert "s" in socket_a.rooms  # here at once
            await until(lambda: "s" in socket_b.rooms)

            await a.of("/").in_("s").sockets_leave("r")
            assert "r" not in socket_a.rooms
            await until(lambda: "r" not in socket_b.rooms)
            assert socket_b.rooms == {socket_b.sid, "s"}
            assert outsider.rooms == {outsider.sid, "elsewhere"}  # not selected

            await a.in_("s").disconnect_sockets()
            assert not socket_a.connected
            await until(lambda: not socket_b.connected)
            assert await client_a.wait_for("41") == "41"
            assert await client_b.wait_for("41") == "41"
            assert outsider.connected and outsider_client.texts("41") == []
            assert [s.sid for s in await a.fetch_sockets()] == [outsider.sid]

    run(test)


def test_a_sockets_broadcast_names_it_in_except_for_the_other_servers(
    redis_server: RedisServer,
) -> None:
    async def test() -> None:
        async with cluster(redis_server.url) as (a, b):

            @a.on("shout")
            async def shout(socket: Socket, text: str) -> None:
                await socket.to("r").emit("heard", text)

            # A raw subscriber on the room's channel sees what a publishes there (not a
            # server: PUBSUB NUMSUB of the request channel does not count it).
            spy = AsyncRedis.from_url(redis_server.url)
            pubsub = spy.pubsub()
            try:
                await pubsub.subscribe("socket.io#/#r#")
                assert (await pubsub.get_message(timeout=2.0))["type"] == "subscribe"
                sender, sender_socket = await client_in(a, "r")
                neighbour, _ = await client_in(a, "r")
                far, _ = await client_in(b, "r")
                assert await a.server_count() == 2

                sender.emit("shout", "hey")
                assert await neighbour.wait_for('42["heard"') == '42["heard","hey"]'
                assert await far.wait_for('42["heard"') == '42["heard","hey"]'
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
                assert message is not None
                uid, packet, opts = msgpack.unpackb(message["data"], raw=False)
                assert uid == a.cluster.uid
                assert packet["data"] == ["heard", "hey"]
                assert (opts["rooms"], opts["except"]) == (["r"], [sender_socket.sid])

                await a.emit("end")  # after the broadcast: once it is here, all of it is
                await sender.wait_for('42["end"')
                assert sender.texts('42["heard"') == []
            finally:
                await pubsub.aclose()
                await spy.aclose()

    run(test)


def test_an_acked_broadcast_across_servers_needs_a_timeout(redis_server: RedisServer) -> None:
    async def test() -> None:
        async with cluster(redis_server.url) as (a, b):
            client_b, _ = await client_in(b, "r")
            with pytest.raises(TypeError, match=r"set a timeout for acknowledgements"):
                await a.to("r").emit_with_ack("ev")
            assert len(a.cluster) == 0  # no request was started
            await a.to("r").emit("after")
            assert await client_b.wait_for("42") == '42["after"]'  # the refused one never came

    run(test)


@MODES
def test_an_acked_broadcast_with_a_silent_remote_client_times_out(
    redis_server: RedisServer,
    sharded: bool,
) -> None:
    async def test() -> None:
        async with cluster(redis_server.url, sharded=sharded) as (a, b):
            client_a, _ = await client_in(a, "r")
            client_b, _ = await client_in(b, "r")
            answering = asyncio.create_task(answer(client_a, "from a"))
            started = a.now()
            with pytest.raises(AckTimeoutError) as caught:
                await a.timeout(TIMEOUT).to("r").emit_with_ack("ev", 1)
            assert a.now() - started >= TIMEOUT * 0.9
            await answering
            assert caught.value.responses == ("from a",)
            # b's client was asked too (it never answered).
            frame = await client_b.wait_for("42")
            assert frame.endswith('["ev",1]') and frame[2:-8].isdigit()
            assert len(a.cluster) == 0

    run(test)


def test_all_rooms_of_the_cluster_and_of_this_server(redis_server: RedisServer) -> None:
    async def test() -> None:
        async with cluster(redis_server.url) as (a, b):
            _, socket_a = await client_in(a, "ra", "both")
            _, socket_b = await client_in(b, "rb", "both")
            everything = {socket_a.sid, "ra", "both", socket_b.sid, "rb"}
            assert await a.all_rooms() == everything
            assert await a.of("/").all_rooms() == everything
            assert await b.all_rooms() == everything
            assert await a.local.all_rooms() == {socket_a.sid, "ra", "both"}
            assert await b.local.all_rooms() == {socket_b.sid, "rb", "both"}

    run(test)


def test_all_rooms_of_a_sharded_cluster_is_only_local(redis_server: RedisServer) -> None:
    """Node's sharded adapter has no all_rooms request: asking the cluster is refused,
    ``.local`` answers."""

    async def test() -> None:
        async with cluster(redis_server.url, sharded=True) as (a, b):
            _, socket_a = await client_in(a, "ra")
            await client_in(b, "rb")
            with pytest.raises(LocalProtocolError, match="no all_rooms request"):
                await a.all_rooms()
            assert len(a.cluster) == 0
            assert await a.local.all_rooms() == {socket_a.sid, "ra"}

    run(test)


# -- server-side events -----------------------------------------------------------------------


@MODES
def test_server_side_handlers(
    redis_server: RedisServer, sharded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sansio_rooms")
    notes: list[tuple[Any, ...]] = []

    async def test() -> None:
        async with cluster(redis_server.url, sharded=sharded) as (a, b):

            @b.on_server_side("later")
            async def later(*args: Any) -> list[Any]:
                await asyncio.sleep(0.01)
                return ["awaited", *args]

            @b.on_server_side("boom")
            def boom(*args: Any) -> None:
                raise RuntimeError("the handler broke")

            @b.on_server_side("unsendable")
            def unsendable() -> set[int]:
                return {1, 2}  # JSON has no sets

            @b.on_server_side("note")
            def note(*args: Any) -> None:
                notes.append(args)

            assert await a.server_side_emit_with_ack("later", 1) == [["awaited", 1]]

            with pytest.raises(ClusterRequestTimeout) as caught:
                await a.timeout(TIMEOUT).server_side_emit_with_ack("boom", 2)
            assert caught.value.responses == ()
            assert str(caught.value) == "timeout reached: only 0 responses received out of 1"
            assert "server-side handler of 'boom' in / failed" in caplog.text
            assert "the handler broke" in caplog.text

            assert await a.server_side_emit_with_ack("unsendable") == [None]
            assert "the answer to server-side event 'unsendable' cannot be sent" in caplog.text

            await a.server_side_emit("note", 3, "x")  # no answer wanted
            await until(lambda: notes == [(3, "x")])

            await a.server_side_emit("nobody", 4)
            await until(lambda: "no handler for server-side event 'nobody' of /" in caplog.text)
            # Still answering after all that.
            assert await a.server_side_emit_with_ack("hello", 5) == [["hi from b", 5]]
            assert len(a.cluster) == 0

    run(test)


@pytest.mark.parametrize("emit", ["server_side_emit", "server_side_emit_with_ack"])
def test_server_side_event_names_are_checked(emit: str) -> None:
    server = AsyncServer()

    async def test() -> None:
        method = getattr(server, emit)
        with pytest.raises(TypeError, match="an event name is a string, not 1"):
            await method(1)
        with pytest.raises(ValueError, match="'connect' is a reserved event name"):
            await method("connect")

    run(test)


def test_without_a_cluster(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sansio_rooms")
    server = AsyncServer()
    calls: list[tuple[Any, ...]] = []

    @server.on_server_side("ping")
    def ping(*args: Any) -> str:
        calls.append(args)
        return "pong"

    async def test() -> None:
        async with server.running():
            client = MemoryClient(server)
            sid = await client.connect()
            server.get_socket(sid).join("r")
            assert await server.server_count() == 1
            assert await server.server_side_emit("ping", 1) is None
            assert await server.server_side_emit_with_ack("ping", 2) == []
            assert await server.timeout(TIMEOUT).server_side_emit_with_ack("ping") == []
            await settle()
            assert calls == []  # nobody else, and a server does not send to itself
            assert await server.all_rooms() == {sid, "r"}
            assert await server.in_("r").fetch_sockets() == [server.get_socket(sid)]

    run(test)
    assert "server-side" not in caplog.text


# -- requests a server never answers --------------------------------------------------------


@MODES
def test_fetch_sockets_times_out_with_what_came(redis_server: RedisServer, sharded: bool) -> None:
    async def test() -> None:
        async with (
            cluster(redis_server.url, sharded=sharded, requests_timeout=TIMEOUT) as (a, b),
            silent_server(redis_server.url, sharded),
        ):
            _, here = await client_in(a, "r")
            _, there = await client_in(b, "r")
            assert await a.server_count() == 3
            started = a.now()
            with pytest.raises(ClusterRequestTimeout) as caught:
                await a.in_("r").fetch_sockets()
            # The server's own timer ended it (the cluster's deadline).
            assert a.now() - started >= TIMEOUT * 0.9
            error = caught.value
            assert isinstance(error, TimeoutError)
            assert str(error) == "timeout reached: only 1 responses received out of 2"
            assert [details["id"] for details in error.responses] == [there.sid]
            assert sorted(error.responses[0]["rooms"]) == sorted([there.sid, "r"])
            assert len(a.cluster) == 0 and a.cluster.next_deadline() is None
            assert [s.sid for s in await a.local.fetch_sockets()] == [here.sid]

    run(test)


def test_all_rooms_times_out_with_what_came(redis_server: RedisServer) -> None:
    async def test() -> None:
        async with (
            cluster(redis_server.url, requests_timeout=TIMEOUT) as (a, b),
            silent_server(redis_server.url),
        ):
            await client_in(a, "ra")
            _, there = await client_in(b, "rb")
            with pytest.raises(ClusterRequestTimeout) as caught:
                await a.all_rooms()
            assert sorted(caught.value.responses) == sorted([there.sid, "rb"])
            assert "only 1 responses received out of 2" in str(caught.value)

    run(test)


@MODES
def test_server_side_emit_with_ack_times_out_with_what_came(
    redis_server: RedisServer, sharded: bool
) -> None:
    async def test() -> None:
        async with (
            cluster(redis_server.url, 3, sharded=sharded) as (a, _, _),
            silent_server(redis_server.url, sharded),
        ):
            with pytest.raises(ClusterRequestTimeout) as caught:
                await a.timeout(TIMEOUT).server_side_emit_with_ack("hello", 1)
            assert sorted(caught.value.responses) == [["hi from b", 1], ["hi from c", 1]]
            assert str(caught.value) == "timeout reached: only 2 responses received out of 3"

    run(test)


@MODES
def test_a_cancelled_request_is_forgotten(redis_server: RedisServer, sharded: bool) -> None:
    async def test() -> None:
        async with (
            cluster(redis_server.url, sharded=sharded, requests_timeout=TIMEOUT) as (a, b),
            silent_server(redis_server.url, sharded),
        ):
            await client_in(b)
            asking = asyncio.create_task(a.fetch_sockets())
            await until(lambda: len(a.cluster) == 1)  # in flight
            assert a.cluster.next_deadline() is not None
            asking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asking
            assert len(a.cluster) == 0
            assert a.cluster.next_deadline() is None
            assert a._request_waiters == {}
            # The timer of the forgotten request comes and goes: nothing is left to end.
            await asyncio.sleep(TIMEOUT + 0.05)
            assert len(a.cluster) == 0
            # The next request works (b answers, the silent one never does).
            with pytest.raises(ClusterRequestTimeout) as caught:
                await a.fetch_sockets()
            assert len(caught.value.responses) == 1

    run(test)


# -- a server without a cluster ---------------------------------------------------------------


def test_room_notices_without_a_cluster() -> None:
    """The engine reports rooms appearing and going (notices on): a server without a cluster
    has nothing to do with them, and rooms work as usual."""
    server = AsyncServer(engine=RoomEngine(notices=True))

    async def test() -> None:
        async with server.running():
            client = MemoryClient(server)
            sid = await client.connect()
            socket = server.get_socket(sid)
            assert socket is not None
            socket.join("r")
            assert await server.all_rooms() == {sid, "r"}
            await server.to("r").emit("news", 1)
            assert await client.wait_for('42["news"') == '42["news",1]'
            socket.leave("r")
            assert await server.all_rooms() == {sid}
            await server.to("r").emit("news", 2)
            await server.emit("end")
            assert await client.wait_for("42") == '42["end"]'
            await socket.disconnect()
            await until(lambda: server.get_socket(sid) is None)  # its rooms left, by a task
            assert await server.all_rooms() == set()

    run(test)


def test_dates_reach_clients_as_javascript_writes_them() -> None:
    server = AsyncServer()
    naive = datetime.datetime(2026, 12, 1, 4, 55, 13, 975000)
    elsewhere = datetime.datetime(
        2026, 11, 30, 23, 55, 13, 975999, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
    )

    async def test() -> None:
        async with server.running():
            client = MemoryClient(server)
            await client.connect()
            await server.emit("when", naive, elsewhere, {"at": [naive]})
            frame = await client.wait_for('42["when"')
            when = "2026-12-01T04:55:13.975Z"
            assert frame == f'42["when","{when}","{when}",{{"at":["{when}"]}}]'

    run(test)
