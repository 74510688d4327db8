"""The library's errors, split by whose fault they are.

``LocalProtocolError`` and its subclasses are raised when the *host program* misuses the API
(an unknown socket id, a room name of the wrong type, a join after disconnect). The state of
the machine is exactly what it was before the call.

``RemoteProtocolError`` describes garbage sent by a *peer*. It never escapes a receive call of
a connection machine: it is turned into a close of that one connection, with the error as the
reason. The codecs raise it, and the machines catch it at their boundary.
"""

from __future__ import annotations

__all__ = [
    "DuplicateSocketError",
    "InvalidRoomError",
    "InvalidStateError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SansioRoomsError",
    "UnknownSocketError",
]


class SansioRoomsError(Exception):
    """Base class of every error this library raises on purpose."""


class LocalProtocolError(SansioRoomsError):
    """The host program misused the API. Raised; the state is unchanged."""


class InvalidRoomError(LocalProtocolError, TypeError):
    """A room name that is not a ``str`` or an ``int`` (``bool`` excluded), or a room list
    that is not a list of such names. Also a ``TypeError``, as Python users expect."""


class UnknownSocketError(LocalProtocolError, KeyError):
    """The socket id is not connected to this namespace: it never was, or it has already
    disconnected. Also a ``KeyError``."""

    def __str__(self) -> str:
        # KeyError's __str__ would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class DuplicateSocketError(LocalProtocolError):
    """A connect gave an id that is already a socket or a room of the namespace."""


class InvalidStateError(LocalProtocolError):
    """The operation is not allowed in the socket's current state (for example a join while
    the socket is disconnecting). The message names the state and the operation."""


class RemoteProtocolError(SansioRoomsError):
    """The peer sent something that breaks the protocol. Never raised out of a receive call:
    the connection machine turns it into a close of that connection with this reason."""
