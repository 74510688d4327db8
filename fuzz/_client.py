"""The clients: the executor that performs a session's steps over real sockets, and the control
clients (hand-written, correct Socket.IO clients, over WebSocket and over long-polling) that
must keep getting their answers while the fuzz runs.

Only 127.0.0.1 is ever contacted (``host`` is ``127.0.0.1:<port>``), without proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets
from websockets.asyncio.client import ClientConnection, connect
from yarl import URL

from _steps import Http, Sleep, Step, WsClose, WsExpect, WsOpen, WsSend

__all__ = ["ControlClient", "Executor", "Outcome", "Tally"]

HTTP_TIMEOUT = 5.0
OPEN_TIMEOUT = 5.0
#: Answers the server owes a well-behaved client are waited for this long.
ANSWER_TIMEOUT = 5.0
NETWORK_ERRORS = (
    OSError,
    TimeoutError,
    aiohttp.ClientError,
    websockets.exceptions.WebSocketException,
)


@dataclass
class Tally:
    """What the executors sent and noticed, over a whole run."""

    inputs: int = 0
    ws_frames: int = 0
    ws_opens: int = 0
    http_requests: int = 0
    sessions: int = 0
    #: Things a correct server does not do: ("server-close-1011", ...) -> count.
    anomalies: Counter[str] = field(default_factory=Counter)
    #: Anomaly -> (session tag, detail) of its first occurrence.
    anomaly_examples: dict[str, tuple[str, str]] = field(default_factory=dict)
    client_errors: Counter[str] = field(default_factory=Counter)

    def anomaly(self, name: str, tag: str, detail: str) -> None:
        self.anomalies[name] += 1
        self.anomaly_examples.setdefault(name, (tag, detail[:300]))


@dataclass
class Outcome:
    """What one session noticed."""

    inputs: int = 0
    missing_answers: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)


def _sid_of(open_packet: str) -> str | None:
    try:
        data = json.loads(open_packet[1:])
    except ValueError:
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


class _Ws:
    """An open WebSocket: a task reads everything (keeping the first bytes of each frame),
    answers pings and the server's questions, and notes what a correct server would not do."""

    def __init__(self, run: _Run, ws: ClientConnection) -> None:
        self.run = run
        self.ws = ws
        self.frames: list[str | bytes] = []
        self.searched = 0
        self.arrived = asyncio.Event()
        self.closed = False
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        run = self.run
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    if message == "2":
                        await self.send("3")
                    elif message.startswith("0{"):
                        run.learn_sid(message)
                    elif (
                        message.startswith("42")
                        and '["question"' in message[:80]
                        and '"silent"' not in message[:80]
                    ):
                        await self._answer(message)
                    message = message[:80]
                else:
                    message = message[:16]
                self.frames.append(message)
                self.arrived.set()
        except websockets.exceptions.ConnectionClosedError as closed:
            sent = closed.sent
            if sent is not None and sent.code == 1007 and not closed.rcvd_then_sent:
                # We closed first, with 1007: the server's frame was not UTF-8.
                run.anomaly("server-sent-invalid-utf8", repr(closed))
        except websockets.exceptions.ConnectionClosedOK:
            pass
        except NETWORK_ERRORS:
            pass
        finally:
            rcvd = self.ws.close_code
            if rcvd == 1011:
                run.anomaly("server-close-1011", f"close code {rcvd} {self.ws.close_reason!r}")
            self.closed = True
            self.arrived.set()

    async def _answer(self, message: str) -> None:
        # 42[/nsp,]<id>["question",...] -> 43[/nsp,]<id>["answer"]
        head = message[2 : message.index("[")]
        await self.send(f'43{head}["answer"]')

    async def send(self, data: str | bytes, text: bool = False) -> bool:
        if self.closed:
            return False
        try:
            if text:
                await self.ws.send(data, text=True)
            else:
                await self.ws.send(data)
        except NETWORK_ERRORS:
            return False
        self.run.count()
        return True

    async def expect(self, prefix: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frames = self.frames
            for index in range(self.searched, len(frames)):
                frame = frames[index]
                if isinstance(frame, str) and frame.startswith(prefix):
                    self.searched = index + 1
                    return True
            if self.closed:
                return False
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                return False

    async def close(self, abort: bool) -> None:
        if abort:
            transport = self.ws.transport
            if transport is not None:
                transport.abort()
        else:
            with contextlib.suppress(*NETWORK_ERRORS):
                await asyncio.wait_for(self.ws.close(), 2.0)
        self.closed = True
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, *NETWORK_ERRORS):
            await self.reader


