"""Cluster benchmark server: sansio-rooms' asyncio binding with its Redis adapter, on uvicorn.

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room, the
sender excluded: to this server's members directly, and through Redis to the other servers'
(the adapter speaks the wire format of Node's @socket.io/redis-adapter 8.3, classic pub/sub).
One process, one event loop (asyncio), uvicorn on 127.0.0.1 with the fan-out benchmark's
settings; the ASGI lifespan joins the cluster (subscribed) before the server listens.

Usage: python sansio_rooms_asyncio_server.py --port P --redis URL [--ws websockets-sansio]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn

from sansio_rooms_asyncio import ASGIApp, AsyncServer, RedisAdapter, Socket


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
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's ws implementation")
    args = parser.parse_args()
    config = uvicorn.Config(
        make_app(args.redis),
        host="127.0.0.1",
        port=args.port,
        loop="asyncio",
        http="h11",
        ws=args.ws,
        lifespan="on",
        log_level="warning",
    )
    profile = os.environ.get("CLUSTER_CPROFILE")  # a path prefix: write cProfile stats there
    if not profile:
        uvicorn.Server(config).run()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.Server(config).run()
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{os.getpid()}")


if __name__ == "__main__":
    main()
