"""Real Socket.IO clients behind one interface, so that each scenario is written once.

* :class:`PythonClient`: python-socketio's ``AsyncClient`` (aiohttp), in the test's loop.
* :class:`NodeClient`: the official JavaScript client (``socket.io-client``) in the test's
  ``node`` process (:class:`NodeHost`, ``node/client.cjs``), driven over stdin/stdout with
  JSON lines.

Both record what they see as *observations*, plain dicts in arrival order::

    {"type": "connect", "nsp": "/", "sid": "..."}
    {"type": "connect_error", "nsp": "/", "message": "...", "data": ...}
    {"type": "disconnect", "nsp": "/", "reason": "io server disconnect"}
    {"type": "event", "nsp": "/", "event": "msg", "args": [...]}

Binary values are ``bytes`` on this side. Every wait is bounded: a scenario that does not get
what it waits for fails with the client's observations in the message, it never hangs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import socketio

WAIT = 5.0  # seconds: the longest a scenario waits for one thing
#: How long node may take to end once its clients are closed. Under a full-suite load a
#: long-polling client on the asyncio server (tests/web) took more than WAIT twice in about
#: eight runs; the cause is not found yet (suspects: an HTTP request or a reconnection timer
#: of socket.io-client still pending after the close). A mitigation, recorded as an open
#: defect in the session notes, not a fix.
NODE_EXIT_WAIT = 10.0
NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "client.cjs"

STDOUT_LINE_LIMIT = 64 * 1024 * 1024  # one observation is one line: large payloads included

Observation = dict[str, Any]
#: ``{nsp: {event: [ack args] or None}}``: how a client answers server events that ask for an
#: acknowledgement. ``None``: it never answers (a silent client).
Replies = Mapping[str, Mapping[str, list[Any] | None]]


class ScenarioError(AssertionError):
    """A client did not observe what the scenario waited for (or broke)."""


def to_wire(value: Any) -> Any:
    """JSON for the node driver: bytes become ``{"$bytes": base64}``."""
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(value: Any) -> Any:
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {key: from_wire(item) for key, item in value.items()}
    return value


def _normalise(value: Any) -> Any:
    """python-socketio gives tuples here and there; observations hold lists."""
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    return value


class Client:
    """What a scenario can do with a client, whichever its implementation."""

    kind = "abstract"
    #: The ``disconnect`` reason when the server disconnects the socket (Socket.IO
    #: DISCONNECT packet); the reasons when the connection is lost.
    SERVER_DISCONNECT: str
    TRANSPORT_CLOSE: tuple[str, ...]

    def __init__(
        self,
        url: str,
        transports: Iterable[str],
        *,
        namespaces: Iterable[str] = ("/",),
        auth: Any = None,
        replies: Replies | None = None,
        name: str = "client",
    ) -> None:
        self.url = url
        self.transports = list(transports)
        self.namespaces = list(namespaces)
        self.auth = auth
        self.replies = {nsp: dict(events) for nsp, events in (replies or {}).items()}
        self.name = name
        self.observed: list[Observation] = []
        self.sids: dict[str, str] = {}  # nsp -> sid, as of the latest connect
        self._waiters: list[asyncio.Future[None]] = []
        self._broken: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def upgrading(self) -> bool:
        return self.transports[0] == "polling" and "websocket" in self.transports

    # -- observations ------------------------------------------------------------------------

    def _observe(self, observation: Observation) -> None:
        if observation.get("type") == "connect":
            self.sids[observation["nsp"]] = observation["sid"]
        self.observed.append(observation)
        self._wake()

    def _break(self, description: str) -> None:
        self._broken = description
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def find(self, type: str, **match: Any) -> list[Observation]:
        """The observations of ``type`` whose fields equal ``match``, in order."""
        return [
            observation
            for observation in self.observed
            if observation.get("type") == type
            and all(observation.get(key) == value for key, value in match.items())
        ]

    def events(self, event: str, nsp: str = "/") -> list[list[Any]]:
        """The argument lists of every ``event`` received in ``nsp``, in order."""
        return [observation["args"] for observation in self.find("event", nsp=nsp, event=event)]

    async def wait_until(
        self, condition: Callable[[], Any], what: str, timeout: float = WAIT
    ) -> Any:
        """Wait (bounded) until ``condition()`` is truthy after some observation; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._broken is not None:
                raise ScenarioError(f"{self!r} broke while waiting for {what}: {self._broken}")
            result = condition()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ScenarioError(
                    f"{self!r} did not observe {what} within {timeout} s; observed:\n"
                    + "\n".join(json.dumps(o, default=repr) for o in self.observed)
                )
            waiter = loop.create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)

    async def wait_for(
        self, type: str, *, count: int = 1, timeout: float = WAIT, **match: Any
    ) -> Observation:
        """The ``count``-th observation of ``type`` matching ``match``, once it is there."""

        def found() -> Observation | None:
            matches = self.find(type, **match)
            return matches[count - 1] if len(matches) >= count else None

        result: Observation = await self.wait_until(found, f"#{count} {type} {match}", timeout)
        return result

    async def wait_event(
        self, event: str, nsp: str = "/", *, count: int = 1, timeout: float = WAIT
    ) -> list[Any]:
        """The arguments of the ``count``-th ``event`` received in ``nsp``."""
        observation = await self.wait_for(
            "event", nsp=nsp, event=event, count=count, timeout=timeout
        )
        args: list[Any] = observation["args"]
        return args

    # -- life cycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Start connecting to every namespace (does not wait for the answers)."""
        raise NotImplementedError

    async def connected(self, timeout: float = WAIT) -> dict[str, str]:
        """Wait until every namespace is connected (and, when upgrading, the upgrade is done);
        return the sids. Fails at once on a ``connect_error``."""

        def done() -> bool:
            for nsp in self.namespaces:
                if self.find("connect_error", nsp=nsp):
                    raise ScenarioError(f"{self!r}: {nsp} refused: {self.find('connect_error')}")
            return all(nsp in self.sids for nsp in self.namespaces) and self._upgraded()

        await self.wait_until(done, f"connected to {self.namespaces}", timeout)
        return dict(self.sids)

    def _upgraded(self) -> bool:
        return True

    async def close(self) -> None:
        """Disconnect (if connected) and release everything. Idempotent."""
        raise NotImplementedError

    # -- talking ---------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any, nsp: str = "/") -> None:
        raise NotImplementedError

    async def call(
        self, event: str, *args: Any, nsp: str = "/", timeout: float = WAIT
    ) -> list[Any]:
        """Emit with an acknowledgement; return the acknowledgement's arguments."""
        raise NotImplementedError

    async def call1(self, event: str, *args: Any, nsp: str = "/", timeout: float = WAIT) -> Any:
        """:meth:`call` for an acknowledgement with exactly one argument: that argument."""
        answer = await self.call(event, *args, nsp=nsp, timeout=timeout)
        if len(answer) != 1:
            raise ScenarioError(f"{self!r}: {event} acknowledged with {answer!r}, not one value")
        return answer[0]


