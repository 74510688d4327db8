"""Cluster benchmark server: sansio-rooms' asyncio binding with its Redis adapter, on its own
server (``serve``).

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room, the
sender excluded: to this server's members directly, and through Redis to the other servers'
(the adapter speaks the wire format of Node's @socket.io/redis-adapter 8.3, classic pub/sub).
One process, one event loop (asyncio), on 127.0.0.1 as in the fan-out benchmark; the app's
lifespan joins the cluster (subscribed) before the server listens.

Usage: python sansio_rooms_asyncio_server.py --port P --redis URL [--ws ignored]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from sansio_rooms_asyncio import ASGIApp, AsyncServer, RedisAdapter, Socket, serve


def make_app(redis_url: str) -> ASGIApp:
    server = AsyncServer(adapter=RedisAdapter(redis_url))

    @server.on("join")
    async def join(socket: Socket, *args: Any) -> str:
        socket.join("bench")
        return "ok"

    @server.on("say")
    async def say(socket: Socket, message: Any) -> None:
        await socket.to("bench").emit("msg", message)

    return ASGIApp(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port")
    parser.add_argument("--ws", default="", help="ignored")
    args = parser.parse_args()
    app = make_app(args.redis)
    profile = os.environ.get("CLUSTER_CPROFILE")  # a path prefix: write cProfile stats there
    if not profile:
        asyncio.run(serve(app, "127.0.0.1", args.port))
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(serve(app, "127.0.0.1", args.port))
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{os.getpid()}")


if __name__ == "__main__":
    main()
