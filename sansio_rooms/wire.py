"""One TCP connection of the bindings' own server, sans-IO: HTTP/1.1 (``httptools``, the
llhttp parser Node itself uses) and WebSocket (the sans-IO ``Protocol`` of ``websockets``),
bytes in, events and bytes out.

The bindings' ``serve()`` runs an :class:`ASGIAppBase` without an ASGI server: an HTTP request
becomes an ASGI ``http`` scope, answered through the app as any ASGI server would; a WebSocket
on the Socket.IO path is handed straight to the machine, its frames read and written with no
ASGI message, queue or task in between (what made the ASGI path slower than Node). A binding
feeds :meth:`WireConnection.receive_data`, performs the events it returns, and writes
:meth:`WireConnection.data_to_send`; nothing here reads a clock or a socket.

Decisions, as a user of Node's ``http`` + ``ws`` or of uvicorn would expect them:

- keep-alive as HTTP/1.1 says; requests are answered in order (pipelined ones wait);
- a request body over ``max_body`` is answered 413 without reading the rest, and the
  connection closed; malformed HTTP, or HTTP/1.1 without ``Host``, gets 400 and a close;
  an ``Upgrade`` that is not a WebSocket handshake is answered as a plain request, then the
  connection is closed (nothing after it can be read as HTTP);
- HTTP with llhttp rather than h11: a request and its answer cost 1 µs instead of 31 µs
  here, and a long-polling client makes one of each per delivery or few.
- WebSocket: RFC 6455, version 13, no extension (Node's socket.io has ``perMessageDeflate``
  off by default, and a broadcast's frames are then built once for every recipient);
  fragmented messages are assembled up to ``max_message``; a text frame that is not UTF-8
  closes with 1007, a message over the limit with 1009.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

import httptools
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

__all__ = [
    "HttpRequestReceived",
    "WebSocketClosed",
    "WebSocketRequested",
    "WireConnection",
    "accept_key",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_OPEN = State.OPEN
_CLOSED = State.CLOSED
_from_bytes = int.from_bytes


def _unmask(mask: bytes, payload: bytes) -> bytes:
    """RFC 6455 §5.3: the payload XOR the mask repeated (as one big integer each: a few C
    operations whatever the size)."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * ((size >> 2) + 1))[:size]
    return (_from_bytes(payload, "little") ^ _from_bytes(key, "little")).to_bytes(size, "little")


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


class HttpRequestReceived:
    """A whole HTTP request: its ASGI ``scope`` and its ``body``. Answer it with
    :meth:`WireConnection.respond` (the next request waits until then)."""

    __slots__ = ("body", "scope")

    def __init__(self, scope: dict[str, Any], body: bytes) -> None:
        self.scope = scope
        self.body = body


class WebSocketRequested:
    """A WebSocket handshake request (its ASGI ``websocket`` scope): answer it with
    :meth:`WireConnection.accept_websocket` or :meth:`WireConnection.respond`."""

    __slots__ = ("scope",)

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope


