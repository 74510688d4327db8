"""The servers under test: one entry per binding in :data:`BINDINGS`, and the ASGI servers
they run on, which serve any ASGI app (tests/web and tests/conformance use them too).

An entry is a function ``serve(install, port=0, **options)`` returning an *async* context
manager (entered in the test's asyncio event loop) that

1. creates the binding's server with ``options`` (the machine's options: ``ping_interval``,
   ``ping_timeout``, ... in seconds) and calls ``install(server, api)`` to register the
   scenario handlers (``api`` names the binding's exception classes),
2. serves it over HTTP + WebSocket on ``127.0.0.1:port`` (``0``: a free port), and yields a
   :class:`Served` once it accepts connections,
3. on exit stops it, and returns only once the port is closed. Serving again on the same
   port right after must work (the reconnection scenario restarts the server).

The clients run in the test's asyncio loop. A binding for another event loop (trio) runs its
server in a thread of its own (``trio.run`` in a ``threading.Thread``), signals readiness and
completion to the asyncio side (``loop.call_soon_threadsafe``), and is stopped from there
(``trio.from_thread.run_sync`` setting an event). :attr:`Served.call` runs code in the
server's loop, whichever it is. To add it: ``BINDINGS["trio"] = serve_trio``.

The ASGI servers: :func:`serve_app_asyncio` (uvicorn, ``ws="websockets-sansio"``, in the
test's loop) and :func:`serve_app_trio` (hypercorn's trio worker, in its own thread);
:func:`serve_app` picks one by binding name. The app's lifespan runs (``lifespan="on"``), as
it does under ``uvicorn module:app`` and ``hypercorn -k trio module:app``. On exit:
``before_stop()`` (in the server's loop; ``server.shutdown``, as the docs say to do when
stopping the ASGI server from code: a long-polling GET still parked is answered, which the
ASGI server's graceful stop would wait for), then that graceful stop (which runs the app's
lifespan shutdown). uvicorn runs with ``proxy_headers=False``: by default it rewrites
``scope["client"]`` from ``X-Forwarded-For`` for ``127.0.0.1`` itself, which hypercorn does
not; the server's own ``trusted_proxies`` is what tests/web checks, on both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class BindingAPI:
    """What the application needs from a binding besides its server object."""

    name: str
    ConnectionRefusedError: type[Exception]
    AckTimeoutError: type[Exception]


@dataclass(frozen=True)
class Served:
    """A running server under test: where it listens, and a way to run code in its loop."""

    binding: str
    port: int
    #: ``await call(async_function, *args)``: run it in the server's loop; its result.
    call: Callable[..., Awaitable[Any]]
    #: ``await call_sync(function, *args)``: the same for a plain function.
    call_sync: Callable[..., Awaitable[Any]]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


Install = Callable[[Any, BindingAPI], None]
#: Makes the ASGI app (in the server's thread).
Build = Callable[[], Any]
#: Runs in the server's loop before the ASGI server stops (``server.shutdown``), or nothing.
BeforeStop = Callable[[], Awaitable[None]] | None


class Serve(Protocol):
    def __call__(
        self, install: Install, port: int = 0, **options: Any
    ) -> AbstractAsyncContextManager[Served]: ...


def listening_socket(port: int) -> socket.socket:
    """A TCP socket bound to ``127.0.0.1:port`` (``SO_REUSEADDR``: a restarted server gets its
    port back at once). Bound here rather than by the HTTP server, so that a failure is an
    ``OSError`` in the test and the port is known before the server starts."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it. Without it every small write that follows another one
    # waits ~40 ms for the peer's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
    except BaseException:
        sock.close()
        raise
    return sock


def serve_app(
    binding: str, build: Build, port: int = 0, *, before_stop: BeforeStop = None
) -> AbstractAsyncContextManager[Served]:
    """``build()``'s ASGI app on ``binding``'s ASGI server (see the module's docstring)."""
    if binding == "asyncio":
        return serve_app_asyncio(build(), port, before_stop=before_stop)
    if binding == "asyncio-native":
        return serve_app_native(build(), port, before_stop=before_stop)
    if binding == "trio":
        return serve_app_trio(build, port, before_stop=before_stop)
    if binding == "trio-native":
        return serve_app_trio_native(build, port, before_stop=before_stop)
    raise ValueError(f"unknown binding {binding!r}")


