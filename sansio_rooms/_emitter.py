"""The emitter: reach a cluster's clients from a process that is not one of its servers.

A WSGI app, a script or a task queue worker often has something to tell the clients but no
Socket.IO server of its own. Node's ``@socket.io/redis-emitter`` 5.1 solves this by publishing
on Redis exactly what a server of the cluster would publish for the same call; the servers
then deliver to their own clients. :class:`Emitter` (blocking client, e.g. redis-py's
``redis.Redis``) and :class:`AsyncEmitter` (``redis.asyncio``, coredis) do the same, with the
same fluent API::

    emitter = Emitter(redis.Redis.from_url(url))
    emitter.to("room1").except_("room2").emit("event", 1, b"bin")
    emitter.of("/chat").in_("r").sockets_leave("r")
    await AsyncEmitter(redis.asyncio.Redis.from_url(url)).to("r").emit("x")

An emitter only publishes: it subscribes to nothing, so it is not counted among the servers
(``PUBSUB NUMSUB``) and can never receive an answer. Hence no acknowledgements and no
``fetch_sockets``. Its messages carry the uid ``"emitter"``, which no server has, so every
server (even one sharing the Redis client) acts on them.

Two wire formats, chosen at construction as for the servers:

* **classic** (``sharded=False``): the bytes of Node's emitter, PUBLISHed. Broadcasts are
  MessagePack ``["emitter", packet, {rooms, flags, except}]`` (its key order, not the
  adapter's) on ``K#N#`` or the single room's ``K#N#room#``; the other calls are JSON requests
  on ``K-request#N#``, the room changes and disconnects without a uid.
* **sharded** (``sharded=True``, Redis >= 7): what a server of the sharded adapter would
  SPUBLISH, with uid ``"emitter"``. Node's emitter has no such format (redis-emitter#127), so
  this is the only way for an emitter to reach a sharded cluster; Node's sharded servers
  accept it, as its cluster protocol already expects an ``"emitter"`` uid.

The builders are written once (:class:`_Target`); the sync and async classes differ only in
how they hand a :class:`Publish` to the client. Arguments are checked, and the message built,
when a method is called, so a mistake raises at the call, also with :class:`AsyncEmitter`
(whose methods return the coroutine that publishes).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any, Generic, Self, TypeVar, get_args

import attrs

from . import _cluster_wire as wire
from ._cluster_outputs import Publish
from ._cluster_wire import (
    EMITTER_UID,
    ClusterMessageType,
    RequestType,
    SubscriptionMode,
    room_has_channel,
    sharded_message,
)
from ._errors import LocalProtocolError
from ._names import Room, normalize_namespace, normalize_rooms
from ._socketio import RESERVED_EVENTS, SioPacketType

__all__ = ["AsyncEmitter", "AsyncEmitterOperator", "Emitter", "EmitterOperator"]

_EVENT = int(SioPacketType.EVENT)


def _check_event(event: object, args: tuple[Any, ...]) -> None:
    if type(event) is not str:
        raise TypeError(f"an event name is a string, not {event!r}")
    # Node's emitter checks only the broadcasts; server-side events are refused the same
    # names here, as by this project's servers (a handler of "disconnect" is not meant for them).
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")
    # An ack callback would wait forever: nothing can answer a process that subscribes to
    # nothing. Node's emitter throws "Acknowledgements are not supported" for the same reason.
    if args and callable(args[-1]):
        raise TypeError("the emitter cannot receive acknowledgements")


@attrs.frozen
class _Target:
    """Where messages go and what they select: the state of Node's ``BroadcastOperator``,
    plus the emitter's options, and the messages built from them."""

    key: str
    sharded: bool
    subscription_mode: SubscriptionMode
    nsp: str = "/"
    rooms: tuple[Room, ...] = ()
    except_rooms: tuple[Room, ...] = ()
    # In the order they were set, with the value they were set to (``compress(True)``
    # included): Node's emitter writes them so, and the bytes are to match.
    flags: tuple[tuple[str, bool], ...] = ()

    def to(self, rooms: object) -> _Target:
        added = normalize_rooms(rooms)
        return attrs.evolve(self, rooms=tuple(dict.fromkeys((*self.rooms, *added))))

    def except_(self, rooms: object) -> _Target:
        added = normalize_rooms(rooms)
        return attrs.evolve(self, except_rooms=tuple(dict.fromkeys((*self.except_rooms, *added))))

    def flag(self, name: str, value: bool) -> _Target:
        flags = dict(self.flags)
        flags[name] = value
        return attrs.evolve(self, flags=tuple(flags.items()))

    def of(self, nsp: str) -> _Target:
        return attrs.evolve(self, nsp=normalize_namespace(nsp), rooms=(), except_rooms=(), flags=())

    # -- the messages ---------------------------------------------------------------------

    def _sharded(self, kind: ClusterMessageType, data: dict[str, Any], channel: str) -> Publish:
        payload = sharded_message(EMITTER_UID, self.nsp, kind, data)
        return Publish(channel=channel, payload=payload, sharded=True)

    def _request(self, request: dict[str, Any]) -> Publish:
        channel = f"{self.key}-request#{self.nsp}#"
        return Publish(channel=channel, payload=wire.to_json(request).encode())

    def _sharded_opts(self) -> dict[str, Any]:
        # The sharded servers' order; flags always present, ``{}`` included.
        return {
            "rooms": list(self.rooms),
            "except": list(self.except_rooms),
            "flags": dict(self.flags),
        }

    def broadcast(self, event: object, args: tuple[Any, ...]) -> list[Publish]:
        _check_event(event, args)
        base = f"{self.key}#{self.nsp}#"
        single = self.rooms[0] if len(self.rooms) == 1 else None
        if self.sharded:
            data = {
                "packet": {"type": _EVENT, "data": [event, *args]},
                "opts": self._sharded_opts(),
            }
            channel = base
            if single is not None and room_has_channel(self.subscription_mode, single):
                channel = f"{base}{wire.room_channel_name(single)}#"
            return [self._sharded(ClusterMessageType.BROADCAST, data, channel)]
        packet = {"type": _EVENT, "data": [event, *args], "nsp": self.nsp}
        opts = {
            "rooms": list(self.rooms),
            "flags": dict(self.flags),
            "except": list(self.except_rooms),
        }
        channel = base if single is None else f"{base}{wire.room_channel_name(single)}#"
        return [Publish(channel=channel, payload=wire.pack([EMITTER_UID, packet, opts]))]

    def membership(self, join: bool, names: object) -> list[Publish]:
        changed = list(normalize_rooms(names))
        if self.sharded:
            kind = ClusterMessageType.SOCKETS_JOIN if join else ClusterMessageType.SOCKETS_LEAVE
            data = {"opts": self._sharded_opts(), "rooms": changed}
            return [self._sharded(kind, data, f"{self.key}#{self.nsp}#")]
        return [
            self._request(
                {
                    "type": int(RequestType.REMOTE_JOIN if join else RequestType.REMOTE_LEAVE),
                    "opts": {"rooms": list(self.rooms), "except": list(self.except_rooms)},
                    "rooms": changed,
                }
            )
        ]

    def disconnect(self, close: bool) -> list[Publish]:
        if self.sharded:
            data = {"opts": self._sharded_opts(), "close": bool(close)}
            kind = ClusterMessageType.DISCONNECT_SOCKETS
            return [self._sharded(kind, data, f"{self.key}#{self.nsp}#")]
        return [
            self._request(
                {
                    "type": int(RequestType.REMOTE_DISCONNECT),
                    "opts": {"rooms": list(self.rooms), "except": list(self.except_rooms)},
                    "close": bool(close),
                }
            )
        ]

    def server_side(self, event: object, args: tuple[Any, ...]) -> list[Publish]:
        _check_event(event, args)
        if self.sharded:
            data = {"packet": [event, *args]}
            kind = ClusterMessageType.SERVER_SIDE_EMIT
            return [self._sharded(kind, data, f"{self.key}#{self.nsp}#")]
        # JSON, as Node's emitter sends it: bytes arrive as {"type": "Buffer", "data": [...]}.
        request = {
            "uid": EMITTER_UID,
            "type": int(RequestType.SERVER_SIDE_EMIT),
            "data": [event, *args],
        }
        return [self._request(request)]


