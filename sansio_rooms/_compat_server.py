"""python-socketio's server, for code written against it: what each binding's ``compat``
module is made of (``from sansio_rooms_asyncio import compat as socketio``).

:class:`CompatServer` (handlers get the ``sid``, connect handlers a WSGI ``environ``;
``emit(event, data)`` with a tuple as several arguments), :class:`CompatNamespace`
(python-socketio's ``AsyncNamespace``), :class:`CompatConnectionRefusedError` and
:class:`CompatASGIApp`. The sid-taking methods every server has are :class:`SidMethods`
(``_compat.py``); this is the layer for code that also wants python-socketio's handler
signatures.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import urlencode

from ._app import ConnectionRefusedError, NamespaceKey
from ._asgi import ASGIAppBase
from ._compat import _call
from ._names import Room, normalize_namespace

if TYPE_CHECKING:
    from ._driver import Handshake, ServerDriver, Socket

    _ServerBase = ServerDriver
else:
    _ServerBase = object

__all__ = [
    "CompatASGIApp",
    "CompatConnectionRefusedError",
    "CompatNamespace",
    "CompatServer",
    "wsgi_environ",
]

logger = logging.getLogger("sansio_rooms.server")
F = TypeVar("F", bound=Callable[..., Any])


class CompatConnectionRefusedError(ConnectionRefusedError):
    """python-socketio's ``ConnectionRefusedError(*args)``: no argument, "Connection rejected
    by server"; the first is the message; a second is the data (several: their tuple)."""

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        data = None if len(args) < 2 else args[1] if len(args) == 2 else args[1:]
        super().__init__(message, data)
        self.error_args: dict[str, Any] = {"message": message}
        if data is not None:
            self.error_args["data"] = data


def wsgi_environ(handshake: Handshake) -> dict[str, Any]:
    """The WSGI-style ``environ`` python-socketio gives connect handlers, from a socket's
    handshake: ``HTTP_*`` headers (``CONTENT_TYPE``, ``CONTENT_LENGTH``), ``REQUEST_METHOD``,
    ``PATH_INFO``, ``QUERY_STRING``, ``RAW_URI``, ``SCRIPT_NAME``, ``REMOTE_ADDR`` (the
    client's address behind trusted proxies), ``REMOTE_PORT``, ``SERVER_NAME``,
    ``SERVER_PORT``, ``SERVER_PROTOCOL``, ``wsgi.url_scheme`` and ``asgi.scope`` (``None``
    for ``attach()`` connections)."""
    scope: Mapping[str, Any] = handshake.scope or {}
    path, mark, query_string = handshake.url.partition("?")
    if not mark:  # a connection without a request (attach()): its query alone
        query_string = urlencode(handshake.query)
    server = scope.get("server") or ("", None)
    client = handshake.client
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "RAW_URI": handshake.url,
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": "" if server[1] is None else str(server[1]),
        "REMOTE_ADDR": handshake.address or "",
        "REMOTE_PORT": "" if client is None else str(client[1]),
        "wsgi.url_scheme": "https" if handshake.secure else "http",
        "asgi.scope": handshake.scope,
    }
    for name, value in handshake.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return environ


def _accepts(function: Callable[..., Any], count: int) -> bool:
    """Whether ``function`` can be called with ``count`` positional arguments (when its
    signature cannot be read, it is assumed to)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def _arguments(data: Any) -> tuple[Any, ...]:
    """python-socketio's ``data``: a tuple is several arguments, ``None`` none."""
    if data is None:
        return ()
    if isinstance(data, tuple):
        return data
    return (data,)


