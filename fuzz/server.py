"""One server under fuzz: ``python fuzz/server.py --binding asyncio|trio --port N``.

The application echoes and acknowledges (``echo`` answers with its arguments, ``*`` catches
the rest), exercises the server-side paths a peer can trigger (broadcast, rooms, server acks,
server disconnects), and counts connect and disconnect handler calls. ``GET /stats`` (through
``other_asgi_app``) answers with those counters, the sockets and Engine.IO sessions the server
still knows, and this process's RSS; ``GET /gc`` collects garbage first.

Whatever escapes (a task exception nobody retrieved, an exception out of the ASGI app, a
logged traceback, an unraisable exception) is written to stderr as one line
``FUZZ-ESCAPE {json}``: the runner counts those as crashes.

The connection a request or WebSocket belongs to is tagged by the runner with ``fz=`` in its
query string: sockets that leak, and exceptions that come out of the ASGI app, name it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sansio_rooms import UnknownSocketError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

NAMESPACES = ("/", "/chat")
#: The server's options: short timers, so that what a fuzz client abandons is reaped fast.
OPTIONS: dict[str, Any] = {
    "ping_interval": 1.0,
    "ping_timeout": 1.0,
    "connect_timeout": 2.0,
    "close_timeout": 2.0,
    "upgrade_timeout": 2.0,
}
#: How long a connect handler may be asked to sleep (``{"sleep": s}`` in the auth).
MAX_CONNECT_SLEEP = 0.05
LOG_REPEATS = 3  # the same log message is printed this many times, then only counted

current_tag: contextvars.ContextVar[str | None] = contextvars.ContextVar("fz", default=None)


class Escapes:
    """Exceptions that escaped, each written once as a ``FUZZ-ESCAPE`` line."""

    def __init__(self) -> None:
        self.count = 0
        self._seen: dict[int, BaseException] = {}  # by id: the objects are kept alive

    def report(
        self, where: str, message: str, error: BaseException | None, tag: str | None = None
    ) -> None:
        if error is not None:
            if id(error) in self._seen:
                return  # the same exception, logged again by the ASGI server
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[id(error)] = error
        self.count += 1
        record = {
            "time": time.time(),
            "where": where,
            "message": message,
            "type": None if error is None else type(error).__name__,
            "error": None if error is None else str(error)[:500],
            "tag": tag if tag is not None else current_tag.get(),
            "traceback": "" if error is None else "".join(traceback.format_exception(error)),
        }
        sys.stderr.write("FUZZ-ESCAPE " + json.dumps(record) + "\n")
        sys.stderr.flush()


ESCAPES = Escapes()


class FuzzLogHandler(logging.Handler):
    """A record with a traceback is an escape; others are printed a few times, then counted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is not what we are looking for
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            ESCAPES.report(f"log:{record.name}", message, record.exc_info[1])
            return
        key = f"{record.levelname} {record.name}: {str(record.msg)[:120]}"
        self.counts[key] += 1
        if self.counts[key] <= LOG_REPEATS:
            sys.stderr.write(f"LOG {record.levelname} {record.name}: {message[:300]}\n")
            sys.stderr.flush()


LOG_HANDLER = FuzzLogHandler()


def install_hooks() -> None:
    root = logging.getLogger()
    root.handlers = [LOG_HANDLER]
    root.setLevel(logging.WARNING)

    def excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        ESCAPES.report("sys.excepthook", "uncaught", error)

    def thread_hook(hook_args: threading.ExceptHookArgs) -> None:
        if hook_args.exc_value is not None:
            ESCAPES.report("threading.excepthook", "uncaught in a thread", hook_args.exc_value)

    def unraisable_hook(unraisable: Any) -> None:
        message = f"unraisable: {unraisable.err_msg or ''} {unraisable.object!r}"[:300]
        ESCAPES.report("sys.unraisablehook", message, unraisable.exc_value)

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


