"""Socket.IO protocol v5: the packet codec of the default parser (``socket.io-parser``).

A packet is written as one text message, followed by its binary attachments::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

``2["foo"]``, ``2/admin,["bar"]``, ``212["foo"]``, ``3/admin,13["bar"]``, ``1/admin,``.
The namespace is written only when it is not ``"/"``. An EVENT or ACK whose data holds
``bytes`` is sent as BINARY_EVENT / BINARY_ACK: each ``bytes`` becomes
``{"_placeholder":true,"num":<i>}`` and travels as its own binary message, in order.

Each Socket.IO message rides in an Engine.IO ``message`` packet; that prefix is not added here.

:class:`SioPacket` is the value both directions share: a decoded BINARY_EVENT comes back as an
EVENT with its ``bytes`` in place, and encoding an EVENT with ``bytes`` inside chooses the
binary form by itself. Bad input from a peer raises :class:`RemoteProtocolError`; a packet the
host builds wrongly raises :class:`LocalProtocolError` when it is built.
"""

from __future__ import annotations

import datetime
import enum
import json
import json.encoder
from collections.abc import Callable
from typing import Any, TypeAlias

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._slots import new, slot_setters

__all__ = [
    "MAX_ACK_ID",
    "RESERVED_EVENTS",
    "SioData",
    "SioDecoder",
    "SioPacket",
    "SioPacketType",
    "encode_event",
    "encode_sio_packet",
]

#: JSON-like data: None, bool, int, float, str, bytes, and lists / str-keyed dicts of those.
SioData: TypeAlias = Any

#: Event names the reference implementation refuses (listeners of its own).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

#: The largest ack id: JavaScript numbers stay exact up to 2**53 - 1.
MAX_ACK_ID = 2**53 - 1
_MAX_ACK_ID_DIGITS = len(str(MAX_ACK_ID))


class SioPacketType(enum.IntEnum):
    """The Socket.IO packet types; the value is the digit written on the wire.

    BINARY_EVENT and BINARY_ACK exist only on the wire: a :class:`SioPacket` built with one of
    them is stored as EVENT / ACK, and the encoder picks the binary form from the data.
    """

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_CONNECT = SioPacketType.CONNECT
_DISCONNECT = SioPacketType.DISCONNECT
_EVENT = SioPacketType.EVENT
_ACK = SioPacketType.ACK
_CONNECT_ERROR = SioPacketType.CONNECT_ERROR
_BINARY_EVENT = SioPacketType.BINARY_EVENT
_BINARY_ACK = SioPacketType.BINARY_ACK
_TYPE_BY_CHAR = {str(int(t)): t for t in SioPacketType}
_TEXT_FORM = {_BINARY_EVENT: _EVENT, _BINARY_ACK: _ACK}
_BINARY_FORM = {_EVENT: "5", _ACK: "6"}
_TYPE_CHARS = "0123456"
_MISSING: Any = object()  # "no payload", which JSON null is not


def _data_error(packet_type: SioPacketType, data: Any) -> str | None:
    """Why ``data`` (``_MISSING`` when absent) cannot be the payload of that type, or None."""
    if packet_type is _EVENT:
        if type(data) is not list or not data:
            return "an EVENT payload must be a non-empty array"
        name = data[0]
        if type(name) is str:
            if name in RESERVED_EVENTS:
                return f"{name!r} is a reserved event name"
            return None
        if type(name) is int or (type(name) is float and name - name == 0.0):
            return None
        return "an event name must be a string or a finite number"
    if packet_type is _ACK:
        return None if type(data) is list else "an ACK payload must be an array"
    if packet_type is _CONNECT:
        if data is _MISSING or type(data) is dict:
            return None
        return "a CONNECT payload must be an object, if present"
    if packet_type is _DISCONNECT:
        return None if data is _MISSING else "a DISCONNECT packet has no payload"
    if type(data) is dict or type(data) is str:
        return None
    return "a CONNECT_ERROR payload must be an object or a string"


