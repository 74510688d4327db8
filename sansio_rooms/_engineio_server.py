"""The Engine.IO v4 server as a machine: transports in, frames and HTTP responses out.

It owns the sessions: the handshake on either transport, HTTP long-polling (a parked GET, a
POST per batch, at most one of each at a time), the WebSocket transport, the probe upgrade
from polling to WebSocket, server-sent pings and the ping timeout, and closing. It knows
nothing of Socket.IO: message packets go up as :class:`MessageReceived`, and the layer above
sends with :meth:`EngineIOServer.send` / :meth:`EngineIOServer.broadcast`.

A session's transport state, as a table (``SESSION_TRANSITIONS``)::

    handshake (GET) --> POLLING --probe WebSocket opens--> UPGRADING --"5" upgrade--> WEBSOCKET
    handshake (WebSocket) ----------------------------------------------------------^
    UPGRADING --probe closed / bad packet / upgrade timeout--> POLLING
    POLLING, UPGRADING --closed by the host, no GET waiting--> DRAINING
    DRAINING --next GET or close timeout--> gone
    any --closed--> gone

Only a close the host asks for (:meth:`EngineIOServer.close`, a shutdown) keeps a polling
session for its next GET, which receives the close packet. A session that ends on an error, a
ping timeout or the client's own close packet is gone at once, as in Node: its next request is
answered 400 "Session ID unknown".

Time is passed in as ``now`` (monotonic seconds). Bad input from a peer never raises: it
closes that session with a reason (``SessionClosed``), and no other session is affected.
Misuse by the host (an unknown session id) raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeAlias, cast, final

import attrs

from ._acks import check_time
from ._engine import default_id_factory
from ._engineio import (
    EioPacket,
    EioPacketType,
    HttpError,
    b64encode,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    handshake_packet,
    http_error_body,
)
from ._errors import InvalidStateError, LocalProtocolError, RemoteProtocolError
from ._slots import new, slot_setters

__all__ = [
    "SESSION_TRANSITIONS",
    "EngineIOServer",
    "HttpRequest",
    "HttpResponse",
    "MessageReceived",
    "SessionClosed",
    "SessionOpened",
    "SessionState",
    "TransportOutput",
    "WebSocketAccept",
    "WebSocketClose",
    "WebSocketReject",
    "WebSocketSend",
]

#: Anything hashable the binding uses to name an HTTP request or a WebSocket connection.
Handle: TypeAlias = Any

_TEXT_PLAIN: Final = (("content-type", "text/plain; charset=UTF-8"), ("cache-control", "no-store"))
_TEXT_HTML: Final = (("content-type", "text/html"), ("cache-control", "no-store"))
_JSON: Final = (("content-type", "application/json"),)


# -- inputs and outputs --------------------------------------------------------------------


def _query(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen(kw_only=True)
class HttpRequest:
    """An HTTP request for the Engine.IO path, with its whole body."""

    handle: Handle
    method: str
    query: Mapping[str, str] = attrs.field(converter=_query)
    body: bytes = b""
    content_type: str | None = None


@final
@attrs.frozen(kw_only=True)
class HttpResponse:
    """Answer the request ``handle`` (the binding adds Content-Length, and CORS if wanted)."""

    handle: Handle
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@final
@attrs.frozen(kw_only=True)
class WebSocketAccept:
    """Complete the WebSocket handshake of ``handle``."""

    handle: Handle


@final
@attrs.frozen(kw_only=True)
class WebSocketReject:
    """Refuse the WebSocket handshake of ``handle`` (before accepting it)."""

    handle: Handle
    status: int
    body: bytes


@final
@attrs.frozen(kw_only=True)
class WebSocketSend:
    """Write ``frames`` (a ``str`` is a text frame, ``bytes`` a binary one), in order, to
    each WebSocket of ``handles``. A broadcast is one of these: the frames are built once.
    ``volatile`` frames may be dropped for a connection that cannot take them right now;
    ``control`` frames (a ping, the probe's answer) must not wait behind queued data."""

    handles: tuple[Handle, ...]
    frames: tuple[str | bytes, ...]
    volatile: bool = False
    compress: bool = True
    control: bool = False


_set_handles, _set_frames, _set_volatile, _set_compress, _set_control = slot_setters(WebSocketSend)


def _websocket_send(
    handles: tuple[Handle, ...], frames: tuple[str | bytes, ...], volatile: bool, compress: bool
) -> WebSocketSend:
    """``WebSocketSend(...)`` of a broadcast, through the slots (see ``_slots``): once per
    broadcast."""
    output = new(WebSocketSend)
    _set_handles(output, handles)
    _set_frames(output, frames)
    _set_volatile(output, volatile)
    _set_compress(output, compress)
    _set_control(output, False)
    return output


@final
@attrs.frozen(kw_only=True)
class WebSocketClose:
    """Close the WebSocket ``handle`` (after the frames sent before this output)."""

    handle: Handle
    code: int = 1000


@final
@attrs.frozen(kw_only=True)
class SessionOpened:
    """A new Engine.IO session (for the layer above)."""

    eio_sid: str
    transport: str
    query: Mapping[str, str] = attrs.field(converter=_query)


@final
@attrs.frozen(kw_only=True)
class MessageReceived:
    """A message packet arrived on session ``eio_sid`` (for the layer above)."""

    eio_sid: str
    data: str | bytes


_set_message_eio_sid, _set_message_data = slot_setters(MessageReceived)


def _message_received(eio_sid: str, data: str | bytes) -> MessageReceived:
    """``MessageReceived(eio_sid=..., data=...)`` through the slots: once per message in."""
    output = new(MessageReceived)
    _set_message_eio_sid(output, eio_sid)
    _set_message_data(output, data)
    return output


@final
@attrs.frozen(kw_only=True)
class SessionClosed:
    """Session ``eio_sid`` is over: Socket.IO's disconnect ``reason`` and a description."""

    eio_sid: str
    reason: str
    description: str = ""


TransportOutput: TypeAlias = (
    HttpResponse | WebSocketAccept | WebSocketReject | WebSocketSend | WebSocketClose
)
_Output: TypeAlias = TransportOutput | SessionOpened | MessageReceived | SessionClosed


# -- the session states --------------------------------------------------------------------


class SessionState(enum.Enum):
    POLLING = "polling"
    UPGRADING = "upgrading"
    WEBSOCKET = "websocket"
    DRAINING = "draining"

    __hash__ = object.__hash__


class _Input(enum.Enum):
    PROBE_OPENED = "a probe WebSocket opens"
    PROBE_FAILED = "the probe fails"
    UPGRADE = "the upgrade packet arrives"
    CLOSE = "the session closes"
    DRAINED = "the close packet is handed out"

    __hash__ = object.__hash__


_POLLING, _UPGRADING, _WEBSOCKET, _DRAINING = SessionState
#: (state, input) -> next state; ``None`` means the session is gone.
SESSION_TRANSITIONS: Final[dict[tuple[SessionState, _Input], SessionState | None]] = {
    (_POLLING, _Input.PROBE_OPENED): _UPGRADING,
    (_POLLING, _Input.CLOSE): _DRAINING,
    (_UPGRADING, _Input.PROBE_FAILED): _POLLING,
    (_UPGRADING, _Input.UPGRADE): _WEBSOCKET,
    (_UPGRADING, _Input.CLOSE): _DRAINING,
    (_WEBSOCKET, _Input.CLOSE): None,
    (_DRAINING, _Input.DRAINED): None,
}


class _Session:
    __slots__ = (
        "drain_deadline",
        "get",
        "last_packet",
        "next_ping",
        "noop_deadline",
        "outbox",
        "pong_deadline",
        "probe",
        "probed",
        "sid",
        "state",
        "upgrade_deadline",
        "ws",
    )

    def __init__(self, sid: str, state: SessionState, now: float) -> None:
        self.sid = sid
        self.state = state
        self.ws: Handle | None = None  # the WebSocket, once it is the transport
        self.probe: Handle | None = None  # the WebSocket being upgraded to
        self.probed = False  # the probe said "2probe": answer every GET at once
        self.get: Handle | None = None  # the parked long-polling GET
        # Long-polling packets waiting for a GET, as their WebSocket frames: a broadcast's are
        # built once and shared by every session it reaches (a reference each, no copy).
        self.outbox: list[str | bytes] = []
        self.last_packet = now
        self.next_ping: float | None = None
        self.pong_deadline: float | None = None
        self.upgrade_deadline: float | None = None
        self.drain_deadline: float | None = None  # DRAINING: forget the session then
        # After the probe: when to answer the parked GET with a noop, so that the paused
        # client can finish the upgrade (Node checks every 100 ms).
        self.noop_deadline: float | None = None

    def move(self, event: _Input) -> SessionState | None:
        try:
            state = SESSION_TRANSITIONS[(self.state, event)]
        # Unreachable: callers check the state first; kept so that a future bug names the pair.
        except KeyError:  # pragma: no cover
            raise InvalidStateError(
                f"session {self.sid}: {event.value} while {self.state.value}"
            ) from None
        if state is not None:
            self.state = state
        return state


_PING = EioPacket(type=EioPacketType.PING)
_PING_FRAME = encode_packet(_PING)
_PONG_PROBE = "3probe"
#: After the probe, how long a GET waits before it is answered with a noop (Node's check
#: interval): an upgrade packet that comes meanwhile makes it a 400 instead, so a GET that
#: races the upgrade never looks like a live polling transport.
UPGRADE_NOOP_DELAY: Final = 0.1
_NOOP_FRAMES = (encode_packet(EioPacket(type=EioPacketType.NOOP)),)
_CLOSE_FRAME = encode_packet(EioPacket(type=EioPacketType.CLOSE))
_SEPARATOR = "\x1e"


def _polling_body(frames: Sequence[str | bytes]) -> bytes:
    """A long-polling response body: the frames joined by the record separator, binary ones
    as ``b`` + base64 (text ones were checked for the separator when they were queued)."""
    if bytes in map(type, frames):
        text = [f if isinstance(f, str) else "b" + b64encode(f) for f in frames]
    else:
        text = cast("list[str]", frames)
    return _SEPARATOR.join(text).encode("utf-8", "surrogatepass")


def _check_pollable(frames: Sequence[str | bytes]) -> None:
    for frame in frames:
        if type(frame) is str and _SEPARATOR in frame:
            raise LocalProtocolError(
                "a packet sent over long-polling must not contain the record separator \\x1e"
            )


def _shutting_down(handle: Handle) -> HttpResponse:
    """The answer to a handshake after a shutdown (Node closes its listening socket)."""
    body = json.dumps({"code": HttpError.FORBIDDEN, "message": "Server shutting down"})
    return HttpResponse(handle=handle, status=503, headers=_JSON, body=body.encode())


def _error_response(handle: Handle, error: HttpError) -> HttpResponse:
    return HttpResponse(
        handle=handle, status=error.status, headers=_JSON, body=http_error_body(error).encode()
    )


class EngineIOServer:
    """Every Engine.IO session of one server. Times are in seconds."""

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        upgrade_timeout: float = 10.0,
        close_timeout: float = 30.0,
        max_buffered_packets: int = 1000,
        max_packets_per_payload: int = 10_000,
        transports: Sequence[str] = ("polling", "websocket"),
        id_factory: Callable[[], str] = default_id_factory,
    ) -> None:
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("upgrade_timeout", upgrade_timeout),
            ("close_timeout", close_timeout),
        ):
            check_time(name, value)
        if type(max_payload) is not int or max_payload < 1:
            raise LocalProtocolError(f"max_payload must be a positive int, not {max_payload!r}")
        if type(max_buffered_packets) is not int or max_buffered_packets < 1:
            raise LocalProtocolError(
                f"max_buffered_packets must be a positive int, not {max_buffered_packets!r}"
            )
        if type(max_packets_per_payload) is not int or max_packets_per_payload < 1:
            raise LocalProtocolError(
                f"max_packets_per_payload must be a positive int, not {max_packets_per_payload!r}"
            )
        unknown = set(transports) - {"polling", "websocket"}
        if unknown or not transports:
            raise LocalProtocolError(f"transports must be polling and/or websocket: {transports}")
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.upgrade_timeout = upgrade_timeout
        self.close_timeout = close_timeout
        self.max_buffered_packets = max_buffered_packets
        self.max_packets_per_payload = max_packets_per_payload
        self.transports = tuple(transports)
        self.id_factory = id_factory
        #: Whether a handshake may open a session: :meth:`shutdown` sets it to ``False``
        #: (handshakes get 503), a host that starts serving again sets it back.
        self.accepting = True
        self._sessions: dict[str, _Session] = {}
        self._by_websocket: dict[Handle, _Session] = {}
        self._by_get: dict[Handle, _Session] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._timer_seq = itertools.count()
        # Between begin_batch and end_batch: the sessions whose parked GET has packets to
        # take (each once, or more: end_batch answers a GET once).
        self._batching = False
        self._due: list[_Session] = []

    # -- queries -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, eio_sid: object) -> bool:
        """Whether the session is known: open, or closed and draining over long-polling."""
        return eio_sid in self._sessions

    def state_of(self, eio_sid: str) -> SessionState:
        return self._session(eio_sid).state

    def websocket_of(self, eio_sid: str) -> Handle | None:
        """The WebSocket carrying the session, or ``None`` while it is on long-polling."""
        return self._session(eio_sid).ws

    def _session(self, eio_sid: str) -> _Session:
        session = self._sessions.get(eio_sid)
        if session is None:
            raise LocalProtocolError(f"no Engine.IO session {eio_sid!r}")
        return session

    # -- HTTP long-polling -------------------------------------------------------------------

    def receive_request(self, request: HttpRequest, now: float) -> list[_Output]:
        """An HTTP request arrived. Its answer is an :class:`HttpResponse` now, or later
        (a GET is parked until there is something to send)."""
        check_time("now", now)
        return self._time_passed(now) + self._request(request, now)

    def _time_passed(self, now: float) -> list[_Output]:
        """What was due by ``now``, before the input that comes at ``now``: a GET that comes
        after its session's ping timeout finds the session gone, whichever of the timer and
        the request the binding's loop runs first (Node runs timers first)."""
        timers = self._timers
        return self.advance(now) if timers and timers[0][0] <= now else []

    def _request(self, request: HttpRequest, now: float) -> list[_Output]:
        handle, query = request.handle, request.query
        transport = query.get("transport")
        if transport not in self.transports:
            return [_error_response(handle, HttpError.UNKNOWN_TRANSPORT)]
        sid = query.get("sid")
        if not sid:
            if not self.accepting:
                return [_shutting_down(handle)]
            if request.method != "GET":
                return [_error_response(handle, HttpError.BAD_HANDSHAKE_METHOD)]
            if transport != "polling":  # a WebSocket handshake needs an Upgrade request
                return [_error_response(handle, HttpError.BAD_REQUEST)]
            if query.get("EIO") != "4":
                return [_error_response(handle, HttpError.UNSUPPORTED_PROTOCOL_VERSION)]
            return self._open(_POLLING, handle, query, now)
        session = self._sessions.get(sid)
        if session is None:
            return [_error_response(handle, HttpError.UNKNOWN_SID)]
        if transport != "polling" or session.state is _WEBSOCKET:
            return [_error_response(handle, HttpError.BAD_REQUEST)]
        if request.method == "GET":
            return self._poll(session, handle, now)
        if request.method == "POST" and session.state is not _DRAINING:
            return self._post(session, request, now)
        return [_error_response(handle, HttpError.BAD_REQUEST)]

    def request_closed(self, handle: Handle, now: float) -> list[_Output]:
        """The client went away while its GET was parked. Unknown handles are ignored."""
        session = self._by_get.get(handle)
        if session is None:
            return []
        del self._by_get[handle]
        session.get = None
        return self._close(
            session, "transport error", "poll connection closed prematurely", transport_gone=True
        )

    def _poll(self, session: _Session, handle: Handle, now: float) -> list[_Output]:
        if session.get is not None:
            outputs: list[_Output] = [_error_response(handle, HttpError.BAD_REQUEST)]
            return outputs + self._close(session, "transport error", "overlap from client", now)
        session.get = handle
        self._by_get[handle] = session
        if session.outbox or session.state is _DRAINING:
            return [*self._flush_get(session)]
        if session.probed:
            self._noop_later(session, now)
        return []

    def _noop_later(self, session: _Session, now: float) -> None:
        # Once per GET: the probe comes once, and a GET is parked once.
        session.noop_deadline = now + UPGRADE_NOOP_DELAY
        self._schedule(session.noop_deadline, session)

    def _flush_get(self, session: _Session) -> list[TransportOutput]:
        handle = session.get
        assert handle is not None
        session.get = None
        session.noop_deadline = None
        del self._by_get[handle]
        frames = session.outbox or _NOOP_FRAMES
        session.outbox = []
        body = _polling_body(frames)
        outputs: list[TransportOutput] = [
            HttpResponse(handle=handle, status=200, headers=_TEXT_PLAIN, body=body)
        ]
        if session.state is _DRAINING:
            self._forget_drained(session)
        return outputs

    def _post(self, session: _Session, request: HttpRequest, now: float) -> list[_Output]:
        handle = request.handle
        if request.content_type == "application/octet-stream":
            outputs: list[_Output] = [_error_response(handle, HttpError.BAD_REQUEST)]
            return outputs + self._close(session, "transport error", "invalid content", now)
        if len(request.body) > self.max_payload:
            too_large = HttpResponse(handle=handle, status=413, headers=(), body=b"")
            description = f"payload of {len(request.body)} bytes exceeds {self.max_payload}"
            return [too_large, *self._close(session, "transport error", description, now)]
        count = request.body.count(b"\x1e") + 1
        if count > self.max_packets_per_payload:
            # Each packet costs the loop time: a body of tiny packets would stall it.
            outputs = [_error_response(handle, HttpError.BAD_REQUEST)]
            description = (
                f"{count} packets in one payload, more than {self.max_packets_per_payload}"
            )
            return outputs + self._close(session, "transport error", description, now)
        try:
            packets = decode_payload(request.body, max_payload=self.max_payload)
        except RemoteProtocolError as error:
            outputs = [_error_response(handle, HttpError.BAD_REQUEST)]
            return outputs + self._close(session, "parse error", str(error), now)
        outputs = []
        for packet in packets:
            outputs += self._on_packet(session, packet, now)
            if session.sid not in self._sessions or session.state is _DRAINING:
                break
        outputs.append(HttpResponse(handle=handle, status=200, headers=_TEXT_HTML, body=b"ok"))
        return outputs

    # -- WebSocket ---------------------------------------------------------------------------

    def websocket_connect(
        self, handle: Handle, query: Mapping[str, str], now: float
    ) -> list[_Output]:
        """A WebSocket upgrade request arrived: a new session, or a probe to upgrade one."""
        check_time("now", now)
        return self._time_passed(now) + self._websocket_connect(handle, query, now)

    def _websocket_connect(
        self, handle: Handle, query: Mapping[str, str], now: float
    ) -> list[_Output]:
        if handle in self._by_websocket:
            raise LocalProtocolError(f"WebSocket {handle!r} is already connected")
        transport = query.get("transport")
        if transport not in self.transports:
            return [self._reject(handle, HttpError.UNKNOWN_TRANSPORT)]
        if transport != "websocket":
            return [self._reject(handle, HttpError.BAD_REQUEST)]
        sid = query.get("sid")
        if not sid:
            if not self.accepting:
                response = _shutting_down(handle)
                return [WebSocketReject(handle=handle, status=response.status, body=response.body)]
            if query.get("EIO") != "4":
                return [self._reject(handle, HttpError.UNSUPPORTED_PROTOCOL_VERSION)]
            return self._open(_WEBSOCKET, handle, query, now)
        session = self._sessions.get(sid)
        if session is None:
            return [self._reject(handle, HttpError.UNKNOWN_SID)]
        if session.state is _DRAINING:
            return [self._reject(handle, HttpError.BAD_REQUEST)]
        if session.state is not _POLLING:
            # Upgrading or upgraded already: this one is accepted and closed at once, as
            # Node does; the session goes on over its own WebSocket.
            return [WebSocketAccept(handle=handle), WebSocketClose(handle=handle)]
        session.move(_Input.PROBE_OPENED)
        session.probe = handle
        self._by_websocket[handle] = session
        session.upgrade_deadline = now + self.upgrade_timeout
        self._schedule(session.upgrade_deadline, session)
        return [WebSocketAccept(handle=handle)]

    @staticmethod
    def _reject(handle: Handle, error: HttpError) -> WebSocketReject:
        return WebSocketReject(
            handle=handle, status=error.status, body=http_error_body(error).encode()
        )

    def websocket_message(self, handle: Handle, data: str | bytes, now: float) -> list[_Output]:
        """A WebSocket message arrived. Messages of an unknown or closed WebSocket are ignored
        (they can race with a close)."""
        if type(now) is not float or not now >= 0.0:  # (NaN is not >= 0.0)
            check_time("now", now)
        timers = self._timers
        if timers and timers[0][0] <= now:  # (_time_passed, inline: once per message)
            return self.advance(now) + self._websocket_message(handle, data, now)
        return self._websocket_message(handle, data, now)

    def _websocket_message(self, handle: Handle, data: str | bytes, now: float) -> list[_Output]:
        session = self._by_websocket.get(handle)
        if session is None:
            return []
        if type(data) is str:
            # An ASCII text's UTF-8 size is its length (isascii() reads a flag): no encoding.
            size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
        else:
            size = len(data)
        if handle == session.probe:
            return self._on_probe_message(session, data, now)
        if size > self.max_payload:
            return self._close(
                session,
                "transport error",
                f"message of {size} bytes exceeds {self.max_payload}",
                now,
                close_code=1009,  # "message too big", as Node's ws says
            )
        if type(data) is str and data[:1] == "4":
            # A message, the commonest packet by far: what _on_packet does with it, without
            # the packet object.
            session.last_packet = now
            return [_message_received(session.sid, data[1:])]
        try:
            packet = decode_packet(data)
        except RemoteProtocolError as error:
            return self._close(session, "parse error", str(error), now)
        return self._on_packet(session, packet, now)

    def websocket_closed(self, handle: Handle, now: float) -> list[_Output]:
        """The WebSocket is closed (by the peer, or after our WebSocketClose)."""
        session = self._by_websocket.get(handle)
        if session is None:
            return []
        if handle == session.probe:
            del self._by_websocket[handle]
            self._drop_probe(session)
            return []
        return self._close(
            session, "transport close", "the WebSocket was closed", transport_gone=True
        )

    def websocket_failed(self, handle: Handle, now: float, description: str) -> list[_Output]:
        """The binding gave up on this WebSocket (its write buffer overflowed, a write
        failed): the session closes with "transport error" and ``description``; the binding
        drops the connection itself (no WebSocketClose is sent for it)."""
        session = self._by_websocket.get(handle)
        if session is None:
            return []
        if handle == session.probe:
            del self._by_websocket[handle]
            self._drop_probe(session)
            return []
        return self._close(session, "transport error", description, transport_gone=True)

    def _on_probe_message(self, session: _Session, data: str | bytes, now: float) -> list[_Output]:
        probe = session.probe
        if data == "2probe" and not session.probed:
            session.probed = True
            if session.get is not None:  # the paused client's poll returns with a noop
                self._noop_later(session, now)
            return [WebSocketSend(handles=(probe,), frames=(_PONG_PROBE,), control=True)]
        if data == "5" and session.probed:
            session.move(_Input.UPGRADE)
            session.ws, session.probe, session.probed = probe, None, False
            session.upgrade_deadline = session.noop_deadline = None
            outputs: list[_Output] = []
            get = session.get
            if get is not None:  # a GET that raced the upgrade: polling is over
                session.get = None
                del self._by_get[get]
                outputs.append(_error_response(get, HttpError.BAD_REQUEST))
            if session.outbox:
                frames = tuple(session.outbox)
                session.outbox = []
                outputs.append(WebSocketSend(handles=(probe,), frames=frames))
            return outputs
        # Anything else on a probe ends the probe, not the session (as Node does).
        del self._by_websocket[probe]
        self._drop_probe(session)
        return [WebSocketClose(handle=probe, code=1002)]

    def _drop_probe(self, session: _Session) -> None:
        session.probe, session.probed, session.upgrade_deadline = None, False, None
        session.move(_Input.PROBE_FAILED)
        session.noop_deadline = None  # a parked GET stays parked, as before the probe

    # -- packets in --------------------------------------------------------------------------

    def _on_packet(self, session: _Session, packet: EioPacket, now: float) -> list[_Output]:
        session.last_packet = now
        kind = packet.type
        if kind is EioPacketType.MESSAGE:
            # An empty binary message is an empty attachment, not an empty text.
            data = packet.data
            return [MessageReceived(eio_sid=session.sid, data="" if data is None else data)]
        if kind is EioPacketType.PONG:
            session.pong_deadline = None
            session.next_ping = now + self.ping_interval
            self._schedule(session.next_ping, session)
            return []
        if kind is EioPacketType.CLOSE:
            return self._close(
                session, "transport close", "the client closed the session", client_close=True
            )
        if kind is EioPacketType.PING:  # protocol v4: only the server pings
            return self._close(session, "transport error", "invalid heartbeat direction", now)
        return []  # open, upgrade and noop mean nothing here: ignored, as Node does

    # -- packets out -------------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Inputs come in a batch (what a host read at once, or the outputs of one input):
        until :meth:`end_batch`, a parked GET is not answered at its first packet but once,
        with every packet queued for it in the batch, in one body.

        Node answers at the first packet; the rest then wait for the client's next GET, a
        round trip later. A host that writes once its batch is done (both bindings do)
        sends nothing later this way.
        """
        self._batching = True

    def end_batch(self) -> list[TransportOutput]:
        """End the batch: the answers of the parked GETs that have packets to take."""
        self._batching = False
        due = self._due
        if not due:
            return []
        self._due = []
        outputs: list[TransportOutput] = []
        for session in due:
            # Answered meanwhile (a close, an upgrade, a GET that found packets), or gone.
            if session.get is not None and session.outbox:
                outputs += self._flush_get(session)
        return outputs

    def send(
        self,
        eio_sid: str,
        messages: Sequence[str | bytes],
        *,
        volatile: bool = False,
        compress: bool = True,
    ) -> list[TransportOutput]:
        """Send message packets on one session (text or binary, in order)."""
        return self.broadcast((eio_sid,), messages, volatile=volatile, compress=compress)

    def broadcast(
        self,
        eio_sids: Iterable[str],
        messages: Sequence[str | bytes],
        *,
        volatile: bool = False,
        compress: bool = True,
    ) -> list[TransportOutput]:
        """Send the same message packets to several sessions: the WebSocket frames are built
        once, and every WebSocket session is in one :class:`WebSocketSend`."""
        if len(messages) == 1 and type(messages[0]) is str:  # one text packet: the common case
            frames: tuple[str | bytes, ...] = ("4" + messages[0],)
        else:
            frames = tuple(m if isinstance(m, bytes) else "4" + m for m in messages)
        handles: list[Handle] = []
        outputs: list[TransportOutput] = []
        sessions = self._sessions
        checked = False
        for eio_sid in eio_sids:
            session = sessions.get(eio_sid)
            if session is None:
                raise LocalProtocolError(f"no Engine.IO session {eio_sid!r}")
            if session.ws is not None:
                handles.append(session.ws)
            elif session.state is not _DRAINING:
                if not checked:  # once per broadcast, before anything is queued
                    _check_pollable(frames)
                    checked = True
                outputs += self._queue(session, frames, volatile)
        if handles:
            outputs.insert(0, _websocket_send(tuple(handles), frames, volatile, compress))
        return outputs

    def _queue(
        self, session: _Session, frames: tuple[str | bytes, ...], volatile: bool
    ) -> list[TransportOutput]:
        if session.get is not None:
            if self._batching:
                # Answered by end_batch, with whatever else comes before it. A parked GET
                # has an empty outbox (_poll answers at once otherwise): the first packets
                # make it due.
                if not session.outbox:
                    self._due.append(session)
                session.outbox += frames
                return []
            session.outbox += frames
            return self._flush_get(session)
        if volatile:
            return []  # not writable right now: a volatile packet is dropped
        session.outbox += frames
        over = len(session.outbox) > self.max_buffered_packets
        if over and session.pong_deadline is None and session.next_ping != 0.0:
            # Far behind with no GET here: between a response and the next GET (a burst can
            # outrun a round trip), or stalled. Ping now (0.0: due at once, times are >= 0);
            # the ping timeout decides. A client that polls answers (Node has no limit).
            session.next_ping = 0.0
            self._schedule(0.0, session)
        return []

    def close(
        self,
        eio_sid: str,
        now: float,
        reason: str = "forced close",
        description: str = "closed by the server",
    ) -> list[_Output]:
        """Close a session from the server side. Over long-polling the close packet waits
        for the session's next GET (at most ``close_timeout``)."""
        return self._close(self._session(eio_sid), reason, description, now, drain=True)

    def shutdown(self, now: float) -> list[_Output]:
        """Close every session with "server shutting down" (a parked GET is answered with
        the close packet now; an idle poller gets it on its next GET), and open no new one
        (503) until :attr:`accepting` is set again."""
        self.accepting = False
        outputs: list[_Output] = []
        for session in list(self._sessions.values()):
            outputs += self._close(
                session, "server shutting down", "server shutdown", now, drain=True
            )
        return outputs

    def _close(
        self,
        session: _Session,
        reason: str,
        description: str,
        now: float | None = None,
        *,
        transport_gone: bool = False,
        drain: bool = False,
        client_close: bool = False,
        close_code: int = 1000,
    ) -> list[_Output]:
        """End the session. A parked GET receives the close packet (a noop when the client
        closed: it knows). Without one, the session is forgotten at once, unless the host
        closed it (``drain``, with ``now``): then the close packet waits for the next GET,
        until ``close_timeout``. A WebSocket is closed with ``close_code``."""
        if session.state is _DRAINING or session.sid not in self._sessions:
            return []
        outputs: list[_Output] = []
        if session.probe is not None:
            del self._by_websocket[session.probe]
            outputs.append(WebSocketClose(handle=session.probe))
            session.probe, session.probed = None, False
        session.next_ping = session.pong_deadline = session.upgrade_deadline = None
        ws = session.ws
        session.move(_Input.CLOSE)
        if ws is not None:
            del self._by_websocket[ws]
            if not transport_gone:
                outputs.append(WebSocketClose(handle=ws, code=close_code))
            del self._sessions[session.sid]
        elif session.get is not None:
            if client_close:
                session.outbox = []
            else:
                session.outbox.append(_CLOSE_FRAME)
            outputs += self._flush_get(session)
        elif transport_gone or not drain or now is None:
            self._forget_drained(session)
        else:
            session.outbox.append(_CLOSE_FRAME)
            session.drain_deadline = now + self.close_timeout
            self._schedule(session.drain_deadline, session)
        outputs.append(SessionClosed(eio_sid=session.sid, reason=reason, description=description))
        return outputs

    def _forget_drained(self, session: _Session) -> None:
        session.move(_Input.DRAINED)
        del self._sessions[session.sid]

    # -- sessions and time -------------------------------------------------------------------

    def _open(
        self, state: SessionState, handle: Handle, query: Mapping[str, str], now: float
    ) -> list[_Output]:
        sid = self.id_factory()
        if sid in self._sessions:
            raise LocalProtocolError(f"the id factory returned {sid!r} twice")
        session = _Session(sid, state, now)
        self._sessions[sid] = session
        upgrades = ["websocket"] if state is _POLLING and "websocket" in self.transports else []
        open_packet = handshake_packet(
            sid,
            upgrades,
            round(self.ping_interval * 1000),
            round(self.ping_timeout * 1000),
            self.max_payload,
        )
        session.next_ping = now + self.ping_interval
        self._schedule(session.next_ping, session)
        opened = SessionOpened(eio_sid=sid, transport=state.value, query=query)
        if state is _WEBSOCKET:
            session.ws = handle
            self._by_websocket[handle] = session
            frame = encode_packet(open_packet)
            return [
                WebSocketAccept(handle=handle),
                WebSocketSend(handles=(handle,), frames=(frame,)),
                opened,
            ]
        body = encode_payload([open_packet]).encode()
        return [HttpResponse(handle=handle, status=200, headers=_TEXT_PLAIN, body=body), opened]

    def _schedule(self, when: float, session: _Session) -> None:
        heapq.heappush(self._timers, (when, next(self._timer_seq), session.sid))

    def next_deadline(self) -> float | None:
        """When ``advance`` must next be called, or ``None``."""
        timers = self._timers
        while timers and not self._armed(*timers[0]):
            heapq.heappop(timers)  # stale: the session moved on or is gone
        return timers[0][0] if timers else None

    def _armed(self, when: float, seq: int, eio_sid: str) -> bool:
        """The timer entry is still one of its session's deadlines (checked on every input
        a binding performs: a tuple test, not a list and a min)."""
        session = self._sessions.get(eio_sid)
        return session is not None and when in (
            session.next_ping,
            session.pong_deadline,
            session.upgrade_deadline,
            session.drain_deadline,
            session.noop_deadline,
        )

    def advance(self, now: float) -> list[_Output]:
        """Time is ``now``: send due pings, close sessions past their ping timeout, end
        probes past the upgrade timeout, forget drained sessions."""
        check_time("now", now)
        outputs: list[_Output] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, sid = heapq.heappop(timers)
            session = self._sessions.get(sid)
            if session is None:
                continue
            outputs += self._on_timer(session, now)
        return outputs

    def _on_timer(self, session: _Session, now: float) -> list[_Output]:
        outputs: list[_Output] = []
        if session.state is _DRAINING:
            # Nobody came for the close packet in time. (A GET would have drained it.)
            if session.drain_deadline is not None and session.drain_deadline <= now:
                self._forget_drained(session)
            return outputs
        if session.noop_deadline is not None and session.noop_deadline <= now:
            outputs += self._flush_get(session)  # clears the deadline
        if session.upgrade_deadline is not None and session.upgrade_deadline <= now:
            probe = session.probe
            del self._by_websocket[probe]
            self._drop_probe(session)
            outputs.append(WebSocketClose(handle=probe))
        if session.pong_deadline is not None and session.pong_deadline <= now:
            # Any packet counts as a sign of life, not only the pong (Node does the same).
            quiet_since = session.last_packet + self.ping_timeout
            if quiet_since > now:
                session.pong_deadline = quiet_since
                self._schedule(quiet_since, session)
            else:
                return outputs + self._close(
                    session, "ping timeout", f"no pong within {self.ping_timeout} s", now
                )
        due = session.next_ping
        if due is not None and due <= now:
            session.next_ping = None
            # The client's clock: pingTimeout after the ping was due, not after the loop got
            # round to it, so that a request at handshake + pingInterval + pingTimeout finds
            # the session gone however late the timer ran (the protocol's suites check it
            # to the millisecond). A loop late by more than half the timeout leaves the
            # client half of it.
            session.pong_deadline = max(due + self.ping_timeout, now + self.ping_timeout / 2)
            self._schedule(session.pong_deadline, session)
            if session.ws is not None:
                ping = WebSocketSend(handles=(session.ws,), frames=(_PING_FRAME,), control=True)
                outputs.append(ping)
            else:
                session.outbox.append(_PING_FRAME)
                if session.get is not None:
                    outputs += self._flush_get(session)
        return outputs
