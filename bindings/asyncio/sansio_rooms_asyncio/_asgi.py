"""The ASGI application: Engine.IO over WebSocket and HTTP long-polling, at ``/socket.io/``.

Mount it in front of another ASGI app (``other_asgi_app``) to serve both from one server::

    app = ASGIApp(server, other_asgi_app=my_app)

Requests outside the Socket.IO path go to the other app, or to ``static_files`` (a mapping
of URL paths to local files), or get a 404. Lifespan events start and gracefully stop the
server (they are not forwarded to the other app). Routing and request reading are the core's
(:class:`sansio_rooms.ASGIAppBase`); this module is asyncio's part.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sansio_rooms import ASGIAppBase, PreparedFrame, parse_query
from sansio_rooms._asgi import Receive, Scope, Send
from sansio_rooms._engineio_server import HttpResponse

from ._server import _LoopServer
from ._transport import WebSocketWriter

__all__ = ["ASGIApp"]


def _direct_transport(send: Send) -> Any:
    """uvicorn's ``websockets-sansio`` protocol behind ``send``, if that is what it is.

    Its ``send`` frames each message again for every recipient and awaits its flow-control
    event even when nothing holds it back; writing the frames built once straight to its
    transport, when that protocol would have written at once itself, is what a broadcast
    costs in Node. Anything else (another server, another implementation, an attribute
    missing in another version) goes through ``send``, as ASGI says."""
    protocol = getattr(send, "__self__", None)
    kind = type(protocol)
    names = ("transport", "writable", "handshake_complete", "close_sent", "disconnected")
    if (
        kind.__name__ == "WebSocketsSansIOProtocol"
        and kind.__module__ == "uvicorn.protocols.websockets.websockets_sansio_impl"
        and all(hasattr(protocol, name) for name in names)
    ):
        return protocol
    return None


class _AsgiWebSocket(WebSocketWriter):
    """A WebSocket of the ASGI server: frames become ``websocket.send`` messages."""

    prepare = staticmethod(PreparedFrame.prepare)
    _unwrap = staticmethod(PreparedFrame.unwrap)

    def __init__(self, server: _LoopServer, send: Send) -> None:
        super().__init__(server, send, server.max_buffer)
        self.decided: asyncio.Future[bool] = server._event_loop.create_future()
        self.handler_task = asyncio.current_task()
        self._direct = _direct_transport(send)
        # Frames for the direct path, written together at the end of this loop iteration:
        # several broadcasts to one client in a burst cost one system call, not one each.
        self._pending: list[PreparedFrame] = []

    def _direct_ready(self) -> bool:
        direct = self._direct
        return bool(
            direct.writable.is_set()
            and direct.handshake_complete
            and not direct.close_sent
            and not direct.disconnected
        )

    def _write_now(self, message: Any) -> bool:
        if self._direct is not None and type(message) is PreparedFrame and self._direct_ready():
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
            self.decided.set_result(True)

    def reject(self, status: int, body: bytes) -> None:
        super().reject(status, body)
        if not self.decided.done():
            self.decided.set_result(False)

    def abort(self) -> None:
        # ASGI has no "drop the connection": end the handler, the server closes the socket.
        task = self.handler_task
        if task is not None and not task.done():
            task.cancel("sansio-rooms: connection failed")


class _PendingResponse:
    __slots__ = ("future", "response")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.response: HttpResponse | None = None

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            self.future.set_result(None)


class ASGIApp(ASGIAppBase):
    """Serve ``server`` over ASGI (uvicorn: ``uvicorn.run(ASGIApp(server))``)."""

    server: _LoopServer

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.server.start()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                self._chain_signals()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._unchain_signals()
                await self.server.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _pending_response(self) -> _PendingResponse:
        return _PendingResponse(self.server._event_loop)

    async def _wait_for_response(self, pending: Any, receive: Receive) -> None:
        disconnected: asyncio.Future[Any] = asyncio.ensure_future(receive())
        waiting: set[asyncio.Future[Any]] = {pending.future, disconnected}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        disconnected.cancel()

    async def _read_file(self, path: Path) -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        writer = _AsgiWebSocket(server, send)
        server._websocket_connect(writer, parse_query(scope.get("query_string", b"")))
        if not await writer.decided:
            status, body = writer.refusal or (400, b"")
            await self._refuse_websocket(scope, send, status, body)
            return
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
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() and writer.closed:
                task.uncancel()  # our own abort (write buffer full): end quietly
                return
            raise
        finally:
            server._websocket_closed(writer)
