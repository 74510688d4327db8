"""Per-connection writers: ordered, bounded, and never in the way of the other connections.

Each WebSocket (an ASGI one, or one the host attaches itself) has a writer: a queue and a
task of that connection that sends what is queued, in order. A write only appends and wakes
the task, so a broadcast never waits for any recipient, and a client that reads slowly only
fills its own queue. The queue is bounded: past ``max_buffer`` frames the connection is failed
with a reason ("write buffer full"). Volatile frames are dropped when the writer is not idle.
Control frames (pings) go to the front of the queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ._server import _LoopServer

__all__ = ["Connection", "WebSocketWriter"]

_CLOSE = object()  # queued after the last frame of a graceful close


class _Hold:
    """In a writer's queue: wait ``seconds`` before what follows."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class WebSocketWriter:
    """The writer of one WebSocket; the machine's handle for that connection."""

    def __init__(
        self,
        server: _LoopServer,
        send: Callable[[Any], Awaitable[None]],
        max_buffer: int,
    ) -> None:
        self._server = server
        self._send = send
        self._max_buffer = max_buffer
        self._queue: deque[Any] = deque()
        self._wakeup = trio.lowlevel.ParkingLot()
        self._sending = False
        self._close_code: int | None = None
        self.closed = False  # no more writes: closing, failed, or gone
        self.refusal: tuple[int, bytes] | None = None  # the handshake's refusal, if refused
        self.finished = trio.Event()  # the writer task is over

    # How frames become the messages given to ``send`` (built once per broadcast).
    @staticmethod
    def prepare(frames: Sequence[str | bytes]) -> tuple[Any, ...]:
        return tuple(frames)

    @staticmethod
    def close_message(code: int) -> Any:
        return None

    def accept(self) -> None:
        """The machine accepted the handshake."""

    def reject(self, status: int, body: bytes) -> None:
        """The machine refused the handshake (``status``, with an Engine.IO error body)."""
        self.closed = True
        self.refusal = (status, body)
        self._wakeup.unpark_all()

    def write(self, messages: Sequence[Any], volatile: bool = False) -> None:
        if self.closed:
            return
        busy = self._sending or bool(self._queue)
        if volatile and busy:
            return  # not writable right now: a volatile packet may be dropped
        if len(self._queue) + len(messages) > self._max_buffer:
            self._fail("write buffer full")
            return
        self._queue.extend(messages)
        self._wakeup.unpark_all()

    def write_control(self, messages: Sequence[Any]) -> None:
        """Control frames (a ping) never wait behind data."""
        if self.closed:
            return
        self._queue.extendleft(reversed(messages))
        self._wakeup.unpark_all()

    async def _write_all(self) -> None:
        """The writer task: send what is queued until the connection closes."""
        queue = self._queue
        try:
            while True:
                while queue:
                    if type(queue[0]) is _Hold:
                        await trio.sleep(queue.popleft().seconds)
                        continue
                    if queue[0] is _CLOSE:
                        queue.popleft()
                        closing = self.close_message(self._close_code or 1000)
                        if closing is not None:
                            await self._send(closing)
                        await self._closed_gracefully()
                        return
                    self._sending = True
                    try:
                        await self._send_some(queue)
                    finally:
                        self._sending = False
                if self.closed:
                    return
                await self._wakeup.park()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._gone()
        except Exception as error:  # a transport may raise its own "connection closed"
            self._gone(error)
        finally:
            self.finished.set()

    async def _send_some(self, queue: deque[Any]) -> None:
        """Send the message at the front of ``queue`` (a transport may send several)."""
        await self._send(self._unwrap(queue.popleft()))

    @staticmethod
    def _unwrap(message: Any) -> Any:
        """What ``send`` takes for a queued message (a transport may queue richer ones)."""
        return message

    async def _closed_gracefully(self) -> None:
        """Hook: after the close message of a graceful close."""

    def close(self, code: int = 1000) -> None:
        """Close after what was written before (a graceful close)."""
        if self.closed:
            return
        self.closed = True
        self._close_code = code
        self._queue.append(_CLOSE)
        self._wakeup.unpark_all()

    def _fail(self, description: str) -> None:
        """Give up on this connection now: drop what is queued and tell the machine."""
        self.closed = True
        self._queue.clear()
        self._wakeup.unpark_all()
        self._server._transport_failed(self, description)
        self.abort()

    def _gone(self, error: BaseException | None = None) -> None:
        # The transport refused a send: the peer is gone. The reader side reports the close.
        self.closed = True
        self._queue.clear()

    def abort(self) -> None:
        """Drop the connection without a closing handshake (overridden by transports)."""

    def hold(self, seconds: float) -> None:
        """What is written from now on goes out ``seconds`` after what was written before
        (in order: the writer task waits at this point of its queue)."""
        if self.closed:
            return
        self._queue.append(_Hold(seconds))
        self._wakeup.unpark_all()

    @property
    def buffered(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue)


class Connection(WebSocketWriter):
    """A connection the host brings itself (:meth:`AsyncServer.attach`): frames go out
    through its ``send(frame)`` coroutine function, and what arrives is fed with
    :meth:`feed`. It speaks Engine.IO over a message transport, as a WebSocket does."""

    def __init__(
        self,
        server: _LoopServer,
        send: Callable[[str | bytes], Awaitable[None]],
        close: Callable[[], Awaitable[None]] | None,
        max_buffer: int,
    ) -> None:
        super().__init__(server, send, max_buffer)
        self._close = close
        self.eio_sid: str | None = None
        self.accepted: bool | None = None  # None until the machine decided

    def accept(self) -> None:
        self.accepted = True

    def reject(self, status: int, body: bytes) -> None:
        self.accepted = False
        super().reject(status, body)
        self.abort()

    async def _closed_gracefully(self) -> None:
        if self._close is not None:
            await self._close()

    def abort(self) -> None:
        if self._close is not None:
            closer = self._close

            async def close_now() -> None:
                await closer()

            self._server._spawn(close_now())

    def feed(self, frame: str | bytes) -> None:
        """A message arrived on the connection."""
        self._server._websocket_message(self, frame)

    def closed_by_peer(self) -> None:
        """The connection is gone (the host saw it close)."""
        self.closed = True
        self._wakeup.unpark_all()
        self._server._websocket_closed(self)