def _id_error(packet_type: SioPacketType, ack_id: int | None) -> str | None:
    if ack_id is None:
        return "an ACK packet needs an ack id" if packet_type is _ACK else None
    if packet_type is not _EVENT and packet_type is not _ACK:
        return f"a {packet_type.name} packet cannot carry an ack id"
    if ack_id > MAX_ACK_ID:
        return f"ack id {ack_id} is above {MAX_ACK_ID}"
    return None


def _is_utf8_safe(text: str) -> bool:
    """Whether ``text`` can go out as UTF-8: it holds no lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _to_packet_type(value: object) -> SioPacketType:
    if type(value) is not SioPacketType:
        if type(value) is not int or not 0 <= value <= 6:
            raise LocalProtocolError(
                f"a Socket.IO packet type must be a SioPacketType, not {value!r}"
            )
        value = SioPacketType(value)
    return _TEXT_FORM.get(value, value)


@attrs.frozen(kw_only=True, init=False)
class SioPacket:
    """One Socket.IO packet, binary attachments included.

    * ``type``: CONNECT, DISCONNECT, EVENT, ACK or CONNECT_ERROR (the BINARY forms are
      accepted and stored as EVENT / ACK).
    * ``nsp``: the namespace, starting with ``"/"``, without a comma.
    * ``data``: the payload, ``None`` when absent. EVENT: a non-empty list whose first item
      is the event name (a str that is not in :data:`RESERVED_EVENTS`, or a number); ACK: a
      list; CONNECT: a dict or None; DISCONNECT: None; CONNECT_ERROR: a dict or a str.
      ``bytes`` may appear anywhere inside an EVENT or ACK payload.
    * ``id``: the ack id, 0 to :data:`MAX_ACK_ID`: optional for EVENT, required for ACK,
      absent otherwise.
    """

    type: SioPacketType
    nsp: str = "/"
    data: SioData = None
    id: int | None = None

    def __init__(
        self, *, type: SioPacketType, nsp: str = "/", data: SioData = None, id: int | None = None
    ) -> None:
        if type.__class__ is not SioPacketType or type > _CONNECT_ERROR:
            type = _to_packet_type(type)
        if nsp != "/":
            _check_nsp(nsp)
        if id is not None and (id.__class__ is not int or id < 0):
            raise LocalProtocolError(f"an ack id must be a non-negative int, not {id!r}")
        error = _id_error(type, id) or _data_error(type, _MISSING if data is None else data)
        if error is not None:
            raise LocalProtocolError(error)
        _set_type(self, type)
        _set_nsp(self, nsp)
        _set_data(self, data)
        _set_id(self, id)


def _check_nsp(nsp: Any) -> None:
    """Refuse a namespace (other than ``"/"``) that cannot be written in a packet."""
    if nsp.__class__ is not str or nsp[:1] != "/" or "," in nsp or not _is_utf8_safe(nsp):
        # A namespace is written raw, unlike JSON, so it must be valid Unicode already.
        raise LocalProtocolError(
            "a namespace must be a str starting with '/', without ',' or lone surrogates,"
            f" not {nsp!r}"
        )


# Writing through the slot descriptors costs a third less than attrs' frozen-class
# object.__setattr__, on a path taken for every packet.
_set_type, _set_nsp, _set_data, _set_id = slot_setters(SioPacket)


def _new_packet(packet_type: SioPacketType, nsp: str, data: Any, ack_id: int | None) -> SioPacket:
    # The decoder has checked everything already: skip the constructor (h11's `_parsed=True`).
    packet = new(SioPacket)
    _set_type(packet, packet_type)
    _set_nsp(packet, nsp)
    _set_data(packet, data)
    _set_id(packet, ack_id)
    return packet


# ---------------------------------------------------------------------------------------------
# Encoding

_Dumps: TypeAlias = Callable[[Any], str]
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def _make_dumps(*, ascii_only: bool, default: Callable[[Any], Any], use_c: bool) -> _Dumps:
    """A compact ``json.dumps``, like ``JSON.stringify``, that raises on NaN and infinities.

    Calling the C encoder directly skips ``json.dumps``' per-call set-up, about half the cost
    of encoding a small event. ``use_c`` is False only where ``_json`` is missing (and in the
    test of that fallback).
    """
    if use_c:
        escape = (
            json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
        )
        encoder = _c_make_encoder(None, default, escape, None, ":", ",", False, False, False)

        def dumps(data: Any) -> str:
            return "".join(encoder(data, 0))

        return dumps
    py_encoder = json.JSONEncoder(
        ensure_ascii=ascii_only,
        check_circular=False,
        allow_nan=False,
        separators=(",", ":"),
        default=default,
    )
    return py_encoder.encode


def js_date(value: datetime.datetime) -> str:
    """``value`` as ``Date.prototype.toJSON`` writes it: ``2026-12-01T04:55:13.975Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def _not_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        # A Date from a Node peer (through the cluster) reaches clients as JSON.stringify
        # writes it; so does a datetime of the application's.
        return js_date(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_HAS_C_ENCODER = _c_make_encoder is not None
_dumps = _make_dumps(ascii_only=False, default=_not_json, use_c=_HAS_C_ENCODER)
_NO_ATTACHMENTS: list[bytes] = []


def _finite(data: Any) -> Any:
    """A copy of ``data`` with NaN and infinities as None, which is what JSON.stringify writes.
    Iterative, as a peer chooses the depth of what a handler may send back."""
    # (value, the copy that holds it, where): each copy is made, then filled, top down.
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(data, root, 0)]
    while stack:
        value, parent, key = stack.pop()
        if isinstance(value, float):
            parent[key] = value if value - value == 0.0 else None
        elif isinstance(value, (list, tuple)):
            copy: Any = [None] * len(value)
            parent[key] = copy
            stack.extend((item, copy, index) for index, item in enumerate(value))
        elif isinstance(value, dict):
            copy = dict.fromkeys(value)
            parent[key] = copy
            stack.extend((item, copy, name) for name, item in value.items())
        else:
            parent[key] = value
    return root[0]


