"""The Redis wire format of Node's ``@socket.io/redis-adapter`` 8.3 and ``redis-emitter`` 5.1.

Channels, message types and the two encodings (MessagePack as notepack.io writes it, JSON as
``JSON.stringify`` writes it), with nothing else: no Redis, no state. The cluster machine
(``_cluster.py``) and the emitter (``_emitter.py``) build on it.

Two formats share these helpers:

* **classic** (``createAdapter``, PUBLISH/PSUBSCRIBE): broadcasts are MessagePack
  ``[uid, packet, opts]`` on ``K#N#`` (or ``K#N#room#`` when exactly one room is targeted);
  requests and responses are JSON objects on ``K-request#N#`` / ``K-response#N#``, except the
  acknowledged broadcast and its answers, which are MessagePack so that they can carry binary.
* **sharded** (``createShardedAdapter``, SPUBLISH/SSUBSCRIBE, Redis 7): every message is
  ``{type, data, uid, nsp}``, JSON unless it holds binary.

A receiver tells the encodings apart by the first byte: ``{`` is JSON, anything else is
MessagePack. MessagePack needs the ``msgpack`` package (``pip install sansio-rooms[cluster]``);
it is imported the first time it is needed, so the rest of the core works without it.
"""

from __future__ import annotations

import datetime
import enum
import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeAlias

from ._errors import LocalProtocolError, RemoteProtocolError
from ._names import Room, normalize_rooms
from ._socketio import _finite, js_date

__all__ = ["EMITTER_UID", "ClusterMessageType", "RequestType"]

#: The uid Node's emitter writes in its messages: never a server's.
EMITTER_UID = "emitter"

SubscriptionMode: TypeAlias = Literal["static", "dynamic", "dynamic-private"]


class RequestType(enum.IntEnum):
    """Request and response types of the classic adapter (``RequestType`` in Node)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class ClusterMessageType(enum.IntEnum):
    """Message types of the generic cluster protocol the sharded adapter speaks."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


# -- MessagePack ------------------------------------------------------------------------------

_packer: Callable[[Any], bytes] | None = None
_unpacker: Callable[[bytes], Any] | None = None


def _load_msgpack() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    global _packer, _unpacker
    try:
        # Optional: only the cluster needs it. No type information ships with it; the two calls
        # are wrapped in typed functions below.
        import msgpack  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            "the cluster's wire format needs msgpack: pip install 'sansio-rooms[cluster]'"
        ) from None

    def packb(value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True, datetime=True)  # type: ignore[no-any-return]

    def unpackb(data: bytes) -> Any:
        # timestamp=3: a Date (ext -1, what notepack writes) comes out as an aware datetime,
        # which the Socket.IO encoder writes as JSON.stringify writes a Date.
        return msgpack.unpackb(data, raw=False, timestamp=3, strict_map_key=False)

    _packer, _unpacker = packb, unpackb
    return packb, unpackb


def pack(value: Any) -> bytes:
    """``value`` as notepack.io writes it: bytes as ``bin``, aware datetimes as timestamps.

    Raises ``TypeError`` for what MessagePack cannot hold (an int beyond 64 bits, a set)."""
    packb = _packer or _load_msgpack()[0]
    try:
        return packb(value)
    except (OverflowError, ValueError) as error:
        raise TypeError(f"cannot be sent to the cluster as MessagePack: {error}") from None


def unpack(data: bytes) -> Any:
    """A MessagePack payload; :class:`RemoteProtocolError` if it is not one."""
    unpackb = _unpacker or _load_msgpack()[1]
    try:
        return unpackb(data)
    except Exception as error:  # msgpack raises several unrelated types on garbage
        raise RemoteProtocolError(f"not a MessagePack message: {error}") from None


# -- JSON -------------------------------------------------------------------------------------


