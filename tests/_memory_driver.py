"""A Socket.IO server driven by hand, and WebSocket clients that are plain objects: for the
tests of the driver, handshakes, middleware and namespaces. No event loop: spawned coroutines
are stepped by ``settle()`` (see :class:`HandDriven`), a :class:`Gate` holds one until the
test opens it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from sansio_rooms import HandshakeRequest, ServerDriver

from ._hand_driver import HandDriven

#: What ``Driver._wall_time`` says: handshakes are reproducible.
WALL_TIME = 1_800_000_000.5


class _Yield:
    def __await__(self) -> Generator[None, None, None]:
        yield


class Waiter:
    """A one-shot result, the first value set wins (as the bindings' waiters)."""

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None

    def set(self, value: Any) -> None:
        if not self.done:
            self.done, self.value = True, value

    async def wait(self) -> Any:
        while not self.done:
            await _Yield()
        return self.value


class Gate:
    """``await gate`` waits (across ``settle()`` rounds) until ``gate.open()``."""

    def __init__(self) -> None:
        self.opened = False
        self.waiting = 0

    def open(self) -> None:
        self.opened = True

    def __await__(self) -> Generator[None, None, None]:
        self.waiting += 1
        while not self.opened:
            yield
        self.waiting -= 1


class Driver(HandDriven, ServerDriver):
    """A server driven by hand."""

    def _new_waiter(self) -> Waiter:
        return Waiter()

    def _wall_time(self) -> float:
        return WALL_TIME

    def start(self, coroutine: Awaitable[Any]) -> Callable[[], Any]:
        """Run a coroutine of the test as a task; returns a function giving its result."""
        outcome: dict[str, Any] = {}

        async def capture() -> None:
            try:
                outcome["value"] = await coroutine
            except Exception as error:
                outcome["error"] = error

        self._spawn(capture())
        self.settle()

        def result() -> Any:
            if "error" in outcome:
                raise outcome["error"]
            assert "value" in outcome, "the coroutine has not finished"
            return outcome["value"]

        return result


class Client:
    """A WebSocket client: the driver's handle for the connection is this object.
    ``request``: the HTTP request that opened it (what the ASGI app would have read)."""

    prepare = staticmethod(tuple)

    def __init__(self, driver: Driver, request: HandshakeRequest | None = None) -> None:
        self.driver = driver
        self.frames: list[str | bytes] = []
        self.closed = self.accepted = False
        self.sids: dict[str, str] = {}
        query = {"EIO": "4", "transport": "websocket"}
        driver._websocket_connect(self, query if request is None else request.query, request)

    def accept(self) -> None:
        self.accepted = True

    def write(self, frames: Any, volatile: bool = False) -> None:
        self.frames.extend(frames)

    def write_control(self, frames: Any) -> None:
        self.frames.extend(frames)

    def close(self, code: int = 1000) -> None:
        self.closed = True

    def hold(self, seconds: float) -> None:
        self.frames.append(f"<hold {seconds}>")

    def feed(self, frame: str) -> None:
        self.driver._websocket_message(self, frame)
        self.driver.settle()

    def leave(self) -> None:
        """The connection ends (the client went away)."""
        self.driver._websocket_closed(self)
        self.driver.settle()

    @property
    def sid(self) -> str:
        """The sid in the main namespace, once connected to it."""
        return self.sids["/"]

    def send_connect(self, nsp: str = "/", auth: Any = None) -> None:
        prefix = "40" if nsp == "/" else f"40{nsp},"
        self.feed(prefix + ("" if auth is None else json.dumps(auth, separators=(",", ":"))))

    def connect(self, nsp: str = "/", auth: Any = None) -> str:
        """CONNECT to ``nsp``; returns the reply (``40...{"sid":..}`` or ``44...``)."""
        self.send_connect(nsp, auth)
        return self.reply(nsp)

    def reply(self, nsp: str = "/") -> str:
        """The last CONNECT or CONNECT_ERROR frame of ``nsp`` (remembers its sid)."""
        frames = [f for f in self.texts("4") if f[1] in "04" and _nsp_of(f) == nsp]
        assert frames, f"no CONNECT reply for {nsp} in {self.frames}"
        reply = frames[-1]
        if reply[1] == "0":
            self.sids[nsp] = json.loads(reply[reply.index("{") :])["sid"]
        return reply

    def texts(self, prefix: str = "42") -> list[str]:
        return [f for f in self.frames if isinstance(f, str) and f.startswith(prefix)]


def _nsp_of(frame: str) -> str:
    """The namespace of a Socket.IO text frame (``4`` + type + ``/nsp,`` ...)."""
    body = frame[2:]
    if body.startswith("/"):
        return body.split(",", 1)[0]
    return "/"
