"""trio only: the Redis adapter's subscriber, which speaks RESP over a connection of its own
(asyncio's subscriber is redis-py's), against a scripted Redis: the URLs it cannot follow,
authentication, resubscription after a reconnect, and garbage on the wire. The adapter's
tests on both bindings, against a real redis-server: tests/bindings/test_redis_adapter.py."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
import trio

import sansio_rooms_trio
from sansio_rooms import RespParser, Subscribe, Unsubscribe
from sansio_rooms_trio import RedisAdapter

from ..bindings._redis_cluster import adapter_of, make_server, until


@pytest.mark.parametrize("url", ["rediss://127.0.0.1", "unix:///tmp/redis.sock", "redis://h:x"])
def test_urls_the_subscriber_cannot_follow_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        RedisAdapter(url)


def encode_reply(reply: Any) -> bytes:
    if isinstance(reply, str):
        return f"{reply}\r\n".encode()  # a line as it is: +OK, -ERR ...
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, bytes):
        return b"$%d\r\n%s\r\n" % (len(reply), reply)
    return b"*%d\r\n" % len(reply) + b"".join(encode_reply(item) for item in reply)


class ScriptedRedis:
    """Accepts connections and answers each one's commands with ``script(n, command)``
    (``n`` counts connections from 1); records every command."""

    def __init__(self, script: Callable[[int, list[bytes]], list[Any]]) -> None:
        self.script = script
        self.commands: list[tuple[int, list[bytes]]] = []
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        parser = RespParser()
        async with stream:
            try:
                while data := await stream.receive_some(65536):
                    for command in parser.feed(data):
                        assert isinstance(command, list)
                        self.commands.append((number, command))
                        replies = self.script(number, command)
                        await stream.send_all(b"".join(encode_reply(r) for r in replies))
            except trio.BrokenResourceError:
                pass  # the adapter hung up first (it gave up on this connection)

    def sent(self, number: int, name: bytes) -> list[list[bytes]]:
        return [c for n, c in self.commands if n == number and c[0] == name]


def confirm(command: list[bytes]) -> list[Any]:
    kind = command[0].lower()
    return [[kind, name, index] for index, name in enumerate(command[1:], 1)]


def test_the_subscriber_authenticates_resubscribes_and_survives_garbage(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages: list[tuple[str, bytes]] = []

    def script(number: int, command: list[bytes]) -> list[Any]:
        name = command[0]
        if name == b"AUTH":
            return ["-WRONGPASS not yet"] if number == 1 else ["+OK"]
        if name == b"UNSUBSCRIBE":
            return ["-ERR not now"]  # an error reply: the connection goes on
        if command == [b"SUBSCRIBE", b"extra"]:
            return ["?garbage"]  # not RESP2: the connection is dropped
        replies = confirm(command)
        if number == 2 and name == b"SUBSCRIBE":
            # Before the pattern's confirmation: handed over during the handshake.
            replies.append([b"message", command[1], b"during"])
        if number == 2 and name == b"PSUBSCRIBE":
            replies += [
                [b"pmessage", command[1], b"socket.io#/#r#", b"after"],
                [b"message", b"socket.io-request#/#", b"boom"],  # the server fails on it
                "+OK",  # not a push: ignored
                [b"smessage", b"socket.io#/#", 3],  # not bytes: ignored
                [b"pong", b""],
            ]
        return replies

    redis = ScriptedRedis(script)

    async def test() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, redis.handle, 0)
            port = listeners[0].socket.getsockname()[1]
            url = f"redis://user:p%40ss@127.0.0.1:{port}/3"
            server = make_server(sansio_rooms_trio, url, False, "a")

            def cluster_message(channel: str, data: bytes) -> None:
                if data == b"boom":
                    raise RuntimeError("boom")
                messages.append((channel, data))

            monkeypatch.setattr(server, "cluster_message", cluster_message)
            adapter = adapter_of(server)
            async with server.running():
                assert adapter.health.connected
                await until(lambda: len(messages) == 2)
                # Changes on the way go to the live connection.
                adapter.subscribe(Unsubscribe(channels=("socket.io-request#/#",)))
                await until(lambda: "refused a subscription" in caplog.text)
                assert adapter.health.connected
                adapter.subscribe(Subscribe(channels=("extra",)))
                await until(lambda: redis.connections == 3 and adapter.health.connected)
            nursery.cancel_scope.cancel()
        assert adapter.health.downs == 1

    async def bounded() -> None:
        with trio.fail_after(30):  # real time: the scripted Redis is on a real socket
            await test()

    trio.run(bounded)
    gc.collect()  # anything coredis leaked is reported now, in this test (as in tests/bindings)
    assert [c for _, c in redis.commands if c[0] == b"AUTH"] == [[b"AUTH", b"user", b"p@ss"]] * 3
    assert messages == [("socket.io-request#/#", b"during"), ("socket.io#/#r#", b"after")]
    assert b"socket.io-request#/#" in redis.sent(2, b"SUBSCRIBE")[0]
    assert b"socket.io-request#/#" not in redis.sent(3, b"SUBSCRIBE")[0]
    assert b"extra" in redis.sent(3, b"SUBSCRIBE")[0]
    assert redis.sent(3, b"PSUBSCRIBE") == [[b"PSUBSCRIBE", b"socket.io#/#*"]]
    assert caplog.text.count("cannot reach Redis") == 1
    assert "Redis refused: WRONGPASS not yet" in caplog.text
    assert "Redis refused a subscription: ERR not now" in caplog.text
    assert caplog.text.count("garbage from Redis") == 1
    assert caplog.text.count("Redis is back") == 2
    assert "malformed b'smessage' push" in caplog.text
    assert "a message on socket.io-request#/# failed" in caplog.text
