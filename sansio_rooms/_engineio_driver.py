"""The loop-independent body of an Engine.IO-only server: a plain message channel.

Engine.IO without Socket.IO on top is what Node's ``engine.io`` package serves: a session per
client over long-polling or WebSocket, with the upgrade, heartbeats and limits, that carries
text and binary messages both ways, and nothing else (no namespaces, events, acks or rooms).
A binding subclasses :class:`EngineIODriver` exactly as it does :class:`ServerDriver` (the
loop's clock, tasks and timer); the sessions are :class:`EngineIOServer`'s.

Handlers, registered with ``@server.on(name)``: ``connect(session)``, ``message(session,
data)`` (``data`` is ``str`` for a text message, ``bytes`` for a binary one) and
``disconnect(session, reason)``. Each session's handlers run in the order its packets came,
and every session whose ``connect`` ran gets its ``disconnect``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar

from . import _engineio_server as eio
from ._errors import LocalProtocolError
from ._requests import HandshakeRequest
from ._transport_driver import TRANSPORT_DISPATCH, TransportDriver

__all__ = ["ENGINEIO_EVENTS", "EngineIODriver", "EngineIOSession"]

logger = logging.getLogger("sansio_rooms.server")
F = TypeVar("F", bound=Callable[..., Any])

#: The events an Engine.IO-only server reports.
ENGINEIO_EVENTS = frozenset({"connect", "message", "disconnect"})


class EngineIOSession:
    """One client of an Engine.IO-only server: ``sid``, ``query`` (the handshake's query
    string), ``request`` (the request that opened it), ``transport`` it opened with,
    ``data`` (yours), ``connected``; ``send``, ``close``."""

    def __init__(
        self,
        server: EngineIODriver,
        sid: str,
        query: Mapping[str, str],
        transport: str,
        request: HandshakeRequest | None = None,
    ) -> None:
        self.server = server
        self.sid = sid
        self.query = query
        #: The HTTP request that opened the session (headers, cookies, address, ...).
        self.request = HandshakeRequest(query=query) if request is None else request
        self.transport = transport
        self.data: dict[str, Any] = {}
        self.connected = True
        # Handlers of this session started as tasks and not finished: while there are any, a
        # plain ``def`` handler waits its turn in a task too (they run in order).
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"<EngineIOSession {self.sid}>"

    def send(self, data: str | bytes) -> _Sent:
        """Send one message: ``str`` as text, ``bytes`` as binary, at once (as Node's
        ``socket.send``), so that a plain ``def`` handler can send; ``await`` it or not.
        Nothing happens once the session is closed."""
        if not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise LocalProtocolError(f"a message is str or bytes, not {type(data).__name__}")
        if self.connected:
            message = data if isinstance(data, (str, bytes)) else bytes(data)
            self.server._run(self.server.machine.send(self.sid, [message]))
        return _SENT

    async def close(self) -> None:
        """Close the session from the server side (the client gets the close packet)."""
        if not self.connected:
            return
        server = self.server
        server._run(server.machine.close(self.sid, server.now()))


class _Sent:
    """What ``send`` returns: the message is on its way already; ``await`` it or not."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that yields nothing: awaiting it does not suspend


_SENT = _Sent()


async def _call(handler: Callable[..., Any], *args: Any) -> None:
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


class EngineIODriver(TransportDriver):
    """An Engine.IO server without Socket.IO (see the module docstring).

    Options: those of :class:`EngineIOServer` (``ping_interval``, ``ping_timeout``,
    ``max_payload``, ``transports``, ...) and ``max_buffer`` (frames waiting for a slow
    WebSocket before it is dropped)."""

    machine: eio.EngineIOServer
    #: Served at ``/engine.io/`` by the ASGI apps, unless told otherwise.
    default_path = "engine.io"

    def __init__(
        self,
        *,
        max_buffer: int = 1024,
        allow_request: Any = None,
        cors_allowed_origins: Any = None,
        cors_credentials: bool = True,
        trusted_proxies: Iterable[str] | str = (),
        **options: Any,
    ) -> None:
        super().__init__(
            max_buffer=max_buffer,
            allow_request=allow_request,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            trusted_proxies=trusted_proxies,
        )
        try:
            self.machine = eio.EngineIOServer(**options)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}: {error}") from None
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._sessions: dict[str, EngineIOSession] = {}

    def on(self, event: str) -> Callable[[F], F]:
        """Decorator: ``@server.on("message")`` (``connect``, ``message``, ``disconnect``)."""
        if event not in ENGINEIO_EVENTS:
            raise LocalProtocolError(
                f"an Engine.IO server reports {sorted(ENGINEIO_EVENTS)}, not {event!r}"
            )

        def register(handler: F) -> F:
            if not callable(handler):
                raise LocalProtocolError(f"a handler must be callable, not {handler!r}")
            self._handlers[event] = handler
            return handler

        return register

    def get_session(self, sid: str) -> EngineIOSession | None:
        """The open session ``sid``, if there is one."""
        return self._sessions.get(sid)

    def sessions(self) -> list[EngineIOSession]:
        """Every open session."""
        return list(self._sessions.values())

    async def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to session ``sid`` (nothing happens if it has closed)."""
        session = self._sessions.get(sid)
        if session is not None:
            await session.send(data)

    # -- what the machine reports ----------------------------------------------------------------

    def _on_session_opened(self, output: eio.SessionOpened) -> None:
        session = EngineIOSession(
            self, output.eio_sid, output.query, output.transport, self._opened_by(output)
        )
        self._sessions[output.eio_sid] = session
        self._handle("connect", session)

    # The machine reports messages of open sessions only, and closes a session once.

    def _on_message(self, output: eio.MessageReceived) -> None:
        self._handle("message", self._sessions[output.eio_sid], output.data)

    def _on_session_closed(self, output: eio.SessionClosed) -> None:
        session = self._sessions.pop(output.eio_sid)
        session.connected = False
        self._handle("disconnect", session, output.reason)

    def _handle(self, event: str, session: EngineIOSession, *args: Any) -> None:
        """Run ``event``'s handler: a plain function here and now, as Node runs its
        listeners (what it sends goes out before the next message is read); a coroutine
        function, or anything while an earlier handler of the session is still running, as
        a task, in order."""
        handler = self._handlers.get(event)
        if handler is None:
            return
        if session._in_flight or inspect.iscoroutinefunction(handler):
            self._handle_in_order(event, session, _call(handler, session, *args))
            return
        try:
            result = handler(session, *args)
        except Exception:
            logger.exception("%s handler of Engine.IO session %s failed", event, session.sid)
            return
        if inspect.isawaitable(result):  # a function that returns a coroutine after all
            self._handle_in_order(event, session, result)

    def _handle_in_order(self, event: str, session: EngineIOSession, handling: Any) -> None:
        """Await ``handling`` in a task, counted in ``session._in_flight``."""
        session._in_flight += 1

        async def run() -> None:
            try:
                await handling
            except Exception:
                logger.exception("%s handler of Engine.IO session %s failed", event, session.sid)
            finally:
                session._in_flight -= 1

        self._spawn_for(session, run())

    def _begin_shutdown(self) -> None:
        """Every client is told: its session closes with "server shutting down"."""
        self._run(self.machine.shutdown(self.now()))


EngineIODriver._dispatch = {
    **TRANSPORT_DISPATCH,
    eio.SessionOpened: EngineIODriver._on_session_opened,
    eio.MessageReceived: EngineIODriver._on_message,
    eio.SessionClosed: EngineIODriver._on_session_closed,
}
