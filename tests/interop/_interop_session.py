"""One interop test's world: the server under test (startable, stoppable, restartable on its
port) and the clients of the test's kind and transports; and the runner of a scenario."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from _interop_app import install
from _interop_bindings import BINDINGS, Served
from _interop_clients import Client, NodeClient, NodeHost, PythonClient

#: The longest a scenario may take; then closing its clients, and stopping the server, may
#: each take TEARDOWN_TIMEOUT more.
TEST_TIMEOUT = 30.0
TEARDOWN_TIMEOUT = 30.0  # above the clients' close (WAIT) plus NODE_EXIT_WAIT
TRANSPORTS = {
    "ws": ("websocket",),  # WebSocket from the start
    "upgrade": ("polling", "websocket"),  # long-polling, then the upgrade to WebSocket
    "polling": ("polling",),  # long-polling only (binary as base64, batched payloads)
}


class Session:
    """One test's world: the server under test (which may be restarted) and its clients."""

    def __init__(
        self,
        binding: str,
        client_kind: str,
        transports: tuple[str, ...],
        server_options: dict[str, Any] | None = None,
    ) -> None:
        self.binding = binding
        self.server_options = server_options or {}
        self.client_kind = client_kind
        self.transports = transports
        self.clients: list[Client] = []
        self._fences = itertools.count(1)
        self.node: NodeHost | None = None  # the node process, once a node client is made
        self._server: AbstractAsyncContextManager[Served] | None = None
        self._stopping: asyncio.Task[bool | None] | None = None
        self.served: Served | None = None
        self._port = 0

    @property
    def url(self) -> str:
        assert self.served is not None, "the server is not running"
        return self.served.url

    # -- the server ---------------------------------------------------------------------------

    async def start_server(self) -> Served:
        """Start the server under test (again on the same port, after a stop)."""
        assert self._server is None, "the server is running"
        server = BINDINGS[self.binding](install, self._port, **self.server_options)
        self.served = await server.__aenter__()
        self._server = server
        self._port = self.served.port
        return self.served

    async def stop_server(self) -> None:
        """Stop the server under test; several callers may wait for the same stop."""
        if self._stopping is None and self._server is not None:
            server, self._server = self._server, None
            self._stopping = asyncio.create_task(server.__aexit__(None, None, None))
        if self._stopping is not None:
            try:
                await self._stopping
            finally:
                self._stopping = None

    # -- clients ------------------------------------------------------------------------------

    def client(self, name: str | None = None, **options: Any) -> Client:
        """A client of this test's kind and transports, not connected yet (``await
        client.open()``). Options: ``namespaces``, ``auth``, ``replies``."""
        key = str(len(self.clients))
        name = name or f"client{key}"
        client: Client
        if self.client_kind == "python":
            client = PythonClient(self.url, self.transports, name=name, **options)
        else:
            if self.node is None:
                self.node = NodeHost()
            client = NodeClient(
                self.url, self.transports, name=name, host=self.node, key=key, **options
            )
        self.clients.append(client)
        return client

    async def connect(self, name: str | None = None, **options: Any) -> Client:
        """A client, connected to all its namespaces."""
        client = self.client(name, **options)
        await client.open()
        await client.connected()
        return client

    async def connect_many(self, *names: str, **options: Any) -> list[Client]:
        clients = [self.client(name, **options) for name in names]
        await asyncio.gather(*(client.open() for client in clients))
        await asyncio.gather(*(client.connected() for client in clients))
        return clients

    async def fence(self, caller: Client, *clients: Client, nsp: str = "/") -> None:
        """Make sure every one of ``clients`` has received all that the server sent it
        before: the server emits ``fence`` to the whole namespace, in order after the rest."""
        token = f"fence-{next(self._fences)}"
        assert await caller.call1("fence", token, nsp=nsp) == token
        for client in clients:
            await client.wait_for("event", nsp=nsp, event="fence", args=[token])

    async def close_clients(self) -> None:
        results = await asyncio.gather(
            *(client.close() for client in self.clients), return_exceptions=True
        )
        if self.node is not None:
            results += await asyncio.gather(self.node.close(), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]


class Interop:
    """The ``interop`` fixture: ``interop.run(scenario)``."""

    def __init__(self, binding: str, client_kind: str, transport: str) -> None:
        self.binding = binding
        self.client_kind = client_kind
        self.transport = transport

    def run(
        self,
        scenario: Callable[[Session], Awaitable[None]],
        timeout: float = TEST_TIMEOUT,
        **server_options: Any,
    ) -> None:
        """Run ``scenario(session)`` (bounded by ``timeout``) with a server (made with
        ``server_options``) started for it; then close the clients and stop the server
        (bounded too)."""
        session = Session(
            self.binding, self.client_kind, TRANSPORTS[self.transport], server_options
        )
        asyncio.run(self._main(session, scenario, timeout))

    async def _main(
        self, session: Session, scenario: Callable[[Session], Awaitable[None]], timeout: float
    ) -> None:
        await session.start_server()
        try:
            await asyncio.wait_for(scenario(session), timeout)
        except BaseException:
            # The scenario's failure is the one to report; what its teardown runs into is
            # most likely a consequence of it.
            with contextlib.suppress(Exception):
                await self._teardown(session)
            raise
        await self._teardown(session)

    @staticmethod
    async def _teardown(session: Session) -> None:
        # Outside the scenario's time limit, so that a scenario that timed out still gets
        # its clients closed and its server stopped.
        try:
            await asyncio.wait_for(session.close_clients(), TEARDOWN_TIMEOUT)
        finally:
            await asyncio.wait_for(session.stop_server(), TEARDOWN_TIMEOUT)
