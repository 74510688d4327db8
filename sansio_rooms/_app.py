"""What a Socket.IO server binding needs besides the machine, whatever its event loop.

The asyncio and trio bindings share these, so that they cannot drift apart: the handler
registry, the immutable broadcast selection behind ``to()/except_()/volatile/...``, the error a
connect handler raises to refuse a client, and query-string parsing. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import attrs

from ._errors import LocalProtocolError, SansioRoomsError
from ._names import Room, normalize_namespace, normalize_rooms

__all__ = ["ConnectionRefusedError", "Handlers", "Selection", "parse_query"]

F = TypeVar("F", bound=Callable[..., Any])

#: Events the server raises itself, not a client: "connect" (auth), "disconnecting",
#: "disconnect", and "*" (catch-all for events without a handler of their own).
SPECIAL_EVENTS = frozenset({"connect", "disconnecting", "disconnect", "*"})


class ConnectionRefusedError(SansioRoomsError):
    """Raise it from a ``connect`` handler to refuse the client: it receives CONNECT_ERROR
    with ``message`` (and ``data`` when given), as ``next(new Error(...))`` does in Node."""

    def __init__(self, message: str = "Not authorized", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class Handlers:
    """Event handlers per namespace: ``handlers.on("chat", namespace="/")(function)``."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, dict[str, Callable[..., Any]]] = {}

    def on(self, event: str, namespace: str = "/") -> Callable[[F], F]:
        if not isinstance(event, str) or not event:
            raise LocalProtocolError(f"an event name must be a non-empty str, not {event!r}")
        nsp = normalize_namespace(namespace)

        def register(function: F) -> F:
            if not callable(function):
                raise LocalProtocolError(f"a handler must be callable, not {function!r}")
            self._by_namespace.setdefault(nsp, {})[event] = function
            return function

        return register

    def namespaces(self) -> tuple[str, ...]:
        return tuple(self._by_namespace)

    def get(self, nsp: str, event: str) -> Callable[..., Any] | None:
        """The handler of ``event``; for an event of a client without a handler of its own,
        the catch-all ``"*"`` one (called with the event name first)."""
        handlers = self._by_namespace.get(nsp)
        if handlers is None:
            return None
        return handlers.get(event)

    def for_event(self, nsp: str, event: Any) -> tuple[Callable[..., Any] | None, bool]:
        """``(handler, is_catch_all)`` for an event a client emitted."""
        handlers = self._by_namespace.get(nsp)
        if handlers is None:
            return None, False
        handler = (
            handlers.get(event) if type(event) is str and event not in SPECIAL_EVENTS else None
        )
        if handler is not None:
            return handler, False
        catch_all = handlers.get("*")
        return catch_all, catch_all is not None


@attrs.frozen(kw_only=True)
class Selection:
    """Who a broadcast is for, and how: the state of Socket.IO's ``BroadcastOperator``.

    Immutable: every method returns a new selection, so a partly built one can be kept and
    reused (``room = io.to("room1")`` then ``room.emit(...)`` twice), as in Socket.IO v4.
    """

    nsp: str = "/"
    rooms: tuple[Room, ...] | None = None
    except_rooms: tuple[Room, ...] = ()
    sender: str | None = None
    volatile_flag: bool = False
    compress_flag: bool = True
    local_flag: bool = False
    timeout_seconds: float | None = None

    def to(self, rooms: Iterable[Room] | Room) -> Selection:
        """Also target these rooms (the union of every ``to``)."""
        added = normalize_rooms(rooms)
        return attrs.evolve(self, rooms=tuple(dict.fromkeys((*(self.rooms or ()), *added))))

    in_ = to

    def except_(self, rooms: Iterable[Room] | Room) -> Selection:
        """Leave out the members of these rooms (a socket id is a room)."""
        added = normalize_rooms(rooms)
        return attrs.evolve(self, except_rooms=tuple(dict.fromkeys((*self.except_rooms, *added))))

    def compress(self, value: bool) -> Selection:
        return attrs.evolve(self, compress_flag=bool(value))

    def timeout(self, seconds: float) -> Selection:
        """Required for a broadcast with acknowledgements: how long to wait for them."""
        if type(seconds) not in (int, float) or seconds < 0:
            raise LocalProtocolError(f"a timeout is a non-negative number, not {seconds!r}")
        return attrs.evolve(self, timeout_seconds=float(seconds))

    @property
    def volatile(self) -> Selection:
        """May be dropped for a client that cannot take it right now."""
        return attrs.evolve(self, volatile_flag=True)

    @property
    def local(self) -> Selection:
        """Only this server (matters once servers share rooms through a cluster)."""
        return attrs.evolve(self, local_flag=True)

    @property
    def broadcast(self) -> Selection:
        """Everyone (but the sender): ``socket.broadcast.emit(...)``."""
        return self

    def of(self, namespace: str) -> Selection:
        return attrs.evolve(self, nsp=normalize_namespace(namespace))


def parse_query(query_string: bytes | str) -> dict[str, str]:
    """A URL query string as a dict (the last value of a repeated key wins, as in Node)."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    return dict(parse_qsl(query_string, keep_blank_values=True))
