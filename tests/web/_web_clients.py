"""The web tests' clients (tests/interop's, with what a web deployment needs: headers, the
Socket.IO path, a query string), a journal of what the server saw, and the runner.

* ``NodeClient``: the official JavaScript client; ``options`` are more options of its
  ``Manager``: ``path`` (``"/ws/socket.io"``), ``query``, ``extraHeaders`` (``cookie``,
  ``origin``, ``x-forwarded-for``: Node's client sends any header).
* :class:`WebPythonClient`: python-socketio's ``AsyncClient`` (``headers`` and
  ``socketio_path`` as its ``connect()`` takes them). A refused Engine.IO handshake makes its
  ``connect()`` raise: here it is an observation like the JavaScript client's
  (``connect_error``), with what python-socketio passed to its handler in ``raw``.
* :class:`Journal`: what the server's handlers saw, appended from the server's thread (trio's
  runs in its own), waited for from the test's loop without sleeping.
* :class:`Web` (``run(scenario)``): one test's clients and servers, everything bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import socketio
from _interop_bindings import BeforeStop, Build, Served, serve_app
from _interop_clients import WAIT, Client, NodeClient, NodeHost, PythonClient
from _interop_session import TRANSPORTS
from _node_reference import NodeReference, serve_node_reference

#: python-socketio's client (aiohttp under engineio) drops a long-polling GET still in flight
#: when it disconnects, without releasing its connection: aiohttp then warns about an unclosed
#: connection when the garbage collector finds it, now and then (tests/interop has the same
#: mark). That client's hygiene, not the server's: ``pytestmark = PYTHON_CLIENT_LEAK``.
PYTHON_CLIENT_LEAK = pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning")

#: The longest a scenario may take; closing its clients and servers may take TEARDOWN more.
TEST_TIMEOUT = 30.0
TEARDOWN_TIMEOUT = 30.0  # above the clients' close (WAIT) plus NODE_EXIT_WAIT


class WebPythonClient(PythonClient):
    """A refused connection is an observation (``connect_error``), not an error."""

    async def open(self) -> None:
        with contextlib.suppress(socketio.exceptions.ConnectionError):
            await super().open()


class Journal:
    """Records appended from any thread, waited for in the test's loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._records: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, record: Any) -> None:
        with self._lock:
            self._records.append(record)
        with contextlib.suppress(RuntimeError):  # the test's loop has ended
            self._loop.call_soon_threadsafe(self._changed.set)

    @property
    def records(self) -> list[Any]:
        with self._lock:
            return list(self._records)

    def find(self, kind: str) -> list[Any]:
        """The records that are tuples starting with ``kind``, without it."""
        return [r[1:] for r in self.records if isinstance(r, tuple) and r and r[0] == kind]

    async def wait_until(
        self, condition: Callable[[], Any], what: str, timeout: float = WAIT
    ) -> Any:
        async def waiting() -> Any:
            while True:
                self._changed.clear()
                result = condition()
                if result:
                    return result
                await self._changed.wait()

        try:
            return await asyncio.wait_for(waiting(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the server did not record {what} within {timeout} s; it recorded:\n"
                + "\n".join(map(repr, self.records))
            ) from None

    async def wait_for(self, kind: str, count: int = 1) -> list[Any]:
        """The records of ``kind`` once there are ``count`` of them."""

        def found() -> list[Any] | None:
            records = self.find(kind)
            return records if len(records) >= count else None

        records: list[Any] = await self.wait_until(found, f"{count} x {kind}")
        return records


class Web:
    """One test: its servers (``serve``), its clients (``client``), its journal."""

    def __init__(self, binding: str, node: str | None) -> None:
        self.binding = binding
        self.node = node  # the checked node executable (JavaScript clients, Node's server)
        self.clients: list[Client] = []
        self._host: NodeHost | None = None
        self.journal = Journal()

    @contextlib.asynccontextmanager
    async def serve(self, build: Build, *, before_stop: BeforeStop) -> AsyncIterator[Served]:
        """``build()``'s ASGI app on this test's binding. On exit the clients are closed,
        then ``before_stop()`` runs in the server's loop (``server.shutdown``: a long-polling
        GET still parked is answered, which the ASGI server's own stop would wait for), then
        the ASGI server stops."""
        async with serve_app(self.binding, build, before_stop=before_stop) as served:
            try:
                yield served
            finally:
                await asyncio.wait_for(self.close_clients(), TEARDOWN_TIMEOUT)

    @contextlib.asynccontextmanager
    async def serve_node(self, scenario: str) -> AsyncIterator[NodeReference]:
        """Node's Socket.IO server set up for ``scenario`` (``node/reference_server.cjs``);
        its clients are closed before it stops."""
        assert self.node is not None, "this test needs the `node` fixture"
        async with serve_node_reference(self.node, scenario) as reference:
            try:
                yield reference
            finally:
                await asyncio.wait_for(self.close_clients(), TEARDOWN_TIMEOUT)

    def client(
        self,
        kind: str,
        url: str,
        transport: str = "ws",
        *,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        query: dict[str, str] | None = None,
        **options: Any,
    ) -> Client:
        """A client of ``kind`` (``node`` or ``python``) over ``transport`` (a key of
        TRANSPORTS), not connected yet; ``options``: ``namespaces``, ``auth``, ``replies``,
        ``name``. ``path`` is the Socket.IO path (``/ws/socket.io``)."""
        transports = TRANSPORTS[transport]
        key = str(len(self.clients))
        options.setdefault("name", f"{kind}{key}")
        client: Client
        if kind == "node":
            assert self.node is not None, "a node client needs the `node` fixture"
            if self._host is None:
                NodeHost.executable = self.node
                self._host = NodeHost()
            manager: dict[str, Any] = {}
            if headers:
                manager["extraHeaders"] = headers
            if path is not None:
                manager["path"] = path
            if query:
                manager["query"] = query
            client = NodeClient(
                url, transports, host=self._host, key=key, options=manager, **options
            )
        elif kind == "python":
            if query:
                url = f"{url}?{urlencode(query)}"
            client = WebPythonClient(
                url,
                transports,
                headers=headers,
                socketio_path=(path or "socket.io").strip("/"),
                **options,
            )
        else:
            raise ValueError(f"unknown client kind {kind!r}")
        self.clients.append(client)
        return client

    async def connect(self, kind: str, url: str, transport: str = "ws", **options: Any) -> Client:
        """A client, connected to all its namespaces."""
        client = self.client(kind, url, transport, **options)
        await client.open()
        await client.connected()
        return client

    async def close_clients(self) -> None:
        results = await asyncio.gather(
            *(client.close() for client in self.clients), return_exceptions=True
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]

    async def _close(self) -> None:
        try:
            await self.close_clients()
        finally:
            if self._host is not None:
                await self._host.close()


def run(
    binding: str,
    scenario: Callable[[Web], Awaitable[None]],
    *,
    node: str | None = None,
    timeout: float = TEST_TIMEOUT,
) -> None:
    """Run ``scenario(web)`` under ``asyncio.run``, bounded by ``timeout``; then close what
    is left (bounded too)."""

    async def main() -> None:
        web = Web(binding, node)
        try:
            await asyncio.wait_for(scenario(web), timeout)
        except BaseException:
            with contextlib.suppress(Exception):  # the scenario's failure is the one to see
                await asyncio.wait_for(web._close(), TEARDOWN_TIMEOUT)
            raise
        await asyncio.wait_for(web._close(), TEARDOWN_TIMEOUT)

    asyncio.run(main())