@contextlib.asynccontextmanager
async def serve_asyncio(install: Install, port: int = 0, **options: Any) -> AsyncIterator[Served]:
    """``sansio_rooms_asyncio`` on uvicorn (``ws="websockets-sansio"``), in this event loop."""
    from sansio_rooms_asyncio import AckTimeoutError, ASGIApp, AsyncServer, ConnectionRefusedError

    server = AsyncServer(**options)
    install(server, BindingAPI("asyncio", ConnectionRefusedError, AckTimeoutError))
    # Stopped from code, as docs/asyncio.md says: the clients are told first (uvicorn's own
    # graceful shutdown would wait for a parked long-poll GET), then uvicorn stops.
    async with serve_app_asyncio(ASGIApp(server), port, before_stop=server.shutdown) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_app_asyncio(
    app: Any, port: int = 0, *, before_stop: BeforeStop = None
) -> AsyncIterator[Served]:
    """Any ASGI app on uvicorn, in this event loop."""
    config = uvicorn.Config(
        app,
        ws="websockets-sansio",
        lifespan="on",
        proxy_headers=False,
        log_level="warning",
        log_config=None,  # leave the logging configuration of the test run alone
    )
    sock = listening_socket(port)
    uv = _Uvicorn(config)
    serving = asyncio.create_task(uv.serve(sockets=[sock]), name="uvicorn")
    try:
        ready = asyncio.create_task(uv.ready.wait())
        done, _ = await asyncio.wait(
            {ready, serving}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if serving in done:
            serving.result()  # raises what stopped it
            raise RuntimeError("uvicorn stopped during its startup (lifespan startup failed?)")
        if ready not in done:
            raise TimeoutError(f"uvicorn did not start within {START_TIMEOUT} s")
        yield Served("asyncio", sock.getsockname()[1], _call_here, _call_sync_here)
    finally:
        try:
            if before_stop is not None and not serving.done():
                await asyncio.wait_for(before_stop(), STOP_TIMEOUT)
        finally:
            uv.stop.set()
            try:
                await asyncio.wait_for(serving, STOP_TIMEOUT)
            finally:
                sock.close()


async def _call_here(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return await function(*args)


async def _call_sync_here(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


@contextlib.asynccontextmanager
async def serve_native_asyncio(
    install: Install, port: int = 0, **options: Any
) -> AsyncIterator[Served]:
    """``sansio_rooms_asyncio`` on its own server (``serve``), in this event loop."""
    from sansio_rooms_asyncio import AckTimeoutError, ASGIApp, AsyncServer, ConnectionRefusedError

    server = AsyncServer(**options)
    install(server, BindingAPI("asyncio-native", ConnectionRefusedError, AckTimeoutError))
    async with serve_app_native(ASGIApp(server), port) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_app_native(
    app: Any, port: int = 0, *, before_stop: BeforeStop = None
) -> AsyncIterator[Served]:
    """The asyncio binding's ``ASGIApp`` on the binding's own server, in this event loop; its
    lifespan runs around it, and its graceful shutdown when it stops."""
    from sansio_rooms_asyncio import serve

    sock = listening_socket(port)
    sock.listen()
    stop = asyncio.Event()
    ready = asyncio.Event()
    serving = asyncio.create_task(
        serve(app, sock=sock, stop=stop, ready=lambda _: ready.set(), handle_signals=False),
        name="native server",
    )
    try:
        waiting = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiting, serving}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiting.cancel()
        if serving in done:
            serving.result()  # raises what stopped it
            raise RuntimeError("the native server stopped during its startup")
        if not ready.is_set():
            raise TimeoutError(f"the native server did not start within {START_TIMEOUT} s")
        yield Served("asyncio-native", sock.getsockname()[1], _call_here, _call_sync_here)
    finally:
        try:
            if before_stop is not None and not serving.done():
                await asyncio.wait_for(before_stop(), STOP_TIMEOUT)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(serving, STOP_TIMEOUT)
            finally:
                sock.close()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, with events for "accepting connections" and "stop now" (it only has
    flags, polled every 0.1 s)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)
        while not self.should_exit:  # also set by uvicorn's own signal handlers (Ctrl-C)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.1)
            self.should_exit = self.should_exit or self.stop.is_set()


@contextlib.asynccontextmanager
async def serve_trio(install: Install, port: int = 0, **options: Any) -> AsyncIterator[Served]:
    """``sansio_rooms_trio`` on hypercorn's trio worker, in a thread running ``trio.run``."""
    from sansio_rooms_trio import AckTimeoutError, ASGIApp, AsyncServer, ConnectionRefusedError

    server = AsyncServer(**options)
    install(server, BindingAPI("trio", ConnectionRefusedError, AckTimeoutError))
    async with serve_app_trio(lambda: ASGIApp(server), port) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_app_trio(
    build: Build, port: int = 0, *, before_stop: BeforeStop = None
) -> AsyncIterator[Served]:
    """The ASGI app ``build()`` makes on hypercorn's trio worker, in a thread running
    ``trio.run`` (the app is built there). An error of that thread is raised here, at the
    start or after the stop."""
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    sock = listening_socket(port)
    sock.listen()
    config = Config()
    config.loglevel = "WARNING"
    config.accesslog = None
    config.errorlog = None
    # On shutdown hypercorn gives open connections this long before cancelling them (and only
    # then runs the lifespan shutdown): WebSocket clients notice the stop after it.
    config.graceful_timeout = 1.0
    # hypercorn owns (and closes) the descriptor it is given: give it a copy of ours.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]

    async def serve_until(stop: Any, ready: Callable[[], None]) -> None:
        async def shutdown_trigger() -> None:
            await stop.wait()
            if before_stop is not None:
                with trio.fail_after(STOP_TIMEOUT):
                    await before_stop()

        async with trio.open_nursery() as nursery:
            serving = functools.partial(
                hypercorn_serve, build(), config, shutdown_trigger=shutdown_trigger
            )
            await nursery.start(serving)
            ready()

    async with _in_trio_thread("trio", "hypercorn", sock, serve_until) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_native_trio(
    install: Install, port: int = 0, **options: Any
) -> AsyncIterator[Served]:
    """``sansio_rooms_trio`` on its own server (``serve``), in a thread running ``trio.run``."""
    from sansio_rooms_trio import AckTimeoutError, ASGIApp, AsyncServer, ConnectionRefusedError

    server = AsyncServer(**options)
    install(server, BindingAPI("trio-native", ConnectionRefusedError, AckTimeoutError))
    async with serve_app_trio_native(lambda: ASGIApp(server), port) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_app_trio_native(
    build: Build, port: int = 0, *, before_stop: BeforeStop = None
) -> AsyncIterator[Served]:
    """The trio binding's ``ASGIApp`` that ``build()`` makes, on the binding's own server, in
    a thread running ``trio.run`` (as :func:`serve_app_trio`); its lifespan runs around it,
    and its graceful shutdown when it stops (``stop``, set from here)."""
    import trio

    from sansio_rooms_trio import serve

    sock = listening_socket(port)
    sock.listen()

    async def serve_until(stop: Any, ready: Callable[[], None]) -> None:
        stopped = trio.Event()  # stop, after before_stop

        async def stop_after() -> None:
            await stop.wait()
            try:
                if before_stop is not None:
                    with trio.fail_after(STOP_TIMEOUT):
                        await before_stop()
            finally:
                stopped.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_after)
            await serve(
                build(), sock=sock, stop=stopped, ready=lambda _: ready(), handle_signals=False
            )

    async with _in_trio_thread(
        "trio-native", "the trio native server", sock, serve_until
    ) as served:
        yield served


