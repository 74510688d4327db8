"""The transport half of a binding's server, whatever runs on top of it.

Both kinds of server a binding offers, the Socket.IO server (:class:`ServerDriver`) and the
Engine.IO-only server (:class:`EngineIODriver`), move the same transports: HTTP long-polling
requests and WebSockets in, HTTP responses and frames out, one timer for the machine's next
deadline. That part is here, once; a subclass adds what its machine's application outputs mean
(``_dispatch``), and a binding adds the loop (``now``, ``_spawn``, ``_schedule``,
``_new_waiter``) and its transports.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

from . import _engineio_server as eio
from ._errors import LocalProtocolError
from ._requests import HandshakeRequest, OriginPolicy, OriginRule, TrustedProxies

__all__ = ["TransportDriver"]

#: ``allow_request(request)``: ``False`` (or raising ``ConnectionRefusedError``) refuses.
AllowRequest: TypeAlias = Callable[[HandshakeRequest], "bool | Awaitable[bool | None] | None"]

logger = logging.getLogger("sansio_rooms")

#: After a graceful shutdown that ends the process: how long the connections may take to
#: write their last answers and close frames.
FLUSH_TIMEOUT = 1.0


class TransportDriver(abc.ABC):
    """Transports in, the machine's outputs performed, the timer re-armed.

    ``machine`` is the sans-IO machine (a :class:`ServerMachine` or an
    :class:`EngineIOServer`): both take the same transport inputs and report the same
    transport outputs."""

    machine: Any
    #: Where the ASGI apps serve it, unless told otherwise.
    default_path = "socket.io"
    #: Output type -> what to do with it (the transport outputs here, a subclass adds its own).
    _dispatch: ClassVar[dict[type, Callable[[Any, Any], None]]]

    def __init__(
        self,
        *,
        max_buffer: int = 1024,
        allow_request: AllowRequest | None = None,
        cors_allowed_origins: OriginRule = None,
        cors_credentials: bool = True,
        trusted_proxies: Iterable[str] | str = (),
    ) -> None:
        if type(max_buffer) is not int or max_buffer < 1:
            raise ValueError(f"max_buffer must be a positive int, not {max_buffer!r}")
        if allow_request is not None and not callable(allow_request):
            raise LocalProtocolError(f"allow_request must be callable, not {allow_request!r}")
        self.max_buffer = max_buffer
        #: Called with the :class:`HandshakeRequest` of every request that would open a
        #: session; returning ``False`` or raising :class:`ConnectionRefusedError` refuses it.
        self.allow_request = allow_request
        #: Which ``Origin`` may connect (``cors_allowed_origins``, ``cors_credentials``).
        self.origins = OriginPolicy(cors_allowed_origins, credentials=cors_credentials)
        #: Whose ``X-Forwarded-For/-Proto/-Host`` headers are believed.
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        # The request that opens a session, while the machine handles it (see _opened_by).
        self._opening: HandshakeRequest | None = None
        self._timer_when: float | None = None
        # True while the timer is held (_hold_timer): by _run performing outputs, so that a
        # _run inside it (a plain handler's emit) leaves the timer to the outer one, or by a
        # binding for the frames of one read. The holder looks at the deadline once, after.
        self._performing = False
        # HTTP requests and WebSockets the ASGI app is serving for this server right now.
        self._connections = 0

    @property
    def engineio(self) -> eio.EngineIOServer:
        """The Engine.IO sessions (``max_payload``, ``len()``, ...)."""
        machine = self.machine
        return machine if isinstance(machine, eio.EngineIOServer) else machine.eio

    # -- what a binding supplies ---------------------------------------------------------------

    @abc.abstractmethod
    def now(self) -> float:
        """The loop's monotonic clock, in seconds."""

    @abc.abstractmethod
    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as a task of the server."""

    def _spawn_for(self, owner: object, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a handler of ``owner`` (a socket, a session), in the order its packets came.
        Default: a task each, started in that order; a loop that does not keep the order of
        new tasks serialises them per owner."""
        self._spawn(coroutine)

    @abc.abstractmethod
    def _schedule(self, when: float | None) -> None:
        """Call ``self._on_timer()`` at ``when`` (replacing the previous time; ``None``:
        never)."""

    @abc.abstractmethod
    def _begin_shutdown(self) -> None:
        """Tell every client the server is shutting down (the machine's shutdown)."""

    @abc.abstractmethod
    def _begin_shutdown_threadsafe(self, then: Callable[[], None] | None = None) -> None:
        """``_begin_shutdown`` from a signal handler or another thread (the loop's way);
        with ``then``, the whole graceful shutdown, then ``then()``."""

    @abc.abstractmethod
    async def _sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (the loop's sleep)."""

    @abc.abstractmethod
    async def shutdown(self, timeout: float = 5.0) -> None:
        """The binding's graceful shutdown."""

    async def _shutdown_then(self, then: Callable[[], None]) -> None:
        """The graceful shutdown, then ``then()`` (the signal's default action, which ends
        the process): first the last answers and close frames, written by the connections'
        own tasks, which end once written (or the client is gone), within a bound."""
        try:
            await self.shutdown()
            deadline = self.now() + FLUSH_TIMEOUT
            while self._connections and self.now() < deadline:
                await self._sleep(0.01)
        finally:
            then()

    # -- machine plumbing ------------------------------------------------------------------------

    def _run(self, outputs: list[Any]) -> None:
        """Perform the machine's outputs, then re-arm the timer for its next deadline."""
        dispatch = self._dispatch
        # Inside another _run (a plain handler's emit) or a held batch, the holder re-arms.
        held = self._hold_timer()
        try:
            for output in outputs:
                dispatch[type(output)](self, output)
        except BaseException:
            if held:  # the batch's answers still go out; the timer is left as it is
                self._performing = False
                self._end_batch()
            raise
        if held:
            self._release_timer()

    def _rearm(self) -> None:
        """Set the timer for the machine's next deadline, if that has moved."""
        when = self._next_deadline()
        if when != self._timer_when:
            self._timer_when = when
            self._schedule(when)

    def _hold_timer(self) -> bool:
        """Inputs come in a batch (the frames of one read, 26 on average under load): their
        ``_run`` calls leave the timer alone, and ``_release_timer`` sets it once, after them.
        The machine batches too: a parked long-polling GET is answered at the release, with
        everything the batch sent it (``begin_batch``). False if it is held already (that
        holder releases it). Not to be held across an ``await``: other tasks' outputs would
        wait for it."""
        if self._performing:
            return False
        self._performing = True
        self.machine.begin_batch()
        return True

    def _release_timer(self) -> None:
        self._performing = False
        self._end_batch()
        self._rearm()

    def _end_batch(self) -> None:
        dispatch = self._dispatch
        for output in self.machine.end_batch():
            dispatch[type(output)](self, output)

    def _on_timer(self) -> None:
        self._timer_when = None
        self._run(self._advance(self.now()))

    def _next_deadline(self) -> float | None:
        """When the timer must fire next (the machine's next deadline)."""
        when: float | None = self.machine.next_deadline()
        return when

    def _advance(self, now: float) -> list[Any]:
        """Time is ``now``: what the machine does about it."""
        outputs: list[Any] = self.machine.advance(now)
        return outputs

    # What the transports report (the binding's readers call these).

    def _receive_request(
        self, request: eio.HttpRequest, details: HandshakeRequest | None = None
    ) -> None:
        """An HTTP request; ``details``: what it says about the client (for a request that
        opens a session, it becomes the session's handshake)."""
        self._opening = details
        try:
            self._run(self.machine.receive_request(request, self.now()))
        finally:
            self._opening = None

    def _request_closed(self, handle: Any) -> None:
        self._run(self.machine.request_closed(handle, self.now()))

    def _websocket_connect(
        self, writer: Any, query: Mapping[str, str], details: HandshakeRequest | None = None
    ) -> None:
        self._opening = details
        try:
            self._run(self.machine.websocket_connect(writer, query, self.now()))
        finally:
            self._opening = None

    def _opened_by(self, output: eio.SessionOpened) -> HandshakeRequest:
        """The request that opened this session (while its ``SessionOpened`` is being
        performed; a connection without one, ``attach()``'s, gets its query alone)."""
        details = self._opening
        if details is None:
            return HandshakeRequest(query=output.query)
        return details

    def _websocket_message(self, writer: Any, data: str | bytes) -> None:
        self._run(self.machine.websocket_message(writer, data, self.now()))

    def _websocket_closed(self, writer: Any) -> None:
        writer.closed = True
        self._run(self.machine.websocket_closed(writer, self.now()))

    def _transport_failed(self, writer: Any, description: str) -> None:
        self._run(self.machine.websocket_failed(writer, self.now(), description))

    # What the machine answers.

    def _on_http_response(self, output: eio.HttpResponse) -> None:
        output.handle.respond(output)

    def _on_websocket_accept(self, output: eio.WebSocketAccept) -> None:
        output.handle.accept()

    def _on_websocket_reject(self, output: eio.WebSocketReject) -> None:
        output.handle.reject(output.status, output.body)

    def _on_websocket_send(self, output: eio.WebSocketSend) -> None:
        # The frames become transport messages once per kind of writer, shared by all.
        prepared: dict[Any, tuple[Any, ...]] = {}
        volatile = output.volatile
        frames = output.frames
        control = output.control
        for writer in output.handles:
            prepare = writer.prepare
            messages = prepared.get(prepare)
            if messages is None:
                messages = prepared[prepare] = prepare(frames)
            if control:
                writer.write_control(messages)
            else:
                writer.write(messages, volatile)

    def _on_websocket_close(self, output: eio.WebSocketClose) -> None:
        output.handle.close(output.code)


#: The transport outputs every driver performs the same way.
TRANSPORT_DISPATCH: dict[type, Callable[[Any, Any], None]] = {
    eio.HttpResponse: TransportDriver._on_http_response,
    eio.WebSocketAccept: TransportDriver._on_websocket_accept,
    eio.WebSocketReject: TransportDriver._on_websocket_reject,
    eio.WebSocketSend: TransportDriver._on_websocket_send,
    eio.WebSocketClose: TransportDriver._on_websocket_close,
}
