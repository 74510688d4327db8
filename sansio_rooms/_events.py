"""Inputs to the engine as values, for hosts that prefer ``engine.handle(event)``.

Each event is frozen and validated when it is built: a bad room name, socket id or time
fails here, with :class:`InvalidRoomError` or :class:`LocalProtocolError`, before the engine
is touched. ``RoomEngine.handle`` dispatches on the event's type and returns the same outputs
as the matching ``Namespace`` method.
"""

from __future__ import annotations

from typing import Any, TypeAlias, final

import attrs

from ._acks import check_time
from ._errors import LocalProtocolError
from ._names import Room, normalize_namespace, normalize_room, normalize_rooms

__all__ = [
    "Accept",
    "Ack",
    "BeginDisconnect",
    "CloseRoom",
    "Connect",
    "Disconnect",
    "DisconnectSockets",
    "Emit",
    "EmitWithAck",
    "Event",
    "FinishDisconnect",
    "Join",
    "Leave",
    "Refuse",
    "SocketsJoin",
    "SocketsLeave",
    "TimePassed",
]


def _sid(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str or not value:
        raise LocalProtocolError(f"{attribute.name} must be a non-empty str, not {value!r}")


def _optional_sid(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _sid(instance, attribute, value)


def _optional_rooms(value: object) -> tuple[Room, ...] | None:
    return None if value is None else normalize_rooms(value)


def _optional_sids(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, bytearray, dict)) or not hasattr(value, "__iter__"):
        raise LocalProtocolError(f"sids must be an iterable of socket ids, not {value!r}")
    sids = tuple(value)
    for sid in sids:
        if type(sid) is not str:
            raise LocalProtocolError(f"a socket id must be a str, not {sid!r}")
    return sids


def _time(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_time(attribute.name, value)


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise LocalProtocolError(f"{attribute.name} must be a bool, not {value!r}")


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a str, not {value!r}")


def _ack_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int:
        raise LocalProtocolError(f"{attribute.name} must be an int, not {value!r}")


def _pending_needs_sid(instance: Any, _: attrs.Attribute[Any], value: bool) -> None:
    if value and instance.sid is None:
        raise LocalProtocolError("a pending Connect needs its sid (use engine.id_factory())")


def _nsp() -> Any:
    return attrs.field(default="/", converter=normalize_namespace)


# The selection fields are spelled out in each class (not made by a helper like ``_nsp``) so
# that type checkers see their converters: ``Emit(rooms=["a"])`` takes any iterable of rooms.


@final
@attrs.frozen(kw_only=True)
class Connect:
    """Register a socket (a new id unless ``sid`` is given); ``pending`` waits for Accept."""

    nsp: str = _nsp()
    sid: str | None = attrs.field(default=None, validator=_optional_sid)
    pending: bool = attrs.field(default=False, validator=[_flag, _pending_needs_sid])


@final
@attrs.frozen(kw_only=True)
class Accept:
    """A pending socket is accepted (its connect handler said yes)."""

    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)


@final
@attrs.frozen(kw_only=True)
class Refuse:
    """A pending socket is refused: it leaves its rooms and is forgotten."""

    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)


@final
@attrs.frozen(kw_only=True)
class Join:
    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)
    rooms: tuple[Room, ...] = attrs.field(converter=normalize_rooms)


@final
@attrs.frozen(kw_only=True)
class Leave:
    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)
    rooms: tuple[Room, ...] = attrs.field(converter=normalize_rooms)


@final
@attrs.frozen(kw_only=True)
class Emit:
    """A broadcast: see ``Namespace.emit`` for the selection rules."""

    nsp: str = _nsp()
    payload: Any
    rooms: tuple[Room, ...] | None = attrs.field(default=None, converter=_optional_rooms)
    except_: tuple[Room, ...] = attrs.field(default=(), converter=normalize_rooms)
    sids: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_sids)
    sender: str | None = attrs.field(default=None, validator=_optional_sid)
    volatile: bool = attrs.field(default=False, validator=_flag)
    compress: bool = attrs.field(default=True, validator=_flag)
    local: bool = attrs.field(default=False, validator=_flag)


