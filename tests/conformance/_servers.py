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

import asyncio
import contextlib
import functools
import importlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import uvicorn

from tests.interop._interop_bindings import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    Served,
    _Uvicorn,
    listening_socket,
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
    async def message(session: Any, data: str | bytes) -> None:
        await session.send(data)

    app: ASGIApp = binding.ASGIApp(server, socketio_path="engine.io")
    return app


#: suite name -> the application it runs against, built from a binding's package.
SUITES: dict[str, Callable[[ModuleType], ASGIApp]] = {
    "socketio": socketio_app,
    "engineio": engineio_app,
}

#: binding name -> its package.
PACKAGES = {"asyncio": "sansio_rooms_asyncio", "trio": "sansio_rooms_trio"}


def serve(
    binding: str, suite: str, port: int = 0
) -> contextlib.AbstractAsyncContextManager[Served]:
    """Serve ``suite``'s application on ``binding`` at ``127.0.0.1:port``; yields once it
    accepts connections, returns once the port is closed again."""
    build = functools.partial(SUITES[suite], importlib.import_module(PACKAGES[binding]))
    return BINDINGS[binding](build, port)


@contextlib.asynccontextmanager
async def serve_asyncio(build: Callable[[], ASGIApp], port: int) -> AsyncIterator[Served]:
    """The app on uvicorn (``ws="websockets-sansio"``, as the interop suite), in this loop."""
    config = uvicorn.Config(
        build(),
        ws="websockets-sansio",
        lifespan="on",
        log_level="warning",
        log_config=None,  # leave the logging configuration of the test run alone
    )
    sock = listening_socket(port)
    server = _Uvicorn(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        ready = asyncio.create_task(server.ready.wait())
        done, _ = await asyncio.wait(
            {ready, serving}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if serving in done:
            serving.result()  # raises what stopped it
            raise RuntimeError("uvicorn stopped during its startup")
        if ready not in done:
            raise TimeoutError(f"uvicorn did not start within {START_TIMEOUT} s")
        yield Served("asyncio", sock.getsockname()[1])
    finally:
        server.stop.set()
        try:
            await asyncio.wait_for(serving, STOP_TIMEOUT)
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def serve_trio(build: Callable[[], ASGIApp], port: int) -> AsyncIterator[Served]:
    """The app on hypercorn's trio worker, in a thread running ``trio.run``; the app is built
    there too, so that nothing of the server is touched from the caller's thread."""
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    sock = listening_socket(port)
    sock.listen()
    config = Config()
    config.loglevel = "WARNING"
    config.accesslog = None
    config.errorlog = None
    # On shutdown hypercorn gives open connections this long before cancelling them.
    config.graceful_timeout = 1.0
    # hypercorn owns (and closes) the descriptor it is given: give it a copy of ours.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    loop = asyncio.get_running_loop()
    ready, finished = asyncio.Event(), asyncio.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["token"] = trio.lowlevel.current_trio_token()
        shutdown = state["shutdown"] = trio.Event()
        async with trio.open_nursery() as nursery:
            serving = functools.partial(
                hypercorn_serve, build(), config, shutdown_trigger=shutdown.wait
            )
            await nursery.start(serving)
            loop.call_soon_threadsafe(ready.set)

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as error:  # reported to the caller, in its loop
            state["error"] = error
        finally:
            loop.call_soon_threadsafe(finished.set)

    thread = threading.Thread(target=thread_main, name="trio-server", daemon=True)
    thread.start()
    try:
        waiting = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(finished.wait())}
        _, pending = await asyncio.wait(
            waiting, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if "error" in state:
            raise state["error"]
        if not ready.is_set():
            raise TimeoutError(f"hypercorn did not start within {START_TIMEOUT} s")
        yield Served("trio", sock.getsockname()[1])
    finally:
        if "shutdown" in state and not finished.is_set():
            trio.from_thread.run_sync(state["shutdown"].set, trio_token=state["token"])
        await asyncio.wait_for(finished.wait(), STOP_TIMEOUT + 5)
        thread.join(timeout=5)
        sock.close()


#: binding name -> how its app is served. Every conformance test runs once per entry.
BINDINGS: dict[
    str, Callable[[Callable[[], ASGIApp], int], contextlib.AbstractAsyncContextManager[Served]]
] = {
    "asyncio": serve_asyncio,
    "trio": serve_trio,
}