_Op = TypeVar("_Op")
_R = TypeVar("_R")


def _new(cls: type[_Op], client: Any, target: _Target) -> _Op:
    operator = object.__new__(cls)
    operator._client = client  # type: ignore[attr-defined]
    operator._target = target  # type: ignore[attr-defined]
    return operator


class _Operator(Generic[_Op, _R], abc.ABC):
    """A selection of sockets of one namespace and what to do with them, written once for
    both forms: ``_Op`` is the family's operator class, ``_R`` what its actions return
    (``None``, or the coroutine to await)."""

    __slots__ = ("_client", "_target")

    _client: Any
    _target: _Target

    @abc.abstractmethod
    def _derive(self, target: _Target) -> _Op: ...

    @abc.abstractmethod
    def _send(self, messages: list[Publish]) -> _R: ...

    @property
    def nsp(self) -> str:
        return self._target.nsp

    def __repr__(self) -> str:
        target = self._target
        return (
            f"<{type(self).__name__} nsp={target.nsp!r} rooms={list(target.rooms)!r} "
            f"except={list(target.except_rooms)!r} flags={dict(target.flags)!r}>"
        )

    def to(self, rooms: Iterable[Room] | Room) -> _Op:
        """Also target these rooms: a socket in any of them (the union of every ``to``)."""
        return self._derive(self._target.to(rooms))

    def in_(self, rooms: Iterable[Room] | Room) -> _Op:
        """Same as :meth:`to`."""
        return self._derive(self._target.to(rooms))

    def except_(self, rooms: Iterable[Room] | Room) -> _Op:
        """Leave out the members of these rooms (a socket id is a room)."""
        return self._derive(self._target.except_(rooms))

    @property
    def volatile(self) -> _Op:
        """The event may be dropped for a client that cannot take it right now."""
        return self._derive(self._target.flag("volatile", True))

    def compress(self, value: bool) -> _Op:
        """The ``compress`` flag, written as set (only ``False`` changes anything)."""
        return self._derive(self._target.flag("compress", bool(value)))

    def emit(self, event: str, *args: Any) -> _R:
        """Send ``event`` with ``args`` to the selected clients, on every server.

        Reserved event names (:data:`RESERVED_EVENTS`) are refused, and so is a callable last
        argument: an emitter cannot be answered."""
        return self._send(self._target.broadcast(event, args))

    def sockets_join(self, rooms: Iterable[Room] | Room) -> _R:
        """Make the selected sockets, on every server, join ``rooms``."""
        return self._send(self._target.membership(True, rooms))

    def sockets_leave(self, rooms: Iterable[Room] | Room) -> _R:
        """Make the selected sockets, on every server, leave ``rooms``."""
        return self._send(self._target.membership(False, rooms))

    def disconnect_sockets(self, close: bool = False) -> _R:
        """Disconnect the selected sockets on every server; ``close``: close their
        connections too (the other namespaces of those clients go with them)."""
        return self._send(self._target.disconnect(close))