@final
@attrs.frozen(kw_only=True)
class EmitWithAck:
    """A broadcast expecting one acknowledgement per recipient before ``now + timeout``."""

    nsp: str = _nsp()
    payload: Any
    now: float = attrs.field(validator=_time)
    timeout: float = attrs.field(validator=_time)
    rooms: tuple[Room, ...] | None = attrs.field(default=None, converter=_optional_rooms)
    except_: tuple[Room, ...] = attrs.field(default=(), converter=normalize_rooms)
    sids: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_sids)
    sender: str | None = attrs.field(default=None, validator=_optional_sid)
    volatile: bool = attrs.field(default=False, validator=_flag)
    compress: bool = attrs.field(default=True, validator=_flag)
    local: bool = attrs.field(default=False, validator=_flag)
    #: Also report each answer as it comes (:class:`AckReceived`).
    each_response: bool = attrs.field(default=False, validator=_flag)


@final
@attrs.frozen(kw_only=True)
class Ack:
    """``sid`` answered the broadcast ``ack_id`` with ``response``."""

    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)
    ack_id: int = attrs.field(validator=_ack_id)
    response: Any = None


@final
@attrs.frozen(kw_only=True)
class BeginDisconnect:
    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)
    reason: str = attrs.field(default="server namespace disconnect", validator=_text)
    close_connection: bool = attrs.field(default=False, validator=_flag)


@final
@attrs.frozen(kw_only=True)
class FinishDisconnect:
    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)


@final
@attrs.frozen(kw_only=True)
class Disconnect:
    """Both disconnect phases at once."""

    nsp: str = _nsp()
    sid: str = attrs.field(validator=_sid)
    reason: str = attrs.field(default="server namespace disconnect", validator=_text)


@final
@attrs.frozen(kw_only=True)
class SocketsJoin:
    nsp: str = _nsp()
    join: tuple[Room, ...] = attrs.field(converter=normalize_rooms)
    rooms: tuple[Room, ...] | None = attrs.field(default=None, converter=_optional_rooms)
    except_: tuple[Room, ...] = attrs.field(default=(), converter=normalize_rooms)
    sids: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_sids)


@final
@attrs.frozen(kw_only=True)
class SocketsLeave:
    nsp: str = _nsp()
    leave: tuple[Room, ...] = attrs.field(converter=normalize_rooms)
    rooms: tuple[Room, ...] | None = attrs.field(default=None, converter=_optional_rooms)
    except_: tuple[Room, ...] = attrs.field(default=(), converter=normalize_rooms)
    sids: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_sids)


@final
@attrs.frozen(kw_only=True)
class DisconnectSockets:
    nsp: str = _nsp()
    rooms: tuple[Room, ...] | None = attrs.field(default=None, converter=_optional_rooms)
    except_: tuple[Room, ...] = attrs.field(default=(), converter=normalize_rooms)
    sids: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_sids)
    close_connection: bool = attrs.field(default=False, validator=_flag)
    reason: str = attrs.field(default="server namespace disconnect", validator=_text)


@final
@attrs.frozen(kw_only=True)
class CloseRoom:
    nsp: str = _nsp()
    room: Room = attrs.field(converter=normalize_room)


@final
@attrs.frozen(kw_only=True)
class TimePassed:
    """The clock reads ``now``: acknowledgements past their deadline complete."""

    now: float = attrs.field(validator=_time)


Event: TypeAlias = (
    Connect
    | Accept
    | Refuse
    | Join
    | Leave
    | Emit
    | EmitWithAck
    | Ack
    | BeginDisconnect
    | FinishDisconnect
    | Disconnect
    | SocketsJoin
    | SocketsLeave
    | DisconnectSockets
    | CloseRoom
    | TimePassed
)
