"""The cluster machine: a server's rooms shared with other servers through Redis, sans I/O.

:class:`ClusterMachine` sits beside a :class:`ServerMachine`. It speaks the wire format of
Node's ``@socket.io/redis-adapter`` 8.3 (classic pub/sub, or sharded for Redis 7), so that
Python and Node servers can be one cluster:

* what this server does to the whole cluster (a broadcast, ``sockets_join``, a request such
  as ``fetch_sockets``) becomes :class:`Publish` outputs; the host applies the local part
  itself, as Node's adapter does after publishing;
* what arrives on a channel (:meth:`ClusterMachine.receive`) becomes the server machine's
  own outputs (the frames of a remote broadcast, room changes, disconnects), answers to
  publish, :class:`ServerSideEvent` for the application, :class:`RequestCompleted` when a
  request of this server has all its answers;
* requests in flight have deadlines: the host passes time in (:meth:`advance`) and asks for
  the next one (:meth:`next_deadline`), as everywhere in the core.

The host moves the bytes: it subscribes to :meth:`subscriptions` (and follows
:class:`Subscribe` / :class:`Unsubscribe`), publishes :class:`Publish`, feeds every message
received to :meth:`receive`, and asks Redis how many servers there are (``PUBSUB NUMSUB`` of
:meth:`count_channel`) before starting a request. A message that cannot be understood is
dropped and reported as :class:`MessageDropped`; nothing a peer publishes raises.

With ``streams=True`` it speaks Node's ``@socket.io/redis-streams-adapter`` instead: a stream
for what recovery needs, pub/sub for the rest, and :class:`RedisCommand` outputs whose
replies come back (``_cluster_streams``, the :class:`StreamsMode` part of the machine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

from . import _cluster_wire as wire
from . import _streams_wire as sw
from ._acks import check_time
from ._cluster_outputs import (
    ClusterOutput,
    MessageDropped,
    Publish,
    RequestCompleted,
    RequestKind,
    ServerSideEvent,
    Subscribe,
    Unsubscribe,
)
from ._cluster_requests import Request, RequestTracker
from ._cluster_streams import StreamsMode
from ._cluster_wire import (
    EMITTER_UID,
    ClusterMessageType,
    RequestType,
    SubscriptionMode,
    room_has_channel,
    sharded_message,
)
from ._errors import LocalProtocolError, RemoteProtocolError, SansioRoomsError
from ._names import Room, normalize_namespace, normalize_rooms
from ._outputs import AckCompleted, AckReceived, Deliveries, RoomCreated, RoomDeleted
from ._server import ServerMachine

__all__ = ["ClusterMachine"]

#: Node's default for ``requestsTimeout`` (and the fixed wait of ``serverSideEmit`` acks).
REQUESTS_TIMEOUT: Final = 5.0


class _Channels:
    """The channel names of one namespace."""

    __slots__ = ("base", "own", "request", "response")

    def __init__(self, base: str, request: str, response: str, own: str) -> None:
        self.base = base  # broadcasts (classic), everything (sharded)
        self.request = request  # classic only
        self.response = response  # classic only: the shared response channel
        self.own = own  # answers meant for this server


DescribeSocket: TypeAlias = Callable[[str, str], tuple[Mapping[str, Any], Any]]


def _no_description(nsp: str, sid: str) -> tuple[Mapping[str, Any], Any]:
    return {}, {}


class ClusterMachine(StreamsMode):
    """This server's part of a cluster (see the module docstring).

    ``sharded``: the sharded adapter's format (SPUBLISH, Redis >= 7) instead of the classic
    pub/sub one. ``streams``: Node's Redis Streams adapter's (``_cluster_streams``: a stream
    for broadcasts, joins, leaves and disconnects, pub/sub for the rest; connection state
    recovery across servers), with ``stream_name``, ``stream_count``, ``max_len`` and
    ``session_key_prefix`` as Node's ``streamName``, ``streamCount``, ``maxLen`` and
    ``sessionKeyPrefix``. ``key``: the channel prefix (Node's ``key``, or ``channelPrefix``
    when sharded or streams; default ``socket.io``); every server of a cluster must use the
    same.
    ``subscription_mode`` (sharded only): ``"dynamic"`` (Node's default: a channel per public
    room), ``"dynamic-private"`` (socket id rooms too) or ``"static"``.
    ``publish_on_specific_response_channel`` (classic only): answers go to the requester's
    own channel. ``requests_timeout``: seconds a request waits for the other servers.
    ``describe_socket(nsp, sid)``: the ``(handshake, data)`` of a local socket, for the
    other servers' ``fetch_sockets``. ``uid``: this server's id in the cluster (random by
    default; ids come from ``id_factory`` otherwise).
    """

    def __init__(
        self,
        server: ServerMachine,
        *,
        sharded: bool = False,
        key: str = "socket.io",
        subscription_mode: SubscriptionMode = "dynamic",
        publish_on_specific_response_channel: bool = False,
        requests_timeout: float = REQUESTS_TIMEOUT,
        describe_socket: DescribeSocket = _no_description,
        uid: str | None = None,
        id_factory: Callable[[], str] | None = None,
        streams: bool = False,
        stream_name: str = sw.STREAM_NAME,
        stream_count: int = 1,
        max_len: int = sw.MAX_LEN,
        session_key_prefix: str = sw.SESSION_KEY_PREFIX,
    ) -> None:
        if streams and sharded:
            raise LocalProtocolError("streams and sharded are two adapters: choose one")
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise LocalProtocolError(
                "subscription_mode is 'static', 'dynamic' or 'dynamic-private', "
                f"not {subscription_mode!r}"
            )
        self.server = server
        self.sharded = bool(sharded)
        self.streams = bool(streams)
        # The generic cluster messages ({uid, nsp, type, data}) of socket.io-adapter's
        # ClusterAdapter, which the sharded and the streams adapters both speak.
        self._generic = self.sharded or self.streams
        self.key = wire.check_key("key", key)
        self.subscription_mode: SubscriptionMode = subscription_mode
        self.publish_on_specific_response_channel = bool(publish_on_specific_response_channel)
        self.requests_timeout = check_time("requests_timeout", requests_timeout)
        self.describe_socket = describe_socket
        self.id_factory = id_factory or (wire.sharded_id if self._generic else wire.classic_id)
        self.uid = self.id_factory() if uid is None else uid
        if type(self.uid) is not str or not self.uid or self.uid == EMITTER_UID:
            raise LocalProtocolError(f"a server's uid is a non-empty string, not {self.uid!r}")
        self._channels: dict[str, _Channels] = {}
        self._routes: dict[str, str] = {}  # classic exact channel -> namespace
        self._room_channels: dict[str, dict[Room, str]] = {}  # sharded dynamic subscriptions
        #: The requests of this server in flight.
        self.requests = RequestTracker()
        # Broadcasts with acks this server relays for another: local ack id -> answer route.
        self._relayed: dict[int, tuple[str, str, str]] = {}
        self._replies: dict[int, tuple[str, str, str]] = {}  # server-side emit answers owed
        self._last_reply = 0
        self._init_streams(
            stream_name=stream_name,
            stream_count=stream_count,
            max_len=max_len,
            session_key_prefix=session_key_prefix,
        )
        for nsp in server.namespaces():
            self._add(nsp)

    # -- channels ----------------------------------------------------------------------------

    def _add(self, nsp: str) -> _Channels:
        key, uid = self.key, self.uid
        if self._generic:
            base = f"{key}#{nsp}#"
            channels = _Channels(base, base, base, f"{base}{uid}#")
        else:
            channels = _Channels(
                f"{key}#{nsp}#",
                f"{key}-request#{nsp}#",
                f"{key}-response#{nsp}#",
                f"{key}-response#{nsp}#{uid}#",
            )
            for channel in (channels.request, channels.response, channels.own):
                self._routes[channel] = nsp
        self._channels[nsp] = channels
        self._room_channels[nsp] = {}
        return channels

    def add_namespace(self, nsp: str) -> list[ClusterOutput]:
        """The server has a new namespace: what to subscribe to for it (nothing if known)."""
        nsp = normalize_namespace(nsp)
        if nsp in self._channels:
            return []
        self._add(nsp)
        return self._subscriptions(nsp)

    def remove_namespace(self, nsp: str) -> list[ClusterOutput]:
        """The server dropped a namespace (an empty dynamic child): what to unsubscribe from
        (nothing if unknown)."""
        nsp = normalize_namespace(nsp)
        channels = self._channels.pop(nsp, None)
        if channels is None:
            return []
        rooms = self._room_channels.pop(nsp)
        if self._generic:
            return [
                Unsubscribe(
                    channels=(channels.base, channels.own, *rooms.values()), sharded=self.sharded
                )
            ]
        for channel in (channels.request, channels.response, channels.own):
            self._routes.pop(channel, None)
        return [
            Unsubscribe(
                channels=(channels.request, channels.response, channels.own),
                patterns=(channels.base + "*",),
            )
        ]

    def subscriptions(self) -> list[Subscribe]:
        """Everything to subscribe to now, for every namespace (at start, and again after
        the connection to Redis was lost)."""
        return [
            subscribe
            for nsp in self._channels
            for subscribe in self._subscriptions(nsp, renew=True)
            if isinstance(subscribe, Subscribe)
        ]

    def _subscriptions(self, nsp: str, renew: bool = False) -> list[ClusterOutput]:
        channels = self._channels[nsp]
        if not self._generic:
            return [
                Subscribe(
                    channels=(channels.request, channels.response, channels.own),
                    patterns=(channels.base + "*",),
                )
            ]
        subscribed = self._room_channels[nsp]
        if renew:
            subscribed.clear()
        if self.sharded and self.subscription_mode != "static":
            namespace = self.server.engine.namespace(nsp)
            for room in namespace.rooms():
                self._room_subscription(nsp, room, subscribed)
        return [
            Subscribe(
                channels=(channels.base, channels.own, *subscribed.values()),
                sharded=self.sharded,
            )
        ]

    def _room_subscription(self, nsp: str, room: Room, subscribed: dict[Room, str]) -> str | None:
        if room in subscribed:
            return None
        # Dynamic mode: a socket id room has no channel of its own, unless it does not look
        # like one to a publisher (Node's 20-character rule; our ids have 22), which then
        # broadcasts to it on the room's channel.
        if (
            self.subscription_mode == "dynamic"
            and self.server.engine.namespace(nsp).has_socket(room)
            and not room_has_channel("dynamic", room)
        ):
            return None
        channel = subscribed[room] = f"{self._channels[nsp].base}{wire.room_channel_name(room)}#"
        return channel

    def count_channel(self, nsp: str) -> str:
        """The channel whose subscribers are the servers of the cluster: ``PUBSUB NUMSUB``
        of it (``PUBSUB SHARDNUMSUB`` when sharded) is the server count, this one included."""
        return self._known(nsp).request

    def _known(self, nsp: str) -> _Channels:
        channels = self._channels.get(nsp)
        if channels is None:
            raise LocalProtocolError(f"namespace {nsp!r} is not registered")
        return channels

    def room_created(self, output: RoomCreated) -> list[ClusterOutput]:
        """A room appeared here (the engine's notice): in the sharded dynamic modes its
        channel is subscribed to."""
        if not self.sharded or self.subscription_mode == "static":
            return []
        subscribed = self._room_channels.get(output.nsp)
        if subscribed is None:
            return []
        channel = self._room_subscription(output.nsp, output.room, subscribed)
        return [] if channel is None else [Subscribe(channels=(channel,), sharded=True)]

    def room_deleted(self, output: RoomDeleted) -> list[ClusterOutput]:
        """A room is gone: its channel is unsubscribed from (sharded dynamic modes)."""
        subscribed = self._room_channels.get(output.nsp)
        channel = None if subscribed is None else subscribed.pop(output.room, None)
        return [] if channel is None else [Unsubscribe(channels=(channel,), sharded=True)]

    # -- publishing what this server does ----------------------------------------------------

    def _message(self, nsp: str, kind: ClusterMessageType, data: dict[str, Any]) -> bytes:
        if self.streams:  # always MessagePack over the streams adapter's pub/sub
            return sw.pubsub_message(self.uid, nsp, kind, data)
        return sharded_message(self.uid, nsp, kind, data)

    def _request(self, payload: dict[str, Any]) -> bytes:
        return wire.to_json(payload).encode()

    def broadcast(
        self,
        nsp: str,
        event: str,
        *args: Any,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        volatile: bool = False,
        compress: bool = True,
    ) -> list[ClusterOutput]:
        """What to publish so that the other servers deliver this broadcast to their clients
        (the host delivers to its own; in streams mode the machine does, once the XADD is
        answered: :meth:`command_replied`). ``rooms=None``: the whole namespace."""
        channels = self._known(nsp)
        targets = [] if rooms is None else list(normalize_rooms(rooms))
        excluded = normalize_rooms(except_)
        opts = wire.opts_of(targets, excluded, wire.flags_of(volatile, compress))
        if self.streams:
            data = {"packet": {"type": 2, "data": [event, *args]}, "opts": opts}
            local = (
                nsp,
                event,
                args,
                None if rooms is None else tuple(targets),
                excluded,
                bool(volatile),
                bool(compress),
            )
            return [self._stream_add(nsp, ClusterMessageType.BROADCAST, data, local)]
        if self.sharded:
            data = {"packet": {"type": 2, "data": [event, *args]}, "opts": opts}
            payload = self._message(nsp, ClusterMessageType.BROADCAST, data)
            channel = channels.base
            if len(targets) == 1 and self._room_has_channel(targets[0]):
                channel = f"{channels.base}{wire.room_channel_name(targets[0])}#"
            return [Publish(channel=channel, payload=payload, sharded=True)]
        packet = {"type": 2, "data": [event, *args], "nsp": nsp}
        payload = wire.pack([self.uid, packet, opts])
        channel = channels.base
        if len(targets) == 1:
            channel = f"{channels.base}{wire.room_channel_name(targets[0])}#"
        return [Publish(channel=channel, payload=payload)]

    def _room_has_channel(self, room: Room) -> bool:
        return room_has_channel(self.subscription_mode, room)

    def sockets_join(
        self,
        nsp: str,
        join: Iterable[Room] | Room,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
    ) -> list[ClusterOutput]:
        """What to publish so that the other servers' selected sockets join ``join``."""
        return self._membership(nsp, True, join, rooms, except_)

    def sockets_leave(
        self,
        nsp: str,
        leave: Iterable[Room] | Room,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
    ) -> list[ClusterOutput]:
        """What to publish so that the other servers' selected sockets leave ``leave``."""
        return self._membership(nsp, False, leave, rooms, except_)

    def _membership(
        self,
        nsp: str,
        join: bool,
        names: Iterable[Room] | Room,
        rooms: Iterable[Room] | Room | None,
        except_: Iterable[Room] | Room,
    ) -> list[ClusterOutput]:
        channels = self._known(nsp)
        targets = [] if rooms is None else list(normalize_rooms(rooms))
        changed = list(normalize_rooms(names))
        if self._generic:
            kind = ClusterMessageType.SOCKETS_JOIN if join else ClusterMessageType.SOCKETS_LEAVE
            data = {"opts": wire.opts_of(targets, except_, {}), "rooms": changed}
            if self.streams:
                return [self._stream_add(nsp, kind, data)]
            return [self._publish_sharded(channels.base, self._message(nsp, kind, data))]
        request = {
            "uid": self.uid,
            "type": int(RequestType.REMOTE_JOIN if join else RequestType.REMOTE_LEAVE),
            "opts": wire.opts_of(targets, except_, None),
            "rooms": changed,
        }
        return [Publish(channel=channels.request, payload=self._request(request))]

    def disconnect_sockets(
        self,
        nsp: str,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        close: bool = False,
    ) -> list[ClusterOutput]:
        """What to publish so that the other servers disconnect their selected sockets."""
        channels = self._known(nsp)
        targets = [] if rooms is None else list(normalize_rooms(rooms))
        if self._generic:
            data = {"opts": wire.opts_of(targets, except_, {}), "close": bool(close)}
            if self.streams:
                return [self._stream_add(nsp, ClusterMessageType.DISCONNECT_SOCKETS, data)]
            message = self._message(nsp, ClusterMessageType.DISCONNECT_SOCKETS, data)
            return [self._publish_sharded(channels.base, message)]
        request = {
            "uid": self.uid,
            "type": int(RequestType.REMOTE_DISCONNECT),
            "opts": wire.opts_of(targets, except_, None),
            "close": bool(close),
        }
        return [Publish(channel=channels.request, payload=self._request(request))]

    def server_side_emit(self, nsp: str, event: str, *args: Any) -> list[ClusterOutput]:
        """What to publish to send ``event`` to the other servers, no answer wanted."""
        _check_event(event)
        channels = self._known(nsp)
        if self._generic:
            data = {"packet": [event, *args]}
            message = self._message(nsp, ClusterMessageType.SERVER_SIDE_EMIT, data)
            return [self._publish_sharded(channels.base, message)]
        request = {
            "uid": self.uid,
            "type": int(RequestType.SERVER_SIDE_EMIT),
            "data": [event, *args],
        }
        return [Publish(channel=channels.request, payload=self._request(request))]

    def _publish_sharded(self, channel: str, payload: bytes) -> Publish:
        """A generic message published (SPUBLISH when sharded, PUBLISH in streams mode)."""
        return Publish(channel=channel, payload=payload, sharded=self.sharded)

    # -- requests: this server asks, the others answer ----------------------------------------

    def _start(
        self, kind: RequestKind, nsp: str, servers: int, now: float, timeout: float | None
    ) -> tuple[str, Request | None, list[ClusterOutput]]:
        """A new request waiting for ``servers`` other servers, or one already complete.
        It waits for answers once :meth:`_track` has it, after its message was built: a call
        that raises leaves nothing in flight (its deadline in the heap is skipped)."""
        check_time("now", now)
        if type(servers) is not int or servers < 0:
            raise LocalProtocolError(f"servers is a count of other servers, not {servers!r}")
        self._known(nsp)
        wait = self.requests_timeout if timeout is None else check_time("timeout", timeout)
        request_id = self.id_factory()
        if servers == 0:
            done = RequestCompleted(
                request_id=request_id,
                kind=kind,
                responses=(),
                timed_out=False,
                expected=0,
                received=0,
            )
            return request_id, None, [done]
        self.requests.schedule(request_id, now + wait)
        return request_id, Request(kind, nsp, servers), []

    def _track(
        self, request_id: str, request: Request, publish: Publish
    ) -> tuple[str, list[ClusterOutput]]:
        self.requests.add(request_id, request)
        return request_id, [publish]

    def fetch_sockets(
        self,
        nsp: str,
        *,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        servers: int,
        now: float,
        timeout: float | None = None,
    ) -> tuple[str, list[ClusterOutput]]:
        """Ask the ``servers`` other servers for their sockets of this selection. Returns the
        request id and what to publish; :class:`RequestCompleted` comes with the answers."""
        targets = [] if rooms is None else list(normalize_rooms(rooms))
        request_id, request, outputs = self._start("fetch_sockets", nsp, servers, now, timeout)
        if request is None:
            return request_id, outputs
        channels = self._channels[nsp]
        if self._generic:
            data = {"opts": wire.opts_of(targets, except_, {}), "requestId": request_id}
            message = self._message(nsp, ClusterMessageType.FETCH_SOCKETS, data)
            return self._track(request_id, request, self._publish_sharded(channels.base, message))
        payload = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.REMOTE_FETCH),
            "opts": wire.opts_of(targets, except_, None),
        }
        publish = Publish(channel=channels.request, payload=self._request(payload))
        return self._track(request_id, request, publish)

    def all_rooms(self, nsp: str, *, servers: int, now: float) -> tuple[str, list[ClusterOutput]]:
        """Ask the other servers for every room they have (classic adapter only: Node's
        sharded adapter has no such request)."""
        if self._generic:
            raise LocalProtocolError(
                "the sharded and streams adapters have no all_rooms request (nor have Node's)"
            )
        request_id, request, outputs = self._start("all_rooms", nsp, servers, now, None)
        if request is None:
            return request_id, outputs
        payload = {"uid": self.uid, "requestId": request_id, "type": int(RequestType.ALL_ROOMS)}
        publish = Publish(channel=self._channels[nsp].request, payload=self._request(payload))
        return self._track(request_id, request, publish)

    def server_side_emit_with_ack(
        self,
        nsp: str,
        event: str,
        *args: Any,
        servers: int,
        now: float,
        timeout: float | None = None,
    ) -> tuple[str, list[ClusterOutput]]:
        """Send ``event`` to the ``servers`` other servers and wait for one answer each."""
        _check_event(event)
        request_id, request, outputs = self._start("server_side_emit", nsp, servers, now, timeout)
        if request is None:
            return request_id, outputs
        channels = self._channels[nsp]
        if self._generic:
            data = {"requestId": request_id, "packet": [event, *args]}
            message = self._message(nsp, ClusterMessageType.SERVER_SIDE_EMIT, data)
            return self._track(request_id, request, self._publish_sharded(channels.base, message))
        payload = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.SERVER_SIDE_EMIT),
            "data": [event, *args],
        }
        publish = Publish(channel=channels.request, payload=self._request(payload))
        return self._track(request_id, request, publish)

    def broadcast_with_ack(
        self,
        nsp: str,
        event: str,
        *args: Any,
        rooms: Iterable[Room] | Room | None = None,
        except_: Iterable[Room] | Room = (),
        volatile: bool = False,
        compress: bool = True,
        servers: int,
        now: float,
        timeout: float,
    ) -> tuple[str, list[ClusterOutput]]:
        """A broadcast whose recipients on the ``servers`` other servers answer; the answers
        (first argument of each) come in :class:`RequestCompleted`, complete when every
        server told how many clients it reached and that many answers came, or at
        ``now + timeout``."""
        targets = [] if rooms is None else list(normalize_rooms(rooms))
        request_id, request, outputs = self._start("broadcast_ack", nsp, servers, now, timeout)
        if request is None:
            return request_id, outputs
        flags = wire.flags_of(volatile, compress)
        flags["timeout"] = wire.milliseconds(timeout)
        opts = wire.opts_of(targets, except_, flags)
        channels = self._channels[nsp]
        if self._generic:
            data = {"packet": {"type": 2, "data": [event, *args]}, "requestId": request_id}
            data["opts"] = opts
            message = self._message(nsp, ClusterMessageType.BROADCAST, data)
            return self._track(request_id, request, self._publish_sharded(channels.base, message))
        payload = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.BROADCAST),
            "packet": {"type": 2, "data": [event, *args], "nsp": nsp},
            "opts": opts,
        }
        publish = Publish(channel=channels.request, payload=wire.pack(payload))
        return self._track(request_id, request, publish)

    def cancel(self, request_id: str) -> None:
        """Forget a request (its caller gave up); its answers will be ignored."""
        self.requests.cancel(request_id)

    def next_deadline(self) -> float | None:
        """When :meth:`advance` must next be called, or ``None``."""
        return self.requests.next_deadline()

    def advance(self, now: float) -> list[ClusterOutput]:
        """Time is ``now``: every request whose deadline has passed completes, timed out."""
        return list(self.requests.advance(now))

    def __len__(self) -> int:
        """Requests in flight."""
        return len(self.requests)

    # -- what arrives --------------------------------------------------------------------------

    def receive(self, channel: str, payload: bytes, now: float) -> list[Any]:
        """A message arrived on ``channel``. Returns the server machine's outputs (for a
        remote broadcast: the frames to send), cluster outputs (answers to publish,
        :class:`ServerSideEvent`, :class:`RequestCompleted`), or :class:`MessageDropped`."""
        check_time("now", now)
        try:
            if self._generic:
                return self._receive_sharded(channel, payload, now)
            nsp = self._routes.get(channel)
            if nsp is not None:
                return self._receive_request_or_response(channel, nsp, payload, now)
            return self._receive_broadcast(channel, payload)
        except (RemoteProtocolError, SansioRoomsError, TypeError, ValueError, KeyError) as error:
            return [MessageDropped(channel=channel, reason=f"{type(error).__name__}: {error}")]

    def _receive_broadcast(self, channel: str, payload: bytes) -> list[Any]:
        nsp = next((n for n, c in self._channels.items() if channel.startswith(c.base)), None)
        if nsp is None:
            return []  # another prefix, or a namespace this server does not have
        base = self._channels[nsp].base
        room_name = channel[len(base) : -1]
        if room_name and not self._has_room(nsp, room_name):
            return []  # Node's shortcut: a room this server does not have, not decoded
        message = wire.unpack(payload)
        if not isinstance(message, list) or len(message) < 3:
            raise RemoteProtocolError("a broadcast is [uid, packet, opts]")
        uid, packet, opts = message[0], message[1], message[2]
        if uid == self.uid:
            return []
        if not isinstance(packet, dict):
            raise RemoteProtocolError(f"a broadcast's packet is an object, not {packet!r:.80}")
        if packet.get("nsp", "/") != nsp:
            return []
        return self._deliver(nsp, packet, opts)

    def _has_room(self, nsp: str, name: str) -> bool:
        namespace = self.server.engine.namespace(nsp)
        if namespace.count_members(name):
            return True
        # A numeric room travels as its digits (Node's fix for numeric rooms). Only ASCII
        # digits make a number ("²".isdigit() too), and int() refuses more than 4300 of them.
        digits = name[1:] if name[:1] == "-" else name
        if not (digits.isascii() and digits.isdigit()):
            return False
        try:
            return namespace.count_members(int(name)) > 0
        except ValueError:
            return False

    def _deliver(self, nsp: str, packet: Any, opts: Any, offset: str | None = None) -> list[Any]:
        rooms, except_, flags = wire.selection_of(opts)
        data = packet.get("data") if isinstance(packet, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise RemoteProtocolError(f"a broadcast packet's data is [event, ...]: {packet!r:.80}")
        return list(
            self.server.emit(
                nsp,
                *data,
                rooms=rooms,
                except_=except_,
                volatile=flags.get("volatile") is True,
                compress=flags.get("compress") is not False,
                offset=offset,
            )
        )

    def _receive_request_or_response(
        self, channel: str, nsp: str, payload: bytes, now: float
    ) -> list[Any]:
        message = wire.decode_message(payload)
        if not isinstance(message, dict):
            raise RemoteProtocolError("a request or response is an object")
        if channel == self._channels[nsp].request:
            return self._on_request(nsp, message, now)
        return self.requests.receive(message)

    def _on_request(self, nsp: str, request: dict[str, Any], now: float) -> list[Any]:
        kind = request.get("type")
        uid = request.get("uid")
        if uid == self.uid:
            return []  # this server applied its own change at once, and asks only others
        namespace = self.server.engine.namespace(nsp)
        request_id = request.get("requestId")
        if kind == RequestType.REMOTE_JOIN or kind == RequestType.REMOTE_LEAVE:
            join = kind == RequestType.REMOTE_JOIN
            if "opts" not in request:  # the legacy form: one socket, an answer expected
                return self._legacy_membership(nsp, request, join)
            rooms, except_, _ = wire.selection_of(request["opts"])
            changed = wire.rooms_from_wire(request.get("rooms"), "rooms")
            apply = namespace.sockets_join if join else namespace.sockets_leave
            return list(apply(changed, rooms=rooms, except_=except_))
        if kind == RequestType.REMOTE_DISCONNECT:
            close = request.get("close") is True
            if "opts" not in request:  # the legacy form: one socket, an answer expected
                sid = request.get("sid")
                if not isinstance(sid, str) or not namespace.is_connected(sid):
                    return []  # the socket is elsewhere: its own server answers (as Node)
                outputs = self._disconnect(nsp, None, (), [sid], close, now)
                return [*outputs, *self._respond(nsp, request, {"requestId": request_id})]
            rooms, except_, _ = wire.selection_of(request["opts"])
            return self._disconnect(nsp, rooms, except_, None, close, now)
        if kind == RequestType.SERVER_SIDE_EMIT:
            data = request.get("data")
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                raise RemoteProtocolError("a server-side emit's data is [event, ...]")
            reply = None
            if request_id is not None:
                reply = self._owe(nsp, str(request_id), self._channels[nsp].response)
            return [ServerSideEvent(nsp=nsp, event=data[0], args=tuple(data[1:]), reply=reply)]
        if type(request_id) is not str:
            raise RemoteProtocolError(f"request of type {kind!r} without a requestId")
        if kind == RequestType.REMOTE_FETCH:
            rooms, except_, _ = wire.selection_of(request.get("opts"))
            sockets = self._describe(nsp, rooms, except_)
            return self._respond(nsp, request, {"requestId": request_id, "sockets": sockets})
        if kind == RequestType.ALL_ROOMS:
            rooms_here = list(namespace.rooms())
            return self._respond(nsp, request, {"requestId": request_id, "rooms": rooms_here})
        if kind == RequestType.SOCKETS:  # legacy: v8 never sends it, but still answers it
            rooms = wire.rooms_from_wire(request.get("rooms"), "rooms") or None
            sids = list(namespace.members_of(rooms))
            return self._respond(nsp, request, {"requestId": request_id, "sockets": sids})
        if kind == RequestType.BROADCAST:
            return self._relay_broadcast(nsp, request, request_id, str(uid), now)
        raise RemoteProtocolError(f"unknown request type {kind!r}")

    def _legacy_membership(self, nsp: str, request: dict[str, Any], join: bool) -> list[Any]:
        sid, room = request.get("sid"), request.get("room")
        namespace = self.server.engine.namespace(nsp)
        if not isinstance(sid, str) or not namespace.is_connected(sid):
            return []  # the socket is elsewhere: its own server answers
        rooms = wire.rooms_from_wire([room], "room")
        outputs: list[Any] = list(
            namespace.join(sid, rooms) if join else namespace.leave(sid, rooms)
        )
        return [*outputs, *self._respond(nsp, request, {"requestId": request.get("requestId")})]

    def _disconnect(
        self,
        nsp: str,
        rooms: tuple[Room, ...] | None,
        except_: tuple[Room, ...],
        sids: list[str] | None,
        close: bool,
        now: float,
    ) -> list[Any]:
        return list(
            self.server.disconnect_sockets(
                nsp, now, rooms=rooms, except_=except_, sids=sids, close_connection=close
            )
        )

    def _describe(
        self, nsp: str, rooms: tuple[Room, ...] | None, except_: tuple[Room, ...]
    ) -> list[dict[str, Any]]:
        namespace = self.server.engine.namespace(nsp)
        described = []
        for sid in namespace.members_of(rooms, except_=except_):
            handshake, data = self.describe_socket(nsp, sid)
            described.append(
                {
                    "id": sid,
                    "handshake": dict(handshake),
                    "rooms": list(namespace.rooms_of(sid)),
                    "data": data,
                }
            )
        return described

    def _respond(self, nsp: str, request: dict[str, Any], answer: dict[str, Any]) -> list[Any]:
        channel = self._answer_channel(nsp, request.get("uid"))
        return [Publish(channel=channel, payload=self._request(answer))]

    def _relay_broadcast(
        self, nsp: str, request: dict[str, Any], request_id: str, requester: str, now: float
    ) -> list[Any]:
        """Another server's broadcast with acks: deliver here, tell how many clients were
        reached, then relay each client's answer as it comes."""
        packet = request.get("packet")
        opts = request.get("opts")
        rooms, except_, flags = wire.selection_of(opts)
        data = packet.get("data") if isinstance(packet, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise RemoteProtocolError("a broadcast packet's data is [event, ...]")
        timeout: Any = flags.get("timeout")
        wait = self.requests_timeout
        if type(timeout) in (int, float) and 0 <= timeout < 1e12:
            wait = float(timeout) / 1000
        outputs = self.server.emit_with_ack(
            nsp,
            *data,
            now=now,
            timeout=wait,
            rooms=rooms,
            except_=except_,
            each_response=True,
            volatile=flags.get("volatile") is True,
            compress=flags.get("compress") is not False,
        )
        deliveries = outputs[0]
        assert isinstance(deliveries, Deliveries) and deliveries.ack_id is not None
        if self._generic:
            count = self._message(
                nsp,
                ClusterMessageType.BROADCAST_CLIENT_COUNT,
                {"requestId": request_id, "clientCount": len(deliveries)},
            )
            answer = self._publish_sharded(self._sharded_route(nsp, requester), count)
        else:
            count_answer = {
                "type": int(RequestType.BROADCAST_CLIENT_COUNT),
                "requestId": request_id,
                "clientCount": len(deliveries),
            }
            channel = self._answer_channel(nsp, requester)
            answer = Publish(channel=channel, payload=self._request(count_answer))
        self._relayed[deliveries.ack_id] = (nsp, request_id, requester)
        # The count goes out before the frames, so that the requester knows how many answers
        # to wait for before the first can arrive.
        return [answer, *outputs]

    def _sharded_route(self, nsp: str, requester: str) -> str:
        return f"{self._channels[nsp].base}{requester}#"

    def _answer_channel(self, nsp: str, requester: object) -> str:
        channel = self._channels[nsp].response
        if self.publish_on_specific_response_channel and isinstance(requester, str):
            return f"{channel}{requester}#"
        return channel

    def relays(self, ack_id: int) -> bool:
        """True if the acknowledgement ``ack_id`` belongs to another server's broadcast
        (the host then hands its :class:`AckReceived` / :class:`AckCompleted` here)."""
        return ack_id in self._relayed

    def relay_ack(self, output: AckReceived | AckCompleted) -> list[ClusterOutput]:
        """A client answered a relayed broadcast (or it is over): the answer to publish."""
        if isinstance(output, AckCompleted):
            self._relayed.pop(output.ack_id, None)
            return []
        route = self._relayed.get(output.ack_id)
        if route is None:
            return []
        nsp, request_id, requester = route
        if self._generic:
            channel = self._sharded_route(nsp, requester)
        else:
            channel = self._answer_channel(nsp, requester)
        try:
            if self._generic:
                message = self._message(
                    nsp,
                    ClusterMessageType.BROADCAST_ACK,
                    {"requestId": request_id, "packet": output.response},
                )
                return [self._publish_sharded(channel, message)]
            answer = {
                "type": int(RequestType.BROADCAST_ACK),
                "requestId": request_id,
                "packet": output.response,
            }
            return [Publish(channel=channel, payload=wire.pack(answer))]
        except TypeError as error:
            # A client's answer the wire cannot carry (an int beyond 64 bits in MessagePack,
            # nesting too deep for the encoder): not relayed, reported, never raised.
            return [MessageDropped(channel=channel, reason=f"TypeError: {error}")]

    def _owe(self, nsp: str, request_id: str, route: str) -> int:
        """Remember an answer owed; ``route``: the classic shared response channel, or the
        sharded requester's uid."""
        self._last_reply += 1
        self._replies[self._last_reply] = (nsp, request_id, route)
        return self._last_reply

    def answer_server_side(self, reply: int, value: Any) -> list[ClusterOutput]:
        """The application's answer to a :class:`ServerSideEvent` (its first ack argument)."""
        owed = self._replies.get(reply)
        if owed is None:
            raise LocalProtocolError(f"no server-side event waits for answer {reply!r}")
        nsp, request_id, route = owed
        if self._generic:
            message = self._message(
                nsp,
                ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE,
                {"requestId": request_id, "packet": value},
            )
            publish = self._publish_sharded(self._sharded_route(nsp, route), message)
        else:
            # Node answers server-side emits on the shared channel whatever its options.
            answer = {
                "type": int(RequestType.SERVER_SIDE_EMIT),
                "requestId": request_id,
                "data": value,
            }
            publish = Publish(channel=route, payload=self._request(answer))
        # Owed until here: a value the wire cannot carry (TypeError) can be answered again.
        del self._replies[reply]
        return [publish]

    def _receive_sharded(self, channel: str, payload: bytes, now: float) -> list[Any]:
        if self.streams:
            message = sw.decode_pubsub_message(payload)
        else:
            message = wire.decode_message(payload)
            if not isinstance(message, dict):
                raise RemoteProtocolError("a cluster message is an object")
        return self._apply_message(message, now)

    def _apply_message(
        self, message: dict[str, Any], now: float, offset: str | None = None
    ) -> list[Any]:
        """A generic cluster message (sharded, streams); ``offset``: its stream entry id."""
        uid, nsp, kind = message.get("uid"), message.get("nsp"), message.get("type")
        if uid == self.uid or nsp not in self._channels:
            return []
        data = message.get("data")
        if not isinstance(data, dict):
            if kind in wire.WITHOUT_DATA:
                return []  # heartbeats and goodbyes: this adapter does not count peers
            raise RemoteProtocolError(f"message of type {kind!r} without data")
        namespace = self.server.engine.namespace(nsp)
        if kind == ClusterMessageType.BROADCAST:
            request_id = data.get("requestId")
            if request_id is None:
                if offset is not None and (
                    self.server.recovery is None or not sw.takes_offset(data)
                ):
                    offset = None
                return self._deliver(nsp, data.get("packet"), data.get("opts"), offset)
            if type(request_id) is not str or type(uid) is not str:
                raise RemoteProtocolError("a broadcast with acks needs a requestId and a uid")
            request = {"packet": data.get("packet"), "opts": data.get("opts")}
            return self._relay_broadcast(nsp, request, request_id, uid, now)
        if kind in (ClusterMessageType.SOCKETS_JOIN, ClusterMessageType.SOCKETS_LEAVE):
            rooms, except_, _ = wire.selection_of(data.get("opts"))
            changed = wire.rooms_from_wire(data.get("rooms"), "rooms")
            join = kind == ClusterMessageType.SOCKETS_JOIN
            apply = namespace.sockets_join if join else namespace.sockets_leave
            return list(apply(changed, rooms=rooms, except_=except_))
        if kind == ClusterMessageType.DISCONNECT_SOCKETS:
            rooms, except_, _ = wire.selection_of(data.get("opts"))
            return self._disconnect(nsp, rooms, except_, None, data.get("close") is True, now)
        if kind == ClusterMessageType.SERVER_SIDE_EMIT:
            packet = data.get("packet")
            if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
                raise RemoteProtocolError("a server-side emit's packet is [event, ...]")
            request_id = data.get("requestId")
            reply = None
            if request_id is not None and type(uid) is str:
                reply = self._owe(nsp, str(request_id), uid)
            return [ServerSideEvent(nsp=nsp, event=packet[0], args=tuple(packet[1:]), reply=reply)]
        request_id = data.get("requestId")
        if type(request_id) is not str or type(uid) is not str:
            raise RemoteProtocolError(f"message of type {kind!r} without requestId or uid")
        if kind == ClusterMessageType.FETCH_SOCKETS:
            rooms, except_, _ = wire.selection_of(data.get("opts"))
            answer = {"requestId": request_id, "sockets": self._describe(nsp, rooms, except_)}
            message_out = self._message(nsp, ClusterMessageType.FETCH_SOCKETS_RESPONSE, answer)
            return [self._publish_sharded(self._sharded_route(nsp, uid), message_out)]
        response_kinds = {
            ClusterMessageType.FETCH_SOCKETS_RESPONSE: None,
            ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE: None,
            ClusterMessageType.BROADCAST_CLIENT_COUNT: RequestType.BROADCAST_CLIENT_COUNT,
            ClusterMessageType.BROADCAST_ACK: RequestType.BROADCAST_ACK,
        }
        if kind not in response_kinds:
            raise RemoteProtocolError(f"unknown message type {kind!r}")
        # The sharded answers, in the classic answers' shape.
        response: dict[str, Any] = {"requestId": request_id, "type": response_kinds[kind]}
        if kind == ClusterMessageType.FETCH_SOCKETS_RESPONSE:
            response["sockets"] = data.get("sockets")
        elif kind == ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE:
            response["data"] = data.get("packet")
        elif kind == ClusterMessageType.BROADCAST_CLIENT_COUNT:
            response["clientCount"] = data.get("clientCount")
        else:
            response["packet"] = data.get("packet")
        return self.requests.receive(response)


def _check_event(event: object) -> None:
    if type(event) is not str:
        raise LocalProtocolError(f"an event name is a string, not {event!r}")
