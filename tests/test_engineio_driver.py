"""The Engine.IO-only server's loop-independent body (EngineIODriver, EngineIOSession),
driven by hand: a list of coroutines stepped until they wait, a clock that is a number."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sansio_rooms import (
    EngineIODriver,
    EngineIOSession,
    HttpRequest,
    HttpResponse,
    LocalProtocolError,
)
from sansio_rooms._transport_driver import FLUSH_TIMEOUT

from ._hand_driver import HandDriven


class Driver(HandDriven, EngineIODriver):
    """An Engine.IO server driven by hand (see :class:`HandDriven`)."""


class WebSocket:
    """The driver's handle for one WebSocket: what it was told to do."""

    prepare = staticmethod(tuple)

    def __init__(self, driver: Driver) -> None:
        self.frames: list[str | bytes] = []
        self.closed_with: int | None = None
        self.closed = False
        driver._websocket_connect(self, {"EIO": "4", "transport": "websocket"})
        driver.settle()

    def accept(self) -> None: ...

    def write(self, frames: Any, volatile: bool = False) -> None:
        self.frames.extend(frames)

    def write_control(self, frames: Any) -> None:
        self.frames.extend(frames)

    def close(self, code: int = 1000) -> None:
        self.closed_with = code


class Request:
    """The driver's handle for one HTTP request."""

    def __init__(self) -> None:
        self.response: HttpResponse | None = None

    def respond(self, response: HttpResponse) -> None:
        self.response = response


def echo_server(**options: Any) -> tuple[Driver, list[tuple[Any, ...]]]:
    driver = Driver(**options)
    seen: list[tuple[Any, ...]] = []

    @driver.on("connect")
    async def connect(session: EngineIOSession) -> None:
        seen.append(("connect", session.sid, session.transport, dict(session.query)))

    @driver.on("message")
    async def message(session: EngineIOSession, data: str | bytes) -> None:
        seen.append(("message", session.sid, data))
        if data == "bye":
            await session.close()
        else:
            await session.send(data)

    @driver.on("disconnect")
    def disconnect(session: EngineIOSession, reason: str) -> None:  # a plain function works
        seen.append(("disconnect", session.sid, reason))

    return driver, seen


def test_an_echo_server_over_websocket() -> None:
    driver, seen = echo_server()
    ws = WebSocket(driver)
    sid = driver.sessions()[0].sid
    assert ws.frames[0].startswith('0{"sid":"' + sid)  # type: ignore[union-attr]
    driver._websocket_message(ws, "4hello")
    driver._websocket_message(ws, b"\x01\x02")
    driver.settle()
    assert ws.frames[1:] == ["4hello", b"\x01\x02"]
    assert repr(driver.get_session(sid)) == f"<EngineIOSession {sid}>"
    driver._websocket_message(ws, "4bye")
    driver.settle()
    assert ws.closed_with == 1000
    assert driver.get_session(sid) is None and driver.sessions() == []
    assert seen == [
        ("connect", sid, "websocket", {"EIO": "4", "transport": "websocket"}),
        ("message", sid, "hello"),
        ("message", sid, b"\x01\x02"),
        ("message", sid, "bye"),
        ("disconnect", sid, "forced close"),
    ]


def test_an_echo_server_over_long_polling() -> None:
    driver, seen = echo_server()
    query = {"EIO": "4", "transport": "polling"}
    handshake = Request()
    driver._receive_request(HttpRequest(handle=handshake, method="GET", query=query))
    driver.settle()
    assert handshake.response is not None and handshake.response.body.startswith(b"0{")
    sid = driver.sessions()[0].sid
    query = {**query, "sid": sid}
    post = Request()
    body = b"4one\x1e4two\x1ebAwQ="
    driver._receive_request(HttpRequest(handle=post, method="POST", query=query, body=body))
    driver.settle()
    get = Request()
    driver._receive_request(HttpRequest(handle=get, method="GET", query=query))
    assert get.response is not None
    assert get.response.body == b"4one\x1e4two\x1ebAwQ="
    parked = Request()
    driver._receive_request(HttpRequest(handle=parked, method="GET", query=query))
    driver._request_closed(parked)  # the client went away: the session ends
    driver.settle()
    assert seen[-1] == ("disconnect", sid, "transport error")


def test_send_and_close_after_the_session_ended_do_nothing() -> None:
    driver, _ = echo_server()
    ws = WebSocket(driver)
    session = driver.sessions()[0]
    driver._websocket_closed(ws)
    driver.settle()
    assert not session.connected
    sent = list(ws.frames)

    async def late() -> None:
        await session.send("too late")
        await session.close()
        await driver.send(session.sid, "too late")  # an unknown session: nothing happens

    driver._spawn(late())
    driver.settle()
    assert ws.frames == sent and ws.closed_with is None


