"""The Redis wire format of Node's ``@socket.io/redis-streams-adapter`` 0.3: sans I/O.

Commands to send and replies to read, as values; no Redis, no state. Read from the package's
``dist/adapter.js`` and ``dist/util.js`` (0.3.1, with socket.io-adapter 2.5.9's
``ClusterAdapter``, redis 4.7 and ``@msgpack/msgpack`` 2.8) and checked against it in
``tests/cluster/test_streams_wire.py``.

The adapter speaks the generic cluster protocol (``{uid, nsp, type, data}``, the 1..13
:class:`ClusterMessageType` numbers, as the sharded adapter of ``_cluster_wire``), over two
paths:

**The stream** (``streamName``, default ``socket.io``). What must survive a reconnection goes
there: BROADCAST without acks, SOCKETS_JOIN, SOCKETS_LEAVE, DISCONNECT_SOCKETS. One entry per
message, appended with ``XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <n>
[data <d>]`` (``maxLen`` default 10000: almost-exact trimming). ``type`` is the number in
decimal; ``data`` is absent when the message has none, else ``JSON.stringify(data)``, unless
the type may carry binary (BROADCAST, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT(_RESPONSE),
BROADCAST_ACK) and ``data`` holds some, in which case the base64 of its MessagePack (the
option ``onlyPlaintext`` forces JSON). A reader tells them apart by the first character:
``{`` is JSON. The XADD reply, the entry id ``<ms>-<seq>``, is the message's *offset*.

Each server reads with a connection of its own: ``XREAD COUNT <readCount> BLOCK
<blockTimeInMs> STREAMS <stream> <offset>`` (100 and 5000 by default) in a loop, starting at
``$`` (only what is added after the first read: a server sees nothing from before it
started), then from the id of the last entry read. An entry without ``nsp`` is skipped. Its
own entries come back to it and are ignored by uid, as are other namespaces.
With ``streamCount`` > 1 a namespace goes to ``<stream>-<i>``, ``i = hashCode(nsp) %
streamCount`` in JavaScript arithmetic (32-bit ``hashCode``, remainder with the sign of the
dividend: a negative ``i`` is written as such, and no server reads that stream: a Node bug,
those namespaces are not shared), one reading connection per stream ``-0`` .. ``-(n-1)``.

**Pub/sub** (``channelPrefix``, default ``socket.io``), for what is not worth keeping:
BROADCAST with acks, SERVER_SIDE_EMIT, FETCH_SOCKETS go to ``P#N#`` and the answers to
``P#N#<requester uid>#``, as the MessagePack of the whole message ``{type, data, uid, nsp}``
(always MessagePack here; ``type`` a number). Each server SUBSCRIBEs (SSUBSCRIBE with
``useShardedPubSub``) to ``P#N#`` and ``P#N#<own uid>#`` for each namespace, on one
connection, and ``serverCount()`` is ``PUBSUB NUMSUB P#N#`` (``SHARDNUMSUB``). There is no
heartbeat (the class is ``ClusterAdapter``, not the one with heartbeats).

**Connection state recovery.** A broadcast published with recovery on has its offset appended
to its packet's arguments, and so has one received from the stream (the entry id): only an
EVENT packet without an ack id whose flags have no ``volatile`` (:func:`takes_offset`). The
publisher waits for the XADD reply before delivering to its own clients (a failed XADD:
delivered all the same, without an offset), and so do joins, leaves and disconnects. A
socket that goes away for a recoverable reason leaves ``{sid, pid, rooms, data}`` (no
``disconnectedAt``) under ``sio:session:<pid>`` (``sessionKeyPrefix``): ``SET <key>
<base64 of its MessagePack> PX <maxDisconnectionDuration in ms>``. ``restoreSession(pid,
offset)``: an offset that is not ``<digits>-<digits>`` fails at once; else, in parallel,
``MULTI / GET <key> / DEL <key> / EXEC`` (the session is taken once) and ``XRANGE <stream>
<offset> <offset>`` (the offset must still be in the stream); either missing fails. Then up to
100 times ``XRANGE <stream> <next> +`` with ``next`` the last id seen plus one in its sequence
part (``1-4`` -> ``1-5``), until an empty reply. An entry counts if its raw ``nsp`` is the
namespace and its raw ``type`` is ``"3"`` (a BROADCAST; volatile ones too: Node replays them)
and the session's rooms pass the filter (no target rooms or one in common, none in the
except rooms). The client gets ``packet.data`` with the entry id appended, in stream order,
before the CONNECT reply. A malformed entry of the namespace fails the restore.

Encodings: JSON as ``JSON.stringify`` writes it and MessagePack as ``@msgpack/msgpack``
writes it, both from ``_cluster_wire`` (bytes are ``bin``, aware datetimes timestamps; a key
whose value is ``undefined`` is written as nil there, where ``JSON.stringify`` omits it).
Field names and values are read as UTF-8 (bad bytes replaced, as Node's client does).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, final

import attrs

from ._cluster_wire import (
    MAY_CARRY_BINARY,
    ClusterMessageType,
    decode_message,
    has_binary,
    pack,
    rooms_from_wire,
    to_json,
    unpack,
)
from ._errors import LocalProtocolError, RemoteProtocolError
from ._names import Room

__all__ = [
    "PersistedSession",
    "StreamEntry",
    "decode_entry",
    "decode_pubsub_message",
    "decode_session",
    "encode_session",
    "entries_of_xrange_reply",
    "entries_of_xread_reply",
    "entry_fields",
    "is_ephemeral",
    "is_offset",
    "missed_packets",
    "next_offset",
    "offset_of_xadd_reply",
    "persist_session_command",
    "public_channel",
    "pubsub_message",
    "response_channel",
    "restore_commands",
    "session_key",
    "session_of_exec_reply",
    "stream_name_of",
    "stream_names",
    "takes_offset",
    "xadd_command",
    "xrange_command",
    "xread_command",
]

#: Node's defaults (``createAdapter`` options).
STREAM_NAME: Final = "socket.io"
CHANNEL_PREFIX: Final = "socket.io"
MAX_LEN: Final = 10_000
READ_COUNT: Final = 100
BLOCK_MS: Final = 5_000
SESSION_KEY_PREFIX: Final = "sio:session:"
#: ``connectionStateRecovery.maxDisconnectionDuration``'s default, the session's ``PX``.
SESSION_EXPIRY_MS: Final = 120_000
#: Where a reader starts: after the last entry there is when it first reads.
FIRST_OFFSET: Final = "$"
#: At most this many ``XRANGE ... +`` per restore (Node's limit against a stream that grows
#: faster than it is read).
RESTORE_MAX_XRANGE_CALLS: Final = 100

# An entry id; Redis' halves are 64-bit numbers, so at most 20 digits each (Node checks the
# digits only, and Redis refuses the longer ones: the restore fails either way).
_OFFSET = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_TYPE = re.compile(r"0|[1-9][0-9]{0,8}")

_EPHEMERAL = frozenset({ClusterMessageType.SERVER_SIDE_EMIT, ClusterMessageType.FETCH_SOCKETS})


# -- names ------------------------------------------------------------------------------------


def _js_hash_code(text: str) -> int:
    """Java's ``String.hashCode`` as Node's util computes it: over UTF-16 code units, 32-bit
    signed."""
    units = text.encode("utf-16-le", "surrogatepass")
    value = 0
    for index in range(0, len(units), 2):
        value = (value * 31 + units[index] + (units[index + 1] << 8)) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _check_count(stream_count: int) -> None:
    if type(stream_count) is not int or stream_count < 1:
        raise LocalProtocolError(f"stream_count must be a positive int, not {stream_count!r}")


def stream_name_of(nsp: str, *, stream_name: str = STREAM_NAME, stream_count: int = 1) -> str:
    """The stream a namespace's messages go to (``computeStreamName`` in Node)."""
    _check_count(stream_count)
    if stream_count == 1:
        return stream_name
    code = _js_hash_code(nsp)
    # JavaScript's % keeps the sign of the dividend: "-2" is a stream name Node uses.
    index = abs(code) % stream_count
    return f"{stream_name}-{-index if code < 0 else index}"


