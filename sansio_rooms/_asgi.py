"""The loop-independent half of the bindings' ASGI application.

Routing (the Socket.IO path, static files, the other app, 404), reading an HTTP request into
an :class:`HttpRequest` with the size limit applied while reading, answering, and the frames
a broadcast is written with: all written once here, for both bindings. A binding supplies the
lifespan, the WebSocket loop, how to wait for a parked request's answer, and how to read a
file without blocking its loop.
"""

from __future__ import annotations

import abc
import functools
import inspect
import json
import logging
import mimetypes
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from ._app import ConnectionRefusedError, parse_query
from ._engineio_server import HttpRequest, HttpResponse
from ._requests import FORBIDDEN, HandshakeRequest, request_from_scope

__all__ = [
    "NO_LIFESPAN",
    "ASGIAppBase",
    "GatheredResponse",
    "OtherLifespan",
    "PendingResponse",
    "PreparedFrame",
    "respond",
]

logger = logging.getLogger("sansio_rooms.asgi")

#: Said once when a server starts without a lifespan of its own.
NO_LIFESPAN = (
    "the Socket.IO server started at its first request: no ASGI lifespan ran for it (is "
    "it mounted in another app?), so no graceful shutdown will run. Run its lifespan with "
    "your app's: FastAPI(lifespan=sio_app.lifespan), or `async with sio_app.lifespan(app):` "
    "inside your own lifespan"
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class PreparedFrame:
    """One frame, ready twice: as the ASGI ``websocket.send`` message, and as the bytes of a
    complete WebSocket frame (server frames are not masked) for a transport a binding can
    write to directly. Built once per broadcast and shared by every recipient."""

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

    @staticmethod
    def prepare(frames: Any) -> tuple[PreparedFrame, ...]:
        return tuple(map(PreparedFrame, frames))

    @staticmethod
    def unwrap(message: Any) -> Any:
        """What an ASGI ``send`` takes for a queued message."""
        return message.asgi if type(message) is PreparedFrame else message


def _default(number: int) -> None:  # pragma: no cover - the process ends here
    """What signal ``number`` does by default."""
    signal.signal(number, signal.SIG_DFL)
    signal.raise_signal(number)


class PendingResponse(Protocol):
    """The machine's handle for an HTTP request: it receives the response (maybe later)."""

    response: HttpResponse | None

    def respond(self, response: HttpResponse) -> None: ...


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ASGIAppBase(abc.ABC):
    """Engine.IO over WebSocket and HTTP long-polling at ``/socket.io/`` (``socketio_path``;
    ``/engine.io/`` for an Engine.IO-only server); other paths go to ``other_asgi_app``, or to
    ``static_files`` (URL path -> file), or 404."""

    def __init__(
        self,
        server: Any,
        other_asgi_app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        *,
        socketio_path: str | None = None,
        static_files: Mapping[str, str | Path] | None = None,
        shutdown_signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self.server = server
        self.shutdown_signals = tuple(shutdown_signals)
        self._chained: list[tuple[int, Any, Any]] = []
        self.other_asgi_app = other_asgi_app
        if socketio_path is None:
            socketio_path = server.default_path
        self.path = "/" + socketio_path.strip("/") + "/"
        self.static_files = {k: Path(v) for k, v in (static_files or {}).items()}
        # A lifespan (the ASGI server's, or ``lifespan()`` in another app's) runs the server.
        self._lifespan_ran = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        # What is left are the two kinds of connection: "http" and "websocket".
        if self._serves(scope):
            if not self._lifespan_ran:
                await self._start_lazily()
            self.server._connections += 1
            try:
                if kind == "websocket":
                    await self._websocket(scope, receive, send)
                else:
                    await self._http(scope, receive, send)
            finally:
                self.server._connections -= 1
        elif kind == "http" and (path := _route_path(scope)) in self.static_files:
            await self._static(self.static_files[path], send)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await respond(send, 404, [(b"content-type", b"text/plain")], b"Not Found")
        else:
            await send({"type": "websocket.close", "code": 1000})

    def _serves(self, scope: Scope) -> bool:
        """The request is for the server (its path is the Socket.IO path, or below it)."""
        path = _route_path(scope)
        return path == self.path or path == self.path[:-1] or path.startswith(self.path)

    def _poll_directly(
        self, scope: Scope, body: bytes, handle_for: Callable[[list[tuple[bytes, bytes]]], Any]
    ) -> Any:
        """For the bindings' own servers: a long-polling request of an open session, given
        to the machine at once, with no task and no ASGI message (most of a polling client's
        traffic). ``handle_for(cors_headers)`` makes the request's handle, which the machine
        answers (now, or later for a parked GET); it is returned. ``None`` when the request
        must go through the app: a handshake (its ``allow_request`` may be asynchronous), a
        preflight, another path, or a refused origin (refused and logged there)."""
        if scope["method"] == "OPTIONS" or not self._serves(scope):
            return None
        server = self.server
        query = parse_query(scope.get("query_string", b""))
        if "sid" not in query:
            return None
        origin, content_type = _origin_and_content_type(scope)
        cors: list[tuple[str, str]] = []
        if origin is not None:
            request = request_from_scope(scope, server.trusted_proxies, query)
            if not server.origins.allows(origin, request):
                return None
            cors = server.origins.headers(origin)
        handle = handle_for(_encode(cors))
        server._receive_request(
            HttpRequest(
                handle=handle,
                method=scope["method"],
                query=query,
                body=body,
                content_type=content_type,
            )
        )
        return handle

    # -- shutdown on a signal --------------------------------------------------------------------

    def _chain_signals(self) -> None:
        """At startup: on ``shutdown_signals`` (SIGINT, SIGTERM), tell every client the server
        is going away, then let the ASGI server's own handler run. The ASGI server's graceful
        shutdown waits for the requests in progress before the lifespan's shutdown, and a
        long-polling GET is parked for up to ``ping_interval``: answered first, it is no
        longer in the way. Only in the main thread (where signals are handled); elsewhere the
        host calls ``server.shutdown()`` itself."""
        for signum in self.shutdown_signals:
            previous = signal.getsignal(signum)

            def on_signal(number: int, frame: Any, previous: Any = previous) -> None:
                if previous == signal.SIG_DFL:
                    # The signal ends the process (SIGTERM in a hypercorn worker): the
                    # clients are told and the handlers run first, then it does.
                    self.server._begin_shutdown_threadsafe(then=partial(_default, number))
                    return
                self.server._begin_shutdown_threadsafe()
                if callable(previous):
                    previous(number, frame)

            try:
                signal.signal(signum, on_signal)
            except ValueError:  # not the main thread
                logger.info("not in the main thread: call server.shutdown() to stop")
                return
            self._chained.append((signum, on_signal, previous))
        if self._chained:  # shutdown_signals=(): nothing chained, nothing to say
            names = ", ".join(signal.Signals(signum).name for signum, _, _ in self._chained)
            logger.info("on %s, clients are told before the ASGI server shuts down", names)

    def _unchain_signals(self) -> None:
        for signum, ours, previous in self._chained:
            if signal.getsignal(signum) is ours:
                signal.signal(signum, previous)
        self._chained = []

    # -- what a binding supplies -----------------------------------------------------------------

    @abc.abstractmethod
    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the server on ``lifespan.startup``, stop it gracefully on shutdown; with
        the other app's lifespan around it (:class:`OtherLifespan`)."""

    @abc.abstractmethod
    async def _start_lazily(self) -> None:
        """No lifespan ran: start the server anyway, once (and log :data:`NO_LIFESPAN`)."""

    @abc.abstractmethod
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One WebSocket connection, from ``websocket.connect`` to its end."""

    @abc.abstractmethod
    def _pending_response(self) -> PendingResponse:
        """A handle for one HTTP request, to be answered by the machine."""

    @abc.abstractmethod
    async def _wait_for_response(self, pending: PendingResponse, receive: Receive) -> None:
        """Wait until ``pending`` is answered or the client goes away (``http.disconnect``)."""

    @abc.abstractmethod
    async def _read_file(self, path: Path) -> bytes:
        """Read a file without blocking the loop (raises ``OSError``)."""

    @staticmethod
    async def _refuse_websocket(scope: Scope, send: Send, status: int, body: bytes) -> None:
        """Refuse a WebSocket handshake the machine refused: with its HTTP status and JSON
        error body where the server supports ASGI's "WebSocket Denial Response" extension
        (uvicorn, hypercorn), as the protocol says; otherwise a close before accepting,
        which servers answer 403."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers = [(b"content-type", b"application/json")]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(
                {"type": "websocket.http.response.start", "status": status, "headers": headers}
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    # -- HTTP long-polling and static files ------------------------------------------------------

    def _other_lifespan(self, scope: Scope) -> OtherLifespan | None:
        if self.other_asgi_app is None:
            return None
        return OtherLifespan(self.other_asgi_app, scope, self.server._new_waiter)

    # -- who may connect ---------------------------------------------------------------------------

    async def _refusal(
        self, request: HandshakeRequest, origin: str | None, opening: bool
    ) -> bytes | None:
        """``None`` if the request may go on, else the body of its 403: its origin is not
        allowed, or (for a request that opens a session) ``allow_request`` said no."""
        server = self.server
        if not server.origins.allows(origin, request):
            return _forbidden("Origin not allowed")
        check = server.allow_request
        if not opening or check is None:
            return None
        try:
            allowed = check(request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except ConnectionRefusedError as error:
            return _forbidden(error.message)
        except Exception:
            logger.exception("allow_request failed: the request is refused")
            return _forbidden("Forbidden")
        return _forbidden("Forbidden") if allowed is False else None

    async def _admit_websocket(
        self, scope: Scope
    ) -> tuple[Mapping[str, str], HandshakeRequest | None, bytes | None]:
        """A WebSocket's query, the request details of one that opens a session, and the
        body of its refusal (``None``: it may go on)."""
        server = self.server
        query = parse_query(scope.get("query_string", b""))
        request = request_from_scope(scope, server.trusted_proxies, query)
        opening = "sid" not in query
        refusal = await self._refusal(request, request.headers.get("origin"), opening)
        return query, request if opening else None, refusal

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server
        query = parse_query(scope.get("query_string", b""))
        origin, content_type = _origin_and_content_type(scope)
        opening = "sid" not in query
        method = scope["method"]
        request: HandshakeRequest | None = None
        cors: list[tuple[str, str]] = []
        if origin is not None or opening:
            # The details are read for a request that opens a session or comes from a
            # page: the session's other requests cost nothing more.
            request = request_from_scope(scope, server.trusted_proxies, query)
            refusal = await self._refusal(request, origin, opening and method != "OPTIONS")
            if refusal is not None:
                await respond(send, 403, [(b"content-type", b"application/json")], refusal)
                return
            if origin is not None:
                if method == "OPTIONS":  # a CORS preflight
                    allowed = server.origins.preflight_headers(origin, request)
                    await respond(send, 204, _encode(allowed), b"")
                    return
                cors = server.origins.headers(origin)
        limit = server.engineio.max_payload
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            # Past the limit, stop reading: what was read is enough to refuse it (413).
            more = message.get("more_body", False) and size <= limit
        pending = self._pending_response()
        http_request = HttpRequest(
            handle=pending,
            method=method,
            query=query,
            body=b"".join(chunks),
            content_type=content_type,
        )
        server._receive_request(http_request, request if opening else None)
        if pending.response is None:  # a parked GET
            await self._wait_for_response(pending, receive)
            if pending.response is None:  # the client went away first
                server._request_closed(pending)
                return
        response = pending.response
        await respond(send, response.status, _encode([*response.headers, *cors]), response.body)

    async def _static(self, path: Path, send: Send) -> None:
        try:
            body = await self._read_file(path)
        except OSError:
            await respond(send, 404, [(b"content-type", b"text/plain")], b"Not Found")
            return
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await respond(send, 200, [(b"content-type", content_type.encode())], body)


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point: Starlette's ``Mount`` (and uvicorn's
    ``--root-path``) keep the whole path in ``path`` and the prefix in ``root_path``; older
    frameworks strip it from ``path``."""
    path: str = scope.get("path", "")
    root = (scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :]
    return path


def _origin_and_content_type(scope: Scope) -> tuple[str | None, str | None]:
    """The request's ``Origin`` and ``Content-Type``, in one pass over its headers."""
    origin: str | None = None
    content_type: str | None = None
    for name, value in scope.get("headers") or ():
        name = name.lower()
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return origin, content_type


def _forbidden(message: str) -> bytes:
    """Engine.IO's answer to a refused request (Node's ``allowRequest``): code 4."""
    return json.dumps({"code": FORBIDDEN, "message": message}).encode()


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class GatheredResponse:
    """An ASGI HTTP response, gathered whole (the bindings' own servers write it at once)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start" and self.status is None:
            self.status = int(message["status"])
            self.headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]
        elif kind == "http.response.body" and self.status is not None and not self.complete:
            self.body.append(bytes(message.get("body", b"")))
            self.complete = not message.get("more_body", False)

    def fail(self) -> None:
        """What is sent when the app failed, or returned without a whole response: 500."""
        self.status = 500
        self.headers = [(b"content-type", b"text/plain")]
        self.body = [b"Internal Server Error"]
        self.complete = True

    def finish(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The response to write (a 500, logged, if the app did not give a whole one)."""
        if self.status is None or not self.complete:
            logger.error(
                "the app returned without a whole response to %s %s: 500",
                scope.get("method"),
                scope.get("path"),
            )
            self.fail()
        assert self.status is not None
        return self.status, self.headers, b"".join(self.body)


@functools.lru_cache(maxsize=64)
def encoded_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """The machine's response headers as an HTTP server writes them; the same few tuples
    answer every long-polling request, so each is encoded once."""
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers)


def peer_address(value: Any) -> tuple[str, int] | None:
    """A socket's peer or own address as ASGI's ``client``/``server`` (``None`` for a
    Unix socket or none)."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


class OtherLifespan:
    """Another ASGI app's lifespan (``other_asgi_app``), run beside the server's: the binding
    starts :meth:`run` as a task, then awaits :meth:`startup` before starting the server, and
    :meth:`shutdown` after stopping it. An app that does not do lifespans (it raises at once,
    as ASGI allows) is left alone."""

    def __init__(self, app: Any, scope: Scope, new_waiter: Callable[[], Any]) -> None:
        self.app = app
        self.scope = scope
        self._replies = [new_waiter(), new_waiter()]  # to startup, to shutdown
        self._shutdown = new_waiter()
        self._received = 0
        self._answered = 0
        self.supported = True

    async def run(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        except Exception:
            if self._answered:
                logger.exception("the other app's lifespan failed")
            else:
                logger.info("the other app does not support the ASGI lifespan: left alone")
            self.supported = False
        finally:
            for reply in self._replies:
                reply.set({"type": "lifespan.ended"})

    async def _receive(self) -> dict[str, Any]:
        self._received += 1
        if self._received == 1:
            return {"type": "lifespan.startup"}
        await self._shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        if self._answered < len(self._replies):
            self._replies[self._answered].set(message)
        self._answered += 1

    async def startup(self) -> None:
        """Raises ``RuntimeError`` with the other app's message if its startup failed."""
        reply = await self._replies[0].wait()
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(reply.get("message") or "the other app's startup failed")

    async def shutdown(self) -> None:
        if not self.supported:
            return
        self._shutdown.set(True)
        reply = await self._replies[1].wait()
        if reply["type"] == "lifespan.shutdown.failed":
            logger.error("the other app's shutdown failed: %s", reply.get("message", ""))