class _Root(_Operator[_Op, _R]):
    """What only the emitter itself has, not the operators ``to()`` & co. return (as in
    Node): other namespaces, and events for the servers (which no room selection applies to)."""

    __slots__ = ()

    def of(self, nsp: str) -> Self:
        """The emitter of namespace ``nsp`` (``"chat"`` is ``"/chat"``), same client and
        options."""
        return _new(type(self), self._client, self._target.of(nsp))

    def server_side_emit(self, event: str, *args: Any) -> _R:
        """Send ``event`` to the servers of the namespace (their ``serverSideEmit``
        listeners). No acknowledgement: a callable last argument is refused, and so are the
        reserved event names."""
        return self._send(self._target.server_side(event, args))


def _target(key: str, sharded: bool, subscription_mode: str, nsp: str) -> _Target:
    if subscription_mode not in get_args(SubscriptionMode):
        raise LocalProtocolError(
            "subscription_mode is 'static', 'dynamic' or 'dynamic-private', "
            f"not {subscription_mode!r}"
        )
    return _Target(
        key=wire.check_key("key", key),
        sharded=bool(sharded),
        subscription_mode=subscription_mode,  # type: ignore[arg-type]
        nsp=normalize_namespace(nsp),
    )


class EmitterOperator(_Operator["EmitterOperator", None]):
    """A selection of an :class:`Emitter` (``emitter.to(...)`` etc.). Immutable: each call
    returns a new operator, so a partly built one can be kept and reused. The actions publish
    before they return."""

    __slots__ = ()

    def _derive(self, target: _Target) -> EmitterOperator:
        return _new(EmitterOperator, self._client, target)

    def _send(self, messages: list[Publish]) -> None:
        client = self._client
        for message in messages:
            publish = client.spublish if message.sharded else client.publish
            result = publish(message.channel, message.payload)
            if isinstance(result, Awaitable):
                # Not awaited, nothing would be published, silently: refuse instead.
                if isinstance(result, Coroutine):
                    result.close()
                raise TypeError("this Redis client is asynchronous: use AsyncEmitter")