def stream_names(*, stream_name: str = STREAM_NAME, stream_count: int = 1) -> list[str]:
    """The streams a server reads, one connection each (the negative names of
    :func:`stream_name_of` are in none of them: Node never reads those)."""
    _check_count(stream_count)
    if stream_count == 1:
        return [stream_name]
    return [f"{stream_name}-{index}" for index in range(stream_count)]


def public_channel(nsp: str, *, prefix: str = CHANNEL_PREFIX) -> str:
    """Where the ephemeral requests of a namespace are published; its subscriber count is the
    server count."""
    return f"{prefix}#{nsp}#"


def response_channel(nsp: str, uid: str, *, prefix: str = CHANNEL_PREFIX) -> str:
    """Where the answers to server ``uid``'s requests are published."""
    return f"{prefix}#{nsp}#{uid}#"


# -- messages: the stream ---------------------------------------------------------------------


def is_ephemeral(kind: int, data: Mapping[str, Any] | None) -> bool:
    """Whether Node sends this message over pub/sub rather than the stream: a broadcast with
    acks, a server-side emit, a fetch-sockets request. (Answers always go over pub/sub.)"""
    if kind == ClusterMessageType.BROADCAST:
        return data is not None and data.get("requestId") is not None
    return kind in _EPHEMERAL


