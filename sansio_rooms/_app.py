"""What a Socket.IO server binding needs besides the machine, whatever its event loop.

The asyncio and trio bindings share these, so that they cannot drift apart: the handler
registry, the immutable broadcast selection behind ``to()/except_()/volatile/...``, the error a
connect handler raises to refuse a client, and query-string parsing. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeAlias, TypeVar
from urllib.parse import parse_qsl

import attrs

from ._errors import LocalProtocolError, SansioRoomsError
from ._names import Room, normalize_namespace, normalize_rooms
from ._slots import new, slot_setters

__all__ = [
    "ConnectionRefusedError",
    "Handlers",
    "NamespaceKey",
    "Selection",
    "ServerNamespace",
    "namespace_key",
    "parse_query",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Events the server raises itself, not a client: "connect" (auth), "disconnecting",
#: "disconnect", "error" (a packet middleware refused a packet), and "*" (catch-all for events
#: without a handler of their own). A client's event of one of these names goes to "*".
SPECIAL_EVENTS = frozenset({"connect", "disconnecting", "disconnect", "error", "*"})

#: A namespace as handlers are registered for it: a name, or (a dynamic namespace) a compiled
#: regular expression the whole name must match, or a function ``(name, auth) -> bool``.
NamespaceKey: TypeAlias = "str | re.Pattern[str] | Callable[[str, Any], Any]"


class ConnectionRefusedError(SansioRoomsError):
    """Raise it from a ``connect`` handler or a middleware to refuse the client: it receives
    CONNECT_ERROR with ``message`` (and ``data`` when given), as ``next(new Error(...))``
    does in Node. From ``allow_request``: the HTTP request is refused (403) with
    ``message``."""

    def __init__(self, message: str = "Not authorized", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


def namespace_key(namespace: Any) -> Any:
    """A name normalised (``"chat"`` is ``"/chat"``), or a dynamic namespace's pattern or
    function as it is."""
    if isinstance(namespace, re.Pattern):
        if not isinstance(namespace.pattern, str):
            raise LocalProtocolError("a namespace pattern matches str, not bytes")
        return namespace
    if callable(namespace):
        return namespace
    return normalize_namespace(namespace)


class ServerNamespace:
    """Handlers as methods of a class, as python-socketio's ``AsyncNamespace``::

        class Chat(ServerNamespace):
            async def on_connect(self, socket, auth): ...
            async def on_message(self, socket, text): ...
            async def on_disconnect(self, socket, reason): ...

        server.register_namespace(Chat("/chat"))

    ``on_<event>`` handles the event ``<event>`` (``connect``, ``disconnecting``,
    ``disconnect`` and ``error`` too) with the arguments a function handler would get.
    ``namespace`` may be a dynamic namespace (a pattern or a function, see ``server.on``).
    Override :meth:`trigger_event` to route events yourself (a catch-all). ``server`` is
    set by ``register_namespace``."""

    def __init__(self, namespace: NamespaceKey = "/") -> None:
        self.namespace = namespace_key(namespace)
        self.server: Any = None

    def trigger_event(self, event: str, socket: Any, *args: Any) -> Any:
        """Run the method of ``event`` (``on_<event>``); what it returns is the
        acknowledgement. An event without a method is ignored."""
        method = getattr(self, f"on_{event}", None)
        if method is None:
            return None
        return method(socket, *args)

    def _handler(self, event: str) -> Callable[..., Any] | None:
        if type(self).trigger_event is not ServerNamespace.trigger_event:
            return partial(self.trigger_event, event)
        method = getattr(self, f"on_{event}", None)
        return method if callable(method) else None


class Handlers:
    """Event handlers and middleware per namespace: ``handlers.on("chat", "/")(function)``.

    A dynamic namespace (a pattern or a function) registers handlers for every namespace it
    admits: a child, once admitted (:meth:`adopt`), has its parent's handlers and
    middleware."""

    def __init__(self) -> None:
        self._by_namespace: dict[Any, dict[str, Callable[..., Any]]] = {}
        self._objects: dict[Any, ServerNamespace] = {}
        self._middleware: dict[Any, list[Callable[..., Any]]] = {}
        self._parents: list[Any] = []  # dynamic namespaces, in registration order
        self._children: dict[str, Any] = {}  # an admitted child -> its parent

    def _registered(self, key: Any) -> None:
        if not isinstance(key, str) and key not in self._parents:
            self._parents.append(key)

    def on(self, event: str, namespace: NamespaceKey = "/") -> Callable[[F], F]:
        if not isinstance(event, str) or not event:
            raise LocalProtocolError(f"an event name must be a non-empty str, not {event!r}")
        key = namespace_key(namespace)

        def register(function: F) -> F:
            if not callable(function):
                raise LocalProtocolError(f"a handler must be callable, not {function!r}")
            self._by_namespace.setdefault(key, {})[event] = function
            self._registered(key)
            return function

        return register

    def use(self, middleware: Callable[..., Any], namespace: NamespaceKey = "/") -> None:
        if not callable(middleware):
            raise LocalProtocolError(f"a middleware must be callable, not {middleware!r}")
        key = namespace_key(namespace)
        self._middleware.setdefault(key, []).append(middleware)
        self._registered(key)

    def register(self, namespace: ServerNamespace) -> None:
        if not isinstance(namespace, ServerNamespace):
            raise LocalProtocolError(f"register a ServerNamespace instance, not {namespace!r}")
        self._objects[namespace.namespace] = namespace
        self._registered(namespace.namespace)

    def namespaces(self) -> tuple[str, ...]:
        """The namespaces registered by name."""
        keys = (*self._by_namespace, *self._objects, *self._middleware)
        return tuple(dict.fromkeys(key for key in keys if isinstance(key, str)))

    # -- dynamic namespaces ----------------------------------------------------------------

    def parents(self) -> tuple[Any, ...]:
        """The dynamic namespaces (patterns and functions), in registration order."""
        return tuple(self._parents)

    def adopt(self, nsp: str, parent: Any) -> None:
        """``nsp`` was admitted by the dynamic namespace ``parent``: it has its handlers."""
        self._children[nsp] = parent

    def parent_of(self, nsp: str) -> Any:
        return self._children.get(nsp)

    def children_of(self, parent: Any) -> tuple[str, ...]:
        """The children ``parent`` admitted, in the order they came."""
        return tuple(child for child, key in self._children.items() if key == parent)

    def forget(self, nsp: str) -> None:
        """The child ``nsp`` is gone (removed once empty)."""
        self._children.pop(nsp, None)

    # -- lookups ---------------------------------------------------------------------------

    def _key(self, nsp: str) -> Any:
        return self._children.get(nsp, nsp)

    def get(self, nsp: str, event: str) -> Callable[..., Any] | None:
        """The handler of a server event (``connect``, ``disconnect``, ...) or of the
        catch-all ``"*"``."""
        key = self._key(nsp)
        handlers = self._by_namespace.get(key)
        handler = None if handlers is None else handlers.get(event)
        if handler is None:
            namespace = self._objects.get(key)
            if namespace is not None and event != "*":
                handler = namespace._handler(event)
        return handler

    def for_event(self, nsp: str, event: Any) -> tuple[Callable[..., Any] | None, bool]:
        """``(handler, is_catch_all)`` for an event a client emitted."""
        key = self._children.get(nsp, nsp)
        handlers = self._by_namespace.get(key)
        if handlers is not None and type(event) is str:  # the common case, first
            handler = handlers.get(event)
            if handler is not None and event not in SPECIAL_EVENTS:
                return handler, False
        namespace = self._objects.get(key)
        if handlers is None and namespace is None:
            return None, False
        own = type(event) is str and event not in SPECIAL_EVENTS
        handler = handlers.get(event) if own and handlers is not None else None
        if handler is None and own and namespace is not None:
            handler = namespace._handler(event)
        if handler is not None:
            return handler, False
        catch_all = None if handlers is None else handlers.get("*")
        return catch_all, catch_all is not None

    def middleware(self, nsp: str) -> list[Callable[..., Any]]:
        return self._middleware.get(self._key(nsp), [])


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


(
    _set_nsp,
    _set_rooms,
    _set_except_rooms,
    _set_sender,
    _set_volatile_flag,
    _set_compress_flag,
    _set_local_flag,
    _set_timeout_seconds,
) = slot_setters(Selection)


def sender_selection(nsp: str, sender: str, rooms: tuple[Room, ...]) -> Selection:
    """``Selection(nsp=nsp, sender=sender, rooms=rooms)`` for rooms already normalised, at
    half the cost (``socket.to(room)``: once per event in a chat's handler). Every field is
    written, through its slot (see ``_slots``)."""
    selection = new(Selection)
    _set_nsp(selection, nsp)
    _set_rooms(selection, rooms)
    _set_except_rooms(selection, ())
    _set_sender(selection, sender)
    _set_volatile_flag(selection, False)
    _set_compress_flag(selection, True)
    _set_local_flag(selection, False)
    _set_timeout_seconds(selection, None)
    return selection


def parse_query(query_string: bytes | str) -> dict[str, str]:
    """A URL query string as a dict (the last value of a repeated key wins, as in Node)."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    if "%" in query_string or "+" in query_string or ";" in query_string:
        return dict(parse_qsl(query_string, keep_blank_values=True))
    # Nothing to unescape (every request of a long-polling client, "EIO=4&transport=polling
    # &sid=..."): split, as parse_qsl would, for a third of its cost.
    query: dict[str, str] = {}
    for field in query_string.split("&"):
        if field:
            name, _, value = field.partition("=")
            query[name] = value
    return query
