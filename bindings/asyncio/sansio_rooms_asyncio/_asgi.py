"""The ASGI application: Engine.IO over WebSocket and HTTP long-polling, at ``/socket.io/``.

Mount it in front of another ASGI app (``other_asgi_app``) to serve both from one server::

    app = ASGIApp(server, other_asgi_app=my_app)

Requests outside the Socket.IO path go to the other app, or to ``static_files`` (a mapping
of URL paths to local files), or get a 404. Lifespan events start and gracefully stop the
server (they are not forwarded to the other app).
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

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
    """uvicorn's ``websockets-sansio`` protocol behind ``send``, if that is what it is.

    Its ``send`` frames each message again for every recipient and awaits its flow-control
    event even when nothing holds it back; writing the frame built once straight to its
    transport, when that protocol would have written at once itself, is what a broadcast
    costs in Node. Anything else (another server, another implementation, an attribute
    missing in another version) goes through ``send``, as ASGI says."""
    protocol = getattr(send, "__self__", None)
    kind = type(protocol)
    if (
        kind.__name__ == "WebSocketsSansIOProtocol"
        and kind.__module__ == "uvicorn.protocols.websockets.websockets_sansio_impl"
        and all(
            hasattr(protocol, name)
            for name in (
                "transport",
                "writable",
                "handshake_complete",
                "close_sent",
                "disconnected",
            )
        )
    ):
        return protocol
    return None


class _AsgiWebSocket(WebSocketWriter):
    """A WebSocket of the ASGI server: frames become ``websocket.send`` messages."""

    def __init__(self, server: AsyncServer, send: Send) -> None:
        super().__init__(server, send, server.max_buffer)
        self.decided: asyncio.Future[tuple[bool, int]] = server._event_loop.create_future()
        self.handler_task = asyncio.current_task()
        self._direct = _direct_transport(send)
        # Frames for the direct path, written together at the end of this loop iteration:
        # several broadcasts to one client in a burst cost one system call, not one each.
        self._pending: list[_Message] = []

    prepare = staticmethod(lambda frames: tuple(map(_Message, frames)))

    @staticmethod
    def _unwrap(message: Any) -> Any:
        return message.asgi if type(message) is _Message else message

    def _direct_ready(self) -> bool:
        direct = self._direct
        return bool(
            direct.writable.is_set()
            and direct.handshake_complete
            and not direct.close_sent
            and not direct.disconnected
        )

    def _write_now(self, message: Any) -> bool:
        if self._direct is not None and type(message) is _Message and self._direct_ready():
            if not self._pending:
                self._server._event_loop.call_soon(self._flush)
            self._pending.append(message)
            return True
        if self._pending:  # what was written before goes first
            self._flush()
        return super()._write_now(message)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        direct = self._direct
        if not pending or direct.close_sent or direct.disconnected:
            return  # closing: nothing goes after the close frame
        if self._direct_ready():
            direct.transport.write(b"".join([message.wire for message in pending]))
            return
        # Flow control stepped in meanwhile: the normal path waits for the client.
        for index, message in enumerate(pending):
            if not super()._write_now(message):
                self._queue.extend(pending[index + 1 :])
                return

    @staticmethod
    def close_message(code: int) -> Any:
        return {"type": "websocket.close", "code": code}

    def accept(self) -> None:
        # Written through the writer, so that it precedes the first frame.
        self._write_now({"type": "websocket.accept"})
        if not self.decided.done():
            self.decided.set_result((True, 0))

    def reject(self, status: int, body: bytes) -> None:
        self.closed = True
        if not self.decided.done():
            self.decided.set_result((False, status))

    def abort(self) -> None:
        # ASGI has no "drop the connection": end the handler, the server closes the socket.
        task = self.handler_task
        if task is not None and not task.done():
            task.cancel("sansio-rooms: connection failed")


class _PendingResponse:
    """An HTTP request waiting for its response (a long-polling GET may wait a while)."""

    __slots__ = ("future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[HttpResponse] = loop.create_future()

    def respond(self, response: HttpResponse) -> None:
        if not self.future.done():
            self.future.set_result(response)


class ASGIApp:
    """Serve ``server`` over ASGI (uvicorn: ``uvicorn.run(ASGIApp(server))``)."""

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
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.server.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

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
        pending = _PendingResponse(server._event_loop)
        request = HttpRequest(
            handle=pending,
            method=scope["method"],
            query=parse_query(scope.get("query_string", b"")),
            body=b"".join(chunks),
            content_type=None if content_type is None else content_type.decode("latin-1"),
        )
        server._receive_request(request)
        if not pending.future.done():
            # A parked GET: wait for the answer, or for the client to go away.
            disconnected: asyncio.Future[Any] = asyncio.ensure_future(receive())
            waiting: set[asyncio.Future[Any]] = {pending.future, disconnected}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not pending.future.done():
                server._request_closed(pending)
                return
            disconnected.cancel()
        response = pending.future.result()
        await _respond(
            send,
            response.status,
            [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
            response.body,
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        writer = _AsgiWebSocket(server, send)
        server._websocket_connect(writer, parse_query(scope.get("query_string", b"")))
        accepted, _ = await writer.decided
        if not accepted:
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    server._websocket_message(
                        writer, text if text is not None else message["bytes"]
                    )
                elif kind == "websocket.disconnect":
                    break
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() and writer.closed:
                task.uncancel()  # our own abort (write buffer full): end quietly
                return
            raise
        finally:
            server._websocket_closed(writer)

    async def _static(self, path: Path, send: Send) -> None:
        try:
            body = await asyncio.to_thread(path.read_bytes)
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
