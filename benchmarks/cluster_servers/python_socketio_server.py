"""Cluster benchmark server: python-socketio's AsyncServer with AsyncRedisManager, on uvicorn.

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room, the
sender excluded. With AsyncRedisManager every emit is published on Redis (channel "socketio")
and every server, this one included, delivers it to its own members when it reads it back.
The manager subscribes when the first client connects (python-socketio initializes it then).
One process, one event loop (asyncio), uvicorn on 127.0.0.1, the same settings as ours.

Usage: python python_socketio_server.py --port P --redis URL [--ws websockets-sansio]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import socketio
import uvicorn


def make_app(redis_url: str) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=socketio.AsyncRedisManager(redis_url)
    )

    @sio.on("join")
    async def join(sid: str, *args: Any) -> str:
        await sio.enter_room(sid, "bench")
        return "ok"

    @sio.on("say")
    async def say(sid: str, message: Any) -> None:
        await sio.emit("msg", message, room="bench", skip_sid=sid)

    return socketio.ASGIApp(sio)


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
