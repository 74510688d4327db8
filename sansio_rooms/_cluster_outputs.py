"""What the cluster machine returns besides the server machine's own outputs.

Values, as every output of the core: the host publishes (:class:`Publish`), follows the
subscriptions (:class:`Subscribe`, :class:`Unsubscribe`), runs the application's handlers for
events from other servers (:class:`ServerSideEvent`), wakes the caller of a request
(:class:`RequestCompleted`) and logs what could not be understood (:class:`MessageDropped`).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, final

import attrs

__all__ = [
    "ClusterOutput",
    "MessageDropped",
    "Publish",
    "RedisCommand",
    "RequestCompleted",
    "ServerSideEvent",
    "Subscribe",
    "Unsubscribe",
]

RequestKind: TypeAlias = Literal["fetch_sockets", "all_rooms", "server_side_emit", "broadcast_ack"]


@final
@attrs.frozen(kw_only=True)
class Publish:
    """Publish ``payload`` on ``channel`` (SPUBLISH when ``sharded``)."""

    channel: str
    payload: bytes
    sharded: bool = False


@final
@attrs.frozen(kw_only=True)
class RedisCommand:
    """Run ``command`` (its arguments, e.g. ``("XADD", "socket.io", ...)``) on the connection
    that publishes, in order with the :class:`Publish` outputs (the streams mode). When
    ``reply_to`` is not ``None``, hand the reply to :meth:`ClusterMachine.command_replied`
    with it (``None`` if the command failed): the machine waits for it."""

    command: tuple[str, ...]
    reply_to: int | None = None


@final
@attrs.frozen(kw_only=True)
class Subscribe:
    """Subscribe to these channels (SSUBSCRIBE when ``sharded``) and patterns (PSUBSCRIBE)."""

    channels: tuple[str, ...]
    patterns: tuple[str, ...] = ()
    sharded: bool = False


@final
@attrs.frozen(kw_only=True)
class Unsubscribe:
    """Unsubscribe from these channels (SUNSUBSCRIBE when ``sharded``) and patterns
    (PUNSUBSCRIBE)."""

    channels: tuple[str, ...]
    patterns: tuple[str, ...] = ()
    sharded: bool = False


@final
@attrs.frozen(kw_only=True)
class ServerSideEvent:
    """Another server (or an emitter) sent ``event`` to the servers (``serverSideEmit``).

    When ``reply`` is not ``None`` the sender waits for an answer: pass it to
    :meth:`ClusterMachine.answer_server_side` with the value."""

    nsp: str
    event: str
    args: tuple[Any, ...]
    reply: int | None


@final
@attrs.frozen(kw_only=True)
class RequestCompleted:
    """A request of this server is over.

    ``responses``: for ``fetch_sockets``, one dict ``{id, handshake, rooms, data}`` per remote
    socket; for ``all_rooms``, the room names; for ``server_side_emit``, one answer per
    server; for ``broadcast_ack``, the first ack argument of each remote client. When
    ``timed_out``, the deadline passed first: ``responses`` is partial and ``received`` of
    ``expected`` servers answered."""

    request_id: str
    kind: RequestKind
    responses: tuple[Any, ...]
    timed_out: bool
    expected: int
    received: int


@final
@attrs.frozen(kw_only=True)
class MessageDropped:
    """A message on a cluster channel could not be understood and was ignored."""

    channel: str
    reason: str


ClusterOutput: TypeAlias = (
    Publish
    | RedisCommand
    | Subscribe
    | Unsubscribe
    | ServerSideEvent
    | RequestCompleted
    | MessageDropped
)