class PythonClient(Client):
    """python-socketio's ``AsyncClient``; ``headers`` and ``socketio_path`` as its
    ``connect()`` takes them."""

    kind = "python"
    # python-socketio names the reasons its own way.
    SERVER_DISCONNECT = "server disconnect"
    TRANSPORT_CLOSE = ("transport close", "transport error")

    def __init__(
        self,
        *args: Any,
        headers: dict[str, str] | None = None,
        socketio_path: str = "socket.io",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers or {}
        self.socketio_path = socketio_path
        self._release = asyncio.Event()  # lets silent handlers finish, at close
        # The client's HTTP session is ours, closed by close(): left to engineio, a GET in
        # flight at disconnect leaves a session of its own behind, unclosed (a
        # ResourceWarning, an error here, in one run out of a few).
        self._http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(
            reconnection_delay=0.05,
            reconnection_delay_max=0.2,
            randomization_factor=0,
            handle_sigint=False,
            http_session=self._http,
        )
        for nsp in self.namespaces:
            self._register(nsp)

    def _register(self, nsp: str) -> None:
        sio = self.sio
        replies = self.replies.get(nsp, {})

        def on_connect() -> None:
            self._observe(
                {
                    "type": "connect",
                    "nsp": nsp,
                    "sid": sio.get_sid(nsp),
                    "transport": sio.transport(),
                }
            )

        def on_connect_error(data: Any = None) -> None:
            # python-socketio passes the CONNECT_ERROR's payload ({"message", "data"}), or
            # for a refused HTTP request the JSON body of the answer (else a message): that
            # is in "raw".
            details = data if isinstance(data, dict) else {"message": data}
            self._observe(
                {
                    "type": "connect_error",
                    "nsp": nsp,
                    "message": details.get("message"),
                    "data": details.get("data"),
                    "raw": data,
                }
            )

        def on_disconnect(reason: Any = None) -> None:
            self._observe({"type": "disconnect", "nsp": nsp, "reason": reason})

        async def on_any(event: str, *args: Any) -> Any:
            # Recorded before any await: handlers start in arrival order.
            self._observe({"type": "event", "nsp": nsp, "event": event, "args": _normalise(args)})
            if event not in replies:
                return None
            reply = replies[event]
            if reply is None:
                # python-socketio always acknowledges when asked, so a silent client holds
                # its answer back until it closes (the server ignores a late answer).
                await self._release.wait()
                return None
            return tuple(reply)

        sio.on("connect", on_connect, namespace=nsp)
        sio.on("connect_error", on_connect_error, namespace=nsp)
        sio.on("disconnect", on_disconnect, namespace=nsp)
        sio.on("*", on_any, namespace=nsp)

    async def open(self) -> None:
        await self.sio.connect(
            self.url,
            headers=dict(self.headers),  # a copy: python-socketio takes the cookie out of it
            auth=self.auth,
            transports=self.transports,
            namespaces=self.namespaces,
            socketio_path=self.socketio_path,
            wait=False,
        )

    def _upgraded(self) -> bool:
        # python-socketio upgrades before connect() returns: check that it did.
        if self.upgrading and self.sio.transport() != "websocket":
            raise ScenarioError(f"{self!r}: not upgraded, on {self.sio.transport()}")
        return True

    async def close(self) -> None:
        self._release.set()
        sio = self.sio
        try:
            await asyncio.wait_for(sio.shutdown(), WAIT)  # disconnects, or stops reconnecting
            if sio.eio.state != "disconnected":  # refused: no namespace, connection open
                await asyncio.wait_for(sio.eio.disconnect(), WAIT)
        except TimeoutError:
            raise ScenarioError(f"{self!r} did not close within {WAIT} s") from None
        finally:
            await self._http.close()

    async def emit(self, event: str, *args: Any, nsp: str = "/") -> None:
        await self.sio.emit(event, args, namespace=nsp)

    async def call(
        self, event: str, *args: Any, nsp: str = "/", timeout: float = WAIT
    ) -> list[Any]:
        answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def callback(*ack: Any) -> None:
            if not answer.done():
                answer.set_result(_normalise(ack))

        await self.sio.emit(event, args, namespace=nsp, callback=callback)
        try:
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise ScenarioError(f"{self!r}: no acknowledgement of {event} in {timeout} s") from None


class NodeHost:
    """The ``node`` process (``node/client.cjs``, or ``script`` in ``cwd``: another driver
    speaking the same lines) of one test: it hosts every JavaScript client of the test
    (starting node costs more than all the rest), each with its own connection. Commands go
    to stdin, observations come back on stdout, each line naming its client."""

    executable = "node"  # the fixture sets the path it checked

    def __init__(self, script: Path = NODE_SCRIPT, cwd: Path = NODE_DIR) -> None:
        self.script, self.cwd = script, cwd
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._ids = itertools.count(1)
        self._clients: dict[str, NodeClient] = {}
        self._stderr: list[str] = []
        self._starting: asyncio.Lock | None = None

    async def _start(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._process is None:
                self._process = await asyncio.create_subprocess_exec(
                    self.executable,
                    str(self.script),
                    cwd=self.cwd,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    limit=STDOUT_LINE_LIMIT,
                )
                self._readers = [
                    asyncio.create_task(self._read_stdout(self._process), name="node stdout"),
                    asyncio.create_task(self._read_stderr(self._process), name="node stderr"),
                ]
        return self._process

    async def _read_stdout(self, process: asyncio.subprocess.Process) -> None:
        try:
            await self._read_observations(process)
        except Exception as error:  # a line over the limit, for one
            self._break_all(f"reading node's output failed: {error!r}")
            raise

    async def _read_observations(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            try:
                observation = from_wire(json.loads(line))
                client = self._clients.get(observation.pop("client", None))
            except (ValueError, AttributeError):
                self._break_all(f"unreadable output {line!r}")
                continue
            if client is None:  # not about one client: fatal for all
                self._break_all(f"unexpected output {line!r}")
                continue
            if observation.get("type") == "fatal":
                client._break(observation["message"])
            client._observe(observation)
        self._break_all("node ended")

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            self._stderr.append(line.decode(errors="replace"))

    def _break_all(self, description: str) -> None:
        stderr = "".join(self._stderr)
        for client in self._clients.values():
            client._break(f"{description}\n{stderr}" if stderr else description)

    async def command(self, client: NodeClient, op: str, **fields: Any) -> int:
        """Send a command; return its id once node has carried it out."""
        process = await self._start()
        assert process.stdin is not None
        self._clients[client.key] = client
        command_id = next(self._ids)
        line = json.dumps({"op": op, "id": command_id, "client": client.key, **fields})
        process.stdin.write(line.encode() + b"\n")
        await process.stdin.drain()
        await client.wait_for("done", id=command_id)
        return command_id

    async def close(self) -> None:
        """Close stdin (every client disconnects) and wait for node to end; kill it if it
        does not, or if this is cancelled."""
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        try:
            if not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), NODE_EXIT_WAIT)
            except TimeoutError:
                raise ScenarioError(
                    f"node did not end after its stdin closed:\n{''.join(self._stderr)}"
                ) from None
        finally:
            if process.returncode is None:
                process.kill()  # before any await: it happens even when cancelled
                await process.wait()
            # The pipes are at their end now: the readers finish.
            await asyncio.gather(*self._readers, return_exceptions=True)
        if process.returncode != 0:
            raise ScenarioError(f"node exited with {process.returncode}:\n{''.join(self._stderr)}")
        lingering = [line for line in self._stderr if "after stdin closed" in line]
        if lingering:
            # Every client closed, and still a socket open (an HTTP request that the stopped
            # server side left open): an open defect of the harness's server teardown,
            # reported, not failed on.
            message = "node lingered after its clients closed:\n" + "".join(lingering)
            warnings.warn(message, UserWarning, stacklevel=2)


class NodeClient(Client):
    """A client of ``socket.io-client``, hosted by the test's :class:`NodeHost`; ``options``
    are more options of its ``Manager`` (``path``, ``query``, ``extraHeaders``...)."""

    kind = "node"
    SERVER_DISCONNECT = "io server disconnect"
    TRANSPORT_CLOSE = ("transport close", "transport error")

    def __init__(
        self,
        *args: Any,
        host: NodeHost,
        key: str,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.host = host
        self.key = key  # unique in the host
        self.options = options or {}
        self._open = False

    async def open(self) -> None:
        self._open = True
        await self.host.command(
            self,
            "connect",
            url=self.url,
            transports=self.transports,
            namespaces=self.namespaces,
            auth=self.auth or {},
            replies=to_wire(self.replies),
            options=self.options,
        )

    def _upgraded(self) -> bool:
        # socket.io-client upgrades in the background: wait for it, so that a scenario runs
        # on the transport it is named after.
        return not self.upgrading or bool(self.find("upgrade", transport="websocket"))

    async def close(self) -> None:
        if self._open and self._broken is None:
            self._open = False
            await self.host.command(self, "close")

    async def emit(self, event: str, *args: Any, nsp: str = "/") -> None:
        await self.host.command(self, "emit", nsp=nsp, event=event, args=to_wire(args))

    async def drop(self) -> None:
        """Cut the connection as a network drop would (WebSocket only): no close frame."""
        await self.host.command(self, "drop")

    async def reconnect(self) -> None:
        """Connect every namespace again (a client made with ``reconnection: False``)."""
        await self.host.command(self, "reconnect")

    async def call(
        self, event: str, *args: Any, nsp: str = "/", timeout: float = WAIT
    ) -> list[Any]:
        command_id = await self.host.command(
            self, "call", nsp=nsp, event=event, args=to_wire(args), timeout=timeout
        )
        ack = await self.wait_for("ack", id=command_id, timeout=timeout + 1)
        if "error" in ack:
            raise ScenarioError(f"{self!r}: {event} not acknowledged: {ack['error']}")
        args_: list[Any] = ack["args"]
        return args_


CLIENT_KINDS = ("node", "python")
