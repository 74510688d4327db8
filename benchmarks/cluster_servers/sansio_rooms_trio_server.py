"""Cluster benchmark server: sansio-rooms' trio binding with its Redis adapter, on its own
server (``serve``).

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room, the
sender excluded: to this server's members directly, and through Redis to the other servers'.
One process, one trio run, on 127.0.0.1 as in the fan-out benchmark; the app's lifespan runs
the server and joins the cluster.

Usage: python sansio_rooms_trio_server.py --port P --redis URL [--ws ignored]
"""

from __future__ import annotations

import argparse
from typing import Any

import trio

from sansio_rooms_trio import ASGIApp, AsyncServer, RedisAdapter, Socket, serve


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
    trio.run(serve, make_app(args.redis), "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
