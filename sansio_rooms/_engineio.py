"""Engine.IO protocol v4: the packet codec, for WebSocket frames and long-polling payloads.

Pure functions, no connection state: the server machine decides *when* to send what, this
module only says how it looks on the wire.

* WebSocket: one packet per frame. A text frame is ``<type><data>`` (``"4hello"``, ``"2probe"``,
  ``"6"``); a binary frame is the raw bytes of a ``message`` packet, with no type prefix.
* HTTP long-polling: packets joined by the record separator ``"\\x1e"``; a binary ``message``
  is ``"b"`` + base64 (``"4hello\\x1ebAQIDBA=="``).

Whatever a peer sends is either decoded or refused with :class:`RemoteProtocolError`; a packet
the host builds wrongly is refused with :class:`LocalProtocolError` when it is built.
"""

from __future__ import annotations

import binascii
import enum
import json
from collections.abc import Sequence

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._slots import new, slot_setters

__all__ = [
    "RECORD_SEPARATOR",
    "EioPacket",
    "EioPacketType",
    "HttpError",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
    "handshake_packet",
    "http_error_body",
]

RECORD_SEPARATOR = "\x1e"


class EioPacketType(enum.IntEnum):
    """The seven Engine.IO packet types; the value is the digit written on the wire."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_CHARS = "0123456"
_TYPE_BY_CHAR = {str(int(t)): t for t in EioPacketType}
_MESSAGE = EioPacketType.MESSAGE


def _to_packet_type(value: object) -> EioPacketType:
    # Only called for what is not an EioPacketType already.
    if type(value) is int and 0 <= value <= 6:
        return EioPacketType(value)
    raise LocalProtocolError(f"an Engine.IO packet type must be an EioPacketType, not {value!r}")


def _to_data(value: object) -> str | bytes | None:
    # The uncommon inputs; "" and None are one value, as they encode to the same frame ("4").
    if value is None:
        return None
    if isinstance(value, str):
        # A subclass (a StrEnum member, say) is stored as the plain value, so that equality
        # and hashing do not depend on it.
        return str.__str__(value) or None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise LocalProtocolError(f"Engine.IO packet data must be str, bytes or None, not {value!r}")


@attrs.frozen(kw_only=True, init=False)
class EioPacket:
    """One Engine.IO packet.

    ``data`` is ``None`` when the packet has no payload (an empty string is stored as ``None``,
    since the wire cannot tell them apart). Only a ``MESSAGE`` may carry ``bytes``.
    """

    type: EioPacketType
    data: str | bytes | None = None

    def __init__(self, *, type: EioPacketType, data: str | bytes | None = None) -> None:
        if type.__class__ is not EioPacketType:
            type = _to_packet_type(type)
        kind = data.__class__
        if kind is str:
            if not data:
                data = None
        elif kind is bytes:
            if type is not _MESSAGE:
                raise _binary_refused(type)
        else:
            data = _to_data(data)
            if data.__class__ is bytes and type is not _MESSAGE:
                raise _binary_refused(type)
        _set_type(self, type)
        _set_data(self, data)


def _binary_refused(packet_type: EioPacketType) -> LocalProtocolError:
    return LocalProtocolError(
        f"only a MESSAGE packet may carry binary data, not {packet_type.name}"
    )


# Writing through the slot descriptors costs a third less than attrs' frozen-class
# object.__setattr__, on a path taken for every frame.
_set_type, _set_data = slot_setters(EioPacket)


def _new_packet(packet_type: EioPacketType, data: str | bytes | None) -> EioPacket:
    # Decoded input is already checked: skip the constructor's checks (h11's `_parsed=True`).
    packet = new(EioPacket)
    _set_type(packet, packet_type)
    _set_data(packet, data)
    return packet


def encode_packet(packet: EioPacket) -> str | bytes:
    """The WebSocket frame for ``packet``: ``str`` for a text frame, ``bytes`` for a binary one."""
    data = packet.data
    if data is None:
        return _TYPE_CHARS[packet.type]
    if isinstance(data, bytes):
        return data
    return _TYPE_CHARS[packet.type] + data


def _decode_text(text: str, start: int, end: int) -> EioPacket:
    if start == end:
        raise RemoteProtocolError("empty Engine.IO packet")
    packet_type = _TYPE_BY_CHAR.get(text[start])
    if packet_type is None:
        raise RemoteProtocolError(f"unknown Engine.IO packet type {text[start]!r}")
    return _new_packet(packet_type, text[start + 1 : end] or None)


def decode_packet(frame: str | bytes) -> EioPacket:
    """Decode one WebSocket frame: text is ``<type><data>``, binary is a ``MESSAGE``.

    A text frame starting with ``b`` is refused: base64 belongs to long-polling payloads only,
    and a WebSocket peer sends binary as a binary frame.
    """
    if isinstance(frame, str):
        return _decode_text(frame, 0, len(frame))
    return _new_packet(_MESSAGE, bytes(frame))


def b64encode_stdlib(data: bytes) -> str:
    """Base64 with the standard library (C, about 1 GB/s)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64decode_stdlib(text: str) -> bytes:
    """Strict base64 with the standard library.

    ``strict_mode`` still takes padding past a complete quantum (``"AAAA="``); the length
    and padding checks refuse it, so that both decoders accept exactly the same inputs.
    """
    if len(text) % 4 or "=" in text[:-2]:
        raise ValueError("base64 length or padding is wrong")
    return binascii.a2b_base64(text, strict_mode=True)