def test_server_send_and_bytes_like_messages() -> None:
    driver, _ = echo_server()
    ws = WebSocket(driver)
    sid = driver.sessions()[0].sid

    async def push() -> None:
        await driver.send(sid, "hi")
        await driver.send(sid, bytearray(b"\x00"))
        await driver.send(sid, memoryview(b"\x01"))
        with pytest.raises(LocalProtocolError, match="str or bytes, not dict"):
            await driver.send(sid, {"not": "a message"})  # type: ignore[arg-type]

    driver._spawn(push())
    driver.settle()
    assert ws.frames[1:] == ["4hi", b"\x00", b"\x01"]


def test_handlers_are_optional_and_their_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = Driver()

    @driver.on("message")
    async def message(session: EngineIOSession, data: Any) -> None:
        raise RuntimeError("boom")

    ws = WebSocket(driver)  # no connect handler: nothing to run
    sid = driver.sessions()[0].sid
    driver._websocket_message(ws, "4x")
    driver.settle()
    assert f"message handler of Engine.IO session {sid} failed" in caplog.text
    driver._websocket_message(ws, "4y")  # the session goes on
    driver.settle()
    assert caplog.text.count("failed") == 2


def test_registration_and_options_are_checked() -> None:
    driver = Driver()
    with pytest.raises(LocalProtocolError, match="not 'chat'"):
        driver.on("chat")
    with pytest.raises(LocalProtocolError, match="callable"):
        driver.on("message")(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Driver: .*connect_timeout"):
        Driver(connect_timeout=1.0)
    with pytest.raises(ValueError, match="max_buffer"):
        Driver(max_buffer=0)
    assert driver.default_path == "engine.io"
    assert driver.engineio is driver.machine


def test_shutdown_closes_every_session_and_heartbeats_run_on_the_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    driver, seen = echo_server(ping_interval=1.0, ping_timeout=1.0)
    ws = WebSocket(driver)
    assert driver.timer == 1.0
    driver.advance(1.0)
    assert ws.frames[-1] == "2"  # the ping
    other = WebSocket(driver)
    driver._begin_shutdown_threadsafe()
    driver.settle()
    assert ws.closed_with == other.closed_with == 1000
    reasons = [event[2] for event in seen if event[0] == "disconnect"]
    assert reasons == ["server shutting down", "server shutting down"]


def test_a_shutdown_that_ends_the_process_waits_for_the_last_writes_within_a_bound() -> None:
    driver, seen = echo_server()
    ws = WebSocket(driver)
    ended: list[float] = []
    driver._connections = 1  # a connection still writing its last frames, for ever
    driver._spawn(driver._shutdown_then(lambda: ended.append(driver.clock)))
    driver.settle()
    assert ws.closed_with == 1000 and seen[-1][2] == "server shutting down"
    assert ended == [pytest.approx(FLUSH_TIMEOUT, abs=0.011)]  # it gave up waiting at 1 s
    driver._connections = 0
    driver._spawn(driver._shutdown_then(lambda: ended.append(driver.clock)))
    driver.settle()
    assert ended[1] == ended[0]  # nothing left to write: at once


def test_a_plain_handler_runs_at_once_and_keeps_its_place_behind_a_running_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plain ``def`` handler runs as the message is read, without a task (what it sends is
    out before the next message). While a handler of the session runs as a task, the later
    ones are tasks too, started in order (never one ahead of an earlier one). Failures are
    logged; a function returning a coroutine is awaited in order too."""
    driver = Driver()
    order: list[str] = []
    gate: list[Any] = []

    async def held(session: EngineIOSession, data: str) -> None:
        order.append("hold-start")
        while not gate:
            await _turn()
        order.append(data)
        session.send(data)

    async def later(session: EngineIOSession, data: str) -> None:
        order.append(data)
        await session.send(data)

    @driver.on("message")
    def message(session: EngineIOSession, data: str | bytes) -> Any:
        if data == "hold":
            return held(session, data)
        if data == "boom":
            raise RuntimeError("boom")
        if data == "coroutine":
            return later(session, data)
        order.append(str(data))
        session.send(data)
        return None

    ws = WebSocket(driver)
    driver._websocket_message(ws, "4one")
    assert ws.frames[1:] == ["4one"]  # sent at once, no settle(): no task
    driver._websocket_message(ws, "4hold")
    driver._websocket_message(ws, "4two")  # a task too: it may not run before "hold" starts
    assert order == ["one"]
    driver.settle()
    assert order == ["one", "hold-start", "two"]
    gate.append(True)
    driver.settle()
    assert order == ["one", "hold-start", "two", "hold"]
    assert ws.frames[1:] == ["4one", "4two", "4hold"]
    with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
        driver._websocket_message(ws, "4boom")
        driver._websocket_message(ws, "4coroutine")
        driver.settle()
    assert order[-1] == "coroutine" and ws.frames[-1] == "4coroutine"
    assert any("message handler of Engine.IO session" in r.getMessage() for r in caplog.records)


class _Turn:
    def __await__(self) -> Any:
        yield


def _turn() -> _Turn:
    return _Turn()
