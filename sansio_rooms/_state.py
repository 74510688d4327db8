"""The life of one socket in one namespace, as a table.

::

    connect(pending=True) --> PENDING --accept--> CONNECTED --begin_disconnect--> DISCONNECTING
    connect() ---------------------------------------^  |                               |
    PENDING --refuse or disconnect--> gone              +--disconnect--> gone <---------+
                                                          (finish_disconnect or disconnect)

A socket that is *gone* has no state at all: the engine forgets it, and any later call that
names it raises :class:`UnknownSocketError` ("never connected, or already disconnected").
Everything that decides whether an operation is legal in a state lives in ``TRANSITIONS``;
the docs draw their state diagram from it.
"""

from __future__ import annotations

import enum
from typing import Final

from ._errors import InvalidStateError

__all__ = ["TRANSITIONS", "Operation", "SocketState"]


class SocketState(enum.Enum):
    """Where a socket is in its life. Only ``CONNECTED`` sockets receive broadcasts."""

    #: Registered (the connect handler / middlewares run); may join rooms, receives nothing.
    PENDING = "pending"
    #: In its id room, receives broadcasts.
    CONNECTED = "connected"
    #: Rooms intact and readable, may broadcast, receives nothing; join refused.
    DISCONNECTING = "disconnecting"

    # Members are singletons compared by identity: hash them by identity too, in C, rather
    # than through Enum's Python-level __hash__ (it showed in the disconnect path).
    __hash__ = object.__hash__


class Operation(enum.Enum):
    """What the host can ask of one socket."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    JOIN = "join"
    LEAVE = "leave"
    EMIT_FROM = "emit from"
    BEGIN_DISCONNECT = "begin_disconnect"
    FINISH_DISCONNECT = "finish_disconnect"
    DISCONNECT = "disconnect"

    __hash__ = object.__hash__


#: The socket no longer exists.
GONE: Final = None

_P, _C, _D = SocketState.PENDING, SocketState.CONNECTED, SocketState.DISCONNECTING
_O = Operation

#: (state, operation) -> next state (``GONE`` = forgotten). A missing pair is illegal.
TRANSITIONS: Final[dict[tuple[SocketState, Operation], SocketState | None]] = {
    (_P, _O.ACCEPT): _C,
    (_P, _O.REFUSE): GONE,
    (_P, _O.JOIN): _P,
    (_P, _O.LEAVE): _P,
    (_P, _O.EMIT_FROM): _P,
    # The transport may close while the connect handler runs: no disconnecting phase then,
    # as the socket was never connected (Socket.IO runs no disconnect handlers either).
    (_P, _O.DISCONNECT): GONE,
    (_C, _O.JOIN): _C,
    (_C, _O.LEAVE): _C,
    (_C, _O.EMIT_FROM): _C,
    (_C, _O.BEGIN_DISCONNECT): _D,
    (_C, _O.DISCONNECT): GONE,
    # Leaving is harmless while disconnecting; joining would only be undone at once, and is
    # the classic leak of async handlers that join after the client left: refused.
    (_D, _O.LEAVE): _D,
    (_D, _O.EMIT_FROM): _D,
    (_D, _O.FINISH_DISCONNECT): GONE,
    (_D, _O.DISCONNECT): GONE,
}


def next_state(state: SocketState, operation: Operation, sid: str) -> SocketState | None:
    """The state after ``operation``; :class:`InvalidStateError` naming both if illegal."""
    try:
        return TRANSITIONS[(state, operation)]
    except KeyError:
        raise InvalidStateError(
            f"cannot {operation.value} socket {sid!r}: it is {state.value}"
        ) from None