def _dumps_slowly(data: Any, *, binary: bool, ascii_only: bool) -> tuple[str, list[bytes]]:
    """Dump ``data`` the hard way: each bytes-like replaced by a placeholder (when ``binary``),
    numbered in the order JSON meets them, depth first, as ``deconstructPacket`` does; NaN
    and infinities written as null."""
    attachments: list[bytes] = []

    def extract(value: Any) -> Any:
        if not binary or not isinstance(value, (bytes, bytearray, memoryview)):
            return _not_json(value)
        attachments.append(value if type(value) is bytes else bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}

    dumps = _make_dumps(ascii_only=ascii_only, default=extract, use_c=_HAS_C_ENCODER)
    try:
        try:
            return dumps(data), attachments
        except ValueError:
            attachments.clear()
            return dumps(_finite(data)), attachments
    except RecursionError:
        raise ValueError("data nested too deeply to be encoded") from None


def encode_sio_packet(packet: SioPacket) -> list[str | bytes]:
    """The messages for ``packet``: one text message, then its binary attachments in order.

    A text EVENT costs one JSON dump and a concatenation. Binary data is found by that dump
    failing on ``bytes``, so data without binary is never walked twice. NaN and infinities
    are written as ``null``, as ``JSON.stringify`` does; other data that JSON cannot hold
    (a set, bytes outside an EVENT or ACK, a bytes key) raises ``TypeError``, and data nested
    too deeply for the encoder raises ``ValueError``.
    """
    return _encode(packet.type, packet.nsp, packet.data, packet.id)


def encode_event(nsp: str, data: list[Any]) -> list[str | bytes]:
    """``encode_sio_packet(SioPacket(type=EVENT, nsp=nsp, data=data))``, the same checks
    and messages without the packet object: a server's broadcasts, once per event."""
    if nsp != "/":
        _check_nsp(nsp)
    error = _data_error(_EVENT, data)
    if error is not None:
        raise LocalProtocolError(error)
    return _encode(_EVENT, nsp, data, None)


