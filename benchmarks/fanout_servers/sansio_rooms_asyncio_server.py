"""Fan-out benchmark server: sansio-rooms' asyncio binding, ASGI on uvicorn.

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room,
the sender excluded. One process, one event loop (asyncio), uvicorn on 127.0.0.1.

Usage: python sansio_rooms_asyncio_server.py --port P [--ws websockets-sansio]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn

from sansio_rooms_asyncio import ASGIApp, AsyncServer, Socket

server = AsyncServer()


@server.on("join")
async def join(socket: Socket, *args: Any) -> str:
    socket.join("bench")
    return "ok"


@server.on("say")
async def say(socket: Socket, message: Any) -> None:
    await socket.to("bench").emit("msg", message)


app = ASGIApp(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's ws implementation")
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="asyncio",
        http="h11",
        ws=args.ws,
        log_level="warning",
    )
    profile = os.environ.get("FANOUT_CPROFILE")  # a path: write cProfile stats there
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
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
