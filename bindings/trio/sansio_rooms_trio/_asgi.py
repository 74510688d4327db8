"""The ASGI application: Engine.IO over WebSocket and HTTP long-polling, at ``/socket.io/``.

Serve it with a trio ASGI server (hypercorn's trio worker). Mount it in front of another
ASGI app (``other_asgi_app``) to serve both from one server::

    app = ASGIApp(server, other_asgi_app=my_app)

Requests outside the Socket.IO path go to the other app, or to ``static_files`` (a mapping
of URL paths to local files), or get a 404. The lifespan runs the server
(``server.running()``: its nursery, its timer) and stops it gracefully; lifespan events are
not forwarded to the other app.
"""

from __future__ import annotations

import mimetypes
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import trio

from sansio_rooms import parse_query
from sansio_rooms._engineio_server import HttpRequest, HttpResponse

from ._server import AsyncServer
from ._transport import WebSocketWriter

__all__ = ["ASGIApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Message:
    """One frame, ready twice: as the ASGI ``websocket.send`` message, and as the bytes of a
    complete WebSocket frame (server frames are not masked) for a transport we can write to
    directly. Built once per broadcast and shared by every recipient."""

    __slots__ = ("asgi", "wire")

    def __init__(self, frame: str | bytes) -> None:
        self.asgi: dict[str, Any]
        if isinstance(frame, str):
            self.asgi = {"type": "websocket.send", "text": frame}
            payload = frame.encode("utf-8", "surrogatepass")
            first = 0x81  # FIN + text
        else:
            self.asgi = {"type": "websocket.send", "bytes": frame}
            payload = bytes(frame)
            first = 0x82  # FIN + binary
        size = len(payload)
        if size < 126:
            header = bytes((first, size))
        elif size < 65536:
            header = bytes((first, 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((first, 127)) + size.to_bytes(8, "big")
        self.wire = header + payload


def _direct_transport(send: Send) -> Any:
    """hypercorn's HTTP/1.1 WebSocket stream behind ``send``, and the TCP server under it,
    if that is what they are.

    hypercorn sends each ASGI message through several layers, one lock and one socket write
    each: about 80 µs a message here. Writing the frames built once straight to its stream,
    several queued frames in one write, under its own send lock, is what makes a trio
    broadcast affordable. Anything else (another server, HTTP/2, an attribute missing in
    another version) goes through ``send``, as ASGI says."""
    stream = getattr(send, "__self__", None)
    if type(stream).__module__ != "hypercorn.protocol.ws_stream" or not hasattr(stream, "state"):
        return None
    http = getattr(getattr(stream, "send", None), "__self__", None)
    if type(http).__module__ != "hypercorn.protocol.h11":
        return None
    tcp = getattr(getattr(http, "send", None), "__self__", None)
    if type(tcp).__module__ != "hypercorn.trio.tcp_server":
        return None
    if not (hasattr(tcp, "stream") and hasattr(tcp, "send_lock")):
        return None
    return stream, tcp


class _AsgiWebSocket(WebSocketWriter):
    """A WebSocket of the ASGI server: frames become ``websocket.send`` messages."""

    def __init__(self, server: AsyncServer, send: Send, scope: trio.CancelScope) -> None:
        super().__init__(server, send, server.max_buffer)
        self.decided = trio.Event()
        self.accepted = False
        self._scope = scope
        self._direct = _direct_transport(send)

    prepare = staticmethod(lambda frames: tuple(map(_Message, frames)))

    @staticmethod
    def _unwrap(message: Any) -> Any:
        return message.asgi if type(message) is _Message else message

    async def _send_some(self, queue: deque[Any]) -> None:
        direct = self._direct
        if direct is None or type(queue[0]) is not _Message:
            await super()._send_some(queue)
            return
        stream, tcp = direct
        if stream.state.name != "CONNECTED":  # closing: let hypercorn decide
            await super()._send_some(queue)
            return
        batch = []
        while queue and type(queue[0]) is _Message:
            batch.append(queue.popleft().wire)
        async with tcp.send_lock:
            await tcp.stream.send_all(b"".join(batch))

    @staticmethod
    def close_message(code: int) -> Any:
        return {"type": "websocket.close", "code": code}

    def accept(self) -> None:
        # Queued through the writer, so that it precedes the first frame.
        self._queue.appendleft({"type": "websocket.accept"})
        self._wakeup.unpark_all()
        self.accepted = True
        self.decided.set()

    def reject(self, status: int, body: bytes) -> None:
        super().reject(status, body)
        self.decided.set()

    def abort(self) -> None:
        # ASGI has no "drop the connection": end the handler, the server closes the socket.
        self._scope.cancel()


class _PendingResponse:
    """An HTTP request waiting for its response (a long-polling GET may wait a while)."""

    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.response: HttpResponse | None = None

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            self.event.set()


class ASGIApp:
    """Serve ``server`` over ASGI (hypercorn: ``hypercorn -k trio module:app``)."""

    def __init__(
        self,
        server: AsyncServer,
        other_asgi_app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        *,
        socketio_path: str = "socket.io",
        static_files: Mapping[str, str | Path] | None = None,
    ) -> None:
        self.server = server
        self.other_asgi_app = other_asgi_app
        self.path = "/" + socketio_path.strip("/") + "/"
        self.static_files = {k: Path(v) for k, v in (static_files or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        if path == self.path or path == self.path[:-1] or path.startswith(self.path):
            if kind == "websocket":
                await self._websocket(scope, receive, send)
                return
            if kind == "http":
                await self._http(scope, receive, send)
                return
        if kind == "http" and path in self.static_files:
            await self._static(self.static_files[path], send)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await _respond(send, 404, [(b"content-type", b"text/plain")], b"Not Found")
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":  # pragma: no cover - the ASGI order
            return
        async with self.server.running():
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass  # pragma: no cover - nothing else is sent to a lifespan
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        limit = server.machine.eio.max_payload
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if size <= limit:  # read past the limit no further than needed to refuse it
                chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False) and size <= limit
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type")
        pending = _PendingResponse()
        request = HttpRequest(
            handle=pending,
            method=scope["method"],
            query=parse_query(scope.get("query_string", b"")),
            body=b"".join(chunks),
            content_type=None if content_type is None else content_type.decode("latin-1"),
        )
        server._receive_request(request)
        if pending.response is None:
            # A parked GET: wait for the answer, or for the client to go away.
            async with trio.open_nursery() as nursery:

                async def client_left() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass  # pragma: no cover - a GET has no more body
                    nursery.cancel_scope.cancel()

                nursery.start_soon(client_left)
                await pending.event.wait()
                nursery.cancel_scope.cancel()
            if pending.response is None:
                server._request_closed(pending)
                return
        response = pending.response
        await _respond(
            send,
            response.status,
            [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
            response.body,
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        message = await receive()
        if message["type"] != "websocket.connect":  # pragma: no cover - the ASGI order
            return
        async with trio.open_nursery() as nursery:
            writer = _AsgiWebSocket(server, send, nursery.cancel_scope)
            nursery.start_soon(writer._write_all)
            server._websocket_connect(writer, parse_query(scope.get("query_string", b"")))
            await writer.decided.wait()
            if not writer.accepted:
                nursery.cancel_scope.cancel()
            else:
                try:
                    while True:
                        message = await receive()
                        kind = message["type"]
                        if kind == "websocket.receive":
                            text = message.get("text")
                            data = text if text is not None else message["bytes"]
                            server._websocket_message(writer, data)
                        elif kind == "websocket.disconnect":
                            break
                finally:
                    server._websocket_closed(writer)
                nursery.cancel_scope.cancel()
        if not writer.accepted:
            await send({"type": "websocket.close", "code": 1008})

    async def _static(self, path: Path, send: Send) -> None:
        try:
            body = await trio.Path(path).read_bytes()
        except OSError:
            await _respond(send, 404, [(b"content-type", b"text/plain")], b"Not Found")
            return
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await _respond(send, 200, [(b"content-type", content_type.encode())], body)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