class WebSocketClosed:
    """The WebSocket is closed (the closing handshake, a protocol error or the end of the
    connection); ``code`` as the peer gave it, or 1006 when it just went away."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


class WireConnection:
    """The state of one connection. ``receive_data(b"")`` reports the end of its input.

    :meth:`receive_data` returns the events, in order: :class:`HttpRequestReceived`,
    :class:`WebSocketRequested`, then, once accepted, each WebSocket message as its ``str``
    or ``bytes``, and :class:`WebSocketClosed`. After each call, write :meth:`data_to_send`;
    :attr:`should_close` says when the connection is to be closed after that."""

    def __init__(
        self,
        *,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str = "http",
        max_body: int = 1_000_000,
        max_message: int = 1_000_000,
    ) -> None:
        self._reader: _RequestReader | None = _RequestReader(max_body)
        self._ws: Protocol | None = None
        self._client = client
        self._server = server
        self._scheme = scheme
        self._max_body = max_body
        self._max_message = max_message
        self._out: list[bytes] = []
        self._request: _Request | None = None  # the request reported last
        self._answering = False  # a request was reported and is not answered yet
        self._buffer = b""  # received, not yet a whole frame (its header, at most)
        self._pieces: list[bytes] = []  # received of a frame whose length is known
        self._pieced = 0  # their size
        self._needed = 0  # the frame's
        self._handed_over = False  # every byte goes to websockets' parser from now on
        self._fragments: list[bytes] = []
        self._fragments_opcode: Opcode | None = None  # a fragmented message is coming
        self._ws_closed = False
        self.should_close = False

    @property
    def is_websocket(self) -> bool:
        return self._ws is not None

    # -- input -------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Any]:
        """What ``data`` (``b""``: the peer closed its side) makes happen."""
        ws = self._ws
        if ws is not None:
            if data:
                return self._receive_frames(ws, data)
            rest = self._rest()
            if rest:  # a frame cut short: websockets' parser says what it was
                ws.receive_data(rest)
            ws.receive_eof()
            return self._websocket_events(ws)
        reader = self._reader
        assert reader is not None
        if self.should_close:
            return []
        if not data:
            reader.ended = True
        else:
            reader.feed(data)
        return self._http_events(reader)

    def _http_events(self, reader: _RequestReader) -> list[Any]:
        """The next request, if none is being answered (the others wait their turn)."""
        if self._answering or self.should_close:
            return []
        if reader.requests:
            request = self._request = reader.requests.popleft()
            self._answering = True
            if request.refusal is not None:  # over the size limit, or no Host
                status, text = request.refusal
                self.should_close = True  # the rest of the body is not read
                self.respond(status, [(b"content-type", b"text/plain")], text)
                return []
            if request.upgrade and _wants_websocket(request):
                return [WebSocketRequested(self._scope(request, "websocket"))]
            return [HttpRequestReceived(self._scope(request, "http"), request.body)]
        if reader.error is not None:
            self.should_close = True
            self._write_response(400, [(b"content-type", b"text/plain")], reader.error.encode())
        elif reader.ended:
            self.should_close = True
        return []

    def _scope(self, request: _Request, kind: str) -> dict[str, Any]:
        path, _, query = request.target.partition(b"?")
        scope: dict[str, Any] = {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": request.version,
            "scheme": ("wss" if self._scheme == "https" else "ws")
            if kind == "websocket"
            else self._scheme,
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": self._client,
            "server": self._server,
        }
        if kind == "http":
            scope["method"] = request.method
        else:
            scope["subprotocols"] = []
            scope["extensions"] = {"websocket.http.response": {}}
        return scope

    def _receive_frames(self, ws: Protocol, data: bytes) -> list[Any]:
        """The frames in what was received (with what was kept of an incomplete one).

        A whole, unfragmented, masked text or binary frame, while the WebSocket is open, is
        read here: header, unmasking and UTF-8 in a few operations (websockets' generator
        parser cost three times more per message, a tenth of an event's whole cost). Every
        other frame (control frames, fragments, anything malformed) is handed to websockets'
        Protocol whole, one at a time, so that its parser never holds part of a frame and
        all of the protocol's rules stay its own. A frame announced bigger than the limit
        goes to it at once (it fails the connection with 1009), and so does all that
        follows."""
        if self._pieces:  # the rest of a frame: joined once it is all there
            self._pieces.append(data)
            self._pieced += len(data)
            if self._pieced < self._needed:
                return []
            buffer = self._rest()
        else:
            buffer = self._buffer + data if self._buffer else data
        if self._handed_over:
            ws.receive_data(buffer)
            self._buffer = b""
            return self._websocket_events(ws)
        events: list[Any] = []
        end = len(buffer)
        position = 0
        while end - position >= 2:
            first = buffer[position]
            second = buffer[position + 1]
            length = second & 0x7F
            start = position + 2
            if length == 126:
                if end - start < 2:
                    break
                length = _from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if end - start < 8:
                    break
                length = _from_bytes(buffer[start : start + 8], "big")
                start += 8
            if length > self._max_message:
                self._handed_over = True
                ws.receive_data(buffer[position:])
                position = end
                events += self._websocket_events(ws)
                break
            masked = second & 0x80
            stop = start + (4 if masked else 0) + length
            if stop > end:
                # Kept in pieces until it is whole: a big frame sent in small reads is
                # joined once, not copied again at every read.
                self._pieces = [buffer[position:]]
                self._pieced = end - position
                self._needed = stop - position
                self._buffer = b""
                return events
            if (
                (first == 0x81 or first == 0x82)
                and masked
                and self._fragments_opcode is None
                and ws.state is _OPEN
            ):
                payload = _unmask(buffer[start : start + 4], buffer[start + 4 : stop])
                if first == 0x82:
                    events.append(payload)
                else:
                    message = self._message(ws, _TEXT, payload)
                    if message is not None:
                        events.append(message)
            else:
                ws.receive_data(buffer[position:stop])
                events += self._websocket_events(ws)
            position = stop
        self._buffer = buffer[position:]
        return events

    def _rest(self) -> bytes:
        """What is kept of an incomplete frame, taken."""
        rest = b"".join(self._pieces) if self._pieces else self._buffer
        self._pieces = []
        self._buffer = b""
        return rest

    def _websocket_events(self, ws: Protocol) -> list[Any]:
        events: list[Any] = []
        # Only frames come out of a Protocol made OPEN (no handshake of its own to parse).
        for frame in cast(list[Frame], ws.events_received()):
            data = cast(bytes, frame.data)
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if frame.fin:
                    message = self._message(ws, opcode, data)
                    if message is not None:
                        events.append(message)
                else:
                    self._fragments = [data]
                    self._fragments_opcode = opcode
            elif opcode is _CONT:
                # websockets holds the whole message to max_size (1009 past it); an empty
                # fragment adds nothing (and is not kept: they could be sent forever).
                if data:
                    self._fragments.append(data)
                if frame.fin:
                    data = b"".join(self._fragments)
                    self._fragments = []
                    first = self._fragments_opcode
                    self._fragments_opcode = None
                    assert first is not None
                    message = self._message(ws, first, data)
                    if message is not None:
                        events.append(message)
        if not self._ws_closed and (ws.close_rcvd is not None or ws.state is _CLOSED):
            self._ws_closed = True
            code = ws.close_rcvd.code if ws.close_rcvd is not None else 1006
            events.append(WebSocketClosed(code))
        return events

    def _message(self, ws: Protocol, opcode: Opcode, data: bytes) -> str | bytes | None:
        if opcode is _BINARY:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            ws.fail(1007, "invalid UTF-8")
            return None

    # -- output ------------------------------------------------------------------------------------

    def respond(self, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> None:
        """Answer the request reported last (an HTTP one, or a WebSocket handshake refused)."""
        request = self._request
        assert self._reader is not None and request is not None and self._answering
        self._answering = False
        if not request.keep_alive or request.upgrade:
            self.should_close = True  # nothing after an Upgrade request is HTTP
        self._write_response(status, headers, body)

    def _write_response(
        self, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes
    ) -> None:
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))]
        for name, value in headers:
            if name.lower() != b"content-length":
                lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"content-length: %d\r\n" % len(body))
        if self.should_close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        lines.append(body)
        self._out.append(b"".join(lines))

    def accept_websocket(self) -> None:
        """Accept the WebSocket handshake reported last: 101, then frames."""
        reader = self._reader
        request = self._request
        assert reader is not None and request is not None and self._answering
        key = _header(request, b"sec-websocket-key") or b""
        self._out.append(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
            b"connection: Upgrade\r\nsec-websocket-accept: %s\r\n\r\n" % accept_key(key)
        )
        self._reader = None
        self._answering = False
        self._ws = Protocol(Side.SERVER, state=State.OPEN, max_size=self._max_message)
        self._buffer = reader.leftover  # frames sent right behind the handshake

    def pending_events(self) -> list[Any]:
        """Events already received but not yet reported: a request pipelined behind the one
        just answered, or frames that came with the WebSocket handshake."""
        if self._ws is not None:
            return self._receive_frames(self._ws, b"")
        reader = self._reader
        assert reader is not None
        return self._http_events(reader)

    def send_frames(self, frames: Iterable[bytes]) -> None:
        """Whole WebSocket frames, already serialized (a broadcast's, built once)."""
        ws = self._ws
        if ws is not None and ws.state is _OPEN:
            self._out.extend(frames)

    def send_frame(self, frame: bytes) -> None:
        """``send_frames((frame,))``: once per recipient of a broadcast."""
        ws = self._ws
        if ws is not None and ws.state is _OPEN:
            self._out.append(frame)

    def close_websocket(self, code: int = 1000) -> None:
        """Start the closing handshake (the peer's close frame then ends the connection)."""
        ws = self._ws
        if ws is not None and ws.state is _OPEN:
            ws.send_close(code)

    def data_to_send(self) -> bytes:
        """The bytes to write now."""
        out = self._out
        ws = self._ws
        if ws is not None:
            for chunk in ws.data_to_send():
                if chunk:
                    out.append(chunk)
                else:  # websockets' signal: close the TCP connection after this
                    self.should_close = True
        if not out:
            return b""
        self._out = []
        return b"".join(out)


class _Request:
    """A whole request, as read."""

    __slots__ = (
        "body",
        "headers",
        "keep_alive",
        "method",
        "refusal",
        "target",
        "upgrade",
        "version",
    )

    def __init__(self) -> None:
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.method = "GET"
        self.version = "1.1"
        self.keep_alive = True
        self.upgrade = False
        self.refusal: tuple[int, bytes] | None = None  # answered so, without the app


class _RequestReader:
    """httptools' callbacks: the requests read so far, whole, in order."""

    def __init__(self, max_body: int) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._max_body = max_body
        self._current = _Request()
        self._body: list[bytes] = []
        self._size = 0
        self.requests: deque[_Request] = deque()
        self.error: str | None = None  # why the input stopped being HTTP
        self.ended = False  # the client closed its side
        self.upgraded = False  # an Upgrade request was read: what follows is not HTTP
        self.leftover = b""  # the bytes that followed it

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return  # answered 400 or 413: nothing more is read
        if self.upgraded:
            self.leftover += data
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgraded = True
            self.leftover = data[upgrade.args[0] :]
        except httptools.HttpParserError as error:
            if self.error is None:
                self.error = f"Bad Request: {error}"

    # httptools calls these.

    def on_message_begin(self) -> None:
        self._current = _Request()
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = self._current
        request.method = parser.get_method().decode("latin-1")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        if request.version == "1.1" and _header(request, b"host") is None:
            request.refusal = (400, b"Bad Request: missing Host header")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._current.refusal = (413, b"Payload Too Large")
            # Answered now, not when (if ever) the rest has come.
            self.requests.append(self._current)
            self.error = "too large"
            raise _Stop
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._current
        request.body = b"".join(self._body)
        self.requests.append(request)


class _Stop(Exception):
    """Raised in a callback to stop httptools reading (it raises it back, wrapped)."""


def _reason(status: int) -> bytes:
    reason = _REASONS.get(status)
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        _REASONS[status] = reason
    return reason


_REASONS: dict[int, bytes] = {}  # filled as statuses are answered (a handful in practice)


def _header(request: _Request, name: bytes) -> bytes | None:
    for field, value in request.headers:
        if field == name:
            return value
    return None


def _wants_websocket(request: _Request) -> bool:
    """A handshake as RFC 6455 §4.2.1 asks (the rest is checked by the answer)."""
    upgrade = _header(request, b"upgrade")
    if upgrade is None or upgrade.lower() != b"websocket" or request.method != "GET":
        return False
    connection = _header(request, b"connection") or b""
    tokens = {token.strip().lower() for token in connection.split(b",")}
    key = _header(request, b"sec-websocket-key")
    return (
        b"upgrade" in tokens
        and key is not None
        and _header(request, b"sec-websocket-version") == b"13"
    )