class _Run:
    """One performance of a session's steps."""

    def __init__(self, executor: Executor, host: str, tag: str) -> None:
        self.executor = executor
        self.host = host
        self.tag = tag
        self.outcome = Outcome()
        self.sids: list[str] = []
        self.sockets: dict[int, _Ws] = {}
        self.background: list[asyncio.Task[None]] = []

    def count(self) -> None:
        self.outcome.inputs += 1
        self.executor.tally.inputs += 1

    def anomaly(self, name: str, detail: str) -> None:
        self.outcome.anomalies.append(name)
        self.executor.tally.anomaly(name, self.tag, detail)

    def learn_sid(self, open_packet: str) -> None:
        sid = _sid_of(open_packet)
        if sid is not None and sid not in self.sids:
            self.sids.append(sid)

    def query(self, query: str) -> str:
        sids = self.sids
        query = query.replace("{sid2}", sids[1] if len(sids) > 1 else "none")
        query = query.replace("{sid}", sids[0] if sids else "none")
        return f"{query}&fz={self.tag}" if query else f"fz={self.tag}"

    async def perform(self, steps: list[Step]) -> Outcome:
        try:
            for step in steps:
                await self.step(step)
        finally:
            await self.finish()
        return self.outcome

    async def step(self, step: Step) -> None:
        kind = type(step)
        if kind is WsSend:
            assert isinstance(step, WsSend)
            ws = self.sockets.get(step.slot)
            if ws is not None and await ws.send(step.data, step.text):
                self.executor.tally.ws_frames += 1
        elif kind is WsExpect:
            assert isinstance(step, WsExpect)
            ws = self.sockets.get(step.slot)
            timeout = self.executor.answer_timeout if step.timeout >= 2.0 else step.timeout
            if ws is not None and not await ws.expect(step.prefix, timeout) and step.timeout >= 2.0:
                self.outcome.missing_answers.append(step.prefix)
        elif kind is WsOpen:
            assert isinstance(step, WsOpen)
            await self.open(step)
        elif kind is Http:
            assert isinstance(step, Http)
            if step.wait:
                await self.http(step)
            else:
                self.background.append(asyncio.create_task(self.http(step)))
        elif kind is WsClose:
            assert isinstance(step, WsClose)
            ws = self.sockets.pop(step.slot, None)
            if ws is not None:
                await ws.close(step.abort)
        else:
            assert isinstance(step, Sleep)
            await asyncio.sleep(step.seconds)

    async def open(self, step: WsOpen) -> None:
        old = self.sockets.pop(step.slot, None)
        if old is not None:
            await old.close(abort=True)
        url = f"ws://{self.host}/socket.io/?{self.query(step.query)}"
        self.count()
        self.executor.tally.ws_opens += 1
        try:
            ws = await connect(
                url,
                compression=None,
                max_size=None,
                max_queue=None,
                ping_interval=None,
                close_timeout=1.0,
                open_timeout=OPEN_TIMEOUT,
                proxy=None,
                user_agent_header=None,
            )
        except websockets.exceptions.InvalidStatus as refused:
            if refused.response.status_code >= 500:
                self.anomaly("websocket-handshake-5xx", repr(refused))
            return
        except NETWORK_ERRORS:
            return
        self.sockets[step.slot] = _Ws(self, ws)

    async def http(self, step: Http) -> None:
        url = URL(f"http://{self.host}/socket.io/?{self.query(step.query)}", encoded=True)
        headers = {} if step.content_type is None else {"Content-Type": step.content_type}
        self.count()
        self.executor.tally.http_requests += 1
        try:
            async with self.executor.http.request(
                step.method,
                url,
                data=step.body if step.body or step.method not in ("GET", "HEAD") else None,
                headers=headers,
                skip_auto_headers=("Content-Type",),
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT),
            ) as response:
                body = await response.read()
                if response.status >= 500:
                    self.anomaly(f"http-{response.status}", f"{step.method} -> {body[:200]!r}")
                if body.startswith(b"0{"):
                    self.learn_sid(body.split(b"\x1e", 1)[0].decode("utf-8", "replace"))
        except aiohttp.ClientConnectorError:
            self.outcome.inputs -= 1  # nothing was sent: the server is not there
            self.executor.tally.inputs -= 1
        except NETWORK_ERRORS:
            pass

    async def finish(self) -> None:
        for ws in list(self.sockets.values()):
            await ws.close(abort=False)
        self.sockets.clear()
        if self.background:
            _, pending = await asyncio.wait(self.background, timeout=0.05)
            for task in pending:
                task.cancel()  # the client goes away: a parked GET is abandoned
            await asyncio.gather(*self.background, return_exceptions=True)


