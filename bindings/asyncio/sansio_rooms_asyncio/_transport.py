"""Per-connection writers: ordered, bounded, and never in the way of the other connections.

Each WebSocket (an ASGI one, or one the host attaches itself) has a writer. A write to an idle
writer runs the transport's send right away, stepping the coroutine by hand: with uvicorn a
send that is not held back by flow control finishes without suspending, so a broadcast costs no
task switch per recipient. When a send does suspend (the client reads slowly), the rest of that
coroutine and everything queued after it run in a task of that connection, so a slow client
never delays the others. The queue is bounded: past ``max_buffer`` frames the connection is
failed with a reason ("write buffer full"). Volatile frames are dropped when the writer is not
idle. Control frames (pings) go to the front of the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import _LoopServer

__all__ = ["Connection", "WebSocketWriter"]


async def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
    """Finish running ``coro``, which suspended on ``yielded`` while stepped by hand."""
    while True:
        try:
            if yielded is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                # What a Task does with a future its coroutine yields: take over the
                # "blocking" mark (the C Future refuses to be awaited while it is set).
                yielded._asyncio_future_blocking = False
                await yielded
        except BaseException as error:  # cancelled, or the awaited future failed: pass it in
            try:
                yielded = coro.throw(error)
            except StopIteration:
                return
            continue
        try:
            yielded = coro.send(None)
        except StopIteration:
            return


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
        self._task: asyncio.Task[None] | None = None
        self.closed = False  # no more writes: closing, failed, or gone
        self.refusal: tuple[int, bytes] | None = None  # the handshake's refusal, if refused

    # How frames become the messages given to ``send`` (built once per broadcast).
    @staticmethod
    def prepare(frames: Sequence[str | bytes]) -> tuple[Any, ...]:
        return tuple(frames)

    @staticmethod
    def close_message(code: int) -> Any:
        return None

    @staticmethod
    def _unwrap(message: Any) -> Any:
        """What ``send`` takes for a queued message (a transport may queue richer ones)."""
        return message

    def accept(self) -> None:
        """The machine accepted the handshake."""

    def reject(self, status: int, body: bytes) -> None:
        """The machine refused the handshake (``status``, with an Engine.IO error body)."""
        self.closed = True
        self.refusal = (status, body)

    def write(self, messages: Sequence[Any], volatile: bool = False) -> None:
        if self.closed:
            return
        busy = self._task is not None
        if volatile and busy:
            return  # not writable right now: a volatile packet may be dropped
        if busy:
            if len(self._queue) + len(messages) > self._max_buffer:
                self._fail("write buffer full")
                return
            self._queue.extend(messages)
            return
        if len(messages) == 1:  # the common case: one frame per packet
            if not self._write_now(messages[0]):
                return
            return
        for index, message in enumerate(messages):
            if not self._write_now(message):
                self._queue.extend(messages[index + 1 :])
                return

    def write_control(self, messages: Sequence[Any]) -> None:
        """Control frames (a ping) never wait behind data."""
        if self.closed:
            return
        if self._task is None:
            self.write(messages)
        else:
            self._queue.extendleft(reversed(messages))

    def _write_now(self, message: Any) -> bool:
        """Send at once; False if the send suspended (and now finishes in a task)."""
        coro = self._send(self._unwrap(message))
        try:
            yielded = coro.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return True
        except Exception as error:
            self._gone(error)
            return True
        self._task = asyncio.get_running_loop().create_task(self._drain(coro, yielded))
        return False

    async def _drain(self, coro: Any, yielded: Any) -> None:
        try:
            if coro is not None:
                await _resume(coro, yielded)
            queue = self._queue
            while queue:
                message = queue.popleft()
                if type(message) is _Hold:
                    await asyncio.sleep(message.seconds)
                else:
                    await self._send(self._unwrap(message))
        except Exception as error:
            self._gone(error)
        finally:
            self._task = None

    def close(self, code: int = 1000) -> None:
        """Close after what was written before (a graceful close)."""
        if self.closed:
            return
        self.closed = True
        message = self.close_message(code)
        if message is None:
            return
        self._queue.append(message)
        if self._task is None:
            # A close is sent from a task of its own, never stepped by hand: a server's
            # close may wait with a timeout, which asyncio only allows inside a task.
            self._task = asyncio.get_running_loop().create_task(self._drain(None, None))

    def _fail(self, description: str) -> None:
        """Give up on this connection now: drop what is queued and tell the machine."""
        self.closed = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        self._server._transport_failed(self, description)
        self.abort()

    def _gone(self, error: BaseException) -> None:
        # The transport refused a send: the peer is gone. The reader side reports the close.
        self.closed = True
        self._queue.clear()

    def abort(self) -> None:
        """Drop the connection without a closing handshake (overridden by transports)."""

    def hold(self, seconds: float) -> None:
        """What is written from now on goes out ``seconds`` after what was written before
        (in order: it waits in the queue, written by this connection's task)."""
        if self.closed:
            return
        self._queue.append(_Hold(seconds))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(None, None))

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

    def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        super().close(code)
        if self._close is not None:
            closer = self._close

            async def close_after_writes() -> None:
                while self._task is not None:
                    await asyncio.sleep(0)
                await closer()

            self._server._spawn(close_after_writes())

    def abort(self) -> None:
        if self._close is not None:
            closer = self._close

            async def close_now() -> None:
                await closer()

            self._server._spawn(close_now())

    def accept(self) -> None:
        self.accepted = True

    def reject(self, status: int, body: bytes) -> None:
        self.accepted = False
        super().reject(status, body)
        self.abort()

    def feed(self, frame: str | bytes) -> None:
        """A message arrived on the connection."""
        self._server._websocket_message(self, frame)

    def closed_by_peer(self) -> None:
        """The connection is gone (the host saw it close)."""
        self.closed = True
        self._server._websocket_closed(self)