class AsyncEmitterOperator(_Operator["AsyncEmitterOperator", Coroutine[Any, Any, None]]):
    """A selection of an :class:`AsyncEmitter`: as :class:`EmitterOperator`, but the actions
    return a coroutine that publishes when awaited (the arguments are checked at the call)."""

    __slots__ = ()

    def _derive(self, target: _Target) -> AsyncEmitterOperator:
        return _new(AsyncEmitterOperator, self._client, target)

    async def _send(self, messages: list[Publish]) -> None:
        client = self._client
        for message in messages:
            publish = client.spublish if message.sharded else client.publish
            result = publish(message.channel, message.payload)
            if not isinstance(result, Awaitable):
                raise TypeError(
                    "this Redis client is synchronous (it has published and blocked the "
                    "event loop): use Emitter"
                )
            await result


class Emitter(_Root[EmitterOperator, None], EmitterOperator):
    """Publishes Socket.IO broadcasts, room changes, disconnects and server-side events to a
    cluster, with a blocking Redis client (anything with ``publish(channel, message)``, and
    ``spublish`` when ``sharded``; redis-py's ``redis.Redis``).

    ``key``: the cluster's channel prefix (Node's ``key``, ``channelPrefix`` when sharded).
    ``sharded``: the sharded adapter's format (SPUBLISH, Redis >= 7) instead of the classic
    one. ``subscription_mode`` (sharded only): the servers' mode, which decides when a
    broadcast to one room goes to the room's own channel. ``nsp``: the namespace (see
    :meth:`of`)."""

    __slots__ = ()

    def __init__(
        self,
        client: Any,
        *,
        key: str = "socket.io",
        sharded: bool = False,
        subscription_mode: SubscriptionMode = "dynamic",
        nsp: str = "/",
    ) -> None:
        self._client = client
        self._target = _target(key, sharded, subscription_mode, nsp)


class AsyncEmitter(_Root[AsyncEmitterOperator, Coroutine[Any, Any, None]], AsyncEmitterOperator):
    """:class:`Emitter` for an asynchronous Redis client (``await client.publish(channel,
    message)``: ``redis.asyncio.Redis``, coredis): every action returns a coroutine to await.
    The arguments are checked, and the message built, at the call."""

    __slots__ = ()

    def __init__(
        self,
        client: Any,
        *,
        key: str = "socket.io",
        sharded: bool = False,
        subscription_mode: SubscriptionMode = "dynamic",
        nsp: str = "/",
    ) -> None:
        self._client = client
        self._target = _target(key, sharded, subscription_mode, nsp)
