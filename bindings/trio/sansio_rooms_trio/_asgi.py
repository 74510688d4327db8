"""The ASGI application: Engine.IO over WebSocket and HTTP long-polling, at ``/socket.io/``.

Serve it with a trio ASGI server (hypercorn's trio worker). Mount it in front of another
ASGI app (``other_asgi_app``) to serve both from one server::

    app = ASGIApp(server, other_asgi_app=my_app)

Requests outside the Socket.IO path go to the other app, or to ``static_files`` (a mapping
of URL paths to local files), or get a 404. The lifespan starts the other app, then runs the
server (``server.running()``: its nursery, its timer), and stops them in the reverse order
(the server gracefully). Mounted in another app (``app.mount("/ws", ASGIApp(server))``), it
serves ``/ws/socket.io/``; run its :meth:`ASGIApp.lifespan` in that app's. Routing, origins
and request reading are the core's (:class:`sansio_rooms.ASGIAppBase`); this module is
trio's part.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

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

    def __init__(self, server: _LoopServer, send: Send, scope: trio.CancelScope) -> None:
        super().__init__(server, send, server.max_buffer)
        self.decided = trio.Event()
        self.accepted = False
        self._scope = scope

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
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.response: HttpResponse | None = None

    def respond(self, response: HttpResponse) -> None:
        if self.response is None:
            self.response = response
            self.event.set()


class ASGIApp(ASGIAppBase):
    """Serve ``server`` over ASGI (hypercorn: ``hypercorn -k trio module:app``)."""

    server: _LoopServer
    _lazy_start: trio.Event | None = None

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":  # pragma: no cover - the ASGI order
            return
        other = self._other_lifespan(scope)
        async with trio.open_nursery() as nursery:
            if other is not None:  # the other app's first, ours after
                nursery.start_soon(other.run)
                try:
                    await other.startup()
                except RuntimeError as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    nursery.cancel_scope.cancel()
                    return
            async with self.server.running():
                self._lifespan_ran = True
                self._chain_signals()
                await send({"type": "lifespan.startup.complete"})
                while (await receive())["type"] != "lifespan.shutdown":
                    pass  # pragma: no cover - nothing else is sent to a lifespan
                self._unchain_signals()
            if other is not None:  # ours first (gracefully): the app's resources live on
                await other.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """The server's lifespan, for an app this one is mounted in: run the server (its
        nursery), stop it gracefully on exit (on SIGINT/SIGTERM, clients are told first).
        Pass it to FastAPI (``FastAPI(lifespan=sio_app.lifespan)``) or Starlette, or enter
        it in your own lifespan: ``async with sio_app.lifespan(app): yield``."""
        async with self.server.running():
            self._lifespan_ran = True
            self._chain_signals()
            try:
                yield
            finally:
                self._unchain_signals()

    async def _start_lazily(self) -> None:
        if self.server._nursery is not None:  # running already (``server.running()``)
            return
        if self._lazy_start is None:
            self._lazy_start = trio.Event()
            logger.warning(NO_LIFESPAN)
            trio.lowlevel.spawn_system_task(self._run_until_the_end, self._lazy_start)
        await self._lazy_start.wait()

    async def _run_until_the_end(self, started: trio.Event) -> None:
        """The server without a lifespan: in a system task, until trio.run ends."""
        try:
            async with self.server.running():
                started.set()
                await trio.sleep_forever()
        except Exception:
            logger.exception("the server, started without a lifespan, failed")
        finally:
            started.set()

    def _pending_response(self) -> _PendingResponse:
        return _PendingResponse()

    async def _wait_for_response(self, pending: Any, receive: Receive) -> None:
        async with trio.open_nursery() as nursery:

            async def client_left() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass  # pragma: no cover - a GET has no more body
                nursery.cancel_scope.cancel()

            nursery.start_soon(client_left)
            await pending.event.wait()
            nursery.cancel_scope.cancel()

    async def _read_file(self, path: Path) -> bytes:
        return await trio.Path(path).read_bytes()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        message = await receive()
        if message["type"] != "websocket.connect":  # pragma: no cover - the ASGI order
            return
        query, request, refusal = await self._admit_websocket(scope)
        if refusal is not None:
            await self._refuse_websocket(scope, send, 403, refusal)
            return
        async with trio.open_nursery() as nursery:
            writer = _AsgiWebSocket(server, send, nursery.cancel_scope)
            nursery.start_soon(writer._write_all)
            server._websocket_connect(writer, query, request)
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
            status, body = writer.refusal or (400, b"")
            await self._refuse_websocket(scope, send, status, body)
