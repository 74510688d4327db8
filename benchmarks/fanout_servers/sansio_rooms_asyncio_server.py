"""Fan-out benchmark server: sansio-rooms' asyncio binding, on its own server (``serve``).

"join" puts the socket in room "bench", "joinroom" in the room it names; both acknowledge.
"say" sends "msg" to the room the socket joined, the sender excluded. Both transports
(websocket and polling) are allowed. One process, one event loop (asyncio), on 127.0.0.1.

The handlers are plain functions: ``emit`` sends at once (as Node's does), so a handler that
does not wait for anything needs no ``async`` and runs without a task of its own, as the docs
recommend for hot handlers.

``--asgi`` serves the same app on uvicorn instead (``http="h11"``, ``ws`` as given), through
ASGI messages only: what the app costs inside another ASGI server or a web framework.

Usage: python sansio_rooms_asyncio_server.py --port P [--asgi [--ws websockets-sansio]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from sansio_rooms_asyncio import ASGIApp, AsyncServer, Socket, serve

server = AsyncServer()


@server.on("join")
def join(socket: Socket, *args: Any) -> str:
    socket.join("bench")
    socket.data["room"] = "bench"
    return "ok"


@server.on("joinroom")
def joinroom(socket: Socket, room: str, *args: Any) -> str:
    socket.join(room)
    socket.data["room"] = room
    return "ok"


@server.on("say")
def say(socket: Socket, message: Any) -> None:
    socket.to(socket.data["room"]).emit("msg", message)


app = ASGIApp(server)


def _run(args: argparse.Namespace) -> None:
    if not args.asgi:
        asyncio.run(serve(app, "127.0.0.1", args.port))
        return
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="asyncio",
        http="h11",
        ws=args.ws,
        log_level="warning",
    )
    uvicorn.Server(config).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--asgi", action="store_true", help="serve on uvicorn, through ASGI")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's ws implementation")
    args = parser.parse_args()
    profile = os.environ.get("FANOUT_CPROFILE")  # a path: write cProfile stats there
    if not profile:
        _run(args)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        _run(args)
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
