"""The Redis Streams adapter for asyncio: Node's ``@socket.io/redis-streams-adapter`` 0.3.

``AsyncServer(adapter=RedisStreamsAdapter("redis://..."), connection_state_recovery=...)``
makes the server one of a cluster that Node servers with the streams adapter can be part of,
and where a client recovers its session on any server. What the messages mean is in the core
(:class:`sansio_rooms.ClusterMachine` with ``streams=True``); this module adds to
:class:`RedisAdapter`'s two connections:

* the commands of the stream (``XADD``, ``SET`` of a session) go through the writer's queue,
  in order with the publishes, and the replies the machine waits for are handed back;
* one reader per stream, on a connection of its own: a blocking ``XREAD`` in a loop, from the
  entry that was the last when the server joined;
* a restore runs ``MULTI / GET / DEL / EXEC`` and ``XRANGE`` on the commands client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sansio_rooms import ClusterHealth, RedisCommand
from sansio_rooms._cluster_driver import streams_options

from ._redis import RedisAdapter, execute

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ._server import AsyncServer

__all__ = ["RedisStreamsAdapter"]

logger = logging.getLogger("sansio_rooms.cluster")


class RedisStreamsAdapter(RedisAdapter):
    """This server's link to a Redis Streams cluster, on redis-py's asyncio client.

    ``url`` (or ``client``, a ``redis.asyncio.Redis`` of yours, with bytes responses, for the
    commands; the stream readers still connect to ``url``): where Redis is. The options are
    Node's: ``channel_prefix`` (``channelPrefix``), ``stream_name``, ``stream_count``,
    ``max_len``, ``read_count``, ``block_ms`` (``blockTimeInMs``), ``session_key_prefix``;
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
        self._readers: list[Redis] = []
        self._reader_tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<RedisStreamsAdapter {self.url} {self.health}>"

    # -- what the driver asks -------------------------------------------------------------------

    def command(self, output: RedisCommand) -> None:
        self._queue.put_nowait(output)

    async def take_session(self, key: str, check: Sequence[str]) -> tuple[object, object]:
        client = self._require_client()
        async with asyncio.timeout(self.options["requests_timeout"]):
            async with client.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.delete(key)
                taken = await pipe.execute()
            return taken, await execute(client, check)

    async def call(self, command: Sequence[str]) -> object:
        client = self._require_client()
        async with asyncio.timeout(self.options["requests_timeout"]):
            return await execute(client, command)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, server: AsyncServer) -> None:
        """:meth:`RedisAdapter.start`, then a reader per stream, each reading from the entry
        that is the last now."""
        import redis.asyncio

        await super().start(server)
        cluster = server.cluster
        assert cluster is not None and self._client is not None
        loop = asyncio.get_running_loop()
        for stream in cluster.stream_names():
            try:
                reply = await execute(self._client, cluster.start_command(stream))
            except Exception as error:  # Redis away: the reader starts at "$" when it is back
                logger.error("cluster: cannot find the end of stream %s (%s)", stream, error)
            else:
                server.cluster_started(stream, reply)
            reader = redis.asyncio.Redis.from_url(self.url)
            self._readers.append(reader)
            self._reader_tasks.append(loop.create_task(self._read_stream(server, stream, reader)))

    async def close(self) -> None:
        tasks, self._reader_tasks = self._reader_tasks, []
        readers, self._readers = self._readers, []
        for task in tasks:
            task.cancel()
        if tasks:
            # A read cancelled in redis-py may wait for its connection: closed below.
            await asyncio.wait(tasks, timeout=0.5)
        for reader in readers:
            with contextlib.suppress(Exception):
                await reader.aclose()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await super().close()

    async def _read_stream(self, server: AsyncServer, stream: str, reader: Redis) -> None:
        cluster = server.cluster
        assert cluster is not None
        delay = self.retry_delay[0]
        reported = False
        while True:
            command = cluster.read_command(stream, count=self.read_count, block_ms=self.block_ms)
            try:
                reply = await execute(reader, command)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # redis-py's ConnectionError and the like
                if not reported:
                    reported = True
                    logger.error("cluster: cannot read stream %s (%s); retrying", stream, error)
                await asyncio.sleep(delay)
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