def b64encode_fast(data: bytes) -> str:
    """Base64 with ``pybase64`` (SIMD, ~30 times faster): the ``speedups`` extra."""
    return _pybase64.b64encode(data).decode("ascii")


def b64decode_fast(text: str) -> bytes:
    """Strict base64 with ``pybase64``: accepts what :func:`b64decode_stdlib` accepts."""
    return _pybase64.b64decode(text, validate=True)


try:
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - which branch runs depends on the installed extras
    _pybase64 = None  # type: ignore[assignment]
    b64encode, b64decode = b64encode_stdlib, b64decode_stdlib
else:  # pragma: no cover - (the functions themselves are tested directly, both pairs)
    b64encode, b64decode = b64encode_fast, b64decode_fast


def _encode_for_polling(packet: EioPacket) -> str:
    data = packet.data
    if data is None:
        return _TYPE_CHARS[packet.type]
    if isinstance(data, bytes):
        return "b" + b64encode(data)
    if RECORD_SEPARATOR in data:
        raise LocalProtocolError(
            "a packet sent over long-polling must not contain the record separator \\x1e"
        )
    return _TYPE_CHARS[packet.type] + data


def encode_payload(packets: Sequence[EioPacket]) -> str:
    """The body of a long-polling response: the packets joined by ``"\\x1e"``.

    Binary messages become ``"b"`` + base64. A text packet containing ``"\\x1e"`` cannot be
    framed and raises :class:`LocalProtocolError`, as does an empty list of packets (the peer
    would read an empty body as an error).
    """
    if len(packets) == 1:
        return _encode_for_polling(packets[0])
    if not packets:
        raise LocalProtocolError("a long-polling payload needs at least one packet")
    parts = []
    for packet in packets:  # a plain loop: faster than a comprehension or map() on 3.11
        parts.append(_encode_for_polling(packet))
    return RECORD_SEPARATOR.join(parts)


def _utf8_length(text: str) -> int:
    if text.isascii():
        return len(text)
    # surrogatepass: a str body built by the host may hold lone surrogates; count, never fail.
    return len(text.encode("utf-8", "surrogatepass"))