def _encode_data(kind: int, data: Mapping[str, Any], only_plaintext: bool) -> str:
    if not only_plaintext and kind in MAY_CARRY_BINARY and has_binary(data):
        return base64.b64encode(pack(data)).decode("ascii")
    return to_json(data)


def entry_fields(
    uid: str,
    nsp: str,
    kind: int,
    data: Mapping[str, Any] | None = None,
    *,
    only_plaintext: bool = False,
) -> list[str]:
    """A message as the field/value list of its stream entry, in Node's order. Raises
    ``TypeError`` for data that JSON or MessagePack cannot hold."""
    fields = ["uid", uid, "nsp", nsp, "type", str(int(kind))]
    if data is not None:
        fields += ["data", _encode_data(kind, data, only_plaintext)]
    return fields


def xadd_command(
    stream: str,
    uid: str,
    nsp: str,
    kind: int,
    data: Mapping[str, Any] | None = None,
    *,
    max_len: int = MAX_LEN,
    only_plaintext: bool = False,
) -> list[str]:
    """``XADD`` of a message, trimmed as Node trims; the reply is its offset
    (:func:`offset_of_xadd_reply`)."""
    if type(max_len) is not int or max_len < 0:
        raise LocalProtocolError(f"max_len must be an int >= 0, not {max_len!r}")
    fields = entry_fields(uid, nsp, kind, data, only_plaintext=only_plaintext)
    return ["XADD", stream, "MAXLEN", "~", str(max_len), "*", *fields]


def xread_command(
    stream: str, offset: str = FIRST_OFFSET, *, count: int = READ_COUNT, block_ms: int = BLOCK_MS
) -> list[str]:
    """The reader's blocking ``XREAD``: from ``$`` first, then from the last id read. The
    reply is ``None`` when ``block_ms`` passed without an entry."""
    return ["XREAD", "COUNT", str(count), "BLOCK", str(block_ms), "STREAMS", stream, offset]


def xrange_command(stream: str, start: str, end: str = "+") -> list[str]:
    return ["XRANGE", stream, start, end]


def is_offset(value: object) -> bool:
    """Whether ``value`` is an entry id, the only offsets this adapter restores from."""
    return type(value) is str and _OFFSET.fullmatch(value) is not None


