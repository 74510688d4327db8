"""The Redis adapter for trio: the cluster's bytes moved by coredis and a subscriber of ours.

``AsyncServer(adapter=RedisAdapter("redis://..."))`` makes the server one of a cluster that
Node servers with ``@socket.io/redis-adapter`` 8.3 can be part of. Everything the messages
mean is in the core (:class:`sansio_rooms.ClusterMachine`); this module only keeps two Redis
connections busy:

* one subscriber: a trio TCP stream of its own, speaking RESP2 through the core's
  :class:`sansio_rooms.RespParser`. It reads every message and hands it to the server; when
  Redis goes away it retries with a growing delay, connects again and re-sends every
  subscription it holds. Not coredis' ``PubSub``, because coredis 6.9 has no SSUBSCRIBE on a
  plain (non-cluster) Redis 7 in its public API (the sharded adapter needs it), and iterating
  its ``PubSub`` may stop by itself across a reconnect (tests/cluster/REDIS-CLIENTS.md);
* one coredis client for commands: publishes go through a memory channel and a task,
  written in batches (a pipeline) so that a burst costs one round trip, in the order they
  were made; ``PUBSUB NUMSUB`` / ``SHARDNUMSUB`` count the servers.

The adapter runs in the server's nursery (``async with server.running():`` starts it). It
returns from :meth:`RedisAdapter.start` once subscribed, so that the other servers count
this one before it serves; while Redis cannot be reached it keeps trying (logged once), so
the server does not serve without its cluster: bound it with ``trio.fail_after`` around
``running()`` if you prefer to give up.

What is published while Redis is unreachable is lost (as with Node's adapter: pub/sub keeps
nothing); it is counted and logged, and :attr:`RedisAdapter.health` says so.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import trio

from sansio_rooms import (
    ClusterHealth,
    ClusterUnavailableError,
    LocalProtocolError,
    Publish,
    RedisCommand,
    RemoteProtocolError,
    RespError,
    RespParser,
    Subscribe,
    Unsubscribe,
    encode_command,
)

if TYPE_CHECKING:
    import coredis

    from ._server import AsyncServer

    Redis: TypeAlias = coredis.Redis[bytes]

__all__ = ["RedisAdapter"]

logger = logging.getLogger("sansio_rooms.cluster")

#: Publishes written in one pipeline at most.
BATCH: Final = 512
#: Seconds for the subscriber to connect, then to authenticate and have every subscription
#: confirmed.
CONNECT_TIMEOUT: Final = 5.0
#: Seconds ``close()`` gives the writer to publish what is still queued.
FLUSH_TIMEOUT: Final = 1.0

_CONFIRMATIONS: Final = {b"subscribe": "", b"psubscribe": "p", b"ssubscribe": "s"}
_STOP: Final = object()


class _Flush:
    """A marker in the queue: ``done`` is set when the writer reaches it."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = trio.Event()


class _Lost(Exception):
    """The subscriber's connection ended, or Redis refused it."""


def _subscriber_address(url: str) -> tuple[str, int, tuple[str, ...]]:
    """``redis://[[user]:password@]host[:port][/db]``: host, port, and AUTH's arguments.
    (The database does not matter: pub/sub channels are the same in every one.)"""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"the trio Redis adapter connects to redis:// URLs, not {url!r}")
    port = parts.port or 6379  # a bad port raises ValueError here
    auth: tuple[str, ...] = ()
    if parts.password is not None:
        password = urllib.parse.unquote(parts.password)
        user = urllib.parse.unquote(parts.username or "")
        auth = (user, password) if user else (password,)
    return parts.hostname or "127.0.0.1", port, auth