def _encode(
    packet_type: SioPacketType, nsp: str, data: SioData, ack_id: int | None
) -> list[str | bytes]:
    if data is None:
        payload = ""
        attachments = _NO_ATTACHMENTS
    else:
        binary = packet_type is _EVENT or packet_type is _ACK
        # Binary arguments at the top level are the common binary case: seen for the price
        # of a look at each argument, they skip the one dump that would fail on them.
        if binary and bytes in map(type, data):
            payload, attachments = _dumps_slowly(data, binary=True, ascii_only=False)
        else:
            try:
                payload = _dumps(data)
                attachments = _NO_ATTACHMENTS
            except (TypeError, ValueError, RecursionError):
                payload, attachments = _dumps_slowly(data, binary=binary, ascii_only=False)
        if not _is_utf8_safe(payload):
            # A peer can send lone surrogates through JSON escapes ("\ud800"); written raw
            # they would make the frame unsendable, so the payload is dumped again with
            # escapes, as JSON.stringify does.
            payload, attachments = _dumps_slowly(data, binary=binary, ascii_only=True)
    if attachments:
        head = f"{_BINARY_FORM[packet_type]}{len(attachments)}-"
    else:
        head = _TYPE_CHARS[packet_type]
    if nsp != "/":
        head += nsp + ","
    if ack_id is not None:
        head += str(ack_id)
    if attachments:
        return [head + payload, *attachments]
    return [head + payload]


# ---------------------------------------------------------------------------------------------
# Decoding


def _refuse_constant(name: str) -> Any:
    raise RemoteProtocolError(f"invalid JSON payload: {name} is not JSON")


# parse_float stays the C fast path: 1e400 becomes inf, as in JavaScript, and goes back out
# as null. Only the NaN / Infinity literals, which JSON.parse refuses, are refused here.
_json_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
_scan_once: Callable[[str, int], tuple[Any, int]] = _json_decoder.scan_once  # type: ignore[attr-defined]
_DIGITS = "0123456789"
# Enough digits to read any count and say "too many"; bounds the scan of a hostile header.
_MAX_COUNT_DIGITS = 16

# A placeholder found in a binary packet: (container, key or index, attachment number).
_Slot: TypeAlias = tuple[Any, Any, int]


def _find_placeholders(data: list[Any], count: int) -> list[_Slot]:
    """Where the ``count`` attachments go in ``data``. Every number must be in range and
    every attachment used. Iterative, as a peer chooses the depth."""
    slots: list[_Slot] = []
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = enumerate(node) if type(node) is list else node.items()
        for key, value in items:
            if type(value) is list:
                stack.append(value)
            elif type(value) is dict:
                if value.get("_placeholder") is not True:
                    stack.append(value)
                    continue
                num = value.get("num")
                if type(num) is not int or not 0 <= num < count:
                    raise RemoteProtocolError(
                        f"placeholder refers to attachment {num!r}, "
                        f"but the packet has {count} attachment(s)"
                    )
                slots.append((node, key, num))
    unused = set(range(count)).difference(slot[2] for slot in slots)
    if unused:
        raise RemoteProtocolError(f"attachment(s) {sorted(unused)} never referred to")
    return slots


