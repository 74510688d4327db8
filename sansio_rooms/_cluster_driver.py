"""The part of a server binding that joins it to a cluster, written once for every loop.

A server created with an ``adapter`` (a binding's Redis adapter) has a
:class:`~sansio_rooms.ClusterMachine` beside its :class:`ServerMachine`. This module is what
the driver does with it: publish what the machine says to publish, hand it what arrives,
start requests after asking the adapter how many servers there are, run the server-side
event handlers, and give the application :class:`RemoteSocket` objects for sockets of other
servers. The adapter moves the bytes (see :class:`ClusterAdapter`); nothing here touches a
loop or a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import attrs

from ._app import Handlers, Selection
from ._cluster import ClusterMachine
from ._cluster_outputs import (
    MessageDropped,
    Publish,
    RedisCommand,
    RequestCompleted,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from ._errors import SansioRoomsError
from ._names import Room

if TYPE_CHECKING:
    from ._driver import ServerDriver
    from ._server import PersistSession, RestoreSession

__all__ = [
    "ClusterAdapter",
    "ClusterHealth",
    "ClusterRequestTimeout",
    "ClusterUnavailableError",
    "RemoteSocket",
    "StreamsAdapter",
]

logger = logging.getLogger("sansio_rooms.cluster")
F = TypeVar("F", bound=Callable[..., Any])

#: Node waits this long for the answers to ``serverSideEmit`` with an ack (fixed there).
SERVER_SIDE_EMIT_TIMEOUT = 5.0


class ClusterRequestTimeout(SansioRoomsError, TimeoutError):
    """Not every server answered a cluster request in time (Node's "timeout reached").
    ``responses`` holds what came."""

    def __init__(self, message: str, responses: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.responses = responses


class ClusterUnavailableError(SansioRoomsError, ConnectionError):
    """The cluster cannot be reached now (Redis is down): a request could not start."""


@attrs.frozen(kw_only=True)
class ClusterHealth:
    """How a server's link to the cluster is: ``connected`` (subscribed and reading),
    ``downs`` (times it was lost), ``last_error``, and ``unpublished``: messages that could
    not be published while Redis was unreachable (lost, as in Node)."""

    connected: bool = False
    downs: int = 0
    last_error: str | None = None
    unpublished: int = 0

    def changed(self, *, connected: bool, error: str | None = None) -> ClusterHealth:
        downs = self.downs + (1 if self.connected and not connected else 0)
        return attrs.evolve(
            self, connected=connected, downs=downs, last_error=error or self.last_error
        )

    def stopped(self) -> ClusterHealth:
        """The link was closed on purpose (the server stopped): not connected, not a down."""
        return attrs.evolve(self, connected=False)

    def lost(self, count: int) -> ClusterHealth:
        return attrs.evolve(self, unpublished=self.unpublished + count)


class ClusterAdapter(Protocol):
    """What a binding's adapter (its Redis I/O) gives the driver. ``options`` are the
    :class:`ClusterMachine`'s (``sharded``, ``key``, ...)."""

    options: Mapping[str, Any]

    def publish(self, output: Publish) -> None:
        """Publish soon, in order (never blocks; a queue and a task of the adapter's)."""

    def subscribe(self, output: Subscribe | Unsubscribe) -> None:
        """Change the subscriptions soon, in order."""

    async def server_count(self, channel: str, sharded: bool) -> int:
        """``PUBSUB NUMSUB channel`` (``SHARDNUMSUB`` when sharded): servers, this one
        included. Raises if Redis cannot be asked."""


class StreamsAdapter(ClusterAdapter, Protocol):
    """What an adapter in streams mode (``options["streams"]``) gives the driver besides."""

    def command(self, output: RedisCommand) -> None:
        """Run the command soon, in order with the publishes (never blocks); when
        ``output.reply_to`` is set, hand the reply to the server's ``cluster_replied``."""

    async def take_session(self, key: str, check: Sequence[str]) -> tuple[object, object]:
        """``MULTI / GET key / DEL key / EXEC``, and the command ``check``: their replies
        (the EXEC one is ``[value, deleted]``). Raises if Redis cannot be asked."""

    async def call(self, command: Sequence[str]) -> object:
        """Run one command and return its reply. Raises if Redis cannot be asked."""


class RemoteSocket:
    """A socket of another server, as ``fetch_sockets`` describes it (Node's
    ``RemoteSocket``): ``id`` (also ``sid``), ``handshake`` (a dict), ``rooms``, ``data``;
    ``emit``, ``join``, ``leave`` and ``disconnect`` go through the cluster."""

    def __init__(self, server: ServerDriver, nsp: str, details: Mapping[str, Any]) -> None:
        self.server = server
        self.nsp = nsp
        self.id: str = str(details.get("id"))
        self.sid = self.id
        self.handshake: Any = details.get("handshake")
        rooms = details.get("rooms")
        self.rooms: frozenset[Room] = frozenset(rooms if isinstance(rooms, list) else ())
        self.data: Any = details.get("data")

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} of {self.nsp}>"

    def _operator(self) -> Any:
        return self.server.of(self.nsp).to(self.id)

    async def emit(self, event: str, *args: Any) -> None:
        await self._operator().emit(event, *args)

    async def join(self, rooms: Iterable[Room] | Room) -> None:
        await self._operator().sockets_join(rooms)

    async def leave(self, rooms: Iterable[Room] | Room) -> None:
        await self._operator().sockets_leave(rooms)

    async def disconnect(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)


