"""Stopping a real server with 500 connected clients: it exits within 2 s of SIGTERM or
SIGINT, and every client is told first.

The server runs as users run it: the ASGI server's command line in a subprocess
(``uvicorn tests._shutdown_app:app --ws websockets-sansio`` for asyncio, ``hypercorn -k
trio tests._shutdown_app:app`` for trio), default options (``ping_interval`` 25 s, so a
parked long-polling GET would stay parked), and the signal goes to that process, as ``kill
PID`` sends it. The clients speak Engine.IO v4 + Socket.IO v5 by hand: 250 over WebSocket
(``websockets``) and 250 over long-polling only (``aiohttp``), each of those keeping a GET
parked. What a client sees when the server stops:

* WebSocket: a close frame with code 1000, with no packet before it (no Engine.IO close
  ``1``, no Socket.IO ``41``: the close frame is the goodbye);
* long-polling, a GET parked: answered at once, 200 with the close packet ``1``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import IO

import aiohttp
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
WEBSOCKET_CLIENTS = 250
POLLING_CLIENTS = 250
AIOHTTP_SESSIONS = 5
CONNECTING_AT_ONCE = 50  # below hypercorn's listen backlog (100): no SYN is dropped and retried
STOP_LIMIT = 2.0  # the requirement: the process is gone within 2 s of the signal

START_TIMEOUT = 20.0  # until the server accepts connections
CONNECT_TIMEOUT = 60.0  # until the 500 clients are connected
PARK_SETTLE = 0.2  # for the GETs the server has accepted to be read, and parked
EXIT_TIMEOUT = 10.0  # the process is killed if it has not exited by then
CLIENTS_END_TIMEOUT = 10.0  # for every client to see its connection end once the server is gone

BINDING_VARIABLE = "SANSIO_ROOMS_SHUTDOWN_BINDING"  # read by tests/_shutdown_app.py
POLLING_HEADERS = {"content-type": "text/plain;charset=UTF-8"}  # what engine.io-client sends
WEBSOCKET_GOODBYE = "close 1000 after no packet"
POLLING_GOODBYE = "200 '1'"


def command(binding: str, port: int) -> list[str]:
    app = "tests._shutdown_app:app"
    if binding == "asyncio":
        return [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
                "--ws", "websockets-sansio"]  # fmt: skip
    return [sys.executable, "-m", "hypercorn", "-k", "trio", "--bind", f"{HOST}:{port}", app]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def file_descriptors(wanted: int) -> Iterator[None]:
    """Raise the soft limit on open files (up to the hard limit) for 500 clients and what
    the server under test inherits; restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        yield
        return
    raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def running_server(binding: str, port: int, stderr: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """The server's process, in a process group of its own: hypercorn's command line runs
    its worker in a child process, which a kill of the command's process alone would leave
    behind. The group is killed on the way out whatever happened (nothing left once the
    server has stopped by itself)."""
    process = subprocess.Popen(
        command(binding, port),
        cwd=ROOT,
        env={**os.environ, BINDING_VARIABLE: binding},
        stdin=subprocess.DEVNULL,
        stdout=stderr,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        kill_group(process)
        process.wait(EXIT_TIMEOUT)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited during its startup ({process.returncode})")
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.connect((HOST, port))
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not accept connections within {START_TIMEOUT} s")
        time.sleep(0.05)


@dataclass
class Seen:
    """What one client saw after its Socket.IO connection, times from the signal (s)."""

    events: list[tuple[float, str]] = field(default_factory=list)
    outcome: str = "nothing: still waiting when the test gave up"

    def note(self, started: float, event: str) -> None:
        self.events.append((time.monotonic() - started, event))


class Clients:
    def __init__(self, base: str) -> None:
        self.url = f"{base}/socket.io/"
        self.ws_url = "ws" + self.url.removeprefix("http")
        # New connections at most this many at once, each until the server has it (a
        # WebSocket) or a request is on it (a GET): an overflowing listen queue drops SYNs,
        # and a GET sent a second later is not parked when the signal comes.
        self.limiter = asyncio.Semaphore(CONNECTING_AT_ONCE)
        self.signalled = float("inf")  # time.monotonic() of the signal, once sent
        self.requests: set[asyncio.Task[tuple[int, str]]] = set()

    # -- WebSocket -----------------------------------------------------------------------------

    async def connect_websocket(self, stack: contextlib.AsyncExitStack) -> ClientConnection:
        async with self.limiter:
            ws = await stack.enter_async_context(
                connect(
                    f"{self.ws_url}?EIO=4&transport=websocket",
                    proxy=None,
                    compression=None,
                    open_timeout=CONNECT_TIMEOUT,
                    ping_interval=None,  # the server pings; it is not to be disturbed here
                    close_timeout=CLIENTS_END_TIMEOUT,
                )
            )
            opened = await ws.recv()
            assert isinstance(opened, str) and opened.startswith("0"), opened
            await ws.send("40")
            connected = await ws.recv()
            assert isinstance(connected, str) and connected.startswith('40{"sid":'), connected
            return ws

    async def listen_websocket(self, ws: ClientConnection, seen: Seen) -> None:
        packets: list[str] = []
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                seen.note(self.signalled, f"message {message!r}")
                if message == "2":
                    await ws.send("3")
                packets.append(str(message))
        close = ws.protocol.close_rcvd
        code = "no close frame (1006)" if close is None else f"close {close.code}"
        seen.note(self.signalled, code)
        seen.outcome = f"{code} after {' '.join(packets) or 'no packet'}"

    # -- long-polling --------------------------------------------------------------------------

    async def connect_polling(
        self, session: aiohttp.ClientSession
    ) -> tuple[str, asyncio.Task[tuple[int, str]]]:
        """A polling client's handshake and CONNECT; returns its sid and its first GET after
        them, on the wire (to be parked)."""
        async with self.limiter:
            params = {"EIO": "4", "transport": "polling"}
            async with session.get(self.url, params=params) as response:
                opened = await response.text()
            assert response.status == 200 and opened.startswith("0"), opened
            params["sid"] = json.loads(opened[1:])["sid"]
            async with session.post(
                self.url, params=params, data="40", headers=POLLING_HEADERS
            ) as response:
                assert (response.status, await response.text()) == (200, "ok")
            async with session.get(self.url, params=params) as response:
                connected = await response.text()
            assert response.status == 200 and connected.startswith('40{"sid":'), connected
            return params["sid"], await self.send_get(session, params)

    async def send_get(
        self, session: aiohttp.ClientSession, params: dict[str, str]
    ) -> asyncio.Task[tuple[int, str]]:
        """Send a GET; returns once it is on the wire, with the task that gets its answer."""
        sent = asyncio.Event()  # set by on_headers_sent (aiohttp's request tracing)
        answer = asyncio.create_task(self._get(session, params, sent))
        self.requests.add(answer)
        answer.add_done_callback(self.requests.discard)
        on_the_wire = asyncio.create_task(sent.wait())
        await asyncio.wait({answer, on_the_wire}, return_when=asyncio.FIRST_COMPLETED)
        on_the_wire.cancel()
        return answer

    async def _get(
        self, session: aiohttp.ClientSession, params: dict[str, str], sent: asyncio.Event
    ) -> tuple[int, str]:
        async with session.get(self.url, params=params, trace_request_ctx=sent) as response:
            return response.status, await response.text()

    async def keep_polling(
        self,
        session: aiohttp.ClientSession,
        sid: str,
        parked: asyncio.Task[tuple[int, str]],
        seen: Seen,
    ) -> None:
        """GET again as soon as a GET is answered, until the close packet or an error.
        aiohttp sends a GET again (once) when its connection closes before the answer, as
        browsers do: a GET the server drops shows as the error of that second try."""
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        while True:
            try:
                status, body = await parked
            except aiohttp.ClientError as error:
                seen.note(self.signalled, repr(error))
                seen.outcome = type(error).__name__
                return
            answer = f"{status} {body!r}"
            seen.note(self.signalled, answer)
            packets = body.split("\x1e")
            if status != 200 or "1" in packets:
                seen.outcome = answer
                return
            if "2" in packets:  # a ping: answered, as a client must
                async with session.post(
                    self.url, params=params, data="3", headers=POLLING_HEADERS
                ) as response:
                    await response.read()
            parked = await self.send_get(session, params)


async def on_headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    if isinstance(context.trace_request_ctx, asyncio.Event):
        context.trace_request_ctx.set()


async def server_has_caught_up(port: int) -> None:
    """Once a request on a new connection is answered, the server has accepted every
    connection opened before it (a listen queue is first in, first out): the GETs sent on
    them have reached it."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"GET / HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n".encode())
        status_line = await reader.readline()
        assert status_line.startswith(b"HTTP/1.1 404"), status_line
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class Stop:
    seconds: float
    websocket: list[Seen]
    polling: list[Seen]


async def stop_with_clients(process: subprocess.Popen[bytes], port: int, signum: int) -> Stop:
    clients = Clients(f"http://{HOST}:{port}")
    websocket = [Seen() for _ in range(WEBSOCKET_CLIENTS)]
    polling = [Seen() for _ in range(POLLING_CLIENTS)]
    tracing = aiohttp.TraceConfig()
    tracing.on_request_headers_sent.append(on_headers_sent)
    listening: list[asyncio.Task[None]] = []
    async with contextlib.AsyncExitStack() as stack:
        try:
            sessions = [
                await stack.enter_async_context(
                    aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=0), trace_configs=[tracing]
                    )
                )
                for _ in range(AIOHTTP_SESSIONS)
            ]
            async with asyncio.timeout(CONNECT_TIMEOUT), asyncio.TaskGroup() as group:
                connecting = [
                    group.create_task(clients.connect_websocket(stack)) for _ in websocket
                ]
                polling_connecting = [
                    group.create_task(clients.connect_polling(sessions[i % len(sessions)]))
                    for i in range(len(polling))
                ]
            for task, seen in zip(connecting, websocket, strict=True):
                listening.append(asyncio.create_task(clients.listen_websocket(task.result(), seen)))
            for i, (task, seen) in enumerate(zip(polling_connecting, polling, strict=True)):
                session = sessions[i % len(sessions)]
                sid, parked = task.result()
                listening.append(
                    asyncio.create_task(clients.keep_polling(session, sid, parked, seen))
                )
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await server_has_caught_up(port)
            await asyncio.sleep(PARK_SETTLE)
            early = [seen.events for seen in websocket + polling if seen.events]
            assert not early, f"answered before the signal: {early[:3]}"
            clients.signalled = time.monotonic()
            # To the process group, as Ctrl-C in a terminal and systemd's default
            # (KillMode=control-group) deliver it: hypercorn's command line runs its worker
            # in a child process, which must get the signal too (see docs/trio.md).
            os.killpg(process.pid, signum)
            try:
                await asyncio.to_thread(process.wait, EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the server was still running {EXIT_TIMEOUT} s after the signal")
            seconds = time.monotonic() - clients.signalled
            await asyncio.wait(listening, timeout=CLIENTS_END_TIMEOUT)
        finally:
            # The server gone first, the clients' connections end at once, whatever happened.
            kill_group(process)
            pending = [*listening, *clients.requests]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    return Stop(seconds, websocket, polling)


def told(clients: list[Seen], goodbye: str) -> str | None:
    """``None`` if every client saw ``goodbye``, else what they saw (outcome: how many)."""
    outcomes = collections.Counter(seen.outcome for seen in clients)
    if outcomes == {goodbye: len(clients)}:
        return None
    examples = {}
    for seen in clients:
        examples.setdefault(seen.outcome, seen.events)
    return "; ".join(
        f"{count} x {outcome!r} (e.g. {[(round(t, 3), e) for t, e in examples[outcome]]})"
        for outcome, count in outcomes.most_common()
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("binding", ["asyncio", "trio"])
def test_stop_tells_every_client(binding: str, signum: int, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    with (
        file_descriptors(4 * (WEBSOCKET_CLIENTS + POLLING_CLIENTS)),
        log.open("wb") as stderr,
        running_server(binding, port, stderr) as process,
    ):
        wait_until_listening(process, port)
        stop = asyncio.run(
            asyncio.wait_for(stop_with_clients(process, port, signum), CONNECT_TIMEOUT + 60)
        )
        returncode = process.returncode
    output = log.read_text(errors="replace")

    def last_told(clients: list[Seen]) -> str:
        times = [seen.events[-1][0] for seen in clients if seen.events]
        return f"{max(times):.3f} s" if times else "never"

    print(
        f"{binding} {signal.Signals(signum).name}: exited ({returncode}) after "
        f"{stop.seconds:.3f} s; last WebSocket client told at {last_told(stop.websocket)}, "
        f"last polling client at {last_told(stop.polling)}"
    )
    problems = []
    if stop.seconds >= STOP_LIMIT:
        problems.append(f"the server took {stop.seconds:.3f} s to exit (limit {STOP_LIMIT} s)")
    if returncode not in (0, -signum):  # uvicorn re-raises the signal once it has stopped
        problems.append(f"the server exited with {returncode}")
    if "Traceback" in output:
        problems.append(f"a traceback in the server's output:\n{output}")
    websocket = told(stop.websocket, WEBSOCKET_GOODBYE)
    if websocket is not None:
        problems.append(f"WebSocket clients saw: {websocket}")
    polling = told(stop.polling, POLLING_GOODBYE)
    if polling is not None:
        problems.append(f"polling clients (a GET parked) saw: {polling}")
    assert not problems, "\n".join(problems)