class SioDecoder:
    """Turns the messages of one connection back into packets, one message at a time.

    :meth:`feed` returns a :class:`SioPacket` when a packet is complete, ``None`` while a
    binary packet awaits its attachments. Any violation raises :class:`RemoteProtocolError`
    and leaves the decoder empty (the connection is going to be closed anyway).
    """

    def __init__(self, *, max_attachments: int = 10) -> None:
        if type(max_attachments) is not int or max_attachments < 0:
            raise LocalProtocolError(
                f"max_attachments must be a non-negative int, not {max_attachments!r}"
            )
        self.max_attachments = max_attachments
        self._header: SioPacket | None = None
        self._slots: list[_Slot] = []
        self._expected = 0
        self._attachments: list[bytes] = []

    @property
    def awaited_attachments(self) -> int:
        """How many binary messages the pending packet still awaits (0 when none)."""
        return self._expected - len(self._attachments)

    def reset(self) -> None:
        """Drop a half-received binary packet."""
        self._header = None
        self._slots = []
        self._expected = 0
        self._attachments = []

    def feed(self, message: str | bytes) -> SioPacket | None:
        """Take one message (the data of one Engine.IO ``message`` packet)."""
        if isinstance(message, str):
            if self._header is not None:
                awaited = self.awaited_attachments
                self.reset()
                raise RemoteProtocolError(
                    f"got a text packet while {awaited} binary attachment(s) were awaited"
                )
            try:
                return self._decode_text(message)
            except RecursionError:
                # Too deep for the JSON parser: refused, as anything else we cannot parse.
                raise RemoteProtocolError("invalid JSON payload: nested too deeply") from None
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise LocalProtocolError(f"a message is str or bytes, not {type(message).__name__}")
        header = self._header
        if header is None:
            raise RemoteProtocolError("got binary data while no binary packet was awaited")
        self._attachments.append(bytes(message))
        if len(self._attachments) < self._expected:
            return None
        for container, key, num in self._slots:
            container[key] = self._attachments[num]
        self.reset()
        return header

    def _decode_text(self, text: str) -> SioPacket | None:
        if text[:2] == "2[":
            # An EVENT of "/" without ack id, the commonest packet: the checks that apply to
            # it, and nothing else. Anything wrong is left to the general path below, which
            # says what.
            try:
                data, stop = _scan_once(text, 1)
            except (StopIteration, ValueError):
                pass
            else:
                if stop == len(text) and _data_error(_EVENT, data) is None:
                    return _new_packet(_EVENT, "/", data, None)
        end = len(text)
        if not end:
            raise RemoteProtocolError("empty Socket.IO packet")
        packet_type = _TYPE_BY_CHAR.get(text[0])
        if packet_type is None:
            raise RemoteProtocolError(f"unknown Socket.IO packet type {text[:1]!r}")
        i = 1
        count = 0
        if packet_type is _BINARY_EVENT or packet_type is _BINARY_ACK:
            while i < end and i <= _MAX_COUNT_DIGITS and text[i] in _DIGITS:
                i += 1
            if i == 1 or text[i : i + 1] != "-":
                raise RemoteProtocolError(
                    "a binary packet needs its attachment count (decimal digits), then '-'"
                )
            count = int(text[1:i])
            if not 1 <= count <= self.max_attachments:
                raise RemoteProtocolError(
                    f"{text[1:i]} attachments: allowed from 1 to {self.max_attachments}"
                )
            i += 1
            packet_type = _TEXT_FORM[packet_type]

        nsp = "/"
        if i < end and text[i] == "/":
            comma = text.find(",", i)
            if comma < 0:
                # "40/chat" (no trailing comma) is what the reference test suite sends.
                nsp = text[i:]
                i = end
            else:
                nsp = text[i:comma]
                i = comma + 1
            if not _is_utf8_safe(nsp):
                # No wire can carry it (the text would not be UTF-8), and no reply could name it.
                raise RemoteProtocolError("a namespace with a lone surrogate")

        ack_id = None
        if i < end and text[i] in _DIGITS:
            start = i
            limit = min(end, start + _MAX_ACK_ID_DIGITS + 1)
            while i < limit and text[i] in _DIGITS:
                i += 1
            ack_id = int(text[start:i])
            if ack_id > MAX_ACK_ID:
                raise RemoteProtocolError(f"ack id {text[start:i]!r} is above {MAX_ACK_ID}")

        data = _MISSING
        if i < end:
            try:
                data, stop = _scan_once(text, i)
            except StopIteration as stop_at:  # no JSON value where one must start
                where = stop_at.value
                raise RemoteProtocolError(
                    f"invalid JSON payload: expecting a value at index {where}: "
                    f"{text[where : where + 20]!r}"
                ) from None
            except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
                raise RemoteProtocolError(f"invalid JSON payload: {exc}") from None
            if stop != end:
                raise RemoteProtocolError(f"trailing data after the JSON payload at index {stop}")

        error = _id_error(packet_type, ack_id) or _data_error(packet_type, data)
        if error is not None:
            raise RemoteProtocolError(error)
        if data is _MISSING:
            data = None
        packet = _new_packet(packet_type, nsp, data, ack_id)
        if not count:
            return packet
        self._slots = _find_placeholders(data, count)
        self._header = packet
        self._expected = count
        return None