@contextlib.asynccontextmanager
async def _in_trio_thread(
    binding: str,
    what: str,
    sock: socket.socket,
    serve_until: Callable[[Any, Callable[[], None]], Awaitable[None]],
) -> AsyncIterator[Served]:
    """Run ``serve_until(stop, ready)`` under ``trio.run`` in a thread of its own: it serves
    on ``sock`` until the trio Event ``stop`` is set (from here, on exit), calling
    ``ready()`` once it accepts connections. An error of that thread is raised here, at the
    start or after the stop."""
    import trio

    loop = asyncio.get_running_loop()
    ready, finished = asyncio.Event(), asyncio.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["token"] = trio.lowlevel.current_trio_token()
        stop = state["stop"] = trio.Event()
        await serve_until(stop, lambda: loop.call_soon_threadsafe(ready.set))

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as error:  # reported to the test, in its loop
            state["error"] = error
        finally:
            with contextlib.suppress(RuntimeError):  # the test's loop is gone: nobody waits
                loop.call_soon_threadsafe(finished.set)

    thread = threading.Thread(target=thread_main, name=f"{binding}-server", daemon=True)
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
            raise TimeoutError(f"{what} did not start within {START_TIMEOUT} s")
        token = state["token"]

        async def call(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            return await asyncio.to_thread(trio.from_thread.run, function, *args, trio_token=token)

        async def call_sync(function: Callable[..., Any], *args: Any) -> Any:
            return await asyncio.to_thread(
                trio.from_thread.run_sync, function, *args, trio_token=token
            )

        yield Served(binding, sock.getsockname()[1], call, call_sync)
    finally:
        if "stop" in state and not finished.is_set():
            trio.from_thread.run_sync(state["stop"].set, trio_token=state["token"])
        # before_stop, then the server's graceful stop: each may take STOP_TIMEOUT.
        await asyncio.wait_for(finished.wait(), STOP_TIMEOUT * 2)
        thread.join(timeout=5)
        sock.close()
    # Only when the test itself did not fail: its own error is the one to see.
    if "error" in state:
        raise state["error"]


#: binding name -> serve function. The interop tests run once per entry.
BINDINGS: dict[str, Serve] = {
    "asyncio": serve_asyncio,
    "asyncio-native": serve_native_asyncio,
    "trio": serve_trio,
    "trio-native": serve_native_trio,
}