def _to_json_default(value: Any) -> Any:
    # What JSON.stringify gives for a Buffer and a Date, the two non-JSON values a Node peer
    # can put in a JSON request.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, datetime.datetime):
        return js_date(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _dumps(value: Any, allow_nan: bool) -> str:
    return json.dumps(
        value,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=allow_nan,
        default=_to_json_default,
    )


def to_json(value: Any) -> str:
    """``value`` as ``JSON.stringify`` writes it (compact, keys in insertion order, NaN and
    infinities as ``null``). Raises ``TypeError`` for what JSON cannot hold (a set, a cycle,
    data nested too deeply)."""
    try:
        try:
            return _dumps(value, allow_nan=False)
        except ValueError:
            # NaN or an infinity, or a cycle: a dump that allows the first raises again for
            # the second, before the copy (which would never end on a cycle) is made.
            _dumps(value, allow_nan=True)
            return _dumps(_finite(value), allow_nan=False)
    except (ValueError, RecursionError) as error:
        raise TypeError(f"cannot be sent to the cluster as JSON: {error}") from None


def is_json(payload: bytes | str) -> bool:
    """The receivers' rule: a message starting with ``{`` is JSON."""
    return payload[:1] in (b"{", "{")


def decode_message(payload: bytes | str) -> Any:
    """A request, response or sharded message: JSON if it starts with ``{``, else
    MessagePack. :class:`RemoteProtocolError` if it is neither."""
    if is_json(payload):
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise RemoteProtocolError(f"not a JSON message: {error}") from None
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    return unpack(payload)


def has_binary(value: Any) -> bool:
    """True if ``value`` holds bytes anywhere (iterative: a peer chooses the depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (bytes, bytearray, memoryview)):
            return True
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False


# -- rooms and options ------------------------------------------------------------------------


def room_channel_name(room: Room) -> str:
    """How a room appears in a channel name (``String(room)`` in Node)."""
    return room if isinstance(room, str) else str(room)


def rooms_from_wire(value: Any, what: str) -> tuple[Room, ...]:
    """A list of room names from a message; :class:`RemoteProtocolError` if it is not one."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RemoteProtocolError(f"{what} is not a list of rooms: {value!r:.80}")
    for room in value:
        if type(room) is not str and type(room) is not int:
            raise RemoteProtocolError(f"{what} holds a room that is not a name: {room!r:.80}")
    return tuple(value)


def check_key(name: str, value: object) -> str:
    """A channel prefix: a non-empty string without ``#``."""
    if type(value) is not str or not value or "#" in value:
        raise LocalProtocolError(f"{name} must be a non-empty string without '#', not {value!r}")
    return value


# -- message shapes shared by the machine and the emitter ----------------------------------


def classic_id() -> str:
    """A classic adapter's uid or request id (Node: ``uid2(6)`` over ``[A-Za-z0-9_-]``; we
    draw 96 bits)."""
    return secrets.token_urlsafe(12)


def sharded_id() -> str:
    """A sharded adapter's uid or request id: 16 hex digits, as Node's."""
    return secrets.token_hex(8)


MAY_CARRY_BINARY = frozenset(
    {
        ClusterMessageType.BROADCAST,
        ClusterMessageType.FETCH_SOCKETS_RESPONSE,
        ClusterMessageType.SERVER_SIDE_EMIT,
        ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE,
        ClusterMessageType.BROADCAST_ACK,
    }
)
WITHOUT_DATA = frozenset(
    {
        ClusterMessageType.INITIAL_HEARTBEAT,
        ClusterMessageType.HEARTBEAT,
        ClusterMessageType.ADAPTER_CLOSE,
    }
)


def sharded_message(uid: str, nsp: str, kind: ClusterMessageType, data: dict[str, Any]) -> bytes:
    """A sharded adapter's message ``{type, data, uid, nsp}`` (Node's key order): JSON unless
    ``data`` holds binary, in which case MessagePack (as Node: only for the kinds that may)."""
    message = {"type": int(kind), "data": data, "uid": uid, "nsp": nsp}
    if kind in MAY_CARRY_BINARY and has_binary(data):
        return pack(message)
    return to_json(message).encode()


def room_has_channel(mode: SubscriptionMode, room: Room) -> bool:
    """Whether a sharded broadcast to ``room`` alone goes to the room's own channel.

    Node's rule: dynamic mode gives public rooms a channel, and a 20-character string is
    taken for a socket id (it cannot know); dynamic-private gives every room one, static none.
    """
    if mode == "dynamic-private":
        return True
    if mode == "static":
        return False
    return not (isinstance(room, str) and len(room) == 20)


def milliseconds(seconds: float) -> int | float:
    ms = seconds * 1000
    return int(ms) if ms == int(ms) else ms


def flags_of(volatile: bool, compress: bool) -> dict[str, Any]:
    # Only the flags that were set, as Node's operator writes them.
    flags: dict[str, Any] = {}
    if volatile:
        flags["volatile"] = True
    if not compress:
        flags["compress"] = False
    return flags


def opts_of(
    rooms: list[Room], except_: Iterable[Room] | Room, flags: dict[str, Any] | None
) -> dict[str, Any]:
    opts: dict[str, Any] = {"rooms": rooms, "except": list(normalize_rooms(except_))}
    if flags is not None:
        opts["flags"] = flags
    return opts


def selection_of(opts: Any) -> tuple[tuple[Room, ...] | None, tuple[Room, ...], dict[str, Any]]:
    """rooms (``None``: everyone, as an empty list means on the wire), except, flags."""
    if opts is None:
        return None, (), {}
    if not isinstance(opts, dict):
        raise RemoteProtocolError(f"opts is an object, not {opts!r:.80}")
    rooms = rooms_from_wire(opts.get("rooms"), "opts.rooms")
    except_ = rooms_from_wire(opts.get("except"), "opts.except")
    flags = opts.get("flags")
    return rooms or None, except_, flags if isinstance(flags, dict) else {}
