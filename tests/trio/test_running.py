"""trio only: the server's nursery. A trio server takes connections only inside
``async with server.running():`` (asyncio's needs no such block to attach a transport), and
one failure inside comes out as itself, not wrapped in the nursery's exception group. The
tests of the public API, on both bindings: tests/bindings."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from sansio_rooms import LocalProtocolError
from sansio_rooms_trio import AsyncServer

from ..bindings._memory import MemoryClient


def test_the_server_runs_inside_its_nursery() -> None:
    async def scenario() -> None:
        server = AsyncServer()
        with pytest.raises(LocalProtocolError, match="running"):
            MemoryClient(server)
        with pytest.raises(ValueError, match="one failure") as raised:
            async with server.running():
                raise ValueError("one failure")  # comes out as itself, not in a group
        assert raised.type is ValueError

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