def next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (XRANGE's exclusive start, which Redis < 6.2 lacks)."""
    if not is_offset(offset):
        raise LocalProtocolError(f"not a stream entry id: {offset!r}")
    milliseconds, sequence = offset.split("-")
    return f"{milliseconds}-{int(sequence) + 1}"


def _text(value: object, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    raise RemoteProtocolError(f"{what} is not a string: {value!r:.80}")


def offset_of_xadd_reply(reply: object) -> str:
    """The id ``XADD`` answered: the offset of the message it added."""
    offset = _text(reply, "the XADD reply")
    if not is_offset(offset):
        raise RemoteProtocolError(f"the XADD reply is not an entry id: {offset!r:.80}")
    return offset


@final
@attrs.frozen
class StreamEntry:
    """One entry of the stream: its id (the offset) and its fields, as read."""

    id: str
    fields: Mapping[str, str]


def _entry(item: object) -> StreamEntry:
    if not isinstance(item, (list, tuple)) or len(item) != 2:
        raise RemoteProtocolError(f"a stream entry is [id, fields], not {item!r:.80}")
    raw_id, raw_fields = item
    entry_id = _text(raw_id, "an entry id")
    if not is_offset(entry_id):
        raise RemoteProtocolError(f"not an entry id: {entry_id!r:.80}")
    if isinstance(raw_fields, Mapping):  # a client that made a dict of the pairs already
        pairs: Iterable[tuple[object, object]] = raw_fields.items()
    elif isinstance(raw_fields, (list, tuple)) and len(raw_fields) % 2 == 0:
        pairs = zip(raw_fields[::2], raw_fields[1::2], strict=True)
    else:
        raise RemoteProtocolError(f"an entry's fields are name/value pairs: {raw_fields!r:.80}")
    # The last of two equal names wins, as in Node's object.
    fields = {_text(name, "a field name"): _text(value, "a field value") for name, value in pairs}
    return StreamEntry(entry_id, fields)


def entries_of_xrange_reply(reply: object) -> list[StreamEntry]:
    """The entries of an ``XRANGE`` reply (RESP2 ``[[id, [name, value, ...]], ...]``; fields
    as a mapping are accepted too). :class:`RemoteProtocolError` if it has another shape."""
    if not isinstance(reply, (list, tuple)):
        raise RemoteProtocolError(f"an XRANGE reply is a list of entries, not {reply!r:.80}")
    return [_entry(item) for item in reply]


def entries_of_xread_reply(reply: object) -> list[StreamEntry]:
    """The entries of an ``XREAD`` reply, all streams in order; ``[]`` for a timeout (``None``).
    The reader goes on from the last one's id, whether or not its message decodes."""
    if reply is None:
        return []
    if isinstance(reply, Mapping):  # RESP3, or a client that made a dict of it
        streams: Sequence[object] = list(reply.items())
    elif isinstance(reply, (list, tuple)):
        streams = reply
    else:
        raise RemoteProtocolError(f"an XREAD reply is a list of streams, not {reply!r:.80}")
    entries: list[StreamEntry] = []
    for stream in streams:
        if not isinstance(stream, (list, tuple)) or len(stream) != 2:
            raise RemoteProtocolError(
                f"a stream of an XREAD reply is [name, entries]: {stream!r:.80}"
            )
        entries += entries_of_xrange_reply(stream[1])
    return entries


def _decode_data(text: str) -> dict[str, Any]:
    if text.startswith("{"):
        value = decode_message(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError as error:
            raise RemoteProtocolError(f"data is neither JSON nor base64: {error}") from None
        value = unpack(raw)
    if not isinstance(value, dict):
        raise RemoteProtocolError(f"a message's data is an object, not {value!r:.80}")
    return value


def decode_entry(entry: StreamEntry) -> dict[str, Any] | None:
    """The message of an entry, ``{uid, nsp, type, data?}`` as the sharded adapter's (``type``
    an int, ``data`` decoded), or ``None`` for an entry without ``nsp`` (Node skips those).
    :class:`RemoteProtocolError` for a malformed one (Node ignores it; the reader goes on)."""
    fields = entry.fields
    nsp = fields.get("nsp")
    if not nsp:
        return None
    uid, kind = fields.get("uid"), fields.get("type")
    if uid is None:
        raise RemoteProtocolError(f"entry {entry.id} has no uid")
    if kind is None or _TYPE.fullmatch(kind) is None:
        raise RemoteProtocolError(f"entry {entry.id} has no message type: {kind!r:.40}")
    message: dict[str, Any] = {"uid": uid, "nsp": nsp, "type": int(kind)}
    data = fields.get("data")
    if data:
        message["data"] = _decode_data(data)
    return message


# -- messages: pub/sub ------------------------------------------------------------------------


def pubsub_message(uid: str, nsp: str, kind: int, data: Mapping[str, Any] | None = None) -> bytes:
    """An ephemeral message or an answer, as Node publishes it: MessagePack of
    ``{type, data, uid, nsp}``."""
    message: dict[str, Any] = {"type": int(kind)}
    if data is not None:
        message["data"] = data
    message["uid"] = uid
    message["nsp"] = nsp
    return pack(message)


def decode_pubsub_message(payload: bytes) -> dict[str, Any]:
    """A message read on ``P#N#`` or ``P#N#<uid>#``. :class:`RemoteProtocolError` unless it is
    MessagePack of ``{type: int, uid: str, nsp: str, data?: object}``."""
    message = unpack(payload)
    if not isinstance(message, dict):
        raise RemoteProtocolError(f"a cluster message is an object, not {message!r:.80}")
    kind = message.get("type")
    if type(kind) is not int:
        raise RemoteProtocolError(f"a cluster message's type is a number, not {kind!r:.40}")
    for key in ("uid", "nsp"):
        if type(message.get(key)) is not str:
            raise RemoteProtocolError(f"a cluster message's {key} is a string")
    if not isinstance(message.get("data", {}), dict):
        raise RemoteProtocolError("a cluster message's data is an object")
    return message


# -- connection state recovery ----------------------------------------------------------------


def takes_offset(data: Mapping[str, Any]) -> bool:
    """Whether a BROADCAST's packet gets its offset appended to its arguments (when recovery
    is on), sent or received: an EVENT without an ack id, flags without ``volatile``."""
    packet, opts = data.get("packet"), data.get("opts")
    if data.get("requestId") is not None or not isinstance(packet, dict):
        return False
    if packet.get("type") != 2 or "id" in packet or not isinstance(packet.get("data"), list):
        return False
    flags = opts.get("flags") if isinstance(opts, dict) else None
    return not (isinstance(flags, dict) and "volatile" in flags)


@final
@attrs.frozen(kw_only=True)
class PersistedSession:
    """What a socket leaves under ``sio:session:<pid>`` (Node's ``{sid, pid, rooms, data}``)."""

    sid: str
    pid: str
    rooms: tuple[Room, ...]
    data: Any = None


def session_key(pid: str, *, prefix: str = SESSION_KEY_PREFIX) -> str:
    return prefix + pid


def encode_session(session: PersistedSession) -> str:
    """The session as Node stores it: base64 of the MessagePack of ``{sid, pid, rooms, data}``.
    ``TypeError`` for data MessagePack cannot hold."""
    value = {
        "sid": session.sid,
        "pid": session.pid,
        "rooms": list(session.rooms),
        "data": session.data,
    }
    return base64.b64encode(pack(value)).decode("ascii")


def decode_session(value: bytes | str) -> PersistedSession:
    """A stored session. :class:`RemoteProtocolError` if it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as error:
        raise RemoteProtocolError(f"a stored session is base64: {error}") from None
    session = unpack(raw)
    if not isinstance(session, dict):
        raise RemoteProtocolError(f"a stored session is an object, not {session!r:.80}")
    sid, pid, rooms = session.get("sid"), session.get("pid"), session.get("rooms")
    if type(sid) is not str or type(pid) is not str or not isinstance(rooms, list):
        raise RemoteProtocolError("a stored session has a sid, a pid and a list of rooms")
    return PersistedSession(
        sid=sid, pid=pid, rooms=rooms_from_wire(rooms, "session rooms"), data=session.get("data")
    )


def persist_session_command(
    session: PersistedSession,
    *,
    expiry_ms: int = SESSION_EXPIRY_MS,
    prefix: str = SESSION_KEY_PREFIX,
) -> list[str]:
    """``SET`` of a session, expiring after ``expiry_ms`` (the recovery window)."""
    if type(expiry_ms) is not int or expiry_ms < 1:
        raise LocalProtocolError(f"expiry_ms must be a positive int, not {expiry_ms!r}")
    key = session_key(session.pid, prefix=prefix)
    return ["SET", key, encode_session(session), "PX", str(expiry_ms)]


def restore_commands(
    pid: str, offset: str, *, stream: str = STREAM_NAME, prefix: str = SESSION_KEY_PREFIX
) -> list[list[str]]:
    """The first round of a restore, as Node sends it: take the session (``MULTI``, ``GET``,
    ``DEL``, ``EXEC``: read :func:`session_of_exec_reply` from the last reply) and check that
    the offset is still in the stream (``XRANGE`` of it alone: an empty reply fails the
    restore). Then ``xrange_command(stream, next_offset(last id))`` until an empty reply, at
    most :data:`RESTORE_MAX_XRANGE_CALLS` times, each reply through :func:`missed_packets`.
    Check the client's offset with :func:`is_offset` first (Node: "invalid offset")."""
    if not is_offset(offset):
        raise LocalProtocolError(f"not a stream entry id: {offset!r}")
    key = session_key(pid, prefix=prefix)
    return [["MULTI"], ["GET", key], ["DEL", key], ["EXEC"], xrange_command(stream, offset, offset)]


def session_of_exec_reply(reply: object) -> PersistedSession | None:
    """The session taken by ``MULTI / GET / DEL / EXEC``, or ``None`` if there was none (never
    stored, expired, or taken already)."""
    if not isinstance(reply, (list, tuple)) or len(reply) != 2:
        raise RemoteProtocolError(f"the EXEC reply of GET and DEL has two items: {reply!r:.80}")
    value = reply[0]
    if value is None:
        return None
    if not isinstance(value, (bytes, str)):
        raise RemoteProtocolError(f"a stored session is a string, not {value!r:.80}")
    return decode_session(value)


def missed_packets(
    entries: Iterable[StreamEntry], nsp: str, rooms: Sequence[Room], *, volatile: bool = True
) -> list[list[Any]]:
    """The packets a session in ``rooms`` missed among ``entries`` (in order), each an event's
    ``[name, *args, offset]``. :class:`RemoteProtocolError` (the restore fails) for a malformed
    broadcast of the namespace. Node's filter replays volatile broadcasts too; ``volatile=False``
    leaves them out, as a server with one process never keeps them."""
    missed: list[list[Any]] = []
    for entry in entries:
        if entry.fields.get("nsp") != nsp or entry.fields.get("type") != "3":
            continue
        message = decode_entry(entry)
        data = None if message is None else message.get("data")
        packet, opts = (None, None) if data is None else (data.get("packet"), data.get("opts"))
        if (
            not isinstance(packet, dict)
            or not isinstance(packet.get("data"), list)
            or not isinstance(opts, dict)
        ):
            raise RemoteProtocolError(f"entry {entry.id}: a broadcast is {{packet, opts}}")
        flags = opts.get("flags")
        if not volatile and isinstance(flags, dict) and flags.get("volatile") is True:
            continue
        targets = rooms_from_wire(opts.get("rooms"), "opts.rooms")
        excluded = rooms_from_wire(opts.get("except"), "opts.except")
        included = not targets or any(room in targets for room in rooms)
        if included and not any(room in excluded for room in rooms):
            missed.append([*packet["data"], entry.id])
    return missed