def _by_sid(event: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A handler taking a :class:`Socket`, calling python-socketio's ``function`` as
    python-socketio does for ``event``."""
    if event == "connect":
        with_auth = _accepts(function, 3)

        async def connect(socket: Socket, auth: Any) -> None:
            environ = wsgi_environ(socket.handshake)
            args = (socket.sid, environ, auth) if with_auth else (socket.sid, environ)
            if await _call(function, *args) is False:
                raise CompatConnectionRefusedError()

        return connect
    if event in ("disconnect", "disconnecting"):
        with_reason = _accepts(function, 2)

        async def disconnect(socket: Socket, reason: str) -> None:
            await _call(function, *((socket.sid, reason) if with_reason else (socket.sid,)))

        return disconnect
    if event == "*":

        async def catch_all(socket: Socket, name: Any, *args: Any) -> Any:
            return await _call(function, name, socket.sid, *args)

        return catch_all

    async def handler(socket: Socket, *args: Any) -> Any:
        return await _call(function, socket.sid, *args)

    return handler


class _Reasons:
    """python-socketio's ``server.reason`` names, for the reasons this server gives
    (Socket.IO's own, as in Node)."""

    SERVER_DISCONNECT = "server namespace disconnect"
    CLIENT_DISCONNECT = "client namespace disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"


class CompatServer(_ServerBase):
    """python-socketio's ``AsyncServer`` on a binding's server (a mixin, before it:
    ``class AsyncServer(CompatServer, sansio_rooms_asyncio.AsyncServer)``).

    * Options: ``async_mode`` ``"asgi"`` (or not given; nothing else runs here),
      ``logger`` and ``engineio_logger`` are accepted and ignored (logging goes to the
      ``sansio_rooms`` logger), ``max_http_buffer_size`` is ``max_payload``; the rest are
      the server's (``cors_allowed_origins``, where ``[]`` means what it means to
      python-engineio: no origin check here; ``ping_interval`` and ``ping_timeout`` in
      seconds, ...).
    * Handlers registered with ``on``/``event`` get the ``sid`` where the server's own get
      the socket: ``connect`` ``(sid, environ)`` or ``(sid, environ, auth)`` (by what the
      function accepts), returning ``False`` or raising :class:`ConnectionRefusedError` to
      refuse; ``disconnect`` ``(sid, reason)`` or ``(sid)``; ``"*"`` ``(event, sid,
      *args)``; the others ``(sid, *args)``, what they return answering the client.
    * ``emit``, ``send`` and ``call`` take ``data``: a tuple is several arguments.
    """

    reason = _Reasons

    def __init__(
        self,
        *,
        async_mode: str | None = None,
        logger: Any = False,
        engineio_logger: Any = False,
        max_http_buffer_size: int | None = None,
        **options: Any,
    ) -> None:
        if async_mode not in (None, "asgi"):
            raise ValueError(f"async_mode {async_mode!r}: this server runs on ASGI ('asgi')")
        if max_http_buffer_size is not None:
            options["max_payload"] = max_http_buffer_size
        if options.get("cors_allowed_origins") == []:
            # python-engineio's "no CORS handling here" (a proxy or a middleware does it):
            # every origin passes.
            options["cors_allowed_origins"] = "*"
        super().__init__(**options)

    @overload
    def on(
        self, event: str, handler: None = None, namespace: NamespaceKey | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F, namespace: NamespaceKey | None = None) -> F: ...

    def on(
        self,
        event: str,
        handler: Callable[..., Any] | None = None,
        namespace: NamespaceKey | None = None,
    ) -> Any:
        """Register ``handler`` (python-socketio's arguments, see the class) for ``event``
        of ``namespace`` (``"/"``): as a call or, without ``handler``, as a decorator."""

        def register(function: F) -> F:
            super(CompatServer, self).on(event, _by_sid(event, function), namespace or "/")
            return function

        return register if handler is None else register(handler)

    def register_namespace(self, namespace_handler: Any) -> None:
        """Register a class-based namespace: a :class:`CompatNamespace` (python-socketio's
        ``AsyncNamespace``, methods taking sids), or the server's own kind (methods taking
        sockets)."""
        if not isinstance(namespace_handler, CompatNamespace):
            super().register_namespace(namespace_handler)
            return
        namespace_handler.server = self
        nsp = namespace_handler.namespace
        trigger = namespace_handler.trigger_event

        def connect(sid: str, environ: dict[str, Any], auth: Any) -> Any:
            return trigger("connect", sid, environ, auth)

        def disconnect(sid: str, reason: str) -> Any:
            return trigger("disconnect", sid, reason)

        def catch_all(event: str, sid: str, *args: Any) -> Any:
            return trigger(event, sid, *args)

        self.on("connect", connect, nsp)
        self.on("disconnect", disconnect, nsp)
        self.on("*", catch_all, nsp)

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """python-socketio's ``emit``: ``data`` is the argument (a tuple: the arguments);
        ``to``/``room`` a sid, a room or a list of them (everyone when not given);
        ``skip_sid`` a sid or a list; ``callback`` (with one sid) gets the answer."""
        await self._emit_by_sid(
            event,
            _arguments(data),
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
        )

    async def send(
        self,
        data: Any,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """python-socketio's ``send``: ``emit("message", data, ...)``."""
        await self.emit("message", data, to, room, skip_sid, namespace, callback)

    async def call(  # type: ignore[override]
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> Any:
        """python-socketio's ``call``: emit ``data`` to one client and return its answer."""
        return await super().call(
            event, *_arguments(data), to=to, sid=sid, namespace=namespace, timeout=timeout
        )

    def get_environ(self, sid: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The ``environ`` of ``sid``'s connection (``None`` for a client not here)."""
        socket = self.get_socket(sid, namespace or "/")
        return None if socket is None else wsgi_environ(socket.handshake)


class CompatNamespace:
    """python-socketio's ``AsyncNamespace``: ``on_<event>(self, sid, *args)`` methods
    (``on_connect(self, sid, environ[, auth])``, ``on_disconnect(self, sid[, reason])``),
    registered with ``server.register_namespace(Chat("/chat"))``; ``emit``, ``send``,
    ``call``, ``enter_room``, ``leave_room``, ``close_room``, ``rooms``, ``get_session``,
    ``save_session``, ``session`` and ``disconnect`` act in its namespace unless told.
    Override :meth:`trigger_event` to route events yourself."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = normalize_namespace(namespace or "/")
        self.server: Any = None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Run ``on_<event>(*args)`` (``args`` start with the sid); an event without a
        method is ignored. ``connect`` gets ``auth`` and ``disconnect`` the reason only if
        the method takes them."""
        method = getattr(self, f"on_{event}", None)
        if method is None:
            return None
        if event == "connect" and not _accepts(method, 3):
            args = args[:2]
        elif event == "disconnect" and not _accepts(method, 2):
            args = args[:1]
        return await _call(method, *args)

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        await self.server.emit(
            event, data, to, room, skip_sid, namespace or self.namespace, callback
        )

    async def send(
        self,
        data: Any,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        await self.server.send(data, to, room, skip_sid, namespace or self.namespace, callback)

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> Any:
        return await self.server.call(
            event, data, to, sid, namespace or self.namespace, timeout=timeout
        )

    async def enter_room(self, sid: str, room: Room, namespace: str | None = None) -> None:
        await self.server.enter_room(sid, room, namespace or self.namespace)

    async def leave_room(self, sid: str, room: Room, namespace: str | None = None) -> None:
        await self.server.leave_room(sid, room, namespace or self.namespace)

    async def close_room(self, room: Room, namespace: str | None = None) -> None:
        await self.server.close_room(room, namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[Room]:
        rooms: list[Room] = self.server.rooms(sid, namespace or self.namespace)
        return rooms

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        session: dict[str, Any] = await self.server.get_session(sid, namespace or self.namespace)
        return session

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        await self.server.save_session(sid, session, namespace or self.namespace)

    def session(self, sid: str, namespace: str | None = None) -> Any:
        return self.server.session(sid, namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        await self.server.disconnect(sid, namespace or self.namespace)


class CompatASGIApp(ASGIAppBase):
    """python-socketio's ``ASGIApp(socketio_server, other_asgi_app=None, static_files=None,
    socketio_path="socket.io")`` argument order, on a binding's ``ASGIApp`` (a mixin, before
    it). ``static_files`` maps URL paths to files (not to directories)."""

    def __init__(
        self,
        socketio_server: Any,
        other_asgi_app: Any = None,
        static_files: Mapping[str, Any] | None = None,
        socketio_path: str = "socket.io",
        **options: Any,
    ) -> None:
        super().__init__(
            socketio_server,
            other_asgi_app,
            static_files=static_files,
            socketio_path=socketio_path,
            **options,
        )
