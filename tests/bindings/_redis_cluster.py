"""Servers of one binding in a Redis cluster, for the adapter tests (tests/bindings and
tests/trio/test_redis_subscriber.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any

import anyio

__all__ = ["adapter_of", "cluster", "make_server", "until"]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


def make_server(binding: ModuleType, url: str, sharded: bool, name: str, **options: Any) -> Any:
    """A server of ``binding`` on the Redis at ``url``; its server-side "hello" answers
    ``["hi from <name>", *args]``."""
    adapter = binding.RedisAdapter(url, sharded=sharded, retry_delay=(0.05, 0.2), **options)
    server = binding.AsyncServer(adapter=adapter)

    @server.on_server_side("hello")
    def hello(*args: Any) -> list[Any]:
        return [f"hi from {name}", *args]

    return server


@asynccontextmanager
async def cluster(
    binding: ModuleType, url: str, sharded: bool, **options: Any
) -> AsyncIterator[list[Any]]:
    """Two servers of one cluster, running."""
    async with AsyncExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            server = make_server(binding, url, sharded, name, **options)
            await stack.enter_async_context(server.running())
            servers.append(server)
        yield servers


def adapter_of(server: Any) -> Any:
    """The server's Redis adapter: its own binding's ``RedisAdapter``."""
    adapter = server.adapter
    binding = sys.modules[type(server).__module__.partition(".")[0]]
    assert isinstance(adapter, binding.RedisAdapter)
    return adapter
