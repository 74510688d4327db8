"""The Redis Streams adapter for trio: Node's ``@socket.io/redis-streams-adapter`` 0.3.

``AsyncServer(adapter=RedisStreamsAdapter("redis://..."), connection_state_recovery=...)``
makes the server one of a cluster that Node servers with the streams adapter can be part of,
and where a client recovers its session on any server. What the messages mean is in the core
(:class:`sansio_rooms.ClusterMachine` with ``streams=True``); this module adds to
:class:`RedisAdapter`'s subscriber:

* a commands connection of its own (RESP2 through the core's :class:`sansio_rooms.RespParser`,
  as the subscriber; coredis 6.9 has no public way to run a command given as its arguments):
  the writer sends the publishes and the stream's commands (``XADD``, ``SET`` of a session)
  there, in order, a batch in one write, and hands back the replies the machine waits for; a
  restore sends ``MULTI / GET / DEL / EXEC`` and ``XRANGE`` there too;
* one reader per stream, on a connection of its own: a blocking ``XREAD`` in a loop, from the
  entry that was the last when the server joined.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import trio

from sansio_rooms import (
    ClusterHealth,
    ClusterUnavailableError,
    Publish,
    RedisCommand,
    RemoteProtocolError,
    RespError,
    RespParser,
    encode_command,
)
from sansio_rooms._cluster_driver import streams_options

from ._redis import CONNECT_TIMEOUT, RedisAdapter

if TYPE_CHECKING:
    from ._redis import Redis
    from ._server import AsyncServer

__all__ = ["RedisStreamsAdapter"]

logger = logging.getLogger("sansio_rooms.cluster")

#: Seconds a reader's ``XREAD`` may take beyond its ``BLOCK`` before the link counts as lost.
READ_MARGIN: Final = 5.0


class _Connection:
    """One Redis connection of ours: commands written at once, their replies read in order.
    Connected at first use, again after a failure (cancelled mid-way: closed, as its replies
    are unknown)."""

    def __init__(self, host: str, port: int, auth: tuple[str, ...], db: int) -> None:
        self.host, self.port, self.auth, self.db = host, port, auth, db
        self._stream: trio.SocketStream | None = None
        self._parser = RespParser()
        self._lock = trio.Lock()

    async def call(self, commands: Sequence[Sequence[str | bytes]]) -> list[object]:
        async with self._lock:
            try:
                if self._stream is None:
                    await self._connect()
                assert self._stream is not None
                return await self._exchange(self._stream, commands)
            except BaseException:
                await self.aclose()
                raise

    async def _connect(self) -> None:
        with trio.fail_after(CONNECT_TIMEOUT):
            stream = await trio.open_tcp_stream(self.host, self.port)
            self._stream, self._parser = stream, RespParser()
            setup: list[list[str]] = []
            if self.auth:
                setup.append(["AUTH", *self.auth])
            if self.db:
                setup.append(["SELECT", str(self.db)])
            for reply in await self._exchange(stream, setup):
                if isinstance(reply, RespError):
                    raise ConnectionError(f"Redis refused: {reply.message}")

    async def _exchange(
        self, stream: trio.SocketStream, commands: Sequence[Sequence[str | bytes]]
    ) -> list[object]:
        if not commands:
            return []
        await stream.send_all(b"".join(encode_command(*command) for command in commands))
        replies: list[object] = []
        while len(replies) < len(commands):
            data = await stream.receive_some(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            replies += self._parser.feed(data)
        return replies

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()


def _database(url: str) -> int:
    path = urllib.parse.urlsplit(url).path.strip("/")
    return int(path) if path else 0


class RedisStreamsAdapter(RedisAdapter):
    """This server's link to a Redis Streams cluster, on connections of its own.

    ``url``: where Redis is, as ``redis://[[user]:password@]host[:port][/db]`` (``client``, a
    ``coredis.Redis`` of yours, is only asked for the server count). The options are Node's:
    ``channel_prefix`` (``channelPrefix``), ``stream_name``, ``stream_count``, ``max_len``,
    ``read_count``, ``block_ms`` (``blockTimeInMs``), ``session_key_prefix``;
    ``requests_timeout`` (seconds), ``retry_delay`` and ``on_health`` as
    :class:`RedisAdapter`'s. Connection state recovery across the cluster comes with the
    server's ``connection_state_recovery`` option.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        channel_prefix: str = "socket.io",
        stream_name: str = "socket.io",
        stream_count: int = 1,
        max_len: int = 10_000,
        read_count: int = 100,
        block_ms: int = 5_000,
        session_key_prefix: str = "sio:session:",
        requests_timeout: float = 5.0,
        retry_delay: tuple[float, float] = (0.1, 2.0),
        on_health: Callable[[ClusterHealth], Any] | None = None,
    ) -> None:
        super().__init__(
            url,
            client=client,
            key=channel_prefix,
            requests_timeout=requests_timeout,
            retry_delay=retry_delay,
            on_health=on_health,
        )
        self.options = streams_options(
            channel_prefix=channel_prefix,
            stream_name=stream_name,
            stream_count=stream_count,
            max_len=max_len,
            session_key_prefix=session_key_prefix,
            requests_timeout=requests_timeout,
        )
        self.read_count = read_count
        self.block_ms = block_ms
        self._database = _database(url)
        self._connection: _Connection | None = None
        self._readers_scope: trio.CancelScope | None = None
        self._readers_done = trio.Event()

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapter {self.url} {self.health}>"

    def _new_connection(self) -> _Connection:
        return _Connection(self._host, self._port, self._auth, self._database)

    # -- what the driver asks -------------------------------------------------------------------

    def command(self, output: RedisCommand) -> None:
        self._queue_in.send_nowait(output)

    async def take_session(self, key: str, check: Sequence[str]) -> tuple[object, object]:
        commands = [["MULTI"], ["GET", key], ["DEL", key], ["EXEC"], list(check)]
        replies = await self._call(commands)
        return replies[3], replies[4]

    async def call(self, command: Sequence[str]) -> object:
        return (await self._call([command]))[0]

    async def _call(self, commands: Sequence[Sequence[str | bytes]]) -> list[object]:
        connection = self._connection
        if connection is None:
            raise ClusterUnavailableError("the Redis adapter is not started")
        with trio.fail_after(self.options["requests_timeout"]):
            return await connection.call(commands)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, server: AsyncServer) -> None:
        """:meth:`RedisAdapter.start`, then a reader per stream, each reading from the entry
        that is the last now."""
        self._connection = self._new_connection()
        await super().start(server)
        cluster = server.cluster
        assert cluster is not None and server._nursery is not None
        for stream in cluster.stream_names():
            try:
                (reply,) = await self._call([cluster.start_command(stream)])
            except Exception as error:  # Redis away: the reader starts at "$" when it is back
                logger.error("cluster: cannot find the end of stream %s (%r)", stream, error)
            else:
                server.cluster_started(stream, reply)
        self._readers_done = trio.Event()
        self._readers_scope = trio.CancelScope()
        server._nursery.start_soon(self._read_streams, server, self._readers_scope)

    async def close(self) -> None:
        scope = self._readers_scope
        if scope is not None:
            scope.cancel()
            await self._readers_done.wait()
            self._readers_scope = None
        await super().close()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    async def _read_streams(self, server: AsyncServer, scope: trio.CancelScope) -> None:
        cluster = server.cluster
        assert cluster is not None
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    for stream in cluster.stream_names():
                        nursery.start_soon(self._read_stream, server, stream)
        finally:
            self._readers_done.set()

    async def _read_stream(self, server: AsyncServer, stream: str) -> None:
        cluster = server.cluster
        assert cluster is not None
        connection = self._new_connection()
        delay = self.retry_delay[0]
        reported = False
        try:
            while True:
                command = cluster.read_command(
                    stream, count=self.read_count, block_ms=self.block_ms
                )
                try:
                    with trio.fail_after(self.block_ms / 1000 + READ_MARGIN):
                        (reply,) = await connection.call([command])
                    if isinstance(reply, RespError):
                        raise ConnectionError(f"Redis refused: {reply.message}")
                except (
                    OSError,
                    trio.BrokenResourceError,
                    trio.TooSlowError,
                    RemoteProtocolError,  # garbage from Redis: the connection starts again
                ) as error:
                    if not reported:
                        reported = True
                        logger.error("cluster: cannot read stream %s (%r); retrying", stream, error)
                    await trio.sleep(delay)
                    delay = min(delay * 2, self.retry_delay[1])
                    continue
                if reported:
                    reported = False
                    logger.warning("cluster: reading stream %s again", stream)
                delay = self.retry_delay[0]
                try:
                    server.cluster_stream(stream, reply)
                except Exception:  # a bug of ours must not stop the reader
                    logger.exception("cluster: entries of stream %s failed", stream)
        finally:
            await connection.aclose()

    # -- the writer -----------------------------------------------------------------------------

    async def _flush(self, client: Redis, outputs: list[Publish | RedisCommand]) -> None:
        """Publishes and commands, in order, in one write on the commands connection."""
        if not outputs:
            return
        commands = [
            output.command
            if isinstance(output, RedisCommand)
            else ("SPUBLISH" if output.sharded else "PUBLISH", output.channel, output.payload)
            for output in outputs
        ]
        replies: list[object]
        try:
            replies = await self._call(commands)
        except Exception as error:  # the link: lost, as with Node's adapter
            self.health = self.health.lost(len(outputs))
            logger.error("cluster: %d message(s) not published (%s)", len(outputs), f"{error!r}")
            replies = [None] * len(outputs)
        server = self._server
        for output, reply in zip(outputs, replies, strict=True):
            if isinstance(output, RedisCommand) and output.reply_to is not None and server:
                try:
                    server.cluster_replied(output, None if isinstance(reply, RespError) else reply)
                except Exception:  # a bug of ours must not stop the writer
                    logger.exception("cluster: handling the reply of %s failed", output.command[0])
