"""The ASGI application: Engine.IO over WebSocket and HTTP long-polling, at ``/socket.io/``.

Mount it in front of another ASGI app (``other_asgi_app``) to serve both from one server::

    app = ASGIApp(server, other_asgi_app=my_app)

Requests outside the Socket.IO path go to the other app, or to ``static_files`` (a mapping
of URL paths to local files), or get a 404. The lifespan starts the other app, then the
server, and stops them in the reverse order (the server gracefully). Mounted in another app
(``app.mount("/ws", ASGIApp(server))``), it serves ``/ws/socket.io/``; run its
:meth:`ASGIApp.lifespan` in that app's. Routing, origins and request reading are the
core's (:class:`sansio_rooms.ASGIAppBase`); this module is asyncio's part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sansio_rooms import NO_LIFESPAN, ASGIAppBase, PreparedFrame
from sansio_rooms._asgi import Receive, Scope, Send
from sansio_rooms._engineio_server import HttpResponse

from ._server import _LoopServer
from ._transport import WebSocketWriter

__all__ = ["ASGIApp"]

logger = logging.getLogger("sansio_rooms.asgi")


class _AsgiWebSocket(WebSocketWriter):
    """A WebSocket of the ASGI server: frames become ``websocket.send`` messages."""

    prepare = staticmethod(PreparedFrame.prepare)
    _unwrap = staticmethod(PreparedFrame.unwrap)

    def __init__(self, server: _LoopServer, send: Send) -> None:
        super().__init__(server, send, server.max_buffer)
        self.decided: asyncio.Future[bool] = server._event_loop.create_future()
        self.handler_task = asyncio.current_task()

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
    _lazy_start = False

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        other = self._other_lifespan(scope)
        running: asyncio.Task[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        if other is not None:  # the other app's first, ours after
                            running = asyncio.get_running_loop().create_task(other.run())
                            await other.startup()
                        await self.server.start()
                    except Exception as error:
                        await send({"type": "lifespan.startup.failed", "message": str(error)})
                        return
                    self._lifespan_ran = True
                    self._chain_signals()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self._unchain_signals()
                    await self.server.shutdown()  # ours first: the app's resources live on
                    if other is not None:
                        await other.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        finally:
            if running is not None and not running.done():
                running.cancel()

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """The server's lifespan, for an app this one is mounted in: start the server, stop
        it gracefully on exit (on SIGINT/SIGTERM, clients are told first). Pass it to
        FastAPI (``FastAPI(lifespan=sio_app.lifespan)``) or Starlette, or enter it in your
        own lifespan: ``async with sio_app.lifespan(app): yield``."""
        await self.server.start()
        self._lifespan_ran = True
        self._chain_signals()
        try:
            yield
        finally:
            self._unchain_signals()
            await self.server.shutdown()

    async def _start_lazily(self) -> None:
        if self._lazy_start:
            return
        self._lazy_start = True
        logger.warning(NO_LIFESPAN)
        await self.server.start()

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
        query, request, refusal = await self._admit_websocket(scope)
        if refusal is not None:
            await self._refuse_websocket(scope, send, 403, refusal)
            return
        writer = _AsgiWebSocket(server, send)
        server._websocket_connect(writer, query, request)
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