class RedisAdapter:
    """This server's link to the cluster, on coredis (commands) and a subscriber of its own.

    ``url`` (or ``client``, a ``coredis.Redis`` of yours, with bytes responses, for the
    commands, entered around the server or not at all; the subscriber still connects to
    ``url``): where Redis is, as
    ``redis://[[user]:password@]host[:port][/db]``. The options are those of
    :class:`sansio_rooms.ClusterMachine`, named as in Node: ``key`` (channel prefix,
    ``socket.io``), ``sharded`` (SPUBLISH/SSUBSCRIBE, Redis >= 7), ``subscription_mode``,
    ``publish_on_specific_response_channel``, ``requests_timeout`` (seconds).
    ``retry_delay``: the first and the longest wait between two attempts to reach Redis
    again. ``on_health``: called with a :class:`sansio_rooms.ClusterHealth` each time the
    link goes down or comes back.
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
        self._host, self._port, self._auth = _subscriber_address(url)
        self._client = client
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
        self._commands: Redis | None = None  # the client, while it is open
        self._queue_in, self._queue = trio.open_memory_channel[object](math.inf)
        # What the subscriber holds (re-sent on every connection): channels by kind,
        # "" classic, "s" sharded, "p" patterns.
        self._subscribed: dict[str, set[str]] = {"": set(), "s": set(), "p": set()}
        self._stream: trio.SocketStream | None = None  # the subscriber's, once connected
        self._send_lock = trio.Lock()
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()
        self._writer_done = trio.Event()
        self._closing = False
        self._reported = False  # the current outage was logged

    def __repr__(self) -> str:
        return f"<RedisAdapter {self.url} {self.health}>"

    # -- what the driver asks -------------------------------------------------------------------

    def publish(self, output: Publish) -> None:
        self._queue_in.send_nowait(output)

    def subscribe(self, output: Subscribe | Unsubscribe) -> None:
        self._queue_in.send_nowait(output)

    async def flush(self) -> None:
        """Wait until everything asked before this call is done: published (or counted as
        lost) and subscribed. Useful before a script exits, or to know that a room's channel
        is subscribed (sharded dynamic mode) before another server emits to it."""
        if self._scope is None:
            return
        marker = _Flush()
        self._queue_in.send_nowait(marker)
        await marker.done.wait()

    async def server_count(self, channel: str, sharded: bool) -> int:
        client = self._require_client()
        name = channel.encode("utf-8", "surrogateescape")
        try:
            # A Redis that does not answer must not hold the request forever.
            with trio.fail_after(self.options["requests_timeout"]):
                if sharded:
                    counts = await client.pubsub_shardnumsub(name)
                else:
                    counts = await client.pubsub_numsub(name)
        except Exception as error:  # coredis' errors, OSError underneath, TooSlowError
            raise ClusterUnavailableError(f"cannot count the servers: {error!r}") from error
        return int(counts.get(name, 0))

    def _require_client(self) -> Redis:
        if self._commands is None:
            raise ClusterUnavailableError("the Redis adapter is not started")
        return self._commands

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, server: AsyncServer) -> None:
        """Connect, subscribe to every channel of the server's namespaces (so that this
        server is counted before it serves), then read and publish in tasks of the server's
        nursery. Retries until Redis answers (see the module docstring)."""
        nursery = server._nursery
        if nursery is None:
            raise LocalProtocolError("the trio server runs inside `async with server.running():`")
        if self._server is not None:
            raise RuntimeError("this RedisAdapter already serves a server")
        self._server = server
        try:
            await nursery.start(self._run, server)
        except BaseException:  # cancelled while Redis is unreachable: start() may come again
            self._server = None
            raise

    async def close(self) -> None:
        """Stop reading and writing (what is still queued is published first, for a
        moment), then close the connections this adapter opened."""
        scope = self._scope
        if scope is None:
            return
        self._closing = True
        self._queue_in.send_nowait(_STOP)
        with trio.move_on_after(FLUSH_TIMEOUT):
            await self._writer_done.wait()
        scope.cancel()
        await self._stopped.wait()
        self.health = self.health.stopped()

    async def _run(
        self, server: AsyncServer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        import coredis  # the optional extra: sansio-rooms-trio[redis]

        assert server.cluster is not None
        self._closing = self._reported = False
        self._stopped = trio.Event()
        self._writer_done = trio.Event()
        for kind in self._subscribed.values():
            kind.clear()
        for subscription in server.cluster.subscriptions():
            self._record(subscription)
        client = self._client
        opened: AbstractAsyncContextManager[Any]
        if client is None:
            # decode_components: "%40" in a password is "@", as for redis-py and our subscriber.
            client = coredis.Redis.from_url(
                self.url, decode_responses=False, decode_components=True
            )
            opened = client
        else:
            # A client cannot be entered twice, but its pool can (counted): whether its owner
            # entered it around the server or not, its connections are open while we run.
            opened = client.connection_pool
        try:
            with trio.CancelScope() as self._scope:
                async with opened, trio.open_nursery() as nursery:
                    self._commands = client
                    await nursery.start(self._subscriber, server)
                    nursery.start_soon(self._write, client)
                    logger.info(
                        "cluster: server %s joined through Redis %s (%s)",
                        server.cluster.uid,
                        self.url,
                        "sharded" if server.cluster.sharded else "classic pub/sub",
                    )
                    task_status.started()
        finally:
            self._commands = self._scope = self._server = None
            self._stopped.set()

    # -- the subscriber -----------------------------------------------------------------------

    async def _subscriber(
        self, server: AsyncServer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        delay = self.retry_delay[0]
        while True:
            try:
                with trio.fail_after(CONNECT_TIMEOUT):
                    stream = await trio.open_tcp_stream(self._host, self._port)
            except (OSError, trio.TooSlowError) as error:
                self._down(error)
            else:
                try:
                    async with stream:
                        parser = RespParser()
                        with trio.fail_after(CONNECT_TIMEOUT):
                            await self._handshake(server, stream, parser)
                        delay = self.retry_delay[0]
                        self._up()
                        task_status.started()
                        task_status = trio.TASK_STATUS_IGNORED
                        await self._listen(server, stream, parser)
                except (OSError, trio.BrokenResourceError, trio.TooSlowError, _Lost) as error:
                    self._down(error)
                except RemoteProtocolError as error:
                    self._down(error, "garbage from Redis")
                except Exception as error:  # a bug of ours: logged, and the link retried
                    logger.exception("cluster: the subscriber failed")
                    self._down(error)
                finally:
                    self._stream = None
            await trio.sleep(delay)
            delay = min(delay * 2, self.retry_delay[1])

    async def _handshake(
        self, server: AsyncServer, stream: trio.SocketStream, parser: RespParser
    ) -> None:
        """AUTH, then every subscription; back once Redis confirmed them all."""
        pending: set[tuple[str, bytes]] = set()
        async with self._send_lock:
            self._stream = stream  # changes from now on are sent here (after this snapshot)
            commands = [encode_command("AUTH", *self._auth)] if self._auth else []
            for kind, names in self._subscribed.items():
                commands += self._commands_for(kind, sorted(names))
                pending.update((kind, name.encode("utf-8", "surrogateescape")) for name in names)
            await stream.send_all(b"".join(commands))
        authenticating = bool(self._auth)
        while authenticating or pending:
            for reply in parser.feed(await self._receive(stream)):
                if isinstance(reply, RespError):
                    raise _Lost(f"Redis refused: {reply.message}")
                if authenticating:  # its reply comes first: +OK
                    authenticating = False
                    continue
                confirmed = self._confirmation(reply)
                if confirmed is not None:
                    pending.discard(confirmed)
                else:
                    self._dispatch(server, reply)

    @staticmethod
    def _commands_for(kind: str, names: list[str]) -> list[bytes]:
        if not names:
            return []
        if kind == "s":
            # One SSUBSCRIBE per channel: a Redis Cluster refuses channels of several slots.
            return [encode_command("SSUBSCRIBE", name) for name in names]
        return [encode_command("PSUBSCRIBE" if kind == "p" else "SUBSCRIBE", *names)]

    @staticmethod
    def _confirmation(reply: object) -> tuple[str, bytes] | None:
        if isinstance(reply, list) and len(reply) == 3 and isinstance(reply[1], bytes):
            kind = _CONFIRMATIONS.get(reply[0])
            if kind is not None:
                return kind, reply[1]
        return None

    async def _receive(self, stream: trio.SocketStream) -> bytes:
        data = await stream.receive_some(65536)
        if not data:
            raise _Lost("Redis closed the connection")
        return data

    async def _listen(
        self, server: AsyncServer, stream: trio.SocketStream, parser: RespParser
    ) -> None:
        while True:
            for reply in parser.feed(await self._receive(stream)):
                if isinstance(reply, RespError):  # to a subscription changed on the way
                    logger.error("cluster: Redis refused a subscription: %s", reply.message)
                else:
                    self._dispatch(server, reply)

    def _dispatch(self, server: AsyncServer, reply: object) -> None:
        if not isinstance(reply, list) or not reply:
            return
        kind = reply[0]
        if kind == b"pmessage" and len(reply) == 4:
            channel, data = reply[2], reply[3]
        elif kind in (b"message", b"smessage") and len(reply) == 3:
            channel, data = reply[1], reply[2]
        else:
            return  # confirmations (of subscriptions changed on the way), pongs
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            logger.warning("cluster: ignored a malformed %r push from Redis", kind)
            return
        name = channel.decode("utf-8", "surrogateescape")
        try:
            server.cluster_message(name, data)
        except Exception:  # a bug of ours must not stop the reader
            logger.exception("cluster: a message on %s failed", name)

    def _up(self) -> None:
        if self._reported:
            logger.warning("cluster: Redis is back, subscribed again")
        self._reported = False
        self._set_health(connected=True)

    def _down(self, error: BaseException, what: str | None = None) -> None:
        reason = str(error) or type(error).__name__
        if not self._reported:
            self._reported = True
            if what is None:
                what = "lost Redis" if self.health.connected else "cannot reach Redis"
            logger.error(
                "cluster: %s at %s:%d (%s); retrying", what, self._host, self._port, reason
            )
        self._set_health(connected=False, error=reason)

    # -- the writer -----------------------------------------------------------------------------

    async def _write(self, client: Redis) -> None:
        try:
            while True:
                batch = [await self._queue.receive()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self._queue.receive_nowait())
                    except trio.WouldBlock:
                        break
                publishes: list[Publish | RedisCommand] = []
                stop = False
                for output in batch:
                    if isinstance(output, Publish | RedisCommand):
                        publishes.append(output)
                    elif isinstance(output, Subscribe | Unsubscribe):
                        await self._flush(client, publishes)
                        publishes = []
                        await self._apply(output)
                    elif isinstance(output, _Flush):
                        await self._flush(client, publishes)
                        publishes = []
                        output.done.set()
                    elif self._closing:  # _STOP (one left from an earlier close is ignored)
                        stop = True
                        break
                await self._flush(client, publishes)
                if stop:
                    return
        finally:
            self._writer_done.set()
            self._drop_queued()

    def _drop_queued(self) -> None:
        """The writer stopped: what is still queued is lost, and nobody waits for it."""
        lost = 0
        while True:
            try:
                output = self._queue.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(output, _Flush):
                output.done.set()
            elif isinstance(output, Publish):
                lost += 1
        if lost:
            self.health = self.health.lost(lost)
            logger.error("cluster: %d message(s) not published (stopped first)", lost)

    async def _flush(self, client: Redis, outputs: list[Publish | RedisCommand]) -> None:
        # Only the streams adapter queues commands (it has a _flush of its own).
        publishes = [output for output in outputs if isinstance(output, Publish)]
        if not publishes:
            return
        try:
            if len(publishes) == 1:
                output = publishes[0]
                channel = output.channel.encode("utf-8", "surrogateescape")
                if output.sharded:
                    await client.spublish(channel, output.payload)
                else:
                    await client.publish(channel, output.payload)
                return
            async with client.pipeline(transaction=False) as pipe:
                for output in publishes:
                    channel = output.channel.encode("utf-8", "surrogateescape")
                    if output.sharded:
                        pipe.spublish(channel, output.payload)
                    else:
                        pipe.publish(channel, output.payload)
        except Exception as error:  # coredis' errors, and OSError underneath
            self.health = self.health.lost(len(publishes))
            # The text, not the error: a log record keeps its arguments, and an error its
            # frames (coredis' among them), for as long as a handler holds the record.
            logger.error("cluster: %d message(s) not published (%s)", len(publishes), f"{error!r}")

    def _record(self, subscription: Subscribe | Unsubscribe) -> list[bytes]:
        """Note a change of the subscriptions; the commands that make it."""
        if isinstance(subscription, Unsubscribe):
            kind = "s" if subscription.sharded else ""
            self._subscribed[kind].difference_update(subscription.channels)
            self._subscribed["p"].difference_update(subscription.patterns)
            commands = []
            if subscription.channels:
                command = "SUNSUBSCRIBE" if subscription.sharded else "UNSUBSCRIBE"
                commands.append(encode_command(command, *subscription.channels))
            if subscription.patterns:
                commands.append(encode_command("PUNSUBSCRIBE", *subscription.patterns))
            return commands
        kind = "s" if subscription.sharded else ""
        self._subscribed[kind].update(subscription.channels)
        self._subscribed["p"].update(subscription.patterns)
        return [
            *self._commands_for(kind, list(subscription.channels)),
            *self._commands_for("p", list(subscription.patterns)),
        ]

    async def _apply(self, subscription: Subscribe | Unsubscribe) -> None:
        commands = self._record(subscription)
        async with self._send_lock:
            stream = self._stream
            if stream is None or not commands:
                return  # not connected: the next connection subscribes to what is recorded
            try:
                await stream.send_all(b"".join(commands))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as error:
                # The subscriber sees the connection end too, and subscribes again.
                logger.debug("cluster: a subscription change waits for Redis (%s)", f"{error}")

    def _set_health(self, *, connected: bool, error: str | None = None) -> None:
        before = self.health
        self.health = before.changed(connected=connected, error=error)
        if self.health.connected != before.connected and self.on_health is not None:
            try:
                self.on_health(self.health)
            except Exception:
                logger.exception("cluster: on_health failed")