class FuzzApp:
    """The handlers, their counters, and the stats endpoint."""

    def __init__(self, server: Any, binding: str, sleep: Callable[[float], Awaitable[Any]]):
        self.server = server
        self.binding = binding
        self.sleep = sleep
        self.connects = 0
        self.refused = 0
        self.disconnects = 0
        self.unmatched_disconnects = 0  # a disconnect handler call without its connect
        self.events = 0
        self.joins_after_leaving = 0
        self.live: dict[tuple[str, str], str | None] = {}  # connected, no disconnect yet
        module = sys.modules[type(server).__module__.split(".")[0]]
        self.refuse_error: type[Exception] = module.ConnectionRefusedError
        self.ack_timeout_error: type[Exception] = module.AckTimeoutError
        for nsp in NAMESPACES:
            self.install(nsp)

    def install(self, nsp: str) -> None:
        on = self.server.on
        on("connect", namespace=nsp)(self.on_connect)
        on("disconnect", namespace=nsp)(self.on_disconnect)
        on("echo", namespace=nsp)(self.on_echo)
        on("*", namespace=nsp)(self.on_any)
        on("bcast", namespace=nsp)(self.on_broadcast)
        on("ackme", namespace=nsp)(self.on_ack_me)
        on("join", namespace=nsp)(self.on_join)
        on("bye", namespace=nsp)(self.on_bye)

    async def on_connect(self, socket: Any, auth: Any) -> Any:
        options = auth if isinstance(auth, dict) else {}
        delay = options.get("sleep")
        if isinstance(delay, (int, float)) and 0 < delay <= MAX_CONNECT_SLEEP:
            await self.sleep(delay)
        if options.get("refuse"):
            self.refused += 1
            raise self.refuse_error("refused by the fuzz app", {"why": "asked"})
        if options.get("deny"):
            self.refused += 1
            return False
        if not options.get("control"):
            try:
                socket.join("fuzz")
            except UnknownSocketError:  # documented: the client left while we slept
                self.joins_after_leaving += 1
        self.connects += 1
        self.live[(socket.nsp, socket.sid)] = socket.handshake.query.get("fz")
        if options.get("greet"):
            await socket.emit("hello", socket.sid)  # sent right after the CONNECT reply
        return None

    async def on_disconnect(self, socket: Any, reason: str) -> None:
        self.disconnects += 1
        if self.live.pop((socket.nsp, socket.sid), False) is False:
            self.unmatched_disconnects += 1

    async def on_echo(self, socket: Any, *args: Any) -> Any:
        self.events += 1
        return args

    async def on_any(self, socket: Any, event: Any, *args: Any) -> Any:
        self.events += 1
        return [event, len(args)]

    async def on_broadcast(self, socket: Any, *args: Any) -> Any:
        self.events += 1
        await socket.to("fuzz").emit("bcast", *args[:3])
        return "sent"

    async def on_ack_me(self, socket: Any, *args: Any) -> Any:
        self.events += 1
        try:
            return await socket.emit_with_ack("question", *args[:3], timeout=0.3)
        except self.ack_timeout_error:
            return "no answer"

    async def on_join(self, socket: Any, *args: Any) -> Any:
        self.events += 1
        if not args:
            return None
        try:
            socket.join(args[0])
        except Exception as error:  # an invalid room name: the client's mistake
            return type(error).__name__
        return sorted(map(str, socket.rooms))

    async def on_bye(self, socket: Any, *args: Any) -> None:
        self.events += 1
        await socket.disconnect(close=bool(args and args[0]))

    # -- stats ---------------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        server = self.server
        known: set[tuple[str, str]] = set(self.live)
        fetched = 0
        in_engine = 0
        for nsp in NAMESPACES:
            sockets = await server.of(nsp).fetch_sockets()
            fetched += len(sockets)
            engine_sids = server.machine.engine.namespace(nsp).sockets()
            in_engine += len(engine_sids)
            known.update((nsp, socket.sid) for socket in sockets)
            known.update((nsp, sid) for sid in engine_sids)
        leaked = []
        for nsp, sid in sorted(known)[:50]:
            socket = server.get_socket(sid, nsp)
            tag = self.live.get((nsp, sid))
            if tag is None and socket is not None:
                tag = socket.handshake.query.get("fz")
            leaked.append({"nsp": nsp, "sid": sid, "tag": tag, "live": (nsp, sid) in self.live})
        return {
            "binding": self.binding,
            "pid": os.getpid(),
            "connects": self.connects,
            "refused": self.refused,
            "disconnects": self.disconnects,
            "unmatched_disconnects": self.unmatched_disconnects,
            "events": self.events,
            "joins_after_leaving": self.joins_after_leaving,
            "live": len(self.live),
            "sockets_fetched": fetched,
            "sockets_in_engine": in_engine,
            "sockets_known": len(known),
            "known": leaked,
            "sessions": len(server.machine.eio),
            "rss_kb": rss_kb(),
            "escapes": ESCAPES.count,
            "log_counts": dict(LOG_HANDLER.counts),
        }

    async def stats_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        path = scope.get("path")
        if path == "/gc":
            gc.collect()
        if path not in ("/stats", "/gc"):
            body, status = b"not found", 404
        else:
            body, status = json.dumps(await self.stats()).encode(), 200
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def tagged(app: ASGI) -> ASGI:
    """The ASGI app, with each connection's ``fz`` tag in a context variable, and what comes
    out of it reported (the ASGI server would log it too; it is counted once)."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        tag = None
        query = scope.get("query_string", b"")
        for part in query.split(b"&"):
            if part.startswith(b"fz="):
                tag = part[3:].decode("latin-1")
        token = current_tag.set(tag)
        try:
            await app(scope, receive, send)
        except Exception as error:
            ESCAPES.report(f"asgi:{scope['type']}", "exception out of the ASGI app", error, tag)
            raise
        finally:
            current_tag.reset(token)

    return wrapper


def serve_asyncio(port: int) -> None:
    import uvicorn

    from sansio_rooms_asyncio import ASGIApp, AsyncServer

    server = AsyncServer(**OPTIONS)
    fuzz = FuzzApp(server, "asyncio", asyncio.sleep)
    app = tagged(ASGIApp(server, other_asgi_app=fuzz.stats_app))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        lifespan="on",
        log_level="warning",
        log_config=None,
        ws_ping_interval=None,  # Engine.IO has its own heartbeat
    )

    def exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        ESCAPES.report("asyncio", str(context.get("message")), error)
        if error is None:
            sys.stderr.write(f"FUZZ-ASYNCIO-CONTEXT {context!r}\n"[:2000])

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(exception_handler)
        await uvicorn.Server(config).serve()

    asyncio.run(main())


def serve_trio(port: int) -> None:
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from sansio_rooms_trio import ASGIApp, AsyncServer

    server = AsyncServer(**OPTIONS)
    fuzz = FuzzApp(server, "trio", trio.sleep)
    app = tagged(ASGIApp(server, other_asgi_app=fuzz.stats_app))
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0

    async def main() -> None:
        shutdown = trio.Event()

        async def on_signal() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    shutdown.set()
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(on_signal)
            await serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()

    trio.run(main)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binding", choices=("asyncio", "trio"), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    install_hooks()
    try:
        if args.binding == "asyncio":
            serve_asyncio(args.port)
        else:
            serve_trio(args.port)
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt):
            ESCAPES.report("main", "the server's event loop ended with an exception", error)
        return 1
    sys.stderr.write(f"FUZZ-SERVER-EXIT escapes={ESCAPES.count}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
