"""The Redis adapter for asyncio: the cluster's bytes moved by redis-py's ``redis.asyncio``.

``AsyncServer(adapter=RedisAdapter("redis://..."))`` makes the server one of a cluster that
Node servers with ``@socket.io/redis-adapter`` 8.3 can be part of. Everything the messages
mean is in the core (:class:`sansio_rooms.ClusterMachine`); this module only keeps two Redis
connections busy:

* one subscriber (a ``PubSub``): it reads every message and hands it to the server; when
  Redis goes away it retries with a growing delay, and redis-py subscribes again to every
  channel and pattern when it reconnects;
* one client for commands: publishes go through a queue and a task, written in batches (a
  pipeline) so that a burst costs one round trip, in the order they were made.

What is published while Redis is unreachable is lost (as with Node's adapter: pub/sub keeps
nothing); it is counted and logged, and :attr:`RedisAdapter.health` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sansio_rooms import (
    ClusterHealth,
    ClusterUnavailableError,
    Publish,
    RedisCommand,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ._server import AsyncServer

__all__ = ["RedisAdapter"]

logger = logging.getLogger("sansio_rooms.cluster")

_MESSAGES = frozenset({"message", "pmessage", "smessage"})
_CONFIRMATIONS = frozenset({"subscribe", "psubscribe", "ssubscribe"})
#: Publishes written in one pipeline at most.
BATCH = 512


class RedisAdapter:
    """This server's link to the cluster, on redis-py's asyncio client.

    ``url`` (or ``client``, a ``redis.asyncio.Redis`` of yours, with bytes responses):
    where Redis is. The options are those of :class:`sansio_rooms.ClusterMachine`, named as
    in Node: ``key`` (channel prefix, ``socket.io``), ``sharded`` (SPUBLISH/SSUBSCRIBE, Redis
    >= 7), ``subscription_mode``, ``publish_on_specific_response_channel``,
    ``requests_timeout`` (seconds). ``retry_delay``: the first and the longest wait between
    two attempts to reach Redis again. ``on_health``: called with a
    :class:`sansio_rooms.ClusterHealth` each time the link goes down or comes back.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        key: str = "socket.io",
        sharded: bool = False,
        subscription_mode: str = "dynamic",
        publish_on_specific_response_channel: bool = False,
        requests_timeout: float = 5.0,
        retry_delay: tuple[float, float] = (0.1, 2.0),
        on_health: Callable[[ClusterHealth], Any] | None = None,
    ) -> None:
        self.url = url
        self._client = client
        self._own_client = client is None
        self.options: Mapping[str, Any] = {
            "key": key,
            "sharded": sharded,
            "subscription_mode": subscription_mode,
            "publish_on_specific_response_channel": publish_on_specific_response_channel,
            "requests_timeout": requests_timeout,
        }
        self.retry_delay = retry_delay
        self.on_health = on_health
        self.health = ClusterHealth()
        self._server: AsyncServer | None = None
        self._pubsub: Any = None
        self._queue: asyncio.Queue[Publish | RedisCommand | Subscribe | Unsubscribe] = (
            asyncio.Queue()
        )
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.url} {self.health}>"

    # -- what the driver asks -------------------------------------------------------------------

    def publish(self, output: Publish) -> None:
        self._queue.put_nowait(output)

    def subscribe(self, output: Subscribe | Unsubscribe) -> None:
        self._queue.put_nowait(output)

    async def flush(self) -> None:
        """Wait until everything asked before this call is done: published (or counted as
        lost) and subscribed. Useful before a script exits, or to know that a room's channel
        is subscribed (sharded dynamic mode) before another server emits to it."""
        if not self._tasks:
            return
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Flush(done))  # type: ignore[arg-type]
        await done

    async def server_count(self, channel: str, sharded: bool) -> int:
        client = self._require_client()
        try:
            async with asyncio.timeout(self.options["requests_timeout"]):
                if sharded:
                    counts = await client.pubsub_shardnumsub(channel)
                else:
                    counts = await client.pubsub_numsub(channel)
        except Exception as error:  # redis-py's errors, OSError underneath, TimeoutError
            raise ClusterUnavailableError(f"cannot count the servers: {error}") from error
        return int(counts[0][1]) if counts else 0

    def _require_client(self) -> Redis:
        if self._client is None:
            raise ClusterUnavailableError("the Redis adapter is not started")
        return self._client

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, server: AsyncServer) -> None:
        """Connect, subscribe to every channel of the server's namespaces (so that this
        server is counted before it serves), then read and publish in tasks of their own."""
        import redis.asyncio  # the optional extra: sansio-rooms-asyncio[redis]

        if self._server is not None:
            raise RuntimeError("this RedisAdapter already serves a server")
        self._server = server
        if self._client is None:
            self._client = redis.asyncio.Redis.from_url(self.url)
        self._pubsub = self._client.pubsub()
        assert server.cluster is not None
        try:
            await self._subscribe_all(server)
        except BaseException:  # cancelled while Redis is unreachable: start() may come again
            self._server = None
            raise
        self._set_health(connected=True)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._write())]
        logger.info(
            "cluster: server %s joined through Redis %s (%s)",
            server.cluster.uid,
            self.url,
            "sharded" if server.cluster.sharded else "classic pub/sub",
        )

    async def _subscribe_all(self, server: AsyncServer, *, first_delay: bool = False) -> None:
        """Subscribe to everything; while Redis is unreachable, wait for it (logged once),
        as the trio binding does."""
        assert server.cluster is not None
        delay = self.retry_delay[0]
        reported = first_delay  # a lost connection was reported already
        if first_delay:
            await asyncio.sleep(delay)
        while True:
            try:
                for subscription in server.cluster.subscriptions():
                    await self._apply(subscription)
                return
            except Exception as error:  # redis-py's ConnectionError and the like
                if not reported:
                    reported = True
                    logger.error("cluster: cannot reach Redis %s (%s); retrying", self.url, error)
                self._set_health(connected=False, error=str(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_delay[1])

    async def close(self) -> None:
        """Stop reading and writing (what is still queued is published first, for a
        moment), then close the connections this adapter opened."""
        if self._tasks:
            writer = self._tasks[1]
            self._queue.put_nowait(_STOP)  # type: ignore[arg-type]
            await asyncio.wait([writer], timeout=1.0)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None
        self._server = None
        self.health = self.health.stopped()

    # -- the two tasks --------------------------------------------------------------------------

    async def _apply(self, subscription: Subscribe | Unsubscribe) -> None:
        pubsub = self._pubsub
        if isinstance(subscription, Unsubscribe):
            if subscription.sharded:
                await pubsub.sunsubscribe(*subscription.channels)
            else:
                await pubsub.unsubscribe(*subscription.channels)
            if subscription.patterns:
                await pubsub.punsubscribe(*subscription.patterns)
            return
        if subscription.patterns:
            await pubsub.psubscribe(*subscription.patterns)
        if subscription.channels:
            if subscription.sharded:
                await pubsub.ssubscribe(*subscription.channels)
            else:
                await pubsub.subscribe(*subscription.channels)

    async def _read(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message["type"] in _MESSAGES:
                        channel = message["channel"].decode("utf-8", "surrogateescape")
                        try:
                            server.cluster_message(channel, message["data"])
                        except Exception:  # a bug of ours must not stop the reader
                            logger.exception("cluster: a message on %s failed", channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # redis-py's ConnectionError and the like
                logger.error("cluster: lost Redis (%s); retrying", error)
                self._set_health(connected=False, error=str(error))
                await self._resubscribe(server)
                self._set_health(connected=True)
                logger.warning("cluster: Redis is back, subscribed again")

    async def _resubscribe(self, server: AsyncServer) -> None:
        """A fresh subscriber connection, subscribed to what the server needs *now* (rooms
        may have come and gone while Redis was away: the cluster machine knows which)."""
        old, self._pubsub = self._pubsub, self._require_client().pubsub()
        with contextlib.suppress(Exception):  # broken already: nothing to close cleanly
            await old.aclose()
        await self._subscribe_all(server, first_delay=True)

    async def _write(self) -> None:
        queue = self._queue
        client = self._require_client()
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < BATCH:
                batch.append(queue.get_nowait())
            stop = batch[-1] is _STOP
            if stop:
                batch.pop()
            publishes: list[Publish | RedisCommand] = []
            for output in batch:
                if isinstance(output, Publish | RedisCommand):
                    publishes.append(output)
                    continue
                await self._flush(client, publishes)
                publishes = []
                if isinstance(output, _Flush):
                    if not output.done.done():
                        output.done.set_result(None)
                    continue
                try:
                    await self._apply(output)
                except Exception as error:  # the reader subscribes again from the machine's
                    # state once Redis is back, this change included
                    logger.debug("cluster: could not change a subscription now (%s)", error)
            await self._flush(client, publishes)
            if stop:
                return

    async def _flush(self, client: Redis, publishes: list[Publish | RedisCommand]) -> None:
        if not publishes:
            return
        replies: list[Any] = []
        for attempt in (1, 2):
            try:
                replies = await self._publish_all(client, publishes)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Once more at once: after Redis restarted, every pooled connection fails
                # once ("closed by server") before redis-py replaces it. A second failure
                # means Redis is away: the messages are lost, as with Node's adapter.
                if attempt == 2:
                    self.health = self.health.lost(len(publishes))
                    logger.error("cluster: %d message(s) not published (%s)", len(publishes), error)
                    replies = [None] * len(publishes)
        self._replied(publishes, replies)

    def _replied(self, outputs: list[Publish | RedisCommand], replies: list[Any]) -> None:
        """Hand the replies that the cluster machine waits for (streams mode) to the server:
        ``None`` for a command that failed."""
        server = self._server
        for output, reply in zip(outputs, replies, strict=True):
            if type(output) is RedisCommand and output.reply_to is not None and server:
                try:
                    server.cluster_replied(output, None if isinstance(reply, Exception) else reply)
                except Exception:  # a bug of ours must not stop the writer
                    logger.exception("cluster: handling the reply of %s failed", output.command[0])

    @staticmethod
    async def _publish_all(client: Redis, publishes: list[Publish | RedisCommand]) -> list[Any]:
        if len(publishes) == 1:
            output = publishes[0]
            if isinstance(output, RedisCommand):
                return [await execute(client, output.command)]
            if output.sharded:
                return [await client.spublish(output.channel, output.payload)]
            return [await client.publish(output.channel, output.payload)]
        async with client.pipeline(transaction=False) as pipe:
            for output in publishes:
                if isinstance(output, RedisCommand):
                    pipe.execute_command(*output.command)
                elif output.sharded:
                    pipe.spublish(output.channel, output.payload)
                else:
                    pipe.publish(output.channel, output.payload)
            return list(await pipe.execute(raise_on_error=False))

    def _set_health(self, *, connected: bool, error: str | None = None) -> None:
        before = self.health
        self.health = before.changed(connected=connected, error=error)
        if self.health.connected != before.connected and self.on_health is not None:
            try:
                self.on_health(self.health)
            except Exception:
                logger.exception("cluster: on_health failed")


_STOP = object()


async def execute(client: Redis, command: Sequence[str]) -> Any:
    """Run a command given as its arguments (redis-py's ``execute_command``, untyped)."""
    untyped: Any = client
    return await untyped.execute_command(*command)


class _Flush:
    """A marker in the queue: ``done`` is set when the writer reaches it."""

    __slots__ = ("done",)

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