class Executor:
    """Performs sessions against ``host``; shares one HTTP connection pool."""

    def __init__(
        self, http: aiohttp.ClientSession, tally: Tally, answer_timeout: float = ANSWER_TIMEOUT
    ) -> None:
        self.http = http
        self.tally = tally
        self.answer_timeout = answer_timeout

    async def run(self, host: str, steps: list[Step], tag: str) -> Outcome:
        self.tally.sessions += 1
        try:
            return await _Run(self, host, tag).perform(steps)
        except Exception as error:  # a bug of the fuzzer, not of the server: counted
            self.tally.client_errors[f"{type(error).__name__}: {error}"[:200]] += 1
            return Outcome()


# -- the control clients -------------------------------------------------------------------------


@dataclass
class Miss:
    when: float
    client: str
    reason: str


class ControlClient:
    """A correct Socket.IO client that emits ``echo`` with an ack every ``interval`` seconds
    and requires each answer within ``bound`` seconds. Any failure (no answer in time, a wrong
    answer, the connection refused or dropped) is a miss; the client then connects again."""

    def __init__(
        self,
        transport: str,
        host: Callable[[], str],
        bound: float,
        interval: float = 0.1,
    ) -> None:
        assert transport in ("websocket", "polling")
        self.transport = transport
        self.host = host
        self.bound = bound
        self.interval = interval
        self.answered = 0
        self.misses: list[Miss] = []
        self.max_latency = 0.0
        self.last_ok = time.monotonic()
        self._waiting: dict[int, asyncio.Future[str]] = {}
        self._next = 0

    @property
    def name(self) -> str:
        return f"control-{self.transport}"

    def miss(self, reason: str) -> None:
        self.misses.append(Miss(time.time(), self.name, reason[:300]))

    async def run(self, stop: asyncio.Event, http: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                if self.transport == "websocket":
                    await self._websocket(stop)
                else:
                    await self._polling(stop, http)
            except (*NETWORK_ERRORS, ValueError) as error:
                if not stop.is_set():
                    self.miss(f"connection failed: {error!r}")
            for future in self._waiting.values():
                future.cancel()
            self._waiting.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)

    def _on_packet(self, packet: str) -> None:
        """A Socket.IO packet (the Engine.IO "4" removed): an ACK resolves its echo."""
        if packet.startswith("3"):
            number = packet[1 : packet.find("[")]
            future = self._waiting.pop(int(number), None) if number.isdigit() else None
            if future is not None and not future.done():
                future.set_result(packet)

    async def _echo_loop(self, stop: asyncio.Event, send: Callable[[str], Any]) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self._next += 1
            number = self._next
            future: asyncio.Future[str] = loop.create_future()
            self._waiting[number] = future
            started = loop.time()
            await send(f'42{number}["echo",{number},"control"]')
            await asyncio.wait({future}, timeout=self.bound)
            if stop.is_set():
                return
            if future.cancelled():  # the connection ended under it
                self.miss(f"connection lost while waiting for the answer to echo #{number}")
                return
            if not future.done():
                future.cancel()
                self.miss(f"no answer to echo #{number} within {self.bound} s")
                return
            answer = future.result()
            if answer != f'3{number}[{number},"control"]':
                self.miss(f"wrong answer to echo #{number}: {answer[:100]!r}")
                return
            self.answered += 1
            self.last_ok = time.monotonic()
            self.max_latency = max(self.max_latency, loop.time() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def _websocket(self, stop: asyncio.Event) -> None:
        url = f"ws://{self.host()}/socket.io/?EIO=4&transport=websocket&fz=control-ws"
        async with connect(
            url,
            compression=None,
            ping_interval=None,
            open_timeout=self.bound,
            close_timeout=1.0,
            proxy=None,
        ) as ws:
            opening = await asyncio.wait_for(ws.recv(), self.bound)
            if not isinstance(opening, str) or not opening.startswith("0{"):
                raise ValueError(f"no open packet: {opening!r}")
            await ws.send('40{"control":true}')
            reply = await asyncio.wait_for(ws.recv(), self.bound)
            if not isinstance(reply, str) or not reply.startswith("40{"):
                raise ValueError(f"no CONNECT reply: {reply!r}")

            async def read() -> None:
                async for message in ws:
                    if message == "2":
                        await ws.send("3")
                    elif isinstance(message, str) and message.startswith("4"):
                        self._on_packet(message[1:])
                for future in self._waiting.values():
                    future.cancel()

            reader = asyncio.create_task(read())
            try:
                await self._echo_loop(stop, ws.send)
                if reader.done() and not stop.is_set():
                    raise ValueError("the server closed the control connection")
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, *NETWORK_ERRORS):
                    await reader

    async def _polling(self, stop: asyncio.Event, http: aiohttp.ClientSession) -> None:
        base = f"http://{self.host()}/socket.io/?EIO=4&transport=polling&fz=control-poll"
        timeout = aiohttp.ClientTimeout(total=self.bound + 2.0)  # a GET waits up to a ping
        headers = {"Content-Type": "text/plain;charset=UTF-8"}
        async with http.get(base, timeout=timeout) as response:
            opening = await response.text()
        sid = _sid_of(opening)
        if sid is None:
            raise ValueError(f"no open packet: {opening[:100]!r}")
        url = f"{base}&sid={sid}"

        async def post(body: str) -> None:
            async with http.post(url, data=body, headers=headers, timeout=timeout) as answer:
                if answer.status != 200:
                    raise ValueError(f"POST answered {answer.status}")
                await answer.read()

        connected = asyncio.Event()

        async def read() -> None:
            while True:
                async with http.get(url, timeout=timeout) as answer:
                    body = await answer.text()
                    if answer.status != 200:
                        raise ValueError(f"GET answered {answer.status}: {body[:100]!r}")
                for packet in body.split("\x1e"):
                    if packet == "2":
                        await post("3")
                    elif packet.startswith("40{"):
                        connected.set()
                    elif packet.startswith("4"):
                        self._on_packet(packet[1:])
                    elif packet.startswith("1"):
                        raise ValueError("the server closed the control session")

        await post('40{"control":true}')
        reader = asyncio.create_task(read())
        try:
            waiting = asyncio.create_task(connected.wait())
            await asyncio.wait({waiting, reader}, timeout=self.bound, return_when="FIRST_COMPLETED")
            waiting.cancel()
            if not connected.is_set():
                if reader.done():
                    reader.result()
                raise ValueError(f"no CONNECT reply within {self.bound} s")
            await self._echo_loop(stop, post)
            if reader.done() and not stop.is_set():
                reader.result()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *NETWORK_ERRORS, ValueError):
                await reader
