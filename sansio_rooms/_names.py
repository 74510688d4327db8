"""Validation and normalisation of the names the engine stores: namespaces, rooms, socket ids.

Room names are ``str`` or ``int`` (``bool`` excluded), kept distinct as in Socket.IO v3+
(``42`` and ``"42"`` are two rooms). Subclasses (``StrEnum``, ``IntEnum``) are accepted and
stored as the plain value, so that a room is equal to, and hashes like, its plain name.
Anything else is refused with :class:`InvalidRoomError` before any state is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from ._errors import InvalidRoomError, LocalProtocolError

__all__ = ["Room", "RoomsArg", "normalize_namespace", "normalize_room", "normalize_rooms"]

Room: TypeAlias = str | int
#: One room, or an iterable of rooms (a list, tuple, set, ...). ``None`` is not a room.
RoomsArg: TypeAlias = Room | Iterable[Room]

_NOT_A_ROOM_LIST = (bytes, bytearray, memoryview, dict)


def normalize_room(room: object) -> Room:
    """Return ``room`` as a plain ``str`` or ``int``; raise :class:`InvalidRoomError`."""
    kind = type(room)
    if kind is str or kind is int:
        return room  # type: ignore[return-value]
    if isinstance(room, str):
        return str.__str__(room)
    if isinstance(room, int) and not isinstance(room, bool):
        return int.__index__(room)
    raise InvalidRoomError(f"a room name must be a str or an int, not {kind.__name__} ({room!r})")


def normalize_rooms(rooms: object) -> tuple[Room, ...]:
    """Return one room or an iterable of rooms as a tuple of plain room names.

    Order is kept and duplicates are dropped. A ``str``/``int`` is one room; ``bytes``, a
    ``dict``, ``None`` or a non-iterable is refused rather than guessed at.
    """
    kind = type(rooms)
    if kind is str or kind is int:
        return (rooms,)  # type: ignore[return-value]
    if kind is tuple or kind is list:
        # Fast path for the common shapes: validate in place, no copy unless needed.
        if all(type(r) is str for r in rooms):  # type: ignore[attr-defined]
            return tuple(dict.fromkeys(rooms))  # type: ignore[call-overload]
    elif isinstance(rooms, (str, int)) and not isinstance(rooms, bool):
        return (normalize_room(rooms),)
    if rooms is None or isinstance(rooms, _NOT_A_ROOM_LIST) or not isinstance(rooms, Iterable):
        raise InvalidRoomError(
            f"rooms must be a room name (str or int) or an iterable of room names, "
            f"not {kind.__name__} ({rooms!r})"
        )
    return tuple(dict.fromkeys(normalize_room(r) for r in rooms))


def normalize_namespace(name: object) -> str:
    """``"chat"`` -> ``"/chat"``, ``""`` -> ``"/"``, as ``io.of()`` does."""
    if not isinstance(name, str):
        raise LocalProtocolError(f"a namespace name must be a str, not {type(name).__name__}")
    name = str.__str__(name)
    return name if name.startswith("/") else "/" + name
