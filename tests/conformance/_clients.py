"""The official suites' client, in Python: ``fetch`` (node-fetch) and ``WebSocket`` (ws).

A test reads like its JavaScript original::

    response = await peer.fetch("/socket.io/?EIO=4&transport=polling")  # fetch(...)
    socket = await peer.websocket("/socket.io/?EIO=4&transport=websocket")  # new WebSocket()
    data = await socket.wait_message()  # (await waitFor(socket, "message")).data

What the JavaScript tools do that the suites rely on, and how it is kept here:

* node-fetch sends ``Connection: close`` (no agent: a connection per request) and, for a
  string body, ``Content-Type: text/plain;charset=UTF-8``; a POST or PUT without a body has
  ``Content-Length: 0`` and no ``Content-Type``. Requests go out with exactly that, over
  aiohttp.
* ``waitFor(socket, "message")`` resolves with the next message. Between two of them the
  suites only ``send`` (which does not yield in JavaScript): here the messages queue up and
  each wait takes the next one. (``ws`` 8.5 also loses a frame that comes in the same TCP
  read as the one a wait resolves with; that depends on TCP timing and is not reproduced:
  see README.md.)
* A message that arrives while a suite awaits something else (a ``fetch``, another socket)
  has no listener and is lost. ``async with socket.not_listening():`` around such an await
  drops what arrived meanwhile.
* ``waitFor(socket, "close")`` resolves once the connection is closed, whether the server
  refused the handshake or closed the WebSocket; messages before it are ignored.

A wait that can never end (the server closed instead of sending, or refused the handshake)
fails at once, with what happened; the suites would wait for mocha's timeout, with the same
verdict. Every other wait is bounded by the test's timeout (mocha's, see conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus
from yarl import URL

from tests.conformance._servers import Served

__all__ = ["Closed", "Peer", "Response", "WebSocket"]

#: What node-fetch sends with a string body.
TEXT_PLAIN = "text/plain;charset=UTF-8"
#: aiohttp adds these on its own (an empty POST as application/octet-stream); node-fetch
#: sends no Content-Type without a body.
NOT_SENT = ("Content-Type",)
#: Closing a client at the end of a test: the close handshake may take this long.
CLOSE_TIMEOUT = 2.0


#: Loop turns for data already received to reach a WebSocket's reader (one for the selector to
#: report the socket, one for the protocol to queue the frame, one for the reader task).
_READER_TURNS = 3


@dataclass(frozen=True)
class Response:
    """An HTTP response, its body read (node-fetch's ``response.status``, ``.text()``)."""

    status: int
    text: str
    content_type: str | None = None


@dataclass(frozen=True)
class Closed:
    """How a WebSocket ended: refused at the handshake (``status``, ``body``: the HTTP
    response), or closed after it (``code``, ``reason``: the close frame; 1006 when the
    connection dropped without one)."""

    status: int | None = None
    body: str | None = None
    code: int | None = None
    reason: str | None = None

    @property
    def refused(self) -> bool:
        return self.status is not None


class Peer:
    """The suites' client on one server under test: a shared HTTP session and the
    WebSockets opened through it, all closed by :meth:`close`."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.url = served.url
        self.ws_url = "ws" + served.url.removeprefix("http")
        # force_close: node-fetch's "Connection: close", a fresh connection per request.
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        self._sockets: list[WebSocket] = []
        self._waiting: list[str] = []
        #: What the test was waiting for when it was cancelled (when it ran out of time).
        self.cancelled_while_waiting_for: list[str] = []

    @contextlib.contextmanager
    def waiting_for(self, what: str) -> Iterator[None]:
        self._waiting.append(what)
        try:
            yield
        except asyncio.CancelledError:
            if not self.cancelled_while_waiting_for:  # the innermost wait sees it first
                self.cancelled_while_waiting_for = list(self._waiting)
            raise
        finally:
            self._waiting.remove(what)

    async def fetch(self, path: str, *, method: str = "GET", body: str | None = None) -> Response:
        """``fetch(URL + path, {method, body})``, the response's body read."""
        headers = {}
        data = None
        if body is not None:
            headers["Content-Type"] = TEXT_PLAIN
            data = body.encode()
        elif method.upper() in ("POST", "PUT"):
            headers["Content-Length"] = "0"
        url = URL(self.url + path, encoded=True)  # the query exactly as written
        with self.waiting_for(f"the response to {method.upper()} {path}"):
            async with self._http.request(
                method, url, data=data, headers=headers, skip_auto_headers=NOT_SENT
            ) as response:
                text = await response.text(encoding="utf-8", errors="replace")
                return Response(response.status, text, response.headers.get("Content-Type"))

    async def websocket(self, path: str) -> WebSocket:
        """``new WebSocket(WS_URL + path)``, once its handshake is over (``binaryType`` is
        ``arraybuffer``: binary messages are ``bytes``, text messages ``str``)."""
        url = self.ws_url + path
        with self.waiting_for(f"the WebSocket handshake of {path}"):
            try:
                connection = await connect(
                    url,
                    proxy=None,
                    open_timeout=None,  # the test's timeout bounds it
                    ping_interval=None,  # ws sends no pings of its own
                    close_timeout=CLOSE_TIMEOUT,
                    max_size=None,
                )
            except InvalidStatus as refusal:
                response = refusal.response
                closed = Closed(
                    status=response.status_code,
                    body=response.body.decode("utf-8", "replace") if response.body else "",
                )
                socket = WebSocket(self, path, None, closed)
            except (InvalidHandshake, OSError) as error:
                # No HTTP response at all: ws's "error" then "close", as for a refusal.
                socket = WebSocket(self, path, None, Closed(code=1006, reason=repr(error)))
            else:
                socket = WebSocket(self, path, connection, None)
        self._sockets.append(socket)
        return socket

    async def close(self) -> None:
        """Close every WebSocket, then the HTTP session."""
        try:
            for socket in self._sockets:
                await socket.close()
        finally:
            await self._http.close()


class WebSocket:
    """A client WebSocket, seen as the ``ws`` package's events (see the module docstring)."""

    def __init__(
        self, peer: Peer, path: str, connection: ClientConnection | None, refused: Closed | None
    ) -> None:
        self._peer = peer
        self.path = path
        self._connection = connection
        self._inbox: asyncio.Queue[str | bytes | Closed] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        if refused is not None:
            self._inbox.put_nowait(refused)
        else:
            self._reader = asyncio.create_task(self._read(), name=f"reader {path}")

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for message in self._connection:
                self._inbox.put_nowait(message)
        except ConnectionClosedError:
            pass  # closed without a proper close handshake: still a "close" event
        finally:
            self._inbox.put_nowait(
                Closed(code=self._connection.close_code, reason=self._connection.close_reason)
            )

    async def wait_open(self) -> None:
        """``waitFor(socket, "open")``."""
        if self._connection is None:
            item = self._inbox.get_nowait()
            self._inbox.put_nowait(item)
            raise AssertionError(f"{self.path}: the WebSocket never opened: {item!r}")

    async def wait_message(self) -> str | bytes:
        """``(await waitFor(socket, "message")).data``: the next message."""
        with self._peer.waiting_for(f"a message on the WebSocket {self.path}"):
            item = await self._inbox.get()
        if isinstance(item, Closed):
            self._inbox.put_nowait(item)  # a later wait_close sees it too
            raise AssertionError(f"{self.path}: closed ({item}) instead of sending a message")
        return item

    async def wait_close(self) -> Closed:
        """``waitFor(socket, "close")``: how it closed; the messages before are ignored."""
        with self._peer.waiting_for(f"the close of the WebSocket {self.path}"):
            while True:
                item = await self._inbox.get()
                if isinstance(item, Closed):
                    self._inbox.put_nowait(item)
                    return item

    async def send(self, data: str | bytes) -> None:
        """``socket.send(data)``: a text frame for ``str``, a binary frame for ``bytes``."""
        if self._connection is None:
            raise AssertionError(f"{self.path}: cannot send {data!r}: the WebSocket never opened")
        await self._connection.send(data)

    @contextlib.asynccontextmanager
    async def not_listening(self) -> AsyncIterator[None]:
        """The suite awaits something else: the messages that arrive meanwhile are lost.

        "Meanwhile" includes what the server sent before answering that something else, on
        this WebSocket: it is in this end's socket buffer when the answer is read on another
        connection, but this WebSocket's reader has not had its turn yet (which connection a
        loop reads first is chance: the probe's answer, sent before a poll's 400, was seen once
        in 9 runs of the suites after the 400). A few loop turns let the reader take it."""
        try:
            yield
        finally:
            for _ in range(_READER_TURNS):
                await asyncio.sleep(0)
            kept: list[Closed] = []
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if isinstance(item, Closed):
                    kept.append(item)
            for item in kept:
                self._inbox.put_nowait(item)

    async def close(self) -> None:
        """``socket.close()``, and the end of the reader."""
        if self._connection is None or self._reader is None:
            return
        try:
            await self._connection.close()
        finally:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
