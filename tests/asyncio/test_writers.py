"""asyncio only: a write to an idle writer is stepped inline (the transport's send runs before
``emit()`` returns, no task switch per recipient), and only a send that suspends moves the
rest to a task of that connection. trio's writers are tasks of the server's nursery, which run
when the emitter yields. The writers' behaviour on both bindings (bounded buffers, volatile
frames, slow clients): tests/bindings/test_server.py."""

from __future__ import annotations

import asyncio

from sansio_rooms_asyncio import AsyncServer

from ..bindings._memory import MemoryClient


def test_a_broadcast_to_idle_writers_is_sent_before_emit_returns() -> None:
    async def scenario() -> None:
        server = AsyncServer(max_buffer=50)
        async with server.running():
            clients = [MemoryClient(server) for _ in range(10)]
            for client in clients:
                await client.connect()
            slow, fast = clients[0], clients[1:]
            slow.gate.clear()  # from now on it does not read: its send suspends
            await server.sockets_join("all")
            for n in range(40):
                await server.to("all").emit("tick", n)
            assert all(len(client.texts()) == 40 for client in fast)  # no task switch needed
            assert slow.texts() == [] and slow.conn.buffered == 39  # one is in flight
            await server.to("all").volatile.emit("volatile tick")  # dropped for the busy one
            assert slow.conn.buffered == 39
            assert all(client.texts('42["volatile tick"') for client in fast)
            slow.release()  # or the shutdown would wait for its writer (5 s)

    asyncio.run(asyncio.wait_for(scenario(), 10))
