"""The servers under test: each official suite's application, on each binding, on a real port.

The official suites run against the Node reference servers their READMEs describe; the
applications here are those servers, written against our API:

* ``socketio`` (socket.io-protocol's README)::

      const io = new Server(3000, { pingInterval: 300, pingTimeout: 200, maxPayload: 1000000,
                                    connectTimeout: 1000, cors: { origin: "*" } });
      io.on("connection", (socket) => {
        socket.emit("auth", socket.handshake.auth);
        socket.on("message", (...args) => {
          socket.emit.apply(socket, ["message-back", ...args]);
        });
        socket.on("message-with-ack", (...args) => { const ack = args.pop(); ack(...args); });
      });
      io.of("/custom").on("connection", (socket) => {
        socket.emit("auth", socket.handshake.auth);
      });

* ``engineio`` (engine.io-protocol's README): an Engine.IO server at ``/engine.io/`` that echoes
  every message (``socket.on("data", (...args) => socket.send(...args))``).

``cors`` is left out: CORS headers only matter to browsers, and the suites do not check them.

:func:`serve` starts one of them on ``127.0.0.1:port`` (``0``: a free port) and stops it on
exit. It reuses the interop suite's pieces (the listening socket, uvicorn with a stop event):
``asyncio`` runs on uvicorn in the caller's event loop, ``trio`` on hypercorn's trio worker in
a thread of its own, stopped from the caller's loop.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from tests.interop._interop_bindings import (
    Served,
    serve_app_asyncio,
    serve_app_native,
    serve_app_trio,
    serve_app_trio_native,
)

__all__ = [
    "BINDINGS",
    "CONNECT_TIMEOUT_MS",
    "MAX_PAYLOAD",
    "PING_INTERVAL_MS",
    "PING_TIMEOUT_MS",
    "SUITES",
    "Served",
    "serve",
]

# The options of both reference servers (the suites check them in the handshake).
PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT_MS = 1000  # Socket.IO only: a connection that joins no namespace is closed

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def socketio_app(binding: ModuleType) -> ASGIApp:
    """The socket.io-protocol suite's server, served at ``/socket.io/``."""
    server = binding.AsyncServer(
        ping_interval=PING_INTERVAL_MS / 1000,
        ping_timeout=PING_TIMEOUT_MS / 1000,
        max_payload=MAX_PAYLOAD,
        connect_timeout=CONNECT_TIMEOUT_MS / 1000,
    )

    @server.on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        await socket.emit("auth", socket.handshake.auth)

    @server.on("message")
    async def message(socket: Any, *args: Any) -> None:
        await socket.emit("message-back", *args)

    @server.on("message-with-ack")
    async def message_with_ack(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args  # a tuple: the acknowledgement carries every argument

    @server.on("connect", namespace="/custom")
    async def connect_custom(socket: Any, auth: Any) -> None:
        await socket.emit("auth", socket.handshake.auth)

    app: ASGIApp = binding.ASGIApp(server)
    return app


def engineio_app(binding: ModuleType) -> ASGIApp:
    """The engine.io-protocol suite's server, served at ``/engine.io/``: an echo."""
    server = binding.AsyncEngineIOServer(
        ping_interval=PING_INTERVAL_MS / 1000,
        ping_timeout=PING_TIMEOUT_MS / 1000,
        max_payload=MAX_PAYLOAD,
    )

    @server.on("message")
    def message(session: Any, data: str | bytes) -> None:
        session.send(data)  # at once, as the suite's Node server does

    app: ASGIApp = binding.ASGIApp(server, socketio_path="engine.io")
    return app


#: suite name -> the application it runs against, built from a binding's package.
SUITES: dict[str, Callable[[ModuleType], ASGIApp]] = {
    "socketio": socketio_app,
    "engineio": engineio_app,
}

#: binding name -> its package.
PACKAGES = {
    "asyncio": "sansio_rooms_asyncio",
    "asyncio-native": "sansio_rooms_asyncio",
    "trio": "sansio_rooms_trio",
    "trio-native": "sansio_rooms_trio",
}


def serve(
    binding: str, suite: str, port: int = 0
) -> contextlib.AbstractAsyncContextManager[Served]:
    """Serve ``suite``'s application on ``binding`` at ``127.0.0.1:port``; yields once it
    accepts connections, returns once the port is closed again."""
    build = functools.partial(SUITES[suite], importlib.import_module(PACKAGES[binding]))
    return BINDINGS[binding](build, port)


def serve_asyncio(
    build: Callable[[], ASGIApp], port: int
) -> contextlib.AbstractAsyncContextManager[Served]:
    """The app on uvicorn (``ws="websockets-sansio"``), in the caller's event loop; its server
    is shut down before uvicorn stops."""
    app = build()
    return serve_app_asyncio(app, port, before_stop=app.server.shutdown)


def serve_trio(
    build: Callable[[], ASGIApp], port: int
) -> contextlib.AbstractAsyncContextManager[Served]:
    """The app on hypercorn's trio worker, in a thread running ``trio.run``; the app is built
    there too, so that nothing of the server is touched from the caller's thread."""
    return serve_app_trio(build, port)


def serve_native(
    build: Callable[[], ASGIApp], port: int
) -> contextlib.AbstractAsyncContextManager[Served]:
    """The asyncio binding's app on the binding's own server (``serve``), in the caller's
    event loop."""
    return serve_app_native(build(), port)


def serve_trio_native(
    build: Callable[[], ASGIApp], port: int
) -> contextlib.AbstractAsyncContextManager[Served]:
    """The trio binding's app on the binding's own server (``serve``), in a thread running
    ``trio.run``; the app is built there."""
    return serve_app_trio_native(build, port)


#: binding name -> how its app is served. Every conformance test runs once per entry.
BINDINGS: dict[
    str, Callable[[Callable[[], ASGIApp], int], contextlib.AbstractAsyncContextManager[Served]]
] = {
    "asyncio": serve_asyncio,
    "asyncio-native": serve_native,
    "trio": serve_trio,
    "trio-native": serve_trio_native,
}