class ClusterDriving:
    """The cluster half of :class:`ServerDriver` (a mixin: ``self`` is the driver)."""

    cluster: ClusterMachine | None
    adapter: ClusterAdapter | None
    server_side_handlers: Handlers
    _request_waiters: dict[str, Any]

    def _init_cluster(self, adapter: ClusterAdapter | None) -> None:
        driver: ServerDriver = self  # type: ignore[assignment]
        self.adapter = adapter
        self.server_side_handlers = Handlers()
        self._request_waiters = {}
        self.cluster = None
        if adapter is None:
            return
        self.cluster = ClusterMachine(
            driver.machine, describe_socket=self._describe_socket, **adapter.options
        )
        if self.cluster.sharded and self.cluster.subscription_mode != "static":
            # Room channels follow the rooms: the engine must say when one appears or goes.
            driver.machine.engine.notices = True

    def on_server_side(self, event: str, namespace: str = "/") -> Callable[[F], F]:
        """Decorator: a handler for ``event`` sent by another server (or an emitter) with
        ``server_side_emit``; it gets the event's arguments, and what it returns answers an
        emit that waits for acknowledgements (Node: ``io.on("event", (...args, ack) => ...)``)."""
        driver: ServerDriver = self  # type: ignore[assignment]
        nsp = driver.machine.add_namespace(namespace)
        self._cluster_namespace(nsp)
        return self.server_side_handlers.on(event, nsp)

    def _cluster_namespace(self, nsp: str) -> None:
        if self.cluster is not None:
            self._run_cluster(self.cluster.add_namespace(nsp))

    def _describe_socket(self, nsp: str, sid: str) -> tuple[Mapping[str, Any], Any]:
        driver: ServerDriver = self  # type: ignore[assignment]
        socket = driver.get_socket(sid, nsp)
        if socket is None:  # pragma: no cover - the machine only describes connected sockets
            return {}, {}
        shake = socket.handshake
        # Node's socket.handshake, as its adapter sends it (time: Node's is Date#toString).
        handshake = {
            "headers": dict(shake.headers),
            "time": shake.time,
            "address": shake.address,
            "xdomain": shake.xdomain,
            "secure": shake.secure,
            "issued": shake.issued,
            "url": shake.url,
            "query": dict(shake.query),
            "auth": shake.auth,
        }
        return handshake, socket.data

    def _run_cluster(self, outputs: list[Any]) -> None:
        driver: ServerDriver = self  # type: ignore[assignment]
        driver._run(outputs)

    # -- what the machine says ------------------------------------------------------------------

    def _on_publish(self, output: Publish) -> None:
        assert self.adapter is not None
        self.adapter.publish(output)

    def _on_subscribe(self, output: Subscribe | Unsubscribe) -> None:
        assert self.adapter is not None
        self.adapter.subscribe(output)

    def _streams_adapter(self) -> StreamsAdapter:
        assert self.cluster is not None and self.cluster.streams
        return cast(StreamsAdapter, self.adapter)

    def _on_redis_command(self, output: RedisCommand) -> None:
        self._streams_adapter().command(output)

    def _on_persist_session(self, output: PersistSession) -> None:
        # Only a streams cluster makes the server machine keep its sessions elsewhere.
        assert self.cluster is not None
        self._run_cluster(self.cluster.persist_session(output))

    def _on_restore_session(self, output: RestoreSession) -> None:
        driver: ServerDriver = self  # type: ignore[assignment]
        driver._spawn(self._restore(output))

    async def _restore(self, output: RestoreSession) -> None:
        """Node's ``restoreSession``: take the session, check the offset, read what
        followed it; then the held CONNECT goes on, recovered or not."""
        driver: ServerDriver = self  # type: ignore[assignment]
        assert self.cluster is not None
        restore = self.cluster.restore(output)
        if restore.result is None:
            adapter = self._streams_adapter()
            try:
                exec_reply, check_reply = await adapter.take_session(restore.key, restore.check)
                command = restore.taken(exec_reply, check_reply)
                while command is not None:
                    command = restore.ranged(await adapter.call(command))
            except Exception as error:  # Redis' errors: the client gets a new session
                restore.failed(f"Redis could not be asked ({error!r})")
        assert restore.result is not None
        driver._run(driver.machine.complete_restore(output.ref, restore.result, driver.now()))

    def _on_message_dropped(self, output: MessageDropped) -> None:
        logger.warning("cluster: dropped a message on %s: %s", output.channel, output.reason)

    def _on_request_completed(self, output: RequestCompleted) -> None:
        # A request's waiter is registered before its outputs run, and a request that was
        # given up is cancelled in the machine too: every completion has its waiter.
        self._request_waiters.pop(output.request_id).set(output)

    def _on_server_side_event(self, output: ServerSideEvent) -> None:
        driver: ServerDriver = self  # type: ignore[assignment]
        handler = self.server_side_handlers.get(output.nsp, output.event)
        if handler is None:
            logger.info(
                "cluster: no handler for server-side event %r of %s", output.event, output.nsp
            )
            return
        driver._spawn(self._run_server_side(handler, output))

    async def _run_server_side(self, handler: Callable[..., Any], output: ServerSideEvent) -> None:
        try:
            result = handler(*output.args)
            if hasattr(result, "__await__"):
                result = await result
        except Exception:
            logger.exception("server-side handler of %r in %s failed", output.event, output.nsp)
            return
        if output.reply is not None and self.cluster is not None:
            try:
                self._run_cluster(self.cluster.answer_server_side(output.reply, result))
            except TypeError as error:
                logger.error(
                    "the answer to server-side event %r cannot be sent (%s): answered null",
                    output.event,
                    error,
                )
                self._run_cluster(self.cluster.answer_server_side(output.reply, None))

    # -- what arrives -----------------------------------------------------------------------------

    def cluster_message(self, channel: str, payload: bytes) -> None:
        """The adapter's reader calls this with every message of a subscribed channel."""
        driver: ServerDriver = self  # type: ignore[assignment]
        assert self.cluster is not None
        driver._run(self.cluster.receive(channel, payload, driver.now()))

    def cluster_started(self, stream: str, reply: object) -> None:
        """The reply of the cluster machine's ``start_command(stream)`` (streams mode)."""
        assert self.cluster is not None
        self._run_cluster(self.cluster.started(stream, reply))

    def cluster_stream(self, stream: str, reply: object) -> None:
        """The adapter's stream reader calls this with every ``XREAD`` reply (streams mode)."""
        driver: ServerDriver = self  # type: ignore[assignment]
        assert self.cluster is not None
        driver._run(self.cluster.receive_stream(stream, reply, driver.now()))

    def cluster_replied(self, output: RedisCommand, reply: object) -> None:
        """The adapter ran ``output`` (whose ``reply_to`` is set): its reply, ``None`` if it
        failed."""
        driver: ServerDriver = self  # type: ignore[assignment]
        assert self.cluster is not None and output.reply_to is not None
        driver._run(self.cluster.command_replied(output.reply_to, reply, driver.now()))

    # -- requests -------------------------------------------------------------------------------

    async def _servers(self, nsp: str) -> int:
        """How many *other* servers share the namespace (0 without a cluster)."""
        if self.cluster is None or self.adapter is None:
            return 0
        channel = self.cluster.count_channel(nsp)
        count = await self.adapter.server_count(channel, self.cluster.sharded)
        return max(count - 1, 0)

    async def _start_request(
        self, start: Callable[[int], tuple[str, list[Any]]], nsp: str
    ) -> tuple[str, Any]:
        """Count the other servers, start the request, return its id and its waiter."""
        driver: ServerDriver = self  # type: ignore[assignment]
        servers = await self._servers(nsp)
        request_id, outputs = start(servers)
        waiter = driver._new_waiter()
        self._request_waiters[request_id] = waiter
        driver._run(outputs)
        return request_id, waiter

    def _forget_request(self, request_id: str) -> None:
        """The request's caller is done (or gave up): no answer is awaited any more."""
        if self._request_waiters.pop(request_id, None) is not None and self.cluster:
            self.cluster.cancel(request_id)

    async def _request(
        self, start: Callable[[int], tuple[str, list[Any]]], nsp: str
    ) -> RequestCompleted:
        request_id, waiter = await self._start_request(start, nsp)
        try:
            completed: RequestCompleted = await waiter.wait()
        finally:
            self._forget_request(request_id)
        return completed

    async def server_count(self, namespace: str = "/") -> int:
        """How many servers the cluster has (this one included; 1 without a cluster)."""
        return await self._servers(namespace) + 1

    def _cluster_selection(self, selection: Selection) -> bool:
        """True if an operation on ``selection`` goes to the other servers too. Not for an
        explicit empty list of rooms (``to([])``): it selects nobody here, so nobody
        anywhere, while ``"rooms": []`` on the wire would mean every socket of the other
        servers."""
        return self.cluster is not None and not selection.local_flag and selection.rooms != ()


def streams_options(
    *,
    channel_prefix: str,
    stream_name: str,
    stream_count: int,
    max_len: int,
    session_key_prefix: str,
    requests_timeout: float,
) -> dict[str, Any]:
    """The ``ClusterMachine`` options of a binding's ``RedisStreamsAdapter`` (Node's option
    names, as the adapters take them)."""
    return {
        "key": channel_prefix,
        "streams": True,
        "stream_name": stream_name,
        "stream_count": stream_count,
        "max_len": max_len,
        "session_key_prefix": session_key_prefix,
        "requests_timeout": requests_timeout,
    }


def timed_out(completed: RequestCompleted) -> ClusterRequestTimeout:
    """Node's error for a request some servers did not answer in time."""
    return ClusterRequestTimeout(
        f"timeout reached: only {completed.received} responses received out of "
        f"{completed.expected}",
        completed.responses,
    )