def decode_payload(body: str | bytes, *, max_payload: int) -> list[EioPacket]:
    """Decode a long-polling request body into its packets.

    The size check (in UTF-8 bytes, against ``max_payload``) is made on the whole body before
    anything is parsed, so the outcome does not depend on how the body was chunked. An empty
    body, an empty packet (``"4a\\x1e\\x1e4b"``, or a trailing ``"\\x1e"``), an unknown type,
    bad base64 or invalid UTF-8 is a :class:`RemoteProtocolError`.
    """
    if isinstance(body, str):
        size = _utf8_length(body)
        text = body
    else:
        size = len(body)
    if size > max_payload:
        raise RemoteProtocolError(
            f"long-polling payload of {size} bytes exceeds maxPayload ({max_payload} bytes)"
        )
    if not isinstance(body, str):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"long-polling payload is not valid UTF-8: {exc}") from None
    if not text:
        raise RemoteProtocolError("empty long-polling payload")
    # find() is memchr-fast where split() walks the text a character at a time, and the
    # ranges let each packet's data be sliced out once.
    packets = []
    find = text.find
    start = 0
    while True:
        stop = find(RECORD_SEPARATOR, start)
        end = len(text) if stop < 0 else stop
        if text[start : start + 1] == "b":
            try:
                data = b64decode(text[start + 1 : end])
            except ValueError as exc:  # binascii.Error, or a non-ASCII character
                raise RemoteProtocolError(
                    f"invalid base64 in long-polling payload: {exc}"
                ) from None
            packets.append(_new_packet(_MESSAGE, data))
        else:
            packets.append(_decode_text(text, start, end))
        if stop < 0:
            return packets
        start = stop + 1


def _non_negative_int(name: str, value: object) -> int:
    if type(value) is not int or value < 0:
        raise LocalProtocolError(f"{name} must be a non-negative int, not {value!r}")
    return value


def handshake_packet(
    sid: str,
    upgrades: Sequence[str] = (),
    ping_interval_ms: int = 25000,
    ping_timeout_ms: int = 20000,
    max_payload: int = 1_000_000,
) -> EioPacket:
    """The ``open`` packet that answers a handshake.

    Its JSON has Node's key order and compact separators::

        0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,...}

    ``upgrades`` is ``["websocket"]`` for a long-polling session, ``[]`` for a WebSocket one.
    """
    if type(sid) is not str or not sid:
        raise LocalProtocolError(f"sid must be a non-empty str, not {sid!r}")
    if isinstance(upgrades, str) or any(type(u) is not str for u in upgrades):
        raise LocalProtocolError(f"upgrades must be a sequence of str, not {upgrades!r}")
    body = {
        "sid": sid,
        "upgrades": list(upgrades),
        "pingInterval": _non_negative_int("ping_interval_ms", ping_interval_ms),
        "pingTimeout": _non_negative_int("ping_timeout_ms", ping_timeout_ms),
        "maxPayload": _non_negative_int("max_payload", max_payload),
    }
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return _new_packet(EioPacketType.OPEN, data)


class HttpError(enum.IntEnum):
    """The error codes of an Engine.IO HTTP error response (the ``code`` of its JSON body)."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        """The reference server's message for this code, e.g. ``"Session ID unknown"``."""
        return _HTTP_ERROR_MESSAGES[self]

    @property
    def status(self) -> int:
        """The HTTP status the reference server answers with: 403 for FORBIDDEN, else 400."""
        return 403 if self is HttpError.FORBIDDEN else 400


_HTTP_ERROR_MESSAGES = {
    HttpError.UNKNOWN_TRANSPORT: "Transport unknown",
    HttpError.UNKNOWN_SID: "Session ID unknown",
    HttpError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    HttpError.BAD_REQUEST: "Bad request",
    HttpError.FORBIDDEN: "Forbidden",
    HttpError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def http_error_body(error: HttpError, message: str | None = None) -> str:
    """The JSON body of an HTTP error response: ``{"code":1,"message":"Session ID unknown"}``.

    ``message`` replaces the standard one, as the reference server does for a refusal with a
    reason (``allowRequest`` answering FORBIDDEN with a message).
    """
    error = HttpError(error)
    text = error.message if message is None else message
    return json.dumps({"code": int(error), "message": text}, separators=(",", ":"))
